/* randmodel.c — models of a named shape with random weights: made in memory
 * for benchmarks (hg_model_random), or written as a checkpoint in the real
 * layout (hg_write_random_checkpoint) so loading and conversion can be timed
 * at full size.  Values: uniform in ±0.02 (norm weights 1, qk_bias ±0.02). */
#include "kernels.h"
#include "model.h"
#include "platform.h"
#include "pool.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

hg_status hg_shape_config(const char *name, hg_config *c, hg_err *err)
{
    memset(c, 0, sizeof *c);
    c->norm_eps = 1e-6f;
    c->rope_base = 50000.0f;
    c->qk_bias = 1;
    c->tie_embeddings = 1;
    c->n_prelude = 2;
    c->n_core = 4;
    c->n_coda = 2;
    if (!strcmp(name, "huginn-0125")) {
        c->n_embd = 5280, c->n_heads = 55, c->intermediate_size = 17920, c->vocab_size = 65536;
        c->block_size = 4096, c->mean_recurrence = 32;
    } else if (!strcmp(name, "tiny")) {
        c->n_embd = 64, c->n_heads = 4, c->intermediate_size = 128, c->vocab_size = 512;
        c->block_size = 256, c->mean_recurrence = 8;
    } else if (!strcmp(name, "demo")) {
        c->n_embd = 192, c->n_heads = 3, c->intermediate_size = 512, c->vocab_size = 4096;
        c->block_size = 256, c->mean_recurrence = 8;
    } else {
        return hg_fail(err, HG_E_ARG, "unknown shape '%s' (huginn-0125, tiny, demo)", name);
    }
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->n_embd / c->n_heads;
    return HG_OK;
}

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Value i of a random tensor: uniform in [-0.02, 0.02). */
static inline float rnd(uint64_t seed, uint64_t i)
{
    return ((float)(mix(seed + i * 0x9e3779b97f4a7c15ull) >> 40) * (1.0f / 16777216.0f) - 0.5f) * 0.04f;
}

typedef struct fill_task {
    hg_mat *m;
    uint64_t seed;
} fill_task;

static void fill_run(void *arg, int ith, int nth)
{
    fill_task *t = arg;
    hg_mat *m = t->m;
    int r0 = (int)((long)m->rows * ith / nth), r1 = (int)((long)m->rows * (ith + 1) / nth);
    float *row = malloc(sizeof(float) * (size_t)m->cols);
    if (!row) return;
    for (int r = r0; r < r1; r++) {
        for (int k = 0; k < m->cols; k++) row[k] = rnd(t->seed, (uint64_t)r * m->cols + k);
        hg_types[m->type].from_f32((char *)m->data + (size_t)r * hg_row_bytes(m->type, m->cols), row, m->cols);
    }
    free(row);
}

static int rand_mat(hg_model *m, hg_mat *d, hg_mat_type ty, int rows, int cols, uint64_t seed)
{
    d->type = ty;
    d->rows = rows;
    d->cols = cols;
    d->data = hg_model_own(m, hg_row_bytes(ty, cols) * (size_t)rows);
    if (!d->data) return 0;
    fill_task t = {d, seed};
    hg_pool_run(m->pool, fill_run, &t);
    m->weight_bytes += hg_mat_bytes(d);
    return 1;
}

static const float *rand_vec(hg_model *m, size_t n, int ones, uint64_t seed)
{
    float *v = hg_model_own(m, sizeof(float) * n);
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++) v[i] = ones ? 1.0f : rnd(seed, i);
    m->weight_bytes += sizeof(float) * n;
    return v;
}

static int rand_layer(hg_model *m, hg_layer *L, hg_mat_type ty, uint64_t *seed)
{
    const hg_config *c = &m->cfg;
    int e = c->n_embd, ni = c->intermediate_size;
    for (int i = 0; i < 4; i++)
        if (!(L->norm[i] = rand_vec(m, (size_t)e, 1, 0))) return 0;
    L->qk_bias = c->qk_bias ? rand_vec(m, 2 * (size_t)m->q_dim, 0, ++*seed) : NULL;
    if (c->qk_bias && !L->qk_bias) return 0;
    return rand_mat(m, &L->wqkv, ty, m->q_dim + 2 * m->kv_dim, e, ++*seed) &&
           rand_mat(m, &L->attn_proj, ty, e, m->q_dim, ++*seed) && rand_mat(m, &L->fc, ty, 2 * ni, e, ++*seed) &&
           rand_mat(m, &L->mlp_proj, ty, e, ni, ++*seed);
}

