/* kernels.h — the numeric building blocks of the forward pass.
 *
 * Big matrices are hg_mat values in one of the formats of hg_types[];
 * products with them accumulate in f32.  Every product kernel has a plain C
 * reference ("generic") and SIMD variants (x86: AVX2+FMA, AVX-512,
 * AVX512-BF16/VNNI; aarch64: NEON, +dotprod, +bf16, +i8mm) chosen once at
 * start-up by CPU detection; tests check each variant against the reference. */
#ifndef HG_KERNELS_H
#define HG_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/* The weight formats of the big matrices.  Everything that depends on a
 * format is in two tables: hg_types[] (block layout, conversions) and the
 * kernel variants' per-type product slots.  A new format is one enum value,
 * one row of hg_types[] and its kernels (a NULL slot falls back to the
 * generic kernel of the type). */
typedef enum hg_mat_type {
    HG_MAT_F32 = 0,
    HG_MAT_BF16,
    HG_MAT_Q8_0,
    HG_MAT_Q4,
    HG_MAT_NTYPES
} hg_mat_type;

#define HG_QK 32             /* values per block of the quantized formats */

/* q8_0: per block of 32 values, an IEEE f16 scale d and 32 int8 q: v = d q. */
typedef struct hg_block_q8_0 {
    uint16_t d;
    int8_t qs[HG_QK];
} hg_block_q8_0;             /* 34 bytes */

/* q4: per block of 32 values, 4-bit q with an integer zero point z:
 * v = d (q - z).  dz holds z in bits 12..15 and d in bits 0..11 as an
 * unsigned 12-bit float: bits 3..14 of an IEEE f16 (5 exponent, 7 mantissa
 * bits), times 2^-8, so that normal scales run from 2^-22 to 256 (hg_q4_d).
 * qs[j] holds value j in its low nibble and value j + 16 in its high
 * nibble.  4.5 bits per weight. */
typedef struct hg_block_q4 {
    uint16_t dz;
    uint8_t qs[HG_QK / 2];
} hg_block_q4;               /* 18 bytes */

/* Activations quantized for the integer products (x of q8_0 rows): an f32
 * scale d = max|x| / 127, the 32 int8 values and s = d * sum(q). */
typedef struct hg_block_xq8 {
    float d, s;
    int8_t qs[HG_QK];
} hg_block_xq8;              /* 40 bytes */

typedef enum hg_x_format {
    HG_X_F32 = 0,            /* products take x as f32                   */
    HG_X_Q8,                 /* products take x as hg_block_xq8 blocks   */
} hg_x_format;

typedef struct hg_type_traits {
    const char *name;        /* "f32", "bf16", "q8_0": the --weights name */
    int block;               /* values per block (1 for f32/bf16)         */
    int block_bytes;         /* bytes of one block                        */
    hg_x_format x_format;    /* what the row kernels take as x            */
    /* n values (a multiple of block) between f32 and the format */
    void (*to_f32)(const void *src, float *dst, int n);
    void (*from_f32)(void *dst, const float *src, int n);
} hg_type_traits;

extern const hg_type_traits hg_types[HG_MAT_NTYPES];
/* The type of a name ("q8_0"), or -1. */
int hg_type_by_name(const char *name);
/* Bytes of one row of cols values (cols a multiple of the block). */
size_t hg_row_bytes(hg_mat_type t, int cols);

typedef struct hg_mat {
    hg_mat_type type;
    int rows, cols;          /* (out, in): y = W x                                  */
    const void *data;        /* rows of hg_row_bytes(type, cols) bytes, row-major    */
} hg_mat;

size_t hg_mat_bytes(const hg_mat *m);
/* Row r of W as f32. */
void hg_mat_row(const hg_mat *W, int r, float *out);

/* x (n values, a multiple of 32) as hg_block_xq8 blocks. */
void hg_quantize_xq8(hg_block_xq8 *dst, const float *x, int n);
/* Bytes of one row of x in a format: K floats or K/32 blocks. */
size_t hg_x_bytes(hg_x_format f, int K);

/* y[r] = W[r] · x for rows [r0, r1); x in the type's x_format. */
typedef void (*hg_rows_fn)(float *y, const hg_mat *W, const void *x, int r0, int r1);
/* Y[t][r] = W[r] · X[t] for t < T (T <= HG_SMALL_BATCH), rows [r0, r1):
 * every row of W read once for all T inputs.  Y rows are W->rows apart, X
 * rows hg_x_bytes(x_format, W->cols) apart. */
typedef void (*hg_rows_n_fn)(float *Y, const hg_mat *W, const void *X, int T, int r0, int r1);
/* Prefill panels: C(m, 16 np) += A(m, k) [B_0 .. B_np-1] for m <= the
 * variant's gemm_mr and np <= its gemm_np, with A row-major (rows lda apart:
 * weights expanded to f32), B_i = B + i bstride k-major (16 floats per k: a
 * panel of 16 inputs), C rows ldc apart (panel i's columns at C + 16 i). */
typedef void (*hg_gemm_fn)(float *C, int ldc, const float *A, int lda, const float *B, size_t bstride, int k, int m,
                           int np);
void hg_gemm_generic(float *C, int ldc, const float *A, int lda, const float *B, size_t bstride, int k, int m, int np);

