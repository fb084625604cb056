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

/* Build a matrix of the given type from random f32 values; returns the f32 source. */
static float *make_mat(hg_mat *m, hg_mat_type ty, int rows, int cols, unsigned seed, void **data)
{
    float *src = malloc(sizeof(float) * (size_t)rows * cols);
    for (size_t i = 0; i < (size_t)rows * cols; i++) src[i] = frand(&seed);
    m->type = ty;
    m->rows = rows;
    m->cols = cols;
    size_t rb = hg_row_bytes(ty, cols);
    *data = malloc(rb * (size_t)rows);
    for (int r = 0; r < rows; r++) hg_types[ty].from_f32((char *)*data + rb * r, src + (size_t)r * cols, cols);
    m->data = *data;
    return src;
}

/* x of T rows in the type's x format (quantized where the kernels take it so). */
static void *prep_x(hg_mat_type ty, const float *x, int T, int K)
{
    hg_x_format xf = hg_types[ty].x_format;
    size_t xb = hg_x_bytes(xf, K);
    char *out = malloc(xb * (size_t)T);
    for (int t = 0; t < T; t++) {
        if (xf == HG_X_Q8) hg_quantize_xq8((hg_block_xq8 *)(out + xb * t), x + (size_t)t * K, K);
        else memcpy(out + xb * t, x + (size_t)t * K, sizeof(float) * K);
    }
    return out;
}

/* The error that quantizing x per block of 32 may add to W·x: half a step of
 * x's block scale times sum |w| over the block. */
static double xq_err(hg_mat_type ty, const float *wrow, const float *x, int K)
{
    if (hg_types[ty].x_format != HG_X_Q8) return 0;
    double e = 0;
    for (int b = 0; b < K / HG_QK; b++) {
        double amax = 0;
        for (int i = 0; i < HG_QK; i++) /* not fmax(): gcc 12 for aarch64 crashes vectorizing it (ICE) */
            if (fabs(x[b * HG_QK + i]) > amax) amax = fabs(x[b * HG_QK + i]);
        for (int i = 0; i < HG_QK; i++) e += fabs(wrow[b * HG_QK + i]) * amax / 127 / 2 * 1.01;
    }
    return e;
}

