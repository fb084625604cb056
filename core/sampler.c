/* sampler.c — xoshiro256** RNG, repetition penalty, temperature, top-k,
 * top-p, min-p and the final draw, in the reference's order. */
#include "sampler.h"
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void hg_rng_seed(hg_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t hg_rng_next(hg_rng *r)
{
    uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double hg_rng_uniform(hg_rng *r) { return (double)(hg_rng_next(r) >> 11) * 0x1.0p-53; }

double hg_rng_normal(hg_rng *r)
{
    double u1, u2;
    do u1 = hg_rng_uniform(r);
    while (u1 <= 0);
    u2 = hg_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double hg_rng_trunc_normal(hg_rng *r)
{
    double z;
    do z = hg_rng_normal(r);
    while (z < -3.0 || z > 3.0);
    return z;
}

void hg_repetition_penalty(float *logits, int V, const int32_t *hist, int n_hist, float penalty,
                           unsigned char *mark)
{
    if (penalty == 1.0f || penalty <= 0) return;
    memset(mark, 0, (size_t)V);
    for (int i = 0; i < n_hist; i++) { /* each distinct token once */
        int t = hist[i];
        if (t < 0 || t >= V || mark[t]) continue;
        mark[t] = 1;
        logits[t] = logits[t] < 0 ? logits[t] * penalty : logits[t] / penalty;
    }
}

/* Does index a come before b: higher value first, then lower index?  A total
 * order, so the sorted result is unique. */
static int before(const float *v, int a, int b) { return v[a] > v[b] || (v[a] == v[b] && a < b); }

static void sift_down(const float *v, int *idx, int root, int n)
{
    for (;;) {
        int c = 2 * root + 1;
        if (c >= n) return;
        /* a heap with the last-in-order element on top */
        if (c + 1 < n && before(v, idx[c], idx[c + 1])) c++;
        if (!before(v, idx[root], idx[c])) return;
        int t = idx[root];
        idx[root] = idx[c];
        idx[c] = t;
        root = c;
    }
}

/* idx = 0..V-1 sorted by descending probs (heap sort: no shared state, so
 * contexts on different threads sample independently). */
static void sort_desc(const float *probs, int V, int *idx)
{
    for (int i = 0; i < V; i++) idx[i] = i;
    for (int i = V / 2 - 1; i >= 0; i--) sift_down(probs, idx, i, V);
    for (int n = V - 1; n > 0; n--) {
        int t = idx[0];
        idx[0] = idx[n];
        idx[n] = t;
        sift_down(probs, idx, 0, n);
    }
}

void hg_filter_top_k(float *probs, int V, int k, int *idx)
{
    if (k <= 0 || k >= V) return;
    sort_desc(probs, V, idx);
    float kth = probs[idx[k - 1]];
    for (int i = 0; i < V; i++)
        if (probs[i] < kth) probs[i] = 0;
}

void hg_filter_top_p(float *probs, int V, float p, int *idx)
{
    if (p <= 0 || p >= 1) return;
    sort_desc(probs, V, idx);
    double cum = 0;
    for (int i = 0; i < V; i++) {
        cum += probs[idx[i]];
        if (i > 0 && cum > p) probs[idx[i]] = 0; /* always keep the first */
    }
}

void hg_filter_min_p(float *probs, int V, float min_p)
{
    if (min_p <= 0) return;
    float mx = 0;
    for (int i = 0; i < V; i++) mx = probs[i] > mx ? probs[i] : mx;
    float thr = min_p * mx;
    for (int i = 0; i < V; i++)
        if (probs[i] < thr) probs[i] = 0;
}

int hg_sample(float *logits, int V, const hg_gen_params *p, const int32_t *hist, int n_hist, hg_rng *rng,
              hg_sampler_work *w)
{
    hg_repetition_penalty(logits, V, hist, n_hist, p->repetition_penalty, w->mark);
    if (p->greedy) return hg_argmax(logits, V);
    float *probs = w->probs;
    float temp = p->temperature > 0 ? p->temperature : 1.0f;
    for (int i = 0; i < V; i++) probs[i] = logits[i] / temp;
    hg_softmax(probs, V);
    hg_filter_top_k(probs, V, p->top_k, w->idx);
    hg_filter_top_p(probs, V, p->top_p, w->idx);
    hg_filter_min_p(probs, V, p->min_p);
    double sum = 0;
    for (int i = 0; i < V; i++) sum += probs[i];
    if (!(sum > 0)) return hg_argmax(logits, V);
    double u = hg_rng_uniform(rng) * sum, acc = 0;
    int last = 0;
    for (int i = 0; i < V; i++) {
        if (probs[i] <= 0) continue;
        acc += probs[i];
        last = i;
        if (u < acc) return i;
    }
    return last;
}
