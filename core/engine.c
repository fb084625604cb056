/* engine.c — the forward pass, the KV cache and generation (HUGINN.md §2–§5).
 *
 * A call processes a batch of T positions (the prompt, or one new token):
 * prelude, num_steps recurrence steps (each: adapter + core layers), coda and
 * head.  The batch is walked in chunks of `ubatch` rows; every chunk of a
 * layer finishes before the next chunk of the same layer starts, so chunking
 * changes nothing in the result.  All buffers live in the context and are
 * allocated when it is made (KV slots: when a call needs more steps than any
 * before); the per-token loop allocates nothing. */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ----------------------------------------------------------------- setup */

void hg_ctx_params_default(hg_ctx_params *p)
{
    memset(p, 0, sizeof *p);
    p->cache = "full";
}

static void *xcalloc(size_t n, size_t sz, int *fail)
{
    void *p = calloc(n ? n : 1, sz);
    if (!p) *fail = 1;
    return p;
}

void hg_ctx_free(hg_ctx *c)
{
    if (!c) return;
    for (int i = 0; i < c->n_slots; i++) {
        free(c->K[i]);
        free(c->V[i]);
    }
    free(c->K);
    free(c->V);
    free(c->steps_done);
    free(c->tokens);
    free(c->e);
    free(c->x);
    free(c->xn);
    free(c->qkv);
    free(c->att);
    free(c->tmp);
    free(c->fc);
    free(c->act);
    free(c->cat);
    free(c->y);
    free(c->scores);
    free(c->kvrow);
    free(c->kt);
    free(c->vt);
    free(c->vidx);
    free(c->rslot);
    free(c->logits);
    free(c->warm);
    free(c->sw.probs);
    free(c->sw.idx);
    free(c->sw.mark);
    hg_exit_free(&c->ex);
    if (c->own_pool) {
        hg_pool_free(c->pool);
        hg_model_workspace_free(&c->own_ws, &c->own_amx);
    }
    free(c);
}

/* Make sure slot arrays exist for num_steps recurrence steps. */
hg_status hg_ensure_slots(hg_ctx *c, int num_steps, hg_err *err)
{
    const hg_config *cf = &c->m->cfg;
    int need = cf->n_coda + cf->n_prelude + hg_kvs_core_slots(&c->kvs, cf->n_core, num_steps);
    if (need <= c->n_slots) return HG_OK;
    void **nk = realloc(c->K, sizeof *nk * (size_t)need);
    if (nk) c->K = nk;
    void **nv = realloc(c->V, sizeof *nv * (size_t)need);
    if (nv) c->V = nv;
    if (!nk || !nv) return hg_fail(err, HG_E_NOMEM, "out of memory for the KV cache");
    size_t per = (size_t)c->n_ctx * (size_t)c->m->kv_dim;
    for (int i = c->n_slots; i < need; i++) {
        /* calloc: pages are committed only when a position is written */
        c->K[i] = calloc(per, c->kv_elt);
        c->V[i] = calloc(per, c->kv_elt);
        if (!c->K[i] || !c->V[i]) {
            free(c->K[i]);
            free(c->V[i]);
            return hg_fail(err, HG_E_NOMEM, "out of memory for the KV cache (%d slots of %d positions)", need,
                           c->n_ctx);
        }
        c->n_slots = i + 1;
    }
    return HG_OK;
}

