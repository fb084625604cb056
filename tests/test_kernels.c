/* test_kernels.c — every SIMD kernel variant against the plain C reference,
 * the weight conversions, and the thread pool.
 * Tolerances: products accumulate in f32 in a different order, so a variant
 * may differ from the reference by a few ulps of the sum of |w·x| terms:
 * |y - y_ref| <= 1e-5 * sum_k |w_k x_k| + 1e-6.  q8_0 variants that quantize
 * x per block of 32 (VNNI) may also differ by the rounding of x:
 * sum_k |w_k| * scale_x(block of k) / 2. */
#include "testutil.h"
#include "huginn.h"
#include "kernels.h"
#include "amx.h"
#include "pool.h"

#include <math.h>
#include <stdatomic.h>

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((float)((*s >> 8) & 0xffff) / 32768.0f) - 1.0f;
}

/* max |x| over a block of 32 (a loop of fmax() crashes gcc 12's aarch64
 * vectorizer: internal compiler error in vect_transform_reduction) */
static double block_amax(const float *x)
{
    double amax = 0;
    for (int i = 0; i < HG_Q8_BLOCK; i++)
        if (fabs(x[i]) > amax) amax = fabs(x[i]);
    return amax;
}

/* Build a matrix of the given type from random f32 values; returns the f32 source. */
static float *make_mat(hg_mat *m, hg_mat_type ty, int rows, int cols, unsigned seed, void **data, float **scales)
{
    float *src = malloc(sizeof(float) * (size_t)rows * cols);
    for (size_t i = 0; i < (size_t)rows * cols; i++) src[i] = frand(&seed);
    m->type = ty;
    m->rows = rows;
    m->cols = cols;
    m->scales = NULL;
    *scales = NULL;
    if (ty == HG_MAT_F32) {
        *data = malloc(sizeof(float) * (size_t)rows * cols);
        memcpy(*data, src, sizeof(float) * (size_t)rows * cols);
    } else if (ty == HG_MAT_BF16) {
        uint16_t *d = malloc(2 * (size_t)rows * cols);
        for (size_t i = 0; i < (size_t)rows * cols; i++) d[i] = hg_f32_to_bf16(src[i]);
        *data = d;
    } else {
        int8_t *d = malloc((size_t)rows * cols);
        float *sc = malloc(sizeof(float) * (size_t)rows * (cols / HG_Q8_BLOCK));
        for (int r = 0; r < rows; r++)
            hg_quantize_q8_0_row(d + (size_t)r * cols, sc + (size_t)r * (cols / HG_Q8_BLOCK), src + (size_t)r * cols, cols);
        *data = d;
        *scales = sc;
        m->scales = sc;
    }
    m->data = *data;
    return src;
}

static void check_variants(hg_mat_type ty, int rows, int cols)
{
    hg_mat m;
    void *data;
    float *scales;
    float *src = make_mat(&m, ty, rows, cols, 7u + (unsigned)cols, &data, &scales);
    float *x = malloc(sizeof(float) * cols), *yref = malloc(sizeof(float) * rows), *y = malloc(sizeof(float) * rows);
    float *wrow = malloc(sizeof(float) * cols);
    unsigned s = 99;
    for (int k = 0; k < cols; k++) x[k] = frand(&s);
    const hg_kernel_variant *ref = hg_kernel_variant_at(0);
    assert_string_equal(ref->name, "generic");
    ref->rows[ty](yref, &m, x, 0, rows);
    /* the reference itself against a double-precision sum of the dequantized rows */
    for (int r = 0; r < rows; r++) {
        hg_mat_row(&m, r, wrow);
        double d = 0, mag = 0;
        for (int k = 0; k < cols; k++) {
            d += (double)wrow[k] * x[k];
            mag += fabs((double)wrow[k] * x[k]);
        }
        if (!(fabs(yref[r] - d) <= 1e-5 * mag + 1e-6)) fail_msg("generic type %d row %d: %g vs %g", ty, r, yref[r], d);
    }
    int tested = 0;
    for (int v = 1; v < hg_kernel_variant_count(); v++) {
        const hg_kernel_variant *kv = hg_kernel_variant_at(v);
        if (!kv->available()) continue;
        tested++;
        memset(y, 0, sizeof(float) * rows);
        kv->rows[ty](y, &m, x, 0, rows);
        for (int r = 0; r < rows; r++) {
            hg_mat_row(&m, r, wrow);
            double mag = 0, xq = 0;
            for (int k = 0; k < cols; k++) mag += fabs((double)wrow[k] * x[k]);
            if (ty == HG_MAT_Q8_0)
                for (int b = 0; b < cols / HG_Q8_BLOCK; b++) {
                    double amax = block_amax(x + b * HG_Q8_BLOCK);
                    for (int i = 0; i < HG_Q8_BLOCK; i++) xq += fabs(wrow[b * HG_Q8_BLOCK + i]) * amax / 127 / 2 * 1.01;
                }
            if (!(fabs(y[r] - yref[r]) <= 1e-5 * mag + 1e-6 + xq))
                fail_msg("%s type %d %dx%d row %d: %.9g vs reference %.9g", kv->name, ty, rows, cols, r, y[r], yref[r]);
        }
        /* a sub-range leaves the other rows alone */
        for (int r = 0; r < rows; r++) y[r] = -12345.0f;
        kv->rows[ty](y, &m, x, 1, rows - 1);
        assert_true(y[0] == -12345.0f && y[rows - 1] == -12345.0f);
    }
    print_message("type %d %dx%d: %d SIMD variant(s) checked against the reference\n", ty, rows, cols, tested);
    free(src);
    free(data);
    free(scales);
    free(x);
    free(y);
    free(yref);
    free(wrow);
}

