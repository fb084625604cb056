/* kernels_x86.c — AVX2+FMA and AVX-512 variants of the product kernels,
 * compiled with target attributes and chosen at run time. */
#include "kernels.h"
#include "kernels_x86.h"
#include "platform.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- AVX2 */

#define AVX2 __attribute__((target("avx2,fma,f16c")))
/* Full unrolling of the short constant loops of the batch kernels (inputs,
 * rows of a tile): their accumulator arrays then live in registers; -O2
 * alone keeps them in memory. */
#if defined(__clang__)
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif
/* software prefetch distance of the streamed weights (bytes).  The q8_0 row
 * kernels issue Q8_PREFETCH after a step's two blocks, not before: clang
 * keeps a prefetch written first at the top of the loop, ahead of the
 * step's own loads, and from memory that loop ran 15-20% slower (the same
 * instructions otherwise; gcc moves the prefetch after the first loads
 * either way). */
#ifndef Q8_PF
#define Q8_PF 4096
#endif
#if Q8_PF > 0
#define Q8_PREFETCH(p)                                                                                                 \
    (_mm_prefetch((const char *)(p) + Q8_PF, _MM_HINT_T0), _mm_prefetch((const char *)(p) + Q8_PF + 64, _MM_HINT_T0))
#else
#define Q8_PREFETCH(p) ((void)0)
#endif
/* the two-row bf16 kernel's (measured: 4 KB is slower there) */
#ifndef BF16_PF
#define BF16_PF 1024
#endif
/* The batch tiles read nr consecutive rows (rb bytes each) side by side:
 * each row is prefetched PF_TILE bytes ahead of where it is read, and past
 * its end at the same place of the row the next tile reads (nr rows on),
 * not in the next row, which this tile is reading already.  One call per
 * row and at most 64 bytes read touches every line.  (always_inline: GCC 12
 * drops the prefetch of a plain inline function inlined into a target one.) */
#ifndef PF_TILE
#define PF_TILE 4096
#endif
__attribute__((always_inline)) static inline void prefetch_tile_row(const void *row, size_t off, size_t rb, int nr)
{
    size_t a = off + PF_TILE;
    _mm_prefetch((const char *)row + a + (a >= rb ? (size_t)(nr - 1) * rb : 0), _MM_HINT_T0);
}

AVX2 static void rows_f32_avx2(float *y, const hg_mat *W, const void *xv, int r0,
                                                              int r1)
{
    const float *x = xv;
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
        float s = hg_hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; k < K; k++) s += w[k] * x[k];
        y[r] = s;
    }
}

AVX2 static inline __m256 bf16x8_avx2(const uint16_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* Two rows at a time: two weight streams in flight, x loaded once for both. */
AVX2 static void rows_bf16_avx2(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    const float *x = xv;
    int K = W->cols, r = r0;
    for (; r + 2 <= r1; r += 2) {
        const uint16_t *w0 = (const uint16_t *)W->data + (size_t)r * K, *w1 = w0 + K;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
        int k = 0;
        for (; k + 16 <= K; k += 16) {
            _mm_prefetch((const char *)(w0 + k) + BF16_PF, _MM_HINT_T0);
            _mm_prefetch((const char *)(w1 + k) + BF16_PF, _MM_HINT_T0);
            __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
            a0 = _mm256_fmadd_ps(bf16x8_avx2(w0 + k), x0, a0);
            b0 = _mm256_fmadd_ps(bf16x8_avx2(w1 + k), x0, b0);
            a1 = _mm256_fmadd_ps(bf16x8_avx2(w0 + k + 8), x1, a1);
            b1 = _mm256_fmadd_ps(bf16x8_avx2(w1 + k + 8), x1, b1);
        }
        for (; k + 8 <= K; k += 8) {
            __m256 x0 = _mm256_loadu_ps(x + k);
            a0 = _mm256_fmadd_ps(bf16x8_avx2(w0 + k), x0, a0);
            b0 = _mm256_fmadd_ps(bf16x8_avx2(w1 + k), x0, b0);
        }
        float s0 = hg_hsum256(_mm256_add_ps(a0, a1)), s1 = hg_hsum256(_mm256_add_ps(b0, b1));
        for (; k < K; k++) {
            s0 += hg_bf16_to_f32(w0[k]) * x[k];
            s1 += hg_bf16_to_f32(w1[k]) * x[k];
        }
        y[r] = s0;
        y[r + 1] = s1;
    }
    for (; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)W->data + (size_t)r * K;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int k = 0;
        for (; k + 16 <= K; k += 16) {
            a0 = _mm256_fmadd_ps(bf16x8_avx2(w + k), _mm256_loadu_ps(x + k), a0);
            a1 = _mm256_fmadd_ps(bf16x8_avx2(w + k + 8), _mm256_loadu_ps(x + k + 8), a1);
        }
        for (; k + 8 <= K; k += 8) a0 = _mm256_fmadd_ps(bf16x8_avx2(w + k), _mm256_loadu_ps(x + k), a0);
        float s = hg_hsum256(_mm256_add_ps(a0, a1));
        for (; k < K; k++) s += hg_bf16_to_f32(w[k]) * x[k];
        y[r] = s;
    }
}

/* KERNEL(t, nt) over the inputs in groups of 4, then the tail, nt always a
 * constant: the always_inline batch kernels keep their accumulators in
 * registers. */
#define BY_INPUT_GROUPS(T, KERNEL)                                                                                      \
    do {                                                                                                               \
        int t_ = 0;                                                                                                    \
        for (; t_ + 4 <= (T); t_ += 4) KERNEL(t_, 4);                                                                  \
        switch ((T) - t_) {                                                                                            \
        case 3: KERNEL(t_, 3); break;                                                                                  \
        case 2: KERNEL(t_, 2); break;                                                                                  \
        case 1: KERNEL(t_, 1); break;                                                                                  \
        }                                                                                                              \
    } while (0)

/* Rows [r0, r1) of a matrix (rows rb bytes apart from data) in tiles of two
 * rows, then a last one, each tile over the inputs in groups
 * (BY_INPUT_GROUPS): TILE(t, nt) sees the tile's first row r, its bytes w
 * and its row count nr (a constant in each branch). */
