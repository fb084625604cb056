/* model.c — load a Huginn checkpoint: config.json, generation_config.json,
 * the tokenizer's stop tokens, and every weight, checked against the config. */
#include "model.h"
#include "kernels.h"
#include "pool.h"
#include "platform.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void hg_load_params_default(hg_load_params *p)
{
    memset(p, 0, sizeof *p);
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* ------------------------------------------------------------ config */

static int get_int(const cJSON *o, const char *k, int *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(j)) return 0;
    /* not a whole number in int range: INT_MIN, which every check refuses */
    if (!hg_int_in(j->valuedouble, INT_MIN, INT_MAX, out)) *out = INT_MIN;
    return 1;
}

static int get_num(const cJSON *o, const char *k, double *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(j)) return 0;
    *out = j->valuedouble;
    return 1;
}

static int get_bool(const cJSON *o, const char *k, int def)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(j)) return cJSON_IsTrue(j);
    if (cJSON_IsNumber(j)) return j->valuedouble != 0;
    return def;
}

hg_status hg_config_parse(const char *json, const char *what, hg_config *cfg, hg_err *err)
{
    cJSON *o = cJSON_Parse(json);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return hg_fail(err, HG_E_FORMAT, "%s: not a well-formed JSON object", what);
    }
    memset(cfg, 0, sizeof *cfg);
    hg_status s = HG_OK;
    const char *missing = NULL;
    if (!get_int(o, "n_embd", &cfg->n_embd) && !get_int(o, "hidden_size", &cfg->n_embd)) missing = "n_embd";
    else if (!get_int(o, "num_attention_heads", &cfg->n_heads) && !get_int(o, "n_heads", &cfg->n_heads))
        missing = "num_attention_heads";
    else if (!get_int(o, "intermediate_size", &cfg->intermediate_size)) missing = "intermediate_size";
    else if (!get_int(o, "vocab_size", &cfg->vocab_size)) missing = "vocab_size";
    else if (!get_int(o, "block_size", &cfg->block_size)) missing = "block_size";
    else if (!get_int(o, "n_layers_in_prelude", &cfg->n_prelude)) missing = "n_layers_in_prelude";
    else if (!get_int(o, "n_layers_in_recurrent_block", &cfg->n_core)) missing = "n_layers_in_recurrent_block";
    else if (!get_int(o, "n_layers_in_coda", &cfg->n_coda)) missing = "n_layers_in_coda";
    if (missing) {
        s = hg_fail(err, HG_E_FORMAT, "%s: missing or non-numeric \"%s\"", what, missing);
        goto done;
    }
    if (!get_int(o, "num_key_value_heads", &cfg->n_kv_heads)) cfg->n_kv_heads = cfg->n_heads;
    if (!get_int(o, "mean_recurrence", &cfg->mean_recurrence)) cfg->mean_recurrence = 32;
    double d;
    cfg->norm_eps = get_num(o, "norm_eps", &d) ? (float)d : 1e-6f;
    cfg->rope_base = get_num(o, "rope_base", &d) ? (float)d : 50000.0f;
    cfg->qk_bias = get_bool(o, "qk_bias", 1);
    cfg->tie_embeddings = get_bool(o, "tie_embeddings", 1);
    if (get_bool(o, "bias", 0)) {
        s = hg_fail(err, HG_E_UNSUPPORTED, "%s: \"bias\": true (linear biases) is not supported", what);
        goto done;
    }
    const struct { const char *name; int v, lo; } checks[] = {
        {"n_embd", cfg->n_embd, 1}, {"num_attention_heads", cfg->n_heads, 1},
        {"num_key_value_heads", cfg->n_kv_heads, 1}, {"intermediate_size", cfg->intermediate_size, 1},
        {"vocab_size", cfg->vocab_size, 1}, {"block_size", cfg->block_size, 1},
        {"n_layers_in_prelude", cfg->n_prelude, 0}, {"n_layers_in_recurrent_block", cfg->n_core, 1},
        {"n_layers_in_coda", cfg->n_coda, 0}, {"mean_recurrence", cfg->mean_recurrence, 1},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (checks[i].v == INT_MIN) {
            s = hg_fail(err, HG_E_FORMAT, "%s: \"%s\" is not a whole number in range %d..%d", what, checks[i].name,
                        checks[i].lo, 1 << 24);
            goto done;
        }
        if (checks[i].v < checks[i].lo || checks[i].v > (1 << 24)) {
            s = hg_fail(err, HG_E_FORMAT, "%s: \"%s\" = %d is out of range", what, checks[i].name, checks[i].v);
            goto done;
        }
    }
    if (cfg->n_embd % cfg->n_heads != 0) {
        s = hg_fail(err, HG_E_FORMAT, "%s: n_embd %d is not a multiple of %d heads", what, cfg->n_embd, cfg->n_heads);
        goto done;
    }
    cfg->head_dim = cfg->n_embd / cfg->n_heads;
    if (cfg->head_dim % 2 != 0 || cfg->n_heads % cfg->n_kv_heads != 0) {
        s = hg_fail(err, HG_E_FORMAT, "%s: head_dim %d must be even and heads %d a multiple of kv heads %d", what,
                    cfg->head_dim, cfg->n_heads, cfg->n_kv_heads);
        goto done;
    }
    if (!(cfg->rope_base > 0) || !(cfg->norm_eps >= 0)) {
        s = hg_fail(err, HG_E_FORMAT, "%s: rope_base and norm_eps must be positive", what);
        goto done;
    }
