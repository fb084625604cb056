/* test_exitcrit.c — the exit criteria of HUGINN.md §5 on hand-computable
 * inputs: values at successive steps with the reference's initial
 * "previous", the threshold comparison, defaults, and name parsing. */
#include "testutil.h"
#include "huginn.h"
#include "exitcrit.h"

#include <math.h>

/* logits = log p (softmax of them gives p back) */
static void logits_of(float *l, const double *p, int V)
{
    for (int i = 0; i < V; i++) l[i] = (float)log(p[i]);
}

/* KL(a || b) = sum a (log a - log b), directly from the definition */
static double kl(const double *a, const double *b, int V)
{
    double s = 0;
    for (int i = 0; i < V; i++) s += a[i] * (log(a[i]) - log(b[i]));
    return s;
}

static void test_kl(void **state)
{
    (void)state;
    enum { V = 4 };
    hg_exit_state s;
    assert_int_equal(hg_exit_alloc(&s, V, 8), HG_OK);
    float x0[2] = {0};
    hg_exit_begin(&s, HG_CRIT_KL, NAN, x0, 1, 2);
    assert_true(fabs(s.threshold - 1e-3) < 1e-15); /* NaN -> the default */
    const double u[V] = {0.25, 0.25, 0.25, 0.25};
    const double p[V] = {0.4, 0.3, 0.2, 0.1};
    const double q[V] = {0.1, 0.2, 0.3, 0.4};
    float l[V];
    /* step 0 against the uniform start:
     * KL(u || p) = log 0.25 - 0.25 log(0.4·0.3·0.2·0.1) = -1.386294 + 1.508072 = 0.121777 */
    logits_of(l, p, V);
    double v = hg_exit_value(&s, l, NULL, 1, 2);
    assert_true(fabs(kl(u, p, V) - 0.121777) < 1e-6);
    if (fabs(v - 0.121777) > 1e-5) fail_msg("KL(u||p) = %.7f, expected 0.121777", v);
    assert_false(hg_exit_passes(&s, v));
    /* step 1 against step 0: KL(p || q) = 0.4 log 4 + 0.3 log 1.5 + 0.2 log(2/3) + 0.1 log(1/4)
     *                                   = 0.3 log 4 + 0.1 log 1.5 = 0.415888 + 0.040547 = 0.456435 */
    logits_of(l, q, V);
    v = hg_exit_value(&s, l, NULL, 1, 2);
    assert_true(fabs(kl(p, q, V) - 0.456435) < 1e-6);
    if (fabs(v - 0.456435) > 1e-5) fail_msg("KL(p||q) = %.7f, expected 0.456435", v);
    /* (this pair is symmetric, KL(q || p) is the same: the direction is checked below) */
    /* step 2: same distribution again -> 0, passes */
    logits_of(l, q, V);
    v = hg_exit_value(&s, l, NULL, 1, 2);
    assert_true(fabs(v) < 1e-6);
    assert_true(hg_exit_passes(&s, v));
    /* direction: previous a = (0.7, 0.1, 0.1, 0.1), current b = (0.25,...):
     * KL(a || b) = 0.7 log 2.8 + 0.3 log 0.4 = 0.720734 - 0.274887 = 0.445846
     * (KL(b || a) would be 0.25 log(0.25/0.7) + 0.75 log 2.5 = 0.429813) */
    hg_exit_begin(&s, HG_CRIT_KL, 0.5, x0, 1, 2);
    const double a[V] = {0.7, 0.1, 0.1, 0.1};
    logits_of(l, a, V);
    hg_exit_value(&s, l, NULL, 1, 2);
    logits_of(l, u, V);
    v = hg_exit_value(&s, l, NULL, 1, 2);
    assert_true(fabs(kl(a, u, V) - 0.445846) < 1e-6);
    if (fabs(v - 0.445846) > 1e-5) fail_msg("KL(a||u) = %.7f, expected 0.445846", v);
    /* explicit threshold 0.5: 0.445846 < 0.5 passes; 0.5 itself would not */
    assert_true(hg_exit_passes(&s, v));
    assert_false(hg_exit_passes(&s, 0.5));
    /* a fresh begin resets "previous" to uniform: the uniform itself gives 0 */
    hg_exit_begin(&s, HG_CRIT_KL, NAN, x0, 1, 2);
    v = hg_exit_value(&s, l, NULL, 1, 2);
    assert_true(fabs(v) < 1e-6);
    hg_exit_free(&s);
}