hg_status hg_model_random(const hg_config *cfg, hg_weights w, uint64_t seed, int n_threads, hg_model **out,
                          hg_err *err)
{
    *out = NULL;
    hg_kernels_init();
    if (w == HG_WEIGHTS_AUTO) w = HG_WEIGHTS_BF16;
    hg_mat_type ty = w == HG_WEIGHTS_AUTO ? HG_MAT_F32 : (hg_mat_type)(w - 1);
    hg_model *m = calloc(1, sizeof *m);
    if (!m) return hg_fail(err, HG_E_NOMEM, "out of memory");
    m->cfg = *cfg;
    m->weights = w;
    m->dir = strdup("(random)");
    m->gen.bos_token_id = m->gen.pad_token_id = -1;
    m->gen.repetition_penalty = 1.0f;
    m->gen.temperature = 1.0f;
    m->q_dim = cfg->n_heads * cfg->head_dim;
    m->kv_dim = cfg->n_kv_heads * cfg->head_dim;
    m->n_threads = n_threads > 0 ? n_threads : hg_usable_cpus();
    hg_status st = hg_model_init_runtime(m, err);
    const hg_config *c = cfg;
    m->prelude = calloc((size_t)c->n_prelude + 1, sizeof *m->prelude);
    m->core = calloc((size_t)c->n_core + 1, sizeof *m->core);
    m->coda = calloc((size_t)c->n_coda + 1, sizeof *m->coda);
    m->rope_cos = malloc(sizeof(float) * (size_t)c->block_size * (size_t)(c->head_dim / 2));
    m->rope_sin = malloc(sizeof(float) * (size_t)c->block_size * (size_t)(c->head_dim / 2));
    int ok = st == HG_OK && m->prelude && m->core && m->coda && m->rope_cos && m->rope_sin;
    uint64_t s = seed * 1000003u;
    ok = ok && rand_mat(m, &m->wte, ty, c->vocab_size, c->n_embd, ++s);
    m->lm_head = m->wte;
    m->tied_head = 1;
    ok = ok && rand_mat(m, &m->adapter, ty, c->n_embd, 2 * c->n_embd, ++s);
    ok = ok && (m->ln_f = rand_vec(m, (size_t)c->n_embd, 1, 0)) != NULL;
    for (int i = 0; ok && i < c->n_prelude; i++) ok = rand_layer(m, &m->prelude[i], ty, &s);
    for (int i = 0; ok && i < c->n_core; i++) ok = rand_layer(m, &m->core[i], ty, &s);
    for (int i = 0; ok && i < c->n_coda; i++) ok = rand_layer(m, &m->coda[i], ty, &s);
    if (!ok) {
        hg_model_free(m);
        return hg_fail(err, HG_E_NOMEM, "out of memory for random weights (%.1f GB)",
                       (double)hg_types[ty].block_bytes / hg_types[ty].block * 4.0e9 / 1e9);
    }
    hg_model_rope_tables(m);
    *out = m;
    return HG_OK;
}

/* ---------------------------------------------------- checkpoint writer */

typedef struct wt {
    char name[128];
    int ndim;
    int64_t shape[4];
    int kind;           /* 0 random, 1 ones */
    uint64_t seed;      /* equal seeds give equal values (the tied copy) */
    size_t bytes;
    int shard;
    size_t off;
} wt;

static int add_t(wt **v, int *n, const char *name, int ndim, const int64_t *shape, int kind, uint64_t seed, size_t esz)
{
    wt *nv = realloc(*v, sizeof *nv * (size_t)(*n + 1));
    if (!nv) return 0;
    *v = nv;
    wt *t = &nv[(*n)++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        numel *= (size_t)shape[i];
    }
    t->kind = kind;
    t->seed = seed;
    t->bytes = numel * esz;
    return 1;
}

