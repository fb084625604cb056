/* kernels.c — plain C kernels, OpenBLAS products, variant selection. */
#include "kernels.h"
#include "amx.h"

#include <cblas.h>
#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ formats */

static void f32_to_f32(const void *src, float *dst, int n) { memcpy(dst, src, sizeof(float) * (size_t)n); }
static void f32_from_f32(void *dst, const float *src, int n) { memcpy(dst, src, sizeof(float) * (size_t)n); }

static void bf16_to_f32(const void *src, float *dst, int n)
{
    const uint16_t *w = src;
    for (int i = 0; i < n; i++) dst[i] = hg_bf16_to_f32(w[i]);
}

static void bf16_from_f32(void *dst, const float *src, int n)
{
    uint16_t *w = dst;
    for (int i = 0; i < n; i++) w[i] = hg_f32_to_bf16(src[i]);
}

static void q8_0_to_f32(const void *src, float *dst, int n)
{
    const hg_block_q8_0 *b = src;
    for (int i = 0; i < n / HG_QK; i++) {
        float d = hg_f16_to_f32(b[i].d);
        for (int j = 0; j < HG_QK; j++) dst[i * HG_QK + j] = d * b[i].qs[j];
    }
}

/* Scale max|x| / 127 rounded to f16; values divided by the rounded scale. */
static void q8_0_from_f32(void *dst, const float *src, int n)
{
    hg_block_q8_0 *b = dst;
    for (int i = 0; i < n / HG_QK; i++) {
        const float *x = src + (size_t)i * HG_QK;
        float amax = 0;
        for (int j = 0; j < HG_QK; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        b[i].d = hg_f32_to_f16(amax / 127.0f);
        float d = hg_f16_to_f32(b[i].d), id = d > 0 ? 1.0f / d : 0.0f;
        for (int j = 0; j < HG_QK; j++) {
            float v = roundf(x[j] * id);
            b[i].qs[j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    }
}

static void q4_to_f32(const void *src, float *dst, int n)
{
    const hg_block_q4 *b = src;
    for (int i = 0; i < n / HG_QK; i++) {
        float d = hg_q4_d(b[i].dz);
        int z = hg_q4_z(b[i].dz);
        for (int j = 0; j < HG_QK / 2; j++) {
            dst[i * HG_QK + j] = d * (float)((b[i].qs[j] & 15) - z);
            dst[i * HG_QK + j + 16] = d * (float)((b[i].qs[j] >> 4) - z);
        }
    }
}

/* d rounded to the 12-bit float of a q4 block (0 for d <= 0). */
static uint16_t q4_d_bits(float d)
{
    if (!(d > 0)) return 0;
    uint32_t h = hg_f32_to_f16(d * 0x1p8f) & 0x7fffu;
    h = h >= 0x7c00u ? 0xf7fu : (h + 4) >> 3; /* 7 mantissa bits, rounded (a carry moves into the exponent) */
    return (uint16_t)(h > 0xf7fu ? 0xf7fu : h); /* at most the largest finite value: exponent 31 is inf/NaN */
}

/* Round to nearest (ties to even) without a libm call: |v| < 2^22. */
static inline float q4_round(float v)
{
    v = v < -4e6f ? -4e6f : v > 4e6f ? 4e6f : v;
    return (v + 12582912.0f) - 12582912.0f;
}

/* The block's range [min(x, 0), max(x, 0)] over 15 steps, then a few
 * smaller scales (clipping the extremes for a finer grid), each with the
 * zero point rounded and its two neighbours: the pair of least squared
 * error, the scale rounded to its 12 bits before it is tried.  (Chosen by
 * perplexity over a symmetric layout, z fixed at 8 or 7 as in llama.cpp's
 * q4_0, and over no search: README, "Weight formats".) */
static void q4_from_f32(void *dst, const float *src, int n)
{
    hg_block_q4 *b = dst;
    static const float shrink[] = {1.0f, 0.95f, 0.9f, 0.85f, 0.8f};
    for (int i = 0; i < n / HG_QK; i++) {
        const float *x = src + (size_t)i * HG_QK;
        float mn = 0, mx = 0;
        for (int j = 0; j < HG_QK; j++) {
            mn = x[j] < mn ? x[j] : mn;
            mx = x[j] > mx ? x[j] : mx;
        }
        uint16_t best_bits = 0;
        int best_z = 0;
        float best = INFINITY;
        for (int f = 0; f < (int)(sizeof shrink / sizeof shrink[0]); f++) {
            uint16_t bits = q4_d_bits((mx - mn) / 15 * shrink[f]);
            float d = hg_q4_d(bits);
            if (!(d > 0)) continue;
            float id = 1.0f / d, r[HG_QK];
            for (int j = 0; j < HG_QK; j++) r[j] = q4_round(x[j] * id);
            int z0 = (int)q4_round(-mn * id);
            z0 = z0 > 15 ? 15 : z0;
            for (int z = z0 > 0 ? z0 - 1 : 0; z <= z0 + 1 && z <= 15; z++) {
                float e = 0, lo = (float)-z, hi = (float)(15 - z);
                for (int j = 0; j < HG_QK; j++) {
                    float q = r[j] < lo ? lo : r[j] > hi ? hi : r[j];
                    float t = x[j] - d * q;
                    e += t * t;
                }
                if (e < best) best = e, best_bits = bits, best_z = z;
            }
        }
        b[i].dz = (uint16_t)(best_z << 12 | best_bits);
        float d = hg_q4_d(b[i].dz), id = d > 0 ? 1.0f / d : 0.0f;
        for (int j = 0; j < HG_QK / 2; j++) {
            int q[2];
            for (int h = 0; h < 2; h++) {
                float v = q4_round(x[j + 16 * h] * id) + (float)best_z;
                q[h] = (int)(v < 0 ? 0 : v > 15 ? 15 : v);
            }
            b[i].qs[j] = (uint8_t)(q[0] | q[1] << 4);
        }
    }
}

const hg_type_traits hg_types[HG_MAT_NTYPES] = {
    [HG_MAT_F32] = {"f32", 1, 4, HG_X_F32, f32_to_f32, f32_from_f32},
    [HG_MAT_BF16] = {"bf16", 1, 2, HG_X_F32, bf16_to_f32, bf16_from_f32},
    [HG_MAT_Q8_0] = {"q8_0", HG_QK, sizeof(hg_block_q8_0), HG_X_Q8, q8_0_to_f32, q8_0_from_f32},
    [HG_MAT_Q4] = {"q4", HG_QK, sizeof(hg_block_q4), HG_X_Q8, q4_to_f32, q4_from_f32},
};

int hg_type_by_name(const char *name)
{
    for (int t = 0; name && t < HG_MAT_NTYPES; t++)
        if (!strcmp(name, hg_types[t].name)) return t;
    return -1;
}

size_t hg_row_bytes(hg_mat_type t, int cols)
{
    return (size_t)(cols / hg_types[t].block) * (size_t)hg_types[t].block_bytes;
}

size_t hg_mat_bytes(const hg_mat *m) { return (size_t)m->rows * hg_row_bytes(m->type, m->cols); }

size_t hg_x_bytes(hg_x_format f, int K)
{
    return f == HG_X_Q8 ? (size_t)(K / HG_QK) * sizeof(hg_block_xq8) : (size_t)K * sizeof(float);
}

void hg_quantize_xq8(hg_block_xq8 *dst, const float *x, int n)
{
    for (int i = 0; i < n / HG_QK; i++) {
        const float *xb = x + (size_t)i * HG_QK;
        float amax = 0;
        for (int j = 0; j < HG_QK; j++) amax = fabsf(xb[j]) > amax ? fabsf(xb[j]) : amax;
        float d = amax / 127.0f, id = d > 0 ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < HG_QK; j++) {
            /* roundf (halves away from zero) without the libm call: |v| <= 127
             * (up to rounding), so the truncation and the remainder are exact */
            float v = xb[j] * id;
            int q = (int)v;
            float f = v - (float)q;
            q += (f >= 0.5f) - (f <= -0.5f);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            dst[i].qs[j] = (int8_t)q;
            sum += q;
        }
        dst[i].d = d;
        dst[i].s = d * (float)sum;
    }
}

uint16_t hg_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float hg_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t hg_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, exp = (u >> 23) & 0xff, man = u & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) { /* subnormal half */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* may carry into the exponent: still right */
    return (uint16_t)(sign | h);
}

float hg_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (!man) u = sign;
        else { /* subnormal */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            u = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) u = sign | 0x7f800000u | (man << 13);
    else u = sign | ((exp - 15 + 127) << 23) | (man << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void hg_mat_row(const hg_mat *W, int r, float *out)
{
    hg_types[W->type].to_f32((const char *)W->data + (size_t)r * hg_row_bytes(W->type, W->cols), out, W->cols);
}

/* ---------------------------------------------------- generic kernels */

static void rows_f32_generic(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    int K = W->cols;
    const float *x = xv;
    for (int r = r0; r < r1; r++) {
        const float *w = (const float *)W->data + (size_t)r * K;
        float acc[8] = {0};
        int k = 0;
        for (; k + 8 <= K; k += 8)
            for (int j = 0; j < 8; j++) acc[j] += w[k + j] * x[k + j];
        float s = 0;
        for (; k < K; k++) s += w[k] * x[k];
        for (int j = 0; j < 8; j++) s += acc[j];
        y[r] = s;
    }
}

static void rows_bf16_generic(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    int K = W->cols;
    const float *x = xv;
    for (int r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)W->data + (size_t)r * K;
        float acc[8] = {0};
        int k = 0;
        for (; k + 8 <= K; k += 8)
            for (int j = 0; j < 8; j++) acc[j] += hg_bf16_to_f32(w[k + j]) * x[k + j];
        float s = 0;
        for (; k < K; k++) s += hg_bf16_to_f32(w[k]) * x[k];
        for (int j = 0; j < 8; j++) s += acc[j];
        y[r] = s;
    }
}

/* Integer sums per block, scaled by both scales: what every SIMD variant computes exactly. */
static void rows_q8_0_generic(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    int nb = W->cols / HG_QK;
    const hg_block_xq8 *x = xv;
    for (int r = r0; r < r1; r++) {
        const hg_block_q8_0 *w = (const hg_block_q8_0 *)W->data + (size_t)r * nb;
        float s = 0;
        for (int b = 0; b < nb; b++) {
            int acc = 0;
            for (int i = 0; i < HG_QK; i++) acc += w[b].qs[i] * x[b].qs[i];
            s += (float)acc * (hg_f16_to_f32(w[b].d) * x[b].d);
        }
        y[r] = s;
    }
}

/* q4 rows: per block, the integer sum of q (0..15) times x's int8 values,
 * then d (dx sum - z sx) with sx = dx sum(qx): what the SIMD variants
 * compute exactly up to the order of the f32 sums. */
static void rows_q4_generic(float *y, const hg_mat *W, const void *xv, int r0, int r1)
{
    int nb = W->cols / HG_QK;
    const hg_block_xq8 *x = xv;
    for (int r = r0; r < r1; r++) {
        const hg_block_q4 *w = (const hg_block_q4 *)W->data + (size_t)r * nb;
        float s = 0;
        for (int b = 0; b < nb; b++) {
            int acc = 0;
            for (int i = 0; i < HG_QK / 2; i++)
                acc += (w[b].qs[i] & 15) * x[b].qs[i] + (w[b].qs[i] >> 4) * x[b].qs[i + 16];
            s += hg_q4_d(w[b].dz) * (x[b].d * (float)acc - (float)hg_q4_z(w[b].dz) * x[b].s);
        }
        y[r] = s;
    }
}

static float dot_generic(const float *a, const float *b, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

static void axpy_generic(float *y, float a, const float *x, int n)
{
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

void hg_swiglu_generic(float *act, const float *g, const float *u, int n)
{
    for (int i = 0; i < n; i++) act[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void hg_rmsnorm_generic(float *o, const float *x, const float *w, int n, float eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) o[i] = (x[i] * r) * w[i];
}

static int always(void) { return 1; }

static const hg_kernel_variant variant_generic = {
    "generic", always, {rows_f32_generic, rows_bf16_generic, rows_q8_0_generic, rows_q4_generic}, {0}, NULL, {0}, dot_generic, axpy_generic,
    hg_swiglu_generic, hg_rmsnorm_generic, .amx = 0};

hg_rows_fn hg_variant_rows(const hg_kernel_variant *v, hg_mat_type t)
{
    return v->rows[t] ? v->rows[t] : variant_generic.rows[t];
}

/* SIMD variants: kernels_x86.c on x86-64, kernels_arm.c on aarch64 (the
 * Makefile builds the file of the target only).  In order of preference:
 * the last one the CPU can run is chosen. */
#if defined(__x86_64__)
extern const hg_kernel_variant hg_variant_avx2, hg_variant_avxvnni, hg_variant_avx512, hg_variant_avx512bf16;
static const hg_kernel_variant *const variants[] = {&variant_generic, &hg_variant_avx2, &hg_variant_avxvnni,
                                                    &hg_variant_avx512, &hg_variant_avx512bf16};
#elif defined(__aarch64__)
extern const hg_kernel_variant hg_variant_neon, hg_variant_neon_dotprod, hg_variant_neon_bf16, hg_variant_neon_i8mm;
static const hg_kernel_variant *const variants[] = {&variant_generic, &hg_variant_neon, &hg_variant_neon_dotprod,
                                                    &hg_variant_neon_bf16, &hg_variant_neon_i8mm};
#else
static const hg_kernel_variant *const variants[] = {&variant_generic};
#endif
static const hg_kernel_variant *active;

int hg_kernel_variant_count(void) { return (int)(sizeof variants / sizeof variants[0]); }

const hg_kernel_variant *hg_kernel_variant_at(int i) { return variants[i]; }

void hg_kernels_init(void)
{
    if (active) return;
    const char *want = getenv("HUGINN_KERNELS");
    const hg_kernel_variant *best = &variant_generic;
    for (int i = 0; i < (int)(sizeof variants / sizeof variants[0]); i++) {
        const hg_kernel_variant *v = hg_kernel_variant_at(i);
        if (!v->available()) continue;
        if (want && *want) {
            if (!strcmp(want, v->name)) best = v;
        } else {
            best = v;
        }
    }
    active = best;
}

const hg_kernel_variant *hg_kernels_active(void)
{
    hg_kernels_init();
    return active;
}

const char *hg_kernels_name(void) { return hg_kernels_active()->name; }

const char *hg_kernels_vectors(void)
{
    const char *v = hg_kernels_active()->vectors;
    return v ? v : "scalar";
}

int hg_kernels_amx(void) { return hg_kernels_active()->amx && hg_amx_available(); }

/* ------------------------------------------------------------ products */

/* A buffer of the workspace (or of the call when there is none). */
static void *ws_buf(hg_workspace *ws, size_t bytes, void **own)
{
    *own = NULL;
    if (ws) {
        if (ws->buf_bytes < bytes) {
            free(ws->buf);
            ws->buf = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
            ws->buf_bytes = ws->buf ? bytes : 0;
        }
        return ws->buf;
    }
    return *own = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

void hg_workspace_free(hg_workspace *ws)
{
    free(ws->buf);
    ws->buf = NULL;
    ws->buf_bytes = 0;
}

typedef struct mv_task {
    float *Y;                /* (T, rows) */
    const hg_mat *W;
    const void *X;           /* (T, x row) in the type's x format */
    size_t x_bytes;          /* bytes of one row of X */
    int T;
    hg_rows_fn fn;
    hg_rows_n_fn fn_n;
} mv_task;

/* Rows split over threads on 16-row boundaries (no shared cache lines of
 * y).  With T > 1 the variant's batch kernel reads each row once for all T
 * inputs; without one, rows go in blocks of about 1 MB, each block used for
 * all T inputs while it is in cache, so W is read from memory once. */
static void mv_run(void *arg, int ith, int nth)
{
    mv_task *t = arg;
    int n = t->W->rows;
    int chunks = (n + 15) / 16;
    int c0 = (int)((long)chunks * ith / nth), c1 = (int)((long)chunks * (ith + 1) / nth);
    int r0 = c0 * 16, r1 = c1 * 16 < n ? c1 * 16 : n;
    if (r0 >= r1) return;
    if (t->T == 1) {
        t->fn(t->Y, t->W, t->X, r0, r1);
        return;
    }
    if (t->fn_n) {
        t->fn_n(t->Y, t->W, t->X, t->T, r0, r1);
        return;
    }
    int blk = (int)(((size_t)1 << 20) / (hg_row_bytes(t->W->type, t->W->cols) + 1));
    blk = blk < 16 ? 16 : blk & ~15;
    for (int b = r0; b < r1; b += blk) {
        int e = b + blk < r1 ? b + blk : r1;
        for (int i = 0; i < t->T; i++)
            t->fn(t->Y + (size_t)i * n, t->W, (const char *)t->X + (size_t)i * t->x_bytes, b, e);
    }
}

typedef struct expand_task {
    const hg_mat *W;
    float *dst;
    int r0, r1;
} expand_task;

static void expand_run(void *arg, int ith, int nth)
{
    expand_task *t = arg;
    int n = t->r1 - t->r0;
    int a = t->r0 + (int)((long)n * ith / nth), b = t->r0 + (int)((long)n * (ith + 1) / nth);
    for (int r = a; r < b; r++) hg_mat_row(t->W, r, t->dst + (size_t)(r - t->r0) * t->W->cols);
}

/* Y(T, N) with row stride ldy = X(T, K) · W(N, K)^T on OpenBLAS.  The build
 * links the single-threaded OpenBLAS (the threaded one's idle threads spin
 * and fight the pool for the cores), which is not safe to call from two
 * threads at once: one call, on this thread, and one at a time in the
 * process (contexts with their own threads may run side by side). */
static pthread_mutex_t sgemm_mu = PTHREAD_MUTEX_INITIALIZER;
static void sgemm(float *Y, int ldy, const float *X, const float *W, int T, int N, int K)
{
    pthread_mutex_lock(&sgemm_mu);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, 1.0f, X, K, W, K, 0.0f, Y, ldy);
    pthread_mutex_unlock(&sgemm_mu);
}

/* Packed-panel products for prefill without AMX: C^T(N, T) = W(N, K) X^T.
 * X is packed once per call into panels of 16 inputs, k-major (16 floats per
 * k); each thread takes chunks of 48 rows of W, expands them to f32 a block
 * of KC columns at a time (48 x KC floats, in L2), and runs the variant's
 * panel kernel for every group of gemm_mr rows on gemm_np panel blocks of X
 * at a time (16 x KC each, in L1), accumulating in a (48, Tp) buffer written
 * to Y at the chunk's end. */
#define GEMM_NR 16
#ifndef GEMM_KC
#define GEMM_KC 256
#endif
#ifndef GEMM_ROWS
#define GEMM_ROWS 48                 /* rows expanded together (a multiple of every gemm_mr) */
#endif

typedef struct gemm_task {
    float *Y;
    const float *Xp;         /* (Tp/16, K, 16) */
    const hg_mat *W;
    int T, Tp, N, K;
    hg_gemm_fn kern;
    int mr, np;              /* the kernel's rows and panels per call   */
    float *thread_buf;       /* per thread: W rows (6, KC) + acc (6, Tp) */
    size_t thread_floats;
} gemm_task;

static void gemm_run(void *arg, int ith, int nth)
{
    gemm_task *t = arg;
    int K = t->K, N = t->N, Tp = t->Tp;
    int mr = t->mr, chunk_groups = GEMM_ROWS / mr, groups = (N + mr - 1) / mr;
    int g0 = (int)((long)groups * ith / nth), g1 = (int)((long)groups * (ith + 1) / nth);
    float *wbuf = t->thread_buf + (size_t)ith * t->thread_floats, *acc = wbuf + GEMM_ROWS * GEMM_KC;
    const hg_type_traits *tt = &hg_types[t->W->type];
    const hg_kernel_variant *kv = hg_kernels_active();
    void (*to_f32)(const void *, float *, int) = kv->to_f32[t->W->type] ? kv->to_f32[t->W->type] : tt->to_f32;
    size_t row_bytes = hg_row_bytes(t->W->type, K);
    int kc_step = GEMM_KC - GEMM_KC % tt->block, direct = t->W->type == HG_MAT_F32;
    /* chunks of GEMM_ROWS rows: their rows expanded once per K block (in L2),
     * each X panel block (16 x KC, in L1) used for all of them */
    for (int c0 = g0; c0 < g1; c0 += chunk_groups) {
        int c1 = c0 + chunk_groups < g1 ? c0 + chunk_groups : g1;
        int n0 = c0 * mr, n1 = c1 * mr < N ? c1 * mr : N, rows = n1 - n0;
        memset(acc, 0, sizeof(float) * (size_t)rows * (size_t)Tp);
        for (int k0 = 0; k0 < K; k0 += kc_step) {
            int kc = K - k0 < kc_step ? K - k0 : kc_step;
            const float *a = wbuf;
            size_t lda = GEMM_KC;
            /* the next block of these rows (or the first of the next chunk's):
             * short runs of many rows that the hardware prefetcher does not
             * follow, fetched a slice per kernel call while this block is
             * multiplied (all at once, the prefetches wait on each other) */
            const char *pf = NULL;
            int pf_row_lines = 1, pf_lines = 0, pf_next = 0, pf_per_call = 0, pf_line = 0;
            if (direct) { /* f32 rows are used where they are */
                a = (const float *)t->W->data + (size_t)n0 * K + k0;
                lda = (size_t)K;
            } else {
                int last = k0 + kc >= K, nk = last ? 0 : k0 + kc, nn = last ? n1 : n0;
                int nrows = last ? (N - n1 < rows ? N - n1 : rows) : rows;
                size_t nbytes = (size_t)(kc / tt->block) * tt->block_bytes;
                int calls = (Tp / GEMM_NR + t->np - 1) / t->np * ((rows + mr - 1) / mr);
                pf = (const char *)t->W->data + (size_t)nn * row_bytes + (size_t)(nk / tt->block) * tt->block_bytes;
                pf_row_lines = (int)((nbytes + 63) / 64) + 1; /* rows need not start on a line */
                pf_lines = nrows > 0 ? nrows * pf_row_lines : 0;
                pf_per_call = (pf_lines + calls - 1) / calls;
                for (int j = 0; j < rows; j++)
                    to_f32((const char *)t->W->data + (size_t)(n0 + j) * row_bytes + (size_t)(k0 / tt->block) * tt->block_bytes,
                           wbuf + (size_t)j * GEMM_KC, kc);
            }
            for (int p = 0; p < Tp; p += GEMM_NR * t->np) {
                int np = (Tp - p) / GEMM_NR < t->np ? (Tp - p) / GEMM_NR : t->np;
                const float *xp = t->Xp + (size_t)p * K + (size_t)k0 * GEMM_NR;
                for (int j = 0; j < rows; j += mr) {
                    for (int e = pf_next + pf_per_call; pf_next < e && pf_next < pf_lines; pf_next++) {
                        __builtin_prefetch(pf + pf_line * 64, 0, 2);
                        if (++pf_line == pf_row_lines) pf_line = 0, pf += row_bytes;
                    }
                    t->kern(acc + (size_t)j * Tp + p, Tp, a + (size_t)j * lda, (int)lda, xp, (size_t)K * GEMM_NR, kc,
                            rows - j < mr ? rows - j : mr, np);
                }
            }
        }
        for (int i = 0; i < t->T; i++)
            for (int j = 0; j < rows; j++) t->Y[(size_t)i * N + n0 + j] = acc[(size_t)j * Tp + i];
    }
}

typedef struct pack_task {
    float *Xp;
    const float *X;
    int T, Tp, K;
} pack_task;

static void pack_run(void *arg, int ith, int nth)
{
    pack_task *t = arg;
    int panels = t->Tp / GEMM_NR;
    for (int p = panels * ith / nth; p < panels * (ith + 1) / nth; p++) {
        float *dst = t->Xp + (size_t)p * t->K * GEMM_NR;
        for (int i = 0; i < GEMM_NR; i++) {
            int row = p * GEMM_NR + i;
            const float *x = t->X + (size_t)row * t->K;
            if (row < t->T)
                for (int k = 0; k < t->K; k++) dst[(size_t)k * GEMM_NR + i] = x[k];
            else
                for (int k = 0; k < t->K; k++) dst[(size_t)k * GEMM_NR + i] = 0;
        }
    }
}

static int gemm_packed(hg_pool *pool, float *Y, const float *X, const hg_mat *W, int T, hg_workspace *ws,
                       const hg_kernel_variant *kv)
{
    int N = W->rows, K = W->cols, Tp = (T + GEMM_NR - 1) / GEMM_NR * GEMM_NR, nth = hg_pool_size(pool);
    size_t thread_floats = ((size_t)GEMM_ROWS * GEMM_KC + (size_t)GEMM_ROWS * Tp + 15) & ~(size_t)15;
    size_t xp = (size_t)Tp * K;
    void *own;
    float *buf = ws_buf(ws, sizeof(float) * (xp + thread_floats * (size_t)nth), &own);
    if (!buf) return 0;
    pack_task pt = {buf, X, T, Tp, K};
    hg_pool_run(pool, pack_run, &pt);
    int mr = kv->gemm_mr > 0 && kv->gemm_mr <= GEMM_ROWS && GEMM_ROWS % kv->gemm_mr == 0 ? kv->gemm_mr : 6;
    gemm_task gt = {Y, buf, W, T, Tp, N, K, kv->gemm, mr, kv->gemm_np > 1 ? kv->gemm_np : 1, buf + xp, thread_floats};
    hg_pool_run(pool, gemm_run, &gt);
    free(own);
    return 1;
}

/* T rows of X (K values each) to hg_block_xq8 rows, blocks split over threads. */
typedef struct quant_task {
    hg_block_xq8 *q;
    const float *X;
    int T, K;
} quant_task;

static void quant_run(void *arg, int ith, int nth)
{
    quant_task *t = arg;
    int nb = t->K / HG_QK;
    long all = (long)t->T * nb, a = all * ith / nth, b = all * (ith + 1) / nth;
    while (a < b) {
        int row = (int)(a / nb), blk = (int)(a % nb);
        int cnt = (int)(b - a < nb - blk ? b - a : nb - blk);
        hg_quantize_xq8(t->q + (size_t)row * nb + blk, t->X + (size_t)row * t->K + (size_t)blk * HG_QK, cnt * HG_QK);
        a += cnt;
    }
}

void hg_matmul(hg_pool *pool, float *Y, const float *X, const hg_mat *W, int T, hg_workspace *ws)
{
    const hg_kernel_variant *kv = hg_kernels_active();
    int N = W->rows, K = W->cols;
    if (T <= HG_SMALL_BATCH) {
        hg_x_format xf = hg_types[W->type].x_format;
        const void *xin = X;
        void *own = NULL;
        size_t xb = hg_x_bytes(xf, K);
        if (xf == HG_X_Q8) {
            hg_block_xq8 *q = ws_buf(ws, xb * (size_t)T, &own);
            if (!q) { /* no memory: the products on expanded rows would need more */
                for (int i = 0; i < T; i++)
                    for (int r = 0; r < N; r++) Y[(size_t)i * N + r] = NAN;
                return;
            }
            quant_task qt = {q, X, T, K};
            /* wide inputs on the pool (the threads would otherwise wait) */
            if ((size_t)T * (size_t)K >= 16384 && hg_pool_size(pool) > 1) hg_pool_run(pool, quant_run, &qt);
            else quant_run(&qt, 0, 1);
            xin = q;
        }
        mv_task t = {Y, W, xin, xb, T, hg_variant_rows(kv, W->type), kv->rows_n[W->type]};
        hg_pool_run(pool, mv_run, &t);
        free(own);
        return;
    }
    if (kv->amx && ws && ws->amx && hg_amx_matmul(pool, Y, X, W, T, ws->amx)) return;
    if (kv->gemm && gemm_packed(pool, Y, X, W, T, ws, kv)) return;
    if (W->type == HG_MAT_F32) {
        sgemm(Y, N, X, (const float *)W->data, T, N, K);
        return;
    }
    float *scratch = ws ? ws->scratch : NULL;
    size_t scratch_floats = ws ? ws->scratch_floats : 0;
    void *own = NULL;
    if (!scratch) {
        scratch_floats = (size_t)K * 16;
        scratch = own = malloc(sizeof(float) * scratch_floats);
        if (!scratch) {
            for (size_t i = 0; i < (size_t)T * N; i++) Y[i] = NAN;
            return;
        }
    }
    int tile = (int)(scratch_floats / (size_t)K);
    if (tile < 1) tile = 1;
    for (int r0 = 0; r0 < N; r0 += tile) {
        int r1 = r0 + tile < N ? r0 + tile : N;
        expand_task et = {W, scratch, r0, r1};
        hg_pool_run(pool, expand_run, &et);
        sgemm(Y + r0, N, X, scratch, T, r1 - r0, K);
    }
    free(own);
}

/* C(m, 16 np) += A(m, k) [B_0 .. B_np-1]: the reference of the panel kernels. */
void hg_gemm_generic(float *C, int ldc, const float *A, int lda, const float *B, size_t bstride, int k, int m, int np)
{
    for (int q = 0; q < np; q++)
        for (int j = 0; j < m; j++) {
            float acc[GEMM_NR] = {0};
            for (int p = 0; p < k; p++)
                for (int i = 0; i < GEMM_NR; i++)
                    acc[i] += A[(size_t)j * lda + p] * B[(size_t)q * bstride + (size_t)p * GEMM_NR + i];
            for (int i = 0; i < GEMM_NR; i++) C[(size_t)j * ldc + q * GEMM_NR + i] += acc[i];
        }
}

/* ------------------------------------------------------ vector helpers */

typedef struct rows_task {
    float *out;
    const float *x, *w;
    int T, n;
    float eps;
} rows_task;

static void rmsnorm_run(void *arg, int ith, int nth)
{
    rows_task *t = arg;
    const hg_kernel_variant *kv = hg_kernels_active();
    for (int r = t->T * ith / nth; r < t->T * (ith + 1) / nth; r++)
        kv->rmsnorm(t->out + (size_t)r * t->n, t->x + (size_t)r * t->n, t->w, t->n, t->eps);
}

static void swiglu_run(void *arg, int ith, int nth)
{
    rows_task *t = arg;
    const hg_kernel_variant *kv = hg_kernels_active();
    for (int r = t->T * ith / nth; r < t->T * (ith + 1) / nth; r++) {
        const float *g = t->x + (size_t)r * 2 * t->n;
        kv->swiglu(t->out + (size_t)r * t->n, g, g + t->n, t->n);
    }
}

/* Rows are spread over the pool when there are several (a prefill chunk). */
void hg_rmsnorm(hg_pool *pool, float *out, const float *x, const float *w, int T, int n, float eps)
{
    rows_task t = {out, x, w, T, n, eps};
    if (T >= 4 && pool) hg_pool_run(pool, rmsnorm_run, &t);
    else rmsnorm_run(&t, 0, 1);
}

void hg_swiglu(hg_pool *pool, float *act, const float *fc, int T, int n)
{
    rows_task t = {act, fc, NULL, T, n, 0};
    if (T >= 4 && pool) hg_pool_run(pool, swiglu_run, &t);
    else swiglu_run(&t, 0, 1);
}

void hg_rope(float *x, int n_heads, int head_dim, const float *c, const float *s)
{
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * c[i] - b * s[i];
            v[2 * i + 1] = b * c[i] + a * s[i];
        }
    }
}

void hg_add(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

double hg_softmax(float *x, int n)
{
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
    return mx + log(sum);
}

int hg_argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}
