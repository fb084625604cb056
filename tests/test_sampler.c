/* test_sampler.c — sampling (HUGINN.md §5 order) and the seeded RNG:
 * repetition penalty, greedy, temperature, top-k, top-p, min-p, the draw's
 * statistics, seeded determinism and the truncated normal. */
#include "testutil.h"
#include "huginn.h"
#include "sampler.h"

#include <math.h>
#include <pthread.h>

#define MAXV 64

typedef struct work {
    float probs[MAXV];
    int idx[MAXV];
    unsigned char mark[MAXV];
    hg_sampler_work w;
} work;

static void work_init(work *w)
{
    memset(w, 0, sizeof *w);
    w->w.probs = w->probs;
    w->w.idx = w->idx;
    w->w.mark = w->mark;
}

static void sampling_params(hg_gen_params *p)
{
    hg_gen_params_default(p, NULL);
    p->greedy = 0;
    p->temperature = 1.0f;
    p->top_k = 0;
    p->top_p = 0;
    p->min_p = 0;
    p->repetition_penalty = 1.0f;
}

/* ------------------------------------------------- repetition penalty */

static void test_repetition_penalty(void **state)
{
    (void)state;
    float l[6] = {2.0f, -2.0f, 3.0f, -0.5f, 1.0f, 0.0f};
    unsigned char mark[6];
    /* token 0 three times, token 1 twice, token 3 once, out-of-range ids ignored */
    const int32_t hist[] = {0, 1, 0, 3, 1, 0, -1, 6, 99};
    hg_repetition_penalty(l, 6, hist, 9, 2.0f, mark);
    assert_float_equal(l[0], 1.0f, 0);   /* positive: 2 / 2, once only */
    assert_float_equal(l[1], -4.0f, 0);  /* negative: -2 * 2, once only */
    assert_float_equal(l[2], 3.0f, 0);   /* not seen */
    assert_float_equal(l[3], -1.0f, 0);  /* -0.5 * 2 */
    assert_float_equal(l[4], 1.0f, 0);   /* not seen */
    assert_float_equal(l[5], 0.0f, 0);
    /* penalty 1: no change */
    float m[3] = {1.5f, -1.5f, 0.25f};
    const int32_t h2[] = {0, 1, 2};
    hg_repetition_penalty(m, 3, h2, 3, 1.0f, mark);
    assert_float_equal(m[0], 1.5f, 0);
    assert_float_equal(m[1], -1.5f, 0);
    assert_float_equal(m[2], 0.25f, 0);
    /* penalty < 1 boosts seen tokens the same way (divide positive) */
    float n[2] = {1.0f, -1.0f};
    hg_repetition_penalty(n, 2, h2, 2, 0.5f, mark);
    assert_float_equal(n[0], 2.0f, 0);
    assert_float_equal(n[1], -0.5f, 0);
}

/* ---------------------------------------------------------- greedy */

static void test_greedy(void **state)
{
    (void)state;
    work w;
    work_init(&w);
    hg_gen_params p;
    sampling_params(&p);
    p.greedy = 1;
    hg_rng rng;
    hg_rng_seed(&rng, 1);
    float a[5] = {0.1f, 3.0f, -1.0f, 2.9f, 0.0f};
    assert_int_equal(hg_sample(a, 5, &p, NULL, 0, &rng, &w.w), 1);
    /* ties: the lowest index */
    float b[5] = {1.0f, 3.0f, 3.0f, 2.0f, 3.0f};
    assert_int_equal(hg_sample(b, 5, &p, NULL, 0, &rng, &w.w), 1);
    float c[3] = {-5.0f, -5.0f, -5.0f};
    assert_int_equal(hg_sample(c, 3, &p, NULL, 0, &rng, &w.w), 0);
    /* the repetition penalty applies before the argmax: 2.0 / 1.2 = 1.667 < 1.9 */
    float d[2] = {2.0f, 1.9f};
    const int32_t hist[] = {0};
    p.repetition_penalty = 1.2f;
    assert_int_equal(hg_sample(d, 2, &p, hist, 1, &rng, &w.w), 1);
    /* greedy ignores temperature and filters */
    float e[4] = {0.0f, 0.5f, 4.0f, 1.0f};
    p.repetition_penalty = 1.0f;
    p.temperature = 100.0f;
    p.top_k = 1;
    assert_int_equal(hg_sample(e, 4, &p, NULL, 0, &rng, &w.w), 2);
}