static void test_minp_kl(void **state)
{
    (void)state;
    enum { V = 5 };
    hg_exit_state s;
    assert_int_equal(hg_exit_alloc(&s, V, 1), HG_OK);
    float x0[1] = {0};
    hg_exit_begin(&s, HG_CRIT_MINP_KL, NAN, x0, 1, 1);
    assert_true(fabs(s.threshold - 1e-5) < 1e-18);
    /* p = (0.5, 0.3, 0.15, 0.04, 0.01); 0.1·max = 0.05: 0.04 and 0.01 are set to
     * 1/V = 0.2: (0.5, 0.3, 0.15, 0.2, 0.2), sum 1.35 ->
     * m = (0.370370, 0.222222, 0.111111, 0.148148, 0.148148).
     * KL(u || m) = sum 0.2 (log 0.2 - log m) = log 0.2 - 0.2 log(prod m)
     *            = -1.609438 - 0.2·log(0.0009 / 1.35^5) = -1.609438 + 1.702728 = 0.093290 */
    const double p[V] = {0.5, 0.3, 0.15, 0.04, 0.01};
    const double m[V] = {0.5 / 1.35, 0.3 / 1.35, 0.15 / 1.35, 0.2 / 1.35, 0.2 / 1.35};
    const double u[V] = {0.2, 0.2, 0.2, 0.2, 0.2};
    float l[V];
    logits_of(l, p, V);
    double v = hg_exit_value(&s, l, NULL, 1, 1);
    double want = kl(u, m, V);
    assert_true(fabs(want - 0.093290) < 2e-6);
    if (fabs(v - want) > 1e-5) fail_msg("minp-kl = %.7f, expected %.7f", v, want);
    /* without the masking it would be KL(u || p) = 0.714219, clearly different */
    assert_true(fabs(v - kl(u, p, V)) > 0.1);
    /* next step: tokens 3 and 4 move (0.04 -> 0.02, 0.01 -> 0.03) but stay below
     * the cut: the masked distribution is unchanged -> 0 and passes */
    const double p2[V] = {0.5, 0.3, 0.15, 0.02, 0.03};
    logits_of(l, p2, V);
    v = hg_exit_value(&s, l, NULL, 1, 1);
    assert_true(fabs(v) < 1e-6);
    assert_true(hg_exit_passes(&s, v));
    /* plain kl would see that change */
    hg_exit_state k;
    assert_int_equal(hg_exit_alloc(&k, V, 1), HG_OK);
    hg_exit_begin(&k, HG_CRIT_KL, NAN, x0, 1, 1);
    logits_of(l, p, V);
    hg_exit_value(&k, l, NULL, 1, 1);
    logits_of(l, p2, V);
    assert_true(hg_exit_value(&k, l, NULL, 1, 1) > 1e-3);
    hg_exit_free(&k);
    hg_exit_free(&s);
}