static void check_variants(hg_mat_type ty, int rows, int cols)
{
    enum { TMAX = HG_SMALL_BATCH };
    hg_mat m;
    void *data;
    float *src = make_mat(&m, ty, rows, cols, 7u + (unsigned)cols, &data);
    float *x = malloc(sizeof(float) * cols * TMAX), *yref = malloc(sizeof(float) * rows * TMAX),
          *y = malloc(sizeof(float) * rows * TMAX);
    float *wrow = malloc(sizeof(float) * cols);
    unsigned s = 99;
    for (int k = 0; k < cols * TMAX; k++) x[k] = frand(&s);
    void *xp = prep_x(ty, x, TMAX, cols);
    size_t xb = hg_x_bytes(hg_types[ty].x_format, cols);
    const hg_kernel_variant *ref = hg_kernel_variant_at(0);
    assert_string_equal(ref->name, "generic");
    for (int t = 0; t < TMAX; t++) ref->rows[ty](yref + (size_t)t * rows, &m, (char *)xp + xb * t, 0, rows);
    /* the reference itself against a double-precision sum of the dequantized rows */
    for (int t = 0; t < TMAX; t++)
        for (int r = 0; r < rows; r++) {
            hg_mat_row(&m, r, wrow);
            double d = 0, mag = 0;
            const float *xt = x + (size_t)t * cols;
            for (int k = 0; k < cols; k++) {
                d += (double)wrow[k] * xt[k];
                mag += fabs((double)wrow[k] * xt[k]);
            }
            if (!(fabs(yref[t * rows + r] - d) <= 1e-5 * mag + 1e-6 + xq_err(ty, wrow, xt, cols)))
                fail_msg("generic type %d row %d: %g vs %g", ty, r, yref[t * rows + r], d);
        }
    int tested = 0, tested_n = 0;
    for (int v = 0; v < hg_kernel_variant_count(); v++) {
        const hg_kernel_variant *kv = hg_kernel_variant_at(v);
        if (!kv->available()) continue;
        hg_rows_fn fn = hg_variant_rows(kv, ty);
        tested += v > 0;
        /* every variant computes what the generic one does (x prepared alike), up to the order of f32 sums */
        for (int t = 0; t < TMAX; t++) {
            memset(y, 0, sizeof(float) * rows);
            fn(y, &m, (char *)xp + xb * t, 0, rows);
            for (int r = 0; r < rows; r++) {
                hg_mat_row(&m, r, wrow);
                double mag = 0;
                for (int k = 0; k < cols; k++) mag += fabs((double)wrow[k] * x[(size_t)t * cols + k]);
                if (!(fabs(y[r] - yref[t * rows + r]) <= 1e-5 * mag + 1e-6))
                    fail_msg("%s type %d %dx%d input %d row %d: %.9g vs reference %.9g", kv->name, ty, rows, cols, t,
                             r, y[r], yref[t * rows + r]);
            }
        }
        /* a sub-range leaves the other rows alone */
        for (int r = 0; r < rows; r++) y[r] = -12345.0f;
        fn(y, &m, xp, 1, rows - 1);
        assert_true(y[0] == -12345.0f && y[rows - 1] == -12345.0f);
        /* the batch kernel: every T up to the limit equals the one-input kernel */
        if (!kv->rows_n[ty]) continue;
        tested_n++;
        for (int T = 1; T <= TMAX; T++) {
            for (int i = 0; i < rows * TMAX; i++) y[i] = -12345.0f;
            kv->rows_n[ty](y, &m, xp, T, 1, rows - 1);
            for (int t = 0; t < TMAX; t++)
                for (int r = 0; r < rows; r++) {
                    float got = y[t * rows + r], want = yref[t * rows + r];
                    if (t >= T || r == 0 || r == rows - 1) {
                        if (got != -12345.0f) fail_msg("%s rows_n type %d T=%d wrote [%d][%d]", kv->name, ty, T, t, r);
                        continue;
                    }
                    hg_mat_row(&m, r, wrow);
                    double mag = 0;
                    for (int k = 0; k < cols; k++) mag += fabs((double)wrow[k] * x[(size_t)t * cols + k]);
                    if (!(fabs(got - want) <= 1e-5 * mag + 1e-6))
                        fail_msg("%s rows_n type %d T=%d [%d][%d]: %.9g vs %.9g", kv->name, ty, T, t, r, got, want);
                }
        }
    }
    print_message("%s %dx%d: %d SIMD variant(s), %d batch kernel(s) checked against the reference\n",
                  hg_types[ty].name, rows, cols, tested, tested_n);
    free(src);
    free(data);
    free(xp);
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
    check_variants(HG_MAT_Q8_0, 23, 32 * 11); /* an odd number of blocks */
    check_variants(HG_MAT_Q8_0, 21, 64 * 9);
    check_variants(HG_MAT_Q8_0, 19, 5280);    /* the real width: 165 blocks */
}

static void test_q4_variants(void **state)
{
    (void)state;
    check_variants(HG_MAT_Q4, 37, 64);
    check_variants(HG_MAT_Q4, 23, 32 * 11); /* an odd number of blocks (the AVX-512 tail) */
    check_variants(HG_MAT_Q4, 21, 64 * 9);
    check_variants(HG_MAT_Q4, 19, 5280);    /* the real width: 165 blocks */
    check_variants(HG_MAT_Q4, 3, 32);       /* one block */
    check_variants(HG_MAT_Q4, 5, 32 * 23);  /* groups of 8 and 16 blocks and a tail of 7 */
    check_variants(HG_MAT_Q4, 4, 32 * 31);  /* a tail of 15 */
    check_variants(HG_MAT_Q4, 3, 32 * 1100); /* x in more than one pass of 1024 blocks */
}

/* q4 rows with every scale the format can hold (zero, subnormal and normal
 * f16 scales, all zero points) and random nibbles: each variant against the
 * generic kernel, which computes the same integer sums and scales. */
