/* gen_speculative.c — speculative generation (HUGINN.md §7, the reference's
 * generate_speculative): the model drafts K tokens for itself at D recurrence
 * steps, one position at a time, then one full-depth pass over the last
 * accepted token and the first K-1 drafts checks them all; the drafts stand
 * up to the first one the verify pass disagrees with, and the verify pass's
 * own token replaces that one.
 *
 * Cache: drafts write positions that the verify pass overwrites at full
 * depth; rejected positions are dropped.  Between rounds the cache holds
 * every accepted token but the last (pending), as after plain decoding.
 * Events report the tokens put out so far as the context's kept tokens
 * (c->n_kept; the drafts in c->tokens are provisional) and the KV memory
 * the cache holds at that moment, draft positions included.
 *
 * Where huginn differs from the reference (which it otherwise follows
 * step by step, greedy results identical):
 * - it stops at max_new_tokens and at the first stop token (the reference
 *   finishes the round); the last round drafts only as many tokens as are
 *   still wanted (the same tokens: a round's tokens do not depend on K);
 * - warm start: the reference crashes; here each draft starts from the
 *   previous token's final state, the verify pass from s0, and the next
 *   round from the verify state of the position that produced the last
 *   accepted token. */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Does drafted token d stand against the verify logits row (V entries)? */
static int draft_stands(const float *row, int V, int d, double thr, float *probs)
{
    if (thr >= 1) return hg_argmax(row, V) == d;
    memcpy(probs, row, sizeof(float) * (size_t)V);
    hg_softmax(probs, V);
    float mx = probs[hg_argmax(probs, V)];
    return probs[d] >= (float)thr * mx;
}