/* ----------------------------------------------------- temperature */

static void test_temperature(void **state)
{
    (void)state;
    work w;
    work_init(&w);
    hg_gen_params p;
    sampling_params(&p);
    hg_rng rng;
    hg_rng_seed(&rng, 7);
    const float base[3] = {0.0f, 5.0f, 10.0f};
    /* At T = 1, softmax(0, 5, 10) puts 0.9933 on token 2: out of 3000 draws
     * token 0 (p = 4.5e-5) should essentially never appear. */
    int cnt[3] = {0};
    for (int i = 0; i < 3000; i++) {
        float l[3];
        memcpy(l, base, sizeof l);
        cnt[hg_sample(l, 3, &p, NULL, 0, &rng, &w.w)]++;
    }
    assert_true(cnt[2] > 2900);
    assert_true(cnt[0] < 5);
    /* A huge temperature (1e6): logits / T ~ 1e-5, softmax ~ uniform (1/3 each). */
    p.temperature = 1e6f;
    int n = 30000;
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < n; i++) {
        float l[3];
        memcpy(l, base, sizeof l);
        cnt[hg_sample(l, 3, &p, NULL, 0, &rng, &w.w)]++;
    }
    for (int k = 0; k < 3; k++) {
        double f = (double)cnt[k] / n;
        if (fabs(f - 1.0 / 3.0) > 0.02) fail_msg("huge temperature: token %d frequency %.4f, expected ~1/3", k, f);
    }
    /* A tiny temperature (1e-3): always the argmax. */
    p.temperature = 1e-3f;
    for (int i = 0; i < 2000; i++) {
        float l[4] = {1.0f, 1.01f, 0.9f, -3.0f};
        assert_int_equal(hg_sample(l, 4, &p, NULL, 0, &rng, &w.w), 1);
    }
    /* temperature 2 flattens exactly like logits / 2: p(1) = e^0.5 / (1 + e^0.5) = 0.6225 for logits (0, 1) */
    p.temperature = 2.0f;
    n = 20000;
    int c1 = 0;
    for (int i = 0; i < n; i++) {
        float l[2] = {0.0f, 1.0f};
        c1 += hg_sample(l, 2, &p, NULL, 0, &rng, &w.w) == 1;
    }
    double want = exp(0.5) / (1 + exp(0.5));
    if (fabs((double)c1 / n - want) > 0.02) fail_msg("T=2: p(1) = %.4f, expected %.4f", (double)c1 / n, want);
}

/* ---------------------------------------------------------- filters */

static void test_top_k(void **state)
{
    (void)state;
    int idx[8];
    /* k = 2: the 2nd largest is 0.3, and the tie at 0.3 is kept */
    float p[6] = {0.1f, 0.3f, 0.05f, 0.3f, 0.2f, 0.05f};
    float q[6];
    memcpy(q, p, sizeof q);
    hg_filter_top_k(q, 6, 2, idx);
    const float e2[6] = {0, 0.3f, 0, 0.3f, 0, 0};
    for (int i = 0; i < 6; i++) assert_float_equal(q[i], e2[i], 0);
    /* k = 1 with a tie at the top keeps both */
    memcpy(q, p, sizeof q);
    hg_filter_top_k(q, 6, 1, idx);
    for (int i = 0; i < 6; i++) assert_float_equal(q[i], e2[i], 0);
    /* k = 3: 0.3, 0.3, 0.2 */
    memcpy(q, p, sizeof q);
    hg_filter_top_k(q, 6, 3, idx);
    const float e3[6] = {0, 0.3f, 0, 0.3f, 0.2f, 0};
    for (int i = 0; i < 6; i++) assert_float_equal(q[i], e3[i], 0);
    /* k = 5: the 5th largest is 0.05, both 0.05 kept: nothing dropped */
    memcpy(q, p, sizeof q);
    hg_filter_top_k(q, 6, 5, idx);
    for (int i = 0; i < 6; i++) assert_float_equal(q[i], p[i], 0);
    /* k = 0 (off) and k >= V change nothing */
    memcpy(q, p, sizeof q);
    hg_filter_top_k(q, 6, 0, idx);
    hg_filter_top_k(q, 6, 6, idx);
    hg_filter_top_k(q, 6, 100, idx);
    for (int i = 0; i < 6; i++) assert_float_equal(q[i], p[i], 0);
}

