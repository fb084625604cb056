/* kernels_arm.c — NEON variants of the kernels (aarch64 builds only),
 * compiled with target attributes and chosen at run time from the CPU's
 * HWCAP bits (platform.h), so one binary runs on every ARMv8 CPU:
 *
 *   neon          ARMv8.0 (Cortex-A53/A72, Raspberry Pi 3/4): f32 and bf16
 *                 rows with FMLA, q8_0 rows on SMULL/SADALP, batch kernels
 *                 (f32, bf16, q8_0; 2..16 inputs, each weight read once), 6x16 prefill
 *                 panels, vector exp for SwiGLU, RMSNorm.
 *   neon-dotprod  + SDOT for q8_0 (asimddp: Cortex-A76/Pi 5, Neoverse N1,
 *                 Graviton 2, Apple M1).
 *   neon-bf16     + BFMMLA for bf16 rows (bf16: Neoverse V1/V2/N2,
 *                 Graviton 3/4, Apple M2+): two rows of W against x split in
 *                 bf16 high and low halves, 16 multiply-adds an instruction.
 *   neon-i8mm     + SMMLA for q8_0 batch products (i8mm: the same CPUs):
 *                 two rows of W against two inputs per instruction.
 *
 * q8_0 rows take x quantized per block of 32 (hg_block_xq8, done once by
 * hg_matmul), so their block sums are exact int32 like the generic
 * kernel's.  The tolerances are in tests/test_kernels.c. */
#include "kernels.h"
#include "platform.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#define NEON_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#define NEON_BF16 __attribute__((target("arch=armv8.2-a+dotprod+bf16")))

/* Largest K whose per-call copy of x split into bf16 halves goes on the
 * stack; longer rows take the plain f32 path. */
#define XBUF_MAX 65536

/* ------------------------------------------------------------ f32 rows */

static void rows_f32_neon(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    const float *x = xv;
    int K = W->cols;
    for (int r = r0; r < r1; r++) {
        const float *w = (const float *)W->data + (size_t)r * K;
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
        int k = 0;
        for (; k + 16 <= K; k += 16) {
            a0 = vfmaq_f32(a0, vld1q_f32(w + k), vld1q_f32(x + k));
            a1 = vfmaq_f32(a1, vld1q_f32(w + k + 4), vld1q_f32(x + k + 4));
            a2 = vfmaq_f32(a2, vld1q_f32(w + k + 8), vld1q_f32(x + k + 8));
            a3 = vfmaq_f32(a3, vld1q_f32(w + k + 12), vld1q_f32(x + k + 12));
        }
        for (; k + 4 <= K; k += 4) a0 = vfmaq_f32(a0, vld1q_f32(w + k), vld1q_f32(x + k));
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
        for (; k < K; k++) s += w[k] * x[k];
        y[r] = s;
    }
}

/* ----------------------------------------------------------- bf16 rows */

/* bf16 -> f32 is a shift into the high half of each 32-bit lane. */
static inline float32x4_t bf16_lo(uint16x8_t v) { return vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(v), 16)); }
static inline float32x4_t bf16_hi(uint16x8_t v) { return vreinterpretq_f32_u32(vshll_high_n_u16(v, 16)); }

static void rows_bf16_neon(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    const float *x = xv;
    int K = W->cols;
    for (int r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)W->data + (size_t)r * K;
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
        int k = 0;
        for (; k + 16 <= K; k += 16) {
            uint16x8_t v0 = vld1q_u16(w + k), v1 = vld1q_u16(w + k + 8);
            a0 = vfmaq_f32(a0, bf16_lo(v0), vld1q_f32(x + k));
            a1 = vfmaq_f32(a1, bf16_hi(v0), vld1q_f32(x + k + 4));
            a2 = vfmaq_f32(a2, bf16_lo(v1), vld1q_f32(x + k + 8));
            a3 = vfmaq_f32(a3, bf16_hi(v1), vld1q_f32(x + k + 12));
        }
        for (; k + 8 <= K; k += 8) {
            uint16x8_t v0 = vld1q_u16(w + k);
            a0 = vfmaq_f32(a0, bf16_lo(v0), vld1q_f32(x + k));
            a1 = vfmaq_f32(a1, bf16_hi(v0), vld1q_f32(x + k + 4));
        }
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
        for (; k < K; k++) s += hg_bf16_to_f32(w[k]) * x[k];
        y[r] = s;
    }
}