static void test_q4_scales(void **state)
{
    (void)state;
    enum { ROWS = 7, NB = 16 * 3 + 9, K = NB * HG_QK };
    hg_block_q4 *w = malloc(sizeof(hg_block_q4) * ROWS * NB);
    unsigned s = 5;
    for (int i = 0; i < ROWS * NB; i++) {
        s = s * 1103515245u + 12345u;
        unsigned bits = (s >> 9) % 0xf80; /* exponent 0..30: every finite f16 scale */
        if (i % 13 == 0) bits = 0;
        if (i % 11 == 0) bits = (s >> 3) & 0x7f; /* subnormal */
        w[i].dz = (uint16_t)(((s >> 20) & 15) << 12 | bits);
        for (int j = 0; j < HG_QK / 2; j++) {
            s = s * 1103515245u + 12345u;
            w[i].qs[j] = (uint8_t)(s >> 16);
        }
    }
    hg_mat m = {HG_MAT_Q4, ROWS, K, w};
    float x[K], yref[ROWS], y[ROWS], wrow[K];
    for (int k = 0; k < K; k++) x[k] = frand(&s) * (k % 5 == 0 ? 100.0f : 1.0f);
    hg_block_xq8 xq[NB];
    hg_quantize_xq8(xq, x, K);
    hg_kernel_variant_at(0)->rows[HG_MAT_Q4](yref, &m, xq, 0, ROWS);
    int tested = 0;
    for (int v = 1; v < hg_kernel_variant_count(); v++) {
        const hg_kernel_variant *kv = hg_kernel_variant_at(v);
        if (!kv->available()) continue;
        tested++;
        hg_variant_rows(kv, HG_MAT_Q4)(y, &m, xq, 0, ROWS);
        for (int r = 0; r < ROWS; r++) {
            hg_mat_row(&m, r, wrow);
            double mag = 0;
            for (int b = 0; b < NB; b++)
                for (int i = 0; i < HG_QK; i++) /* |d q dx qx| and |d z sx| */
                    mag += fabs((double)wrow[b * HG_QK + i] * x[b * HG_QK + i]) +
                           2 * hg_q4_d(w[r * NB + b].dz) * 15 * fabs((double)x[b * HG_QK + i]);
            if (!(fabs(y[r] - yref[r]) <= 1e-5 * mag + 1e-30))
                fail_msg("%s q4 row %d: %.9g vs reference %.9g", kv->name, r, y[r], yref[r]);
        }
    }
    print_message("q4 scales: %d SIMD variant(s) checked\n", tested);
    /* the encoder's largest scale is finite: values beyond the f16 range clip */
    float big[32], back[32];
    for (int i = 0; i < 32; i++) big[i] = (i & 1 ? 1 : -1) * 1e9f;
    hg_types[HG_MAT_Q4].from_f32(w, big, 32);
    hg_types[HG_MAT_Q4].to_f32(w, back, 32);
    for (int i = 0; i < 32; i++) assert_true(isfinite(back[i]));
    free(w);
}

/* Squared error of a block quantized plainly: scale (max - min) / 15 over
 * [min(x, 0), max(x, 0)], the zero point rounded. */
static double q4_plain_sse(const float *x)
{
    float mn = 0, mx = 0;
    for (int i = 0; i < 32; i++) mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
    double d = (mx - mn) / 15.0, e = 0;
    if (d == 0) return 0;
    double z = round(-mn / d);
    for (int i = 0; i < 32; i++) {
        double q = fmin(15, fmax(0, round(x[i] / d) + z));
        e += (x[i] - d * (q - z)) * (x[i] - d * (q - z));
    }
    return e;
}

/* q4: the block layout, the 12-bit scale, exact grids, all-zero and
 * one-signed blocks, and an error no worse than plain min/max rounding. */
