/* exitcrit.h — per-token adaptive exit criteria (HUGINN.md §5). */
#ifndef HG_EXITCRIT_H
#define HG_EXITCRIT_H

#include "internal.h"

typedef struct hg_exit_state {
    hg_criterion crit;
    double threshold;
    int V;                 /* vocabulary size                      */
    double prev_entropy;   /* entropy-diff                         */
    int prev_argmax, stable; /* argmax-stability                   */
    float *prev_logp;      /* (V) kl, minp-kl                      */
    float *cur_logp;       /* (V) scratch                          */
    float *prev_x;         /* (T, E) latent-diff, cosine           */
} hg_exit_state;

/* Buffers for V vocabulary entries and up to max_rows * E state values. */
hg_status hg_exit_alloc(hg_exit_state *s, int V, size_t max_state_values);
void hg_exit_free(hg_exit_state *s);

/* Start a token: x0 is the starting state (T rows of E). */
void hg_exit_begin(hg_exit_state *s, hg_criterion c, double threshold, const float *x0, int T, int E);
/* Whether the criterion needs the logits at each checked step. */
int hg_exit_needs_logits(hg_criterion c);
/* The exit value after a step: from the last position's logits (V) or from
 * the state x (T rows of E), whichever the criterion uses.  Updates "previous". */
double hg_exit_value(hg_exit_state *s, const float *logits, const float *x, int T, int E);
/* Does the value pass the threshold (exit now)? */
int hg_exit_passes(const hg_exit_state *s, double value);

#endif