done:
    cJSON_Delete(o);
    return s;
}

/* ----------------------------------------------------- path resolution */

static int looks_like_hub_id(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || strchr(slash + 1, '/') || !slash[1]) return 0;
    for (const char *p = s; *p; p++)
        if (!(*p == '/' || *p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return 0;
    return s[0] != '.';
}

static void hub_cache_dir(char *out, size_t n)
{
    const char *c = getenv("HF_HUB_CACHE");
    if (c && *c) { snprintf(out, n, "%s", c); return; }
    c = getenv("HF_HOME");
    if (c && *c) { snprintf(out, n, "%s/hub", c); return; }
    c = getenv("HOME");
    snprintf(out, n, "%s/.cache/huggingface/hub", c && *c ? c : ".");
}

hg_status hg_model_resolve(const char *path_or_id, char **dir, hg_err *err)
{
    return hg_resolve_model_path(path_or_id, dir, err);
}

hg_status hg_resolve_model_path(const char *p, char **dir, hg_err *err)
{
    if (!p || !*p) return hg_fail(err, HG_E_ARG, "no model given");
    if (is_dir(p)) {
        *dir = strdup(p);
        return *dir ? HG_OK : hg_fail(err, HG_E_NOMEM, "out of memory");
    }
    if (!looks_like_hub_id(p))
        return hg_fail(err, HG_E_IO, "%s: no such model directory", p);
    char cache[2048], snaps[4096];
    hub_cache_dir(cache, sizeof cache);
    const char *slash = strchr(p, '/');
    snprintf(snaps, sizeof snaps, "%s/models--%.*s--%s/snapshots", cache, (int)(slash - p), p, slash + 1);
    DIR *d = opendir(snaps);
    char best[8192] = "";
    struct timespec best_t = {0, 0};
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            char full[8192];
            snprintf(full, sizeof full, "%s/%s", snaps, de->d_name);
            struct stat sb;
            if (stat(full, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
            char cfgp[8300];
            snprintf(cfgp, sizeof cfgp, "%s/config.json", full);
            if (access(cfgp, R_OK) != 0) continue;
            if (!best[0] || sb.st_mtim.tv_sec > best_t.tv_sec ||
                (sb.st_mtim.tv_sec == best_t.tv_sec && sb.st_mtim.tv_nsec > best_t.tv_nsec)) {
                snprintf(best, sizeof best, "%s", full);
                best_t = sb.st_mtim;
            }
        }
        closedir(d);
    }
    if (!best[0])
        return hg_fail(err, HG_E_IO,
                       "model '%s' not found: no directory '%s' and no snapshot with a config.json in %s "
                       "(download it with: huggingface-cli download %s)",
                       p, p, snaps, p);
    *dir = strdup(best);
    return *dir ? HG_OK : hg_fail(err, HG_E_NOMEM, "out of memory");
}

/* ------------------------------------------------- generation defaults */

static void add_stop(hg_gen_defaults *g, int id)
{
    if (id < 0) return;
    for (int i = 0; i < g->n_stop; i++)
        if (g->stop_ids[i] == id) return;
    if (g->n_stop < (int)(sizeof g->stop_ids / sizeof g->stop_ids[0])) g->stop_ids[g->n_stop++] = id;
}

static hg_status load_gen_defaults(hg_model *m, hg_err *err)
{
    hg_gen_defaults *g = &m->gen;
    memset(g, 0, sizeof *g);
    g->bos_token_id = g->pad_token_id = -1;
    g->repetition_penalty = 1.0f;
    g->temperature = 1.0f;
    char path[4096];
    char *text = NULL;
    snprintf(path, sizeof path, "%s/generation_config.json", m->dir);
    if (access(path, F_OK) == 0) {
        hg_status s = hg_read_file(path, &text, NULL, err);
        if (s != HG_OK) return s;
        cJSON *o = cJSON_Parse(text);
        free(text);
        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            return hg_fail(err, HG_E_FORMAT, "%s: not a well-formed JSON object", path);
        }
        get_int(o, "bos_token_id", &g->bos_token_id);
        get_int(o, "pad_token_id", &g->pad_token_id);
        add_stop(g, g->bos_token_id);
        const cJSON *eos = cJSON_GetObjectItemCaseSensitive(o, "eos_token_id");
        int id;
        if (cJSON_IsNumber(eos) && hg_int_in(eos->valuedouble, 0, INT_MAX, &id)) add_stop(g, id);
        else if (cJSON_IsArray(eos)) {
            const cJSON *it;
            cJSON_ArrayForEach(it, eos) if (cJSON_IsNumber(it) && hg_int_in(it->valuedouble, 0, INT_MAX, &id))
                add_stop(g, id);
        }
        g->do_sample = get_bool(o, "do_sample", 0);
        double d;
        if (get_num(o, "temperature", &d) && d > 0) g->temperature = (float)d;
        get_int(o, "top_k", &g->top_k);
        if (g->top_k < 0) g->top_k = 0;
        if (get_num(o, "top_p", &d)) g->top_p = (float)d;
        if (get_num(o, "min_p", &d)) g->min_p = (float)d;
        if (get_num(o, "repetition_penalty", &d) && d > 0) g->repetition_penalty = (float)d;
        cJSON_Delete(o);
    }
    /* <|end_text|> and <|end_turn|> from the tokenizer's added tokens. */
    snprintf(path, sizeof path, "%s/tokenizer.json", m->dir);
    if (access(path, F_OK) == 0) { /* there but unreadable (a FIFO, a directory): say so */
        hg_status ts = hg_read_file(path, &text, NULL, err);
        if (ts != HG_OK) return ts;
        cJSON *o = cJSON_Parse(text);
        free(text);
        const cJSON *added = o ? cJSON_GetObjectItemCaseSensitive(o, "added_tokens") : NULL;
        const cJSON *it;
        cJSON_ArrayForEach(it, added)
        {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
            int id;
            if (cJSON_IsString(c) && get_int(it, "id", &id) &&
                (strcmp(c->valuestring, "<|end_text|>") == 0 || strcmp(c->valuestring, "<|end_turn|>") == 0))
                add_stop(g, id);
        }
        cJSON_Delete(o);
    }
    return HG_OK;
}

