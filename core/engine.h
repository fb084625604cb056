/* engine.h — the context and the forward-pass primitives shared by the
 * generators (core/generate.c, core/gen_speculative.c, core/gen_diffusion.c).
 * Internal to core/: not part of the API.
 *
 * A pass works on the rows of the context's batch buffers: row t of c->e is
 * the injected embedding and row t of c->x the recurrent state of position
 * pos0 + t.  Every product of a pass over T rows is one hg_matmul with T
 * rows, so T positions read each weight once. */
#ifndef HG_ENGINE_H
#define HG_ENGINE_H

#include "exitcrit.h"
#include "kernels.h"
#include "kvcache.h"
#include "model.h"
#include "sampler.h"

#define HG_MAX_STEPS 4096

struct hg_ctx {
    hg_model *m;
    hg_pool *pool;           /* the model's, or the context's own (n_threads > 0)  */
    hg_workspace *ws;        /* the model's, or own_ws                              */
    hg_workspace own_ws;     /* prefill scratch of a context with its own threads   */
    hg_amx_ws own_amx;
    int own_pool;
    int n_ctx;               /* positions the context holds                         */
    int ubatch;              /* rows per chunk                                      */
    hg_kvs kvs;
    int n_slots;             /* slot arrays allocated: n_coda + n_prelude + core     */
    int core_slots_used;     /* highest compressed core slot written + 1 (minus P)  */
    void **K, **V;           /* [n_coda + slot] -> (n_ctx, kv_dim) of kv_dtype      */
    hg_kv_dtype kv_dtype;
    size_t kv_elt;           /* bytes per KV element                                */
    int *steps_done;         /* (n_ctx) recurrence steps each cached position ran   */
    int32_t *tokens;         /* (n_ctx + 1) known tokens; [0, n_past) are cached    */
    int n_tokens, n_past;
    int n_kept;              /* tokens the events report as kept (hg_event.ctx_tokens):
                                n_tokens, but during a speculative or diffusion call
                                the prompt and the output put out so far only      */
    /* batch buffers, (n_ctx, n_embd) each */
    float *e;                /* prelude output (the injected embedding)            */
    float *x;                /* recurrent state                                     */
    /* chunk scratch */
    float *xn;               /* (ubatch, n_embd)                                    */
    float *qkv;              /* (ubatch, q_dim + 2 kv_dim)                          */
    float *att;              /* (ubatch, q_dim)                                     */
    float *tmp;              /* (ubatch, n_embd)                                    */
    float *fc;               /* (ubatch, 2 intermediate)                            */
    float *act;              /* (ubatch, intermediate)                              */
    float *cat;              /* (ubatch, 2 n_embd)                                  */
    float *y;                /* (ubatch, n_embd) coda activations                   */
    float *scores;           /* (threads, n_ctx) attention scores of one query      */
    float *kvrow;            /* (threads, 2 head_dim) a K and a V row as f32        */
    float *kt, *vt;          /* (threads, head_dim, n_ctx) a head's keys/values, transposed */
    int *vidx;               /* (n_ctx) positions attended to, in order            */
    int *rslot;              /* (n_ctx) slot array to read for each past position   */
    float *logits;           /* (vocab) logits of the last position                 */
    float *warm;             /* (n_embd) warm-start state for the next token        */
    hg_exit_state ex;
    hg_sampler_work sw;
    int warm_valid;          /* warm holds the state of the token pending now     */
    hg_rng rng;              /* sampler/state RNG, continued across calls          */
    uint64_t rng_seed;
    int rng_valid;           /* rng continues the stream of rng_seed              */
    hg_profile prof;
    double prof_mark;        /* time of the last product/attention end        */
    double prof_total0;      /* time the profiled call started                */
};

typedef struct hg_batch_opts {
    int num_steps;
    float init_scale;
    hg_rng *rng;
    hg_criterion crit;
    double threshold;
    int min_steps, check_every;
    const float *warm_in;    /* starting state of a 1-row batch, or NULL for s0 */
    float *logits_all;       /* (T, vocab) for every row, or NULL: last row only */
    double *nll;             /* (T - 1) -log p(next token) per row, or NULL (hg_score) */
    float *head_buf;         /* (head_rows, vocab) logits scratch for nll           */
    int head_rows;
    hg_phase phase;          /* reported in the HG_EV_STEP events           */
    hg_event_cb cb;
    void *user;
} hg_batch_opts;