hg_status hg_ctx_new(hg_model *m, const hg_ctx_params *p, hg_ctx **out, hg_err *err)
{
    *out = NULL;
    hg_ctx_params def;
    if (!p) {
        hg_ctx_params_default(&def);
        p = &def;
    }
    const hg_config *cf = &m->cfg;
    if (p->n_ctx < 0 || p->n_ctx > cf->block_size)
        return hg_fail(err, HG_E_ARG, "context of %d positions: must be 1..%d (block_size)", p->n_ctx,
                       cf->block_size);
    hg_ctx *c = calloc(1, sizeof *c);
    if (!c) return hg_fail(err, HG_E_NOMEM, "out of memory");
    c->m = m;
    hg_status s = hg_kvs_parse(p->cache, &c->kvs, err);
    if (s) {
        free(c);
        return s;
    }
    c->n_ctx = p->n_ctx ? p->n_ctx : cf->block_size;
    if (p->kv_dtype < HG_KV_F32 || p->kv_dtype > HG_KV_F16) {
        free(c);
        return hg_fail(err, HG_E_ARG, "unknown KV cache dtype %d", (int)p->kv_dtype);
    }
    c->kv_dtype = p->kv_dtype;
    c->kv_elt = p->kv_dtype == HG_KV_F32 ? 4 : 2;
    if (p->n_threads < 0) {
        free(c);
        return hg_fail(err, HG_E_ARG, "context threads %d: must be >= 0", p->n_threads);
    }
    if (p->n_threads > 0) {
        /* its own threads and prefill workspace: runs beside other contexts */
        c->own_pool = 1;
        c->pool = hg_pool_new(p->n_threads);
        c->ws = &c->own_ws;
        if (!c->pool || hg_model_workspace_init(m, &c->own_ws, &c->own_amx) != HG_OK) {
            hg_ctx_free(c);
            return hg_fail(err, HG_E_NOMEM, "out of memory for a context's threads");
        }
    } else {
        c->pool = m->pool;
        c->ws = &m->ws;
    }
    c->ubatch = p->ubatch > 0 ? p->ubatch : 512;
    if (c->ubatch > c->n_ctx) c->ubatch = c->n_ctx;
    size_t N = (size_t)c->n_ctx, U = (size_t)c->ubatch, E = (size_t)cf->n_embd, NI = (size_t)cf->intermediate_size;
    size_t Vv = (size_t)cf->vocab_size;
    int fail = 0;
    c->steps_done = xcalloc(N, sizeof(int), &fail);
    c->tokens = xcalloc(N + 1, sizeof(int32_t), &fail);
    c->e = xcalloc(N * E, sizeof(float), &fail);
    c->x = xcalloc(N * E, sizeof(float), &fail);
    c->xn = xcalloc(U * E, sizeof(float), &fail);
    c->qkv = xcalloc(U * (size_t)(m->q_dim + 2 * m->kv_dim), sizeof(float), &fail);
    c->att = xcalloc(U * (size_t)m->q_dim, sizeof(float), &fail);
    c->tmp = xcalloc(U * E, sizeof(float), &fail);
    c->fc = xcalloc(U * 2 * NI, sizeof(float), &fail);
    c->act = xcalloc(U * NI, sizeof(float), &fail);
    c->cat = xcalloc(U * 2 * E, sizeof(float), &fail);
    c->y = xcalloc(U * E, sizeof(float), &fail);
    int nth = hg_pool_size(c->pool);
    c->scores = xcalloc(N * (size_t)nth, sizeof(float), &fail);
    c->kvrow = xcalloc((size_t)nth * 2 * (size_t)cf->head_dim, sizeof(float), &fail);
    c->kt = xcalloc((size_t)nth * (size_t)cf->head_dim * N, sizeof(float), &fail);
    c->vt = xcalloc((size_t)nth * (size_t)cf->head_dim * N, sizeof(float), &fail);
    c->vidx = xcalloc(N, sizeof(int), &fail);
    c->rslot = xcalloc(N, sizeof(int), &fail);
    c->logits = xcalloc(Vv, sizeof(float), &fail);
    c->warm = xcalloc(E, sizeof(float), &fail);
    c->sw.probs = xcalloc(Vv, sizeof(float), &fail);
    c->sw.idx = xcalloc(Vv, sizeof(int), &fail);
    c->sw.mark = xcalloc(Vv, 1, &fail);
    if (!fail && hg_exit_alloc(&c->ex, cf->vocab_size, N * E) != HG_OK) fail = 1;
    if (fail) {
        hg_ctx_free(c);
        return hg_fail(err, HG_E_NOMEM, "out of memory for a context of %zu positions", N);
    }
    int steps = p->max_steps > 0 ? p->max_steps : cf->mean_recurrence;
    if ((s = hg_ensure_slots(c, steps, err))) {
        hg_ctx_free(c);
        return s;
    }
    *out = c;
    return HG_OK;
}

void hg_ctx_reset(hg_ctx *c)
{
    c->n_tokens = c->n_past = c->n_kept = 0;
    c->core_slots_used = 0;
    c->warm_valid = 0;
    c->rng_valid = 0;
}

hg_status hg_ctx_truncate(hg_ctx *c, int n, hg_err *err)
{
    if (n < 0 || n > c->n_tokens)
        return hg_fail(err, HG_E_ARG, "cannot truncate %d tokens to %d", c->n_tokens, n);
    if (n < c->n_tokens) {
        c->warm_valid = 0;
        c->rng_valid = 0;
    }
    c->n_tokens = c->n_kept = n;
    if (c->n_past > n) c->n_past = n;
    return HG_OK;
}

hg_status hg_ctx_set_cache(hg_ctx *c, const char *strategy, hg_err *err)
{
    hg_kvs k;
    hg_status s = hg_kvs_parse(strategy, &k, err);
    if (s) return s;
    if (c->n_past > 0)
        return hg_fail(err, HG_E_ARG, "the cache strategy can only change on an empty context (reset first)");
    c->kvs = k;
    return HG_OK;
}

const char *hg_ctx_cache(const hg_ctx *c) { return c->kvs.name; }
int hg_ctx_n_ctx(const hg_ctx *c) { return c->n_ctx; }
int hg_ctx_n_past(const hg_ctx *c) { return c->n_past; }
int hg_ctx_n_tokens(const hg_ctx *c) { return c->n_tokens; }
const int32_t *hg_ctx_tokens(const hg_ctx *c) { return c->tokens; }

