/* amx.c — prefill products on Intel AMX tiles (TDPBF16PS).
 *
 * Y(T, N) = X(T, K) · W(N, K)^T for bf16, q8_0 or q4 weights (the quantized
 * blocks expanded to bf16 as they are packed) and
 * T > HG_SMALL_BATCH rows.  X is rounded to bf16 once per call (T padded to 32 rows);
 * for each panel of 32 output columns W is packed into the tile layout of
 * B (pairs of k interleaved per column), then every block of 32 rows of X
 * multiplies it with 2 x 2 accumulator tiles.  Panels are spread over the
 * thread pool; each thread loads the tile configuration itself.  Linux must
 * grant the process the AMX state first (hg_amx_request_permission).
 * Compiled on x86-64 only; amx_none.c stands in elsewhere. */
#include "amx.h"
#include "platform.h"

#include <immintrin.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int amx_state; /* 0 unknown, 1 usable, -1 not */

int hg_amx_available(void)
{
    int s = atomic_load(&amx_state);
    if (s) return s > 0;
    int ok = 0;
    unsigned need = HG_X86_AMX_TILE | HG_X86_AMX_BF16 | HG_X86_AVX512BF16 | HG_X86_AVX512F | HG_X86_AVX512BW;
    if ((hg_x86_features() & need) == need && !getenv("HUGINN_NO_AMX"))
        ok = hg_amx_request_permission() == 0;
    atomic_store(&amx_state, ok ? 1 : -1);
    return ok;
}

typedef struct tile_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_cfg;

typedef struct amx_task {
    float *Y;
    const uint16_t *Xb;      /* (Tp, K) bf16, Tp = T padded to 32 */
    const hg_mat *W;
    int T, Tp, N, K;
    uint32_t *pack;          /* (threads, K/2 * 32) packed panels */
    float *ctmp;             /* (threads, 32 * 32) spill of the C tiles */
} amx_task;

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512bf16,f16c")))

/* Transpose 16 vectors of 16 32-bit words in place: r[i][j] becomes r[j][i]. */
__attribute__((always_inline)) AMX static inline void transpose16_regs(__m512i r[16])
{
    __m512i t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_i32x4(r[8 * i + j], r[8 * i + j + 4], 0x88);
            t[8 * i + j + 4] = _mm512_shuffle_i32x4(r[8 * i + j], r[8 * i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xdd);
    }
}

/* One 32-weight block of a quantized row as 32 bf16 (16 words, a pair of
 * k each): the f32 values of the type's to_f32 (d q, d (q - z): exact in
 * f32), rounded to nearest even, as the expansion through f32 gives. */
__attribute__((always_inline)) AMX static inline __m512i q8_0_block_bf16(const void *blk)
{
    const hg_block_q8_0 *b = blk;
    __m512 d = _mm512_set1_ps(_cvtsh_ss(b->d));
    __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->qs)));
    __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + 16))));
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_mul_ps(d, hi), _mm512_mul_ps(d, lo));
}

__attribute__((always_inline)) AMX static inline __m512i q4_block_bf16(const void *blk)
{
    const hg_block_q4 *b = blk;
    __m512 d = _mm512_set1_ps(_cvtsh_ss(hg_q4_f16(b->dz)) * 0x1p-8f);
    __m512i z = _mm512_set1_epi32(hg_q4_z(b->dz));
    __m128i v = _mm_loadu_si128((const __m128i *)b->qs), m = _mm_set1_epi8(15);
    __m512 lo = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(v, m)), z));
    __m512 hi = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(v, 4), m)), z));
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_mul_ps(d, hi), _mm512_mul_ps(d, lo));
}

/* 32 bf16 weights as they are. */
__attribute__((always_inline)) AMX static inline __m512i bf16_block_bf16(const void *p) { return _mm512_loadu_si512(p); }

/* software prefetch distance of the weight rows (bytes), measured */
#ifndef AMX_PF
#define AMX_PF 512
#endif

/* Pack columns n0..n0+31 of B = W^T: for each k block of 32, two 16x16
 * tiles of 32-bit words (a pair of bf16 k values per column).  16 rows'
 * k blocks (a quantized block is one: HG_QK = 32) are expanded to bf16 in
 * registers (expand, inlined) and transposed there. */
typedef void (*pack_fn)(const amx_task *t, int n0, uint32_t *pack);

__attribute__((always_inline)) AMX static inline void pack_panel(const amx_task *t, int n0, uint32_t *pack,
                                                                 __m512i (*expand)(const void *))
{
    int K = t->K;
    size_t rb = hg_row_bytes(t->W->type, K), bb = hg_row_bytes(t->W->type, 32);
    for (int g = 0; g < 2; g++) {
        const char *w = (const char *)t->W->data + (size_t)(n0 + 16 * g) * rb;
        for (int kb = 0; kb < K / 32; kb++) {
            __m512i r[16];
            for (int n = 0; n < 16; n++) {
                const char *blk = w + (size_t)n * rb + (size_t)kb * bb;
                _mm_prefetch(blk + AMX_PF, _MM_HINT_T0);
                r[n] = expand(blk);
            }
            transpose16_regs(r);
            uint32_t *out = pack + (size_t)kb * 512 + g * 256;
            for (int i = 0; i < 16; i++) _mm512_storeu_si512(out + (size_t)i * 16, r[i]);
        }
    }
}

