/* kernels.c — plain C kernels, OpenBLAS products, variant selection. */
#include "kernels.h"
#include "amx.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ formats */

size_t hg_mat_data_bytes(hg_mat_type t, int rows, int cols)
{
    size_t n = (size_t)rows * (size_t)cols;
    switch (t) {
    case HG_MAT_F32: return n * 4;
    case HG_MAT_BF16: return n * 2;
    case HG_MAT_Q8_0: return n;
    }
    return 0;
}

size_t hg_mat_bytes(const hg_mat *m)
{
    size_t b = hg_mat_data_bytes(m->type, m->rows, m->cols);
    if (m->type == HG_MAT_Q8_0) b += (size_t)m->rows * (size_t)(m->cols / HG_Q8_BLOCK) * sizeof(float);
    return b;
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

void hg_quantize_q8_0_row(int8_t *q, float *scales, const float *x, int cols)
{
    for (int b = 0; b < cols / HG_Q8_BLOCK; b++) {
        const float *xb = x + b * HG_Q8_BLOCK;
        float amax = 0;
        for (int i = 0; i < HG_Q8_BLOCK; i++) amax = fabsf(xb[i]) > amax ? fabsf(xb[i]) : amax;
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        scales[b] = d;
        for (int i = 0; i < HG_Q8_BLOCK; i++) {
            float v = roundf(xb[i] * id);
            q[b * HG_Q8_BLOCK + i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    }
}

void hg_mat_row(const hg_mat *W, int r, float *out)
{
    size_t K = (size_t)W->cols, off = (size_t)r * K;
    switch (W->type) {
    case HG_MAT_F32: memcpy(out, (const float *)W->data + off, K * sizeof(float)); break;
    case HG_MAT_BF16: {
        const uint16_t *w = (const uint16_t *)W->data + off;
        for (size_t i = 0; i < K; i++) out[i] = hg_bf16_to_f32(w[i]);
        break;
    }
    case HG_MAT_Q8_0: {
        const int8_t *w = (const int8_t *)W->data + off;
        const float *s = W->scales + (size_t)r * (K / HG_Q8_BLOCK);
        for (size_t i = 0; i < K; i++) out[i] = w[i] * s[i / HG_Q8_BLOCK];
        break;
    }
    }
}

/* ---------------------------------------------------- generic kernels */

static void rows_f32_generic(float *y, const hg_mat *W, const float *x, int r0, int r1)
{
    int K = W->cols;
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

static void rows_bf16_generic(float *y, const hg_mat *W, const float *x, int r0, int r1)
{
    int K = W->cols;
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

static void rows_q8_generic(float *y, const hg_mat *W, const float *x, int r0, int r1)
{
    int K = W->cols, nb = K / HG_Q8_BLOCK;
    for (int r = r0; r < r1; r++) {
        const int8_t *w = (const int8_t *)W->data + (size_t)r * K;
        const float *sc = W->scales + (size_t)r * nb;
        float s = 0;
        for (int b = 0; b < nb; b++) {
            float acc = 0;
            for (int i = 0; i < HG_Q8_BLOCK; i++) acc += w[b * HG_Q8_BLOCK + i] * x[b * HG_Q8_BLOCK + i];
            s += acc * sc[b];
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
    "generic", always, {rows_f32_generic, rows_bf16_generic, rows_q8_generic}, dot_generic, axpy_generic,
    hg_swiglu_generic, hg_rmsnorm_generic};

/* SIMD variants: kernels_x86.c on x86-64, kernels_arm.c on aarch64 (the
 * Makefile builds the file of the target only).  In order of preference:
 * the last one the CPU can run is chosen. */
#if defined(__x86_64__)
extern const hg_kernel_variant hg_variant_avx2, hg_variant_avx512, hg_variant_avx512bf16;
static const hg_kernel_variant *const variants[] = {&variant_generic, &hg_variant_avx2, &hg_variant_avx512,
                                                    &hg_variant_avx512bf16};
#elif defined(__aarch64__)
extern const hg_kernel_variant hg_variant_neon, hg_variant_neon_dotprod, hg_variant_neon_bf16;
static const hg_kernel_variant *const variants[] = {&variant_generic, &hg_variant_neon, &hg_variant_neon_dotprod,
                                                    &hg_variant_neon_bf16};
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

/* ------------------------------------------------------------ products */

typedef struct mv_task {
    float *Y;                /* (T, rows) */
    const hg_mat *W;
    const float *X;          /* (T, cols) */
    int T;
    hg_rows_fn fn;
} mv_task;

/* Rows split over threads on 16-row boundaries (no shared cache lines of
 * y); with T > 1 the rows go in blocks of 16, each block used for all T
 * inputs while it is in cache, so W is read from memory once. */
static void mv_run(void *arg, int ith, int nth)
{
    mv_task *t = arg;
    int n = t->W->rows, K = t->W->cols;
    int chunks = (n + 15) / 16;
    int c0 = (int)((long)chunks * ith / nth), c1 = (int)((long)chunks * (ith + 1) / nth);
    int r0 = c0 * 16, r1 = c1 * 16 < n ? c1 * 16 : n;
    if (t->T == 1) {
        if (r0 < r1) t->fn(t->Y, t->W, t->X, r0, r1);
        return;
    }
    /* blocks of about 1 MB of weights: in L2 for the T inputs, and large
     * enough that a kernel's per-call preparation of x is amortised */
    int blk = (int)(((size_t)1 << 20) / (hg_mat_data_bytes(t->W->type, 1, K) + 1));
    blk = blk < 16 ? 16 : blk & ~15;
    for (int b = r0; b < r1; b += blk) {
        int e = b + blk < r1 ? b + blk : r1;
        for (int i = 0; i < t->T; i++) t->fn(t->Y + (size_t)i * n, t->W, t->X + (size_t)i * K, b, e);
    }
}

#define SMALL_BATCH 8

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
 * threads at once: one call, on this thread. */
static void sgemm(float *Y, int ldy, const float *X, const float *W, int T, int N, int K)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, 1.0f, X, K, W, K, 0.0f, Y, ldy);
}

void hg_matmul(hg_pool *pool, float *Y, const float *X, const hg_mat *W, int T, hg_workspace *ws)
{
    float *scratch = ws ? ws->scratch : NULL;
    size_t scratch_floats = ws ? ws->scratch_floats : 0;
    int N = W->rows, K = W->cols;
    if (T <= SMALL_BATCH || (W->type != HG_MAT_F32 && !scratch)) {
        mv_task t = {Y, W, X, T, hg_kernels_active()->rows[W->type]};
        hg_pool_run(pool, mv_run, &t);
        return;
    }
    if (ws && ws->amx && hg_amx_matmul(pool, Y, X, W, T, ws->amx)) return;
    if (W->type == HG_MAT_F32) {
        sgemm(Y, N, X, (const float *)W->data, T, N, K);
        return;
    }
    int tile = (int)(scratch_floats / (size_t)K);
    if (tile < 1) tile = 1;
    for (int r0 = 0; r0 < N; r0 += tile) {
        int r1 = r0 + tile < N ? r0 + tile : N;
        expand_task et = {W, scratch, r0, r1};
        hg_pool_run(pool, expand_run, &et);
        sgemm(Y + r0, N, X, scratch, T, r1 - r0, K);
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
