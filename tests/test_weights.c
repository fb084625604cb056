/* test_weights.c — bf16, q8_0 and q4 weight formats on the fixture: the forward
 * cases against the golden logits (loose tolerances, reported), the
 * converted-weights cache (written once, mapped after, rejected when
 * corrupt), and progress reporting. */
#include "testutil.h"
#include "huginn.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_cache[256];
static cJSON *g_golden;

static int setup(void **state)
{
    (void)state;
    snprintf(g_cache, sizeof g_cache, "/tmp/huginn-wcache-XXXXXX");
    if (!mkdtemp(g_cache)) return -1;
    g_golden = tu_read_json(HG_FIXTURES "/tiny-huginn.golden.json");
    return g_golden ? 0 : -1;
}

static void rm_cache(void)
{
    DIR *d = opendir(g_cache);
    struct dirent *de;
    char p[512];
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", g_cache, de->d_name);
            unlink(p);
        }
    if (d) closedir(d);
}

static int teardown(void **state)
{
    (void)state;
    rm_cache();
    rmdir(g_cache);
    cJSON_Delete(g_golden);
    return 0;
}

static int n_cache_files(char *first, size_t n)
{
    DIR *d = opendir(g_cache);
    struct dirent *de;
    int cnt = 0;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.') {
            if (!cnt && first) snprintf(first, n, "%s/%s", g_cache, de->d_name);
            cnt++;
        }
    if (d) closedir(d);
    return cnt;
}

static double last_progress;
static int on_progress(double f, const char *what, void *user)
{
    (void)what;
    (void)user;
    assert_true(f >= last_progress - 1e-12 && f <= 1.0 + 1e-12);
    last_progress = f;
    return 0;
}

/* Max |logit - golden| over the forward cases, relative to the largest |logit|. */
static double forward_error(hg_weights w, const char *cache_dir, double *rel, int *argmax_agree, int *argmax_total)
{
    hg_load_params lp;
    hg_load_params_default(&lp);
    lp.weights = w;
    lp.cache_dir = cache_dir;
    lp.progress = on_progress;
    last_progress = 0;
    hg_model *m;
    hg_err e;
    assert_int_equal(hg_model_load(HG_FIXTURES "/tiny-huginn", &lp, &m, &e), HG_OK);
    assert_int_equal(hg_model_weights(m), w);
    hg_ctx *ctx;
    assert_int_equal(hg_ctx_new(m, NULL, &ctx, &e), HG_OK);
    int V = hg_model_config(m)->vocab_size;
    double maxerr = 0, maxabs = 0;
    *argmax_agree = *argmax_total = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(g_golden, "cases"))
    {
        if (strcmp(cJSON_GetObjectItem(cs, "kind")->valuestring, "forward")) continue;
        int n;
        int32_t *ids = tu_json_ids(cJSON_GetObjectItem(cs, "prompt_ids"), &n);
        float *logits = malloc(sizeof(float) * (size_t)n * V);
        assert_int_equal(hg_forward(ctx, ids, n, cJSON_GetObjectItem(cs, "num_steps")->valueint, 0, 0, logits, NULL, &e),
                         HG_OK);
        const cJSON *ll = cJSON_GetObjectItem(cs, "last_logits"), *am = cJSON_GetObjectItem(cs, "argmax");
        for (int i = 0; i < V; i++) {
            double g = cJSON_GetArrayItem(ll, i)->valuedouble;
            maxerr = fmax(maxerr, fabs(logits[(size_t)(n - 1) * V + i] - g));
            maxabs = fmax(maxabs, fabs(g));
        }
        for (int t = 0; t < n; t++) {
            const float *l = logits + (size_t)t * V;
            int best = 0;
            for (int i = 1; i < V; i++)
                if (l[i] > l[best]) best = i;
            *argmax_agree += best == cJSON_GetArrayItem(am, t)->valueint;
            (*argmax_total)++;
        }
        free(ids);
        free(logits);
    }
    hg_ctx_free(ctx);
    hg_model_free(m);
    *rel = maxerr / maxabs;
    return maxerr;
}