AMX static void pack_bf16(const amx_task *t, int n0, uint32_t *pack) { pack_panel(t, n0, pack, bf16_block_bf16); }

AMX static void pack_q8_0(const amx_task *t, int n0, uint32_t *pack) { pack_panel(t, n0, pack, q8_0_block_bf16); }

AMX static void pack_q4(const amx_task *t, int n0, uint32_t *pack) { pack_panel(t, n0, pack, q4_block_bf16); }

/* The weight types AMX takes, with their packing; NULL: not here. */
static const pack_fn packers[HG_MAT_NTYPES] = {
    [HG_MAT_BF16] = pack_bf16,
    [HG_MAT_Q8_0] = pack_q8_0,
    [HG_MAT_Q4] = pack_q4,
};
_Static_assert(HG_QK == 32, "a quantized block is one k block of the tiles (pack_panel)");

AMX static void amx_run(void *arg, int ith, int nth)
{
    amx_task *t = arg;
    int K = t->K, N = t->N;
    int panels = N / 32;
    int p0 = (int)((long)panels * ith / nth), p1 = (int)((long)panels * (ith + 1) / nth);
    if (p0 >= p1) return;
    tile_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.rows[i] = 16;
        cfg.colsb[i] = 64;
    }
    _tile_loadconfig(&cfg);
    uint32_t *pack = t->pack + (size_t)ith * (K / 2) * 32;
    float *ctmp = t->ctmp + (size_t)ith * 32 * 32;
    for (int p = p0; p < p1; p++) {
        int n0 = p * 32;
        packers[t->W->type](t, n0, pack);
        for (int m0 = 0; m0 < t->Tp; m0 += 32) {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            const uint16_t *a0 = t->Xb + (size_t)m0 * K, *a1 = a0 + (size_t)16 * K;
            for (int kb = 0; kb < K / 32; kb++) {
                _tile_loadd(4, a0 + kb * 32, K * 2);
                _tile_loadd(5, a1 + kb * 32, K * 2);
                _tile_loadd(6, pack + (size_t)kb * 512, 64);
                _tile_loadd(7, pack + (size_t)kb * 512 + 256, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            int rows = t->T - m0 < 32 ? t->T - m0 : 32;
            if (rows == 32) {
                float *y = t->Y + (size_t)m0 * N + n0;
                _tile_stored(0, y, N * 4);
                _tile_stored(1, y + 16, N * 4);
                _tile_stored(2, y + (size_t)16 * N, N * 4);
                _tile_stored(3, y + (size_t)16 * N + 16, N * 4);
            } else { /* the last, partial block of rows */
                _tile_stored(0, ctmp, 32 * 4);
                _tile_stored(1, ctmp + 16, 32 * 4);
                _tile_stored(2, ctmp + 16 * 32, 32 * 4);
                _tile_stored(3, ctmp + 16 * 32 + 16, 32 * 4);
                for (int r = 0; r < rows; r++)
                    memcpy(t->Y + (size_t)(m0 + r) * N + n0, ctmp + r * 32, 32 * sizeof(float));
            }
        }
    }
    _tile_release();
}

/* f32 -> bf16, round to nearest even (vcvtneps2bf16), 16 values a step. */
AMX static void to_bf16(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
    for (; i < n; i++) dst[i] = hg_f32_to_bf16(src[i]);
}

static size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

int hg_amx_matmul(hg_pool *pool, float *Y, const float *X, const hg_mat *W, int T, hg_amx_ws *ws)
{
    int N = W->rows, K = W->cols;
    if (!packers[W->type] || N % 32 || K % 32 || T < 1 || !hg_amx_available()) return 0;
    int Tp = (T + 31) & ~31, nth = hg_pool_size(pool);
    /* one workspace: X in bf16, then per thread a packed panel and a C spill */
    size_t xb = up64((size_t)Tp * K * 2), pk = up64((size_t)nth * (K / 2) * 32 * 4), ct = up64((size_t)nth * 32 * 32 * 4);
    size_t need = xb + pk + ct;
    if (ws->bytes < need) { /* grows on the first calls only: sizes are bounded by the model */
        free(ws->buf);
        ws->buf = aligned_alloc(64, need);
        ws->bytes = ws->buf ? need : 0;
        if (!ws->buf) return 0;
    }
    char *base = ws->buf;
    uint16_t *Xb = (uint16_t *)base;
    uint32_t *pack = (uint32_t *)(base + xb);
    float *ctmp = (float *)(base + xb + pk);
    to_bf16(Xb, X, (size_t)T * K);
    memset(Xb + (size_t)T * K, 0, (size_t)(Tp - T) * K * 2);
    amx_task t = {Y, Xb, W, T, Tp, N, K, pack, ctmp};
    hg_pool_run(pool, amx_run, &t);
    return 1;
}
