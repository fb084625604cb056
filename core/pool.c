/* pool.c — persistent worker threads with spin-then-sleep wake-up (the
 * sleep is platform.h's address wait: a futex on Linux). */
#include "pool.h"
#include "platform.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SPIN_ITERS 20000

struct hg_pool {
    int n;
    pthread_t *threads;
    _Atomic unsigned gen;      /* bumped for every task                 */
    _Atomic int pending;       /* workers still running the task        */
    _Atomic int sleepers;      /* workers asleep in the address wait */
    _Atomic int quit;
    hg_task_fn fn;
    void *arg;
};

typedef struct worker_arg {
    hg_pool *p;
    int ith;
} worker_arg;

static void *worker(void *a)
{
    worker_arg wa = *(worker_arg *)a;
    free(a);
    hg_pool *p = wa.p;
    unsigned seen = 0; /* the generation at creation: no task has run yet */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ITERS) {
                hg_cpu_relax();
                continue;
            }
            atomic_fetch_add(&p->sleepers, 1);
            if (atomic_load(&p->gen) == seen) hg_wait_on_address(&p->gen, seen);
            atomic_fetch_sub(&p->sleepers, 1);
            spins = 0;
        }
        seen = g;
        if (atomic_load(&p->quit)) return NULL;
        p->fn(p->arg, wa.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

hg_pool *hg_pool_new(int n)
{
    if (n < 1) n = 1;
    hg_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    p->threads = calloc((size_t)n, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return NULL;
    }
    for (int i = 1; i < n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { p->n = i; break; }
        *wa = (worker_arg){p, i};
        if (pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            p->n = i;
            break;
        }
    }
    return p;
}

int hg_pool_size(const hg_pool *p) { return p ? p->n : 1; }

void hg_pool_run(hg_pool *p, hg_task_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0) hg_wake_all_on_address(&p->gen);
    fn(arg, 0, p->n);
    /* wait; yield when a worker is not running (more threads than free cores) */
    for (int spins = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0;) {
        if (++spins < 4000) hg_cpu_relax();
        else {
            sched_yield();
            spins = 0;
        }
    }
}

void hg_pool_free(hg_pool *p)
{
    if (!p) return;
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    hg_wake_all_on_address(&p->gen);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p);
}