static void test_entropy_diff(void **state)
{
    (void)state;
    enum { V = 3 };
    hg_exit_state s;
    assert_int_equal(hg_exit_alloc(&s, V, 1), HG_OK);
    float x0[1] = {0};
    hg_exit_begin(&s, HG_CRIT_ENTROPY_DIFF, NAN, x0, 1, 1);
    assert_true(fabs(s.threshold - 1e-3) < 1e-15);
    /* p = (0.5, 0.25, 0.25): H = 0.5 log 2 + 0.5 log 4 = 1.5 log 2 = 1.039721;
     * first value |H - 100| = 98.960279 */
    const double p[V] = {0.5, 0.25, 0.25};
    float l[V];
    logits_of(l, p, V);
    double v = hg_exit_value(&s, l, NULL, 1, 1);
    if (fabs(v - 98.960279) > 1e-5) fail_msg("first entropy-diff %.7f, expected 98.960279", v);
    assert_false(hg_exit_passes(&s, v));
    /* same distribution: 0, passes (< 1e-3) */
    v = hg_exit_value(&s, l, NULL, 1, 1);
    assert_true(v < 1e-6);
    assert_true(hg_exit_passes(&s, v));
    /* uniform: H = log 3 = 1.098612; |1.098612 - 1.039721| = 0.058892 */
    const double u[V] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
    logits_of(l, u, V);
    v = hg_exit_value(&s, l, NULL, 1, 1);
    if (fabs(v - 0.058892) > 1e-5) fail_msg("entropy-diff %.7f, expected 0.058892", v);
    assert_false(hg_exit_passes(&s, v));
    /* the value is an absolute difference: going back to p gives the same 0.058892 */
    logits_of(l, p, V);
    v = hg_exit_value(&s, l, NULL, 1, 1);
    assert_true(fabs(v - 0.058892) < 1e-5);
    hg_exit_free(&s);
}

static void test_argmax_stability(void **state)
{
    (void)state;
    enum { V = 3 };
    hg_exit_state s;
    assert_int_equal(hg_exit_alloc(&s, V, 1), HG_OK);
    float x0[1] = {0};
    hg_exit_begin(&s, HG_CRIT_ARGMAX_STABILITY, 2, x0, 1, 1);
    assert_true(hg_criterion_exits_above(HG_CRIT_ARGMAX_STABILITY));
    /* argmax sequence 0, 1, 1, 1, 2, 2: previous starts at -1 with count 0, so
     * the counts are 0, 0, 1, 2, 0, 1; with threshold 2 (>=) only the 4th passes */
    const int am[6] = {0, 1, 1, 1, 2, 2};
    const int want[6] = {0, 0, 1, 2, 0, 1};
    const int pass[6] = {0, 0, 0, 1, 0, 0};
    for (int k = 0; k < 6; k++) {
        float l[V] = {0.1f, 0.2f, 0.3f};
        l[am[k]] = 5.0f;
        double v = hg_exit_value(&s, l, NULL, 1, 1);
        if (v != want[k]) fail_msg("step %d: count %g, expected %d", k, v, want[k]);
        assert_int_equal(hg_exit_passes(&s, v), pass[k]);
    }
    /* ties resolve to the lowest index (no spurious change) */
    hg_exit_begin(&s, HG_CRIT_ARGMAX_STABILITY, NAN, x0, 1, 1);
    assert_true(s.threshold == 5);
    for (int k = 0; k < 6; k++) {
        float l[V] = {1.0f, 1.0f, 1.0f};
        double v = hg_exit_value(&s, l, NULL, 1, 1);
        assert_true(v == k);
        assert_int_equal(hg_exit_passes(&s, v), k >= 5);
    }
    hg_exit_free(&s);
}

