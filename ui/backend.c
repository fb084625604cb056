/* backend.c — the backend interface and the local engine behind it. */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

void ub_set_settings(ub_backend *b, const us_settings *s) { b->ops->set_settings(b->impl, s); }
int ub_turn(ub_backend *b, const hg_chat_msg *msgs, int n, int dropped) { return b->ops->turn(b->impl, msgs, n, dropped); }
int ub_sweep(ub_backend *b, const hg_chat_msg *msgs, int n, int dropped, const int *steps, int n_steps)
{
    return b->ops->sweep(b->impl, msgs, n, dropped, steps, n_steps);
}
int ub_busy(ub_backend *b) { return b->ops->busy(b->impl); }
void ub_stop(ub_backend *b) { b->ops->stop(b->impl); }
void ub_reset(ub_backend *b) { b->ops->reset(b->impl); }
void ub_ctx_info(ub_backend *b, int *used, int *n_ctx, size_t *kv, const char **cache)
{
    b->ops->ctx_info(b->impl, used, n_ctx, kv, cache);
}
void ub_wait_idle(ub_backend *b) { b->ops->wait_idle(b->impl); }
int ub_wake_fd(const ub_backend *b) { return b->ops->wake_fd(b->impl); }
int ub_pop(ub_backend *b, ue_event *ev) { return b->ops->pop(b->impl, ev); }
void ub_drain_wake(ub_backend *b) { b->ops->drain_wake(b->impl); }
void ub_info_get(ub_backend *b, ub_info *out)
{
    memset(out, 0, sizeof *out);
    if (b->ops->info) b->ops->info(b->impl, out);
}

void ub_free(ub_backend *b)
{
    if (!b) return;
    b->ops->free(b->impl);
    free(b);
}

/* ------------------------------------------------------- the local engine */

static void l_set_settings(void *e, const us_settings *s) { ue_set_settings(e, s); }
static int l_turn(void *e, const hg_chat_msg *m, int n, int d) { return ue_turn(e, m, n, d); }
static int l_sweep(void *e, const hg_chat_msg *m, int n, int d, const int *st, int ns) { return ue_sweep(e, m, n, d, st, ns); }
static int l_busy(void *e) { return ue_busy(e); }
static void l_stop(void *e) { ue_stop(e); }
static void l_reset(void *e) { ue_reset(e); }
static void l_ctx_info(void *e, int *u, int *n, size_t *kv, const char **c) { ue_ctx_info(e, u, n, kv, c); }
static void l_wait_idle(void *e) { ue_wait_idle(e); }
static int l_wake_fd(const void *e) { return ue_wake_fd(e); }
static int l_pop(void *e, ue_event *ev) { return ue_pop(e, ev); }
static void l_drain_wake(void *e) { ue_drain_wake(e); }
static void l_free(void *e) { ue_free(e); }

static const ub_ops local_ops = {
    l_set_settings, l_turn, l_sweep, l_busy, l_stop, l_reset, l_ctx_info, l_wait_idle,
    l_wake_fd, l_pop, l_drain_wake, NULL, l_free,
};

ub_backend *ub_local(ue_engine *e)
{
    ub_backend *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->ops = &local_ops;
    b->impl = e;
    return b;
}
