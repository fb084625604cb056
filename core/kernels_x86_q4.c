/* kernels_x86_q4.c — the q4 row kernels of the x86 variants (AVX2+FMA,
 * AVX2 with AVX-VNNI, AVX-512BW, AVX-512 VNNI), compiled with target
 * attributes and chosen at run time with the rest of kernels_x86.c.
 *
 * A q4 row is streamed once per token, so its kernel must keep up with
 * memory: 18 bytes per 32 weights leave a core a few cycles per block
 * (about 4.5 at 12 GB/s and 3 GHz).  What makes that possible:
 * - the block scales are decoded for a group of blocks at once: the dz
 *   words brought into vector lanes (AVX2: four plain loads blended,
 *   q4_dz8_avx2, since AMD Zen 2 and 3 run vpgatherdd as microcode; AVX-512:
 *   vpgatherdd at the 18-byte stride), d = the 12-bit float moved into an f32's
 *   exponent and mantissa and scaled by a power of two (exact, subnormal
 *   f16 scales included), z = dz >> 12, in vectors;
 * - the zero point leaves the inner loop: sum d (q - z) dx qx = d dx sum
 *   q qx - d z sx with sx = dx sum qx, the last term a vector FMA per group;
 * - x's scales are copied once per call into contiguous arrays (for AVX2 in
 *   the lane order of the dz words), and its int8 values regrouped to match
 *   the nibbles: per group of 2 (AVX2) or 4 (AVX-512) blocks, their values
 *   0..15, then their values 16..31;
 * - 2 or 4 blocks' 16-byte nibble arrays side by side in one vector: one
 *   and gives their low nibbles, one shift + and their high nibbles;
 *   vpmaddubsw on both, summed in int16, then vpmaddwd (or two vpdpbusd:
 *   AVX-VNNI, AVX-512 VNNI) sum the products in int32 per block and lane,
 *   then one convert and one FMA with d dx per vector.
 * Measured on Sapphire Rapids (2 threads, full shape, 32 steps): the old
 * kernels (a scalar scale and zero point per block) decoded at 2.18 s/token
 * with AVX2 and 2.70 with VNNI, these at about 1.17 and 1.08 (README, Speed).
 * llvm-mca (LLVM 14, gcc -O2) puts the AVX2 loop at 2.4 cycles a block on
 * znver3, 3.3 on znver2, 2.7 on sapphirerapids and 2.3 there with AVX-VNNI;
 * the gather version at 2.6, 15.3 and 3.2, LLVM's znver3 model pricing
 * vpgatherdd as one micro-op where Zen 3 runs 39 (uops.info). */
#include "kernels.h"
#include "kernels_x86.h"

#include <immintrin.h>
#include <string.h>

/* Blocks of x handled per pass over the rows (x's copies live on the stack):
 * 1024 blocks = 32768 values, more than any matrix of the model. */
#define Q4_XB 1024
/* software prefetch distance of the weights (bytes) */
#ifndef Q4_PF
#define Q4_PF 2048
#endif

/* d of a block by the scalar route (the group tails), as q4_d8_avx2 does it. */
static inline float q4_d_scalar(uint16_t dz)
{
    uint32_t u = (uint32_t)(dz & 0xfffu) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f * 0x1p104f;
}

/* ------------------------------------------------------------ AVX2+FMA */

#define AVX2Q4 __attribute__((target("avx2,fma")))

/* The dz words of 8 consecutive blocks (the 144 bytes from p) without a
 * gather: the 32 bytes from p + 32k (k = 0..3) hold block 2k's dz at byte
 * 4k, the low half of dword k, and block 2k + 1's at byte 18 + 4k, the high
 * half of dword 4 + k.  Four loads blended (vpblendd) so give blocks 0, 2,
 * 4, 6 in the low halves of dwords 0..3 and blocks 1, 3, 5, 7 in the high
 * halves of dwords 4..7; dwords 0..3 shifted left by 16 put each dz in its
 * dword's top half: lane j holds dz << 16 (low bits anything) of block
 * Q4_ORD8[j].  Four loads and five one-cycle operations where vpgatherdd
 * costs tens of micro-ops (microcoded on AMD Zen 2 and 3). */
AVX2Q4 static inline __m256i q4_dz8_avx2(const char *p)
{
    __m256i c0 = _mm256_loadu_si256((const __m256i *)p), c1 = _mm256_loadu_si256((const __m256i *)(p + 32));
    __m256i c2 = _mm256_loadu_si256((const __m256i *)(p + 64)), c3 = _mm256_loadu_si256((const __m256i *)(p + 96));
    __m256i v = _mm256_blend_epi32(_mm256_blend_epi32(c0, c1, 0x22), _mm256_blend_epi32(c2, c3, 0x88), 0xcc);
    return _mm256_sllv_epi32(v, _mm256_setr_epi32(16, 16, 16, 16, 0, 0, 0, 0));
}