/* --------------------------------------------------------------- weights */

/* Find a tensor and check it against the shape the config implies: an exact
 * shape, or the same values when the stored shape only adds/drops unit
 * dimensions; the dtype must be a float type. */
static hg_status find_checked(hg_model *m, const char *name, int ndim, const int64_t *shape, const hg_st_tensor **out,
                              hg_err *err)
{
    const hg_st_tensor *t = hg_st_find(&m->st, name);
    if (!t) return hg_fail(err, HG_E_FORMAT, "%s: missing tensor '%s'", m->dir, name);
    const char *file = m->st.files[t->file].path;
    int64_t want_n = 1, got_n = t->numel;
    for (int i = 0; i < ndim; i++) want_n *= shape[i];
    int exact = t->ndim == ndim;
    for (int i = 0; exact && i < ndim; i++) exact = t->shape[i] == shape[i];
    int squeeze_ok = want_n == got_n;
    if (squeeze_ok && !exact) {
        int a = 0, b = 0;
        while (squeeze_ok && (a < t->ndim || b < ndim)) {
            if (a < t->ndim && t->shape[a] == 1 && (b >= ndim || shape[b] != 1)) { a++; continue; }
            if (b < ndim && shape[b] == 1 && (a >= t->ndim || t->shape[a] != 1)) { b++; continue; }
            if (a < t->ndim && b < ndim && t->shape[a] == shape[b]) { a++; b++; continue; }
            squeeze_ok = 0;
        }
    }
    if (!exact && !squeeze_ok) {
        char ws[128] = "", gs[128] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(ws + strlen(ws), sizeof ws - strlen(ws), "%s%lld", i ? ", " : "", (long long)shape[i]);
        for (int i = 0; i < t->ndim; i++)
            snprintf(gs + strlen(gs), sizeof gs - strlen(gs), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        return hg_fail(err, HG_E_FORMAT, "%s: tensor '%s' has shape (%s), the config implies (%s)", file, name, gs, ws);
    }
    if (t->dtype != HG_ST_F32 && t->dtype != HG_ST_BF16 && t->dtype != HG_ST_F16)
        return hg_fail(err, HG_E_UNSUPPORTED, "%s: tensor '%s' has dtype %s; weights must be F32, BF16 or F16", file,
                       name, hg_st_dtype_name(t->dtype));
    *out = t;
    return HG_OK;
}

/* Make buf the model's (freed with it); 0 when out of memory (buf freed). */
static int model_adopt(hg_model *m, void *buf)
{
    void **no = realloc(m->owned, sizeof *no * (size_t)(m->n_owned + 1));
    if (!no) {
        free(buf);
        return 0;
    }
    m->owned = no;
    m->owned[m->n_owned++] = buf;
    return 1;
}

void *hg_model_own(hg_model *m, size_t bytes)
{
    void *buf = hg_alloc_streamed(bytes);
    return buf && model_adopt(m, buf) ? buf : NULL;
}

/* Element i of a float tensor as f32. */
static inline float st_get(const hg_st_tensor *t, size_t i)
{
    const unsigned char *src = t->data;
    if (t->dtype == HG_ST_F32) {
        float f;
        memcpy(&f, src + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, src + 2 * i, 2);
    return t->dtype == HG_ST_BF16 ? hg_bf16_to_f32(h) : hg_f16_to_f32(h);
}

/* A small f32 tensor (norms, biases): mapped when stored as aligned F32. */
static hg_status want_vec(hg_model *m, const char *name, int ndim, const int64_t *shape, const float **out,
                          hg_err *err)
{
    const hg_st_tensor *t;
    hg_status s = find_checked(m, name, ndim, shape, &t, err);
    if (s) return s;
    if (t->dtype == HG_ST_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        *out = t->data;
        m->weight_bytes += t->nbytes;
        return HG_OK;
    }
    float *buf = hg_model_own(m, sizeof(float) * (size_t)t->numel);
    if (!buf) return hg_fail(err, HG_E_NOMEM, "%s: out of memory converting '%s'", m->dir, name);
    for (int64_t i = 0; i < t->numel; i++) buf[i] = st_get(t, (size_t)i);
    *out = buf;
    m->weight_bytes += sizeof(float) * (size_t)t->numel;
    return HG_OK;
}

/* A big matrix: checked now, materialised later in the chosen format. */
typedef struct pending_mat {
    const hg_st_tensor *t;
    hg_mat *dst;
    int convert;             /* needs conversion (not mappable as is) */
} pending_mat;

typedef struct mat_list {
    pending_mat *v;
    int n, cap;
} mat_list;

static hg_status want_mat(hg_model *m, mat_list *ml, const char *name, int rows, int cols, hg_mat *dst, hg_err *err)
{
    const hg_st_tensor *t;
    hg_status s = find_checked(m, name, 2, (int64_t[]){rows, cols}, &t, err);
    if (s) return s;
    if (ml->n == ml->cap) {
        int nc = ml->cap ? ml->cap * 2 : 64;
        pending_mat *nv = realloc(ml->v, sizeof *nv * (size_t)nc);
        if (!nv) return hg_fail(err, HG_E_NOMEM, "out of memory");
        ml->v = nv;
        ml->cap = nc;
    }
    dst->rows = rows;
    dst->cols = cols;
    ml->v[ml->n++] = (pending_mat){t, dst, 0};
    return HG_OK;
}

static hg_status load_layer(hg_model *m, mat_list *ml, const char *prefix, hg_layer *L, hg_err *err)
{
    const hg_config *c = &m->cfg;
    char name[256];
    int e = c->n_embd, ni = c->intermediate_size;
    hg_status s;
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.norm_%d.weight", prefix, i + 1);
        if ((s = want_vec(m, name, 1, (int64_t[]){e}, &L->norm[i], err))) return s;
    }
    snprintf(name, sizeof name, "%s.attn.Wqkv.weight", prefix);
    if ((s = want_mat(m, ml, name, m->q_dim + 2 * m->kv_dim, e, &L->wqkv, err))) return s;
    L->qk_bias = NULL;
    snprintf(name, sizeof name, "%s.attn.qk_bias", prefix);
    if (c->qk_bias) {
        if ((s = want_vec(m, name, 4, (int64_t[]){2, 1, c->n_heads, c->head_dim}, &L->qk_bias, err))) return s;
    }
    snprintf(name, sizeof name, "%s.attn.proj.weight", prefix);
    if ((s = want_mat(m, ml, name, e, m->q_dim, &L->attn_proj, err))) return s;
    snprintf(name, sizeof name, "%s.mlp.fc.weight", prefix);
    if ((s = want_mat(m, ml, name, 2 * ni, e, &L->fc, err))) return s;
    snprintf(name, sizeof name, "%s.mlp.proj.weight", prefix);
    if ((s = want_mat(m, ml, name, e, ni, &L->mlp_proj, err))) return s;
    return HG_OK;
}

void hg_model_rope_tables(hg_model *m)
{
    /* Mirrors the reference: inv_freq = 1 / base^(2i/d) in f32, angle = p * inv_freq
     * rounded to f32, then cos/sin. */
    int half = m->cfg.head_dim / 2, n = m->cfg.block_size;
    for (int i = 0; i < half; i++) {
        float inv = 1.0f / powf(m->cfg.rope_base, (float)(2 * i) / (float)m->cfg.head_dim);
        for (int p = 0; p < n; p++) {
            float ang = (float)p * inv;
            m->rope_cos[(size_t)p * half + i] = (float)cos((double)ang);
            m->rope_sin[(size_t)p * half + i] = (float)sin((double)ang);
        }
    }
}

/* ------------------------------------------------------ weight formats */

/* hg_weights values past AUTO follow hg_mat_type: one table of names. */
const char *hg_weights_name(hg_weights w)
{
    if (w == HG_WEIGHTS_AUTO) return "auto";
    int t = (int)w - 1;
    return t >= 0 && t < HG_MAT_NTYPES ? hg_types[t].name : "?";
}

hg_status hg_weights_parse(const char *name, hg_weights *out)
{
    if (name && !strcmp(name, "auto")) {
        *out = HG_WEIGHTS_AUTO;
        return HG_OK;
    }
    int t = hg_type_by_name(name);
    if (t < 0) return HG_E_ARG;
    *out = (hg_weights)(t + 1);
    return HG_OK;
}

static hg_mat_type mat_type_of(hg_weights w) { return w == HG_WEIGHTS_AUTO ? HG_MAT_F32 : (hg_mat_type)(w - 1); }

/* Convert rows of one tensor into the format ty at data. */
static void convert_mat(const hg_st_tensor *t, hg_mat_type ty, int rows, int cols, void *data, float *rowbuf)
{
    size_t rb = hg_row_bytes(ty, cols);
    for (int r = 0; r < rows; r++) {
        size_t off = (size_t)r * cols;
        for (int k = 0; k < cols; k++) rowbuf[k] = st_get(t, off + k);
        hg_types[ty].from_f32((char *)data + (size_t)r * rb, rowbuf, cols);
    }
}

#define CACHE_MAGIC "HUGINNW1"
#define CACHE_VERSION 2u     /* 2: q8_0 in blocks of an f16 scale and 32 int8 */

typedef struct cache_entry {
    uint32_t rows, cols, type, pad;
    uint64_t data_off, reserved;
} cache_entry;

typedef struct cache_header {
    char magic[8];
    uint32_t version, n_mats;
    uint64_t key, total;
} cache_header;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t cache_key(const hg_model *m, hg_mat_type ty, const mat_list *ml)
{
    uint64_t h = 0xcbf29ce484222325ull;
    char real[4096];
    const char *d = realpath(m->dir, real) ? real : m->dir;
    h = fnv(h, d, strlen(d));
    for (int i = 0; i < m->st.n_files; i++) {
        struct stat sb;
        if (stat(m->st.files[i].path, &sb) == 0) {
            h = fnv(h, &sb.st_size, sizeof sb.st_size);
            h = fnv(h, &sb.st_mtim, sizeof sb.st_mtim);
            h = fnv(h, &sb.st_ino, sizeof sb.st_ino);
        }
    }
    uint32_t v = CACHE_VERSION, t = ty;
    h = fnv(h, &v, 4);
    h = fnv(h, &t, 4);
    for (int i = 0; i < ml->n; i++) {
        h = fnv(h, ml->v[i].t->name, strlen(ml->v[i].t->name));
        h = fnv(h, &ml->v[i].dst->rows, sizeof(int));
        h = fnv(h, &ml->v[i].dst->cols, sizeof(int));
    }
    return h;
}

static int mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST;
}