/* bf16 rows on BFMMLA.  x is split into x_hi = bf16(x) and
 * x_lo = bf16(x - x_hi) (about 16 bits of x, close to f32), stored for each
 * group of 4 k as [x_hi k..k+3, x_lo k..k+3]: the B operand.  The A operand
 * holds 4 k of two rows of W; BFMMLA then adds
 *   [[w0·x_hi, w0·x_lo], [w1·x_hi, w1·x_lo]]
 * to a 2x2 accumulator: two rows at once, every product useful. */
NEON_BF16 static void rows_bf16_mmla(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    const float *x = xv;
    int K = W->cols;
    if (K % 8 != 0 || K > XBUF_MAX) {
        rows_bf16_neon(y, W, x, r0, r1);
        return;
    }
    uint16_t xs[2 * K];
    for (int k = 0; k < K; k += 4)
        for (int i = 0; i < 4; i++) {
            uint16_t h = hg_f32_to_bf16(x[k + i]);
            xs[2 * k + i] = h;
            xs[2 * k + 4 + i] = hg_f32_to_bf16(x[k + i] - hg_bf16_to_f32(h));
        }
    int r = r0;
    for (; r + 2 <= r1; r += 2) {
        const uint16_t *w0 = (const uint16_t *)W->data + (size_t)r * K, *w1 = w0 + K;
        float32x4_t c0 = vdupq_n_f32(0), c1 = c0, c2 = c0, c3 = c0;
        int k = 0;
        for (; k + 16 <= K; k += 16) {
            uint64x2_t p0 = vreinterpretq_u64_u16(vld1q_u16(w0 + k)), q0 = vreinterpretq_u64_u16(vld1q_u16(w1 + k));
            uint64x2_t p1 = vreinterpretq_u64_u16(vld1q_u16(w0 + k + 8));
            uint64x2_t q1 = vreinterpretq_u64_u16(vld1q_u16(w1 + k + 8));
            const bfloat16_t *xb = (const bfloat16_t *)xs + 2 * k;
            c0 = vbfmmlaq_f32(c0, vreinterpretq_bf16_u64(vzip1q_u64(p0, q0)), vld1q_bf16(xb));
            c1 = vbfmmlaq_f32(c1, vreinterpretq_bf16_u64(vzip2q_u64(p0, q0)), vld1q_bf16(xb + 8));
            c2 = vbfmmlaq_f32(c2, vreinterpretq_bf16_u64(vzip1q_u64(p1, q1)), vld1q_bf16(xb + 16));
            c3 = vbfmmlaq_f32(c3, vreinterpretq_bf16_u64(vzip2q_u64(p1, q1)), vld1q_bf16(xb + 24));
        }
        for (; k < K; k += 8) {
            uint64x2_t p0 = vreinterpretq_u64_u16(vld1q_u16(w0 + k)), q0 = vreinterpretq_u64_u16(vld1q_u16(w1 + k));
            const bfloat16_t *xb = (const bfloat16_t *)xs + 2 * k;
            c0 = vbfmmlaq_f32(c0, vreinterpretq_bf16_u64(vzip1q_u64(p0, q0)), vld1q_bf16(xb));
            c1 = vbfmmlaq_f32(c1, vreinterpretq_bf16_u64(vzip2q_u64(p0, q0)), vld1q_bf16(xb + 8));
        }
        /* c = [w0·x_hi, w0·x_lo, w1·x_hi, w1·x_lo] */
        float32x4_t c = vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3));
        float32x2_t s = vpadd_f32(vget_low_f32(c), vget_high_f32(c));
        vst1_f32(y + r, s);
    }
    if (r < r1) rows_bf16_neon(y, W, x, r, r1);
}

/* ----------------------------------------------------------- q8_0 rows */