/* d of 8 blocks from their dz << 16 (q4_dz8_avx2): the 12 bits are bits
 * 3..14 of an f16, so (dz & 0xfff) << 16 is that f16 in an f32's top bits
 * (its exponent field as the f32's, biased by 15 instead of 127), which
 * 2^(127-15) fixes, times 2^-8: exact for zero, subnormal and normal f16
 * values alike. */
AVX2Q4 static inline __m256 q4_d8_avx2(__m256i dz16)
{
    __m256i bits = _mm256_and_si256(dz16, _mm256_set1_epi32(0x0fff0000));
    return _mm256_mul_ps(_mm256_castsi256_ps(bits), _mm256_set1_ps(0x1p104f));
}

/* The 32 nibbles of a block as u8 in x's order: low nibbles (values 0..15)
 * in the low lane, high nibbles (values 16..31) in the high lane (the tails). */
AVX2Q4 static inline __m256i q4_nibbles_avx2(const uint8_t *qs)
{
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    v = _mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4));
    return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* sum over a block of q qx as 8 int32 lanes, as f32: vpmaddubsw (u8 x s8,
 * pairs summed to int16 without saturation: 2 * 15 * 127 < 2^15) and
 * vpmaddwd, or vpdpbusd (vnni): the same sums of the same fours of bytes. */
__attribute__((always_inline)) AVX2Q4 static inline __m256 q4_dot_avx2(const hg_block_q4 *w, const int8_t *xq,
                                                                       int vnni)
{
    __m256i u = q4_nibbles_avx2(w->qs), s = _mm256_loadu_si256((const __m256i *)xq);
    if (vnni) return _mm256_cvtepi32_ps(hg_dpbusd_vex(_mm256_setzero_si256(), u, s));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

/* Two blocks A, B at once: their 16-byte nibble arrays side by side in one
 * vector, so one and gives [A lo | B lo] and one shift + and [A hi | B hi];
 * x copied to match (per pair: A's values 0..15, B's 0..15, A's 16..31,
 * B's 16..31).  The two vpmaddubsw results add in int16 (4 * 15 * 127 <
 * 2^15), vpmaddwd sums pairs: A's sum in the low 4 int32 lanes, B's in the
 * high 4.  With vnni two vpdpbusd: int32 lane i gets the products of bytes
 * 4i..4i+3 of both halves, the very eight vpmaddubsw + vpaddw + vpmaddwd
 * sum (exact in both: no int16 sum saturates), so the same integers. */
__attribute__((always_inline)) AVX2Q4 static inline __m256 q4_dot_pair_avx2(const hg_block_q4 *w, const int8_t *xp,
                                                                            int vnni)
{
    __m256i v = _mm256_loadu2_m128i((const __m128i *)w[1].qs, (const __m128i *)w[0].qs), m = _mm256_set1_epi8(15);
    __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    __m256i x0 = _mm256_load_si256((const __m256i *)xp), x1 = _mm256_load_si256((const __m256i *)(xp + 32));
    if (vnni) return _mm256_cvtepi32_ps(hg_dpbusd_vex(hg_dpbusd_vex(_mm256_setzero_si256(), lo, x0), hi, x1));
    __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, x0), _mm256_maddubs_epi16(hi, x1));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

/* x's int8 values of n blocks (from x) in groups of g blocks: per group, the
 * values 0..15 of its g blocks, then their values 16..31; a last partial
 * group is left out (the tails read x itself). */
static inline void q4_x_groups(int8_t *dst, const hg_block_xq8 *x, int n, int g)
{
    for (int b = 0; b + g <= n; b += g)
        for (int i = 0; i < g; i++)
            for (int h = 0; h < 2; h++)
                memcpy(dst + (size_t)b * HG_QK + h * 16 * g + i * 16, x[b + i].qs + 16 * h, 16);
}

/* The block of a group of 8 whose scales lane j of q4_dz8_avx2 holds. */
static const unsigned char Q4_ORD8[8] = {0, 2, 4, 6, 1, 3, 5, 7};

/* x's scales d and s of n blocks (from x): per whole group of 8 blocks in
 * the lane order of q4_dz8_avx2 (Q4_ORD8), the last blocks in order. */