/* KV bytes of n positions at the slots written so far. */
static size_t kv_bytes_of(const hg_ctx *c, int n)
{
    const hg_config *cf = &c->m->cfg;
    size_t slots = (size_t)(cf->n_coda + cf->n_prelude + c->core_slots_used);
    return (size_t)n * slots * (size_t)c->m->kv_dim * 2 * c->kv_elt;
}

size_t hg_ctx_kv_bytes(const hg_ctx *c) { return kv_bytes_of(c, c->n_past); }

void hg_event_ctx(const hg_ctx *c, hg_event *ev)
{
    ev->ctx_tokens = c->n_kept;
    /* a pass's positions are in the cache while it writes them (they join
     * n_past when it ends): a prefill, a draft, a verify pass, a wave */
    int held = c->n_past;
    if (ev->type == HG_EV_STEP && ev->position + 1 > held) held = ev->position + 1;
    ev->kv_bytes = kv_bytes_of(c, held);
}

size_t hg_ctx_kv_bytes_per_token(const hg_ctx *c, int num_steps)
{
    const hg_config *cf = &c->m->cfg;
    size_t slots = (size_t)(cf->n_coda + cf->n_prelude + hg_kvs_core_slots(&c->kvs, cf->n_core, num_steps));
    return slots * (size_t)c->m->kv_dim * 2 * c->kv_elt;
}

const char *hg_kv_dtype_name(hg_kv_dtype d)
{
    return d == HG_KV_BF16 ? "bf16" : d == HG_KV_F16 ? "f16" : d == HG_KV_F32 ? "f32" : "?";
}

hg_status hg_kv_dtype_parse(const char *name, hg_kv_dtype *out)
{
    for (int d = HG_KV_F32; d <= HG_KV_F16; d++)
        if (name && !strcmp(name, hg_kv_dtype_name((hg_kv_dtype)d))) {
            *out = (hg_kv_dtype)d;
            return HG_OK;
        }
    return HG_E_ARG;
}

/* ------------------------------------------------------- KV elements */

/* Store n floats at element offset off of a KV array. */
static void kv_store(const hg_ctx *c, void *arr, size_t off, const float *src, int n)
{
    if (c->kv_dtype == HG_KV_F32) memcpy((float *)arr + off, src, sizeof(float) * (size_t)n);
    else if (c->kv_dtype == HG_KV_BF16)
        for (int i = 0; i < n; i++) ((uint16_t *)arr)[off + i] = hg_f32_to_bf16(src[i]);
    else
        for (int i = 0; i < n; i++) ((uint16_t *)arr)[off + i] = hg_f32_to_f16(src[i]);
}

/* n floats at element offset off of a KV array: a pointer into the cache
 * (f32) or into buf (converted). */
static inline const float *kv_load(const hg_ctx *c, const void *arr, size_t off, int n, float *buf)
{
    if (c->kv_dtype == HG_KV_F32) return (const float *)arr + off;
    const uint16_t *h = (const uint16_t *)arr + off;
    if (c->kv_dtype == HG_KV_BF16)
        for (int i = 0; i < n; i++) buf[i] = hg_bf16_to_f32(h[i]);
    else
        for (int i = 0; i < n; i++) buf[i] = hg_f16_to_f32(h[i]);
    return buf;
}

/* ---------------------------------------------------------- the layers */

/* Y(T, rows) = X(T, cols) · W^T on the model's pool and workspace. */
#define MATMUL(Y, X, W, T, PART) timed_matmul(c, (Y), (X), (W), (T), (PART))

/* Everything between two timed parts counts as "other". */
static inline void prof_other(hg_ctx *c, double now)
{
    if (c->prof_mark > 0) c->prof.seconds[HG_PROF_OTHER] += now - c->prof_mark;
}

static void timed_matmul(hg_ctx *c, float *Y, const float *X, const hg_mat *W, int T, hg_prof_part part)
{
    double t0 = hg_now();
    prof_other(c, t0);
    hg_matmul(c->pool, Y, X, W, T, c->ws);
    double t1 = hg_now();
    c->prof.seconds[part] += t1 - t0;
    c->prof.bytes[part] += (double)hg_mat_bytes(W);
    c->prof_mark = t1;
}

const char *hg_prof_part_name(hg_prof_part p)
{
    static const char *const names[HG_PROF_COUNT] = {"qkv", "attn_proj", "mlp_fc", "mlp_proj", "adapter", "head",
                                                     "attention", "other"};
    return p >= 0 && p < HG_PROF_COUNT ? names[p] : "?";
}

void hg_ctx_profile(const hg_ctx *c, hg_profile *out) { *out = c->prof; }

void hg_ctx_profile_reset(hg_ctx *c)
{
    memset(&c->prof, 0, sizeof c->prof);
    c->prof_mark = 0;
}

