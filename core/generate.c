/* generate.c — hg_generate: the set-up shared by every generator, and the
 * plain one (one token at a time, full depth, per-token adaptive compute).
 * The speculative and diffusion-style generators live in gen_speculative.c
 * and gen_diffusion.c; all of them run passes of engine.c. */
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const gen_names[HG_GEN_COUNT] = {"plain", "speculative", "diffusion"};

const char *hg_generator_name(hg_generator g) { return g >= 0 && g < HG_GEN_COUNT ? gen_names[g] : "?"; }

hg_status hg_generator_parse(const char *name, hg_generator *out)
{
    for (int g = 0; g < HG_GEN_COUNT; g++)
        if (name && !strcmp(name, gen_names[g])) {
            *out = (hg_generator)g;
            return HG_OK;
        }
    return HG_E_ARG;
}

static const char *const freeze_names[HG_FREEZE_COUNT] = {"latent-diff", "latent-acceleration-1",
                                                          "latent-acceleration-2", "token-stability", "fixed"};

const char *hg_freeze_name(hg_freeze f) { return f >= 0 && f < HG_FREEZE_COUNT ? freeze_names[f] : "?"; }

hg_status hg_freeze_parse(const char *name, hg_freeze *out)
{
    for (int f = 0; f < HG_FREEZE_COUNT; f++)
        if (name && !strcmp(name, freeze_names[f])) {
            *out = (hg_freeze)f;
            return HG_OK;
        }
    return HG_E_ARG;
}

void hg_spec_params_default(hg_spec_params *p)
{
    p->draft_steps = 32;
    p->lookahead = 8;
    p->verification_threshold = 1.0;
}

void hg_diff_params_default(hg_diff_params *p)
{
    p->inner_recurrence = 4;
    p->headway = 1;
    p->max_wavefront = 128;
    p->freeze = HG_FREEZE_LATENT_DIFF;
    p->exit_t = 0.03;
    p->ema_embeds = 0.1;
    p->state_noise_mixing = 0.5;
    p->dampened_mixer = 1;
    p->sqrt_mixer = 0;
    p->full_prefill = 1;
    p->max_diffusion_steps = 4096;
}

void hg_gen_params_default(hg_gen_params *p, const hg_model *m)
{
    memset(p, 0, sizeof *p);
    p->num_steps = m ? m->cfg.mean_recurrence : 32;
    p->max_new_tokens = 256;
    p->greedy = 1;
    p->temperature = 1.0f;
    p->repetition_penalty = 1.0f;
    p->criterion = HG_CRIT_OFF;
    p->threshold = NAN;
    p->check_every = 1;
    p->n_stop = -1;
    p->generator = HG_GEN_PLAIN;
    hg_spec_params_default(&p->spec);
    hg_diff_params_default(&p->diff);
    if (m) {
        const hg_gen_defaults *g = &m->gen;
        p->greedy = !g->do_sample;
        p->temperature = g->temperature > 0 ? g->temperature : 1.0f;
        p->top_k = g->top_k;
        p->top_p = g->top_p;
        p->min_p = g->min_p;
        p->repetition_penalty = g->repetition_penalty > 0 ? g->repetition_penalty : 1.0f;
    }
}

const char *hg_stop_reason_str(hg_stop_reason r)
{
    switch (r) {
    case HG_STOP_TOKEN: return "stop_token";
    case HG_STOP_MAX_TOKENS: return "max_new_tokens";
    case HG_STOP_CONTEXT: return "context_full";
    case HG_STOP_CANCELLED: return "cancelled";
    case HG_STOP_STEP_LIMIT: return "step_limit";
    default: return "none";
    }
}

void hg_gen_result_free(hg_gen_result *r)
{
    if (!r) return;
    free(r->output_ids);
    free(r->steps);
    free(r->stats.recurrence_per_position);
    memset(r, 0, sizeof *r);
}