/* x comes quantized per block (hg_block_xq8, by hg_matmul): the products
 * are exact int32 sums per block, scaled by w_scale * x_scale in f32, as
 * the generic kernel computes them. */
static inline float f16_scale(uint16_t h)
{
    __fp16 f;
    memcpy(&f, &h, 2);
    return (float)f;
}

/* One block: its 32 int8 products as 4 int32 lanes (SMULL + SADALP; no
 * overflow: two products of at most 127^2 summed into int32). */
static inline int32x4_t dot32_neon(const int8_t *w, const int8_t *x)
{
    int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16), x0 = vld1q_s8(x), x1 = vld1q_s8(x + 16);
    int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
    s = vpadalq_s16(s, vmull_high_s8(w0, x0));
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
    return vpadalq_s16(s, vmull_high_s8(w1, x1));
}

/* The same with SDOT: 16 products and their sums of 4 per instruction. */
NEON_DOTPROD static inline int32x4_t dot32_sdot(const int8_t *w, const int8_t *x)
{
    int32x4_t s = vdotq_s32(vdupq_n_s32(0), vld1q_s8(w), vld1q_s8(x));
    return vdotq_s32(s, vld1q_s8(w + 16), vld1q_s8(x + 16));
}

/* The row kernels of both, from one template: DOT32 is the block product. */
#define Q8_ROWS(NAME, ATTR, DOT32)                                                                              \
    ATTR static void NAME(float *y, const hg_mat *W, const void *xv, int r0, int r1)                            \
    {                                                                                                           \
        int nb = W->cols / HG_QK;                                                                               \
        const hg_block_xq8 *x = xv;                                                                             \
        for (int r = r0; r < r1; r++) {                                                                         \
            const hg_block_q8_0 *w = (const hg_block_q8_0 *)W->data + (size_t)r * nb;                         \
            float32x4_t a0 = vdupq_n_f32(0), a1 = a0;                                                           \
            int b = 0;                                                                                          \
            for (; b + 2 <= nb; b += 2) {                                                                       \
                int32x4_t s0 = DOT32(w[b].qs, x[b].qs), s1 = DOT32(w[b + 1].qs, x[b + 1].qs);                   \
                a0 = vfmaq_n_f32(a0, vcvtq_f32_s32(s0), f16_scale(w[b].d) * x[b].d);                            \
                a1 = vfmaq_n_f32(a1, vcvtq_f32_s32(s1), f16_scale(w[b + 1].d) * x[b + 1].d);                    \
            }                                                                                                   \
            if (b < nb) a0 = vfmaq_n_f32(a0, vcvtq_f32_s32(DOT32(w[b].qs, x[b].qs)), f16_scale(w[b].d) * x[b].d); \
            y[r] = vaddvq_f32(vaddq_f32(a0, a1));                                                               \
        }                                                                                                       \
    }

/* Batch kernels: each block of a row of W loaded once for NT (1..4) inputs;
 * T inputs go four at a time. */
#define Q8_ROWS_N(NAME, ATTR, DOT32)                                                                            \
    __attribute__((always_inline)) ATTR static inline void NAME##_nt(float *Y, int ldy, const hg_block_q8_0 *w, \
                                                                     const hg_block_xq8 *X, int nb, int nt)    \
    {                                                                                                           \
        float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};                  \
        for (int b = 0; b < nb; b++) {                                                                          \
            float dw = f16_scale(w[b].d);                                                                       \
            for (int j = 0; j < nt; j++) {                                                                      \
                const hg_block_xq8 *x = X + (size_t)j * nb + b;                                                 \
                acc[j] = vfmaq_n_f32(acc[j], vcvtq_f32_s32(DOT32(w[b].qs, x->qs)), dw * x->d);                  \
            }                                                                                                   \
        }                                                                                                       \
        for (int j = 0; j < nt; j++) Y[(size_t)j * ldy] = vaddvq_f32(acc[j]);                                   \
    }                                                                                                           \
    ATTR static void NAME(float *Y, const hg_mat *W, const void *Xv, int T, int r0, int r1)                     \
    {                                                                                                           \
        int nb = W->cols / HG_QK, n = W->rows;                                                                  \
        const hg_block_xq8 *X = Xv;                                                                             \
        for (int r = r0; r < r1; r++) {                                                                         \
            const hg_block_q8_0 *w = (const hg_block_q8_0 *)W->data + (size_t)r * nb;                         \
            int t = 0;                                                                                          \
            for (; t + 4 <= T; t += 4) NAME##_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * nb, nb, 4);       \
            switch (T - t) {                                                                                    \
            case 3: NAME##_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * nb, nb, 3); break;                   \
            case 2: NAME##_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * nb, nb, 2); break;                   \
            case 1: NAME##_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * nb, nb, 1); break;                   \
            }                                                                                                   \
        }                                                                                                       \
    }