static void test_latent_diff(void **state)
{
    (void)state;
    hg_exit_state s;
    assert_int_equal(hg_exit_alloc(&s, 4, 4), HG_OK);
    /* T = 2 rows of E = 2.  x0 = [1,0],[0,1]; x1 = [1,1],[0,2]:
     * row 0: |[0,1]| / |[1,1]| = 1/sqrt 2 = 0.707107; row 1: |[0,1]| / |[0,2]| = 0.5;
     * mean 0.603553 */
    const float x0[4] = {1, 0, 0, 1}, x1[4] = {1, 1, 0, 2};
    hg_exit_begin(&s, HG_CRIT_LATENT_DIFF, NAN, x0, 2, 2);
    assert_true(fabs(s.threshold - 0.03) < 1e-15);
    double v = hg_exit_value(&s, NULL, x1, 2, 2);
    if (fabs(v - 0.603553) > 1e-6) fail_msg("latent-diff %.7f, expected 0.603553", v);
    assert_false(hg_exit_passes(&s, v));
    /* x2 = [1.01, 1], [0, 2]: row 0 |[0.01, 0]| / |[1.01, 1]| = 0.01 / 1.421302 = 0.0070358;
     * row 1: 0; mean 0.0035179 -> passes (< 0.03) */
    const float x2[4] = {1.01f, 1, 0, 2};
    v = hg_exit_value(&s, NULL, x2, 2, 2);
    double want = (0.01 / sqrt(1.01 * 1.01 + 1)) / 2;
    assert_true(fabs(want - 0.0035179) < 1e-6);
    if (fabs(v - want) > 1e-6) fail_msg("latent-diff %.7f, expected %.7f", v, want);
    assert_true(hg_exit_passes(&s, v));
    /* a single row (the decode case): x0 = [3, 4], x1 = [0, 4]: |[-3, 0]| / 4 = 0.75 */
    const float y0[2] = {3, 4}, y1[2] = {0, 4};
    hg_exit_begin(&s, HG_CRIT_LATENT_DIFF, NAN, y0, 1, 2);
    v = hg_exit_value(&s, NULL, y1, 1, 2);
    assert_true(fabs(v - 0.75) < 1e-9);
    hg_exit_free(&s);
}

static void test_cosine(void **state)
{
    (void)state;
    hg_exit_state s;
    assert_int_equal(hg_exit_alloc(&s, 4, 4), HG_OK);
    /* x0 = [1,0],[0,1]; x1 = [1,1],[0,2]: cos row 0 = 1/sqrt 2, row 1 = 1;
     * mean 0.853553; value 1 - 0.853553 = 0.146447 */
    const float x0[4] = {1, 0, 0, 1}, x1[4] = {1, 1, 0, 2};
    hg_exit_begin(&s, HG_CRIT_COSINE, NAN, x0, 2, 2);
    assert_true(fabs(s.threshold - 1e-3) < 1e-15);
    double v = hg_exit_value(&s, NULL, x1, 2, 2);
    if (fabs(v - 0.146447) > 1e-6) fail_msg("cosine %.7f, expected 0.146447", v);
    assert_false(hg_exit_passes(&s, v));
    /* x2 = 3·x1: same direction -> 1 - 1 = 0, passes although the norm changed */
    const float x2[4] = {3, 3, 0, 6};
    v = hg_exit_value(&s, NULL, x2, 2, 2);
    assert_true(fabs(v) < 1e-9);
    assert_true(hg_exit_passes(&s, v));
    /* opposite direction: 1 - (-1) = 2 */
    const float x3[4] = {-3, -3, 0, -6};
    v = hg_exit_value(&s, NULL, x3, 2, 2);
    assert_true(fabs(v - 2) < 1e-9);
    /* zero previous state (s0 = 0 with init_scale 0): NaN, and NaN never passes */
    const float z[4] = {0, 0, 0, 0};
    hg_exit_begin(&s, HG_CRIT_COSINE, NAN, z, 2, 2);
    v = hg_exit_value(&s, NULL, x1, 2, 2);
    assert_true(isnan(v));
    assert_false(hg_exit_passes(&s, v));
    /* ... but the next step compares with x1 and works again */
    v = hg_exit_value(&s, NULL, x2, 2, 2);
    assert_true(fabs(v) < 1e-9);
    /* NaN never passes for the other criteria either */
    hg_exit_begin(&s, HG_CRIT_LATENT_DIFF, NAN, z, 2, 2);
    assert_false(hg_exit_passes(&s, NAN));
    hg_exit_begin(&s, HG_CRIT_ARGMAX_STABILITY, NAN, z, 2, 2);
    assert_false(hg_exit_passes(&s, NAN));
    hg_exit_free(&s);
}