#define BY_ROW_PAIRS(T, data, rb, r0, r1, TILE)                                                                         \
    do {                                                                                                               \
        int r = (r0);                                                                                                  \
        for (; r + 2 <= (r1); r += 2) {                                                                                \
            const char *w = (const char *)(data) + (size_t)r * (rb);                                                   \
            const int nr = 2;                                                                                          \
            BY_INPUT_GROUPS(T, TILE);                                                                                  \
        }                                                                                                              \
        if (r < (r1)) {                                                                                                \
            const char *w = (const char *)(data) + (size_t)r * (rb);                                                   \
            const int nr = 1;                                                                                          \
            BY_INPUT_GROUPS(T, TILE);                                                                                  \
        }                                                                                                              \
    } while (0)

/* u8 x s8 products summed in fours into int32 lanes: vpmaddubsw + vpmaddwd
 * with AVX2 (the int16 pair sums cannot saturate here: u8 <= 128, as |x|
 * or a q4 nibble, times s8 >= -128 keeps a pair in -32768..32512), one
 * vpdpbusd with AVX-VNNI (hg_dpbusd_vex), the same sums.  One body per
 * kernel serves the avx2 and avxvnni variants: each calls it with vnni a
 * constant and the other branch disappears. */
__attribute__((always_inline)) AVX2 static inline __m256i dot4_u8s8(__m256i u, __m256i s, int vnni)
{
    if (vnni) return hg_dpbusd_vex(_mm256_setzero_si256(), u, s);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* q8_0 rows on integer dot instructions: x comes quantized per block
 * (hg_block_xq8); |x| as u8 times w with x's sign (vpsignb), summed in
 * fours (dot4_u8s8), the block's 8 int32 sums scaled by dw dx. */
__attribute__((always_inline)) AVX2 static inline __m256 q8_block_avx2(const hg_block_q8_0 *w, const hg_block_xq8 *x,
                                                                       __m256 acc, int vnni)
{
    __m256i xv = _mm256_loadu_si256((const __m256i *)x->qs), wv = _mm256_loadu_si256((const __m256i *)w->qs);
    __m256 p = _mm256_cvtepi32_ps(dot4_u8s8(_mm256_sign_epi8(xv, xv), _mm256_sign_epi8(wv, xv), vnni));
    return _mm256_fmadd_ps(p, _mm256_set1_ps(_cvtsh_ss(w->d) * x->d), acc);
}

__attribute__((always_inline)) AVX2 static inline void q8_rows_avx2(float *y, const hg_mat *W, const void *xv, int r0,
                                                                     int r1, int vnni)
{
    int nb = W->cols / HG_QK;
    const hg_block_xq8 *x = xv;
    for (int r = r0; r < r1; r++) {
        const hg_block_q8_0 *w = (const hg_block_q8_0 *)W->data + (size_t)r * nb;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int b = 0;
        for (; b + 2 <= nb; b += 2) {
            a0 = q8_block_avx2(w + b, x + b, a0, vnni);
            a1 = q8_block_avx2(w + b + 1, x + b + 1, a1, vnni);
            Q8_PREFETCH(w + b);
        }
        if (b < nb) a0 = q8_block_avx2(w + b, x + b, a0, vnni);
        y[r] = hg_hsum256(_mm256_add_ps(a0, a1));
    }
}

AVX2 static void rows_q8_0_avx2(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    q8_rows_avx2(y, W, xv, r0, r1, 0);
}

AVX2 static void rows_q8_0_avxvnni(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    q8_rows_avx2(y, W, xv, r0, r1, 1);
}

/* nt (1..4) inputs at once: each block of w loaded once for all of them. */
__attribute__((always_inline)) AVX2 static inline void q8_rows_nt_avx2(float *Y, int ldy, const hg_block_q8_0 *w,
                                                                       const hg_block_xq8 *X, int nbx, int nb, int nt, int vnni)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        Q8_PREFETCH(w + b);
        /* |w| once for all inputs; w's sign goes onto each x */
        __m256i wv = _mm256_loadu_si256((const __m256i *)w[b].qs), aw = _mm256_sign_epi8(wv, wv);
        __m256 dw = _mm256_set1_ps(_cvtsh_ss(w[b].d));
        UNROLL
        for (int j = 0; j < nt; j++) {
            const hg_block_xq8 *x = X + (size_t)j * nbx + b;
            __m256 p = _mm256_cvtepi32_ps(dot4_u8s8(aw, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)x->qs), wv), vnni));
            acc[j] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw, _mm256_broadcast_ss(&x->d)), acc[j]);
        }
    }
    UNROLL
    for (int j = 0; j < nt; j++) Y[(size_t)j * ldy] = hg_hsum256(acc[j]);
}

/* The sums of the pair kernels, lanes [r0 t, r1 t, r0 t+1, r1 t+1], to
 * Y[t][r0..r1] and (two inputs) Y[t+1][r0..r1]. */
__attribute__((always_inline)) static inline void store_pairs(float *Y, int ldy, __m128 v, int two)
{
    float out[4];
    _mm_storeu_ps(out, v);
    Y[0] = out[0];
    Y[1] = out[1];
    if (two) {
        Y[ldy] = out[2];
        Y[ldy + 1] = out[3];
    }
}

/* Two rows for nt (1..4) inputs: each x block (and |x|) loaded once for both
 * rows, w's signs moved onto x.  The int32 sums of the two rows go into one
 * vector (vphaddd), those of two inputs into one again, so that one
 * conversion, one scale product and one FMA serve four (row, input) pairs:
 * lanes [r0 t, r1 t, r0 t+1, r1 t+1] of each half of the block, scaled by
 * [d0, d1, d0, d1] times [dx t, dx t, dx t+1, dx t+1]. */