static void default_cache_dir(char *out, size_t n)
{
    const char *x = getenv("XDG_CACHE_HOME");
    if (x && *x) snprintf(out, n, "%s/huginn", x);
    else {
        const char *h = getenv("HOME");
        snprintf(out, n, "%s/.cache/huginn", h && *h ? h : "/tmp");
    }
}

/* Point the pending matrices at a mapped cache file if it is valid. */
/* Read a whole file into buf; 1 when every byte came. */
static int read_all(int fd, void *buf, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t r = pread(fd, (char *)buf + done, size - done > ((size_t)1 << 30) ? (size_t)1 << 30 : size - done,
                          (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        done += (size_t)r;
    }
    return 1;
}

/* Point the pending matrices at a valid cache file: read into memory with
 * huge pages (the weights stream every token), or mapped where that memory
 * can't be had. */
static int cache_attach(hg_model *m, const char *path, uint64_t key, mat_list *ml, hg_mat_type ty)
{
    int fd = hg_file_open(path, NULL);
    if (fd < 0) return 0;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size < sizeof(cache_header)) {
        close(fd);
        return 0;
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        close(fd);
        return 0;
    }
    const cache_header *h = map;
    const cache_entry *e = (const cache_entry *)(h + 1);
    int ok = !memcmp(h->magic, CACHE_MAGIC, 8) && h->version == CACHE_VERSION && h->key == key &&
             h->n_mats == (uint32_t)ml->n && h->total == size &&
             sizeof *h + sizeof *e * (size_t)ml->n <= size;
    for (int i = 0; ok && i < ml->n; i++) {
        hg_mat *d = ml->v[i].dst;
        if (!ml->v[i].convert) continue;
        /* a type this build does not know, or another than asked for, is refused */
        ok = e[i].type == (uint32_t)ty && e[i].rows == (uint32_t)d->rows && e[i].cols == (uint32_t)d->cols &&
             e[i].data_off % 64 == 0 && e[i].data_off <= size &&
             hg_row_bytes(ty, d->cols) * (size_t)d->rows <= size - e[i].data_off;
    }
    if (!ok) {
        munmap(map, size);
        close(fd);
        return 0;
    }
    const char *base = map;
    char *copy = hg_alloc_streamed(size);
    if (copy && read_all(fd, copy, size) && !memcmp(copy, map, sizeof *h + sizeof *e * (size_t)ml->n)) {
        if (model_adopt(m, copy)) { /* (it frees the copy when it can't) */
            munmap(map, size);
            hg_drop_file_cache(fd);
            map = NULL;
            base = copy;
        }
    } else {
        free(copy);
    }
    close(fd);
    e = (const cache_entry *)((const cache_header *)base + 1);
    for (int i = 0; i < ml->n; i++) {
        hg_mat *d = ml->v[i].dst;
        if (!ml->v[i].convert) continue;
        d->type = ty;
        d->data = base + e[i].data_off;
    }
    m->cache_map = map;
    m->cache_size = map ? size : 0;
    return 1;
}