static void test_q4_format(void **state)
{
    (void)state;
    assert_int_equal(sizeof(hg_block_q4), 18);
    assert_int_equal(hg_row_bytes(HG_MAT_Q4, 5280), 5280 / 32 * 18);
    assert_true(hg_types[HG_MAT_Q4].block_bytes * 8.0 / hg_types[HG_MAT_Q4].block <= 4.5);
    /* d: bits 3..14 of an f16 times 2^-8, z in the top 4 bits */
    assert_true(hg_q4_d(0x3c00 >> 3) == 1.0f / 256);
    assert_true(hg_q4_d((uint16_t)(0xf000 | (0x5800 >> 3))) == 0.5f); /* f16 0x5800 = 128 */
    assert_true(hg_q4_d(0x0400 >> 3) == ldexpf(1.0f, -22));             /* the smallest normal */
    assert_int_equal(hg_q4_z(0xf000), 15);
    float x[32], back[32];
    hg_block_q4 q[8];
    /* a block on an exact grid: d 0.5, z 3 reconstructs exactly; nibble order */
    for (int i = 0; i < 32; i++) x[i] = 0.5f * (float)((i * 7) % 16 - 3);
    hg_types[HG_MAT_Q4].from_f32(q, x, 32);
    hg_types[HG_MAT_Q4].to_f32(q, back, 32);
    for (int i = 0; i < 32; i++) assert_true(back[i] == x[i]);
    assert_int_equal(hg_q4_z(q[0].dz), 3);
    assert_true(hg_q4_d(q[0].dz) == 0.5f);
    assert_int_equal(q[0].qs[1] & 15, 7);              /* value 1: 7 - 3 + 3 */
    assert_int_equal(q[0].qs[1] >> 4, (17 * 7) % 16);  /* value 17 in the high nibble */
    /* all zero; all positive (z 0); all negative (z 15) */
    memset(x, 0, sizeof x);
    hg_types[HG_MAT_Q4].from_f32(q, x, 32);
    hg_types[HG_MAT_Q4].to_f32(q, back, 32);
    for (int i = 0; i < 32; i++) assert_true(back[i] == 0);
    unsigned s = 77;
    for (int sign = -1; sign <= 1; sign += 2) {
        for (int i = 0; i < 32; i++) x[i] = sign * (0.1f + fabsf(frand(&s)));
        hg_types[HG_MAT_Q4].from_f32(q, x, 32);
        assert_int_equal(hg_q4_z(q[0].dz), sign > 0 ? 0 : 15);
    }
    /* random blocks at several magnitudes: about as good as plain rounding
     * or better (the search includes it, with the scale rounded to 12 bits,
     * which may move a value to the other side of a step), and better over
     * all blocks */
    double total = 0, total_plain = 0;
    for (int b = 0; b < 200; b++) {
        float mag = powf(10.0f, (float)(b % 7) - 4.0f), off = (b % 3 - 1) * 0.3f * mag;
        for (int i = 0; i < 32; i++) x[i] = frand(&s) * mag + off;
        if (b % 5 == 0) x[b % 32] = 6 * mag; /* an outlier */
        hg_types[HG_MAT_Q4].from_f32(q, x, 32);
        hg_types[HG_MAT_Q4].to_f32(q, back, 32);
        double e = 0;
        for (int i = 0; i < 32; i++) e += (double)(back[i] - x[i]) * (back[i] - x[i]);
        double plain = q4_plain_sse(x);
        if (!(e <= plain * 1.05 + 1e-30)) fail_msg("block %d: error %g, plain rounding %g", b, e, plain);
        total += e / (mag * mag);
        total_plain += plain / (mag * mag);
    }
    print_message("q4 blocks: squared error %.4g of plain min/max rounding\n", total / total_plain);
    assert_true(total < total_plain * 0.98);
}

/* Every variant's vector expansion of rows to f32 equals the type's own
 * to_f32 exactly (both compute d (q - z) or d q in f32), on whole rows and
 * on a sub-range starting at a later block. */
/* Every SIMD variant names the vectors of its products (bench's FMA peak for
 * its prefill ratio is taken with them); the generic one none. */
static void test_variant_vectors(void **state)
{
    (void)state;
    for (int v = 0; v < hg_kernel_variant_count(); v++) {
        const hg_kernel_variant *kv = hg_kernel_variant_at(v);
        if (!strcmp(kv->name, "generic")) {
            assert_null(kv->vectors);
            continue;
        }
        if (!kv->vectors || (strcmp(kv->vectors, "avx2") && strcmp(kv->vectors, "avx512") && strcmp(kv->vectors, "neon")))
            fail_msg("variant %s: vectors %s", kv->name, kv->vectors ? kv->vectors : "(none)");
    }
}

static void test_to_f32_variants(void **state)
{
    (void)state;
    int tested = 0;
    for (int ty = 0; ty < HG_MAT_NTYPES; ty++) {
        hg_mat m;
        void *data;
        int cols = 32 * 7 + (hg_types[ty].block == 1 ? 5 : 0);
        float *src = make_mat(&m, (hg_mat_type)ty, 3, cols, 21, &data);
        float want[32 * 7 + 5], got[32 * 7 + 5];
        for (int v = 0; v < hg_kernel_variant_count(); v++) {
            const hg_kernel_variant *kv = hg_kernel_variant_at(v);
            if (!kv->available() || !kv->to_f32[ty]) continue;
            tested++;
            for (int r = 0; r < 3; r++) {
                const char *row = (const char *)data + (size_t)r * hg_row_bytes((hg_mat_type)ty, cols);
                hg_types[ty].to_f32(row, want, cols);
                kv->to_f32[ty](row, got, cols);
                for (int i = 0; i < cols; i++)
                    if (got[i] != want[i]) fail_msg("%s to_f32 %s row %d [%d]: %g vs %g", kv->name, hg_types[ty].name, r, i, got[i], want[i]);
                int skip = 2 * hg_types[ty].block, n = 3 * hg_types[ty].block;
                size_t off = (size_t)(skip / hg_types[ty].block) * hg_types[ty].block_bytes;
                kv->to_f32[ty](row + off, got, n);
                for (int i = 0; i < n; i++) assert_true(got[i] == want[skip + i]);
            }
        }
        free(src);
        free(data);
    }
    print_message("%d vector row expansion(s) checked\n", tested);
}