__attribute__((always_inline)) AVX2 static inline void q8_rows2_nt_avx2(float *Y, int ldy, const hg_block_q8_0 *w0,
                                                                        const hg_block_q8_0 *w1, const hg_block_xq8 *X,
                                                                        int nb, int nt, int vnni)
{
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    size_t rb = (size_t)nb * sizeof(hg_block_q8_0);
    for (int b = 0; b < nb; b++) {
        prefetch_tile_row(w0, (size_t)b * sizeof(hg_block_q8_0), rb, 2);
        prefetch_tile_row(w1, (size_t)b * sizeof(hg_block_q8_0), rb, 2);
        __m256i v0 = _mm256_loadu_si256((const __m256i *)w0[b].qs), v1 = _mm256_loadu_si256((const __m256i *)w1[b].qs);
        __m256i a0 = _mm256_abs_epi8(v0), a1 = _mm256_abs_epi8(v1); /* |w| once for all inputs */
        __m128 d01 = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(w0[b].d | (unsigned)w1[b].d << 16)));
        __m256 dw = _mm256_castpd_ps(_mm256_broadcastsd_pd(_mm_castps_pd(d01))); /* d0 d1 d0 d1 ... */
        UNROLL
        for (int t = 0; t < nt; t += 2) { /* a pair of inputs at a time: few live registers */
            __m256i h[2];
            UNROLL
            for (int j = 0; j < 2; j++) {
                if (t + j >= nt) break;
                const hg_block_xq8 *x = X + (size_t)(t + j) * nb + b;
                __m256i xv = _mm256_loadu_si256((const __m256i *)x->qs);
                __m256i p0 = dot4_u8s8(a0, _mm256_sign_epi8(xv, v0), vnni);
                __m256i p1 = dot4_u8s8(a1, _mm256_sign_epi8(xv, v1), vnni);
                h[j] = _mm256_hadd_epi32(p0, p1);
            }
            const hg_block_xq8 *x = X + (size_t)t * nb + b;
            __m256i g = _mm256_hadd_epi32(h[0], t + 1 < nt ? h[1] : _mm256_setzero_si256());
            __m256 dx = _mm256_broadcast_ss(&x->d);
            if (t + 1 < nt) dx = _mm256_blend_ps(dx, _mm256_broadcast_ss(&x[nb].d), 0xcc);
            acc[t / 2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(g), _mm256_mul_ps(dw, dx), acc[t / 2]);
        }
    }
    UNROLL
    for (int t = 0; t < nt; t += 2)
        store_pairs(Y + (size_t)t * ldy, ldy,
                    _mm_add_ps(_mm256_castps256_ps128(acc[t / 2]), _mm256_extractf128_ps(acc[t / 2], 1)), t + 1 < nt);
}

/* q4 batch rows and expansion (the one-input rows: kernels_x86_q4.c): the
 * 32 nibbles of a block unpacked to u8 (values 0..15, the low
 * nibbles in the low lane, the high ones in the high lane), times x's int8
 * by vpmaddubsw (u8 x s8: no sign trick needed), pairs summed by vpmaddwd;
 * the zero point enters once per block as d z sx (sx = dx sum(qx)). */
AVX2 static inline __m256i q4_unpack_avx2(const uint8_t *qs)
{
    __m128i v = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(15);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

AVX2 static inline float q4_d_avx2(uint16_t dz) { return _cvtsh_ss(hg_q4_f16(dz)) * 0x1p-8f; }

/* nt (1..4) inputs at once: each block of w unpacked once for all of them. */
__attribute__((always_inline)) AVX2 static inline void q4_rows_nt_avx2(float *Y, int ldy, const hg_block_q4 *w,
                                                                       const hg_block_xq8 *X, int nbx, int nb, int nt, int vnni)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float corr[4] = {0, 0, 0, 0};
    for (int b = 0; b < nb; b++) {
        prefetch_tile_row(w, (size_t)b * sizeof(hg_block_q4), (size_t)nb * sizeof(hg_block_q4), 1);
        __m256i wv = q4_unpack_avx2(w[b].qs);
        float d = q4_d_avx2(w[b].dz), dz = d * (float)(w[b].dz >> 12);
        UNROLL
        for (int j = 0; j < nt; j++) {
            const hg_block_xq8 *x = X + (size_t)j * nbx + b;
            __m256 p = _mm256_cvtepi32_ps(dot4_u8s8(wv, _mm256_loadu_si256((const __m256i *)x->qs), vnni));
            acc[j] = _mm256_fmadd_ps(p, _mm256_set1_ps(d * x->d), acc[j]);
            corr[j] += dz * x->s;
        }
    }
    for (int j = 0; j < nt; j++) Y[(size_t)j * ldy] = hg_hsum256(acc[j]) - corr[j];
}

/* Two rows for nt (1..4) inputs, as the q8_0 pair kernel: the int32 sums of
 * two rows and two inputs merged by vphaddd into lanes [r0 t, r1 t, r0 t+1,
 * r1 t+1] of each half, scaled by [d0, d1, d0, d1] times [dx t, dx t,
 * dx t+1, dx t+1]; the zero points' share d z s in a 128-bit accumulator of
 * the same four pairs. */
