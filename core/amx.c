/* amx.c — prefill products on Intel AMX tiles (TDPBF16PS).
 *
 * Y(T, N) = X(T, K) · W(N, K)^T for bf16 (or q8_0, expanded) weights and
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
    uint16_t *wrows;         /* (threads, 32 K bf16 + K f32) q8_0 rows expanded */
} amx_task;

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512bf16")))

/* Transpose a 16x16 block of 32-bit words: out[i][j] = in[j][i]. */
AMX static void transpose16(const uint32_t *in, size_t in_stride, uint32_t *out)
{
    __m512i r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512(in + (size_t)i * in_stride);
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
    for (int k = 0; k < 16; k++) _mm512_storeu_si512(out + (size_t)k * 16, r[k]);
}

/* Pack columns n0..n0+31 of B = W^T: for each k block of 32, two 16x16
 * tiles of 32-bit words (a pair of bf16 k values per column). */
AMX static void pack_panel(const amx_task *t, int n0, uint32_t *pack, uint16_t *rows_bf16)
{
    int K = t->K, kw = K / 2;
    const uint32_t *src;
    size_t stride; /* in 32-bit words */
    if (t->W->type == HG_MAT_BF16) {
        src = (const uint32_t *)((const uint16_t *)t->W->data + (size_t)n0 * K);
        stride = (size_t)kw;
    } else { /* quantized: expand the 32 rows to bf16 first */
        size_t rb = hg_row_bytes(t->W->type, K);
        const hg_kernel_variant *kv = hg_kernels_active();
        void (*to_f32)(const void *, float *, int) =
            kv->to_f32[t->W->type] ? kv->to_f32[t->W->type] : hg_types[t->W->type].to_f32;
        for (int n = 0; n < 32; n++) {
            const char *row = (const char *)t->W->data + (size_t)(n0 + n) * rb;
            uint16_t *dst = rows_bf16 + (size_t)n * K;
            float *f = (float *)(rows_bf16 + (size_t)32 * K);
            to_f32(row, f, K);
            for (int k = 0; k < K; k += 16)
                _mm256_storeu_si256((__m256i *)(dst + k), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(f + k)));
        }
        src = (const uint32_t *)rows_bf16;
        stride = (size_t)kw;
    }
    for (int g = 0; g < 2; g++)
        for (int kb = 0; kb < kw / 16; kb++)
            transpose16(src + (size_t)g * 16 * stride + (size_t)kb * 16, stride, pack + (size_t)kb * 512 + g * 256);
}

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
    uint16_t *wrows = t->wrows + (size_t)ith * ((size_t)32 * K + 2 * (size_t)K);
    for (int p = p0; p < p1; p++) {
        int n0 = p * 32;
        pack_panel(t, n0, pack, wrows);
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
    if (W->type == HG_MAT_F32 || N % 32 || K % 32 || T < 1 || !hg_amx_available()) return 0;
    int Tp = (T + 31) & ~31, nth = hg_pool_size(pool);
    /* one workspace: X in bf16, packed panels, C spill, quantized rows expanded (32 bf16 rows then K floats) per thread */
    size_t xb = up64((size_t)Tp * K * 2), pk = up64((size_t)nth * (K / 2) * 32 * 4), ct = up64((size_t)nth * 32 * 32 * 4);
    size_t wr = W->type != HG_MAT_BF16 ? up64((size_t)nth * ((size_t)34 * K * 2 + 64)) : 0;
    size_t need = xb + pk + ct + wr;
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
    uint16_t *wrows = wr ? (uint16_t *)(base + xb + pk + ct) : NULL;
    to_bf16(Xb, X, (size_t)T * K);
    memset(Xb + (size_t)T * K, 0, (size_t)(Tp - T) * K * 2);
    amx_task t = {Y, Xb, W, T, Tp, N, K, pack, ctmp, wrows};
    hg_pool_run(pool, amx_run, &t);
    return 1;
}
