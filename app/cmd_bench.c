/* cmd_bench.c — `huginn bench`: prefill and decode speed of a checkpoint,
 * next to the machine's measured read bandwidth and FMA throughput. */
#include "cli.h"
#include "cmds.h"
#include "huginn.h"
#include "platform.h"
#include "probe.h"

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
    "                    [--kv-dtype f32|bf16|f16] [--wave-widths 1,4,16] [--json]\n"
    "       huginn bench tokenizer --tokenizer FILE --text FILE [--json]\n"
    "\n"
    "Measures, in one run: the machine's read bandwidth (right before and right after the run)\n"
    "and peak FMA throughput with vector code of this CPU (AVX-512, AVX2 or NEON), load time,\n"
    "prefill tokens/s and GFLOP/s, decode s/token, bytes of weights per decoded token, the\n"
    "bandwidth bound in s/token and the ratio achieved, resident memory, KV bytes per token.\n"
    "With --shape, random weights of that shape are made in memory (no file needed; default\n"
    "--weights bf16).  Defaults: the bundled model, --steps = mean_recurrence, 32 prompt tokens,\n"
    "8 decoded tokens.\n"
    "JSON keys: load_s, prefill_tokens_per_s, prefill_gflops, peak_gflops, decode_s_per_token,\n"
    "weight_bytes_per_token, bandwidth_gbs, bound_s_per_token, ratio_to_bound, rss_bytes,\n"
    "kv_bytes_per_token, kernels, bandwidth_before_gbs, bandwidth_after_gbs, prefill_ratio_to_peak,\n"
    "probe_isa, amx (prefill on AMX tiles), kernel_isa, kernel_peak_gflops and\n"
    "prefill_ratio_to_kernel_peak (the FMA peak of the vectors the kernels use: with\n"
    "HUGINN_KERNELS=avx2 on an AVX-512 CPU, the AVX2 peak).\n"
    "--wave-widths W1,W2,...: also time one core-block pass (adapter and every core layer, one\n"
    "recurrence step) over W positions after the prompt, as a diffusion wave or a speculative\n"
    "verify pass runs it (median of 5): JSON \"pass_s_by_width\": {\"W1\": s, ...}.\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
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
    int32_t *widths = NULL;
    int n_widths = 0, max_width = 0;
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
                return cli_error("bench", "--weights: unknown format '%s' (auto, f32, bf16, q8_0, q4)", w);
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
        } else if (cli_is(&c, "--wave-widths")) {
            const char *v = cli_str(&c);
            if (!v) return 2;
            free(widths);
            if (!cli_parse_ids(v, &widths, &n_widths) || n_widths == 0 || n_widths > 64) {
                free(widths);
                return cli_error("bench", "--wave-widths: expected comma-separated widths >= 1, got '%s'", v);
            }
            for (int i = 0; i < n_widths; i++) {
                if (widths[i] < 1) {
                    free(widths);
                    return cli_error("bench", "--wave-widths: widths must be >= 1, got '%s'", v);
                }
                if (widths[i] > max_width) max_width = widths[i];
            }
        } else {
            free(widths);
            return cli_unknown(&c);
        }
    }
    if (model && shape) return cli_error("bench", "give --model or --shape, not both");
    if (!model && !shape && !(model = cli_default_model()))
        return cli_error("bench", "no --model given and no bundled model");
    int nthreads = threads ? threads : hg_usable_cpus();

    /* the yardstick right before the run (and again right after) */
    double bw_before = probe_bandwidth(nthreads);
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
    if (prompt_tokens + decode_tokens + 1 + max_width > cfg->block_size) {
        hg_model_free(m);
        free(widths);
        return cli_error("bench", "--prompt-tokens + --decode-tokens (+ 1 + the widest wave) exceed block_size %d",
                         cfg->block_size);
    }
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.n_ctx = prompt_tokens + decode_tokens + 1 + max_width;
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
    double pass_s[64];
    for (int i = 0; i < n_widths && !s; i++) s = hg_time_wave_pass(ctx, widths[i], 5, &pass_s[i], &e);
    if (s) {
        fprintf(stderr, "huginn bench: %s\n", e.msg);
        free(ids);
        free(widths);
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
    size_t rss = hg_rss_bytes();
    hg_gen_result_free(&r);
    free(ids);
    hg_ctx_free(ctx);
    hg_model_free(m);

    double bw_after = probe_bandwidth(nthreads);
    double bw = (bw_before + bw_after) / 2;
    double peak = probe_peak_gflops(nthreads);
    double prefill_ratio = peak > 0 ? prefill_gflops / peak : 0;
    /* the peak of the vectors the kernels use (AVX2 kernels forced on an
     * AVX-512 CPU: the AVX2 peak), for the products that do not run on AMX */
    const char *kisa = probe_kernels_isa(hg_kernels_vectors());
    double kpeak = strcmp(kisa, probe_isa()) ? probe_peak_gflops_isa(nthreads, kisa) : peak;
    double kratio = kpeak > 0 ? prefill_gflops / kpeak : 0;
    double bound = bw > 0 ? wbytes / (bw * 1e9) : 0;
    double ratio = decode_s > 0 ? bound / decode_s : 0;
    if (json) {
        printf("{\"load_s\": %.4f, \"prefill_tokens_per_s\": %.3f, \"prefill_gflops\": %.3f, \"peak_gflops\": %.1f, "
               "\"decode_s_per_token\": %.6f, \"weight_bytes_per_token\": %.0f, \"bandwidth_gbs\": %.2f, "
               "\"bound_s_per_token\": %.6f, \"ratio_to_bound\": %.4f, \"rss_bytes\": %zu, \"kv_bytes_per_token\": %zu, "
               "\"steps\": %d, \"prompt_tokens\": %d, \"decode_tokens\": %d, \"threads\": %d, \"weights\": \"%s\", "
               "\"kernels\": \"%s\", \"kv_dtype\": \"%s\", \"bandwidth_before_gbs\": %.2f, "
               "\"bandwidth_after_gbs\": %.2f, \"prefill_ratio_to_peak\": %.4f, \"probe_isa\": \"%s\", "
               "\"amx\": %s, \"kernel_isa\": \"%s\", \"kernel_peak_gflops\": %.1f, \"prefill_ratio_to_kernel_peak\": %.4f",
               load_s, prefill_tps, prefill_gflops, peak, decode_s, wbytes, bw, bound, ratio, rss, kv_per_token, steps,
               prompt_tokens, decode_tokens, nthreads, wname, hg_kernels_name(), hg_kv_dtype_name(kvd), bw_before,
               bw_after, prefill_ratio, probe_isa(), hg_kernels_amx() ? "true" : "false", kisa, kpeak, kratio);
        if (n_widths) {
            printf(", \"pass_s_by_width\": {");
            for (int i = 0; i < n_widths; i++) printf("%s\"%d\": %.6g", i ? ", " : "", widths[i], pass_s[i]);
            printf("}");
        }
        printf("}\n");
    } else {
        printf("model            %s (%s weights, %s kernels%s, %d steps, %d threads)\n", shape ? shape : model, wname,
               hg_kernels_name(), hg_kernels_amx() ? " + AMX" : "", steps, nthreads);
        printf("load             %.3f s\n", load_s);
        printf("prefill          %d tokens: %.1f tokens/s, %.2f GFLOP/s = %.1f%% of the FMA peak %.1f GFLOP/s (%s)\n",
               prompt_tokens, prefill_tps, prefill_gflops, prefill_ratio * 100, peak, probe_isa());
        if (strcmp(kisa, probe_isa()))
            printf("                 %.1f%% of the FMA peak of the kernels' vectors %.1f GFLOP/s (%s)\n", kratio * 100,
                   kpeak, kisa);
        printf("decode           %.4f s/token over %d tokens\n", decode_s, decode_tokens);
        printf("weights/token    %.1f MB\n", wbytes / 1e6);
        printf("read bandwidth   %.2f GB/s (%s loads: %.2f before, %.2f after) -> bound %.4f s/token, achieved %.1f%% of it\n",
               bw, probe_isa(), bw_before, bw_after, bound, ratio * 100);
        printf("resident memory  %.1f MB\n", rss / 1e6);
        for (int i = 0; i < n_widths; i++)
            printf("core pass        %4d positions: %.6f s (%.2fx %d)\n", widths[i], pass_s[i], pass_s[i] / pass_s[0],
                   widths[0]);
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
    free(widths);
    return 0;
}