static inline void q4_x_scales8(float *xd, float *xs, const hg_block_xq8 *x, int n)
{
    int b = 0;
    for (; b + 8 <= n; b += 8)
        for (int j = 0; j < 8; j++) xd[b + j] = x[b + Q4_ORD8[j]].d, xs[b + j] = x[b + Q4_ORD8[j]].s;
    for (; b < n; b++) xd[b] = x[b].d, xs[b] = x[b].s;
}

/* Rows [r0, r1) over blocks [b0, b0 + nb) of x (xd, xs: x's d and s by
 * q4_x_scales8, xp: its values in pairs, all from block b0), y[r] set
 * (first pass) or added to.  Per group of 8 blocks the scales come in the
 * lanes of q4_dz8_avx2: sc = d dx holds pair k's two blocks in lanes k and
 * 4 + k, which vpermilps spreads to [4 x A | 4 x B] without crossing lanes;
 * corr's lane j sums over the groups what lane Q4_ORD8[j] would in block
 * order, and is put back in block order once per row, so that every lane
 * adds the same f32 values in the same order as with block order. */
__attribute__((always_inline)) AVX2Q4 static inline void q4_pass_avx2(float *y, const hg_mat *W,
                                                                      const hg_block_xq8 *x, const int8_t *xp,
                                                                      const float *xd, const float *xs, int b0, int nb,
                                                                      int r0, int r1, int add, int vnni)
{
    const int nbr = W->cols / HG_QK;
    const __m256i unord = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7); /* the inverse of Q4_ORD8 */
    for (int r = r0; r < r1; r++) {
        const hg_block_q4 *w = (const hg_block_q4 *)W->data + (size_t)r * nbr + b0;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), corr = _mm256_setzero_ps();
        float tail = 0;
        int b = 0;
        for (; b + 8 <= nb; b += 8) {
            const char *p = (const char *)(w + b);
            _mm_prefetch(p + Q4_PF, _MM_HINT_T0);
            _mm_prefetch(p + Q4_PF + 64, _MM_HINT_T0);
            _mm_prefetch(p + Q4_PF + 128, _MM_HINT_T0);
            __m256i dz16 = q4_dz8_avx2(p);
            __m256 d = q4_d8_avx2(dz16);
            __m256 z = _mm256_cvtepi32_ps(_mm256_srli_epi32(dz16, 28));
            corr = _mm256_fmadd_ps(_mm256_mul_ps(d, z), _mm256_load_ps(xs + b), corr);
            __m256 sc = _mm256_mul_ps(d, _mm256_load_ps(xd + b));
            const int8_t *xb = xp + (size_t)b * HG_QK;
            a0 = _mm256_fmadd_ps(q4_dot_pair_avx2(w + b + 0, xb, vnni), _mm256_permute_ps(sc, 0x00), a0);
            a1 = _mm256_fmadd_ps(q4_dot_pair_avx2(w + b + 2, xb + 64, vnni), _mm256_permute_ps(sc, 0x55), a1);
            a0 = _mm256_fmadd_ps(q4_dot_pair_avx2(w + b + 4, xb + 128, vnni), _mm256_permute_ps(sc, 0xaa), a0);
            a1 = _mm256_fmadd_ps(q4_dot_pair_avx2(w + b + 6, xb + 192, vnni), _mm256_permute_ps(sc, 0xff), a1);
        }
        for (; b < nb; b++) {
            float d = q4_d_scalar(w[b].dz);
            a0 = _mm256_fmadd_ps(q4_dot_avx2(w + b, x[b].qs, vnni), _mm256_set1_ps(d * xd[b]), a0);
            tail += d * (float)hg_q4_z(w[b].dz) * xs[b];
        }
        corr = _mm256_permutevar8x32_ps(corr, unord);
        float s = hg_hsum256(_mm256_sub_ps(_mm256_add_ps(a0, a1), corr)) - tail;
        y[r] = add ? y[r] + s : s;
    }
}

/* x's scales and values (in pairs of blocks) copied, then the passes. */
__attribute__((always_inline)) AVX2Q4 static inline void q4_rows_avx2(float *y, const hg_mat *W, const void *xv,
                                                                      int r0, int r1, int vnni)
{
    const hg_block_xq8 *x = xv;
    int nb = W->cols / HG_QK;
    float xd[Q4_XB] __attribute__((aligned(32))), xs[Q4_XB] __attribute__((aligned(32)));
    int8_t xp[Q4_XB * HG_QK] __attribute__((aligned(32)));
    for (int b0 = 0; b0 < nb; b0 += Q4_XB) {
        int n = nb - b0 < Q4_XB ? nb - b0 : Q4_XB;
        q4_x_scales8(xd, xs, x + b0, n);
        q4_x_groups(xp, x + b0, n, 2);
        q4_pass_avx2(y, W, x + b0, xp, xd, xs, b0, n, r0, r1, b0 > 0, vnni);
    }
}

