/* model.c — load a Huginn checkpoint: config.json, generation_config.json,
 * the tokenizer's stop tokens, and every weight, checked against the config. */
#include "model.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    *out = (int)j->valuedouble;
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
        if (cJSON_IsNumber(eos)) add_stop(g, (int)eos->valuedouble);
        else if (cJSON_IsArray(eos)) {
            const cJSON *it;
            cJSON_ArrayForEach(it, eos) if (cJSON_IsNumber(it)) add_stop(g, (int)it->valuedouble);
        }
        g->do_sample = get_bool(o, "do_sample", 0);
        double d;
        if (get_num(o, "temperature", &d) && d > 0) g->temperature = (float)d;
        get_int(o, "top_k", &g->top_k);
        if (get_num(o, "top_p", &d)) g->top_p = (float)d;
        if (get_num(o, "min_p", &d)) g->min_p = (float)d;
        if (get_num(o, "repetition_penalty", &d) && d > 0) g->repetition_penalty = (float)d;
        cJSON_Delete(o);
    }
    /* <|end_text|> and <|end_turn|> from the tokenizer's added tokens. */
    snprintf(path, sizeof path, "%s/tokenizer.json", m->dir);
    if (access(path, F_OK) == 0 && hg_read_file(path, &text, NULL, NULL) == HG_OK) {
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

static float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) u = sign;
        else { /* subnormal */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            man &= 0x3ff;
            u = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) u = sign | 0x7f800000u | (man << 13);
    else u = sign | ((exp - 15 + 127) << 23) | (man << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Fetch a tensor by name, check its shape, return f32 data (mapped when
 * stored as aligned F32, else converted into an owned buffer). */
static hg_status want(hg_model *m, const char *name, int ndim, const int64_t *shape, const float **out, hg_err *err)
{
    const hg_st_tensor *t = hg_st_find(&m->st, name);
    if (!t) return hg_fail(err, HG_E_FORMAT, "%s: missing tensor '%s'", m->dir, name);
    const char *file = m->st.files[t->file].path;
    /* Accept an exact shape, or the same number of values when the stored
     * shape only adds/drops unit dimensions. */
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
    if (t->dtype == HG_ST_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) {
        *out = t->data;
        m->weight_bytes += t->nbytes;
        return HG_OK;
    }
    if (t->dtype != HG_ST_F32 && t->dtype != HG_ST_BF16 && t->dtype != HG_ST_F16)
        return hg_fail(err, HG_E_UNSUPPORTED, "%s: tensor '%s' has dtype %s; weights must be F32, BF16 or F16", file,
                       name, hg_st_dtype_name(t->dtype));
    float *buf = malloc(sizeof(float) * (size_t)t->numel);
    void **no = realloc(m->owned, sizeof *no * (size_t)(m->n_owned + 1));
    if (!buf || !no) {
        free(buf);
        if (no) m->owned = no;
        return hg_fail(err, HG_E_NOMEM, "%s: out of memory converting '%s'", file, name);
    }
    m->owned = no;
    m->owned[m->n_owned++] = buf;
    const unsigned char *src = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        if (t->dtype == HG_ST_F32) memcpy(&buf[i], src + 4 * i, 4);
        else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            buf[i] = t->dtype == HG_ST_BF16 ? bf16_to_f32(h) : f16_to_f32(h);
        }
    }
    *out = buf;
    m->weight_bytes += sizeof(float) * (size_t)t->numel;
    return HG_OK;
}

static hg_status load_layer(hg_model *m, const char *prefix, hg_layer *L, hg_err *err)
{
    const hg_config *c = &m->cfg;
    char name[256];
    int64_t e = c->n_embd, ni = c->intermediate_size;
    hg_status s;
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.norm_%d.weight", prefix, i + 1);
        if ((s = want(m, name, 1, (int64_t[]){e}, &L->norm[i], err))) return s;
    }
    snprintf(name, sizeof name, "%s.attn.Wqkv.weight", prefix);
    if ((s = want(m, name, 2, (int64_t[]){m->q_dim + 2 * m->kv_dim, e}, &L->wqkv, err))) return s;
    L->qk_bias = NULL;
    snprintf(name, sizeof name, "%s.attn.qk_bias", prefix);
    if (c->qk_bias) {
        if ((s = want(m, name, 4, (int64_t[]){2, 1, c->n_heads, c->head_dim}, &L->qk_bias, err))) return s;
    }
    snprintf(name, sizeof name, "%s.attn.proj.weight", prefix);
    if ((s = want(m, name, 2, (int64_t[]){e, m->q_dim}, &L->attn_proj, err))) return s;
    snprintf(name, sizeof name, "%s.mlp.fc.weight", prefix);
    if ((s = want(m, name, 2, (int64_t[]){2 * ni, e}, &L->fc, err))) return s;
    snprintf(name, sizeof name, "%s.mlp.proj.weight", prefix);
    if ((s = want(m, name, 2, (int64_t[]){e, ni}, &L->mlp_proj, err))) return s;
    return HG_OK;
}

static void rope_tables(hg_model *m)
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

hg_status hg_model_load(const char *path_or_id, const hg_load_params *lp, hg_model **out, hg_err *err)
{
    *out = NULL;
    hg_model *m = calloc(1, sizeof *m);
    if (!m) return hg_fail(err, HG_E_NOMEM, "out of memory");
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

    int64_t e = c->n_embd, V = c->vocab_size;
    if ((s = want(m, "transformer.wte.weight", 2, (int64_t[]){V, e}, &m->wte, err))) goto fail;
    if (hg_st_find(&m->st, "lm_head.weight")) {
        if ((s = want(m, "lm_head.weight", 2, (int64_t[]){V, e}, &m->lm_head, err))) goto fail;
    } else if (c->tie_embeddings) {
        m->lm_head = m->wte;
    } else {
        s = hg_fail(err, HG_E_FORMAT, "%s: missing tensor 'lm_head.weight'", m->dir);
        goto fail;
    }
    if ((s = want(m, "transformer.adapter.weight", 2, (int64_t[]){e, 2 * e}, &m->adapter, err))) goto fail;
    if ((s = want(m, "transformer.ln_f.weight", 1, (int64_t[]){e}, &m->ln_f, err))) goto fail;
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
        if ((s = load_layer(m, prefix, &m->prelude[i], err))) goto fail;
    }
    for (int i = 0; i < c->n_core; i++) {
        snprintf(prefix, sizeof prefix, "transformer.core_block.%d", i);
        if ((s = load_layer(m, prefix, &m->core[i], err))) goto fail;
    }
    for (int i = 0; i < c->n_coda; i++) {
        snprintf(prefix, sizeof prefix, "transformer.coda.%d", i);
        if ((s = load_layer(m, prefix, &m->coda[i], err))) goto fail;
    }
    rope_tables(m);
    m->n_threads = lp && lp->n_threads > 0 ? lp->n_threads : hg_n_cores();
    openblas_set_num_threads(m->n_threads);
    *out = m;
    return HG_OK;
fail:
    hg_model_free(m);
    return s;
}

void hg_model_free(hg_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
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
