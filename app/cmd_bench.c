/* cmd_bench.c — `huginn bench`: prefill and decode speed of a checkpoint,
 * next to the machine's measured read bandwidth and FMA throughput. */
#include "cli.h"
#include "cmds.h"
#include "huginn.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char bench_usage[] =
    "usage: huginn bench [--model PATH | --shape huginn-0125|tiny|demo] [--weights f32|bf16|q8_0|q4]\n"
    "                    [--steps N] [--prompt-tokens N] [--decode-tokens N] [--threads N] [--cache S]\n"
    "                    [--kv-dtype f32|bf16|f16] [--json]\n"
    "       huginn bench tokenizer --tokenizer FILE --text FILE [--json]\n"
    "\n"
    "Measures, in one run: the machine's read bandwidth and peak FMA throughput, load time,\n"
    "prefill tokens/s and GFLOP/s, decode s/token, bytes of weights per decoded token, the\n"
    "bandwidth bound in s/token and the ratio achieved, resident memory, KV bytes per token.\n"
    "With --shape, random weights of that shape are made in memory (no file needed; default\n"
    "--weights bf16).  Defaults: the bundled model, --steps = mean_recurrence, 32 prompt tokens,\n"
    "8 decoded tokens.\n"
    "JSON keys: load_s, prefill_tokens_per_s, prefill_gflops, peak_gflops, decode_s_per_token,\n"
    "weight_bytes_per_token, bandwidth_gbs, bound_s_per_token, ratio_to_bound, rss_bytes,\n"
    "kv_bytes_per_token.\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------ machine measurements */

typedef struct bw_job {
    const float *buf;
    size_t n;
    int reps;
    double sum;
} bw_job;

/* Sum a buffer with eight independent AVX-512 accumulators (enough loads in
 * flight to saturate memory), or plain C where AVX-512 is missing. */
__attribute__((target("avx512f"))) static double sum_avx512(const float *p, size_t n)
{
    __m512 s[8];
    for (int i = 0; i < 8; i++) s[i] = _mm512_setzero_ps();
    for (size_t i = 0; i + 128 <= n; i += 128)
        for (int j = 0; j < 8; j++) s[j] = _mm512_add_ps(s[j], _mm512_load_ps(p + i + 16 * j));
    for (int j = 1; j < 8; j++) s[0] = _mm512_add_ps(s[0], s[j]);
    return _mm512_reduce_add_ps(s[0]);
}

static double sum_plain(const float *p, size_t n)
{
    float s[16] = {0};
    for (size_t i = 0; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) s[j] += p[i + j];
    double t = 0;
    for (int j = 0; j < 16; j++) t += s[j];
    return t;
}

static void *bw_thread(void *arg)
{
    bw_job *j = arg;
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f");
    double total = 0;
    for (int r = 0; r < j->reps; r++) total += avx512 ? sum_avx512(j->buf, j->n) : sum_plain(j->buf, j->n);
    j->sum = total;
    return NULL;
}

/* Read bandwidth in GB/s: every thread sums its part of a 2 GiB buffer; best of 5. */
static double measure_bandwidth(int threads)
{
    size_t bytes = (size_t)2 << 30, n = bytes / sizeof(float);
    float *buf = aligned_alloc(64, bytes);
    if (!buf) return 0;
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7);
    bw_job jobs[256];
    pthread_t th[256];
    if (threads > 256) threads = 256;
    size_t per = (n / threads) & ~(size_t)127;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        for (int t = 0; t < threads; t++) {
            jobs[t] = (bw_job){buf + per * t, per, 2, 0};
            pthread_create(&th[t], NULL, bw_thread, &jobs[t]);
        }
        for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
        double dt = now_s() - t0;
        double gbs = (double)per * threads * sizeof(float) * 2 / dt / 1e9;
        if (gbs > best) best = gbs;
    }
    free(buf);
    return best;
}

typedef struct fma_job {
    long iters;
    float out;
} fma_job;

