/* kernels.h — the numeric building blocks of the forward pass.
 *
 * Big matrices are hg_mat values in one of three formats; products with them
 * accumulate in f32.  Every product kernel has a plain C reference
 * ("generic") and SIMD variants (x86: AVX2+FMA, AVX-512, AVX512-BF16/VNNI;
 * aarch64: NEON, NEON+dotprod, NEON+bf16) chosen once at start-up by CPU
 * detection; tests check each variant against the reference. */
#ifndef HG_KERNELS_H
#define HG_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

typedef enum hg_mat_type {
    HG_MAT_F32 = 0,
    HG_MAT_BF16,
    HG_MAT_Q8_0,
} hg_mat_type;

#define HG_Q8_BLOCK 32

typedef struct hg_mat {
    hg_mat_type type;
    int rows, cols;          /* (out, in): y = W x                                  */
    const void *data;        /* row-major: float / uint16_t (bf16) / int8_t (q8_0)  */
    const float *scales;     /* q8_0: (rows, cols / 32) scale of each block          */
} hg_mat;

size_t hg_mat_data_bytes(hg_mat_type t, int rows, int cols);
size_t hg_mat_bytes(const hg_mat *m);          /* data + scales */

/* y[r] = W[r] · x for rows [r0, r1). */
typedef void (*hg_rows_fn)(float *y, const hg_mat *W, const float *x, int r0, int r1);

typedef struct hg_kernel_variant {
    const char *name;        /* "generic", "avx2", "avx512", "avx512bf16", "neon", "neon-dotprod", "neon-bf16" */
    int (*available)(void);
    hg_rows_fn rows[3];      /* by hg_mat_type */
    float (*dot)(const float *a, const float *b, int n);        /* sum a[i] b[i]  */
    void (*axpy)(float *y, float a, const float *x, int n);     /* y += a x       */
    void (*swiglu)(float *act, const float *g, const float *u, int n); /* silu(g) u */
    void (*rmsnorm)(float *o, const float *x, const float *w, int n, float eps);
} hg_kernel_variant;

/* The variants compiled in: index 0 is the generic reference. */
int hg_kernel_variant_count(void);
const hg_kernel_variant *hg_kernel_variant_at(int i);
/* Pick the best variant for this CPU (idempotent; HUGINN_KERNELS=NAME forces
 * one the CPU can run: generic|avx2|avx512|avx512bf16|neon|neon-dotprod|neon-bf16). */
void hg_kernels_init(void);
const hg_kernel_variant *hg_kernels_active(void);

/* Y(T, N) = X(T, K) · W(N, K)^T.  T <= 8: the SIMD kernels, rows split over
 * the pool, each block of rows used for all T inputs while in cache; larger
 * T: AMX tiles for bf16/q8_0 weights where the CPU has them, else OpenBLAS
 * sgemm (tiles of bf16/q8_0 weights expanded to f32 in ws->scratch first).
 * ws may be NULL for f32 weights. */
typedef struct hg_workspace {
    float *scratch;          /* bf16/q8_0 tiles expanded to f32 for sgemm */
    size_t scratch_floats;
    void *amx;               /* hg_amx_ws, grown on demand */
} hg_workspace;

void hg_matmul(hg_pool *pool, float *Y, const float *X, const hg_mat *W, int T, hg_workspace *ws);
/* Row r of W as f32. */
void hg_mat_row(const hg_mat *W, int r, float *out);

/* Conversions: f32 -> bf16 (round to nearest even, NaN kept), bf16 -> f32,
 * one row to q8_0 (scale = max|x| / 127 per block of 32). */
uint16_t hg_f32_to_bf16(float f);
float hg_bf16_to_f32(uint16_t h);
uint16_t hg_f32_to_f16(float f);     /* IEEE half, round to nearest even */
float hg_f16_to_f32(uint16_t h);
void hg_quantize_q8_0_row(int8_t *q, float *scales, const float *x, int cols);

/* The plain C row kernels, shared by variants without their own. */
void hg_swiglu_generic(float *act, const float *g, const float *u, int n);
void hg_rmsnorm_generic(float *o, const float *x, const float *w, int n, float eps);

/* out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, for T rows of n (out may be x);
 * several rows are spread over the pool (NULL: this thread). */
void hg_rmsnorm(hg_pool *pool, float *out, const float *x, const float *w, int T, int n, float eps);
/* act(T, n) = silu(fc[:, :n]) * fc[:, n:]  with fc (T, 2n). */
void hg_swiglu(hg_pool *pool, float *act, const float *fc, int T, int n);
/* Rotate adjacent pairs of every head of one row: (a,b) -> (a c - b s, b c + a s). */
void hg_rope(float *x, int n_heads, int head_dim, const float *cos, const float *sin);
/* y[i] += x[i] */
void hg_add(float *y, const float *x, size_t n);
/* In-place softmax of n values; returns the log of the normaliser (logsumexp). */
double hg_softmax(float *x, int n);
/* Index of the largest value, lowest index on ties. */
int hg_argmax(const float *x, int n);

#endif
