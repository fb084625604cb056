/* wire.c — the OpenAI-compatible API's JSON for the chat client. */
#include "wire.h"
#include "session.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wire_chunk_free(wire_chunk *c)
{
    free(c->content);
    c->content = NULL;
    c->content_len = 0;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

/* A whole number in lo..hi. */
static int int_in(const cJSON *j, double lo, double hi, int *out)
{
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= lo && v <= hi) || v != floor(v)) return 0;
    *out = (int)v;
    return 1;
}

static double num_or_nan(const cJSON *j) { return cJSON_IsNumber(j) && isfinite(j->valuedouble) ? j->valuedouble : NAN; }

/* s as one line of valid UTF-8 (invalid bytes become U+FFFD, line breaks
 * and tabs spaces), cut at a character boundary to fit cap. */
static void copy_msg(char *out, size_t cap, const char *s)
{
    if (!cap) return;
    size_t len = s ? strlen(s) : 0, rl = 0;
    char *r = ss_utf8_repaired(s ? s : "", len, &rl);
    size_t n = 0;
    if (r) {
        n = rl < cap - 1 ? rl : cap - 1;
        while (n > 0 && n < rl && ((unsigned char)r[n] & 0xC0) == 0x80) n--;   /* not inside a character */
        for (size_t i = 0; i < n; i++) out[i] = (r[i] == '\n' || r[i] == '\r' || r[i] == '\t') ? ' ' : r[i];
    }
    out[n] = 0;
    free(r);
}

/* The per-token huginn object, or progress (step). */
static void read_huginn(const cJSON *h, wire_chunk *c, int progress)
{
    int v;
    c->exit_value = num_or_nan(get(h, "exit"));
    if (int_in(get(h, "num_steps"), 1, 1 << 20, &v)) c->num_steps = v;
    if (progress) {
        if (int_in(get(h, "step"), 0, 1 << 20, &v)) c->step = v;
        return;
    }
    int id, steps;
    if (int_in(get(h, "token_id"), 0, INT32_MAX, &id) && int_in(get(h, "steps"), 0, 1 << 20, &steps)) {
        c->has_huginn = 1;
        c->token_id = id;
        c->steps = steps < 1 ? 1 : steps > US_MAX_STEPS ? US_MAX_STEPS : steps;
    }
}

int wire_decode(const char *text, size_t len, int comment, wire_chunk *c)
{
    memset(c, 0, sizeof *c);
    c->exit_value = NAN;
    c->mean_steps = NAN;
    c->token_id = -1;
    while (len && (*text == ' ' || *text == '\t')) text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\n')) len--;
    if (!comment && len == 6 && !memcmp(text, "[DONE]", 6)) { c->kind = WK_DONE; return 0; }
    if (len == 0) { c->kind = WK_IGNORE; return 0; }
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        if (comment) { c->kind = WK_IGNORE; return 0; }
        c->kind = WK_ERROR;
        snprintf(c->error, sizeof c->error, "malformed JSON in a streamed chunk");
        return 0;
    }
    const cJSON *h = get(j, "huginn");
    const cJSON *obj = get(j, "object");
    const cJSON *choices = get(j, "choices");
    const cJSON *err = get(j, "error");
    if (comment) {
        /* only progress: ": {"huginn":{"step":k,...}}" */
        if (cJSON_IsObject(h) && get(h, "step") && !get(h, "token_id")) {
            c->kind = WK_PROGRESS;
            read_huginn(h, c, 1);
        } else c->kind = WK_IGNORE;
        cJSON_Delete(j);
        return 0;
    }
    if (err && !cJSON_IsNull(err)) {
        c->kind = WK_ERROR;
        const cJSON *m = cJSON_IsObject(err) ? get(err, "message") : err;
        copy_msg(c->error, sizeof c->error, cJSON_IsString(m) ? m->valuestring : "");
        if (!c->error[0]) snprintf(c->error, sizeof c->error, "the server reported an error");
        cJSON_Delete(j);
        return 0;
    }
    if ((cJSON_IsString(obj) && !strcmp(obj->valuestring, "huginn.progress")) ||
        (!choices && cJSON_IsObject(h) && get(h, "step"))) {
        c->kind = WK_PROGRESS;
        if (cJSON_IsObject(h)) read_huginn(h, c, 1);
        cJSON_Delete(j);
        return 0;
    }
    c->kind = WK_CHUNK;
    const cJSON *ch = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    if (cJSON_IsObject(ch)) {
        const cJSON *delta = get(ch, "delta");
        const cJSON *content = cJSON_IsObject(delta) ? get(delta, "content") : NULL;
        if (!content) { /* a whole completion, or a completions-style chunk */
            const cJSON *msg = get(ch, "message");
            content = cJSON_IsObject(msg) ? get(msg, "content") : get(ch, "text");
        }
        if (cJSON_IsString(content)) {
            size_t n = strlen(content->valuestring);
            c->content = ss_utf8_repaired(content->valuestring, n, &c->content_len);
            if (!c->content) { cJSON_Delete(j); return -1; }
        }
        const cJSON *fr = get(ch, "finish_reason");
        if (cJSON_IsString(fr)) copy_msg(c->finish, sizeof c->finish, fr->valuestring);
    }
    if (cJSON_IsObject(h)) read_huginn(h, c, 0);
    const cJSON *u = get(j, "usage");
    if (cJSON_IsObject(u)) {
        int v;
        c->has_usage = 1;
        if (int_in(get(u, "prompt_tokens"), 0, 1e9, &v)) c->prompt_tokens = v;
        if (int_in(get(u, "completion_tokens"), 0, 1e9, &v)) c->completion_tokens = v;
        if (int_in(get(u, "total_tokens"), 0, 1e9, &v)) c->total_tokens = v;
        c->mean_steps = num_or_nan(get(u, "mean_steps"));
    }
    cJSON_Delete(j);
    return 0;
}

