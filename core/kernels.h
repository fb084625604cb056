/* kernels.h — the numeric building blocks of the forward pass (f32). */
#ifndef HG_KERNELS_H
#define HG_KERNELS_H

#include <stddef.h>

/* out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, for T rows of n (out may be x). */
void hg_rmsnorm(float *out, const float *x, const float *w, int T, int n, float eps);
/* Y(T, N) = X(T, K) · W(N, K)^T  (weights stored (out, in) row-major). */
void hg_matmul(float *Y, const float *X, const float *W, int T, int N, int K);
/* act(T, I) = silu(fc[:, :I]) * fc[:, I:]  with fc (T, 2I). */
void hg_swiglu(float *act, const float *fc, int T, int n);
/* Rotate adjacent pairs of every head of one row: (a,b) -> (a c - b s, b c + a s). */
void hg_rope(float *x, int n_heads, int head_dim, const float *cos, const float *sin);
/* y[i] += x[i] */
void hg_add(float *y, const float *x, size_t n);
/* In-place softmax of n values; returns the log of the normaliser (logsumexp). */
double hg_softmax(float *x, int n);
/* Index of the largest value, lowest index on ties. */
int hg_argmax(const float *x, int n);

#endif