/* Write every converted matrix to path (atomically: temp file + rename). */
static hg_status cache_write(hg_model *m, const char *path, uint64_t key, mat_list *ml, hg_mat_type ty,
                             const hg_load_params *lp, hg_err *err)
{
    hg_atomic at;
    if (hg_atomic_open(&at, path, NULL)) return HG_E_IO;
    FILE *f = fdopen(at.fd, "wb");
    if (!f) {
        hg_atomic_commit(&at, 0, NULL);
        return HG_E_IO;
    }
    size_t off = sizeof(cache_header) + sizeof(cache_entry) * (size_t)ml->n;
    cache_entry *ents = calloc((size_t)ml->n, sizeof *ents);
    double total_bytes = 0, done = 0;
    int max_cols = 1;
    for (int i = 0; i < ml->n; i++) {
        hg_mat *d = ml->v[i].dst;
        off = (off + 63) & ~(size_t)63;
        ents[i] = (cache_entry){(uint32_t)d->rows, (uint32_t)d->cols, ml->v[i].convert ? (uint32_t)ty : 0u, 0, 0, 0};
        if (!ml->v[i].convert) continue;
        ents[i].data_off = off;
        off += hg_row_bytes(ty, d->cols) * (size_t)d->rows;
        total_bytes += (double)ml->v[i].t->nbytes;
        if (d->cols > max_cols) max_cols = d->cols;
    }
    cache_header h = {CACHE_MAGIC, CACHE_VERSION, (uint32_t)ml->n, key, (uint64_t)off};
    memcpy(h.magic, CACHE_MAGIC, 8);
    hg_status s = HG_OK;
    float *rowbuf = malloc(sizeof(float) * (size_t)max_cols);
    if (!ents || !rowbuf || fwrite(&h, sizeof h, 1, f) != 1 || fwrite(ents, sizeof *ents, (size_t)ml->n, f) != (size_t)ml->n)
        s = HG_E_IO;
    for (int i = 0; s == HG_OK && i < ml->n; i++) {
        if (!ml->v[i].convert) continue;
        hg_mat *d = ml->v[i].dst;
        /* convert in bands of rows to keep memory small */
        int band = (int)((64u << 20) / ((size_t)d->cols * 4 + 1));
        if (band < 1) band = 1;
        size_t rb = hg_row_bytes(ty, d->cols);
        void *buf = malloc(rb * (size_t)band);
        if (!buf) s = HG_E_NOMEM;
        if (s == HG_OK && fseek(f, (long)ents[i].data_off, SEEK_SET) != 0) s = HG_E_IO;
        for (int r0 = 0; s == HG_OK && r0 < d->rows; r0 += band) {
            int nr = d->rows - r0 < band ? d->rows - r0 : band;
            hg_st_tensor sub = *ml->v[i].t;
            sub.data = (const char *)sub.data + (size_t)r0 * d->cols * hg_st_dtype_size(sub.dtype);
            convert_mat(&sub, ty, nr, d->cols, buf, rowbuf);
            if (fwrite(buf, 1, rb * (size_t)nr, f) != rb * (size_t)nr) s = HG_E_IO;
            done += (double)nr * d->cols * hg_st_dtype_size(sub.dtype);
            if (lp && lp->progress && lp->progress(total_bytes > 0 ? done / total_bytes : 1, ml->v[i].t->name,
                                                   lp->progress_user))
                s = HG_E_CANCELLED;
        }
        free(buf);
    }
    /* pad to the full size */
    if (s == HG_OK && (fseek(f, (long)off - 1, SEEK_SET) != 0 || fputc(0, f) == EOF)) s = HG_E_IO;
    if (s == HG_OK && (fflush(f) != 0 || (fsync(at.fd) != 0 && errno != EINVAL))) s = HG_E_IO;
    if (fclose(f) != 0 && s == HG_OK) s = HG_E_IO;
    at.fd = -1;
    free(rowbuf);
    free(ents);
    if (hg_atomic_commit(&at, s == HG_OK, NULL) != HG_OK && s == HG_OK) s = HG_E_IO;
    if (s == HG_E_CANCELLED) return hg_fail(err, s, "loading %s: cancelled", m->dir);
    return s;
}