/* Slot array index of a raw slot (coda slots are negative). */
static int slot_index(const hg_ctx *c, int raw)
{
    const hg_config *cf = &c->m->cfg;
    return cf->n_coda + (raw < 0 ? raw : hg_kvs_map(&c->kvs, cf->n_prelude, raw));
}

/* For every cached position p < pos0, which slot array to read for a call
 * writing raw slot `raw` (-1: left out). */
static void resolve_slots(hg_ctx *c, int raw, int pos0)
{
    const hg_config *cf = &c->m->cfg;
    int P = cf->n_prelude, R = cf->n_core;
    int idx = slot_index(c, raw);
    if (raw < P) {
        for (int p = 0; p < pos0; p++) c->rslot[p] = idx;
        return;
    }
    int cs = hg_kvs_map(&c->kvs, P, raw);
    for (int p = 0; p < pos0; p++) {
        int s = hg_kvs_lookup(&c->kvs, P, R, cs, c->steps_done[p]);
        c->rslot[p] = s < 0 ? -1 : cf->n_coda + s;
    }
}

/* Causal attention of U query rows (positions qpos0 ..) over every position
 * <= the query's; positions < bpos0 come from the cache through rslot,
 * positions of the batch from slot array `cur`.  (row, head) pairs are
 * spread over the pool's threads. */
typedef struct attn_task {
    hg_ctx *c;
    int U, qpos0, bpos0, cur;
} attn_task;

static void attention_run(void *arg, int ith, int nth)
{
    attn_task *t = arg;
    hg_ctx *c = t->c;
    const hg_config *cf = &c->m->cfg;
    int H = cf->n_heads, hd = cf->head_dim, kvd = c->m->kv_dim, qkvd = c->m->q_dim + 2 * kvd;
    int group = cf->n_heads / cf->n_kv_heads;
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = c->scores + (size_t)ith * c->n_ctx;
    float *kbuf = c->kvrow + (size_t)ith * 2 * hd, *vbuf = kbuf + hd;
    const hg_kernel_variant *kv = hg_kernels_active();
    int items = t->U * H;
    int a = (int)((long)items * ith / nth), b = (int)((long)items * (ith + 1) / nth);
    for (int it = a; it < b; it++) {
        int i = it / H, h = it % H;
        int pos = t->qpos0 + i;
        const float *qh = c->qkv + (size_t)i * qkvd + (size_t)h * hd;
        size_t koff = (size_t)(h / group) * hd;
        float mx = -INFINITY;
        for (int p = 0; p <= pos; p++) {
            int s = p < t->bpos0 ? c->rslot[p] : t->cur;
            if (s < 0) continue;
            const float *k = kv_load(c, c->K[s], (size_t)p * kvd + koff, hd, kbuf);
            float d = kv->dot(qh, k, hd) * scale;
            scores[p] = d;
            if (d > mx) mx = d;
        }
        double sum = 0;
        for (int p = 0; p <= pos; p++) {
            int s = p < t->bpos0 ? c->rslot[p] : t->cur;
            if (s < 0) continue;
            float w = expf(scores[p] - mx);
            scores[p] = w;
            sum += w;
        }
        float *o = c->att + (size_t)i * c->m->q_dim + (size_t)h * hd;
        memset(o, 0, sizeof(float) * (size_t)hd);
        float inv = (float)(1.0 / sum);
        for (int p = 0; p <= pos; p++) {
            int s = p < t->bpos0 ? c->rslot[p] : t->cur;
            if (s < 0) continue;
            const float *v = kv_load(c, c->V[s], (size_t)p * kvd + koff, hd, vbuf);
            kv->axpy(o, scores[p] * inv, v, hd);
        }
    }
}

/* Many query rows (a prefill chunk): per head, the keys and values of every
 * attended position are gathered once, transposed (head_dim rows of
 * positions), so a row's scores and output are head_dim long vector
 * operations over the positions instead of one short dot product per key.
 * Heads are spread over the threads. */
typedef struct attn_rows_task {
    hg_ctx *c;
    int U, qpos0, bpos0, cur, n_valid;
} attn_rows_task;

