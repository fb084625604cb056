/* kernels_x86.c — AVX2+FMA and AVX-512 variants of the product kernels,
 * compiled with target attributes and chosen at run time. */
#include "kernels.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- AVX2 */

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) static void rows_f32_avx2(float *y, const hg_mat *W, const float *x, int r0,
                                                              int r1)
{
    int K = W->cols;
    for (int r = r0; r < r1; r++) {
        const float *w = (const float *)W->data + (size_t)r * K;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        int k = 0;
        for (; k + 32 <= K; k += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 8), _mm256_loadu_ps(x + k + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 16), _mm256_loadu_ps(x + k + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 24), _mm256_loadu_ps(x + k + 24), a3);
        }
        for (; k + 8 <= K; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), a0);
        float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; k < K; k++) s += w[k] * x[k];
        y[r] = s;
    }
}

__attribute__((target("avx2,fma"))) static inline __m256 bf16x8_avx2(const uint16_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

__attribute__((target("avx2,fma"))) static void rows_bf16_avx2(float *y, const hg_mat *W, const float *x, int r0,
                                                               int r1)
{
    int K = W->cols;
    for (int r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)W->data + (size_t)r * K;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        int k = 0;
        for (; k + 32 <= K; k += 32) {
            a0 = _mm256_fmadd_ps(bf16x8_avx2(w + k), _mm256_loadu_ps(x + k), a0);
            a1 = _mm256_fmadd_ps(bf16x8_avx2(w + k + 8), _mm256_loadu_ps(x + k + 8), a1);
            a2 = _mm256_fmadd_ps(bf16x8_avx2(w + k + 16), _mm256_loadu_ps(x + k + 16), a2);
            a3 = _mm256_fmadd_ps(bf16x8_avx2(w + k + 24), _mm256_loadu_ps(x + k + 24), a3);
        }
        for (; k + 8 <= K; k += 8) a0 = _mm256_fmadd_ps(bf16x8_avx2(w + k), _mm256_loadu_ps(x + k), a0);
        float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; k < K; k++) s += hg_bf16_to_f32(w[k]) * x[k];
        y[r] = s;
    }
}

__attribute__((target("avx2,fma"))) static inline __m256 i8x8_avx2(const int8_t *p)
{
    __m128i v;
    memcpy(&v, p, 8);
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
}

__attribute__((target("avx2,fma"))) static void rows_q8_avx2(float *y, const hg_mat *W, const float *x, int r0, int r1)
{
    int K = W->cols, nb = K / HG_Q8_BLOCK;
    for (int r = r0; r < r1; r++) {
        const int8_t *w = (const int8_t *)W->data + (size_t)r * K;
        const float *sc = W->scales + (size_t)r * nb;
        __m256 acc = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const int8_t *wb = w + b * HG_Q8_BLOCK;
            const float *xb = x + b * HG_Q8_BLOCK;
            __m256 p = _mm256_mul_ps(i8x8_avx2(wb), _mm256_loadu_ps(xb));
            p = _mm256_fmadd_ps(i8x8_avx2(wb + 8), _mm256_loadu_ps(xb + 8), p);
            p = _mm256_fmadd_ps(i8x8_avx2(wb + 16), _mm256_loadu_ps(xb + 16), p);
            p = _mm256_fmadd_ps(i8x8_avx2(wb + 24), _mm256_loadu_ps(xb + 24), p);
            acc = _mm256_fmadd_ps(p, _mm256_set1_ps(sc[b]), acc);
        }
        y[r] = hsum256(acc);
    }
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

__attribute__((target("avx2,fma"))) static void axpy_avx2(float *y, float a, const float *x, int n)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

__attribute__((target("avx2,fma"))) static int have_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const hg_kernel_variant hg_variant_avx2 = {"avx2", have_avx2, {rows_f32_avx2, rows_bf16_avx2, rows_q8_avx2}, dot_avx2,
                                           axpy_avx2, hg_swiglu_generic, hg_rmsnorm_generic};

/* ------------------------------------------------------------- AVX-512 */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))

AVX512 static void rows_f32_avx512(float *y, const hg_mat *W, const float *x, int r0, int r1)
{
    int K = W->cols;
    for (int r = r0; r < r1; r++) {
        const float *w = (const float *)W->data + (size_t)r * K;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        int k = 0;
        for (; k + 64 <= K; k += 64) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k), _mm512_loadu_ps(x + k), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k + 16), _mm512_loadu_ps(x + k + 16), a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k + 32), _mm512_loadu_ps(x + k + 32), a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k + 48), _mm512_loadu_ps(x + k + 48), a3);
        }
        for (; k + 16 <= K; k += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + k), _mm512_loadu_ps(x + k), a0);
        if (k < K) {
            __mmask16 m = (__mmask16)((1u << (K - k)) - 1);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + k), _mm512_maskz_loadu_ps(m, x + k), a1);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    }
}

