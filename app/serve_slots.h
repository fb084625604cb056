/* serve_slots.h — the slots of `huginn serve`: N contexts sharing one
 * loaded model, each with its own thread that generates, and a bounded FIFO
 * of the tasks waiting for one.  A task goes to the idle slot whose cached
 * tokens share the longest prefix with its prompt; that prefix is kept and
 * only the rest is computed. */
#ifndef HG_SERVE_SLOTS_H
#define HG_SERVE_SLOTS_H

#include "huginn.h"

typedef struct sv_pool sv_pool;

typedef struct sv_task {
    /* set by the caller before sv_submit, untouched after */
    const int32_t *ids;         /* the whole prompt (n_ids >= 1)             */
    int n_ids;
    hg_gen_params params;
    const char *cache;          /* cache strategy (NULL = "full")            */
    /* called on the slot's thread: every event (return non-zero to stop),
     * then once at the end with what hg_generate returned (res is NULL when
     * it failed) and how many prompt tokens came from the slot's cache */
    int (*on_event)(const hg_event *ev, void *user);
    void (*on_done)(hg_status st, const hg_gen_result *res, const hg_err *err, int n_reused, void *user);
    void *user;
    /* private */
    struct sv_task *next;
    int state;
    int gen0;                   /* the pool's cancel generation when it started */
} sv_task;

/* Make n_slots contexts of n_ctx positions (0 = block_size) with
 * threads_per_slot threads each, and their threads; at most max_queue tasks
 * wait.  max_steps: KV slots reserved up front per context (0 = the default). */
hg_status sv_new(hg_model *m, int n_slots, int threads_per_slot, int n_ctx, int max_steps, int max_queue,
                 sv_pool **out, hg_err *err);
/* Stop: running generations are cancelled (their on_done still runs),
 * queued tasks get on_done with HG_E_CANCELLED, the threads are joined;
 * later submissions are refused.  sv_free stops (if not yet) and frees. */
void sv_shutdown(sv_pool *p);
void sv_free(sv_pool *p);

/* Queue a task.  0: queued (on_done will be called exactly once); -1: the
 * queue is full; -2: the pool is stopping. */
int sv_submit(sv_pool *p, sv_task *t);
/* Take back a task that no slot has started: 1 when it was removed (on_done
 * will not be called), 0 when it runs or ran (on_done is or was called). */
int sv_withdraw(sv_pool *p, sv_task *t);

void sv_counts(sv_pool *p, int *n_slots, int *n_idle, int *n_queued);
int sv_n_ctx(const sv_pool *p);

/* Length of the common prefix of a[0..na) and b[0..nb). */
int sv_common_prefix(const int32_t *a, int na, const int32_t *b, int nb);

#endif