static void test_top_p(void **state)
{
    (void)state;
    int idx[8];
    /* Exactly representable masses, shuffled: sorted 0.5, 0.25, 0.125, 0.125.
     * Cumulative (sorted): 0.5, 0.75, 0.875, 1.0; removed where cumulative > p,
     * the first always kept. */
    const float p0[4] = {0.125f, 0.5f, 0.125f, 0.25f};
    float q[4];
    /* p = 0.75: 0.5 and 0.25 kept (0.75 is not > 0.75), the 0.125s dropped */
    memcpy(q, p0, sizeof q);
    hg_filter_top_p(q, 4, 0.75f, idx);
    const float e75[4] = {0, 0.5f, 0, 0.25f};
    for (int i = 0; i < 4; i++) assert_float_equal(q[i], e75[i], 0);
    /* p = 0.7: cumulative 0.75 > 0.7 drops the 0.25 too; only the first stays */
    memcpy(q, p0, sizeof q);
    hg_filter_top_p(q, 4, 0.7f, idx);
    const float e70[4] = {0, 0.5f, 0, 0};
    for (int i = 0; i < 4; i++) assert_float_equal(q[i], e70[i], 0);
    /* p = 0.9: 0.5, 0.25 and the first 0.125 in sort order (cum 0.875); the
     * second 0.125 (cum 1.0) goes.  Equal values sort by index: index 0 first. */
    memcpy(q, p0, sizeof q);
    hg_filter_top_p(q, 4, 0.9f, idx);
    const float e90[4] = {0.125f, 0.5f, 0, 0.25f};
    for (int i = 0; i < 4; i++) assert_float_equal(q[i], e90[i], 0);
    /* the first alone exceeds p: it is kept, the rest dropped */
    float r[3] = {0.05f, 0.9f, 0.05f};
    hg_filter_top_p(r, 3, 0.5f, idx);
    assert_float_equal(r[0], 0, 0);
    assert_float_equal(r[1], 0.9f, 0);
    assert_float_equal(r[2], 0, 0);
    /* p = 0 or >= 1: off */
    memcpy(q, p0, sizeof q);
    hg_filter_top_p(q, 4, 0.0f, idx);
    hg_filter_top_p(q, 4, 1.0f, idx);
    for (int i = 0; i < 4; i++) assert_float_equal(q[i], p0[i], 0);
}

static void test_min_p(void **state)
{
    (void)state;
    const float p0[4] = {0.125f, 0.5f, 0.125f, 0.25f};
    float q[4];
    /* min_p 0.25: threshold 0.125; nothing is < 0.125 */
    memcpy(q, p0, sizeof q);
    hg_filter_min_p(q, 4, 0.25f);
    for (int i = 0; i < 4; i++) assert_float_equal(q[i], p0[i], 0);
    /* min_p 0.3: threshold 0.15 drops the 0.125s */
    memcpy(q, p0, sizeof q);
    hg_filter_min_p(q, 4, 0.3f);
    const float e[4] = {0, 0.5f, 0, 0.25f};
    for (int i = 0; i < 4; i++) assert_float_equal(q[i], e[i], 0);
    /* min_p 0.6: threshold 0.3 keeps the max only */
    memcpy(q, p0, sizeof q);
    hg_filter_min_p(q, 4, 0.6f);
    assert_float_equal(q[1], 0.5f, 0);
    assert_float_equal(q[0] + q[2] + q[3], 0, 0);
    /* min_p 0: off */
    memcpy(q, p0, sizeof q);
    hg_filter_min_p(q, 4, 0.0f);
    for (int i = 0; i < 4; i++) assert_float_equal(q[i], p0[i], 0);
}

/* The filters inside hg_sample: only kept tokens are ever drawn, and the kept
 * mass is renormalised. */