static void attention_rows_run(void *arg, int ith, int nth)
{
    attn_rows_task *t = arg;
    hg_ctx *c = t->c;
    const hg_config *cf = &c->m->cfg;
    int H = cf->n_heads, hd = cf->head_dim, kvd = c->m->kv_dim, qkvd = c->m->q_dim + 2 * kvd;
    int group = cf->n_heads / cf->n_kv_heads, P = t->n_valid;
    size_t N = (size_t)c->n_ctx;
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = c->scores + (size_t)ith * N;
    float *kt = c->kt + (size_t)ith * hd * N, *vt = c->vt + (size_t)ith * hd * N;
    float *kbuf = c->kvrow + (size_t)ith * 2 * hd, *vbuf = kbuf + hd;
    const hg_kernel_variant *kv = hg_kernels_active();
    int h0 = (int)((long)H * ith / nth), h1 = (int)((long)H * (ith + 1) / nth);
    int gathered = -1;
    for (int h = h0; h < h1; h++) {
        int kvh = h / group;
        size_t koff = (size_t)kvh * hd;
        if (gathered != kvh) { /* heads of one KV group share the gather */
            for (int q = 0; q < P; q++) {
                int p = c->vidx[q];
                int s = p < t->bpos0 ? c->rslot[p] : t->cur;
                const float *k = kv_load(c, c->K[s], (size_t)p * kvd + koff, hd, kbuf);
                const float *v = kv_load(c, c->V[s], (size_t)p * kvd + koff, hd, vbuf);
                for (int j = 0; j < hd; j++) {
                    kt[(size_t)j * N + q] = k[j];
                    vt[(size_t)j * N + q] = v[j];
                }
            }
            gathered = kvh;
        }
        int n = 0; /* valid positions <= the row's position: a growing prefix */
        for (int i = 0; i < t->U; i++) {
            int pos = t->qpos0 + i;
            while (n < P && c->vidx[n] <= pos) n++;
            const float *qh = c->qkv + (size_t)i * qkvd + (size_t)h * hd;
            memset(scores, 0, sizeof(float) * (size_t)n);
            for (int j = 0; j < hd; j++) kv->axpy(scores, qh[j] * scale, kt + (size_t)j * N, n);
            float mx = -INFINITY;
            for (int q = 0; q < n; q++) mx = scores[q] > mx ? scores[q] : mx;
            double sum = 0;
            for (int q = 0; q < n; q++) {
                scores[q] = expf(scores[q] - mx);
                sum += scores[q];
            }
            float inv = (float)(1.0 / sum);
            float *o = c->att + (size_t)i * c->m->q_dim + (size_t)h * hd;
            for (int j = 0; j < hd; j++) o[j] = kv->dot(scores, vt + (size_t)j * N, n) * inv;
        }
    }
}

static void attention(hg_ctx *c, int U, int qpos0, int bpos0, int cur)
{
    double t0 = hg_now();
    prof_other(c, t0);
    if (U > HG_SMALL_BATCH) {
        /* a prefill chunk: the positions attended to (cached ones with an
         * entry, then the batch's) gathered once per head; waves of the
         * parallel generators (up to HG_SMALL_BATCH rows) go row by row */
        int n = 0, last = qpos0 + U - 1;
        for (int p = 0; p <= last; p++)
            if (p >= bpos0 || c->rslot[p] >= 0) c->vidx[n++] = p;
        attn_rows_task rt = {c, U, qpos0, bpos0, cur, n};
        hg_pool_run(c->pool, attention_rows_run, &rt);
        double t1 = hg_now();
        c->prof.seconds[HG_PROF_ATTENTION] += t1 - t0;
        c->prof_mark = t1;
        return;
    }
    attn_task t = {c, U, qpos0, bpos0, cur};
    hg_pool_run(c->pool, attention_run, &t);
    double t1 = hg_now();
    c->prof.seconds[HG_PROF_ATTENTION] += t1 - t0;
    c->prof_mark = t1;
}

/* One sandwich block on U rows x (in place), rows at positions qpos0 ..;
 * the batch starts at bpos0; it writes K/V into raw slot `raw`. */
static void block_forward(hg_ctx *c, const hg_layer *L, int raw, float *x, int U, int qpos0, int bpos0)
{
    const hg_model *m = c->m;
    const hg_config *cf = &m->cfg;
    int E = cf->n_embd, hd = cf->head_dim, qd = m->q_dim, kvd = m->kv_dim, qkvd = qd + 2 * kvd;
    int ni = cf->intermediate_size, half = hd / 2;
    float eps = cf->norm_eps;
    int cur = slot_index(c, raw);

    hg_rmsnorm(c->pool, c->xn, x, L->norm[0], U, E, eps);
    MATMUL(c->qkv, c->xn, &L->wqkv, U, HG_PROF_QKV);
    for (int i = 0; i < U; i++) {
        int pos = qpos0 + i;
        float *q = c->qkv + (size_t)i * qkvd, *k = q + qd, *v = k + kvd;
        if (L->qk_bias) {
            const float *bq = L->qk_bias, *bk = L->qk_bias + qd;
            for (int j = 0; j < qd; j++) q[j] += bq[j];
            for (int j = 0; j < kvd; j++) k[j] += bk[j];
        }
        const float *cs = m->rope_cos + (size_t)pos * half, *sn = m->rope_sin + (size_t)pos * half;
        hg_rope(q, cf->n_heads, hd, cs, sn);
        hg_rope(k, cf->n_kv_heads, hd, cs, sn);
        kv_store(c, c->K[cur], (size_t)pos * kvd, k, kvd);
        kv_store(c, c->V[cur], (size_t)pos * kvd, v, kvd);
    }
    if (raw >= cf->n_prelude) {
        int used = hg_kvs_map(&c->kvs, cf->n_prelude, raw) - cf->n_prelude + 1;
        if (used > c->core_slots_used) c->core_slots_used = used;
    }
    resolve_slots(c, raw, bpos0);
    attention(c, U, qpos0, bpos0, cur);
    MATMUL(c->tmp, c->att, &L->attn_proj, U, HG_PROF_ATTN_PROJ);
    hg_add(x, c->tmp, (size_t)U * E);
    hg_rmsnorm(c->pool, x, x, L->norm[1], U, E, eps);
    hg_rmsnorm(c->pool, c->xn, x, L->norm[2], U, E, eps);
    MATMUL(c->fc, c->xn, &L->fc, U, HG_PROF_MLP_FC);
    hg_swiglu(c->pool, c->act, c->fc, U, ni);
    MATMUL(c->tmp, c->act, &L->mlp_proj, U, HG_PROF_MLP_PROJ);
    hg_add(x, c->tmp, (size_t)U * E);
    hg_rmsnorm(c->pool, x, x, L->norm[3], U, E, eps);
}