/* Choose the format, then map or convert every big matrix. */
static hg_status materialize(hg_model *m, mat_list *ml, const hg_load_params *lp, hg_err *err)
{
    hg_weights w = lp ? lp->weights : HG_WEIGHTS_AUTO;
    if (w == HG_WEIGHTS_AUTO) {
        hg_st_dtype stored = ml->n ? ml->v[0].t->dtype : HG_ST_F32;
        double params = 0;
        for (int i = 0; i < ml->n; i++) params += (double)ml->v[i].t->numel;
        if (stored == HG_ST_BF16) w = HG_WEIGHTS_BF16;
        else if (stored == HG_ST_F32 && params > 1e9) w = HG_WEIGHTS_BF16;
        else w = HG_WEIGHTS_F32;
    }
    hg_mat_type ty = mat_type_of(w);
    m->weights = w;
    int n_convert = 0;
    for (int i = 0; i < ml->n; i++) {
        pending_mat *p = &ml->v[i];
        hg_mat *d = p->dst;
        if (d->cols % hg_types[ty].block != 0)
            return hg_fail(err, HG_E_UNSUPPORTED, "%s: %s needs rows of a multiple of %d values; '%s' has %d",
                           m->dir, hg_types[ty].name, hg_types[ty].block, p->t->name, d->cols);
        int mappable = (uintptr_t)p->t->data % 4 == 0 &&
                       ((ty == HG_MAT_F32 && p->t->dtype == HG_ST_F32) || (ty == HG_MAT_BF16 && p->t->dtype == HG_ST_BF16));
        if (mappable) {
            d->type = ty;
            d->data = p->t->data;
        } else {
            p->convert = 1;
            n_convert++;
        }
    }
    if (n_convert) {
        char dir[4096] = "";
        const char *cd = lp ? lp->cache_dir : NULL;
        if (!cd) default_cache_dir(dir, sizeof dir);
        else snprintf(dir, sizeof dir, "%s", cd);
        int attached = 0;
        if (dir[0] && mkdirs(dir)) {
            uint64_t key = cache_key(m, ty, ml);
            char path[4200];
            snprintf(path, sizeof path, "%s/%016llx-%s.bin", dir, (unsigned long long)key, hg_weights_name(w));
            attached = cache_attach(m, path, key, ml, ty);
            if (!attached) {
                hg_status s = cache_write(m, path, key, ml, ty, lp, err);
                if (s == HG_E_CANCELLED) return s;
                if (s == HG_OK) attached = cache_attach(m, path, key, ml, ty);
            }
        }
        if (!attached) { /* no usable cache: convert in memory */
            int max_cols = 1;
            for (int i = 0; i < ml->n; i++) max_cols = ml->v[i].dst->cols > max_cols ? ml->v[i].dst->cols : max_cols;
            float *rowbuf = malloc(sizeof(float) * (size_t)max_cols);
            if (!rowbuf) return hg_fail(err, HG_E_NOMEM, "out of memory converting weights");
            double total = 0, done = 0;
            for (int i = 0; i < ml->n; i++) total += ml->v[i].convert ? (double)ml->v[i].t->nbytes : 0;
            for (int i = 0; i < ml->n; i++) {
                pending_mat *p = &ml->v[i];
                if (!p->convert) continue;
                hg_mat *d = p->dst;
                void *data = hg_model_own(m, hg_row_bytes(ty, d->cols) * (size_t)d->rows);
                if (!data) {
                    free(rowbuf);
                    return hg_fail(err, HG_E_NOMEM, "out of memory converting '%s'", p->t->name);
                }
                convert_mat(p->t, ty, d->rows, d->cols, data, rowbuf);
                d->type = ty;
                d->data = data;
                done += (double)p->t->nbytes;
                if (lp && lp->progress && lp->progress(done / total, p->t->name, lp->progress_user)) {
                    free(rowbuf);
                    return hg_fail(err, HG_E_CANCELLED, "loading %s: cancelled", m->dir);
                }
            }
            free(rowbuf);
        }
    }
    for (int i = 0; i < ml->n; i++) m->weight_bytes += hg_mat_bytes(ml->v[i].dst);
    return HG_OK;
}

