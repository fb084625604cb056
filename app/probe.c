/* probe.c — vector read-bandwidth and FMA-peak probes (see probe.h).
 * Written with GCC vector types, compiled once per ISA with target
 * attributes and chosen at run time, so no intrinsics header is needed. */
#include "probe.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sum n floats with 8 vector accumulators of L lanes (loads in flight
 * enough to saturate memory); FMA chains: x = x b + c on `CH` registers. */
#define PROBE_FUNCS(SUF, ATTR, L, CH, R)                                                                                  \
    typedef float v##SUF __attribute__((vector_size(L * 4)));                                                          \
    ATTR static double sum_##SUF(const float *p, size_t n)                                                             \
    {                                                                                                                  \
        v##SUF s[8];                                                                                                   \
        memset(s, 0, sizeof s);                                                                                        \
        for (size_t i = 0; i + 8 * L <= n; i += 8 * L)                                                                 \
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) s[j] += *(const v##SUF *)(p + i + (size_t)L * j);      \
        _Pragma("GCC unroll 8") for (int j = 1; j < 8; j++) s[0] += s[j];                                              \
        double t = 0;                                                                                                  \
        for (int j = 0; j < L; j++) t += s[0][j];                                                                      \
        return t;                                                                                                      \
    }                                                                                                                  \
    ATTR static float fma_##SUF(long iters)                                                                            \
    {                                                                                                                  \
        v##SUF x[CH], b, c;                                                                                            \
        for (int j = 0; j < L; j++) {                                                                                  \
            b[j] = 0.999f;                                                                                             \
            c[j] = 1e-7f;                                                                                              \
        }                                                                                                              \
        _Pragma("GCC unroll 16") for (int k = 0; k < CH; k++) x[k] = b + 1e-3f * (float)k;                              \
        for (long i = 0; i < iters; i++) {                                                                             \
            _Pragma("GCC unroll 16") for (int k = 0; k < CH; k++) x[k] = x[k] * b + c;                                 \
            __asm__ volatile("" : R(x[0]), R(x[1]), R(x[2]), R(x[3]));                                                \
        }                                                                                                              \
        _Pragma("GCC unroll 16") for (int k = 1; k < CH; k++) x[0] += x[k];                                            \
        return x[0][0];                                                                                                \
    }

#if defined(__x86_64__)
PROBE_FUNCS(avx512, __attribute__((target("avx512f,fma"))), 16, 12, "+v")
PROBE_FUNCS(avx2, __attribute__((target("avx2,fma"))), 8, 12, "+x")
static int isa_level(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}
#elif defined(__aarch64__)
PROBE_FUNCS(neon, , 4, 16, "+w")
static int isa_level(void) { return 3; }
#else
static int isa_level(void) { return 0; }
#endif

static double sum_scalar(const float *p, size_t n)
{
    float s[16] = {0};
    for (size_t i = 0; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) s[j] += p[i + j];
    double t = 0;
    for (int j = 0; j < 16; j++) t += s[j];
    return t;
}

static float fma_scalar(long iters)
{
    float x[12];
    for (int k = 0; k < 12; k++) x[k] = 0.999f;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++) x[k] = x[k] * 0.999f + 1e-7f;
    return x[0];
}

static const char *const isa_names[] = {"scalar", "avx2", "avx512", "neon"}; /* by isa_level */

const char *probe_isa(void)
{
    return isa_names[isa_level()];
}

static double vsum(const float *p, size_t n)
{
    switch (isa_level()) {
#if defined(__x86_64__)
    case 2: return sum_avx512(p, n);
    case 1: return sum_avx2(p, n);
#elif defined(__aarch64__)
    case 3: return sum_neon(p, n);
#endif
    default: return sum_scalar(p, n);
    }
}

/* FLOPs of one call of `iters` iterations with the vectors of `level`. */
static double vfma(int level, long iters, float *out)
{
    switch (level) {
#if defined(__x86_64__)
    case 2: *out = fma_avx512(iters); return (double)iters * 12 * 16 * 2;
    case 1: *out = fma_avx2(iters); return (double)iters * 12 * 8 * 2;
#elif defined(__aarch64__)
    case 3: *out = fma_neon(iters); return (double)iters * 16 * 4 * 2;
#endif
    default: *out = fma_scalar(iters); return (double)iters * 12 * 2;
    }
}

typedef struct job {
    const float *buf;
    size_t n;
    long iters;
    int level;
    double sum, flops;
    float out;
} job;

static void *bw_thread(void *arg)
{
    job *j = arg;
    j->sum = vsum(j->buf, j->n) + vsum(j->buf, j->n);
    return NULL;
}

static void *fma_thread(void *arg)
{
    job *j = arg;
    j->flops = vfma(j->level, j->iters, &j->out);
    return NULL;
}

double probe_bandwidth(int threads)
{
    size_t bytes = (size_t)2 << 30, n = bytes / sizeof(float);
    float *buf = aligned_alloc(64, bytes);
    if (!buf) return 0;
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7);
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    job jobs[256];
    pthread_t th[256];
    size_t per = (n / (size_t)threads) & ~(size_t)255;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        int started = 0;
        for (int t = 0; t < threads; t++) {
            jobs[t] = (job){buf + per * t, per, 0, 0, 0, 0, 0};
            if (pthread_create(&th[t], NULL, bw_thread, &jobs[t]) != 0) break;
            started++;
        }
        for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
        double dt = now_s() - t0;
        double gbs = (double)per * started * sizeof(float) * 2 / dt / 1e9;
        if (gbs > best) best = gbs;
    }
    free(buf);
    return best;
}

static int level_of(const char *isa)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(isa, isa_names[i])) return i;
    return 0;
}

const char *probe_kernels_isa(const char *vectors)
{
    int lvl = isa_level(), want = level_of(vectors);
    /* never wider than the CPU: the probe must run here */
    if (want == 3 ? lvl != 3 : want > lvl) want = lvl;
    return isa_names[want];
}

double probe_peak_gflops(int threads) { return probe_peak_gflops_isa(threads, probe_isa()); }

double probe_peak_gflops_isa(int threads, const char *isa)
{
    int level = level_of(isa);
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    job jobs[256];
    pthread_t th[256];
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s(), flops = 0;
        int started = 0;
        for (int t = 0; t < threads; t++) {
            jobs[t] = (job){NULL, 0, 50000000, level, 0, 0, 0};
            if (pthread_create(&th[t], NULL, fma_thread, &jobs[t]) != 0) break;
            started++;
        }
        for (int t = 0; t < started; t++) {
            pthread_join(th[t], NULL);
            flops += jobs[t].flops;
        }
        double g = flops / (now_s() - t0) / 1e9;
        if (g > best) best = g;
    }
    return best;
}
