/* sampler.h — seeded RNG and token sampling (HUGINN.md §5 order). */
#ifndef HG_SAMPLER_H
#define HG_SAMPLER_H

#include "internal.h"

typedef struct hg_rng { uint64_t s[4]; } hg_rng;

void hg_rng_seed(hg_rng *r, uint64_t seed);
uint64_t hg_rng_next(hg_rng *r);
double hg_rng_uniform(hg_rng *r);            /* [0, 1)              */
double hg_rng_normal(hg_rng *r);             /* N(0, 1)             */
double hg_rng_trunc_normal(hg_rng *r);       /* N(0, 1) cut at ±3   */

typedef struct hg_sampler_work {
    float *probs;   /* (vocab) */
    int *idx;       /* (vocab) */
    unsigned char *mark; /* (vocab) */
} hg_sampler_work;

/* Divide positive / multiply negative logits of every token in hist. */
void hg_repetition_penalty(float *logits, int V, const int32_t *hist, int n_hist, float penalty,
                           unsigned char *mark /* (V) scratch */);
/* Filters on probabilities, in place (zeroing dropped entries, no renormalise). */
void hg_filter_top_k(float *probs, int V, int k, int *idx);
void hg_filter_top_p(float *probs, int V, float p, int *idx);
void hg_filter_min_p(float *probs, int V, float min_p);

/* Pick the next token from logits (modified in place). */
int hg_sample(float *logits, int V, const hg_gen_params *p, const int32_t *hist, int n_hist, hg_rng *rng,
              hg_sampler_work *w);

#endif