hg_status hg_model_load(const char *path_or_id, const hg_load_params *lp, hg_model **out, hg_err *err)
{
    *out = NULL;
    hg_kernels_init();
    hg_model *m = calloc(1, sizeof *m);
    if (!m) return hg_fail(err, HG_E_NOMEM, "out of memory");
    mat_list ml = {0};
    hg_status s = hg_resolve_model_path(path_or_id, &m->dir, err);
    if (s) goto fail;
    char path[4096];
    char *text = NULL;
    snprintf(path, sizeof path, "%s/config.json", m->dir);
    if ((s = hg_read_file(path, &text, NULL, err))) goto fail;
    s = hg_config_parse(text, path, &m->cfg, err);
    free(text);
    if (s) goto fail;
    if ((s = load_gen_defaults(m, err))) goto fail;
    const hg_config *c = &m->cfg;
    m->q_dim = c->n_heads * c->head_dim;
    m->kv_dim = c->n_kv_heads * c->head_dim;
    if ((s = hg_st_open_dir(&m->st, m->dir, err))) goto fail;

    int e = c->n_embd, V = c->vocab_size;
    if ((s = want_mat(m, &ml, "transformer.wte.weight", V, e, &m->wte, err))) goto fail;
    m->tied_head = 0;
    if (hg_st_find(&m->st, "lm_head.weight")) {
        if ((s = want_mat(m, &ml, "lm_head.weight", V, e, &m->lm_head, err))) goto fail;
    } else if (c->tie_embeddings) {
        m->tied_head = 1;
    } else {
        s = hg_fail(err, HG_E_FORMAT, "%s: missing tensor 'lm_head.weight'", m->dir);
        goto fail;
    }
    if ((s = want_mat(m, &ml, "transformer.adapter.weight", e, 2 * e, &m->adapter, err))) goto fail;
    if ((s = want_vec(m, "transformer.ln_f.weight", 1, (int64_t[]){e}, &m->ln_f, err))) goto fail;
    m->prelude = calloc((size_t)c->n_prelude + 1, sizeof *m->prelude);
    m->core = calloc((size_t)c->n_core + 1, sizeof *m->core);
    m->coda = calloc((size_t)c->n_coda + 1, sizeof *m->coda);
    m->rope_cos = malloc(sizeof(float) * (size_t)c->block_size * (size_t)(c->head_dim / 2));
    m->rope_sin = malloc(sizeof(float) * (size_t)c->block_size * (size_t)(c->head_dim / 2));
    if (!m->prelude || !m->core || !m->coda || !m->rope_cos || !m->rope_sin) {
        s = hg_fail(err, HG_E_NOMEM, "out of memory");
        goto fail;
    }
    char prefix[128];
    for (int i = 0; i < c->n_prelude; i++) {
        snprintf(prefix, sizeof prefix, "transformer.prelude.%d", i);
        if ((s = load_layer(m, &ml, prefix, &m->prelude[i], err))) goto fail;
    }
    for (int i = 0; i < c->n_core; i++) {
        snprintf(prefix, sizeof prefix, "transformer.core_block.%d", i);
        if ((s = load_layer(m, &ml, prefix, &m->core[i], err))) goto fail;
    }
    for (int i = 0; i < c->n_coda; i++) {
        snprintf(prefix, sizeof prefix, "transformer.coda.%d", i);
        if ((s = load_layer(m, &ml, prefix, &m->coda[i], err))) goto fail;
    }
    if ((s = materialize(m, &ml, lp, err))) goto fail;
    if (m->tied_head) m->lm_head = m->wte;
    hg_model_rope_tables(m);
    m->n_threads = lp && lp->n_threads > 0 ? lp->n_threads : hg_usable_cpus();
    if ((s = hg_model_init_runtime(m, err))) goto fail;
    free(ml.v);
    *out = m;
    return HG_OK;
fail:
    free(ml.v);
    hg_model_free(m);
    return s;
}