static hg_status check_params(const hg_ctx *c, const hg_gen_params *p, hg_err *err)
{
    if (p->num_steps < 1 || p->num_steps > HG_MAX_STEPS)
        return hg_fail(err, HG_E_ARG, "num_steps %d: must be 1..%d", p->num_steps, HG_MAX_STEPS);
    if (p->max_new_tokens < 0) return hg_fail(err, HG_E_ARG, "max_new_tokens %d: must be >= 0", p->max_new_tokens);
    if (!(p->init_scale >= 0) || p->init_scale > 1e6)
        return hg_fail(err, HG_E_ARG, "init_scale %g: must be >= 0", p->init_scale);
    if (p->criterion < HG_CRIT_OFF || p->criterion >= HG_CRIT_COUNT)
        return hg_fail(err, HG_E_ARG, "unknown exit criterion %d", (int)p->criterion);
    if (p->min_steps < 0) return hg_fail(err, HG_E_ARG, "min_steps %d: must be >= 0", p->min_steps);
    if (p->check_every < 1) return hg_fail(err, HG_E_ARG, "check_every %d: must be >= 1", p->check_every);
    if (!p->greedy) {
        if (!(p->temperature >= 0)) return hg_fail(err, HG_E_ARG, "temperature %g: must be >= 0", p->temperature);
        if (p->top_k < 0) return hg_fail(err, HG_E_ARG, "top_k %d: must be >= 0", p->top_k);
        if (!(p->top_p >= 0 && p->top_p <= 1)) return hg_fail(err, HG_E_ARG, "top_p %g: must be in [0, 1]", p->top_p);
        if (!(p->min_p >= 0 && p->min_p <= 1)) return hg_fail(err, HG_E_ARG, "min_p %g: must be in [0, 1]", p->min_p);
    }
    if (!(p->repetition_penalty > 0))
        return hg_fail(err, HG_E_ARG, "repetition_penalty %g: must be > 0", p->repetition_penalty);
    if (p->n_stop > 0 && !p->stop_ids) return hg_fail(err, HG_E_ARG, "n_stop %d with no stop_ids", p->n_stop);
    if (p->n_stop > 1 << 20) return hg_fail(err, HG_E_ARG, "n_stop %d: too many stop ids", p->n_stop);
    if (p->generator < HG_GEN_PLAIN || p->generator >= HG_GEN_COUNT)
        return hg_fail(err, HG_E_ARG, "unknown generator %d", (int)p->generator);
    if (p->generator != HG_GEN_PLAIN && p->criterion != HG_CRIT_OFF)
        return hg_fail(err, HG_E_UNSUPPORTED, "%s generation does not take an exit criterion (use the plain generator)",
                       hg_generator_name(p->generator));
    if (p->generator == HG_GEN_SPECULATIVE) {
        const hg_spec_params *s = &p->spec;
        if (s->draft_steps < 1 || s->draft_steps > HG_MAX_STEPS)
            return hg_fail(err, HG_E_ARG, "draft steps %d: must be 1..%d", s->draft_steps, HG_MAX_STEPS);
        if (s->lookahead < 1 || s->lookahead > 1024)
            return hg_fail(err, HG_E_ARG, "lookahead %d: must be 1..1024", s->lookahead);
        if (!(s->verification_threshold > 0) || s->verification_threshold > 1e6)
            return hg_fail(err, HG_E_ARG, "verification threshold %g: must be > 0", s->verification_threshold);
    }
    if (p->generator == HG_GEN_DIFFUSION) {
        const hg_diff_params *d = &p->diff;
        if (d->inner_recurrence < 1 || d->inner_recurrence > HG_MAX_STEPS)
            return hg_fail(err, HG_E_ARG, "inner recurrence %d: must be 1..%d", d->inner_recurrence, HG_MAX_STEPS);
        if (d->headway < 1 || d->headway > 1024)
            return hg_fail(err, HG_E_ARG, "headway %d: must be 1..1024", d->headway);
        if (d->max_wavefront < 0 || (d->max_wavefront > 0 && d->max_wavefront <= d->headway))
            return hg_fail(err, HG_E_ARG, "max wavefront %d: must be 0 (unlimited) or more than the headway (%d)",
                           d->max_wavefront, d->headway);
        if (d->freeze < 0 || d->freeze >= HG_FREEZE_COUNT)
            return hg_fail(err, HG_E_ARG, "unknown freeze strategy %d", (int)d->freeze);
        if (!(d->exit_t >= 0)) return hg_fail(err, HG_E_ARG, "exit_t %g: must be >= 0", d->exit_t);
        if (!(d->ema_embeds >= 0 && d->ema_embeds <= 1))
            return hg_fail(err, HG_E_ARG, "ema_embeds %g: must be in [0, 1]", d->ema_embeds);
        if (!(d->state_noise_mixing >= 0 && d->state_noise_mixing <= 1))
            return hg_fail(err, HG_E_ARG, "state_noise_mixing %g: must be in [0, 1]", d->state_noise_mixing);
        if (d->max_diffusion_steps < 1)
            return hg_fail(err, HG_E_ARG, "max diffusion steps %d: must be >= 1", d->max_diffusion_steps);
    }
    (void)c;
    return HG_OK;
}


int hg_gen_is_stop(const hg_gen_run *r, const hg_ctx *c, int tok)
{
    for (int i = 0; i < r->n_stop; i++)
        if ((r->stops ? r->stops[i] : c->m->gen.stop_ids[i]) == tok) return 1;
    return 0;
}