static hg_status write_config(const char *dir, const hg_config *c, hg_dtype dtype, hg_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return hg_fail(err, HG_E_IO, "%s: %s", path, strerror(errno));
    fprintf(f,
            "{\n  \"architectures\": [\"RavenForCausalLM\"],\n  \"model_type\": \"huginn_raven\",\n"
            "  \"n_embd\": %d,\n  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n"
            "  \"n_layers\": %d,\n  \"block_size\": %d,\n  \"vocab_size\": %d,\n  \"padding_multiple\": 4096,\n"
            "  \"tie_embeddings\": true,\n  \"intermediate_size\": %d,\n  \"bias\": false,\n  \"norm_eps\": %g,\n"
            "  \"qk_bias\": true,\n  \"rope_base\": %g,\n  \"n_layers_in_prelude\": %d,\n"
            "  \"n_layers_in_recurrent_block\": %d,\n  \"n_layers_in_coda\": %d,\n  \"mean_recurrence\": %d,\n"
            "  \"torch_dtype\": \"%s\"\n}\n",
            c->n_embd, c->n_heads, c->n_kv_heads, c->n_prelude + c->n_core + c->n_coda, c->block_size,
            c->vocab_size, c->intermediate_size, c->norm_eps, c->rope_base, c->n_prelude, c->n_core, c->n_coda,
            c->mean_recurrence, dtype == HG_DTYPE_BF16 ? "bfloat16" : "float32");
    if (fclose(f) != 0) return hg_fail(err, HG_E_IO, "%s: write failed", path);
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    f = fopen(path, "w");
    if (!f) return hg_fail(err, HG_E_IO, "%s: %s", path, strerror(errno));
    fprintf(f, "{\n  \"bos_token_id\": 65504,\n  \"eos_token_id\": [65505, 65508],\n  \"pad_token_id\": 65509\n}\n");
    fclose(f);
    return HG_OK;
}