#define NO_ATTR
Q8_ROWS(rows_q8_0_neon, NO_ATTR, dot32_neon)
Q8_ROWS(rows_q8_0_sdot, NEON_DOTPROD, dot32_sdot)
Q8_ROWS_N(rows_n_q8_0_neon, NO_ATTR, dot32_neon)
Q8_ROWS_N(rows_n_q8_0_sdot, NEON_DOTPROD, dot32_sdot)

/* q8_0 batch kernel on SMMLA (i8mm): an 8-byte slice of two rows of W
 * against the same slice of two inputs gives the 2x2 block
 * [w0·x0, w0·x1, w1·x0, w1·x1] in one instruction (32 multiply-adds), so
 * pairs of rows meet pairs of inputs; an odd last row or input takes the
 * SDOT batch kernel. */
#define NEON_I8MM __attribute__((target("arch=armv8.2-a+dotprod+bf16+i8mm")))

NEON_I8MM static inline int8x16_t zip_lo64(int8x16_t a, int8x16_t b)
{
    return vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}
NEON_I8MM static inline int8x16_t zip_hi64(int8x16_t a, int8x16_t b)
{
    return vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}

/* Rows w0, w1 against np (1 or 2) pairs of inputs X (rows nb blocks apart). */
__attribute__((always_inline)) NEON_I8MM static inline void q8_mmla_rows2(float *Y, int n, const hg_block_q8_0 *w0,
                                                                          const hg_block_q8_0 *w1,
                                                                          const hg_block_xq8 *X, int nb, int np)
{
    float32x4_t acc[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
    for (int b = 0; b < nb; b++) {
        int8x16_t p0 = vld1q_s8(w0[b].qs), p1 = vld1q_s8(w0[b].qs + 16);
        int8x16_t q0 = vld1q_s8(w1[b].qs), q1 = vld1q_s8(w1[b].qs + 16);
        int8x16_t a0 = zip_lo64(p0, q0), a1 = zip_hi64(p0, q0), a2 = zip_lo64(p1, q1), a3 = zip_hi64(p1, q1);
        float dw0 = f16_scale(w0[b].d), dw1 = f16_scale(w1[b].d);
        float32x4_t dw = vcombine_f32(vdup_n_f32(dw0), vdup_n_f32(dw1));
        for (int p = 0; p < np; p++) {
            const hg_block_xq8 *x0 = X + (size_t)(2 * p) * nb + b, *x1 = x0 + nb;
            int8x16_t e0 = vld1q_s8(x0->qs), e1 = vld1q_s8(x0->qs + 16);
            int8x16_t f0 = vld1q_s8(x1->qs), f1 = vld1q_s8(x1->qs + 16);
            int32x4_t s = vmmlaq_s32(vdupq_n_s32(0), a0, zip_lo64(e0, f0));
            s = vmmlaq_s32(s, a1, zip_hi64(e0, f0));
            s = vmmlaq_s32(s, a2, zip_lo64(e1, f1));
            s = vmmlaq_s32(s, a3, zip_hi64(e1, f1));
            float32x2_t dx = {x0->d, x1->d};
            acc[p] = vfmaq_f32(acc[p], vcvtq_f32_s32(s), vmulq_f32(dw, vcombine_f32(dx, dx)));
        }
    }
    for (int p = 0; p < np; p++) { /* acc = [y(t0, r0), y(t1, r0), y(t0, r1), y(t1, r1)] */
        float *y = Y + (size_t)(2 * p) * n;
        y[0] = vgetq_lane_f32(acc[p], 0);
        y[n] = vgetq_lane_f32(acc[p], 1);
        y[1] = vgetq_lane_f32(acc[p], 2);
        y[n + 1] = vgetq_lane_f32(acc[p], 3);
    }
}

NEON_I8MM static void rows_n_q8_0_mmla(float *Y, const hg_mat *W, const void *Xv, int T, int r0, int r1)
{
    int nb = W->cols / HG_QK, n = W->rows;
    const hg_block_xq8 *X = Xv;
    int r = r0;
    for (; r + 2 <= r1; r += 2) {
        const hg_block_q8_0 *w0 = (const hg_block_q8_0 *)W->data + (size_t)r * nb, *w1 = w0 + nb;
        int t = 0;
        for (; t + 4 <= T; t += 4) q8_mmla_rows2(Y + (size_t)t * n + r, n, w0, w1, X + (size_t)t * nb, nb, 2);
        if (t + 2 <= T) {
            q8_mmla_rows2(Y + (size_t)t * n + r, n, w0, w1, X + (size_t)t * nb, nb, 1);
            t += 2;
        }
        if (t < T) rows_n_q8_0_sdot(Y + (size_t)t * n, W, X + (size_t)t * nb, 1, r, r + 2);
    }
    if (r < r1) rows_n_q8_0_sdot(Y, W, X, T, r, r1);
}

/* bf16 rows for nt (1..4) f32 inputs at once: 8 weights widened once, used
 * for every input. */
__attribute__((always_inline)) static inline void bf16_rows_nt(float *Y, int ldy, const uint16_t *w, const float *X,
                                                               int K, int nt)
{
    float32x4_t lo[4], hi[4];
    for (int j = 0; j < 4; j++) lo[j] = hi[j] = vdupq_n_f32(0);
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        uint16x8_t v = vld1q_u16(w + k);
        float32x4_t wl = bf16_lo(v), wh = bf16_hi(v);
        for (int j = 0; j < nt; j++) {
            lo[j] = vfmaq_f32(lo[j], wl, vld1q_f32(X + (size_t)j * K + k));
            hi[j] = vfmaq_f32(hi[j], wh, vld1q_f32(X + (size_t)j * K + k + 4));
        }
    }
    for (int j = 0; j < nt; j++) {
        float s = vaddvq_f32(vaddq_f32(lo[j], hi[j]));
        for (int i = k; i < K; i++) s += hg_bf16_to_f32(w[i]) * X[(size_t)j * K + i];
        Y[(size_t)j * ldy] = s;
    }
}

