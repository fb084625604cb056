/* kernels.c — plain C (and OpenBLAS) implementations of the kernels. */
#include "kernels.h"

#include <cblas.h>
#include <math.h>

void hg_rmsnorm(float *out, const float *x, const float *w, int T, int n, float eps)
{
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n;
        float *o = out + (size_t)t * n;
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float r = (float)(1.0 / sqrt(ss / n + eps));
        for (int i = 0; i < n; i++) o[i] = (xr[i] * r) * w[i];
    }
}

void hg_matmul(float *Y, const float *X, const float *W, int T, int N, int K)
{
    if (T == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, W, K, X, 1, 0.0f, Y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, 1.0f, X, K, W, K, 0.0f, Y, N);
}

void hg_swiglu(float *act, const float *fc, int T, int n)
{
    for (int t = 0; t < T; t++) {
        const float *g = fc + (size_t)t * 2 * n, *u = g + n;
        float *a = act + (size_t)t * n;
        for (int i = 0; i < n; i++) a[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
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