__attribute__((always_inline)) AVX2 static inline void q4_rows2_nt_avx2(float *Y, int ldy, const hg_block_q4 *w0,
                                                                        const hg_block_q4 *w1, const hg_block_xq8 *X,
                                                                        int nb, int nt, int vnni)
{
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128 corr[2] = {_mm_setzero_ps(), _mm_setzero_ps()};
    size_t rb = (size_t)nb * sizeof(hg_block_q4);
    for (int b = 0; b < nb; b++) {
        prefetch_tile_row(w0, (size_t)b * sizeof(hg_block_q4), rb, 2);
        prefetch_tile_row(w1, (size_t)b * sizeof(hg_block_q4), rb, 2);
        __m256i u0 = q4_unpack_avx2(w0[b].qs), u1 = q4_unpack_avx2(w1[b].qs);
        unsigned dz0 = w0[b].dz, dz1 = w1[b].dz;
        /* d = the f16 hg_q4_f16 times 2^-8 (as q4_d_avx2); z = dz >> 12 */
        __m128 d01 = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)(hg_q4_f16(dz0) | (unsigned)hg_q4_f16(dz1) << 16))),
                                _mm_set1_ps(0x1p-8f));
        __m128 z01 = _mm_cvtepi32_ps(_mm_set_epi32(0, 0, (int)(dz1 >> 12), (int)(dz0 >> 12)));
        __m128 dz = _mm_mul_ps(d01, z01);
        dz = _mm_movelh_ps(dz, dz);                                                /* d0z0 d1z1 d0z0 d1z1 */
        __m256 dw = _mm256_castpd_ps(_mm256_broadcastsd_pd(_mm_castps_pd(d01))); /* d0 d1 d0 d1 ...     */
        UNROLL
        for (int t = 0; t < nt; t += 2) {
            __m256i h[2];
            UNROLL
            for (int j = 0; j < 2; j++) {
                if (t + j >= nt) break;
                __m256i xv = _mm256_loadu_si256((const __m256i *)X[(size_t)(t + j) * nb + b].qs);
                __m256i p0 = dot4_u8s8(u0, xv, vnni);
                __m256i p1 = dot4_u8s8(u1, xv, vnni);
                h[j] = _mm256_hadd_epi32(p0, p1);
            }
            const hg_block_xq8 *x = X + (size_t)t * nb + b;
            __m256i g = _mm256_hadd_epi32(h[0], t + 1 < nt ? h[1] : _mm256_setzero_si256());
            __m256 dx = _mm256_broadcast_ss(&x->d);
            __m128 sx = _mm_broadcast_ss(&x->s);
            if (t + 1 < nt) {
                dx = _mm256_blend_ps(dx, _mm256_broadcast_ss(&x[nb].d), 0xcc);
                sx = _mm_blend_ps(sx, _mm_broadcast_ss(&x[nb].s), 0xc);
            }
            acc[t / 2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(g), _mm256_mul_ps(dw, dx), acc[t / 2]);
            corr[t / 2] = _mm_fmadd_ps(dz, sx, corr[t / 2]);
        }
    }
    UNROLL
    for (int t = 0; t < nt; t += 2) {
        __m128 sum = _mm_add_ps(_mm256_castps256_ps128(acc[t / 2]), _mm256_extractf128_ps(acc[t / 2], 1));
        store_pairs(Y + (size_t)t * ldy, ldy, _mm_sub_ps(sum, corr[t / 2]), t + 1 < nt);
    }
}

/* Rows of 32-weight blocks (q8_0, q4) for T inputs: pairs of rows, then a last one. */
__attribute__((always_inline)) AVX2 static inline void block_rows_n_avx2(float *Y, const hg_mat *W, const hg_block_xq8 *X,
                                                                         int T, int r0, int r1, int q4, int vnni)
{
    int nb = W->cols / HG_QK, n = W->rows;
    size_t rb = (size_t)nb * (q4 ? sizeof(hg_block_q4) : sizeof(hg_block_q8_0));
#define TILE(t, nt)                                                                                                    \
    do {                                                                                                               \
        float *y_ = Y + (size_t)(t) * n + r;                                                                           \
        const hg_block_xq8 *x_ = X + (size_t)(t) * nb;                                                                 \
        if (q4 && nr == 2)                                                                                             \
            q4_rows2_nt_avx2(y_, n, (const hg_block_q4 *)w, (const hg_block_q4 *)(w + rb), x_, nb, nt, vnni);         \
        else if (nr == 2)                                                                                              \
            q8_rows2_nt_avx2(y_, n, (const hg_block_q8_0 *)w, (const hg_block_q8_0 *)(w + rb), x_, nb, nt, vnni);     \
        else if (q4)                                                                                                   \
            q4_rows_nt_avx2(y_, n, (const hg_block_q4 *)w, x_, nb, nb, nt, vnni);                                      \
        else                                                                                                           \
            q8_rows_nt_avx2(y_, n, (const hg_block_q8_0 *)w, x_, nb, nb, nt, vnni);                                    \
    } while (0)
    BY_ROW_PAIRS(T, W->data, rb, r0, r1, TILE);
#undef TILE
}

AVX2 static void rows_n_q8_0_avx2(float *Y, const hg_mat *W, const void *X, int T, int r0, int r1)
{
    block_rows_n_avx2(Y, W, X, T, r0, r1, 0, 0);
}

AVX2 static void rows_n_q8_0_avxvnni(float *Y, const hg_mat *W, const void *X, int T, int r0, int r1)
{
    block_rows_n_avx2(Y, W, X, T, r0, r1, 0, 1);
}

AVX2 static void rows_n_q4_avx2(float *Y, const hg_mat *W, const void *X, int T, int r0, int r1)
{
    block_rows_n_avx2(Y, W, X, T, r0, r1, 1, 0);
}

AVX2 static void rows_n_q4_avxvnni(float *Y, const hg_mat *W, const void *X, int T, int r0, int r1)
{
    block_rows_n_avx2(Y, W, X, T, r0, r1, 1, 1);
}

/* f32 and bf16 rows: tiles of up to two rows by four inputs, eight
 * accumulators (each row's loads shared by the inputs, each input's by the
 * rows), 64 bytes of each row per step (one prefetch per row), reduced to
 * one vector of eight sums by a horizontal-add tree. */
__attribute__((always_inline)) AVX2 static inline __m256 reduce8_avx2(const __m256 *v)
{
    __m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
    __m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
    t0 = _mm256_hadd_ps(t0, t1);
    t2 = _mm256_hadd_ps(t2, t3);
    /* lane i of the result: the sum of v[i] */
    return _mm256_add_ps(_mm256_permute2f128_ps(t0, t2, 0x20), _mm256_permute2f128_ps(t0, t2, 0x31));
}

__attribute__((always_inline)) AVX2 static inline __m256 load8_avx2(const char *w, int k, int bf16)
{
    return bf16 ? bf16x8_avx2((const uint16_t *)w + k) : _mm256_loadu_ps((const float *)w + k);
}