char *wire_request(const char *model, const hg_chat_msg *msgs, int n, const us_settings *s, int huginn,
                   int steps_override)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    if (model && *model) cJSON_AddStringToObject(j, "model", model);
    cJSON *arr = cJSON_AddArrayToObject(j, "messages");
    for (int i = 0; arr && i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        const char *r = msgs[i].role;
        cJSON_AddStringToObject(m, "role", !strcmp(r, "Huginn") ? "assistant" : r);
        cJSON_AddStringToObject(m, "content", msgs[i].content ? msgs[i].content : "");
        cJSON_AddItemToArray(arr, m);
    }
    cJSON_AddBoolToObject(j, "stream", 1);
    cJSON_AddNumberToObject(j, "max_tokens", s->max_new_tokens);
    cJSON_AddNumberToObject(j, "temperature", s->greedy ? 0.0 : (double)s->temperature);
    if (!s->greedy && s->top_p > 0 && s->top_p <= 1) cJSON_AddNumberToObject(j, "top_p", (double)s->top_p);
    if (s->seed) cJSON_AddNumberToObject(j, "seed", (double)s->seed);
    if (huginn) {
        cJSON_AddNumberToObject(j, "num_steps", steps_override > 0 ? steps_override : s->num_steps);
        if (s->generator == HG_GEN_PLAIN && s->criterion != HG_CRIT_OFF) {
            cJSON_AddStringToObject(j, "criterion", hg_criterion_name(s->criterion));
            double t = us_threshold(s);
            if (!isnan(t)) cJSON_AddNumberToObject(j, "threshold", t);
        }
        cJSON_AddBoolToObject(j, "warmstart", s->warmstart);
        cJSON_AddStringToObject(j, "cache", s->cache);
        cJSON_AddStringToObject(j, "generator", hg_generator_name(s->generator));
        if (s->generator == HG_GEN_SPECULATIVE) {
            cJSON_AddNumberToObject(j, "draft_steps", s->draft_steps);
            cJSON_AddNumberToObject(j, "lookahead", s->lookahead);
        } else if (s->generator == HG_GEN_DIFFUSION)
            cJSON_AddNumberToObject(j, "inner_recurrence", s->inner_recurrence);
    } else {
        cJSON *so = cJSON_AddObjectToObject(j, "stream_options");
        if (so) cJSON_AddBoolToObject(so, "include_usage", 1);
    }
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return out;
}