/* Make sure slot arrays exist for num_steps recurrence steps. */
hg_status hg_ensure_slots(hg_ctx *c, int num_steps, hg_err *err);
/* Append ids to the known tokens (checked against the vocabulary and n_ctx). */
hg_status hg_append_ids(hg_ctx *c, const int32_t *ids, int n, hg_err *err);

/* Embeddings and prelude of the tokens c->tokens[pos0 .. pos0+T): writes the
 * prelude slots of those positions, leaves the result in c->e rows 0..T-1.
 * Positions < pos0 must be cached; positions >= pos0 are overwritten. */
void hg_embed_and_prelude(hg_ctx *c, int T, int pos0);
/* Starting states of T rows into c->x (s0, or o->warm_in for one row). */
void hg_init_state(hg_ctx *c, int T, const hg_batch_opts *o);
/* One recurrence step on rows 0..T-1 of c->x, writing the core slots of step k. */
void hg_recurrence_step(hg_ctx *c, int T, int pos0, int k);
/* Coda and head on rows 0..T-1 of c->x: writes the coda slots, the logits of
 * the last row into c->logits (and of every row into logits_all if given). */
void hg_coda_and_head(hg_ctx *c, int T, int pos0, float *logits_all);

/* The shared primitive of the parallel generators: advance the recurrence of
 * the T positions [pos0, pos0+T) by n steps, numbered k0 .. k0+n-1 for the
 * cache slots.  Each row of c->x is that position's own state (injected
 * embedding: the same row of c->e); counts (T, may be NULL) is each
 * position's recurrence counter, incremented by one per step.  Every step is
 * one batched pass (hg_matmul with T rows).  cb (may be NULL) gets an
 * HG_EV_STEP event of the given phase after each step and cancels by
 * returning non-zero (HG_E_CANCELLED; the caller restores the cache). */
hg_status hg_advance(hg_ctx *c, int pos0, int T, int k0, int n, int *counts, hg_phase phase, int num_steps,
                     hg_event_cb cb, void *user);
/* Fill an event's context fields (ctx_tokens = c->n_kept, kv_bytes = the
 * KV memory in use now: n_past positions, those of the pass an HG_EV_STEP
 * reports included); every event of the generators goes through it. */
void hg_event_ctx(const hg_ctx *c, hg_event *ev);
/* Mark positions [pos0, pos0+T) as cached with `steps` recurrence steps and
 * make n_past = pos0 + T. */
void hg_commit(hg_ctx *c, int pos0, int T, int steps);

/* Process the pending tokens [n_past, n_past + T) at o->num_steps (with the
 * exit test when o->crit is set): on success the positions join the cache,
 * c->logits holds the last row's logits, c->warm the state to continue from,
 * and *steps_used the recurrence steps run. */
hg_status hg_process_batch(hg_ctx *c, int T, const hg_batch_opts *o, int *steps_used);

/* Generators (gen_speculative.c, gen_diffusion.c): the common set-up of
 * hg_generate is done (params checked, ids appended, slots reserved, result
 * arrays of cap entries, RNG seeded); they fill res and leave the context
 * consistent (tokens = prompt + output, the last output token pending). */
typedef struct hg_gen_run {
    const hg_gen_params *p;
    hg_event_cb cb;
    void *user;
    int cap;                 /* entries of res->output_ids / res->steps    */
    int n_stop;
    const int32_t *stops;
} hg_gen_run;

int hg_gen_is_stop(const hg_gen_run *r, const hg_ctx *c, int tok);
hg_status hg_gen_speculative(hg_ctx *c, const hg_gen_run *r, hg_gen_result *res, hg_err *err);
hg_status hg_gen_diffusion(hg_ctx *c, const hg_gen_run *r, hg_gen_result *res, hg_err *err);

#endif