/* nr (1..2) rows from w (rb bytes apart) for nt (1..4) inputs: Y[t][r], rows ldy apart. */
__attribute__((always_inline)) AVX2 static inline void wide_tile_avx2(float *Y, int ldy, const char *w, const float *X,
                                                                      int K, int nr, int nt, int bf16)
{
    size_t es = bf16 ? 2 : 4, rb = (size_t)K * es;
    const int step = bf16 ? 32 : 16; /* values in 64 bytes */
    __m256 acc[8];
    UNROLL
    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    int k = 0;
#define WIDE_STEP(kk)                                                                                                  \
    do {                                                                                                               \
        __m256 w0 = load8_avx2(w, kk, bf16), w1 = nr > 1 ? load8_avx2(w + rb, kk, bf16) : w0;                          \
        UNROLL                                                                                                         \
        for (int t = 0; t < nt; t++) {                                                                                 \
            __m256 xv = _mm256_loadu_ps(X + (size_t)t * K + (kk));                                                     \
            acc[2 * t] = _mm256_fmadd_ps(w0, xv, acc[2 * t]);                                                          \
            if (nr > 1) acc[2 * t + 1] = _mm256_fmadd_ps(w1, xv, acc[2 * t + 1]);                                      \
        }                                                                                                              \
    } while (0)
    for (; k + step <= K; k += step) {
        UNROLL
        for (int r = 0; r < nr; r++) prefetch_tile_row(w + (size_t)r * rb, (size_t)k * es, rb, nr);
        UNROLL
        for (int u = 0; u < step; u += 8) WIDE_STEP(k + u);
    }
    for (; k + 8 <= K; k += 8) WIDE_STEP(k);
#undef WIDE_STEP
    float out[8];
    _mm256_storeu_ps(out, reduce8_avx2(acc));
    UNROLL
    for (int t = 0; t < nt; t++)
        UNROLL
        for (int r = 0; r < nr; r++) {
            const char *wr = w + (size_t)r * rb;
            float s = out[2 * t + r];
            for (int i = k; i < K; i++)
                s += (bf16 ? hg_bf16_to_f32(((const uint16_t *)wr)[i]) : ((const float *)wr)[i]) * X[(size_t)t * K + i];
            Y[(size_t)t * ldy + r] = s;
        }
}

__attribute__((always_inline)) AVX2 static inline void wide_rows_n_avx2(float *Y, const hg_mat *W, const float *X, int T,
                                                                        int r0, int r1, int bf16)
{
    int K = W->cols, n = W->rows;
    size_t rb = (size_t)K * (bf16 ? 2 : 4);
#define TILE(t, nt) wide_tile_avx2(Y + (size_t)(t) * n + r, n, w, X + (size_t)(t) * K, K, nr, nt, bf16)
    BY_ROW_PAIRS(T, W->data, rb, r0, r1, TILE);
#undef TILE
}

AVX2 static void rows_n_bf16_avx2(float *Y, const hg_mat *W, const void *X, int T, int r0, int r1)
{
    wide_rows_n_avx2(Y, W, X, T, r0, r1, 1);
}

AVX2 static void rows_n_f32_avx2(float *Y, const hg_mat *W, const void *X, int T, int r0, int r1)
{
    wide_rows_n_avx2(Y, W, X, T, r0, r1, 0);
}

/* Rows expanded to f32 for the prefill panels. */
AVX2 static void bf16_to_f32_avx2(const void *src, float *dst, int n)
{
    const uint16_t *w = src;
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, bf16x8_avx2(w + i));
    for (; i < n; i++) dst[i] = hg_bf16_to_f32(w[i]);
}

AVX2 static void q4_to_f32_avx2(const void *src, float *dst, int n)
{
    const hg_block_q4 *b = src;
    for (int i = 0; i < n / HG_QK; i++) {
        __m256 d = _mm256_set1_ps(q4_d_avx2(b[i].dz));
        __m256i z = _mm256_set1_epi32(b[i].dz >> 12);
        __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs), m = _mm_set1_epi8(15);
        __m128i part[4];
        part[0] = _mm_and_si128(v, m);                        /* values 0..15 */
        part[2] = _mm_and_si128(_mm_srli_epi16(v, 4), m);     /* values 16..31 */
        part[1] = _mm_srli_si128(part[0], 8);
        part[3] = _mm_srli_si128(part[2], 8);
        for (int g = 0; g < 4; g++) {
            __m256i q = _mm256_sub_epi32(_mm256_cvtepu8_epi32(part[g]), z);
            _mm256_storeu_ps(dst + (size_t)i * HG_QK + 8 * g, _mm256_mul_ps(d, _mm256_cvtepi32_ps(q)));
        }
    }
}

AVX2 static void q8_0_to_f32_avx2(const void *src, float *dst, int n)
{
    const hg_block_q8_0 *b = src;
    for (int i = 0; i < n / HG_QK; i++) {
        __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
        for (int j = 0; j < HG_QK; j += 8) {
            __m128i q;
            memcpy(&q, b[i].qs + j, 8);
            _mm256_storeu_ps(dst + i * HG_QK + j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
        }
    }
}

/* C(m, 16) += A(m, k) B(k, 16) for m <= 6 (one panel): 6 x 2 accumulators,
 * a broadcast of A and two loads of B per k. */
AVX2 static void gemm6x16_avx2(float *C, int ldc, const float *A, int lda, const float *B, size_t bstride, int k, int m,
                               int np)
{
    const float *a[6];
    for (int j = 0; j < 6; j++) a[j] = A + (size_t)(j < m ? j : 0) * lda;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
           c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(B + (size_t)p * 16), b1 = _mm256_loadu_ps(B + (size_t)p * 16 + 8), av;
        av = _mm256_broadcast_ss(a[0] + p);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a[1] + p);
        c10 = _mm256_fmadd_ps(av, b0, c10);
        c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a[2] + p);
        c20 = _mm256_fmadd_ps(av, b0, c20);
        c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a[3] + p);
        c30 = _mm256_fmadd_ps(av, b0, c30);
        c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a[4] + p);
        c40 = _mm256_fmadd_ps(av, b0, c40);
        c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a[5] + p);
        c50 = _mm256_fmadd_ps(av, b0, c50);
        c51 = _mm256_fmadd_ps(av, b1, c51);
    }
    __m256 c[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    for (int j = 0; j < m; j++) {
        float *cj = C + (size_t)j * ldc;
        _mm256_storeu_ps(cj, _mm256_add_ps(_mm256_loadu_ps(cj), c[2 * j]));
        _mm256_storeu_ps(cj + 8, _mm256_add_ps(_mm256_loadu_ps(cj + 8), c[2 * j + 1]));
    }
}