static void test_sample_with_filters(void **state)
{
    (void)state;
    work w;
    work_init(&w);
    hg_gen_params p;
    sampling_params(&p);
    hg_rng rng;
    hg_rng_seed(&rng, 3);
    const float pr[4] = {0.125f, 0.5f, 0.125f, 0.25f};
    float base[4];
    for (int i = 0; i < 4; i++) base[i] = logf(pr[i]);
    int n = 20000, cnt[4];
    /* top-p 0.75 keeps {1: 0.5, 3: 0.25} -> renormalised 2/3, 1/3 */
    p.top_p = 0.75f;
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < n; i++) {
        float l[4];
        memcpy(l, base, sizeof l);
        cnt[hg_sample(l, 4, &p, NULL, 0, &rng, &w.w)]++;
    }
    assert_int_equal(cnt[0] + cnt[2], 0);
    assert_true(fabs((double)cnt[1] / n - 2.0 / 3.0) < 0.02);
    /* top-k 1: always token 1 */
    p.top_p = 0;
    p.top_k = 1;
    for (int i = 0; i < 500; i++) {
        float l[4];
        memcpy(l, base, sizeof l);
        assert_int_equal(hg_sample(l, 4, &p, NULL, 0, &rng, &w.w), 1);
    }
    /* min-p 0.3 keeps {1, 3} as well */
    p.top_k = 0;
    p.min_p = 0.3f;
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < n; i++) {
        float l[4];
        memcpy(l, base, sizeof l);
        cnt[hg_sample(l, 4, &p, NULL, 0, &rng, &w.w)]++;
    }
    assert_int_equal(cnt[0] + cnt[2], 0);
    assert_true(fabs((double)cnt[3] / n - 1.0 / 3.0) < 0.02);
}

/* --------------------------------------------------- the draw itself */

static void test_draw_statistics(void **state)
{
    (void)state;
    work w;
    work_init(&w);
    hg_gen_params p;
    sampling_params(&p);
    hg_rng rng;
    hg_rng_seed(&rng, 12345);
    const double want[3] = {0.7, 0.2, 0.1};
    int cnt[3] = {0}, n = 20000;
    for (int i = 0; i < n; i++) {
        float l[3] = {logf(0.7f), logf(0.2f), logf(0.1f)};
        int t = hg_sample(l, 3, &p, NULL, 0, &rng, &w.w);
        assert_true(t >= 0 && t < 3);
        cnt[t]++;
    }
    for (int k = 0; k < 3; k++) {
        double f = (double)cnt[k] / n;
        if (fabs(f - want[k]) > 0.02) fail_msg("token %d drawn with frequency %.4f, expected %.2f", k, f, want[k]);
    }
    /* shifting every logit by a constant changes nothing in distribution */
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < n; i++) {
        float l[3] = {logf(0.7f) + 50, logf(0.2f) + 50, logf(0.1f) + 50};
        cnt[hg_sample(l, 3, &p, NULL, 0, &rng, &w.w)]++;
    }
    for (int k = 0; k < 3; k++) assert_true(fabs((double)cnt[k] / n - want[k]) < 0.02);
}

static void draw_seq(uint64_t seed, int *out, int n)
{
    work w;
    work_init(&w);
    hg_gen_params p;
    sampling_params(&p);
    hg_rng rng;
    hg_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) {
        float l[16];
        for (int k = 0; k < 16; k++) l[k] = 0.1f * (float)(k % 5);
        out[i] = hg_sample(l, 16, &p, NULL, 0, &rng, &w.w);
    }
}

static void test_seeded_determinism(void **state)
{
    (void)state;
    int a[100], b[100], c[100];
    draw_seq(42, a, 100);
    draw_seq(42, b, 100);
    draw_seq(43, c, 100);
    assert_memory_equal(a, b, sizeof a);
    int same = 0;
    for (int i = 0; i < 100; i++) same += a[i] == c[i];
    /* ~16 tokens of similar mass: two independent streams agree ~6 % of the time */
    assert_true(same < 50);
    /* the raw generator too */
    hg_rng r1, r2, r3;
    hg_rng_seed(&r1, 0);
    hg_rng_seed(&r2, 0);
    hg_rng_seed(&r3, 1);
    int diff = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = hg_rng_next(&r1), y = hg_rng_next(&r2), z = hg_rng_next(&r3);
        assert_true(x == y);
        diff += x != z;
    }
    assert_true(diff > 990);
}

