/* serve_slots.c — slots, the waiting queue and the generation threads of
 * `huginn serve` (see serve_slots.h). */
#include "serve_slots.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_QUEUED = 1, T_RUNNING, T_DONE };

typedef struct sv_slot {
    sv_pool *pool;
    int index;
    hg_ctx *ctx;
    pthread_t thread;
    int started;
    pthread_cond_t cv;
    sv_task *task;              /* assigned, not yet finished             */
} sv_slot;

struct sv_pool {
    hg_model *m;
    pthread_mutex_t mu;
    sv_slot *slots;
    int n_slots;
    sv_task *head, *tail;
    int n_queued, max_queue;
    int stopping;
    _Atomic int cancel_gen;     /* bumped by sv_shutdown: running generations stop */
};

int sv_common_prefix(const int32_t *a, int na, const int32_t *b, int nb)
{
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Under p->mu: give queued tasks to idle slots, longest cached prefix first
 * (the first such slot on ties). */
static void dispatch(sv_pool *p)
{
    while (p->head) {
        sv_task *t = p->head;
        int best = -1, best_len = -1;
        for (int i = 0; i < p->n_slots; i++) {
            sv_slot *s = &p->slots[i];
            if (s->task) continue;
            int len = sv_common_prefix(hg_ctx_tokens(s->ctx), hg_ctx_n_tokens(s->ctx), t->ids, t->n_ids);
            if (len > best_len) best = i, best_len = len;
        }
        if (best < 0) return;
        p->head = t->next;
        if (!p->head) p->tail = NULL;
        p->n_queued--;
        t->next = NULL;
        t->state = T_RUNNING;
        t->gen0 = atomic_load(&p->cancel_gen);
        p->slots[best].task = t;
        pthread_cond_signal(&p->slots[best].cv);
    }
}

typedef struct run_cb {
    sv_task *t;
    sv_pool *p;
    int gen0;
} run_cb;

static int slot_event(const hg_event *ev, void *user)
{
    run_cb *r = user;
    if (atomic_load(&r->p->cancel_gen) != r->gen0) return 1; /* sv_shutdown */
    return r->t->on_event ? r->t->on_event(ev, r->t->user) : 0;
}

/* Generate t on the slot's context; fills res (when HG_OK), err and the
 * prompt tokens reused. */
static hg_status run_task(sv_slot *s, sv_task *t, hg_gen_result *res, hg_err *e, int *reused)
{
    hg_ctx *c = s->ctx;
    const char *cache = t->cache ? t->cache : "full";
    int keep = 0;
    *reused = 0;
    if (strcmp(hg_ctx_cache(c), cache) != 0) {
        hg_ctx_reset(c);
        if (hg_ctx_set_cache(c, cache, e) != HG_OK) return HG_E_ARG;
    } else {
        /* keep the common prefix, but compute at least one token */
        keep = sv_common_prefix(hg_ctx_tokens(c), hg_ctx_n_tokens(c), t->ids, t->n_ids);
        if (keep > t->n_ids - 1) keep = t->n_ids - 1;
        if (keep > hg_ctx_n_past(c)) keep = hg_ctx_n_past(c);
        if (keep <= 0 || hg_ctx_truncate(c, keep, e) != HG_OK) {
            hg_ctx_reset(c);
            keep = 0;
        }
    }
    *reused = keep;
    run_cb r = {t, s->pool, t->gen0};
    hg_status st = hg_generate(c, t->ids + keep, t->n_ids - keep, &t->params, slot_event, &r, res, e);
    if (st != HG_OK) hg_ctx_reset(c); /* nothing half-known is reused */
    return st;
}

static void *slot_main(void *arg)
{
    sv_slot *s = arg;
    sv_pool *p = s->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!s->task && !p->stopping) pthread_cond_wait(&s->cv, &p->mu);
        if (!s->task) break; /* stopping */
        sv_task *t = s->task;
        pthread_mutex_unlock(&p->mu);
        hg_gen_result res;
        hg_err e = {{0}};
        int reused;
        hg_status st = run_task(s, t, &res, &e, &reused);
        pthread_mutex_lock(&p->mu);
        t->state = T_DONE;
        s->task = NULL;
        dispatch(p);
        pthread_mutex_unlock(&p->mu);
        /* the last touch: on_done may free t */
        t->on_done(st, st == HG_OK ? &res : NULL, &e, reused, t->user);
        if (st == HG_OK) hg_gen_result_free(&res);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

hg_status sv_new(hg_model *m, int n_slots, int threads_per_slot, int n_ctx, int max_steps, int max_queue,
                 sv_pool **out, hg_err *err)
{
    *out = NULL;
    if (n_slots < 1) n_slots = 1;
    sv_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->slots = calloc((size_t)n_slots, sizeof *p->slots))) {
        free(p);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return HG_E_NOMEM;
    }
    p->m = m;
    p->max_queue = max_queue;
    pthread_mutex_init(&p->mu, NULL);
    hg_status st = HG_OK;
    for (int i = 0; i < n_slots; i++) {
        sv_slot *s = &p->slots[i];
        s->pool = p;
        s->index = i;
        pthread_cond_init(&s->cv, NULL);
        p->n_slots = i + 1;
        hg_ctx_params cp;
        hg_ctx_params_default(&cp);
        cp.n_ctx = n_ctx;
        cp.max_steps = max_steps;
        cp.n_threads = threads_per_slot > 0 ? threads_per_slot : 1;
        if ((st = hg_ctx_new(m, &cp, &s->ctx, err)) != HG_OK) break;
        if (pthread_create(&s->thread, NULL, slot_main, s) != 0) {
            snprintf(err->msg, sizeof err->msg, "cannot start the thread of slot %d", i);
            st = HG_E_INTERNAL;
            break;
        }
        s->started = 1;
    }
    if (st != HG_OK) {
        sv_free(p);
        return st;
    }
    *out = p;
    return HG_OK;
}