AVX2 static float dot_avx2(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float s = hg_hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

AVX2 static void axpy_avx2(float *y, float a, const float *x, int n)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* CPU detection through platform.h (CPUID): clang's __builtin_cpu_supports
 * does not know every name gcc's does (f16c, amx-tile). */
static int have_avx2(void)
{
    unsigned need = HG_X86_AVX2 | HG_X86_FMA | HG_X86_F16C;
    return (hg_x86_features() & need) == need;
}

/* The AVX2 kernel set; the avxvnni variant differs only in its q8_0/q4
 * rows and q8_0/q4 batch rows. */
#define AVX2_VARIANT(NAME, AVAILABLE, ROWS_Q8, ROWS_Q4, ROWS_N_Q8, ROWS_N_Q4)                                        \
    {NAME,                                                                                                            \
     AVAILABLE,                                                                                                       \
     {rows_f32_avx2, rows_bf16_avx2, ROWS_Q8, ROWS_Q4},                                                               \
     {rows_n_f32_avx2, rows_n_bf16_avx2, ROWS_N_Q8, ROWS_N_Q4},                                                       \
     gemm6x16_avx2,                                                                                                   \
     {NULL, bf16_to_f32_avx2, q8_0_to_f32_avx2, q4_to_f32_avx2},                                                      \
     dot_avx2,                                                                                                        \
     axpy_avx2,                                                                                                       \
     hg_swiglu_generic,                                                                                               \
     hg_rmsnorm_generic,                                                                                              \
     .amx = 0,                                                                                                        \
     .gemm_mr = 6,                                                                                                    \
     .gemm_np = 1,                                                                                                    \
     .vectors = "avx2"}

const hg_kernel_variant hg_variant_avx2 =
    AVX2_VARIANT("avx2", have_avx2, rows_q8_0_avx2, hg_rows_q4_avx2, rows_n_q8_0_avx2, rows_n_q4_avx2);

/* AVX2 with AVX-VNNI (the VEX vpdpbusd; Alder Lake and later client chips,
 * which have no AVX-512): the avx2 kernels, the q8_0/q4 rows and the
 * q8_0/q4 batch rows summing their int8 products with vpdpbusd. */
static int have_avxvnni(void) { return have_avx2() && (hg_x86_features() & HG_X86_AVXVNNI); }

const hg_kernel_variant hg_variant_avxvnni =
    AVX2_VARIANT("avxvnni", have_avxvnni, rows_q8_0_avxvnni, hg_rows_q4_avxvnni, rows_n_q8_0_avxvnni,
                 rows_n_q4_avxvnni);

/* ------------------------------------------------------------- AVX-512 */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))

/* C(m, 16 np) += A(m, k) [B_0 B_1] for m <= 8, np <= 2: 8 x np zmm
 * accumulators, per k np loads of B and 8 broadcasts of A (16 FMAs to 10
 * loads with two panels; 26 of the 32 registers, so nothing spills).  Rows
 * past m repeat row 0 and are not stored. */
#define GEMM512_STEP(J)                                                                                            \
    do {                                                                                                           \
        __m512 av = _mm512_set1_ps(a[J][p]);                                                                       \
        c##J##0 = _mm512_fmadd_ps(av, b0, c##J##0);                                                                \
        if (two) c##J##1 = _mm512_fmadd_ps(av, b1, c##J##1);                                                       \
    } while (0)