/* ------------------------------------------------------ batch pipeline */


void hg_embed_and_prelude(hg_ctx *c, int T, int pos0)
{
    const hg_model *m = c->m;
    const hg_config *cf = &m->cfg;
    int E = cf->n_embd;
    float scale = (float)sqrt((double)E);
    for (int t = 0; t < T; t++) {
        float *e = c->e + (size_t)t * E;
        hg_mat_row(&m->wte, c->tokens[pos0 + t], e);
        for (int i = 0; i < E; i++) e[i] *= scale;
    }
    for (int l = 0; l < cf->n_prelude; l++)
        for (int r0 = 0; r0 < T; r0 += c->ubatch) {
            int U = T - r0 < c->ubatch ? T - r0 : c->ubatch;
            block_forward(c, &m->prelude[l], l, c->e + (size_t)r0 * E, U, pos0 + r0, pos0);
        }
}

void hg_init_state(hg_ctx *c, int T, const hg_batch_opts *o)
{
    int E = c->m->cfg.n_embd;
    size_t n = (size_t)T * E;
    if (o->warm_in) {
        memcpy(c->x, o->warm_in, sizeof(float) * (size_t)E);
        return;
    }
    double std = sqrt(2.0 / (5.0 * E)) * o->init_scale;
    if (!(std > 0)) {
        memset(c->x, 0, sizeof(float) * n);
        return;
    }
    float emb = (float)sqrt((double)E);
    for (size_t i = 0; i < n; i++) c->x[i] = (float)(hg_rng_trunc_normal(o->rng) * std) * emb;
}

/* One recurrence step k on the whole batch: x = core(adapter([x, e])). */
void hg_recurrence_step(hg_ctx *c, int T, int pos0, int k)
{
    const hg_model *m = c->m;
    const hg_config *cf = &m->cfg;
    int E = cf->n_embd;
    for (int r0 = 0; r0 < T; r0 += c->ubatch) {
        int U = T - r0 < c->ubatch ? T - r0 : c->ubatch;
        float *x = c->x + (size_t)r0 * E;
        const float *e = c->e + (size_t)r0 * E;
        for (int i = 0; i < U; i++) {
            memcpy(c->cat + (size_t)i * 2 * E, x + (size_t)i * E, sizeof(float) * (size_t)E);
            memcpy(c->cat + (size_t)i * 2 * E + E, e + (size_t)i * E, sizeof(float) * (size_t)E);
        }
        MATMUL(x, c->cat, &m->adapter, U, HG_PROF_ADAPTER);
        for (int j = 0; j < cf->n_core; j++)
            block_forward(c, &m->core[j], cf->n_prelude + cf->n_core * k + j, x, U, pos0 + r0, pos0);
    }
}

/* Negative log-likelihoods of the next tokens for R rows of logits
 * starting at batch row t0, in double: nll[t] = logsumexp(l) - l[target]. */
static void rows_nll(const hg_ctx *c, const float *logits, int R, int t0, int T, int pos0, double *nll)
{
    int V = c->m->cfg.vocab_size;
    for (int j = 0; j < R; j++) {
        int t = t0 + j;
        if (t + 1 >= T) break;
        const float *l = logits + (size_t)j * V;
        double mx = l[0];
        for (int i = 1; i < V; i++)
            if (l[i] > mx) mx = l[i];
        double sum = 0;
        for (int i = 0; i < V; i++) sum += exp((double)l[i] - mx);
        nll[t] = log(sum) + mx - (double)l[c->tokens[pos0 + t + 1]];
    }
}

/* Coda and head on the batch's current state: writes the coda slots, and
 * the logits of the last row (or of every row into logits_all); with
 * o->nll, the head runs on o->head_rows rows at a time and only the next
 * tokens' negative log-likelihoods are kept. */