/* The NEON q4 kernels (core/kernels_arm_q4.c) against the generic ones,
 * whether or not a variant's table holds them yet (aarch64 only). */
#if defined(__aarch64__)
#include <sys/auxv.h>
#include <asm/hwcap.h>
#endif
static void test_q4_neon(void **state)
{
    (void)state;
#if defined(__aarch64__)
    int widths[] = {32, 64, 352, 5280};
    int dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    for (int wi = 0; wi < 4; wi++) {
        int rows = 13, cols = widths[wi];
        hg_mat m;
        void *data;
        float *src = make_mat(&m, HG_MAT_Q4, rows, cols, 5u + (unsigned)cols, &data);
        float *x = malloc(sizeof(float) * cols), *wrow = malloc(sizeof(float) * cols), *got = malloc(sizeof(float) * cols);
        float yref[13], y[13];
        unsigned s = 3;
        for (int k = 0; k < cols; k++) x[k] = frand(&s);
        void *xq = prep_x(HG_MAT_Q4, x, 1, cols);
        hg_kernel_variant_at(0)->rows[HG_MAT_Q4](yref, &m, xq, 0, rows);
        for (int kind = 0; kind < 1 + dotprod; kind++) {
            (kind ? hg_rows_q4_sdot : hg_rows_q4_neon)(y, &m, xq, 0, rows);
            for (int r = 0; r < rows; r++) {
                hg_mat_row(&m, r, wrow);
                double mag = 0;
                for (int k = 0; k < cols; k++) mag += fabs((double)wrow[k] * x[k]);
                if (!(fabs(y[r] - yref[r]) <= 1e-5 * mag + 1e-6))
                    fail_msg("%s q4 %dx%d row %d: %.9g vs %.9g", kind ? "sdot" : "neon", rows, cols, r, y[r], yref[r]);
            }
        }
        for (int r = 0; r < rows; r++) {
            hg_mat_row(&m, r, wrow);
            hg_q4_to_f32_neon((const char *)data + (size_t)r * hg_row_bytes(HG_MAT_Q4, cols), got, cols);
            for (int k = 0; k < cols; k++) assert_true(got[k] == wrow[k]);
        }
        free(src);
        free(data);
        free(x);
        free(wrow);
        free(got);
        free(xq);
    }
    print_message("q4 NEON rows%s and expansion checked\n", dotprod ? ", SDOT rows" : "");
#else
    skip();
#endif
}

/* The avxvnni variant's q8_0 and q4 rows and batch rows give the very bits
 * of the avx2 variant's: vpdpbusd sums the same four bytes per int32 lane
 * that vpmaddubsw + vpmaddwd do, without saturation in either, and the f32
 * operations after the integer sums are the same.  Widths: one block, a
 * group of 8 blocks and its neighbours, a tail of 7, the real width, and
 * more than one pass of 1024 blocks. */