AVX512 static inline __m512 bf16x16(const uint16_t *p)
{
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

AVX512 static void rows_bf16_avx512(float *y, const hg_mat *W, const float *x, int r0, int r1)
{
    int K = W->cols;
    for (int r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)W->data + (size_t)r * K;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        int k = 0;
        for (; k + 64 <= K; k += 64) {
            a0 = _mm512_fmadd_ps(bf16x16(w + k), _mm512_loadu_ps(x + k), a0);
            a1 = _mm512_fmadd_ps(bf16x16(w + k + 16), _mm512_loadu_ps(x + k + 16), a1);
            a2 = _mm512_fmadd_ps(bf16x16(w + k + 32), _mm512_loadu_ps(x + k + 32), a2);
            a3 = _mm512_fmadd_ps(bf16x16(w + k + 48), _mm512_loadu_ps(x + k + 48), a3);
        }
        for (; k + 16 <= K; k += 16) a0 = _mm512_fmadd_ps(bf16x16(w + k), _mm512_loadu_ps(x + k), a0);
        float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        for (; k < K; k++) s += hg_bf16_to_f32(w[k]) * x[k];
        y[r] = s;
    }
}

AVX512 static inline __m512 i8x16(const int8_t *p)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

AVX512 static void rows_q8_avx512(float *y, const hg_mat *W, const float *x, int r0, int r1)
{
    int K = W->cols, nb = K / HG_Q8_BLOCK;
    for (int r = r0; r < r1; r++) {
        const int8_t *w = (const int8_t *)W->data + (size_t)r * K;
        const float *sc = W->scales + (size_t)r * nb;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        int b = 0;
        for (; b + 2 <= nb; b += 2) {
            const int8_t *wb = w + b * HG_Q8_BLOCK;
            const float *xb = x + b * HG_Q8_BLOCK;
            __m512 p0 = _mm512_mul_ps(i8x16(wb), _mm512_loadu_ps(xb));
            __m512 p1 = _mm512_mul_ps(i8x16(wb + 32), _mm512_loadu_ps(xb + 32));
            p0 = _mm512_fmadd_ps(i8x16(wb + 16), _mm512_loadu_ps(xb + 16), p0);
            p1 = _mm512_fmadd_ps(i8x16(wb + 48), _mm512_loadu_ps(xb + 48), p1);
            acc0 = _mm512_fmadd_ps(p0, _mm512_set1_ps(sc[b]), acc0);
            acc1 = _mm512_fmadd_ps(p1, _mm512_set1_ps(sc[b + 1]), acc1);
        }
        for (; b < nb; b++) {
            const int8_t *wb = w + b * HG_Q8_BLOCK;
            const float *xb = x + b * HG_Q8_BLOCK;
            __m512 p0 = _mm512_mul_ps(i8x16(wb), _mm512_loadu_ps(xb));
            p0 = _mm512_fmadd_ps(i8x16(wb + 16), _mm512_loadu_ps(xb + 16), p0);
            acc0 = _mm512_fmadd_ps(p0, _mm512_set1_ps(sc[b]), acc0);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    }
}

AVX512 static float dot_avx512(const float *a, const float *b, int n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

AVX512 static void axpy_avx512(float *y, float a, const float *x, int n)
{
    __m512 va = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

/* exp on 16 lanes: 2^n * p(r), x = n ln2 + r, |r| <= ln2/2, the Cephes
 * polynomial (about 1 ulp); inputs clamped to the float range. */
AVX512 static inline __m512 exp512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

AVX512 static void swiglu_avx512(float *act, const float *g, const float *u, int n)
{
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 gv = _mm512_loadu_ps(g + i);
        __m512 den = _mm512_add_ps(_mm512_set1_ps(1.0f), exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv)));
        _mm512_storeu_ps(act + i, _mm512_mul_ps(_mm512_div_ps(gv, den), _mm512_loadu_ps(u + i)));
    }
    for (; i < n; i++) act[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

AVX512 static void rmsnorm_avx512(float *o, const float *x, const float *w, int n, float eps)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        s0 = _mm512_fmadd_ps(a, a, s0);
        s1 = _mm512_fmadd_ps(b, b, s1);
    }
    double ss = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; i++) ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / n + eps));
    __m512 rv = _mm512_set1_ps(r);
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(o + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), rv), _mm512_loadu_ps(w + i)));
    for (; i < n; i++) o[i] = (x[i] * r) * w[i];
}

static int have_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
}

const hg_kernel_variant hg_variant_avx512 = {"avx512", have_avx512,
                                             {rows_f32_avx512, rows_bf16_avx512, rows_q8_avx512}, dot_avx512, axpy_avx512,
                                             swiglu_avx512, rmsnorm_avx512};

/* ------------------------------------------------------ AVX-512 BF16 */

/* bf16 rows with vdpbf16ps: x is split into x_hi = bf16(x) and
 * x_lo = bf16(x - x_hi), so W·x = W·x_hi + W·x_lo keeps about 16 bits of x
 * (close to f32) while each 32 weights cost two dot instructions. */
#ifndef PREFETCH_BYTES
#define PREFETCH_BYTES 2048
#endif
#define AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,fma")))