__attribute__((always_inline)) AVX512 static inline void gemm8_avx512(float *C, int ldc, const float *A, int lda,
                                                                      const float *B, size_t bstride, int k, int m,
                                                                      const int two)
{
    const float *a[8];
    for (int j = 0; j < 8; j++) a[j] = A + (size_t)(j < m ? j : 0) * lda;
    const float *B1 = B + bstride;
    __m512 z = _mm512_setzero_ps();
    __m512 c00 = z, c10 = z, c20 = z, c30 = z, c40 = z, c50 = z, c60 = z, c70 = z;
    __m512 c01 = z, c11 = z, c21 = z, c31 = z, c41 = z, c51 = z, c61 = z, c71 = z;
    for (int p = 0; p < k; p++) {
        __m512 b0 = _mm512_loadu_ps(B + (size_t)p * 16), b1 = two ? _mm512_loadu_ps(B1 + (size_t)p * 16) : z;
        GEMM512_STEP(0);
        GEMM512_STEP(1);
        GEMM512_STEP(2);
        GEMM512_STEP(3);
        GEMM512_STEP(4);
        GEMM512_STEP(5);
        GEMM512_STEP(6);
        GEMM512_STEP(7);
    }
    __m512 c[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    for (int j = 0; j < m; j++)
        for (int i = 0; i < 1 + two; i++) {
            float *cj = C + (size_t)j * ldc + 16 * i;
            _mm512_storeu_ps(cj, _mm512_add_ps(_mm512_loadu_ps(cj), c[j][i]));
        }
}

AVX512 static void gemm8x32_avx512(float *C, int ldc, const float *A, int lda, const float *B, size_t bstride, int k,
                                   int m, int np)
{
    if (np == 2) gemm8_avx512(C, ldc, A, lda, B, bstride, k, m, 1);
    else gemm8_avx512(C, ldc, A, lda, B, bstride, k, m, 0);
}

AVX512 static void rows_f32_avx512(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    const float *x = xv;
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

/* Sixteen accumulators to one vector: lane i holds the sum of v[i]. */
__attribute__((always_inline)) AVX512 static inline __m512 reduce16_avx512(const __m512 *v)
{
    __m512 a[8], b[4];
    UNROLL
    for (int i = 0; i < 8; i++) /* per 128-bit quad: [x0+x2, y0+y2, x1+x3, y1+y3] */
        a[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    UNROLL
    for (int i = 0; i < 4; i++) { /* per quad: the quad's partial sums of v[4i .. 4i+3] */
        __m512d x = _mm512_castps_pd(a[2 * i]), y = _mm512_castps_pd(a[2 * i + 1]);
        b[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    __m512 e0 = _mm512_add_ps(_mm512_shuffle_f32x4(b[0], b[1], 0x88), _mm512_shuffle_f32x4(b[0], b[1], 0xdd));
    __m512 e1 = _mm512_add_ps(_mm512_shuffle_f32x4(b[2], b[3], 0x88), _mm512_shuffle_f32x4(b[2], b[3], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(e0, e1, 0x88), _mm512_shuffle_f32x4(e0, e1, 0xdd));
}

/* f32 rows: tiles of four rows by four inputs, sixteen accumulators; the
 * row loads are shared by the inputs and the input loads by the rows, so a
 * tile is FMA-bound.  nr (1..4) rows w (K apart), nt (1..4) inputs. */
__attribute__((always_inline)) AVX512 static inline void f32_tile_avx512(float *Y, int ldy, const float *w,
                                                                        const float *X, int K, int nr, int nt)
{
    __m512 acc[16];
    UNROLL
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 wv[4];
        UNROLL
        for (int r = 0; r < nr; r++) wv[r] = _mm512_loadu_ps(w + (size_t)r * K + k);
        UNROLL
        for (int t = 0; t < nt; t++) {
            __m512 xv = _mm512_loadu_ps(X + (size_t)t * K + k);
            UNROLL
            for (int r = 0; r < nr; r++) acc[4 * t + r] = _mm512_fmadd_ps(wv[r], xv, acc[4 * t + r]);
        }
    }
    if (k < K) {
        __mmask16 m = (__mmask16)((1u << (K - k)) - 1);
        __m512 wv[4];
        UNROLL
        for (int r = 0; r < nr; r++) wv[r] = _mm512_maskz_loadu_ps(m, w + (size_t)r * K + k);
        UNROLL
        for (int t = 0; t < nt; t++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, X + (size_t)t * K + k);
            UNROLL
            for (int r = 0; r < nr; r++) acc[4 * t + r] = _mm512_fmadd_ps(wv[r], xv, acc[4 * t + r]);
        }
    }
    float out[16];
    _mm512_storeu_ps(out, reduce16_avx512(acc));
    UNROLL
    for (int t = 0; t < nt; t++)
        UNROLL
        for (int r = 0; r < nr; r++) Y[(size_t)t * ldy + r] = out[4 * t + r];
}

AVX512 static void rows_n_f32_avx512(float *Y, const hg_mat *W, const void *Xv, int T, int r0, int r1)
{
    int K = W->cols, n = W->rows;
    const float *X = Xv;
    int r = r0;
#define GROUP(t, nt) f32_tile_avx512(Y + (size_t)(t) * n + r, n, w, X + (size_t)(t) * K, K, NR, nt)
    for (; r + 4 <= r1; r += 4) {
        const float *w = (const float *)W->data + (size_t)r * K;
#define NR 4
        BY_INPUT_GROUPS(T, GROUP);
#undef NR
    }
    const float *w = (const float *)W->data + (size_t)r * K;
    switch (r1 - r) {
#define NR 3
    case 3: BY_INPUT_GROUPS(T, GROUP); break;
#undef NR
#define NR 2
    case 2: BY_INPUT_GROUPS(T, GROUP); break;
#undef NR
#define NR 1
    case 1: BY_INPUT_GROUPS(T, GROUP); break;
#undef NR
    }
#undef GROUP
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
    unsigned need = HG_X86_AVX512F | HG_X86_AVX512BW | HG_X86_AVX512VL | HG_X86_FMA;
    return (hg_x86_features() & need) == need;
}

const hg_kernel_variant hg_variant_avx512 = {"avx512",
                                             have_avx512,
                                             {rows_f32_avx512, rows_bf16_avx2, rows_q8_0_avx2, hg_rows_q4_avx512},
                                             {rows_n_f32_avx512, rows_n_bf16_avx2, rows_n_q8_0_avx2, rows_n_q4_avx2},
                                             gemm8x32_avx512,
                                           {NULL, bf16_to_f32_avx2, q8_0_to_f32_avx2, q4_to_f32_avx2},
                                             dot_avx512,
                                             axpy_avx512,
                                             swiglu_avx512,
                                             rmsnorm_avx512,
                                           .amx = 0, .gemm_mr = 8, .gemm_np = 2, .vectors = "avx512"};

/* ------------------------------------------------------ AVX-512 BF16 */

/* q8_0 rows with VNNI: as the AVX2 kernel, with vpdpbusd (256-bit, AVX512-VL)
 * doing the u8 x s8 products and their sums of 4 in one instruction. */
#define AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma,f16c")))

AVX512VNNI static inline __m256 q8_block_vnni(const hg_block_q8_0 *w, const hg_block_xq8 *x, __m256 acc)
{
    __m256i xv = _mm256_loadu_si256((const __m256i *)x->qs), wv = _mm256_loadu_si256((const __m256i *)w->qs);
    __m256i d = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(xv, xv), _mm256_sign_epi8(wv, xv));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(_cvtsh_ss(w->d) * x->d), acc);
}

AVX512VNNI static void rows_q8_0_vnni(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    int nb = W->cols / HG_QK;
    const hg_block_xq8 *x = xv;
    for (int r = r0; r < r1; r++) {
        const hg_block_q8_0 *w = (const hg_block_q8_0 *)W->data + (size_t)r * nb;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int b = 0;
        for (; b + 2 <= nb; b += 2) {
            a0 = q8_block_vnni(w + b, x + b, a0);
            a1 = q8_block_vnni(w + b + 1, x + b + 1, a1);
            Q8_PREFETCH(w + b);
        }
        if (b < nb) a0 = q8_block_vnni(w + b, x + b, a0);
        __m256 a = _mm256_add_ps(a0, a1);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        y[r] = _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
    }
}

/* q8_0 and q4 batch kernels with VNNI on 512 bits: two blocks per register
 * (x's and w's 32-byte blocks side by side; q4 nibbles unpacked and less
 * their zero point, so both are signed bytes), x biased to u8 (x + 128) once
 * per input so that vpdpbusd takes w as it is; the bias's share 128 sum(w)
 * is taken off by starting each sum at -128 sum(w) (once per row and block
 * pair, for all inputs).  Tiles of two rows by four inputs; each block's
 * int32 sums scaled by dw dx (lanes 0..7 the first block's, 8..15 the
 * second's) into f32 accumulators. */
AVX512VNNI static inline __m512i q8_load2_vnni(const int8_t *a, const int8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* Two blocks of row wr (q8_0 or q4) from block b as signed bytes (a q4
 * value less its block's zero point: -15..15) and their scales, lanes 0..7
 * the first block's, 8..15 the second's; an odd last block (two = 0) leaves
 * the upper half zero. */
__attribute__((always_inline)) AVX512VNNI static inline __m512i vnni_load_w2(const char *wr, int b, int two, int q4,
                                                                            __m512 *dw)
{
    const __m512i pair = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    if (!q4) {
        const hg_block_q8_0 *w = (const hg_block_q8_0 *)wr + b;
        unsigned d2 = w[0].d | (two ? (unsigned)w[1].d << 16 : 0u);
        *dw = _mm512_permutexvar_ps(pair, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)d2))));
        return two ? q8_load2_vnni(w[0].qs, w[1].qs) : _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)w[0].qs));
    }
    const hg_block_q4 *w = (const hg_block_q4 *)wr + b;
    unsigned dz0 = w[0].dz, dz1 = two ? w[1].dz : 0u;
    __m256i v = _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)w[0].qs)), m = _mm256_set1_epi8(15);
    v = two ? _mm256_inserti128_si256(v, _mm_loadu_si128((const __m128i *)w[1].qs), 1)
            : _mm256_inserti128_si256(v, _mm_setzero_si128(), 1);
    /* [lo b, lo b+1, hi b, hi b+1] -> [lo b, hi b, lo b+1, hi b+1] (values j, j + 16 of each block) */
    __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m)),
                                   _mm256_and_si256(_mm256_srli_epi16(v, 4), m), 1);
    q = _mm512_shuffle_i64x2(q, q, _MM_SHUFFLE(3, 1, 2, 0));
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8((char)(dz0 >> 12))),
                                   _mm256_set1_epi8((char)(dz1 >> 12)), 1);
    unsigned d2 = hg_q4_f16(dz0) | (unsigned)hg_q4_f16(dz1) << 16;
    *dw = _mm512_mul_ps(_mm512_permutexvar_ps(pair, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)d2)))),
                        _mm512_set1_ps(0x1p-8f));
    return _mm512_sub_epi8(q, z);
}