static void test_avxvnni_same_bits(void **state)
{
    (void)state;
    const hg_kernel_variant *a = NULL, *v = NULL;
    for (int i = 0; i < hg_kernel_variant_count(); i++) {
        const hg_kernel_variant *kv = hg_kernel_variant_at(i);
        if (!strcmp(kv->name, "avx2")) a = kv;
        if (!strcmp(kv->name, "avxvnni")) v = kv;
    }
    if (!a || !v || !v->available()) skip();
    enum { ROWS = 5, TMAX = HG_SMALL_BATCH };
    const int nbs[] = {1, 7, 8, 9, 23, 165, 1100};
    const hg_mat_type types[] = {HG_MAT_Q8_0, HG_MAT_Q4};
    int compared = 0;
    for (int ti = 0; ti < 2; ti++)
        for (int ni = 0; ni < (int)(sizeof nbs / sizeof nbs[0]); ni++) {
            hg_mat_type ty = types[ti];
            int cols = nbs[ni] * HG_QK;
            hg_mat m;
            void *data;
            float *src = make_mat(&m, ty, ROWS, cols, 11u + (unsigned)cols, &data);
            float *x = malloc(sizeof(float) * cols * TMAX);
            unsigned s = 31;
            for (int k = 0; k < cols * TMAX; k++) x[k] = frand(&s) * (k % 7 == 0 ? 50.0f : 1.0f);
            void *xp = prep_x(ty, x, TMAX, cols);
            size_t xb = hg_x_bytes(hg_types[ty].x_format, cols);
            float y0[ROWS * TMAX], y1[ROWS * TMAX];
            for (int t = 0; t < TMAX; t++) {
                a->rows[ty](y0 + t * ROWS, &m, (char *)xp + xb * t, 0, ROWS);
                v->rows[ty](y1 + t * ROWS, &m, (char *)xp + xb * t, 0, ROWS);
            }
            for (int i = 0; i < ROWS * TMAX; i++)
                if (memcmp(&y0[i], &y1[i], sizeof(float)))
                    fail_msg("%s rows %dx%d [%d]: avxvnni %.9g, avx2 %.9g", hg_types[ty].name, ROWS, cols, i, y1[i],
                             y0[i]);
            for (int T = 1; T <= TMAX; T += 5) {
                a->rows_n[ty](y0, &m, xp, T, 0, ROWS);
                v->rows_n[ty](y1, &m, xp, T, 0, ROWS);
                for (int i = 0; i < ROWS * T; i++)
                    if (memcmp(&y0[i], &y1[i], sizeof(float)))
                        fail_msg("%s rows_n %dx%d T=%d [%d]: avxvnni %.9g, avx2 %.9g", hg_types[ty].name, ROWS, cols,
                                 T, i, y1[i], y0[i]);
            }
            compared++;
            free(src);
            free(data);
            free(x);
            free(xp);
        }
    print_message("avxvnni and avx2: the same bits in %d q8_0/q4 shapes\n", compared);
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
    /* q8_0: an f16 scale per block, every value within half a step of it */
    float x[64], back[64];
    hg_block_q8_0 q[2];
    unsigned s = 5;
    for (int i = 0; i < 64; i++) x[i] = frand(&s) * (i < 32 ? 1.0f : 100.0f);
    x[40] = -150.0f; /* the largest of its block: exactly -127 steps */
    hg_types[HG_MAT_Q8_0].from_f32(q, x, 64);
    hg_types[HG_MAT_Q8_0].to_f32(q, back, 64);
    assert_int_equal(sizeof(hg_block_q8_0), 34);
    assert_int_equal(hg_row_bytes(HG_MAT_Q8_0, 5280), 5280 / 32 * 34);
    assert_int_equal(q[1].qs[8], -127);
    for (int i = 0; i < 64; i++) {
        float d = hg_f16_to_f32(q[i / 32].d);
        assert_true(fabsf(back[i] - x[i]) <= d * 0.5f + 1e-6f);
        assert_true(fabsf(d - fabsf(i < 32 ? 1.0f : 150.0f) / 127) < 0.02f * d || i < 32);
    }
    /* an all-zero block */
    float z[32] = {0};
    hg_types[HG_MAT_Q8_0].from_f32(q, z, 32);
    assert_true(q[0].d == 0 && q[0].qs[0] == 0);
    /* activations: an f32 scale, the sum of the block, values within half a step */
    hg_block_xq8 xq[2];
    hg_quantize_xq8(xq, x, 64);
    for (int b = 0; b < 2; b++) {
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            sum += xq[b].qs[i];
            assert_true(fabsf(xq[b].qs[i] * xq[b].d - x[b * 32 + i]) <= xq[b].d * 0.5f + 1e-6f);
        }
        assert_true(fabsf(xq[b].s - xq[b].d * sum) <= 1e-6f * fabsf(xq[b].s) + 1e-9f);
    }
    /* the table: names round-trip, rows hold whole blocks */
    for (int t = 0; t < HG_MAT_NTYPES; t++) {
        assert_int_equal(hg_type_by_name(hg_types[t].name), t);
        assert_true(hg_types[t].block >= 1 && hg_types[t].block_bytes >= 1 && hg_types[t].to_f32 && hg_types[t].from_f32);
    }
    assert_int_equal(hg_type_by_name("q9"), -1);
    assert_int_equal(hg_type_by_name(NULL), -1);
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

/* hg_matmul against a double-precision product of the dequantized rows, on
 * every path: one input, small batches (the batch kernels, up to
 * HG_SMALL_BATCH), and large batches (AMX, the variant's packed-panel gemm,
 * or OpenBLAS on expanded tiles), with and without a workspace. */