hg_status hg_generate(hg_ctx *c, const int32_t *ids, int n_ids, const hg_gen_params *p, hg_event_cb cb, void *user,
                      hg_gen_result *res, hg_err *err)
{
    memset(res, 0, sizeof *res);
    hg_status s = check_params(c, p, err);
    if (s) return s;
    if (n_ids < 0 || (n_ids > 0 && !ids)) return hg_fail(err, HG_E_ARG, "bad token list");
    int old_tokens = c->n_tokens;
    if ((s = hg_append_ids(c, ids, n_ids, err))) return s;
    if (c->n_tokens == c->n_past) {
        c->n_tokens = c->n_kept = old_tokens;
        return hg_fail(err, HG_E_ARG, "nothing to process: no new tokens");
    }
    if (c->n_tokens > c->n_ctx) {
        c->n_tokens = c->n_kept = old_tokens;
        return hg_fail(err, HG_E_RANGE, "the context of %d positions is full", c->n_ctx);
    }
    int need_steps = p->num_steps;
    if (p->generator == HG_GEN_SPECULATIVE && p->spec.draft_steps > need_steps) need_steps = p->spec.draft_steps;
    if (p->generator == HG_GEN_DIFFUSION && p->diff.inner_recurrence > need_steps)
        need_steps = p->diff.inner_recurrence;
    if ((s = hg_ensure_slots(c, need_steps, err))) {
        c->n_tokens = c->n_kept = old_tokens;
        return s;
    }
    int cap = p->max_new_tokens > 0 ? p->max_new_tokens : 1;
    res->output_ids = malloc(sizeof(int32_t) * (size_t)cap);
    res->steps = malloc(sizeof(int32_t) * (size_t)cap);
    if (!res->output_ids || !res->steps) {
        hg_gen_result_free(res);
        c->n_tokens = c->n_kept = old_tokens;
        return hg_fail(err, HG_E_NOMEM, "out of memory");
    }
    const int32_t *stops = p->n_stop >= 0 ? p->stop_ids : NULL;
    int n_stop = p->n_stop;
    if (p->n_stop < 0) {
        n_stop = c->m->gen.n_stop;
    }
    /* A call that continues the previous one (no new ids, the one pending
     * token is the last one generated) continues its RNG stream and warm
     * state, so N calls of one token equal one call of N tokens. */
    int continuing = n_ids == 0 && c->warm_valid && c->n_tokens - c->n_past == 1;
    if (!c->rng_valid || c->rng_seed != p->seed || !continuing) {
        hg_rng_seed(&c->rng, p->seed);
        c->rng_seed = p->seed;
        c->rng_valid = 1;
    }
    if (p->generator != HG_GEN_PLAIN) {
        hg_gen_run run = {.p = p, .cb = cb, .user = user, .cap = cap, .n_stop = n_stop, .stops = stops};
        if (p->max_new_tokens == 0) {
            res->stop_reason = HG_STOP_MAX_TOKENS;
            return HG_OK;
        }
        s = p->generator == HG_GEN_SPECULATIVE ? hg_gen_speculative(c, &run, res, err)
                                               : hg_gen_diffusion(c, &run, res, err);
        c->warm_valid = 0; /* a later plain call does not continue these */
        if (s != HG_OK && s != HG_E_CANCELLED) hg_gen_result_free(res); /* a refused call leaks nothing */
        return s;
    }
    hg_batch_opts o = {.num_steps = p->num_steps, .init_scale = p->init_scale, .rng = &c->rng, .crit = p->criterion,
                    .threshold = p->threshold, .min_steps = p->min_steps, .check_every = p->check_every,
                    .cb = cb, .user = user};
    int V = c->m->cfg.vocab_size;
    res->stop_reason = HG_STOP_MAX_TOKENS;
    double t0 = hg_now();
    for (int t = 0; t < p->max_new_tokens; t++) {
        if (c->n_tokens > c->n_ctx) {
            res->stop_reason = HG_STOP_CONTEXT;
            break;
        }
        int T = c->n_tokens - c->n_past;
        o.warm_in = (t > 0 || continuing) && p->warmstart ? c->warm : NULL;
        int steps = 0;
        s = hg_process_batch(c, T, &o, &steps);
        if (s == HG_E_CANCELLED) {
            res->stop_reason = HG_STOP_CANCELLED;
            s = HG_OK;
            break;
        }
        int tok = hg_sample(c->logits, V, p, c->tokens, c->n_tokens, &c->rng, &c->sw);
        c->tokens[c->n_tokens++] = tok;
        c->n_kept = c->n_tokens;
        c->warm_valid = 1;
        res->output_ids[res->n_out] = tok;
        res->steps[res->n_out] = steps;
        res->n_out++;
        double now = hg_now();
        if (t == 0) res->prefill_s = now - t0;
        else res->decode_s += now - t0;
        t0 = now;
        int is_stop = 0;
        for (int i = 0; i < n_stop; i++) is_stop |= (stops ? stops[i] : c->m->gen.stop_ids[i]) == tok;
        if (cb) {
            hg_event ev = {.type = HG_EV_TOKEN, .position = c->n_tokens - 1, .n_positions = 1, .step = steps,
                           .num_steps = p->num_steps, .exit_value = NAN, .threshold = NAN, .token_id = tok,
                           .steps_used = steps, .index = res->n_out - 1};
            hg_event_ctx(c, &ev);
            if (cb(&ev, user) && !is_stop) {
                res->stop_reason = HG_STOP_CANCELLED;
                break;
            }
        }
        if (is_stop) {
            res->stop_reason = HG_STOP_TOKEN;
            break;
        }
    }
    return s;
}