__attribute__((target("avx512f"))) static void *fma_thread(void *arg)
{
    fma_job *j = arg;
    typedef float v16 __attribute__((vector_size(64)));
    v16 a = {1.0f}, b = {0.999f}, c = {1e-7f};
    v16 x0 = a, x1 = a, x2 = a, x3 = a, x4 = a, x5 = a, x6 = a, x7 = a;
    v16 x8 = a, x9 = a, x10 = a, x11 = a;
    for (long i = 0; i < j->iters; i++) {
        x0 = x0 * b + c; x1 = x1 * b + c; x2 = x2 * b + c; x3 = x3 * b + c;
        x4 = x4 * b + c; x5 = x5 * b + c; x6 = x6 * b + c; x7 = x7 * b + c;
        x8 = x8 * b + c; x9 = x9 * b + c; x10 = x10 * b + c; x11 = x11 * b + c;
        __asm__ volatile("" : "+v"(x0), "+v"(x1), "+v"(x2), "+v"(x3), "+v"(x4), "+v"(x5));
    }
    v16 s = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11;
    j->out = s[0];
    return NULL;
}

/* Peak f32 FMA throughput in GFLOP/s (AVX-512, 12 independent chains). */
static double measure_peak_gflops(int threads)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) return 0;
    fma_job jobs[256];
    pthread_t th[256];
    if (threads > 256) threads = 256;
    long iters = 20000000;
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        jobs[t].iters = iters;
        pthread_create(&th[t], NULL, fma_thread, &jobs[t]);
    }
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    double dt = now_s() - t0;
    return (double)iters * 12 * 16 * 2 * threads / dt / 1e9;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* ------------------------------------------------------------- model */

/* Weights read per token at `steps` recurrence steps, in values. */
static double values_per_token(const hg_config *c, int steps)
{
    double E = c->n_embd, q = (double)c->n_heads * c->head_dim, kv = (double)c->n_kv_heads * c->head_dim;
    double I = c->intermediate_size;
    double layer = E * (q + 2 * kv) + q * E + 2 * I * E + I * E + 4 * E;
    double adapter = 2 * E * E;
    return layer * (c->n_prelude + c->n_coda + (double)c->n_core * steps) + adapter * steps +
           (double)c->vocab_size * E + E;
}

int cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "tokenizer")) return cmd_bench_tokenizer(argc - 1, argv + 1);
    const char *model = NULL, *cache = NULL, *shape = NULL;
    hg_kv_dtype kvd = HG_KV_F32;
    hg_weights weights = HG_WEIGHTS_AUTO;
    int steps = 0, prompt_tokens = 32, decode_tokens = 8, threads = 0, json = 0;
    cli c;
    cli_init(&c, "bench", argc, argv);
    while (cli_next(&c)) {
        if (cli_is(&c, "--help") || cli_is(&c, "-h")) {
            fputs(bench_usage, stdout);
            return 0;
        } else if (cli_is(&c, "--model")) {
            if (!(model = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--shape")) {
            if (!(shape = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--weights")) {
            const char *w = cli_str(&c);
            if (!w) return 2;
            if (hg_weights_parse(w, &weights) != HG_OK)
                return cli_error("bench", "--weights: unknown format '%s' (f32, bf16, q8_0, q4, auto)", w);
        } else if (cli_is(&c, "--kv-dtype")) {
            const char *v = cli_str(&c);
            if (!v) return 2;
            if (hg_kv_dtype_parse(v, &kvd) != HG_OK)
                return cli_error("bench", "--kv-dtype: unknown type '%s' (f32, bf16, f16)", v);
        } else if (cli_is(&c, "--steps")) {
            if (!cli_int(&c, 1, 4096, &steps)) return 2;
        } else if (cli_is(&c, "--prompt-tokens")) {
            if (!cli_int(&c, 1, 1 << 20, &prompt_tokens)) return 2;
        } else if (cli_is(&c, "--decode-tokens")) {
            if (!cli_int(&c, 1, 1 << 20, &decode_tokens)) return 2;
        } else if (cli_is(&c, "--threads")) {
            if (!cli_int(&c, 1, 256, &threads)) return 2;
        } else if (cli_is(&c, "--cache")) {
            if (!(cache = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--json")) {
            json = 1;
        } else {
            return cli_unknown(&c);
        }
    }
    if (model && shape) return cli_error("bench", "give --model or --shape, not both");
    if (!model && !shape && !(model = cli_default_model()))
        return cli_error("bench", "no --model given and no bundled model");
    int nthreads = threads ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN);

    hg_err e;
    hg_load_params lp;
    hg_load_params_default(&lp);
    lp.n_threads = threads;
    lp.weights = weights;
    hg_model *m;
    double t0 = now_s();
    hg_status s;
    if (shape) {
        hg_config sc;
        if ((s = hg_shape_config(shape, &sc, &e)) != HG_OK) return cli_error("bench", "--shape: %s", e.msg);
        s = hg_model_random(&sc, weights, 1, threads, &m, &e);
    } else {
        s = hg_model_load(model, &lp, &m, &e);
    }
    double load_s = now_s() - t0;
    if (s) {
        fprintf(stderr, "huginn bench: %s\n", e.msg);
        return cli_status_exit(s);
    }
    const hg_config *cfg = hg_model_config(m);
    int cfg_block = cfg->block_size;
    if (!steps) steps = cfg->mean_recurrence;
    if (prompt_tokens + decode_tokens > cfg->block_size) {
        hg_model_free(m);
        return cli_error("bench", "--prompt-tokens + --decode-tokens exceed block_size %d", cfg->block_size);
    }
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.n_ctx = prompt_tokens + decode_tokens + 1;
    if (cp.n_ctx > cfg->block_size) cp.n_ctx = cfg->block_size;
    if (cache) cp.cache = cache;
    cp.max_steps = steps;
    cp.kv_dtype = kvd;
    hg_ctx *ctx;
    if ((s = hg_ctx_new(m, &cp, &ctx, &e))) {
        fprintf(stderr, "huginn bench: %s\n", e.msg);
        hg_model_free(m);
        return cli_status_exit(s);
    }
    int32_t *ids = malloc(sizeof *ids * (size_t)prompt_tokens);
    srand(1);
    for (int i = 0; i < prompt_tokens; i++) ids[i] = rand() % cfg->vocab_size;
    hg_gen_params p;
    hg_gen_params_default(&p, m);
    p.num_steps = steps;
    p.greedy = 1;
    p.init_scale = 0;
    p.max_new_tokens = 1;
    p.n_stop = 0; /* never stop early */
    hg_gen_result r, rd;
    /* the prefill (and its first token), then the decoded tokens, profiled */
    s = hg_generate(ctx, ids, prompt_tokens, &p, NULL, NULL, &r, &e);
    hg_profile prof, pprof;
    if (!s) {
        hg_ctx_profile(ctx, &pprof);
        hg_ctx_profile_reset(ctx);
        p.max_new_tokens = decode_tokens;
        s = hg_generate(ctx, NULL, 0, &p, NULL, NULL, &rd, &e);
        hg_ctx_profile(ctx, &prof);
    }
    if (s) {
        fprintf(stderr, "huginn bench: %s\n", e.msg);
        free(ids);
        hg_ctx_free(ctx);
        hg_model_free(m);
        return cli_status_exit(s);
    }
    double vals = values_per_token(cfg, steps);
    double wbytes = hg_model_bytes_per_token(m, steps);
    const char *wname = hg_weights_name(hg_model_weights(m));
    double prefill_tps = prompt_tokens / r.prefill_s;
    double attn_flops = 4.0 * cfg->n_embd * (prompt_tokens / 2.0) *
                        (cfg->n_prelude + cfg->n_coda + (double)cfg->n_core * steps);
    double prefill_gflops = (2 * vals + attn_flops) * prompt_tokens / r.prefill_s / 1e9;
    double decode_s = rd.n_out ? (rd.prefill_s + rd.decode_s) / rd.n_out : 0;
    hg_gen_result_free(&rd);
    size_t kv_per_token = hg_ctx_kv_bytes_per_token(ctx, steps);
    /* KV bytes per token of every strategy at these steps and this dtype */
    static const char *strategies[] = {"full", "latest-m4", "compress-s16", "latest-m4-compress-s16", "compress-r4"};
    size_t kv_strat[5];
    for (int i = 0; i < 5; i++) {
        hg_ctx_params sp = cp;
        sp.cache = strategies[i];
        sp.n_ctx = 1;
        sp.max_steps = 1;
        hg_ctx *sc;
        kv_strat[i] = hg_ctx_new(m, &sp, &sc, &e) == HG_OK ? hg_ctx_kv_bytes_per_token(sc, steps) : 0;
        hg_ctx_free(sc);
    }
    size_t rss = rss_bytes();
    hg_gen_result_free(&r);
    free(ids);
    hg_ctx_free(ctx);
    hg_model_free(m);

    double bw = measure_bandwidth(nthreads);
    double peak = measure_peak_gflops(nthreads);
    double bound = bw > 0 ? wbytes / (bw * 1e9) : 0;
    double ratio = decode_s > 0 ? bound / decode_s : 0;
    if (json) {
        printf("{\"load_s\": %.4f, \"prefill_tokens_per_s\": %.3f, \"prefill_gflops\": %.3f, \"peak_gflops\": %.1f, "
               "\"decode_s_per_token\": %.6f, \"weight_bytes_per_token\": %.0f, \"bandwidth_gbs\": %.2f, "
               "\"bound_s_per_token\": %.6f, \"ratio_to_bound\": %.4f, \"rss_bytes\": %zu, \"kv_bytes_per_token\": %zu, "
               "\"steps\": %d, \"prompt_tokens\": %d, \"decode_tokens\": %d, \"threads\": %d, \"weights\": \"%s\", "
               "\"kernels\": \"%s\", \"kv_dtype\": \"%s\"}\n",
               load_s, prefill_tps, prefill_gflops, peak, decode_s, wbytes, bw, bound, ratio, rss, kv_per_token, steps,
               prompt_tokens, decode_tokens, nthreads, wname, hg_kernels_name(), hg_kv_dtype_name(kvd));
    } else {
        printf("model            %s (%s weights, %s kernels, %d steps, %d threads)\n", shape ? shape : model, wname,
               hg_kernels_name(), steps, nthreads);
        printf("load             %.3f s\n", load_s);
        printf("prefill          %d tokens: %.1f tokens/s, %.2f GFLOP/s (peak FMA %.1f GFLOP/s)\n", prompt_tokens,
               prefill_tps, prefill_gflops, peak);
        printf("decode           %.4f s/token over %d tokens\n", decode_s, decode_tokens);
        printf("weights/token    %.1f MB\n", wbytes / 1e6);
        printf("read bandwidth   %.2f GB/s -> bound %.4f s/token, achieved %.1f%% of it\n", bw, bound, ratio * 100);
        printf("resident memory  %.1f MB\n", rss / 1e6);
        printf("KV cache         %zu bytes/token (%s, %s)\n", kv_per_token, cache ? cache : "full",
               hg_kv_dtype_name(kvd));
        for (int i = 0; i < 5; i++)
            printf("  %-24s %zu bytes/token, %.2f GB for %d tokens\n", strategies[i], kv_strat[i],
                   kv_strat[i] * (double)cfg_block / 1e9, cfg_block);
        for (int which = 0; which < 2; which++) {
            const hg_profile *pr = which ? &prof : &pprof;
            double total = 0;
            for (int i = 0; i < HG_PROF_COUNT; i++) total += pr->seconds[i];
            printf(which ? "decode profile   (per token)\n" : "prefill profile  (whole prompt)\n");
            for (int i = 0; i < HG_PROF_COUNT; i++) {
                double sec = pr->seconds[i] / (which ? decode_tokens : 1);
                printf("  %-12s %8.4f s  %5.1f%%", hg_prof_part_name((hg_prof_part)i), sec,
                       total > 0 ? 100 * pr->seconds[i] / total : 0);
                if (which && pr->bytes[i] > 0 && pr->seconds[i] > 0)
                    printf("  %6.2f GB/s", pr->bytes[i] / pr->seconds[i] / 1e9);
                printf("\n");
            }
        }
    }
    return 0;
}