static void test_f32_variants(void **state)
{
    (void)state;
    check_variants(HG_MAT_F32, 37, 64);
    check_variants(HG_MAT_F32, 19, 5280 / 8 + 3); /* a tail that is no multiple of 16 */
    check_variants(HG_MAT_F32, 5, 7);
}

static void test_bf16_variants(void **state)
{
    (void)state;
    check_variants(HG_MAT_BF16, 37, 64);
    check_variants(HG_MAT_BF16, 19, 200 + 5);
}

static void test_q8_variants(void **state)
{
    (void)state;
    check_variants(HG_MAT_Q8_0, 37, 64);
    check_variants(HG_MAT_Q8_0, 23, 32 * 11);
    check_variants(HG_MAT_Q8_0, 21, 64 * 9);
    check_variants(HG_MAT_Q8_0, 19, 5280 / 4); /* 1320 = 20.5 blocks of 64: a last half */
}

/* dot and axpy of every variant against the reference, every length 0..100 */
static void test_dot_axpy(void **state)
{
    (void)state;
    float a[100], b[100], y0[100], y1[100];
    unsigned s = 17;
    for (int i = 0; i < 100; i++) {
        a[i] = frand(&s);
        b[i] = frand(&s);
    }
    const hg_kernel_variant *ref = hg_kernel_variant_at(0);
    for (int v = 1; v < hg_kernel_variant_count(); v++) {
        const hg_kernel_variant *kv = hg_kernel_variant_at(v);
        if (!kv->available()) continue;
        for (int n = 0; n <= 100; n++) {
            double mag = 0;
            for (int i = 0; i < n; i++) mag += fabs((double)a[i] * b[i]);
            float d0 = ref->dot(a, b, n), d1 = kv->dot(a, b, n);
            if (!(fabs(d0 - d1) <= 1e-5 * mag + 1e-7)) fail_msg("%s dot n=%d: %g vs %g", kv->name, n, d1, d0);
            memcpy(y0, b, sizeof b);
            memcpy(y1, b, sizeof b);
            ref->axpy(y0, 0.37f, a, n);
            kv->axpy(y1, 0.37f, a, n);
            for (int i = 0; i < 100; i++)
                if (!(fabsf(y0[i] - y1[i]) <= 1e-6f)) fail_msg("%s axpy n=%d at %d", kv->name, n, i);
        }
    }
}

/* swiglu (vector exp) and rmsnorm of every variant against the reference:
 * within 4 ulp-ish (3e-6 relative), over a range of inputs including the
 * saturating ends of the exponential. */