static void rows_n_bf16_neon(float *Y, const hg_mat *W, const void *Xv, int T, int r0, int r1)
{
    int K = W->cols, n = W->rows;
    const float *X = Xv;
    for (int r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)W->data + (size_t)r * K;
        int t = 0;
        for (; t + 4 <= T; t += 4) bf16_rows_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * K, K, 4);
        switch (T - t) {
        case 3: bf16_rows_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * K, K, 3); break;
        case 2: bf16_rows_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * K, K, 2); break;
        case 1: bf16_rows_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * K, K, 1); break;
        }
    }
}

/* f32 rows for nt (1..4) inputs at once: 8 weights loaded once for all. */
__attribute__((always_inline)) static inline void f32_rows_nt(float *Y, int ldy, const float *w, const float *X, int K,
                                                              int nt)
{
    float32x4_t lo[4], hi[4];
    for (int j = 0; j < 4; j++) lo[j] = hi[j] = vdupq_n_f32(0);
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        float32x4_t wl = vld1q_f32(w + k), wh = vld1q_f32(w + k + 4);
        for (int j = 0; j < nt; j++) {
            lo[j] = vfmaq_f32(lo[j], wl, vld1q_f32(X + (size_t)j * K + k));
            hi[j] = vfmaq_f32(hi[j], wh, vld1q_f32(X + (size_t)j * K + k + 4));
        }
    }
    for (int j = 0; j < nt; j++) {
        float s = vaddvq_f32(vaddq_f32(lo[j], hi[j]));
        for (int i = k; i < K; i++) s += w[i] * X[(size_t)j * K + i];
        Y[(size_t)j * ldy] = s;
    }
}