static void test_matmul_paths(void **state)
{
    (void)state;
    hg_pool *p = hg_pool_new(2);
    int Ts[] = {1, 2, 5, HG_SMALL_BATCH, HG_SMALL_BATCH + 1, 45};
    for (int ty = 0; ty < HG_MAT_NTYPES; ty++) {
        hg_mat m;
        void *data;
        int rows = 77, cols = 96 * 3 + 32 * (hg_types[ty].block == 1); /* 320 or 288: several K blocks of the gemm */
        float *src = make_mat(&m, (hg_mat_type)ty, rows, cols, 3, &data);
        float *X = malloc(sizeof(float) * 45 * cols), *Y = malloc(sizeof(float) * 45 * rows), *wrow = malloc(sizeof(float) * cols);
        unsigned s = 1;
        for (int i = 0; i < 45 * cols; i++) X[i] = frand(&s);
        for (int wi = 0; wi < 2; wi++)
            for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
                int T = Ts[ti];
                float scratch[320 * 10]; /* forces several tiles on the OpenBLAS path */
                hg_workspace ws = {scratch, sizeof scratch / sizeof scratch[0], NULL, NULL, 0}; /* no AMX */
                for (int i = 0; i < T * rows; i++) Y[i] = NAN;
                hg_matmul(p, Y, X, &m, T, wi ? &ws : NULL);
                hg_workspace_free(&ws);
                for (int t = 0; t < T; t++)
                    for (int r = 0; r < rows; r++) {
                        hg_mat_row(&m, r, wrow);
                        double d = 0, mag = 0;
                        for (int k = 0; k < cols; k++) {
                            d += (double)wrow[k] * X[t * cols + k];
                            mag += fabs((double)wrow[k] * X[t * cols + k]);
                        }
                        double tol = 1e-5 * mag + 1e-6 + (T <= HG_SMALL_BATCH ? xq_err((hg_mat_type)ty, wrow, X + t * cols, cols) : 0);
                        if (!(fabs(Y[t * rows + r] - d) <= tol))
                            fail_msg("matmul %s T=%d ws=%d [%d][%d]: %g vs %g", hg_types[ty].name, T, wi, t, r,
                                     Y[t * rows + r], d);
                    }
            }
        free(src);
        free(data);
        free(X);
        free(Y);
        free(wrow);
    }
    hg_pool_free(p);
}

/* Every variant's row expansion for the prefill panels equals the type's
 * own to_f32 bit for bit (both are exact), from a block boundary inside a row. */
static void test_variant_to_f32(void **state)
{
    (void)state;
    enum { K = 32 * 7 };
    float src[K], a[K], b[K];
    unsigned s = 41;
    for (int i = 0; i < K; i++) src[i] = frand(&s) * 3.0f;
    int tested = 0;
    for (int t = 0; t < HG_MAT_NTYPES; t++) {
        char row[K * 4];
        hg_types[t].from_f32(row, src, K);
        for (int v = 0; v < hg_kernel_variant_count(); v++) {
            const hg_kernel_variant *kv = hg_kernel_variant_at(v);
            if (!kv->available() || !kv->to_f32[t]) continue;
            tested++;
            for (int off = 0; off < K; off += 3 * hg_types[t].block) {
                int n = K - off, skip = (int)hg_row_bytes((hg_mat_type)t, off);
                hg_types[t].to_f32(row + skip, a, n);
                kv->to_f32[t](row + skip, b, n);
                if (memcmp(a, b, sizeof(float) * (size_t)n))
                    fail_msg("%s to_f32 of %s from %d", kv->name, hg_types[t].name, off);
            }
        }
    }
    print_message("%d variant row expansion(s) checked\n", tested);
}

/* Every variant's panel kernel against the generic one, for every m up to
 * its gemm_mr, every np up to its gemm_np and a few k, adding into C. */
static void test_gemm_kernels(void **state)
{
    (void)state;
    enum { K = 37, LDA = 40, LDC = 40, MR = 16, BSTRIDE = K * 16 + 8 };
    float A[MR * LDA], B[2 * BSTRIDE], C0[MR * LDC], C1[MR * LDC];
    unsigned s = 31;
    for (int i = 0; i < MR * LDA; i++) A[i] = frand(&s);
    for (int i = 0; i < 2 * BSTRIDE; i++) B[i] = frand(&s);
    int tested = 0;
    for (int v = 0; v < hg_kernel_variant_count(); v++) {
        const hg_kernel_variant *kv = hg_kernel_variant_at(v);
        if (!kv->available() || !kv->gemm) continue;
        assert_true(kv->gemm_mr >= 1 && kv->gemm_mr <= MR && 48 % kv->gemm_mr == 0);
        assert_true(kv->gemm_np >= 1 && kv->gemm_np <= 2);
        tested++;
        for (int np = 1; np <= kv->gemm_np; np++)
            for (int m = 1; m <= kv->gemm_mr; m++)
                for (int k = 0; k <= K; k += 9) {
                    for (int i = 0; i < MR * LDC; i++) C0[i] = C1[i] = (float)i;
                    hg_gemm_generic(C0, LDC, A, LDA, B, BSTRIDE, k, m, np);
                    kv->gemm(C1, LDC, A, LDA, B, BSTRIDE, k, m, np);
                    for (int j = 0; j < MR; j++)
                        for (int i = 0; i < LDC; i++) {
                            float want = C0[j * LDC + i], got = C1[j * LDC + i];
                            if (j >= m || i >= 16 * np) assert_true(got == (float)(j * LDC + i)); /* untouched */
                            else if (!(fabsf(got - want) <= 1e-5f * (fabsf(want) + k)))
                                fail_msg("%s gemm m=%d np=%d k=%d", kv->name, m, np, k);
                        }
                }
    }
    print_message("%d panel gemm kernel(s) checked\n", tested);
}