AVX2Q4 void hg_rows_q4_avx2(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    q4_rows_avx2(y, W, xv, r0, r1, 0);
}

/* The same with AVX-VNNI (the avxvnni variant): vpdpbusd for the sums. */
AVX2Q4 void hg_rows_q4_avxvnni(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    q4_rows_avx2(y, W, xv, r0, r1, 1);
}

/* ------------------------------------------------------------- AVX-512 */

/* Four blocks per 512-bit vector: their nibble arrays side by side, so one
 * and gives the four blocks' values 0..15 and one shift + and their values
 * 16..31, against x copied in groups of four (q4_x_groups); the products
 * summed per 128-bit lane (vpdpbusd, or vpmaddubsw + vpaddw + vpmaddwd):
 * block i's sum in int32 lanes 4i..4i+3.  16 blocks' scales per group. */
#define AVX512Q4 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#define AVX512Q4VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))

AVX512Q4 static inline __m512i q4_quad_avx512(const hg_block_q4 *w)
{
    __m256i v01 = _mm256_loadu2_m128i((const __m128i *)w[1].qs, (const __m128i *)w[0].qs);
    __m256i v23 = _mm256_loadu2_m128i((const __m128i *)w[3].qs, (const __m128i *)w[2].qs);
    return _mm512_inserti64x4(_mm512_castsi256_si512(v01), v23, 1);
}

AVX512Q4 static inline __m512 q4_dot4_avx512(const hg_block_q4 *w, const int8_t *xq)
{
    __m512i v = q4_quad_avx512(w), m = _mm512_set1_epi8(15);
    __m512i lo = _mm512_and_si512(v, m), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
    __m512i p16 = _mm512_add_epi16(_mm512_maddubs_epi16(lo, _mm512_load_si512(xq)),
                                   _mm512_maddubs_epi16(hi, _mm512_load_si512(xq + 64)));
    return _mm512_cvtepi32_ps(_mm512_madd_epi16(p16, _mm512_set1_epi16(1)));
}

AVX512Q4VNNI static inline __m512 q4_dot4_vnni(const hg_block_q4 *w, const int8_t *xq)
{
    __m512i v = q4_quad_avx512(w), m = _mm512_set1_epi8(15);
    __m512i lo = _mm512_and_si512(v, m), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
    __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_load_si512(xq));
    return _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(p, hi, _mm512_load_si512(xq + 64)));
}

AVX512Q4 static inline __m512 q4_d16_avx512(__m512i dz)
{
    __m512i bits = _mm512_slli_epi32(_mm512_and_si512(dz, _mm512_set1_epi32(0xfff)), 16);
    return _mm512_mul_ps(_mm512_castsi512_ps(bits), _mm512_set1_ps(0x1p104f));
}

/* Scales of quad q of a group: block 4q + i's in lanes 4i..4i+3. */
#define Q4_QIDX(q)                                                                                                     \
    _mm512_setr_epi32(4 * (q), 4 * (q), 4 * (q), 4 * (q), 4 * (q) + 1, 4 * (q) + 1, 4 * (q) + 1, 4 * (q) + 1,          \
                      4 * (q) + 2, 4 * (q) + 2, 4 * (q) + 2, 4 * (q) + 2, 4 * (q) + 3, 4 * (q) + 3, 4 * (q) + 3,       \
                      4 * (q) + 3)

/* The pass over rows as q4_pass_avx2, for the AVX-512BW products and the
 * VNNI ones: one body, the product chosen at compile time. */
