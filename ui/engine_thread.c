/* engine_thread.c — the engine in its own thread, events through a queue. */
#include "engine_thread.h"
#include "evqueue.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TRACE_MAX 1024

struct ue_engine {
    hg_model *model;
    const hg_tokenizer *tok;
    hg_ctx *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    int quit, busy, need_reset;
    int finishing;                      /* DONE not yet queued (busy already 0) */
    atomic_int stop;
    us_settings settings;
    /* the job */
    hg_chat_msg *msgs;
    int n_msgs, dropped;
    int sweep[UE_SWEEP_MAX], n_sweep;   /* a sweep: the depths, in order */
    ue_queue evq;           /* events to the UI */
    /* context facts for the UI */
    int ctx_used, n_ctx;
    size_t kv;
    char cache[64];
    /* per-token trace (engine thread only) */
    float trace[TRACE_MAX];
    int n_trace;
    double last_thr;
    int cur_crit;
    hg_stream *stream;
    int reply_tokens;
    double steps_sum;
    int gen;                    /* the running reply's generator      */
    int drafted, accepted, passes;
    struct timespec t_first;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void push(ue_engine *e, const ue_event *ev) { ueq_push(&e->evq, ev); }

static void push_text(ue_engine *e, ue_kind k, const char *fmt, const char *arg)
{
    ue_event ev = {0};
    ev.kind = k;
    char buf[1024];
    snprintf(buf, sizeof buf, fmt, arg);
    ev.text = strdup(buf);
    ev.text_len = strlen(buf);
    push(e, &ev);
}

int ue_pop(ue_engine *e, ue_event *ev) { return ueq_pop(&e->evq, ev); }

void ue_event_free(ue_event *ev)
{
    free(ev->text);
    free(ev->trace);
    free(ev->wave_starts);
    free(ev->wave_counts);
    ev->text = NULL;
    ev->trace = NULL;
    ev->wave_starts = ev->wave_counts = NULL;
}

void ue_drain_wake(ue_engine *e) { ueq_drain_wake(&e->evq); }

int ue_wake_fd(const ue_engine *e) { return ueq_fd(&e->evq); }

void ue_set_settings(ue_engine *e, const us_settings *s)
{
    pthread_mutex_lock(&e->mu);
    e->settings = *s;
    pthread_mutex_unlock(&e->mu);
}

static void publish_ctx(ue_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->n_ctx = hg_ctx_n_ctx(e->ctx);
    e->ctx_used = hg_ctx_n_tokens(e->ctx);
    if (e->ctx_used > e->n_ctx) e->ctx_used = e->n_ctx;   /* a pending last token */
    e->kv = hg_ctx_kv_bytes(e->ctx);
    snprintf(e->cache, sizeof e->cache, "%s", hg_ctx_cache(e->ctx));
    pthread_mutex_unlock(&e->mu);
}

/* The context as an engine event reports it.  A speculative or diffusion
 * reply is one hg_generate call, so the figures published between calls
 * would stand still through it (0 on a first turn); every event carries
 * them, and ev (the event for the UI) gets them too.
 * "ctx" is the tokens the context keeps: the prompt and the reply put out
 * so far.  While a draft or a wave is in flight its provisional tokens are
 * not counted (they may vanish); "KV" is what the cache holds at that
 * moment, their positions and those of the pass being computed included. */
static void publish_event_ctx(ue_engine *e, const hg_event *hev, ue_event *ev)
{
    pthread_mutex_lock(&e->mu);
    e->ctx_used = hev->ctx_tokens < e->n_ctx ? hev->ctx_tokens : e->n_ctx;   /* a pending last token */
    e->kv = hev->kv_bytes;
    ev->ctx_used = e->ctx_used;
    ev->n_ctx = e->n_ctx;
    ev->kv_bytes = e->kv;
    pthread_mutex_unlock(&e->mu);
}

void ue_ctx_info(ue_engine *e, int *used, int *n_ctx, size_t *kv, const char **cache)
{
    pthread_mutex_lock(&e->mu);
    if (used) *used = e->ctx_used;
    if (n_ctx) *n_ctx = e->n_ctx;
    if (kv) *kv = e->kv;
    if (cache) *cache = e->cache;   /* stable storage; may change between turns */
    pthread_mutex_unlock(&e->mu);
}

/* --------------------------------------------------- event callback */

/* The text of one token on its own (special tokens: "·"), into buf. */
static const char *piece_text(ue_engine *e, int id, char *buf, size_t cap)
{
    if (hg_tokenizer_is_special(e->tok, id)) return "·";
    char *t = NULL;
    int32_t one = id;
    if (hg_detokenize(e->tok, &one, 1, 1, &t, NULL) != HG_OK || !t) return "?";
    snprintf(buf, cap, "%s", t);
    free(t);
    return buf;
}

static int on_event(const hg_event *hev, void *user)
{
    ue_engine *e = user;
    if (hev->type == HG_EV_STEP) {
        if (hev->step == 1) e->n_trace = 0;
        if (hev->step >= 1 && hev->step <= TRACE_MAX) {
            e->trace[hev->step - 1] = (float)hev->exit_value;
            if (hev->step > e->n_trace) e->n_trace = hev->step;
        }
        ue_event ev = {0};
        ev.kind = UE_STEP;
        ev.phase = (int)hev->phase;
        ev.n_positions = hev->n_positions;
        ev.step = hev->step;
        ev.num_steps = hev->num_steps;
        ev.exit_value = hev->exit_value;
        ev.threshold = hev->threshold;
        e->last_thr = hev->threshold;
        publish_event_ctx(e, hev, &ev);
        push(e, &ev);
    } else if (hev->type == HG_EV_DRAFT) {
        ue_event ev = {0};
        ev.kind = UE_DRAFT;
        ev.token_id = hev->token_id;
        ev.generator = e->gen;
        char pb[256];
        ev.text = strdup(piece_text(e, hev->token_id, pb, sizeof pb));
        ev.text_len = ev.text ? strlen(ev.text) : 0;
        publish_event_ctx(e, hev, &ev);
        push(e, &ev);
    } else if (hev->type == HG_EV_VERIFY) {
        ue_event ev = {0};
        ev.kind = UE_VERIFY;
        ev.generator = e->gen;
        ev.n_drafted = hev->n_drafted;
        ev.n_accepted = hev->n_accepted;
        e->drafted += hev->n_drafted;
        e->accepted += hev->n_accepted;
        publish_event_ctx(e, hev, &ev);
        push(e, &ev);
    } else if (hev->type == HG_EV_WAVE) {
        ue_event ev = {0};
        ev.kind = UE_WAVE;
        ev.generator = e->gen;
        int first = hev->out_pos0 + hev->n_frozen - hev->wave_pos0; /* first provisional */
        if (first < 0) first = 0;
        int n = hev->n_wave - first;
        if (n < 0) n = 0;
        e->passes += hev->step;
        ev.core_passes = e->passes;
        ev.n_frozen = hev->n_frozen;
        size_t cap = 64, len = 0;
        char *txt = malloc(cap);
        ev.wave_starts = malloc(sizeof(int) * (size_t)(n ? n : 1));
        ev.wave_counts = malloc(sizeof(int) * (size_t)(n ? n : 1));
        if (!txt || !ev.wave_starts || !ev.wave_counts) {
            free(txt);
            ue_event_free(&ev);
            return atomic_load(&e->stop) ? 1 : 0;
        }
        for (int i = 0; i < n; i++) {
            int id = hev->wave_ids[first + i];
            char pb[256];
            const char *t = piece_text(e, id, pb, sizeof pb);
            size_t tl = strlen(t);
            if (len + tl + 1 > cap) {
                while (len + tl + 1 > cap) cap *= 2;
                char *nt = realloc(txt, cap);
                if (!nt) break;
                txt = nt;
            }
            ev.wave_starts[i] = (int)len;
            ev.wave_counts[i] = hev->wave_counts[first + i];
            memcpy(txt + len, t, tl);
            len += tl;
            ev.n_wave = i + 1;
        }
        txt[len] = 0;
        ev.text = txt;
        ev.text_len = len;
        publish_event_ctx(e, hev, &ev);
        push(e, &ev);
    } else if (hev->type == HG_EV_TOKEN) {
        ue_event ev = {0};
        ev.kind = UE_TOKEN;
        ev.token_id = hev->token_id;
        ev.steps_used = hev->steps_used;
        ev.num_steps = hev->num_steps;
        ev.threshold = e->last_thr;
        ev.criterion = e->cur_crit;
        char buf[512];
        size_t n = hg_stream_push(e->stream, hev->token_id, buf, sizeof buf);
        ev.text = malloc(n + 1);
        if (ev.text) { memcpy(ev.text, buf, n); ev.text[n] = 0; ev.text_len = n; }
        int nt = e->n_trace < hev->steps_used ? e->n_trace : hev->steps_used;
        if (nt > 0 && (ev.trace = malloc(sizeof(float) * (size_t)nt))) {
            memcpy(ev.trace, e->trace, sizeof(float) * (size_t)nt);
            ev.n_trace = nt;
        }
        e->n_trace = 0;
        e->reply_tokens++;
        e->steps_sum += hev->steps_used;
        ev.n_tokens = e->reply_tokens;
        ev.mean_steps = e->steps_sum / e->reply_tokens;
        publish_event_ctx(e, hev, &ev);
        push(e, &ev);
    }
    return atomic_load(&e->stop) ? 1 : 0;
}

/* ------------------------------------------------------------ turns */

static int tokenize_from(ue_engine *e, int drop, int32_t **ids, int *n, hg_err *err)
{
    /* the system message (if first) + the messages after `drop` others */
    hg_chat_msg *v = malloc(sizeof *v * (size_t)(e->n_msgs + 1));
    if (!v) return -1;
    int k = 0, start = 0;
    if (e->n_msgs > 0 && !strcmp(e->msgs[0].role, "system")) { v[k++] = e->msgs[0]; start = 1; }
    for (int i = start + drop; i < e->n_msgs; i++) v[k++] = e->msgs[i];
    hg_status st = hg_chat_tokenize(e->tok, v, k, 1, ids, n, err);
    free(v);
    return st == HG_OK ? 0 : -1;
}

/* Fit the conversation and a reply budget into the context: the ids to
 * compute (malloc'd) and the messages left out.  -1 after pushing an error. */
static int fit_context(ue_engine *e, const us_settings *s, int32_t **ids_out, int *n_out, int *drop_out)
{
    hg_err err = {{0}};
    int n_ctx = hg_ctx_n_ctx(e->ctx);
    int reserve = s->max_new_tokens < n_ctx / 4 ? s->max_new_tokens : n_ctx / 4;
    if (reserve < 1) reserve = 1;
    int start = e->n_msgs > 0 && !strcmp(e->msgs[0].role, "system") ? 1 : 0;
    int drop = e->dropped, dropped0 = e->dropped;
    int32_t *ids = NULL;
    int n_ids = 0;
    for (;;) {
        free(ids);
        ids = NULL;
        if (tokenize_from(e, drop, &ids, &n_ids, &err)) {
            push_text(e, UE_ERROR, "tokenize: %s", err.msg);
            return -1;
        }
        if (n_ids + reserve <= n_ctx) break;
        if (start + drop >= e->n_msgs - 1) {   /* only the last message left */
            if (n_ids < n_ctx) break;          /* the reply gets what remains */
            char m[128];
            snprintf(m, sizeof m, "%d tokens, the context holds %d", n_ids, n_ctx);
            push_text(e, UE_ERROR, "the message is too long for the context (%s)", m);
            free(ids);
            *drop_out = drop;
            return -1;
        }
        drop++;
    }
    if (drop != dropped0) {
        char m[160];
        snprintf(m, sizeof m, "context full: left out the %d oldest message%s; re-processing the rest",
                 drop, drop == 1 ? "" : "s");
        push_text(e, UE_NOTICE, "%s", m);
    }
    *ids_out = ids;
    *n_out = n_ids;
    *drop_out = drop;
    return 0;
}

/* Generate one reply to ids.  s: the settings at the start of the job.
 * fixed: a sweep run (these settings for every token, one seed seed_base);
 * NULL: plain replies read the live settings before every token.  Fills
 * done's stop reason and stats. */
static void gen_reply(ue_engine *e, const us_settings *s, const us_settings *fixed, uint64_t seed_base,
                      const int32_t *ids, int n_ids, ue_event *done)
{
    hg_err err = {{0}};
    const us_settings *base = fixed ? fixed : s;
    int n_ctx = hg_ctx_n_ctx(e->ctx);
    e->reply_tokens = 0;
    e->steps_sum = 0;
    e->n_trace = 0;
    e->gen = (int)base->generator;
    e->drafted = e->accepted = e->passes = 0;
    done->generator = e->gen;
    /* keep the longest common prefix with what the context holds */
    int nt = hg_ctx_n_tokens(e->ctx);
    const int32_t *have = hg_ctx_tokens(e->ctx);
    int lcp = 0;
    while (lcp < nt && lcp < n_ids && have[lcp] == ids[lcp]) lcp++;
    if (lcp >= n_ids) lcp = n_ids - 1;         /* something must be computed */
    if (lcp < nt && hg_ctx_truncate(e->ctx, lcp, &err) != HG_OK) {
        hg_ctx_reset(e->ctx);
        lcp = 0;
    }

    e->stream = hg_stream_new(e->tok, 1);
    if (!e->stream) {
        push_text(e, UE_ERROR, "%s", "out of memory");
        return;
    }
    double t0 = 0, t_last = 0, t_start = now_s();
    /* Speculative and diffusion replies run in one call (their rounds and
     * waves span many tokens); plain ones token by token, so that settings
     * changed meanwhile apply from the next token. */
    int one_call = base->generator != HG_GEN_PLAIN;
    /* one seed for the whole reply: hg_generate continues its RNG stream from
     * token to token, so the chat samples exactly what `run` does */
    uint64_t auto_seed = (uint64_t)time(NULL) * 2654435761u;
    for (int i = 0; i < base->max_new_tokens; i++) {
        us_settings cur;
        if (fixed) cur = *fixed;
        else {
            pthread_mutex_lock(&e->mu);
            cur = e->settings;
            pthread_mutex_unlock(&e->mu);
        }
        if (atomic_load(&e->stop)) { done->stop_reason = HG_STOP_CANCELLED; break; }
        if (i > 0 && hg_ctx_n_tokens(e->ctx) >= n_ctx) { done->stop_reason = HG_STOP_CONTEXT; break; }
        hg_gen_params p;
        hg_gen_params_default(&p, e->model);
        us_to_gen(&cur, &p);
        e->cur_crit = (int)cur.criterion;
        e->last_thr = NAN;
        p.max_new_tokens = 1;
        if (one_call) {
            us_to_gen(base, &p);
            p.max_new_tokens = base->max_new_tokens;
            if (p.max_new_tokens > n_ctx - n_ids) p.max_new_tokens = n_ctx - n_ids;
            if (p.max_new_tokens < 1) p.max_new_tokens = 1;
        }
        p.seed = fixed ? seed_base : cur.seed ? cur.seed : auto_seed;
        hg_gen_result r = {0};
        hg_status st = hg_generate(e->ctx, i == 0 ? ids + lcp : NULL, i == 0 ? n_ids - lcp : 0, &p,
                                   on_event, e, &r, &err);
        publish_ctx(e);
        if (i == 0) t0 = now_s();
        t_last = now_s();
        if (st == HG_E_CANCELLED || r.stop_reason == HG_STOP_CANCELLED) {
            hg_gen_result_free(&r);
            done->stop_reason = HG_STOP_CANCELLED;
            break;
        }
        if (st != HG_OK) {
            hg_gen_result_free(&r);
            push_text(e, UE_ERROR, "generate: %s", err.msg);
            done->stop_reason = HG_STOP_NONE;
            break;
        }
        hg_stop_reason why = r.stop_reason;
        hg_gen_result_free(&r);
        done->stop_reason = why;
        if (why == HG_STOP_TOKEN || why == HG_STOP_CONTEXT || one_call) break;
        done->stop_reason = HG_STOP_MAX_TOKENS;
    }
    done->n_drafted = e->drafted;
    done->n_accepted = e->accepted;
    done->core_passes = e->passes;
    char tail[64];
    size_t tl = hg_stream_finish(e->stream, tail, sizeof tail);
    if (tl) {
        ue_event ev = {0};
        ev.kind = UE_TOKEN;
        ev.token_id = -1;
        ev.text = strndup(tail, tl);
        ev.text_len = tl;
        push(e, &ev);
    }
    hg_stream_free(e->stream);
    e->stream = NULL;
    done->n_tokens = e->reply_tokens;
    done->mean_steps = e->reply_tokens ? e->steps_sum / e->reply_tokens : 0;
    done->tok_per_s = e->reply_tokens > 1 && t_last > t0 ? (e->reply_tokens - 1) / (t_last - t0) : 0;
    if (one_call) done->tok_per_s = e->reply_tokens > 0 && t_last > t_start ? e->reply_tokens / (t_last - t_start) : 0;
}

/* Run the job; its DONE event goes to *out (pushed by the caller once the
 * engine is idle, so that a turn started on DONE is accepted). */
static void run_turn(ue_engine *e, ue_event *out)
{
    us_settings s;
    pthread_mutex_lock(&e->mu);
    s = e->settings;
    int reset = e->need_reset;
    e->need_reset = 0;
    int n_sweep = e->n_sweep;
    int sweep[UE_SWEEP_MAX];
    memcpy(sweep, e->sweep, sizeof sweep);
    pthread_mutex_unlock(&e->mu);
    hg_err err = {{0}};
    ue_event done = {0};
    done.kind = UE_DONE;
    done.stop_reason = HG_STOP_NONE;
    done.sweep = n_sweep > 0;
    done.generator = (int)s.generator;
    e->reply_tokens = 0;
    e->steps_sum = 0;
    e->n_trace = 0;

    if (strcmp(hg_ctx_cache(e->ctx), s.cache)) {
        hg_ctx_reset(e->ctx);
        if (hg_ctx_set_cache(e->ctx, s.cache, &err) != HG_OK)
            push_text(e, UE_ERROR, "cache: %s", err.msg);
        else
            push_text(e, UE_NOTICE, "cache %s: re-processing the conversation", s.cache);
    } else if (reset) hg_ctx_reset(e->ctx);

    int32_t *ids = NULL;
    int n_ids = 0, drop = e->dropped;
    if (fit_context(e, &s, &ids, &n_ids, &drop)) goto out;
    done.dropped = drop;
    if (n_sweep == 0) {
        gen_reply(e, &s, NULL, 0, ids, n_ids, &done);
    } else {
        /* the same prompt at every depth: the settings of now, one seed */
        uint64_t seed = s.seed ? s.seed : (uint64_t)time(NULL) * 2654435761u;
        for (int k = 0; k < n_sweep; k++) {
            if (atomic_load(&e->stop)) { done.stop_reason = HG_STOP_CANCELLED; break; }
            us_settings run = s;
            run.num_steps = sweep[k];
            ue_event b = {0};
            b.kind = UE_RUN_BEGIN;
            b.num_steps = sweep[k];
            b.step = k;
            push(e, &b);
            ue_event end = {0};
            end.kind = UE_RUN_END;
            end.num_steps = sweep[k];
            gen_reply(e, &s, &run, seed, ids, n_ids, &end);
            push(e, &end);
            done.stop_reason = end.stop_reason;
            if (end.stop_reason == HG_STOP_CANCELLED || end.stop_reason == HG_STOP_NONE) break;
        }
        done.n_tokens = 0;
    }
out:
    free(ids);
    publish_ctx(e);
    done.ctx_used = e->ctx_used;
    done.n_ctx = e->n_ctx;
    done.kv_bytes = e->kv;
    if (!done.dropped) done.dropped = drop;
    *out = done;
}

static void *thread_main(void *arg)
{
    ue_engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (!e->quit && !(e->busy && e->msgs)) pthread_cond_wait(&e->cv, &e->mu);
        if (e->quit) break;
        pthread_mutex_unlock(&e->mu);
        ue_event done;
        run_turn(e, &done);
        pthread_mutex_lock(&e->mu);
        for (int i = 0; i < e->n_msgs; i++) { free((char *)e->msgs[i].role); free((char *)e->msgs[i].content); }
        free(e->msgs);
        e->msgs = NULL;
        e->n_msgs = 0;
        e->busy = 0;        /* a turn may start as soon as DONE is seen */
        e->finishing = 1;
        pthread_mutex_unlock(&e->mu);
        push(e, &done);
        pthread_mutex_lock(&e->mu);
        e->finishing = 0;
        pthread_cond_broadcast(&e->idle_cv);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

int ue_start(ue_engine **out, hg_model *m, const hg_tokenizer *t, hg_ctx *ctx,
             const us_settings *s, char *err, size_t errcap)
{
    ue_engine *e = calloc(1, sizeof *e);
    if (!e) { snprintf(err, errcap, "out of memory"); return -1; }
    e->model = m;
    e->tok = t;
    e->ctx = ctx;
    e->settings = *s;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    pthread_cond_init(&e->idle_cv, NULL);
    if (ueq_init(&e->evq, err, errcap)) { free(e); return -1; }
    publish_ctx(e);
    if (pthread_create(&e->thread, NULL, thread_main, e)) {
        snprintf(err, errcap, "cannot start the engine thread");
        ueq_free(&e->evq);
        free(e);
        return -1;
    }
    *out = e;
    return 0;
}

void ue_free(ue_engine *e)
{
    if (!e) return;
    atomic_store(&e->stop, 1);
    pthread_mutex_lock(&e->mu);
    e->quit = 1;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    ueq_free(&e->evq);
    hg_ctx_free(e->ctx);
    free(e);
}

void ue_set_queue_limit(ue_engine *e, int n) { ueq_set_limit(&e->evq, n); }

int ue_turn(ue_engine *e, const hg_chat_msg *msgs, int n, int dropped)
{
    return ue_sweep(e, msgs, n, dropped, NULL, 0);
}

int ue_sweep(ue_engine *e, const hg_chat_msg *msgs, int n, int dropped, const int *steps, int n_steps)
{
    if (n_steps < 0 || n_steps > UE_SWEEP_MAX) return -1;
    pthread_mutex_lock(&e->mu);
    if (e->busy) { pthread_mutex_unlock(&e->mu); return -1; }
    for (int i = 0; i < n_steps; i++) e->sweep[i] = steps[i];
    e->n_sweep = n_steps;
    e->msgs = calloc((size_t)(n ? n : 1), sizeof *e->msgs);
    int ok = e->msgs != NULL;
    for (int i = 0; ok && i < n; i++) {
        e->msgs[i].role = strdup(msgs[i].role);
        e->msgs[i].content = strdup(msgs[i].content ? msgs[i].content : "");
        ok = e->msgs[i].role && e->msgs[i].content;
    }
    if (!ok) {
        for (int i = 0; e->msgs && i < n; i++) { free((char *)e->msgs[i].role); free((char *)e->msgs[i].content); }
        free(e->msgs);
        e->msgs = NULL;
        pthread_mutex_unlock(&e->mu);
        return -1;
    }
    e->n_msgs = n;
    e->dropped = dropped;
    e->busy = 1;
    atomic_store(&e->stop, 0);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

int ue_busy(ue_engine *e)
{
    pthread_mutex_lock(&e->mu);
    int b = e->busy;
    pthread_mutex_unlock(&e->mu);
    return b;
}

void ue_stop(ue_engine *e) { atomic_store(&e->stop, 1); }

void ue_reset(ue_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->need_reset = 1;
    pthread_mutex_unlock(&e->mu);
}

void ue_wait_idle(ue_engine *e)
{
    pthread_mutex_lock(&e->mu);
    while (e->busy || e->finishing) pthread_cond_wait(&e->idle_cv, &e->mu);
    pthread_mutex_unlock(&e->mu);
}