static void test_bf16_q8_accuracy(void **state)
{
    (void)state;
    double rel;
    int agree, total;
    double e32 = forward_error(HG_WEIGHTS_F32, "", &rel, &agree, &total);
    assert_true(e32 <= 1e-3);
    assert_int_equal(agree, total);
    double eb = forward_error(HG_WEIGHTS_BF16, "", &rel, &agree, &total);
    print_message("bf16: max |logit - golden| = %.4g (%.2f%% of max |logit|), argmax agrees at %d of %d positions\n",
                  eb, rel * 100, agree, total);
    assert_true(rel < 0.05);
    assert_true(agree >= total * 8 / 10);
    double eq = forward_error(HG_WEIGHTS_Q8_0, "", &rel, &agree, &total);
    print_message("q8_0: max |logit - golden| = %.4g (%.2f%% of max |logit|), argmax agrees at %d of %d positions\n",
                  eq, rel * 100, agree, total);
    assert_true(rel < 0.05);
    assert_true(agree >= total * 8 / 10);
    /* q4 (4.5 bits per weight) on random weights: about 16 times q8_0's
     * error (steps of 1/15 of a block's range against 1/254) */
    double e4 = forward_error(HG_WEIGHTS_Q4, "", &rel, &agree, &total);
    print_message("q4: max |logit - golden| = %.4g (%.2f%% of max |logit|), argmax agrees at %d of %d positions\n",
                  e4, rel * 100, agree, total);
    assert_true(e4 > eq);  /* really fewer bits than q8_0 */
    assert_true(e4 < 30 * eq);
    assert_true(rel < 0.3);
    assert_true(agree >= total * 6 / 10);
    assert_true(last_progress >= 1.0 - 1e-9);
}

static void test_cache(void **state)
{
    (void)state;
    rm_cache();
    double rel1, rel2;
    int a, t;
    double e1 = forward_error(HG_WEIGHTS_BF16, g_cache, &rel1, &a, &t);
    char path[512];
    assert_int_equal(n_cache_files(path, sizeof path), 1);
    struct stat sb1, sb2;
    assert_int_equal(stat(path, &sb1), 0);
    /* second load maps the same file, same numbers, no rewrite */
    double e2 = forward_error(HG_WEIGHTS_BF16, g_cache, &rel2, &a, &t);
    assert_true(e1 == e2);
    assert_int_equal(stat(path, &sb2), 0);
    assert_true(sb1.st_mtim.tv_sec == sb2.st_mtim.tv_sec && sb1.st_mtim.tv_nsec == sb2.st_mtim.tv_nsec);
    /* a corrupt cache file is rejected and rewritten */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fwrite("XXXXXXXX", 1, 8, f);
    fclose(f);
    double e3 = forward_error(HG_WEIGHTS_BF16, g_cache, &rel2, &a, &t);
    assert_true(e3 == e1);
    f = fopen(path, "rb");
    char magic[8];
    assert_int_equal(fread(magic, 1, 8, f), 8);
    fclose(f);
    assert_memory_equal(magic, "HUGINNW1", 8);
    /* a truncated one too */
    assert_int_equal(truncate(path, 100), 0);
    double e4 = forward_error(HG_WEIGHTS_BF16, g_cache, &rel2, &a, &t);
    assert_true(e4 == e1);
    /* q8_0 and q4 get their own files; a mapped q4 file gives the numbers of a fresh conversion */
    forward_error(HG_WEIGHTS_Q8_0, g_cache, &rel2, &a, &t);
    assert_int_equal(n_cache_files(NULL, 0), 2);
    double q1 = forward_error(HG_WEIGHTS_Q4, g_cache, &rel2, &a, &t);
    assert_int_equal(n_cache_files(NULL, 0), 3);
    double q2 = forward_error(HG_WEIGHTS_Q4, g_cache, &rel2, &a, &t);
    assert_true(q1 == q2);
}

static void test_parse(void **state)
{
    (void)state;
    hg_weights w;
    const char *names[] = {"auto", "f32", "bf16", "q8_0", "q4"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(hg_weights_parse(names[i], &w), HG_OK);
        assert_string_equal(hg_weights_name(w), names[i]);
    }
    assert_int_equal(hg_weights_parse("q4_0", &w), HG_E_ARG);
    assert_int_equal(hg_weights_parse("q5", &w), HG_E_ARG);
    /* auto keeps an F32 fixture exact */
    hg_load_params lp;
    hg_load_params_default(&lp);
    hg_model *m;
    hg_err e;
    assert_int_equal(hg_model_load(HG_FIXTURES "/tiny-huginn", &lp, &m, &e), HG_OK);
    assert_int_equal(hg_model_weights(m), HG_WEIGHTS_F32);
    hg_model_free(m);
}