hg_status hg_write_random_checkpoint(const char *dir, const hg_config *c, hg_dtype dtype, uint64_t seed,
                                     size_t shard_bytes, hg_progress_cb progress, void *user, hg_err *err)
{
    if (dtype != HG_DTYPE_F32 && dtype != HG_DTYPE_BF16)
        return hg_fail(err, HG_E_ARG, "random checkpoints are F32 or BF16");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return hg_fail(err, HG_E_IO, "%s: %s", dir, strerror(errno));
    size_t esz = dtype == HG_DTYPE_F32 ? 4 : 2;
    int e = c->n_embd, ni = c->intermediate_size, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    wt *v = NULL;
    int n = 0, ok = 1;
    uint64_t s = seed * 7919u + 1;
    ok &= add_t(&v, &n, "transformer.wte.weight", 2, (int64_t[]){c->vocab_size, e}, 0, s, esz);
    uint64_t wte_seed = s;
    const char *groups[] = {"prelude", "core_block", "coda"};
    int counts[] = {c->n_prelude, c->n_core, c->n_coda};
    char name[128];
    for (int g = 0; g < 3; g++)
        for (int l = 0; l < counts[g]; l++) {
            for (int i = 1; i <= 4; i++) {
                snprintf(name, sizeof name, "transformer.%s.%d.norm_%d.weight", groups[g], l, i);
                ok &= add_t(&v, &n, name, 1, (int64_t[]){e}, 1, 0, esz);
            }
            snprintf(name, sizeof name, "transformer.%s.%d.attn.Wqkv.weight", groups[g], l);
            ok &= add_t(&v, &n, name, 2, (int64_t[]){qd + 2 * kvd, e}, 0, ++s, esz);
            snprintf(name, sizeof name, "transformer.%s.%d.attn.qk_bias", groups[g], l);
            ok &= add_t(&v, &n, name, 4, (int64_t[]){2, 1, c->n_heads, c->head_dim}, 0, ++s, esz);
            snprintf(name, sizeof name, "transformer.%s.%d.attn.proj.weight", groups[g], l);
            ok &= add_t(&v, &n, name, 2, (int64_t[]){e, qd}, 0, ++s, esz);
            snprintf(name, sizeof name, "transformer.%s.%d.mlp.fc.weight", groups[g], l);
            ok &= add_t(&v, &n, name, 2, (int64_t[]){2 * ni, e}, 0, ++s, esz);
            snprintf(name, sizeof name, "transformer.%s.%d.mlp.proj.weight", groups[g], l);
            ok &= add_t(&v, &n, name, 2, (int64_t[]){e, ni}, 0, ++s, esz);
        }
    ok &= add_t(&v, &n, "transformer.adapter.weight", 2, (int64_t[]){e, 2 * e}, 0, ++s, esz);
    ok &= add_t(&v, &n, "transformer.ln_f.weight", 1, (int64_t[]){e}, 1, 0, esz);
    ok &= add_t(&v, &n, "lm_head.weight", 2, (int64_t[]){c->vocab_size, e}, 0, wte_seed, esz); /* tied copy */
    if (!ok) {
        free(v);
        return hg_fail(err, HG_E_NOMEM, "out of memory");
    }
    /* assign shards */
    int n_shards = 1;
    size_t cur = 0, total = 0;
    for (int i = 0; i < n; i++) {
        if (cur > 0 && cur + v[i].bytes > shard_bytes) {
            n_shards++;
            cur = 0;
        }
        v[i].shard = n_shards;
        v[i].off = cur;
        cur += v[i].bytes;
        total += v[i].bytes;
    }
    hg_status st = write_config(dir, c, dtype, err);
    char path[4200];
    double done = 0;
    size_t bufn = (size_t)1 << 20;
    unsigned char *buf = malloc(bufn * 4);
    for (int sh = 1; st == HG_OK && sh <= n_shards; sh++) {
        /* header */
        char *hdr = NULL;
        size_t hl = 0;
        FILE *mh = open_memstream(&hdr, &hl);
        fputc('{', mh);
        int first = 1;
        for (int i = 0; i < n; i++) {
            if (v[i].shard != sh) continue;
            fprintf(mh, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", first ? "" : ",", v[i].name,
                    dtype == HG_DTYPE_F32 ? "F32" : "BF16");
            for (int d = 0; d < v[i].ndim; d++) fprintf(mh, "%s%lld", d ? "," : "", (long long)v[i].shape[d]);
            fprintf(mh, "],\"data_offsets\":[%zu,%zu]}", v[i].off, v[i].off + v[i].bytes);
            first = 0;
        }
        fprintf(mh, ",\"__metadata__\":{\"format\":\"pt\"}}");
        fclose(mh);
        while (hl % 8) { /* pad the header with spaces to 8 bytes */
            hdr = realloc(hdr, hl + 1);
            hdr[hl++] = ' ';
        }
        snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, sh, n_shards);
        FILE *f = fopen(path, "wb");
        if (!f || !buf) {
            st = hg_fail(err, HG_E_IO, "%s: %s", path, strerror(errno));
            free(hdr);
            if (f) fclose(f);
            break;
        }
        uint64_t hl64 = hl;
        unsigned char le[8];
        for (int b = 0; b < 8; b++) le[b] = (unsigned char)(hl64 >> (8 * b));
        fwrite(le, 1, 8, f);
        fwrite(hdr, 1, hl, f);
        free(hdr);
        for (int i = 0; st == HG_OK && i < n; i++) {
            if (v[i].shard != sh) continue;
            size_t numel = v[i].bytes / esz;
            for (size_t i0 = 0; i0 < numel && st == HG_OK; i0 += bufn) {
                size_t cnt = numel - i0 < bufn ? numel - i0 : bufn;
                for (size_t k = 0; k < cnt; k++) {
                    float x = v[i].kind == 1 ? 1.0f : rnd(v[i].seed, i0 + k);
                    if (esz == 4) memcpy(buf + 4 * k, &x, 4);
                    else {
                        uint16_t h = hg_f32_to_bf16(x);
                        memcpy(buf + 2 * k, &h, 2);
                    }
                }
                if (fwrite(buf, esz, cnt, f) != cnt) st = hg_fail(err, HG_E_IO, "%s: write failed", path);
                done += (double)cnt * esz;
                if (progress && progress(done / (double)total, v[i].name, user))
                    st = hg_fail(err, HG_E_CANCELLED, "cancelled");
            }
        }
        if (fclose(f) != 0 && st == HG_OK) st = hg_fail(err, HG_E_IO, "%s: write failed", path);
    }
    free(buf);
    if (st == HG_OK) { /* the index */
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        FILE *f = fopen(path, "w");
        if (!f) st = hg_fail(err, HG_E_IO, "%s: %s", path, strerror(errno));
        else {
            fprintf(f, "{\n  \"metadata\": {\"total_size\": %zu},\n  \"weight_map\": {\n", total);
            for (int i = 0; i < n; i++)
                fprintf(f, "    \"%s\": \"model-%05d-of-%05d.safetensors\"%s\n", v[i].name, v[i].shard, n_shards,
                        i + 1 < n ? "," : "");
            fprintf(f, "  }\n}\n");
            fclose(f);
        }
    }
    free(v);
    return st;
}