/* ------------------------------------------------------------- RNG */

static void test_rng_uniform(void **state)
{
    (void)state;
    hg_rng r;
    hg_rng_seed(&r, 99);
    double sum = 0, sum2 = 0;
    int n = 200000, buckets[10] = {0};
    for (int i = 0; i < n; i++) {
        double u = hg_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        sum2 += u * u;
        buckets[(int)(u * 10)]++;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    assert_true(fabs(mean - 0.5) < 0.005);
    assert_true(fabs(var - 1.0 / 12) < 0.002);
    for (int k = 0; k < 10; k++) assert_true(fabs(buckets[k] / (double)n - 0.1) < 0.005);
}

static void test_rng_trunc_normal(void **state)
{
    (void)state;
    hg_rng r;
    hg_rng_seed(&r, 2024);
    int n = 400000;
    double sum = 0, sum2 = 0, mx = 0;
    for (int i = 0; i < n; i++) {
        double z = hg_rng_trunc_normal(&r);
        assert_true(z >= -3.0 && z <= 3.0);
        sum += z;
        sum2 += z * z;
        if (fabs(z) > mx) mx = fabs(z);
    }
    double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
    /* N(0,1) cut at ±3: var = 1 - 2·3·φ(3) / (2Φ(3) - 1)
     *                      = 1 - 6 · 0.0044318 / 0.9973002 = 0.973337, sd = 0.98658 */
    double phi3 = exp(-4.5) / sqrt(2 * M_PI), Phi = erf(3 / sqrt(2.0));
    double want_sd = sqrt(1 - 6 * phi3 / Phi);
    assert_true(fabs(want_sd - 0.98658) < 1e-4);
    if (fabs(mean) > 0.006) fail_msg("mean %.5f", mean);
    if (fabs(sd - want_sd) > 0.004) fail_msg("sd %.5f, expected %.5f", sd, want_sd);
    /* the tail really is used up to the cut (P(|z| > 2.9) ~ 0.3 %) */
    assert_true(mx > 2.9);
}

/* Two contexts sampling on two threads do not share sorting state. */
#define TV 4096
typedef struct thr_job {
    float base[TV], want[TV], q[TV];
    int idx[TV];
    int bad;
} thr_job;

static void *thr_run(void *arg)
{
    thr_job *j = arg;
    for (int rep = 0; rep < 200 && !j->bad; rep++) {
        memcpy(j->q, j->base, sizeof j->q);
        hg_filter_top_p(j->q, TV, 0.5f, j->idx);
        hg_filter_top_k(j->q, TV, 300, j->idx);
        if (memcmp(j->q, j->want, sizeof j->q)) j->bad = 1;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    static thr_job jobs[2];
    for (int t = 0; t < 2; t++) {
        uint64_t x = 12345 + (uint64_t)t * 777;
        double sum = 0;
        for (int i = 0; i < TV; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* opposite orders on the two threads */
            jobs[t].base[i] = (float)((x >> 40) % 1000 + 1) * (t ? (float)(i + 1) : (float)(TV - i));
            sum += jobs[t].base[i];
        }
        for (int i = 0; i < TV; i++) jobs[t].base[i] = (float)(jobs[t].base[i] / sum);
        memcpy(jobs[t].want, jobs[t].base, sizeof jobs[t].want);
        hg_filter_top_p(jobs[t].want, TV, 0.5f, jobs[t].idx);
        hg_filter_top_k(jobs[t].want, TV, 300, jobs[t].idx);
        jobs[t].bad = 0;
    }
    pthread_t th[2];
    for (int t = 0; t < 2; t++) assert_int_equal(pthread_create(&th[t], NULL, thr_run, &jobs[t]), 0);
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    assert_int_equal(jobs[0].bad, 0);
    assert_int_equal(jobs[1].bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repetition_penalty),
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_temperature),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_sample_with_filters),
        cmocka_unit_test(test_draw_statistics),
        cmocka_unit_test(test_seeded_determinism),
        cmocka_unit_test(test_rng_uniform),
        cmocka_unit_test(test_rng_trunc_normal),
    };
    return cmocka_run_group_tests_name("sampler", tests, NULL, NULL);
}