hg_status hg_gen_speculative(hg_ctx *c, const hg_gen_run *r, hg_gen_result *res, hg_err *err)
{
    const hg_gen_params *p = r->p;
    const hg_spec_params *sp = &p->spec;
    const hg_config *cf = &c->m->cfg;
    int V = cf->vocab_size, E = cf->n_embd;
    int K = sp->lookahead;
    float *vlogits = malloc(sizeof(float) * (size_t)K * (size_t)V);
    float *probs = malloc(sizeof(float) * (size_t)V);
    if (!vlogits || !probs) {
        free(vlogits);
        free(probs);
        return hg_fail(err, HG_E_NOMEM, "out of memory for %d rows of verify logits", K);
    }
    hg_batch_opts o = {.num_steps = p->num_steps, .init_scale = p->init_scale, .rng = &c->rng,
                       .crit = HG_CRIT_OFF, .threshold = NAN, .check_every = 1, .phase = HG_PHASE_DECODE,
                       .cb = r->cb, .user = r->user};
    int base = c->n_tokens; /* position of output index 0 */
    int max = p->max_new_tokens;
    hg_status s = HG_OK;
    res->stop_reason = HG_STOP_MAX_TOKENS;
    double t0 = hg_now();
    int done = 0;

    /* The pending tokens (the prompt) at full depth give the first token. */
    int steps;
    s = hg_process_batch(c, c->n_tokens - c->n_past, &o, &steps);
    if (s == HG_E_CANCELLED) {
        res->stop_reason = HG_STOP_CANCELLED;
        s = HG_OK;
        done = 1;
    }
    int n_new = 0; /* tokens appended to c->tokens not yet put in the output */
    if (!done) {
        int tok = hg_sample(c->logits, V, p, c->tokens, c->n_tokens, &c->rng, &c->sw);
        c->tokens[c->n_tokens++] = tok;
        n_new = 1;
    }
    while (!done) {
        /* Output the tokens the last step added (events, stop tokens, max). */
        for (int pos = c->n_tokens - n_new; pos < c->n_tokens; pos++) {
            int tok = c->tokens[pos];
            res->output_ids[res->n_out] = tok;
            res->steps[res->n_out] = p->num_steps;
            res->n_out++;
            int is_stop = hg_gen_is_stop(r, c, tok);
            if (r->cb) {
                hg_event ev = {.type = HG_EV_TOKEN, .position = pos, .n_positions = 1, .step = p->num_steps,
                               .num_steps = p->num_steps, .exit_value = NAN, .threshold = NAN, .token_id = tok,
                               .steps_used = p->num_steps, .index = res->n_out - 1};
                c->n_kept = pos + 1;
                hg_event_ctx(c, &ev);
                if (r->cb(&ev, r->user) && !is_stop) {
                    res->stop_reason = HG_STOP_CANCELLED;
                    done = 1;
                }
            }
            if (is_stop) {
                res->stop_reason = HG_STOP_TOKEN;
                done = 1;
            } else if (res->n_out >= max) {
                res->stop_reason = HG_STOP_MAX_TOKENS;
                done = 1;
            }
            if (done) break;
        }
        double now = hg_now();
        if (res->n_out <= n_new) res->prefill_s = now - t0;
        else res->decode_s += now - t0;
        t0 = now;
        if (done) break;

        /* One round.  L tokens known; the last (L-1) is pending. */
        int L = c->n_tokens;
        int Kr = K;
        if (Kr > max - res->n_out) Kr = max - res->n_out;
        if (Kr > c->n_ctx - L + 1) Kr = c->n_ctx - L + 1;
        if (Kr < 1) {
            res->stop_reason = HG_STOP_CONTEXT;
            break;
        }
        res->stats.rounds++;
        /* Draft: Kr tokens at D steps, one position at a time. */
        o.num_steps = sp->draft_steps;
        o.phase = HG_PHASE_DRAFT;
        o.warm_in = p->warmstart ? c->warm : NULL;
        for (int i = 0; i < Kr && !done; i++) {
            s = hg_process_batch(c, 1, &o, &steps);
            if (s == HG_E_CANCELLED) {
                done = 1;
                break;
            }
            int d = hg_sample(c->logits, V, p, c->tokens, c->n_tokens, &c->rng, &c->sw);
            c->tokens[c->n_tokens++] = d;
            if (r->cb) {
                hg_event ev = {.type = HG_EV_DRAFT, .position = c->n_tokens - 1, .n_positions = 1,
                               .step = sp->draft_steps, .num_steps = sp->draft_steps, .exit_value = NAN,
                               .threshold = NAN, .token_id = d, .steps_used = sp->draft_steps, .index = i,
                               .phase = HG_PHASE_DRAFT};
                hg_event_ctx(c, &ev);
                if (r->cb(&ev, r->user)) done = 1;
            }
        }
        res->stats.drafted += Kr;
        /* Verify: the last accepted token and the first Kr-1 drafts. */
        c->n_past = L - 1;
        if (!done) {
            o.num_steps = p->num_steps;
            o.phase = HG_PHASE_VERIFY;
            o.warm_in = NULL;
            o.logits_all = vlogits;
            s = hg_process_batch(c, Kr, &o, &steps);
            o.logits_all = NULL;
            if (s == HG_E_CANCELLED) done = 1;
        }
        if (done) { /* cancelled during the round: drop it */
            c->n_past = L - 1;
            c->n_tokens = L;
            res->stop_reason = HG_STOP_CANCELLED;
            s = HG_OK;
            break;
        }
        int j = Kr;
        for (int i = 0; i < Kr; i++)
            if (!draft_stands(vlogits + (size_t)i * V, V, c->tokens[L + i], sp->verification_threshold, probs)) {
                j = i;
                break;
            }
        res->stats.accepted += j;
        int corr = -1;
        if (j < Kr) {
            /* The reference samples this token with the tokens before the
             * round as history (repetition penalty). */
            corr = hg_sample(vlogits + (size_t)j * V, V, p, c->tokens, L, &c->rng, &c->sw);
            c->tokens[L + j] = corr;
            c->n_tokens = L + j + 1;
            c->n_past = L + j;
        } else {
            c->n_tokens = L + Kr;
            c->n_past = L - 1 + Kr;
        }
        n_new = c->n_tokens - L;
        int row = j < Kr ? j : Kr - 1;
        hg_rmsnorm(c->pool, c->warm, c->x + (size_t)row * E, c->m->ln_f, 1, E, cf->norm_eps);
        if (r->cb) {
            hg_event ev = {.type = HG_EV_VERIFY, .position = c->n_tokens - 1, .n_positions = Kr,
                           .step = p->num_steps, .num_steps = p->num_steps, .exit_value = NAN, .threshold = NAN,
                           .token_id = corr, .index = res->n_out, .phase = HG_PHASE_VERIFY, .n_drafted = Kr,
                           .n_accepted = j};
            hg_event_ctx(c, &ev);
            if (r->cb(&ev, r->user)) {
                /* keep what the round decided, output nothing more */
                c->n_tokens = L;
                c->n_past = L - 1;
                res->stop_reason = HG_STOP_CANCELLED;
                break;
            }
        }
    }
    /* Consistent cache: tokens = prompt + output, the last one pending. */
    c->n_tokens = c->n_kept = base + res->n_out;
    if (c->n_past > c->n_tokens - 1) c->n_past = c->n_tokens - 1;
    free(vlogits);
    free(probs);
    return s;
}