static void coda_head(hg_ctx *c, int T, int pos0, float *logits_all, const hg_batch_opts *o)
{
    const hg_model *m = c->m;
    const hg_config *cf = &m->cfg;
    int E = cf->n_embd, V = cf->vocab_size;
    for (int r0 = 0; r0 < T; r0 += c->ubatch) {
        int U = T - r0 < c->ubatch ? T - r0 : c->ubatch;
        hg_rmsnorm(c->pool, c->y, c->x + (size_t)r0 * E, m->ln_f, U, E, cf->norm_eps);
        for (int l = 0; l < cf->n_coda; l++) block_forward(c, &m->coda[l], -(l + 1), c->y, U, pos0 + r0, pos0);
        if (o && o->nll) {
            hg_rmsnorm(c->pool, c->y, c->y, m->ln_f, U, E, cf->norm_eps);
            for (int i = 0; i < U; i += o->head_rows) {
                int R = U - i < o->head_rows ? U - i : o->head_rows;
                MATMUL(o->head_buf, c->y + (size_t)i * E, &m->lm_head, R, HG_PROF_HEAD);
                rows_nll(c, o->head_buf, R, r0 + i, T, pos0, o->nll);
                if (r0 + i + R == T)
                    memcpy(c->logits, o->head_buf + (size_t)(R - 1) * V, sizeof(float) * (size_t)V);
            }
        } else if (logits_all) {
            hg_rmsnorm(c->pool, c->y, c->y, m->ln_f, U, E, cf->norm_eps);
            MATMUL(logits_all + (size_t)r0 * V, c->y, &m->lm_head, U, HG_PROF_HEAD);
        } else if (r0 + U == T) {
            float *last = c->y + (size_t)(U - 1) * E;
            hg_rmsnorm(c->pool, last, last, m->ln_f, 1, E, cf->norm_eps);
            MATMUL(c->logits, last, &m->lm_head, 1, HG_PROF_HEAD);
        }
    }
    if (logits_all && !(o && o->nll)) memcpy(c->logits, logits_all + (size_t)(T - 1) * V, sizeof(float) * (size_t)V);
}

void hg_coda_and_head(hg_ctx *c, int T, int pos0, float *logits_all) { coda_head(c, T, pos0, logits_all, NULL); }

void hg_commit(hg_ctx *c, int pos0, int T, int steps)
{
    for (int t = 0; t < T; t++) c->steps_done[pos0 + t] = steps;
    c->n_past = pos0 + T;
}

hg_status hg_advance(hg_ctx *c, int pos0, int T, int k0, int n, int *counts, hg_phase phase, int num_steps,
                     hg_event_cb cb, void *user)
{
    for (int k = k0; k < k0 + n; k++) {
        hg_recurrence_step(c, T, pos0, k);
        if (counts)
            for (int t = 0; t < T; t++) counts[t]++;
        if (cb) {
            hg_event ev = {.type = HG_EV_STEP, .position = pos0 + T - 1, .n_positions = T, .step = k + 1,
                           .num_steps = num_steps, .exit_value = NAN, .threshold = NAN, .phase = phase};
            hg_event_ctx(c, &ev);
            if (cb(&ev, user)) return HG_E_CANCELLED;
        }
    }
    return HG_OK;
}

/* Process the pending tokens [n_past, n_past + T): on success the positions
 * join the cache, c->logits holds the last row's logits, c->warm the state to
 * continue from, and *steps_used the recurrence steps run. */
hg_status hg_process_batch(hg_ctx *c, int T, const hg_batch_opts *o, int *steps_used)
{
    const hg_config *cf = &c->m->cfg;
    int E = cf->n_embd, pos0 = c->n_past;
    c->prof_mark = hg_now();
    hg_embed_and_prelude(c, T, pos0);
    hg_init_state(c, T, o);
    int adaptive = o->crit != HG_CRIT_OFF;
    int needs_logits = hg_exit_needs_logits(o->crit);
    if (adaptive) hg_exit_begin(&c->ex, o->crit, o->threshold, c->x, T, E);
    double thr = adaptive ? c->ex.threshold : NAN;
    int logits_step = -1, steps = o->num_steps;
    for (int k = 0; k < o->num_steps; k++) {
        hg_recurrence_step(c, T, pos0, k);
        double value = NAN;
        int exit_now = 0;
        int check = adaptive && k >= o->min_steps && (k - o->min_steps) % o->check_every == 0;
        if (check) {
            if (needs_logits) {
                coda_head(c, T, pos0, o->logits_all, o);
                logits_step = k;
            }
            value = hg_exit_value(&c->ex, c->logits, c->x, T, E);
            exit_now = hg_exit_passes(&c->ex, value);
        }
        if (o->cb) {
            hg_event ev = {.type = HG_EV_STEP, .position = pos0 + T - 1, .n_positions = T, .step = k + 1,
                           .num_steps = o->num_steps, .exit_value = value, .threshold = thr, .phase = o->phase};
            hg_event_ctx(c, &ev);
            if (o->cb(&ev, o->user)) return HG_E_CANCELLED;
        }
        if (exit_now) {
            steps = k + 1;
            break;
        }
    }
    if (logits_step != steps - 1) coda_head(c, T, pos0, o->logits_all, o);
    const float *last = c->x + (size_t)(T - 1) * E;
    if (adaptive) memcpy(c->warm, last, sizeof(float) * (size_t)E);
    else hg_rmsnorm(c->pool, c->warm, last, c->m->ln_f, 1, E, cf->norm_eps);
    hg_commit(c, pos0, T, steps);
    *steps_used = steps;
    prof_other(c, hg_now());
    c->prof_mark = 0;
    return HG_OK;
}