int wire_models_parse(const char *body, size_t len, const char *want, wire_models *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *data = cJSON_IsObject(j) ? get(j, "data") : NULL;
    if (!cJSON_IsArray(data)) {
        snprintf(err, errcap, "GET /v1/models: not a model list");
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *pick = NULL, *m;
    char names[200] = "";
    cJSON_ArrayForEach(m, data) {
        const cJSON *id = get(m, "id");
        if (!cJSON_IsString(id) || !id->valuestring[0]) continue;
        size_t nl = strlen(names);
        if (nl < sizeof names - 1) snprintf(names + nl, sizeof names - nl, "%s%s", nl ? ", " : "", id->valuestring);
        if (!pick && (!want || !*want || !strcmp(id->valuestring, want))) pick = m;
    }
    if (!pick) {
        if (want && *want && names[0]) snprintf(err, errcap, "the server has no model '%.100s' (it has: %s)", want, names);
        else snprintf(err, errcap, "the server lists no model");
        cJSON_Delete(j);
        return -1;
    }
    copy_msg(out->model, sizeof out->model, get(pick, "id")->valuestring);
    const cJSON *h = get(pick, "huginn");
    if (cJSON_IsObject(h)) {
        int v;
        out->huginn = 1;
        if (int_in(get(h, "num_steps_default"), 1, US_MAX_STEPS, &v)) out->num_steps_default = v;
        if (int_in(get(h, "max_steps"), 1, 1 << 20, &v)) out->max_steps = v;
    }
    cJSON_Delete(j);
    return 0;
}

void wire_error_text(long http, const char *body, size_t len, char *out, size_t cap)
{
    char msg[256] = "";
    cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *e = cJSON_IsObject(j) ? get(j, "error") : NULL;
    const cJSON *m = cJSON_IsObject(e) ? get(e, "message") : e;
    if (!cJSON_IsString(m) && cJSON_IsObject(j)) m = get(j, "detail");   /* some servers */
    if (!cJSON_IsString(m) && cJSON_IsObject(j)) m = get(j, "message");
    if (cJSON_IsString(m)) copy_msg(msg, sizeof msg, m->valuestring);
    else if (body && len) {   /* the first line of whatever it is */
        size_t n = 0;
        while (n < len && n < 160 && body[n] != '\n' && body[n] != '\r' && body[n]) n++;
        char tmp[161];
        memcpy(tmp, body, n);
        tmp[n] = 0;
        copy_msg(msg, sizeof msg, tmp);
    }
    cJSON_Delete(j);
    const char *what = http == 401 ? " (unauthorized: check --api-key-file)" : http == 404 ? " (not found)" : "";
    char line[400];
    if (msg[0]) snprintf(line, sizeof line, "HTTP %ld%s: %s", http, what, msg);
    else snprintf(line, sizeof line, "HTTP %ld%s", http, what);
    copy_msg(out, cap, line);
}

int wire_base_url(const char *in, char *base, size_t cap, char *host, size_t hcap, char *err, size_t errcap)
{
    const char *p = in;
    const char *scheme = "http://";
    if (!strncmp(p, "http://", 7)) p += 7;
    else if (!strncmp(p, "https://", 8)) { p += 8; scheme = "https://"; }
    else if (strstr(p, "://")) { snprintf(err, errcap, "--server: give an http:// or https:// URL, not '%.200s'", in); return -1; }
    size_t hl = strcspn(p, "/?#");
    if (hl == 0) { snprintf(err, errcap, "--server: no host in '%.200s'", in); return -1; }
    for (const char *c = in; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f) { snprintf(err, errcap, "--server: spaces or control characters in the URL"); return -1; }
    if (strpbrk(p, "?#")) { snprintf(err, errcap, "--server: no query or fragment in the URL, please"); return -1; }
    const char *path = p + hl;
    size_t pl = strlen(path);
    while (pl && path[pl - 1] == '/') pl--;
    int has_v1 = pl >= 3 && !memcmp(path + pl - 3, "/v1", 3);
    int n = snprintf(base, cap, "%s%.*s%.*s%s", scheme, (int)hl, p, (int)pl, path, has_v1 ? "" : "/v1");
    if (n < 0 || (size_t)n >= cap) { snprintf(err, errcap, "--server: the URL is too long"); return -1; }
    snprintf(host, hcap, "%.*s", (int)hl, p);
    return 0;
}

int wire_stop_reason(const char *finish)
{
    if (!strcmp(finish, "stop")) return HG_STOP_TOKEN;
    if (!strcmp(finish, "length")) return HG_STOP_MAX_TOKENS;
    return HG_STOP_NONE;
}