#define HG_SMALL_BATCH 16

typedef struct hg_kernel_variant {
    const char *name;        /* "generic", "avx2", ..., "neon-i8mm" (hg_kernels_init) */
    int (*available)(void);
    hg_rows_fn rows[HG_MAT_NTYPES];       /* by hg_mat_type; NULL: generic */
    hg_rows_n_fn rows_n[HG_MAT_NTYPES];   /* NULL: rows, once per input    */
    hg_gemm_fn gemm;                      /* NULL: OpenBLAS on expanded tiles */
    /* n values of a row (from a block boundary) to f32; NULL: the type's to_f32 */
    void (*to_f32[HG_MAT_NTYPES])(const void *src, float *dst, int n);
    float (*dot)(const float *a, const float *b, int n);        /* sum a[i] b[i]  */
    void (*axpy)(float *y, float a, const float *x, int n);     /* y += a x       */
    void (*swiglu)(float *act, const float *g, const float *u, int n); /* silu(g) u */
    void (*rmsnorm)(float *o, const float *x, const float *w, int n, float eps);
    int amx;                 /* prefill products may use AMX tiles (core/amx.c)
                                where the CPU and the OS allow them           */
    int gemm_mr, gemm_np;    /* gemm's most rows (a divisor of 48) and panels */
    const char *vectors;     /* the FMA vectors its kernels use: "avx2", "avx512",
                                "neon"; NULL: scalar (hg_kernels_vectors) */
} hg_kernel_variant;

#if defined(__x86_64__)
/* q4 rows of the x86 variants (core/kernels_x86_q4.c): AVX2+FMA, AVX2 with
 * AVX-VNNI, AVX-512BW, AVX-512 VNNI. */
void hg_rows_q4_avx2(float *y, const hg_mat *W, const void *x, int r0, int r1);
void hg_rows_q4_avxvnni(float *y, const hg_mat *W, const void *x, int r0, int r1);
void hg_rows_q4_avx512(float *y, const hg_mat *W, const void *x, int r0, int r1);
void hg_rows_q4_vnni(float *y, const hg_mat *W, const void *x, int r0, int r1);
#endif
#if defined(__aarch64__)
/* NEON kernels of q4 (core/kernels_arm_q4.c) for the NEON variants' tables:
 * rows on SMULL/SADALP (ARMv8.0) and on SDOT (asimddp), rows to f32. */
void hg_rows_q4_neon(float *y, const hg_mat *W, const void *x, int r0, int r1);
void hg_rows_q4_sdot(float *y, const hg_mat *W, const void *x, int r0, int r1);
void hg_q4_to_f32_neon(const void *src, float *dst, int n);
#endif

/* The variants compiled in: index 0 is the generic reference. */
int hg_kernel_variant_count(void);
const hg_kernel_variant *hg_kernel_variant_at(int i);
/* Pick the best variant for this CPU (idempotent; HUGINN_KERNELS=NAME forces
 * one the CPU can run: generic|avx2|avx512|avx512bf16|neon|neon-dotprod|neon-bf16|neon-i8mm). */
void hg_kernels_init(void);
const hg_kernel_variant *hg_kernels_active(void);
/* The row kernel of a variant for a type (the generic one where it has none). */
hg_rows_fn hg_variant_rows(const hg_kernel_variant *v, hg_mat_type t);

/* Y(T, N) = X(T, K) · W(N, K)^T.  T <= HG_SMALL_BATCH: the row kernels,
 * rows split over the pool, each weight read once for all T inputs; larger
 * T: AMX tiles for quantized/bf16 weights where the CPU has them, else the
 * variant's packed-panel gemm (weights expanded to f32 panel by panel), else
 * OpenBLAS sgemm (f32 weights, or tiles expanded in ws->scratch).
 * ws may be NULL (buffers are then allocated per call). */
typedef struct hg_workspace {
    float *scratch;          /* bf16/q8_0 tiles expanded to f32 for sgemm */
    size_t scratch_floats;
    void *amx;               /* hg_amx_ws, grown on demand */
    void *buf;               /* quantized x, packed panels: grown on demand */
    size_t buf_bytes;
} hg_workspace;

void hg_matmul(hg_pool *pool, float *Y, const float *X, const hg_mat *W, int T, hg_workspace *ws);
void hg_workspace_free(hg_workspace *ws);      /* the grown buffer */
/* Conversions: f32 -> bf16 (round to nearest even, NaN kept), bf16 -> f32. */
uint16_t hg_f32_to_bf16(float f);
float hg_bf16_to_f32(uint16_t h);
uint16_t hg_f32_to_f16(float f);     /* IEEE half, round to nearest even */
float hg_f16_to_f32(uint16_t h);
/* The scale d and zero point z of a q4 block. */
/* the f16 bits of d / 2^-8 (d = that f16 times 2^-8) and z of a q4 block */
static inline uint16_t hg_q4_f16(uint16_t dz) { return (uint16_t)((dz & 0xfffu) << 3); }
static inline float hg_q4_d(uint16_t dz) { return hg_f16_to_f32(hg_q4_f16(dz)) * 0x1p-8f; }
static inline int hg_q4_z(uint16_t dz) { return dz >> 12; }

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