/* bf16 and f16 KV caches: forward logits close to the f32 cache, generation
 * still sensible; memory halves. */
static void test_kv_dtypes(void **state)
{
    (void)state;
    hg_model *m;
    hg_err e;
    assert_int_equal(hg_model_load(HG_FIXTURES "/tiny-huginn", NULL, &m, &e), HG_OK);
    int V = hg_model_config(m)->vocab_size;
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 37 + 11) % 480;
    float *ref = malloc(sizeof(float) * V), *got = malloc(sizeof(float) * V);
    hg_kv_dtype types[] = {HG_KV_F32, HG_KV_BF16, HG_KV_F16};
    double tol[] = {0, 0.05, 0.01};
    size_t bytes[3];
    int gen_tok[3];
    for (int d = 0; d < 3; d++) {
        hg_ctx_params cp;
        hg_ctx_params_default(&cp);
        cp.kv_dtype = types[d];
        hg_ctx *ctx;
        assert_int_equal(hg_ctx_new(m, &cp, &ctx, &e), HG_OK);
        /* a prefill of 39 positions, then one decoded position reading the cache */
        hg_gen_params p;
        hg_gen_params_default(&p, m);
        p.num_steps = 8;
        p.init_scale = 0;
        p.greedy = 1;
        p.max_new_tokens = 1;
        hg_gen_result r;
        assert_int_equal(hg_generate(ctx, ids, 39, &p, NULL, NULL, &r, &e), HG_OK);
        /* the generation itself: one token of 8 steps, the same in every precision */
        assert_int_equal(r.n_out, 1);
        assert_int_equal(r.steps[0], 8);
        assert_true(r.output_ids[0] >= 0 && r.output_ids[0] < V);
        gen_tok[d] = r.output_ids[0];
        assert_int_equal(gen_tok[d], gen_tok[0]);
        hg_gen_result_free(&r);
        assert_int_equal(hg_forward(ctx, ids, 40, 8, 0, 0, NULL, d ? got : ref, &e), HG_OK);
        bytes[d] = hg_ctx_kv_bytes(ctx);
        assert_int_equal(bytes[d], hg_ctx_kv_bytes_per_token(ctx, 8) * 40);
        if (d) {
            double maxerr = 0;
            for (int i = 0; i < V; i++) maxerr = fmax(maxerr, fabs(got[i] - ref[i]));
            print_message("KV %s: max |logit - f32 cache| = %.3g, %zu bytes/token\n", hg_kv_dtype_name(types[d]), maxerr,
                          hg_ctx_kv_bytes_per_token(ctx, 8));
            assert_true(maxerr < tol[d]);
            assert_true(maxerr > 0); /* really stored in lower precision */
        }
        hg_ctx_free(ctx);
    }
    /* greedy: the f32 generation is the argmax of the f32 forward over the 39 ids */
    hg_ctx *ctx;
    assert_int_equal(hg_ctx_new(m, NULL, &ctx, &e), HG_OK);
    assert_int_equal(hg_forward(ctx, ids, 39, 8, 0, 0, NULL, ref, &e), HG_OK);
    int best = 0;
    for (int i = 1; i < V; i++)
        if (ref[i] > ref[best]) best = i;
    assert_int_equal(gen_tok[0], best);
    hg_ctx_free(ctx);
    assert_int_equal(bytes[1] * 2, bytes[0]);
    assert_int_equal(bytes[2] * 2, bytes[0]);
    hg_kv_dtype k;
    assert_int_equal(hg_kv_dtype_parse("f16", &k), HG_OK);
    assert_int_equal(k, HG_KV_F16);
    assert_int_equal(hg_kv_dtype_parse("fp8", &k), HG_E_ARG);
    free(ref);
    free(got);
    hg_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_q8_accuracy),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_kv_dtypes),
    };
    return cmocka_run_group_tests_name("weights", tests, setup, teardown);
}