static void rows_n_f32_neon(float *Y, const hg_mat *W, const void *Xv, int T, int r0, int r1)
{
    int K = W->cols, n = W->rows;
    const float *X = Xv;
    for (int r = r0; r < r1; r++) {
        const float *w = (const float *)W->data + (size_t)r * K;
        int t = 0;
        for (; t + 4 <= T; t += 4) f32_rows_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * K, K, 4);
        switch (T - t) {
        case 3: f32_rows_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * K, K, 3); break;
        case 2: f32_rows_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * K, K, 2); break;
        case 1: f32_rows_nt(Y + (size_t)t * n + r, n, w, X + (size_t)t * K, K, 1); break;
        }
    }
}

/* ------------------------------------------------------- prefill panels */

/* Rows expanded to f32 for the prefill panels (exact, as the types' own). */
static void bf16_to_f32_neon(const void *src, float *dst, int n)
{
    const uint16_t *w = src;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t v = vld1q_u16(w + i);
        vst1q_f32(dst + i, bf16_lo(v));
        vst1q_f32(dst + i + 4, bf16_hi(v));
    }
    for (; i < n; i++) dst[i] = hg_bf16_to_f32(w[i]);
}

static void q8_0_to_f32_neon(const void *src, float *dst, int n)
{
    const hg_block_q8_0 *b = src;
    for (int i = 0; i < n / HG_QK; i++) {
        float d = f16_scale(b[i].d);
        float *o = dst + (size_t)i * HG_QK;
        for (int j = 0; j < HG_QK; j += 8) {
            int16x8_t h = vmovl_s8(vld1_s8(b[i].qs + j));
            vst1q_f32(o + j, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(h))), d));
            vst1q_f32(o + j + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(h)), d));
        }
    }
}


/* C(m, 16) += A(m, k) B(k, 16): 6 x 4 accumulators of 4 lanes, four loads
 * of B and a broadcast of A per row and k. */
static void gemm6x16_neon(float *C, int ldc, const float *A, int lda, const float *B, size_t bstride, int k, int m,
                          int np)
{
    const float *a[6];
    for (int j = 0; j < 6; j++) a[j] = A + (size_t)(j < m ? j : 0) * lda;
    float32x4_t c[6][4];
    for (int j = 0; j < 6; j++)
        for (int i = 0; i < 4; i++) c[j][i] = vdupq_n_f32(0);
    for (int p = 0; p < k; p++) {
        const float *b = B + (size_t)p * 16;
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12);
        for (int j = 0; j < 6; j++) {
            float av = a[j][p];
            c[j][0] = vfmaq_n_f32(c[j][0], b0, av);
            c[j][1] = vfmaq_n_f32(c[j][1], b1, av);
            c[j][2] = vfmaq_n_f32(c[j][2], b2, av);
            c[j][3] = vfmaq_n_f32(c[j][3], b3, av);
        }
    }
    for (int j = 0; j < m; j++)
        for (int i = 0; i < 4; i++) {
            float *cj = C + (size_t)j * ldc + 4 * i;
            vst1q_f32(cj, vaddq_f32(vld1q_f32(cj), c[j][i]));
        }
}

/* ------------------------------------------------------ vector helpers */

static float dot_neon(const float *a, const float *b, int n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_neon(float *y, float a, const float *x, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] += a * x[i];
}

/* exp on 4 lanes: 2^n * p(r), x = n ln2 + r, |r| <= ln2/2, the Cephes
 * polynomial (about 1 ulp); inputs clamped to the float range so 2^n stays
 * a normal number (n in [-126, 127]) built in the exponent field. */
static inline float32x4_t exp_neon(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.3f)), vdupq_n_f32(88.3f));
    float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500E-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507E-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073E-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894E-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459E-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201E-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), vmulq_f32(p, r), r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