static void test_none_never_passes(void **state)
{
    (void)state;
    hg_exit_state s;
    assert_int_equal(hg_exit_alloc(&s, 2, 2), HG_OK);
    const float x0[2] = {1, 1};
    hg_exit_begin(&s, HG_CRIT_NONE, NAN, x0, 1, 2);
    assert_false(hg_exit_passes(&s, 0.0));
    assert_false(hg_exit_passes(&s, -1e30));
    assert_false(hg_exit_passes(&s, 1e30));
    hg_exit_begin(&s, HG_CRIT_OFF, NAN, x0, 1, 2);
    assert_false(hg_exit_passes(&s, 0.0));
    hg_exit_free(&s);
    /* which criteria need logits */
    assert_true(hg_exit_needs_logits(HG_CRIT_KL));
    assert_true(hg_exit_needs_logits(HG_CRIT_MINP_KL));
    assert_true(hg_exit_needs_logits(HG_CRIT_ENTROPY_DIFF));
    assert_true(hg_exit_needs_logits(HG_CRIT_ARGMAX_STABILITY));
    assert_false(hg_exit_needs_logits(HG_CRIT_LATENT_DIFF));
    assert_false(hg_exit_needs_logits(HG_CRIT_COSINE));
    assert_false(hg_exit_needs_logits(HG_CRIT_NONE));
}

static void test_defaults(void **state)
{
    (void)state;
    /* HUGINN.md §5 table */
    assert_true(hg_criterion_default_threshold(HG_CRIT_ENTROPY_DIFF) == 1e-3);
    assert_true(hg_criterion_default_threshold(HG_CRIT_LATENT_DIFF) == 0.03);
    assert_true(hg_criterion_default_threshold(HG_CRIT_KL) == 1e-3);
    assert_true(hg_criterion_default_threshold(HG_CRIT_MINP_KL) == 1e-5);
    assert_true(hg_criterion_default_threshold(HG_CRIT_ARGMAX_STABILITY) == 5);
    assert_true(hg_criterion_default_threshold(HG_CRIT_COSINE) == 1e-3);
    assert_true(isnan(hg_criterion_default_threshold(HG_CRIT_NONE)));
    assert_true(isnan(hg_criterion_default_threshold(HG_CRIT_OFF)));
    for (int c = 0; c < HG_CRIT_COUNT; c++)
        assert_int_equal(hg_criterion_exits_above((hg_criterion)c), c == HG_CRIT_ARGMAX_STABILITY);
}

static void test_names(void **state)
{
    (void)state;
    const char *names[] = {"off", "none", "entropy-diff", "latent-diff", "kl", "minp-kl", "argmax-stability", "cosine"};
    const hg_criterion ids[] = {HG_CRIT_OFF, HG_CRIT_NONE, HG_CRIT_ENTROPY_DIFF, HG_CRIT_LATENT_DIFF,
                                HG_CRIT_KL, HG_CRIT_MINP_KL, HG_CRIT_ARGMAX_STABILITY, HG_CRIT_COSINE};
    assert_int_equal(sizeof names / sizeof names[0], HG_CRIT_COUNT);
    for (int i = 0; i < HG_CRIT_COUNT; i++) {
        hg_criterion c = HG_CRIT_COUNT;
        assert_int_equal(hg_criterion_parse(names[i], &c), HG_OK);
        assert_int_equal(c, ids[i]);
        assert_string_equal(hg_criterion_name(ids[i]), names[i]);
        /* round trip from the enum */
        assert_int_equal(hg_criterion_parse(hg_criterion_name((hg_criterion)i), &c), HG_OK);
        assert_int_equal(c, i);
    }
    const char *bad[] = {"", "KL", "entropy", "argmax", "kl ", "min-p-kl", "?", "auto"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hg_criterion c = HG_CRIT_KL;
        if (hg_criterion_parse(bad[i], &c) != HG_E_ARG) fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(c, HG_CRIT_KL); /* untouched */
    }
    hg_criterion c;
    assert_int_equal(hg_criterion_parse(NULL, &c), HG_E_ARG);
    assert_string_equal(hg_criterion_name(HG_CRIT_COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kl),
        cmocka_unit_test(test_minp_kl),
        cmocka_unit_test(test_entropy_diff),
        cmocka_unit_test(test_argmax_stability),
        cmocka_unit_test(test_latent_diff),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_none_never_passes),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("exitcrit", tests, NULL, NULL);
}