/* nr (1..2) rows of q8_0 or q4 blocks (rb bytes apart) for nt (1..4) inputs. */
__attribute__((always_inline)) AVX512VNNI static inline void block_tile_vnni(float *Y, int ldy, const char *w,
                                                                            const hg_block_xq8 *X, int nb, int nr,
                                                                            int nt, int q4)
{
    __m512 acc[16];
    UNROLL
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    const __m512i bias = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    size_t bs = q4 ? sizeof(hg_block_q4) : sizeof(hg_block_q8_0), rb = (size_t)nb * bs;
    for (int b = 0; b < nb; b += 2) {
        int two = b + 1 < nb; /* an odd last block: the upper half stays zero */
        __m512i wv[2], nc[2];
        __m512 dw[2];
        UNROLL
        for (int r = 0; r < nr; r++) {
            const char *wr = w + (size_t)r * rb;
            prefetch_tile_row(wr, (size_t)b * bs, rb, nr);
            if (!q4) prefetch_tile_row(wr, (size_t)b * bs + 64, rb, nr); /* 68 bytes a step */
            wv[r] = vnni_load_w2(wr, b, two, q4, &dw[r]);
            nc[r] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, wv[r]));
        }
        UNROLL
        for (int t = 0; t < nt; t++) {
            const hg_block_xq8 *xt = X + (size_t)t * nb + b;
            __m512i xv = _mm512_xor_si512(two ? q8_load2_vnni(xt[0].qs, xt[1].qs)
                                              : _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)xt[0].qs)),
                                          bias);
            __m512 dx = _mm512_mask_broadcastss_ps(_mm512_set1_ps(xt[0].d), (__mmask16)0xff00,
                                                   _mm_set_ss(two ? xt[1].d : 0.0f));
            UNROLL
            for (int r = 0; r < nr; r++) {
                __m512i p = _mm512_dpbusd_epi32(nc[r], xv, wv[r]);
                acc[4 * t + r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw[r], dx), acc[4 * t + r]);
            }
        }
    }
    float out[16];
    _mm512_storeu_ps(out, reduce16_avx512(acc));
    UNROLL
    for (int t = 0; t < nt; t++) {
        UNROLL
        for (int r = 0; r < nr; r++) Y[(size_t)t * ldy + r] = out[4 * t + r];
    }
}

__attribute__((always_inline)) AVX512VNNI static inline void block_rows_n_vnni(float *Y, const hg_mat *W,
                                                                              const hg_block_xq8 *X, int T, int r0,
                                                                              int r1, int q4)
{
    int nb = W->cols / HG_QK, n = W->rows;
    size_t rb = (size_t)nb * (q4 ? sizeof(hg_block_q4) : sizeof(hg_block_q8_0));
#define TILE(t, nt) block_tile_vnni(Y + (size_t)(t) * n + r, n, w, X + (size_t)(t) * nb, nb, nr, nt, q4)
    BY_ROW_PAIRS(T, W->data, rb, r0, r1, TILE);
#undef TILE
}

AVX512VNNI static void rows_n_q8_0_vnni(float *Y, const hg_mat *W, const void *X, int T, int r0, int r1)
{
    block_rows_n_vnni(Y, W, X, T, r0, r1, 0);
}

AVX512VNNI static void rows_n_q4_vnni(float *Y, const hg_mat *W, const void *X, int T, int r0, int r1)
{
    block_rows_n_vnni(Y, W, X, T, r0, r1, 1);
}

static int have_avx512vnni(void)
{
    return (hg_x86_features() & HG_X86_AVX512VNNI) != 0;
}

static int have_avx512bf16(void)
{
    return have_avx512() && (hg_x86_features() & HG_X86_AVX512BF16) && have_avx512vnni();
}

const hg_kernel_variant hg_variant_avx512bf16 = {"avx512bf16",
                                                 have_avx512bf16,
                                                 {rows_f32_avx512, rows_bf16_avx2, rows_q8_0_vnni, hg_rows_q4_vnni},
                                                 {rows_n_f32_avx512, rows_n_bf16_avx2, rows_n_q8_0_vnni, rows_n_q4_vnni},
                                                 gemm8x32_avx512,
                                           {NULL, bf16_to_f32_avx2, q8_0_to_f32_avx2, q4_to_f32_avx2},
                                                 dot_avx512,
                                                 axpy_avx512,
                                                 swiglu_avx512,
                                                 rmsnorm_avx512,
                                                 .amx = 1, .gemm_mr = 8, .gemm_np = 2, .vectors = "avx512"};