void sv_shutdown(sv_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        return;
    }
    p->stopping = 1;
    atomic_fetch_add(&p->cancel_gen, 1);
    sv_task *q = p->head;
    p->head = p->tail = NULL;
    p->n_queued = 0;
    for (int i = 0; i < p->n_slots; i++) pthread_cond_signal(&p->slots[i].cv);
    pthread_mutex_unlock(&p->mu);
    hg_err e;
    snprintf(e.msg, sizeof e.msg, "the server is shutting down");
    while (q) {
        sv_task *next = q->next;
        q->state = T_DONE;
        q->on_done(HG_E_CANCELLED, NULL, &e, 0, q->user);
        q = next;
    }
    for (int i = 0; i < p->n_slots; i++) {
        sv_slot *s = &p->slots[i];
        if (s->started) pthread_join(s->thread, NULL);
        s->started = 0;
    }
}

void sv_free(sv_pool *p)
{
    if (!p) return;
    sv_shutdown(p);
    for (int i = 0; i < p->n_slots; i++) {
        sv_slot *s = &p->slots[i];
        hg_ctx_free(s->ctx);
        pthread_cond_destroy(&s->cv);
    }
    pthread_mutex_destroy(&p->mu);
    free(p->slots);
    free(p);
}

int sv_submit(sv_pool *p, sv_task *t)
{
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    int idle = 0;
    for (int i = 0; i < p->n_slots; i++) idle += !p->slots[i].task;
    if (p->stopping) rc = -2;
    else if (!idle && p->n_queued >= p->max_queue) rc = -1; /* it would wait, and the queue is full */
    else {
        t->next = NULL;
        t->state = T_QUEUED;
        if (p->tail) p->tail->next = t;
        else p->head = t;
        p->tail = t;
        p->n_queued++;
        dispatch(p);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int sv_withdraw(sv_pool *p, sv_task *t)
{
    pthread_mutex_lock(&p->mu);
    int removed = 0;
    if (t->state == T_QUEUED) {
        sv_task **pp = &p->head, *prev = NULL;
        while (*pp && *pp != t) prev = *pp, pp = &(*pp)->next;
        if (*pp) {
            *pp = t->next;
            if (p->tail == t) p->tail = prev;
            p->n_queued--;
            t->state = T_DONE;
            removed = 1;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return removed;
}

void sv_counts(sv_pool *p, int *n_slots, int *n_idle, int *n_queued)
{
    pthread_mutex_lock(&p->mu);
    int idle = 0;
    for (int i = 0; i < p->n_slots; i++) idle += !p->slots[i].task;
    if (n_slots) *n_slots = p->n_slots;
    if (n_idle) *n_idle = idle;
    if (n_queued) *n_queued = p->n_queued;
    pthread_mutex_unlock(&p->mu);
}

int sv_n_ctx(const sv_pool *p) { return hg_ctx_n_ctx(p->slots[0].ctx); }