hg_status hg_model_init_runtime(hg_model *m, hg_err *err)
{
    openblas_set_num_threads(1); /* products are spread over the pool instead */
    m->pool = hg_pool_new(m->n_threads);
    if (!m->pool || hg_model_workspace_init(m, &m->ws, &m->amx) != HG_OK)
        return hg_fail(err, HG_E_NOMEM, "out of memory");
    return HG_OK;
}

hg_status hg_model_workspace_init(const hg_model *m, hg_workspace *ws, hg_amx_ws *amx)
{
    const hg_config *c = &m->cfg;
    /* scratch for expanding bf16/q8_0 tiles in prefill: ~8 MB, at least 16 rows */
    int max_cols = 2 * c->n_embd > c->intermediate_size ? 2 * c->n_embd : c->intermediate_size;
    ws->scratch_floats = (size_t)2 << 20;
    if (ws->scratch_floats < (size_t)max_cols * 16) ws->scratch_floats = (size_t)max_cols * 16;
    ws->scratch = m->weights == HG_WEIGHTS_F32 ? NULL : malloc(sizeof(float) * ws->scratch_floats);
    ws->amx = amx;
    if (m->weights != HG_WEIGHTS_F32 && !ws->scratch) return HG_E_NOMEM;
    return HG_OK;
}

void hg_model_workspace_free(hg_workspace *ws, hg_amx_ws *amx)
{
    free(ws->scratch);
    ws->scratch = NULL;
    hg_workspace_free(ws);
    free(amx->buf);
    amx->buf = NULL;
}

void hg_model_free(hg_model *m)
{
    if (!m) return;
    hg_pool_free(m->pool);
    hg_model_workspace_free(&m->ws, &m->amx);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    if (m->cache_map) munmap(m->cache_map, m->cache_size);
    hg_st_close(&m->st);
    free(m->prelude);
    free(m->core);
    free(m->coda);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->dir);
    free(m);
}

const hg_config *hg_model_config(const hg_model *m) { return &m->cfg; }
const hg_gen_defaults *hg_model_gen_defaults(const hg_model *m) { return &m->gen; }
const char *hg_model_dir(const hg_model *m) { return m->dir; }
size_t hg_model_weight_bytes(const hg_model *m) { return m->weight_bytes; }
hg_weights hg_model_weights(const hg_model *m) { return m->weights; }

double hg_model_bytes_per_token(const hg_model *m, int steps)
{
    const hg_config *c = &m->cfg;
    double per_layer = 0;
    const hg_layer *L = &m->core[0];
    per_layer = (double)(hg_mat_bytes(&L->wqkv) + hg_mat_bytes(&L->attn_proj) + hg_mat_bytes(&L->fc) +
                         hg_mat_bytes(&L->mlp_proj)) + 4.0 * c->n_embd * 4;
    double b = per_layer * (c->n_prelude + c->n_coda + (double)c->n_core * steps);
    b += (double)hg_mat_bytes(&m->adapter) * steps + (double)hg_mat_bytes(&m->lm_head);
    return b;
}