/* The AMX prefill path (bf16 tiles; x rounded to bf16, so the tolerance is
 * 2^-8 of sum |w x|; to f32 rounding of the exact product of the rounded
 * operands), with a partial last block of rows. */
static void test_amx(void **state)
{
    (void)state;
    if (!hg_amx_available()) {
        print_message("AMX not available here: skipped\n");
        skip();
    }
    hg_pool *p = hg_pool_new(2);
    hg_mat_type types[] = {HG_MAT_BF16, HG_MAT_Q8_0, HG_MAT_Q4};
    for (int ti = 0; ti < 3; ti++) {
        int rows = 96, cols = 160, T = 45;
        hg_mat m;
        void *data;
        float *src = make_mat(&m, types[ti], rows, cols, 11, &data);
        float *X = malloc(sizeof(float) * T * cols), *Y = malloc(sizeof(float) * T * rows), wrow[160];
        unsigned s = 3;
        for (int i = 0; i < T * cols; i++) X[i] = frand(&s);
        hg_amx_ws ws = {0};
        assert_int_equal(hg_amx_matmul(p, Y, X, &m, T, &ws), 1);
        for (int t = 0; t < T; t++)
            for (int r = 0; r < rows; r++) {
                hg_mat_row(&m, r, wrow);
                double d = 0, mag = 0, db = 0;
                for (int k = 0; k < cols; k++) {
                    d += (double)wrow[k] * X[t * cols + k];
                    mag += fabs((double)wrow[k] * X[t * cols + k]);
                    db += (double)hg_bf16_to_f32(hg_f32_to_bf16(wrow[k])) * hg_bf16_to_f32(hg_f32_to_bf16(X[t * cols + k]));
                }
                if (!(fabs(Y[t * rows + r] - d) <= mag / 256 + 1e-6))
                    fail_msg("amx type %d [%d][%d]: %g vs %g", types[ti], t, r, Y[t * rows + r], d);
                /* and it is the product of w and x each rounded to nearest-even
                 * bf16, summed in f32 */
                if (!(fabs(Y[t * rows + r] - db) <= mag * 1e-6 + 1e-6))
                    fail_msg("amx type %d [%d][%d]: %.9g vs %.9g with bf16 operands", types[ti], t, r, Y[t * rows + r], db);
            }
        /* shapes AMX cannot take are declined */
        hg_mat odd = m;
        odd.rows = 95;
        assert_int_equal(hg_amx_matmul(p, Y, X, &odd, T, &ws), 0);
        odd = m;
        odd.type = HG_MAT_F32;
        assert_int_equal(hg_amx_matmul(p, Y, X, &odd, T, &ws), 0);
        free(ws.buf);
        free(src);
        free(data);
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
        cmocka_unit_test(test_q8_variants),  cmocka_unit_test(test_q4_variants),  cmocka_unit_test(test_q4_scales),
        cmocka_unit_test(test_q4_format),    cmocka_unit_test(test_to_f32_variants), cmocka_unit_test(test_variant_vectors),
        cmocka_unit_test(test_q4_neon),      cmocka_unit_test(test_avxvnni_same_bits),
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_dot_axpy),     cmocka_unit_test(test_swiglu_rmsnorm),
        cmocka_unit_test(test_pool),         cmocka_unit_test(test_matmul_paths),
        cmocka_unit_test(test_gemm_kernels), cmocka_unit_test(test_variant_to_f32), cmocka_unit_test(test_amx),
    };
    return cmocka_run_group_tests_name("kernels", tests, NULL, NULL);
}