static void swiglu_neon(float *act, const float *g, const float *u, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t gv = vld1q_f32(g + i);
        float32x4_t den = vaddq_f32(vdupq_n_f32(1.0f), exp_neon(vnegq_f32(gv)));
        vst1q_f32(act + i, vmulq_f32(vdivq_f32(gv, den), vld1q_f32(u + i)));
    }
    for (; i < n; i++) act[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void rmsnorm_neon(float *o, const float *x, const float *w, int n, float eps)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
        s0 = vfmaq_f32(s0, a, a);
        s1 = vfmaq_f32(s1, b, b);
    }
    double ss = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / n + eps));
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(o + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), r), vld1q_f32(w + i)));
    for (; i < n; i++) o[i] = (x[i] * r) * w[i];
}

/* ------------------------------------------------------------ variants */

static int have_neon(void) { return (hg_arm_features() & HG_ARM_ASIMD) != 0; }
static int have_dotprod(void) { return (hg_arm_features() & HG_ARM_DOTPROD) != 0; }
static int have_bf16(void)
{
    unsigned f = hg_arm_features();
    return (f & HG_ARM_DOTPROD) && (f & HG_ARM_BF16);
}
static int have_i8mm(void) { return have_bf16() && (hg_arm_features() & HG_ARM_I8MM); }

#define NEON_COMMON                                                                                     \
    .rows[HG_MAT_F32] = rows_f32_neon, .rows_n[HG_MAT_F32] = rows_n_f32_neon,                          \
    .rows_n[HG_MAT_BF16] = rows_n_bf16_neon, .gemm = gemm6x16_neon, .gemm_mr = 6, .gemm_np = 1, .vectors = "neon",                \
    .to_f32[HG_MAT_BF16] = bf16_to_f32_neon, .to_f32[HG_MAT_Q8_0] = q8_0_to_f32_neon, .dot = dot_neon, \
    .axpy = axpy_neon, .swiglu = swiglu_neon, .rmsnorm = rmsnorm_neon, .to_f32[HG_MAT_Q4] = hg_q4_to_f32_neon

const hg_kernel_variant hg_variant_neon = {.name = "neon",
                                           .available = have_neon,
                                           .rows[HG_MAT_BF16] = rows_bf16_neon,
                                           .rows[HG_MAT_Q8_0] = rows_q8_0_neon,
                                           .rows[HG_MAT_Q4] = hg_rows_q4_neon,
                                           .rows_n[HG_MAT_Q8_0] = rows_n_q8_0_neon,
                                           NEON_COMMON};

const hg_kernel_variant hg_variant_neon_dotprod = {.name = "neon-dotprod",
                                                   .available = have_dotprod,
                                                   .rows[HG_MAT_BF16] = rows_bf16_neon,
                                                   .rows[HG_MAT_Q8_0] = rows_q8_0_sdot,
                                                   .rows[HG_MAT_Q4] = hg_rows_q4_sdot,
                                                   .rows_n[HG_MAT_Q8_0] = rows_n_q8_0_sdot,
                                                   NEON_COMMON};

const hg_kernel_variant hg_variant_neon_bf16 = {.name = "neon-bf16",
                                                .available = have_bf16,
                                                .rows[HG_MAT_BF16] = rows_bf16_mmla,
                                                .rows[HG_MAT_Q8_0] = rows_q8_0_sdot,
                                                .rows[HG_MAT_Q4] = hg_rows_q4_sdot,
                                                .rows_n[HG_MAT_Q8_0] = rows_n_q8_0_sdot,
                                                NEON_COMMON};

const hg_kernel_variant hg_variant_neon_i8mm = {.name = "neon-i8mm",
                                                .available = have_i8mm,
                                                .rows[HG_MAT_BF16] = rows_bf16_mmla,
                                                .rows[HG_MAT_Q8_0] = rows_q8_0_sdot,
                                                .rows[HG_MAT_Q4] = hg_rows_q4_sdot,
                                                .rows_n[HG_MAT_Q8_0] = rows_n_q8_0_mmla,
                                                NEON_COMMON};