/* ------------------------------------------------------------ tokens */

hg_status hg_append_ids(hg_ctx *c, const int32_t *ids, int n, hg_err *err)
{
    int V = c->m->cfg.vocab_size;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return hg_fail(err, HG_E_ARG, "token id %d at index %d is outside the vocabulary (0..%d)", ids[i], i,
                           V - 1);
    if (n > c->n_ctx - c->n_tokens)
        return hg_fail(err, HG_E_RANGE, "%d tokens do not fit: the context holds %d positions and %d are in use", n,
                       c->n_ctx, c->n_tokens);
    if (n > 0) memcpy(c->tokens + c->n_tokens, ids, sizeof(int32_t) * (size_t)n);
    c->n_tokens += n;
    c->n_kept = c->n_tokens;
    return HG_OK;
}

hg_status hg_forward(hg_ctx *c, const int32_t *ids, int n_ids, int num_steps, float init_scale, uint64_t seed,
                     float *logits, float *last_logits, hg_err *err)
{
    if (num_steps < 1 || num_steps > HG_MAX_STEPS)
        return hg_fail(err, HG_E_ARG, "num_steps %d: must be 1..%d", num_steps, HG_MAX_STEPS);
    if (n_ids < 1) return hg_fail(err, HG_E_ARG, "no tokens to process");
    if (!(init_scale >= 0)) return hg_fail(err, HG_E_ARG, "init_scale %g: must be >= 0", init_scale);
    hg_ctx_reset(c);
    hg_status s = hg_append_ids(c, ids, n_ids, err);
    if (s) return s;
    if ((s = hg_ensure_slots(c, num_steps, err))) return s;
    hg_rng rng;
    hg_rng_seed(&rng, seed);
    hg_batch_opts o = {.num_steps = num_steps, .init_scale = init_scale, .rng = &rng, .crit = HG_CRIT_OFF,
                    .threshold = NAN, .check_every = 1, .logits_all = logits};
    int steps;
    s = hg_process_batch(c, n_ids, &o, &steps);
    if (s) return hg_fail(err, s, "forward pass failed: %s", hg_status_str(s));
    if (last_logits) memcpy(last_logits, c->logits, sizeof(float) * (size_t)c->m->cfg.vocab_size);
    return HG_OK;
}

hg_status hg_score(hg_ctx *c, const int32_t *ids, int n_ids, int num_steps, hg_event_cb cb, void *user, double *nll,
                   hg_err *err)
{
    if (num_steps < 1 || num_steps > HG_MAX_STEPS)
        return hg_fail(err, HG_E_ARG, "num_steps %d: must be 1..%d", num_steps, HG_MAX_STEPS);
    if (n_ids < 2 || !ids || !nll) return hg_fail(err, HG_E_ARG, "scoring needs at least 2 tokens");
    hg_ctx_reset(c);
    hg_status s = hg_append_ids(c, ids, n_ids, err);
    if (s) return s;
    if ((s = hg_ensure_slots(c, num_steps, err))) return s;
    int V = c->m->cfg.vocab_size;
    int rows = 64 < c->ubatch ? 64 : c->ubatch;
    float *buf = malloc(sizeof(float) * (size_t)rows * (size_t)V);
    if (!buf) return hg_fail(err, HG_E_NOMEM, "out of memory for %d rows of logits", rows);
    hg_rng rng;
    hg_rng_seed(&rng, 0);
    hg_batch_opts o = {.num_steps = num_steps, .init_scale = 0, .rng = &rng, .crit = HG_CRIT_OFF, .threshold = NAN,
                       .check_every = 1, .nll = nll, .head_buf = buf, .head_rows = rows, .cb = cb, .user = user};
    int steps;
    s = hg_process_batch(c, n_ids, &o, &steps);
    free(buf);
    if (s) {
        hg_ctx_reset(c);
        if (s == HG_E_CANCELLED) return hg_fail(err, s, "scoring cancelled");
        return hg_fail(err, s, "forward pass failed: %s", hg_status_str(s));
    }
    return HG_OK;
}
