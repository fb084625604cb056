/* gen_diffusion.c — diffusion-style generation (HUGINN.md §8, the reference's
 * generate_diffusion_style).
 *
 * A wave of positions beyond the frozen text is iterated together: each
 * diffusion step runs the prelude on the wave's tokens (embeddings averaged
 * with the previous step's), mixes the states with fresh initial states,
 * advances every state inner_recurrence core steps in one batched pass per
 * step (hg_advance), decodes every position, guesses the next token of each,
 * extends the wave by `headway` positions and freezes a prefix whose states
 * stopped moving; the cache is cut back to the frozen text and the wave
 * restarts at the last frozen position.
 *
 * The reference is followed index for index, its alignment quirks included
 * (the previous states are matched by cache index although they start at the
 * new one), so the tokens and statistics are the reference's.  Where it
 * differs (HUGINN.md §8 and huginn.h): it stops once max_new_tokens or a
 * stop token are frozen; `fixed` freezing freezes min(headway, new tokens)
 * positions every step, standing waves included (the reference indexes past
 * its sequence when the wave stands at max_wavefront); guessed tokens
 * (headway > 1) are drawn from the vocabulary (the reference draws ids up to
 * 65510 whatever the vocabulary). */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Row buffers that grow with the wave. */
typedef struct rows {
    float *v;
    int cap;
} rows;

static int rows_fit(rows *b, int n, int E)
{
    if (n <= b->cap) return 1;
    int cap = b->cap ? b->cap : 16;
    while (cap < n) cap *= 2;
    float *v = realloc(b->v, sizeof(float) * (size_t)cap * (size_t)E);
    if (!v) return 0;
    b->v = v;
    b->cap = cap;
    return 1;
}

/* Element-wise mixes in the reference's float32 order (no fused multiply-add:
 * torch rounds each product). */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define NO_CONTRACT
#endif

NO_CONTRACT static void mix2(float *y, const float *a, float wa, const float *b, float wb, int n)
{
    for (int i = 0; i < n; i++) {
        float pa = a[i] * wa;
        float pb = b[i] * wb;
        y[i] = pa + pb;
    }
}

NO_CONTRACT static void mix_noise(float *x, const float *rnd, float noise, int sqrt_mixer, int n)
{
    if (sqrt_mixer) {
        float keep = 1.0f - noise;
        keep = sqrtf(keep > 0 ? keep : 0);
        float sn = sqrtf(noise);
        for (int i = 0; i < n; i++) {
            float pa = x[i] * keep;
            float pb = sn * rnd[i];
            x[i] = pa + pb;
        }
    } else {
        float keep = 1.0f - noise;
        for (int i = 0; i < n; i++) {
            float pa = x[i] * keep;
            float pb = noise * rnd[i];
            x[i] = pa + pb;
        }
    }
}

/* ||a - b|| and ||a|| of one row, accumulated in double. */
static double row_norm_diff(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) {
        float d = a[i] - b[i];
        s += (double)d * d;
    }
    return sqrt(s);
}

static double row_norm(const float *a, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * a[i];
    return sqrt(s);
}

/* Fresh initial states (zeros when init_scale is 0). */
static void fresh_states(hg_ctx *c, float *x, int n_rows, float init_scale)
{
    int E = c->m->cfg.n_embd;
    size_t n = (size_t)n_rows * E;
    double std = sqrt(2.0 / (5.0 * E)) * init_scale;
    if (!(std > 0)) {
        memset(x, 0, sizeof(float) * n);
        return;
    }
    float emb = (float)sqrt((double)E);
    for (size_t i = 0; i < n; i++) x[i] = (float)(hg_rng_trunc_normal(&c->rng) * std) * emb;
}