static void test_swiglu_rmsnorm(void **state)
{
    (void)state;
    enum { N = 203 };
    float g[N], u[N], w[N], a0[N], a1[N];
    unsigned s = 23;
    for (int i = 0; i < N; i++) {
        g[i] = frand(&s) * 20.0f;
        u[i] = frand(&s);
        w[i] = 1.0f + frand(&s);
    }
    g[0] = -100.0f;
    g[1] = 100.0f;
    g[2] = 0.0f;
    const hg_kernel_variant *ref = hg_kernel_variant_at(0);
    for (int v = 1; v < hg_kernel_variant_count(); v++) {
        const hg_kernel_variant *kv = hg_kernel_variant_at(v);
        if (!kv->available()) continue;
        ref->swiglu(a0, g, u, N);
        kv->swiglu(a1, g, u, N);
        for (int i = 0; i < N; i++)
            if (!(fabsf(a1[i] - a0[i]) <= 3e-6f * fabsf(a0[i]) + 1e-30f))
                fail_msg("%s swiglu(%g): %.9g vs %.9g", kv->name, g[i], a1[i], a0[i]);
        ref->rmsnorm(a0, g, w, N, 1e-6f);
        kv->rmsnorm(a1, g, w, N, 1e-6f);
        for (int i = 0; i < N; i++)
            if (!(fabsf(a1[i] - a0[i]) <= 3e-6f * fabsf(a0[i]) + 1e-12f))
                fail_msg("%s rmsnorm %d: %.9g vs %.9g", kv->name, i, a1[i], a0[i]);
    }
}

