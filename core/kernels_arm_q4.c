/* kernels_arm_q4.c — NEON kernels of the q4 weight format (aarch64 builds
 * only; an empty unit elsewhere), for the NEON variants' tables in
 * kernels_arm.c (rows[HG_MAT_Q4], to_f32[HG_MAT_Q4]):
 *
 *   hg_rows_q4_neon    ARMv8.0: the nibbles as int8 (0..15) times x's int8
 *                      by SMULL/SMLAL, pairs summed by SADDLP/SADALP.
 *   hg_rows_q4_sdot    + SDOT (asimddp): four products and their sum per lane.
 *   hg_q4_to_f32_neon  rows expanded to f32 (prefill panels).
 *
 * As the generic kernel: per block the exact int32 sum of q times x's int8,
 * then d (dx sum - z sx) in f32 (sx = dx sum(qx), from hg_block_xq8). */
#include "kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#define NEON_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

static inline float q4_d_neon(uint16_t dz)
{
    uint16_t h = hg_q4_f16(dz);
    __fp16 f;
    memcpy(&f, &h, 2);
    return (float)f * 0x1p-8f;
}

/* The 32 values of a block as int8 0..15: values 0..15 and 16..31. */
static inline void q4_unpack_neon(const hg_block_q4 *w, int8x16_t *lo, int8x16_t *hi)
{
    uint8x16_t v = vld1q_u8(w->qs);
    *lo = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(15)));
    *hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
}

/* |sum| of a block <= 32 * 15 * 127: int32; a pair in int16 <= 3810. */
static inline int32_t q4_block_sum_neon(const hg_block_q4 *w, const hg_block_xq8 *x)
{
    int8x16_t lo, hi;
    q4_unpack_neon(w, &lo, &hi);
    int8x16_t x0 = vld1q_s8(x->qs), x1 = vld1q_s8(x->qs + 16);
    int16x8_t p0 = vmlal_s8(vmull_s8(vget_low_s8(lo), vget_low_s8(x0)), vget_high_s8(lo), vget_high_s8(x0));
    int16x8_t p1 = vmlal_s8(vmull_s8(vget_low_s8(hi), vget_low_s8(x1)), vget_high_s8(hi), vget_high_s8(x1));
    return vaddvq_s32(vpadalq_s16(vpaddlq_s16(p0), p1));
}

void hg_rows_q4_neon(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    int nb = W->cols / HG_QK;
    const hg_block_xq8 *x = xv;
    for (int r = r0; r < r1; r++) {
        const hg_block_q4 *w = (const hg_block_q4 *)W->data + (size_t)r * nb;
        float s0 = 0, s1 = 0;
        int b = 0;
        for (; b + 2 <= nb; b += 2) {
            __builtin_prefetch((const char *)(w + b) + 1024);
            float d0 = q4_d_neon(w[b].dz), d1 = q4_d_neon(w[b + 1].dz);
            s0 += d0 * (x[b].d * (float)q4_block_sum_neon(w + b, x + b) - (float)(w[b].dz >> 12) * x[b].s);
            s1 += d1 * (x[b + 1].d * (float)q4_block_sum_neon(w + b + 1, x + b + 1) -
                        (float)(w[b + 1].dz >> 12) * x[b + 1].s);
        }
        if (b < nb)
            s0 += q4_d_neon(w[b].dz) * (x[b].d * (float)q4_block_sum_neon(w + b, x + b) - (float)(w[b].dz >> 12) * x[b].s);
        y[r] = s0 + s1;
    }
}

NEON_DOTPROD static inline int32_t q4_block_sum_sdot(const hg_block_q4 *w, const hg_block_xq8 *x)
{
    int8x16_t lo, hi;
    q4_unpack_neon(w, &lo, &hi);
    int32x4_t s = vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(x->qs));
    return vaddvq_s32(vdotq_s32(s, hi, vld1q_s8(x->qs + 16)));
}

NEON_DOTPROD void hg_rows_q4_sdot(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    int nb = W->cols / HG_QK;
    const hg_block_xq8 *x = xv;
    for (int r = r0; r < r1; r++) {
        const hg_block_q4 *w = (const hg_block_q4 *)W->data + (size_t)r * nb;
        float s0 = 0, s1 = 0;
        int b = 0;
        for (; b + 2 <= nb; b += 2) {
            __builtin_prefetch((const char *)(w + b) + 1024);
            float d0 = q4_d_neon(w[b].dz), d1 = q4_d_neon(w[b + 1].dz);
            s0 += d0 * (x[b].d * (float)q4_block_sum_sdot(w + b, x + b) - (float)(w[b].dz >> 12) * x[b].s);
            s1 += d1 * (x[b + 1].d * (float)q4_block_sum_sdot(w + b + 1, x + b + 1) -
                        (float)(w[b + 1].dz >> 12) * x[b + 1].s);
        }
        if (b < nb)
            s0 += q4_d_neon(w[b].dz) * (x[b].d * (float)q4_block_sum_sdot(w + b, x + b) - (float)(w[b].dz >> 12) * x[b].s);
        y[r] = s0 + s1;
    }
}

void hg_q4_to_f32_neon(const void *src, float *dst, int n)
{
    const hg_block_q4 *b = src;
    for (int i = 0; i < n / HG_QK; i++) {
        float d = q4_d_neon(b[i].dz);
        int32x4_t z = vdupq_n_s32(b[i].dz >> 12);
        uint8x16_t v = vld1q_u8(b[i].qs);
        uint8x16_t part[2] = {vandq_u8(v, vdupq_n_u8(15)), vshrq_n_u8(v, 4)};
        float *o = dst + (size_t)i * HG_QK;
        for (int h = 0; h < 2; h++) {
            uint16x8_t w0 = vmovl_u8(vget_low_u8(part[h])), w1 = vmovl_u8(vget_high_u8(part[h]));
            uint16x8_t w[2] = {w0, w1};
            for (int k = 0; k < 2; k++) {
                int32x4_t a = vsubq_s32(vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(w[k]))), z);
                int32x4_t c = vsubq_s32(vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(w[k]))), z);
                vst1q_f32(o + 16 * h + 8 * k, vmulq_n_f32(vcvtq_f32_s32(a), d));
                vst1q_f32(o + 16 * h + 8 * k + 4, vmulq_n_f32(vcvtq_f32_s32(c), d));
            }
        }
    }
}

#else
typedef int hg_kernels_arm_q4_empty; /* ISO C: no empty translation unit */
#endif