hg_status hg_gen_diffusion(hg_ctx *c, const hg_gen_run *r, hg_gen_result *res, hg_err *err)
{
    const hg_gen_params *p = r->p;
    const hg_diff_params *dp = &p->diff;
    const hg_config *cf = &c->m->cfg;
    int V = cf->vocab_size, E = cf->n_embd;
    int R = dp->inner_recurrence, h = dp->headway, maxw = dp->max_wavefront;
    int max = p->max_new_tokens;
    int base = c->n_tokens;       /* the prompt's length: output index 0 is here */
    int past0 = c->n_past;        /* positions cached before this call           */
    int pend = base - past0;      /* the prompt's positions not yet cached       */
    hg_gen_stats *st = &res->stats;
    if (!dp->full_prefill && maxw > 0 && pend > maxw)
        return hg_fail(err, HG_E_ARG,
                       "the prompt (%d new positions) does not fit the max wavefront %d: use the full prefill or a "
                       "wavefront of at least %d",
                       pend, maxw, pend);

    size_t npos = (size_t)c->n_ctx + (size_t)h + 2;
    int32_t *cur = calloc(npos, sizeof(int32_t));   /* current_sequence: frozen, then provisional */
    int32_t *rec = calloc(npos, sizeof(int32_t));   /* recurrence steps of every position        */
    int32_t *stable = calloc(npos, sizeof(int32_t));/* steps each token stood unchanged           */
    int32_t *newtok = calloc(npos, sizeof(int32_t));
    float *rnd = malloc(sizeof(float) * (size_t)E);     /* one row of fresh state */
    rows X = {0}, PREV = {0}, PPREV = {0}, DELTA = {0}, OLDE = {0}, LOG = {0};
    hg_status s = HG_OK;
    if (!cur || !rec || !stable || !newtok || !rnd) {
        s = hg_fail(err, HG_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(cur, c->tokens, sizeof(int32_t) * (size_t)base);
    for (int pos = 0; pos < past0; pos++) rec[pos] = c->steps_done[pos];
    res->stop_reason = HG_STOP_MAX_TOKENS;
    double t0 = hg_now();

    int ci;      /* cache_index: the wave's first position (= positions cached)  */
    int W;       /* the wave's width: states of positions ci .. ci+W-1           */
    int Lf;      /* frozen tokens: cur[0 .. Lf)                                  */
    int done = 0;
    if (dp->full_prefill) {
        hg_batch_opts o = {.num_steps = p->num_steps, .init_scale = p->init_scale, .rng = &c->rng,
                           .crit = HG_CRIT_OFF, .threshold = NAN, .check_every = 1, .phase = HG_PHASE_DECODE,
                           .cb = r->cb, .user = r->user};
        int steps;
        s = hg_process_batch(c, pend, &o, &steps);
        if (s == HG_E_CANCELLED) {
            s = HG_OK;
            res->stop_reason = HG_STOP_CANCELLED;
            Lf = base;
            goto finish;
        }
        if (s) goto out;
        st->num_core_forward_passes += 1;
        st->num_tokens_forward += pend;
        int tok = hg_sample(c->logits, V, p, c->tokens, base, &c->rng, &c->sw);
        cur[base] = tok;
        Lf = base + 1;
        for (int pos = past0; pos < Lf; pos++) rec[pos] += p->num_steps;
        ci = base;
        W = 1;
        if (!rows_fit(&X, W, E)) goto nomem;
        fresh_states(c, X.v, 1, p->init_scale);
    } else {
        Lf = base;
        ci = past0;
        W = pend;
        if (!rows_fit(&X, W, E)) goto nomem;
        fresh_states(c, X.v, W, p->init_scale);
    }
    /* Outputs frozen so far (the prefill's token). */
    int n_emitted = base; /* positions < n_emitted were put out */

    int latent = dp->freeze <= HG_FREEZE_LATENT_ACCEL2;
    /* The reference's first "previous" states are the starting states, filed
     * under cache index 0: with the prefill they match nothing. */
    int old_ci = dp->full_prefill ? 0 : past0, old_old_ci = old_ci;
    int pW = 0, ppW = 0, dW = 0, oW = 0; /* rows of PREV, PPREV, DELTA, OLDE */
    int have_old_e = 0;
    if (latent) {
        if (!rows_fit(&PREV, W, E)) goto nomem;
        memcpy(PREV.v, X.v, sizeof(float) * (size_t)W * E);
        pW = W;
    }
    if (dp->freeze == HG_FREEZE_LATENT_ACCEL1 || dp->freeze == HG_FREEZE_LATENT_ACCEL2) {
        /* previous_delta and prev_previous_states start as zeros like the states */
        if (!rows_fit(&DELTA, W, E) || !rows_fit(&PPREV, W, E)) goto nomem;
        memset(DELTA.v, 0, sizeof(float) * (size_t)W * E);
        memset(PPREV.v, 0, sizeof(float) * (size_t)W * E);
        dW = ppW = W;
    }
    int step = 0;
    int thr_stable = p->num_steps / R;

    for (;;) {
        /* Put out what is frozen: events, stop tokens, max_new_tokens. */
        for (; n_emitted < Lf && !done; n_emitted++) {
            int tok = cur[n_emitted];
            res->output_ids[res->n_out] = tok;
            res->steps[res->n_out] = 0; /* filled at the end */
            res->n_out++;
            int is_stop = hg_gen_is_stop(r, c, tok);
            if (r->cb) {
                hg_event ev = {.type = HG_EV_TOKEN, .position = n_emitted, .n_positions = 1,
                               .step = rec[n_emitted], .num_steps = p->num_steps, .exit_value = NAN,
                               .threshold = NAN, .token_id = tok, .steps_used = rec[n_emitted],
                               .index = res->n_out - 1, .phase = HG_PHASE_WAVE};
                c->n_kept = n_emitted + 1;
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
        }
        double now = hg_now();
        if (step == 0 && dp->full_prefill) res->prefill_s = now - t0;
        else res->decode_s += now - t0;
        t0 = now;
        if (done) break;
        if (ci + W > c->n_ctx) {
            res->stop_reason = HG_STOP_CONTEXT;
            break;
        }

        int Lf_prev = Lf;
        /* Embeddings of the wave, averaged with the previous step's. */
        memcpy(c->tokens + ci, cur + ci, sizeof(int32_t) * (size_t)W);
        c->n_past = ci;
        hg_embed_and_prelude(c, W, ci);
        if (dp->ema_embeds > 0) {
            float wn = (float)(1.0 - dp->ema_embeds), wo = (float)dp->ema_embeds;
            int m = 0;
            const float *old = c->e;
            if (!have_old_e) m = W; /* the reference's first "previous" embeddings equal these */
            else if (ci - old_ci < oW) {
                m = oW - (ci - old_ci);
                old = OLDE.v + (size_t)(ci - old_ci) * E;
            }
            if (m > W) m = W;
            mix2(c->e, c->e, wn, old, wo, m * E);
            for (int i = m * E; i < W * E; i++) c->e[i] *= wn;
            if (!rows_fit(&OLDE, W, E)) goto nomem;
            memcpy(OLDE.v, c->e, sizeof(float) * (size_t)W * E);
            oW = W;
            have_old_e = 1;
        }
        /* States mixed with fresh initial states. */
        if (dp->state_noise_mixing > 0) {
            for (int t = 0; t < W; t++) {
                float noise = dp->dampened_mixer ? (1.0f / (float)(1 + rec[ci + t])) * (float)dp->state_noise_mixing
                                                 : (float)dp->state_noise_mixing;
                fresh_states(c, rnd, 1, p->init_scale);
                mix_noise(X.v + (size_t)t * E, rnd, noise, dp->sqrt_mixer, E);
            }
        }
        /* inner_recurrence core steps over the whole wave, then decode it. */
        memcpy(c->x, X.v, sizeof(float) * (size_t)W * E);
        s = hg_advance(c, ci, W, 0, R, rec + ci, HG_PHASE_WAVE, R, r->cb, r->user);
        if (s == HG_E_CANCELLED) {
            s = HG_OK;
            c->n_past = ci;
            res->stop_reason = HG_STOP_CANCELLED;
            break;
        }
        st->num_core_forward_passes += R;
        st->num_tokens_forward += (long)W * R;
        if (!rows_fit(&LOG, W, V)) goto nomem;
        hg_coda_and_head(c, W, ci, LOG.v);
        hg_commit(c, ci, W, R);
        if (!rows_fit(&X, W + h, E)) goto nomem;
        memcpy(X.v, c->x, sizeof(float) * (size_t)W * E);

        /* A token for every position from the last frozen one on. */
        int off = Lf - 1 - ci > 0 ? Lf - 1 - ci : 0;
        int n_new = W - off;
        for (int i = 0; i < n_new; i++)
            newtok[i] = hg_sample(LOG.v + (size_t)(off + i) * V, V, p, cur, Lf, &c->rng, &c->sw);
        int Ls = ci + W;
        for (int pos = 0; pos < Ls; pos++) {
            int pot = pos < Lf ? cur[pos] : newtok[pos - Lf];
            stable[pos] += cur[pos] == pot;
        }
        for (int i = 0; i < n_new; i++) cur[Lf + i] = newtok[i];
        for (int i = 0; i < h - 1; i++) cur[Lf + n_new + i] = (int32_t)(hg_rng_next(&c->rng) % (uint64_t)V);
        /* Extend the wave by headway positions. */
        if (p->warmstart && W >= h) memcpy(X.v + (size_t)W * E, X.v + (size_t)(W - h) * E, sizeof(float) * h * E);
        else fresh_states(c, X.v + (size_t)W * E, h, p->init_scale);
        int W2 = W + h, hw = h;
        if (maxw > 0 && W2 > maxw) {
            hw = maxw - W;
            W2 = maxw;
            st->num_standing_waves++;
        }
        int len = ci + W2; /* current_sequence's length */

        /* Freeze. */
        int k = -1; /* new frozen length, -1 = none */
        int d = ci - old_ci;
        if (dp->freeze == HG_FREEZE_LATENT_DIFF || dp->freeze == HG_FREEZE_LATENT_ACCEL1) {
            int m = pW - d > 0 ? pW - d : 0;
            if (m > W2) m = W2;
            if (dp->freeze == HG_FREEZE_LATENT_DIFF) {
                for (int i = 0; i < m; i++) {
                    const float *a = X.v + (size_t)i * E, *b = PREV.v + (size_t)(d + i) * E;
                    float crit = (float)(row_norm_diff(a, b, E) / row_norm(a, E));
                    if (crit < (float)dp->exit_t) k = ci + i + 1;
                }
            } else {
                int ml = m < dW ? m : dW;
                float *delta = malloc(sizeof(float) * (size_t)(m ? m : 1) * E);
                if (!delta) goto nomem;
                for (int i = 0; i < m; i++)
                    for (int e = 0; e < E; e++)
                        delta[(size_t)i * E + e] = X.v[(size_t)i * E + e] - PREV.v[(size_t)(d + i) * E + e];
                for (int i = 0; i < ml; i++) {
                    double acc = 0;
                    for (int e = 0; e < E; e++) {
                        float a = delta[(size_t)i * E + e] - DELTA.v[(size_t)i * E + e];
                        acc += (double)a * a;
                    }
                    float crit = (float)(sqrt(acc) / row_norm(X.v + (size_t)i * E, E));
                    if (crit < (float)dp->exit_t) k = ci + i + 1;
                }
                if (!rows_fit(&DELTA, m, E)) {
                    free(delta);
                    goto nomem;
                }
                memcpy(DELTA.v, delta, sizeof(float) * (size_t)m * E);
                dW = m;
                free(delta);
            }
        } else if (dp->freeze == HG_FREEZE_LATENT_ACCEL2) {
            int is = ci, ie = ci + W2;
            if (old_ci > is) is = old_ci;
            if (old_old_ci > is) is = old_old_ci;
            if (old_ci + pW < ie) ie = old_ci + pW;
            if (old_old_ci + ppW < ie) ie = old_old_ci + ppW;
            for (int i = 0; i < ie - is; i++) {
                const float *x0 = X.v + (size_t)(is - ci + i) * E;
                const float *x1 = PREV.v + (size_t)(is - old_ci + i) * E;
                const float *x2 = PPREV.v + (size_t)(is - old_old_ci + i) * E;
                double acc = 0;
                for (int e = 0; e < E; e++) {
                    float a = (x0[e] - x1[e]) - (x1[e] - x2[e]);
                    acc += (double)a * a;
                }
                float crit = (float)(sqrt(acc) / (row_norm(x0, E) + 1e-6));
                if (crit < (float)dp->exit_t) k = ci + i + 1;
            }
        } else if (dp->freeze == HG_FREEZE_TOKEN_STABILITY) {
            for (int pos = len - 1; pos >= 0; pos--)
                if (stable[pos] > thr_stable) {
                    k = pos + 1;
                    break;
                }
        }
        int new_ci, shift;
        if (dp->freeze == HG_FREEZE_FIXED) {
            if (step > thr_stable) {
                int f = h < n_new ? h : n_new;
                st->num_cache_clears += W - f;
                new_ci = ci + f;
                shift = f;
                Lf += f;
            } else {
                st->num_cache_clears += W2 - hw;
                new_ci = ci;
                shift = 0;
            }
        } else if (k >= 0) {
            if (k - 1 < ci) k = ci + 1; /* cannot happen (frozen text only grows); kept safe */
            st->num_cache_clears += len - hw - k + 1;
            new_ci = k - 1;
            shift = k - ci - 1;
            Lf = k;
        } else {
            st->num_cache_clears += W2 - hw;
            new_ci = ci;
            shift = 0;
        }
        int Wn = W2 - shift;

        if (r->cb) {
            hg_event ev = {.type = HG_EV_WAVE, .position = ci + W2 - 1, .n_positions = W2, .step = R,
                           .num_steps = p->num_steps, .exit_value = NAN, .threshold = NAN, .token_id = -1,
                           .phase = HG_PHASE_WAVE, .wave_pos0 = ci, .n_wave = W2, .out_pos0 = base,
                           .n_frozen = Lf - base, .diffusion_step = step, .wave_ids = cur + ci,
                           .wave_counts = rec + ci};
            hg_event_ctx(c, &ev); /* the wave's positions are in the cache now */
            if (r->cb(&ev, r->user)) {
                res->stop_reason = HG_STOP_CANCELLED;
                c->n_past = new_ci;
                done = 2;
            }
        }
        /* The cache keeps the frozen text but its last token. */
        c->n_past = new_ci;
        /* Remember this step's states for the next one's freezing test. */
        if (dp->freeze == HG_FREEZE_LATENT_ACCEL2) {
            if (!rows_fit(&PPREV, pW, E)) goto nomem;
            memcpy(PPREV.v, PREV.v, sizeof(float) * (size_t)pW * E);
            ppW = pW;
            old_old_ci = old_ci;
        }
        if (shift) memmove(X.v, X.v + (size_t)shift * E, sizeof(float) * (size_t)Wn * E);
        if (latent) {
            if (!rows_fit(&PREV, Wn, E)) goto nomem;
            memcpy(PREV.v, X.v, sizeof(float) * (size_t)Wn * E);
            pW = Wn;
        }
        old_ci = ci;
        ci = new_ci;
        W = Wn;
        if (done == 2) {
            /* cancelled: put out nothing more */
            st->diffusion_steps = step + 1;
            Lf = n_emitted;
            break;
        }
        /* A stop token frozen.  The reference ends here once step > num_steps,
         * before counting the step, when one is among the newly frozen tokens
         * (latent criteria) or the last headway ones (the others); huginn's
         * output ends at the first stop token in any case (the next pass of
         * the output loop above ends the run). */
        int ref_stop = 0, our_stop = 0;
        if (step > p->num_steps)
            for (int pos = latent ? Lf_prev : (Lf - h > 0 ? Lf - h : 0); pos < Lf; pos++)
                ref_stop |= hg_gen_is_stop(r, c, cur[pos]);
        for (int pos = Lf_prev; pos < Lf && pos < base + max; pos++) our_stop |= hg_gen_is_stop(r, c, cur[pos]);
        if (ref_stop || our_stop) {
            st->diffusion_steps = ref_stop ? step : step + 1;
            if (!ref_stop) step++;
            continue;
        }
        if (step > dp->max_diffusion_steps) { /* the reference's test, before counting the step */
            st->diffusion_steps = step;
            for (; n_emitted < Lf && res->n_out < max; n_emitted++) {
                res->output_ids[res->n_out] = cur[n_emitted];
                res->n_out++;
            }
            res->stop_reason = HG_STOP_STEP_LIMIT;
            break;
        }
        st->diffusion_steps = ++step;
    }

finish:
    /* Statistics: every position of the context up to the frozen length. */
    st->n_positions = Lf;
    st->recurrence_per_position = malloc(sizeof(int32_t) * (size_t)(Lf ? Lf : 1));
    if (!st->recurrence_per_position) goto nomem;
    memcpy(st->recurrence_per_position, rec, sizeof(int32_t) * (size_t)Lf);
    for (int t = 0; t < res->n_out; t++) res->steps[t] = rec[base + t];
    /* Consistent context: tokens = prompt + output, the last one pending. */
    memcpy(c->tokens + base, res->output_ids, sizeof(int32_t) * (size_t)res->n_out);
    c->n_tokens = c->n_kept = base + res->n_out;
    if (c->n_past > c->n_tokens - 1) c->n_past = c->n_tokens - 1;
    goto out;
nomem:
    s = hg_fail(err, HG_E_NOMEM, "out of memory for the diffusion wave");
    /* the context keeps the prompt, its last token pending */
    c->n_tokens = c->n_kept = base;
    if (c->n_past > base - 1) c->n_past = base - 1;
out:
    free(cur);
    free(rec);
    free(stable);
    free(newtok);
    free(rnd);
    free(X.v);
    free(PREV.v);
    free(PPREV.v);
    free(DELTA.v);
    free(OLDE.v);
    free(LOG.v);
    return s;
}

/* ------------------------------------------------------------ timing */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

hg_status hg_time_wave_pass(hg_ctx *c, int width, int reps, double *seconds, hg_err *err)
{
    const hg_config *cf = &c->m->cfg;
    int pos0 = c->n_past;
    if (width < 1 || reps < 1) return hg_fail(err, HG_E_ARG, "wave width %d, repetitions %d: must be >= 1", width, reps);
    if (pos0 + width > c->n_ctx)
        return hg_fail(err, HG_E_RANGE, "a wave of %d positions after %d cached ones does not fit the context of %d",
                       width, pos0, c->n_ctx);
    if (c->n_slots < cf->n_coda + cf->n_prelude + cf->n_core) {
        hg_status s = hg_ensure_slots(c, 1, err);
        if (s) return s;
    }
    int32_t *saved = malloc(sizeof(int32_t) * (size_t)width);
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!saved || !t) {
        free(saved);
        free(t);
        return hg_fail(err, HG_E_NOMEM, "out of memory");
    }
    memcpy(saved, c->tokens + pos0, sizeof(int32_t) * (size_t)width);
    for (int i = 0; i < width; i++) c->tokens[pos0 + i] = (int32_t)(i % cf->vocab_size);
    hg_embed_and_prelude(c, width, pos0);
    memset(c->x, 0, sizeof(float) * (size_t)width * (size_t)cf->n_embd);
    for (int r = 0; r < reps; r++) {
        double t0 = hg_now();
        hg_recurrence_step(c, width, pos0, 0);
        t[r] = hg_now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    *seconds = t[reps / 2];
    memcpy(c->tokens + pos0, saved, sizeof(int32_t) * (size_t)width);
    c->n_past = pos0; /* the wave's positions never join the cache */
    free(saved);
    free(t);
    return HG_OK;
}