static void test_conversions(void **state)
{
    (void)state;
    /* bf16: round to nearest even */
    assert_int_equal(hg_f32_to_bf16(1.0f), 0x3f80);
    float f;
    uint32_t u = 0x3f808000u; /* exactly halfway between 0x3f80 and 0x3f81: even wins */
    memcpy(&f, &u, 4);
    assert_int_equal(hg_f32_to_bf16(f), 0x3f80);
    u = 0x3f818000u; /* halfway, odd below: rounds up */
    memcpy(&f, &u, 4);
    assert_int_equal(hg_f32_to_bf16(f), 0x3f82);
    u = 0x3f808001u;
    memcpy(&f, &u, 4);
    assert_int_equal(hg_f32_to_bf16(f), 0x3f81);
    assert_true(isnan(hg_bf16_to_f32(hg_f32_to_bf16(NAN))));
    assert_true(hg_bf16_to_f32(hg_f32_to_bf16(-2.5f)) == -2.5f);
    /* f16: exact values, rounding to nearest even, overflow, subnormals */
    assert_int_equal(hg_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(hg_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(hg_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(hg_f32_to_f16(1e6f), 0x7c00);
    assert_int_equal(hg_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* halfway, even stays */
    assert_int_equal(hg_f32_to_f16(1.0f + 3.0f / 2048), 0x3c02); /* halfway, odd rounds up */
    assert_true(hg_f16_to_f32(0x0001) == ldexpf(1.0f, -24));      /* smallest subnormal */
    assert_int_equal(hg_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
    for (uint32_t h = 0; h < 0x7c00; h += 7) assert_int_equal(hg_f32_to_f16(hg_f16_to_f32((uint16_t)h)), h);
    assert_true(isnan(hg_f16_to_f32(hg_f32_to_f16(NAN))));
    /* q8_0: error within half a step of each block's scale */
    float x[64], sc[2];
    int8_t q[64];
    unsigned s = 5;
    for (int i = 0; i < 64; i++) x[i] = frand(&s) * (i < 32 ? 1.0f : 100.0f);
    hg_quantize_q8_0_row(q, sc, x, 64);
    for (int i = 0; i < 64; i++) assert_true(fabsf(q[i] * sc[i / 32] - x[i]) <= sc[i / 32] * 0.5f + 1e-6f);
    /* an all-zero block */
    float z[32] = {0};
    hg_quantize_q8_0_row(q, sc, z, 32);
    assert_true(sc[0] == 0 && q[0] == 0);
}

static _Atomic int hits[8];
static void count_task(void *arg, int ith, int nth)
{
    (void)arg;
    assert_true(ith >= 0 && ith < nth);
    atomic_fetch_add(&hits[ith], 1);
}

static void test_pool(void **state)
{
    (void)state;
    /* as many threads as cores, then more threads than cores */
    int sizes[] = {2, 3}, iters[] = {20000, 200};
    for (int k = 0; k < 2; k++) {
        for (int t = 0; t < 8; t++) atomic_store(&hits[t], 0);
        hg_pool *p = hg_pool_new(sizes[k]);
        assert_non_null(p);
        assert_int_equal(hg_pool_size(p), sizes[k]);
        for (int i = 0; i < iters[k]; i++) hg_pool_run(p, count_task, NULL);
        for (int t = 0; t < sizes[k]; t++) assert_int_equal(atomic_load(&hits[t]), iters[k]);
        hg_pool_free(p);
    }
}

/* hg_matmul: the threaded T == 1 path and the tiled sgemm path for bf16/q8_0
 * agree with the row reference. */
static void test_matmul_paths(void **state)
{
    (void)state;
    hg_pool *p = hg_pool_new(2);
    hg_mat_type types[] = {HG_MAT_F32, HG_MAT_BF16, HG_MAT_Q8_0};
    for (int ti = 0; ti < 3; ti++) {
        hg_mat m;
        void *data;
        float *scales;
        int rows = 77, cols = 96, T = 5;
        float *src = make_mat(&m, types[ti], rows, cols, 3, &data, &scales);
        float X[5 * 96], Y[5 * 77], Y1[77], wrow[96];
        unsigned s = 1;
        for (int i = 0; i < T * cols; i++) X[i] = frand(&s);
        float scratch[96 * 10]; /* forces several tiles */
        hg_workspace ws = {scratch, sizeof scratch / sizeof scratch[0], NULL}; /* no AMX: the sgemm path */
        hg_matmul(p, Y, X, &m, T, &ws);
        for (int t = 0; t < T; t++) {
            hg_matmul(p, Y1, X + t * cols, &m, 1, NULL);
            for (int r = 0; r < rows; r++) {
                hg_mat_row(&m, r, wrow);
                double d = 0, tol = 1e-4;
                for (int k = 0; k < cols; k++) d += (double)wrow[k] * X[t * cols + k];
                if (types[ti] == HG_MAT_Q8_0) /* kernels that quantize x (see the header comment) */
                    for (int b = 0; b < cols / HG_Q8_BLOCK; b++) {
                        double amax = block_amax(X + t * cols + b * HG_Q8_BLOCK);
                        for (int i = 0; i < HG_Q8_BLOCK; i++) tol += fabs(wrow[b * HG_Q8_BLOCK + i]) * amax / 254 * 1.01;
                    }
                assert_true(fabs(Y[t * rows + r] - d) < tol);
                assert_true(fabs(Y1[r] - d) < tol);
            }
        }
        free(src);
        free(data);
        free(scales);
    }
    hg_pool_free(p);
}

/* The AMX prefill path (bf16 tiles; x rounded to bf16, so the tolerance is
 * 2^-8 of sum |w x|), with a partial last block of rows. */
static void test_amx(void **state)
{
    (void)state;
    if (!hg_amx_available()) {
        print_message("AMX not available here: skipped\n");
        skip();
    }
    hg_pool *p = hg_pool_new(2);
    hg_mat_type types[] = {HG_MAT_BF16, HG_MAT_Q8_0};
    for (int ti = 0; ti < 2; ti++) {
        int rows = 96, cols = 160, T = 45;
        hg_mat m;
        void *data;
        float *scales;
        float *src = make_mat(&m, types[ti], rows, cols, 11, &data, &scales);
        float *X = malloc(sizeof(float) * T * cols), *Y = malloc(sizeof(float) * T * rows), wrow[160];
        unsigned s = 3;
        for (int i = 0; i < T * cols; i++) X[i] = frand(&s);
        hg_amx_ws ws = {0};
        assert_int_equal(hg_amx_matmul(p, Y, X, &m, T, &ws), 1);
        for (int t = 0; t < T; t++)
            for (int r = 0; r < rows; r++) {
                hg_mat_row(&m, r, wrow);
                double d = 0, mag = 0;
                for (int k = 0; k < cols; k++) {
                    d += (double)wrow[k] * X[t * cols + k];
                    mag += fabs((double)wrow[k] * X[t * cols + k]);
                }
                if (!(fabs(Y[t * rows + r] - d) <= mag / 256 + 1e-6))
                    fail_msg("amx type %d [%d][%d]: %g vs %g", types[ti], t, r, Y[t * rows + r], d);
            }
        /* shapes AMX cannot take are declined */
        hg_mat odd = m;
        odd.rows = 95;
        assert_int_equal(hg_amx_matmul(p, Y, X, &odd, T, &ws), 0);
        free(ws.buf);
        free(src);
        free(data);
        free(scales);
        free(X);
        free(Y);
    }
    hg_pool_free(p);
}

int main(void)
{
    hg_kernels_init();
    print_message("active kernels: %s\n", hg_kernels_name());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_variants), cmocka_unit_test(test_bf16_variants),
        cmocka_unit_test(test_q8_variants),  cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_dot_axpy),     cmocka_unit_test(test_swiglu_rmsnorm),
        cmocka_unit_test(test_pool),         cmocka_unit_test(test_matmul_paths),
        cmocka_unit_test(test_amx),
    };
    return cmocka_run_group_tests_name("kernels", tests, NULL, NULL);
}