#define Q4_PASS_AVX512(NAME, ATTR, DOT4)                                                                               \
    ATTR static void NAME(float *y, const hg_mat *W, const hg_block_xq8 *x, const int8_t *xp, const float *xd,        \
                          const float *xs, int b0, int nb, int r0, int r1, int add)                                    \
    {                                                                                                                  \
        const int nbr = W->cols / HG_QK;                                                                               \
        const __m512i idx = _mm512_setr_epi32(0, 18, 36, 54, 72, 90, 108, 126, 144, 162, 180, 198, 216, 234, 252, 270); \
        const __m512i lo16 = _mm512_set1_epi32(0xffff);                                                               \
        const __m512i q0 = Q4_QIDX(0), q1 = Q4_QIDX(1), q2 = Q4_QIDX(2), q3 = Q4_QIDX(3);                             \
        for (int r = r0; r < r1; r++) {                                                                                \
            const hg_block_q4 *w = (const hg_block_q4 *)W->data + (size_t)r * nbr + b0;                               \
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), corr = _mm512_setzero_ps();                   \
            __m256 t0 = _mm256_setzero_ps();                                                                           \
            float tail = 0;                                                                                            \
            int b = 0;                                                                                                 \
            for (; b + 16 <= nb; b += 16) {                                                                            \
                const char *p = (const char *)(w + b);                                                                 \
                _mm_prefetch(p + Q4_PF, _MM_HINT_T0);                                                                  \
                _mm_prefetch(p + Q4_PF + 64, _MM_HINT_T0);                                                             \
                _mm_prefetch(p + Q4_PF + 128, _MM_HINT_T0);                                                            \
                _mm_prefetch(p + Q4_PF + 192, _MM_HINT_T0);                                                            \
                _mm_prefetch(p + Q4_PF + 256, _MM_HINT_T0);                                                            \
                __m512i dz = _mm512_and_si512(_mm512_i32gather_epi32(idx, p, 1), lo16);                               \
                __m512 d = q4_d16_avx512(dz);                                                                          \
                __m512 z = _mm512_cvtepi32_ps(_mm512_srli_epi32(dz, 12));                                              \
                corr = _mm512_fmadd_ps(_mm512_mul_ps(d, z), _mm512_loadu_ps(xs + b), corr);                            \
                __m512 sc = _mm512_mul_ps(d, _mm512_loadu_ps(xd + b));                                                 \
                const int8_t *xb = xp + (size_t)b * HG_QK;                                                             \
                a0 = _mm512_fmadd_ps(DOT4(w + b, xb), _mm512_permutexvar_ps(q0, sc), a0);                              \
                a1 = _mm512_fmadd_ps(DOT4(w + b + 4, xb + 128), _mm512_permutexvar_ps(q1, sc), a1);                    \
                a0 = _mm512_fmadd_ps(DOT4(w + b + 8, xb + 256), _mm512_permutexvar_ps(q2, sc), a0);                    \
                a1 = _mm512_fmadd_ps(DOT4(w + b + 12, xb + 384), _mm512_permutexvar_ps(q3, sc), a1);                   \
            }                                                                                                          \
            for (; b < nb; b++) { /* the tail, one block at a time in 256 bits */                                      \
                float d = q4_d_scalar(w[b].dz);                                                                        \
                t0 = _mm256_fmadd_ps(q4_dot_avx2(w + b, x[b].qs, 0), _mm256_set1_ps(d * xd[b]), t0);                  \
                tail += d * (float)hg_q4_z(w[b].dz) * xs[b];                                                           \
            }                                                                                                          \
            float s = _mm512_reduce_add_ps(_mm512_sub_ps(_mm512_add_ps(a0, a1), corr)) + hg_hsum256(t0) - tail;        \
            y[r] = add ? y[r] + s : s;                                                                                 \
        }                                                                                                              \
    }

Q4_PASS_AVX512(q4_pass_avx512, AVX512Q4, q4_dot4_avx512)
Q4_PASS_AVX512(q4_pass_vnni, AVX512Q4VNNI, q4_dot4_vnni)

/* x's scales and values (in groups of four blocks) copied, then the passes. */
#define Q4_ROWS_AVX512(NAME, ATTR, PASS)                                                                               \
    void NAME(float *y, const hg_mat *W, const void *xv, int r0, int r1);                                              \
    ATTR void NAME(float *y, const hg_mat *W, const void *xv, int r0, int r1)                                          \
    {                                                                                                                  \
        const hg_block_xq8 *x = xv;                                                                                    \
        int nb = W->cols / HG_QK;                                                                                      \
        float xd[Q4_XB] __attribute__((aligned(64))), xs[Q4_XB] __attribute__((aligned(64)));                         \
        int8_t xp[Q4_XB * HG_QK] __attribute__((aligned(64)));                                                         \
        for (int b0 = 0; b0 < nb; b0 += Q4_XB) {                                                                       \
            int n = nb - b0 < Q4_XB ? nb - b0 : Q4_XB;                                                                 \
            for (int i = 0; i < n; i++) xd[i] = x[b0 + i].d, xs[i] = x[b0 + i].s;                                      \
            q4_x_groups(xp, x + b0, n, 4);                                                                             \
            PASS(y, W, x + b0, xp, xd, xs, b0, n, r0, r1, b0 > 0);                                                     \
        }                                                                                                              \
    }

Q4_ROWS_AVX512(hg_rows_q4_avx512, AVX512Q4, q4_pass_avx512)
Q4_ROWS_AVX512(hg_rows_q4_vnni, AVX512Q4VNNI, q4_pass_vnni)