AVX512BF16 static void rows_bf16_dp(float *y, const hg_mat *W, const float *x, int r0, int r1)
{
    int K = W->cols;
    if (K % 32 != 0 || K > 65536) {
        rows_bf16_avx512(y, W, x, r0, r1);
        return;
    }
    uint16_t xh[K], xl[K];
    for (int k = 0; k < K; k++) {
        xh[k] = hg_f32_to_bf16(x[k]);
        xl[k] = hg_f32_to_bf16(x[k] - hg_bf16_to_f32(xh[k]));
    }
    for (int r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)W->data + (size_t)r * K;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        int k = 0;
        for (; k + 64 <= K; k += 64) {
            _mm_prefetch((const char *)(w + k) + PREFETCH_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)(w + k) + PREFETCH_BYTES + 64, _MM_HINT_T0);
            __m512bh w0 = (__m512bh)_mm512_loadu_si512(w + k), w1 = (__m512bh)_mm512_loadu_si512(w + k + 32);
            a0 = _mm512_dpbf16_ps(a0, w0, (__m512bh)_mm512_loadu_si512(xh + k));
            a1 = _mm512_dpbf16_ps(a1, w0, (__m512bh)_mm512_loadu_si512(xl + k));
            a2 = _mm512_dpbf16_ps(a2, w1, (__m512bh)_mm512_loadu_si512(xh + k + 32));
            a3 = _mm512_dpbf16_ps(a3, w1, (__m512bh)_mm512_loadu_si512(xl + k + 32));
        }
        for (; k < K; k += 32) {
            __m512bh w0 = (__m512bh)_mm512_loadu_si512(w + k);
            a0 = _mm512_dpbf16_ps(a0, w0, (__m512bh)_mm512_loadu_si512(xh + k));
            a1 = _mm512_dpbf16_ps(a1, w0, (__m512bh)_mm512_loadu_si512(xl + k));
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    }
}

/* q8_0 rows with VNNI: x is quantized per block of 32 like the weights
 * (scale max|x|/127), |x| as u8 and its sign moved onto the weights, so
 * vpdpbusd multiplies 64 pairs at once; each block's int32 sum is scaled by
 * w_scale * x_scale in f32. */
#define AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma")))

AVX512VNNI static void rows_q8_vnni(float *y, const hg_mat *W, const float *x, int r0, int r1)
{
    int K = W->cols, nb = K / HG_Q8_BLOCK;
    if (K % 32 != 0 || K > 65536) {
        rows_q8_avx512(y, W, x, r0, r1);
        return;
    }
    uint8_t ax[K + 64] __attribute__((aligned(64)));
    uint64_t neg[(K + 63) / 64];
    float xs[nb];
    for (int b = 0; b < nb; b++) {
        const float *xb = x + b * HG_Q8_BLOCK;
        float amax = 0;
        for (int i = 0; i < HG_Q8_BLOCK; i++) amax = fabsf(xb[i]) > amax ? fabsf(xb[i]) : amax;
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        xs[b] = d;
        for (int i = 0; i < HG_Q8_BLOCK; i++) {
            int k = b * HG_Q8_BLOCK + i;
            float v = roundf(xb[i] * id);
            int q = (int)(v > 127 ? 127 : v < -127 ? -127 : v);
            ax[k] = (uint8_t)(q < 0 ? -q : q);
            if ((k & 63) == 0) neg[k >> 6] = 0;
            if (q < 0) neg[k >> 6] |= 1ull << (k & 63);
        }
    }
    const __m512i pair_idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int r = r0; r < r1; r++) {
        const int8_t *w = (const int8_t *)W->data + (size_t)r * K;
        const float *sc = W->scales + (size_t)r * nb;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        for (int k = 0; k < K; k += 64) {
            _mm_prefetch((const char *)(w + k) + PREFETCH_BYTES, _MM_HINT_T0);
            int full = k + 64 <= K; /* else a last half of 32 */
            __mmask64 lm = full ? ~0ull : 0xffffffffull;
            __m512i wv = _mm512_maskz_loadu_epi8(lm, w + k);
            wv = _mm512_mask_sub_epi8(wv, (__mmask64)neg[k >> 6], _mm512_setzero_si512(), wv);
            __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_maskz_loadu_epi8(lm, ax + k), wv);
            int b = k / HG_Q8_BLOCK;
            __m512 s2 = _mm512_castps128_ps512(_mm_set_ps(0, 0, full ? sc[b + 1] * xs[b + 1] : 0, sc[b] * xs[b]));
            __m512 sv = _mm512_permutexvar_ps(pair_idx, s2);
            if ((k >> 6) & 1) acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), sv, acc1);
            else acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), sv, acc0);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    }
}

static int have_avx512vnni(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni");
}

static int have_avx512bf16(void)
{
    __builtin_cpu_init();
    return have_avx512() && __builtin_cpu_supports("avx512bf16") && have_avx512vnni();
}

const hg_kernel_variant hg_variant_avx512bf16 = {"avx512bf16", have_avx512bf16,
                                                 {rows_f32_avx512, rows_bf16_dp, rows_q8_vnni}, dot_avx512, axpy_avx512,
                                                 swiglu_avx512, rmsnorm_avx512};
