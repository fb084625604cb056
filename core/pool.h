/* pool.h — a persistent thread pool for the many small products of a
 * decoded token: workers spin briefly on a generation counter, then sleep on
 * it (a futex on Linux, see platform.h), so a dispatch costs well under a
 * microsecond when busy and idle workers cost nothing. */
#ifndef HG_POOL_H
#define HG_POOL_H

typedef struct hg_pool hg_pool;
/* fn runs once on every thread: ith in [0, nth). */
typedef void (*hg_task_fn)(void *arg, int ith, int nth);

hg_pool *hg_pool_new(int n_threads);
void hg_pool_free(hg_pool *p);
int hg_pool_size(const hg_pool *p);
/* Run fn on all threads (the caller is thread 0) and wait for all. */
void hg_pool_run(hg_pool *p, hg_task_fn fn, void *arg);

#endif
