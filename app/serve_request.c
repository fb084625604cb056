/* serve_request.c — parse and validate the bodies of `huginn serve`'s
 * completion requests (see serve_request.h). */
#include "serve_request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sr_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        int len;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + (size_t)len > n) return 0;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
        if (cp >= 0xd800 && cp <= 0xdfff) return 0;
        i += (size_t)len;
    }
    return 1;
}

static int fail(sr_error *err, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(sr_error *err, const char *param, const char *fmt, ...)
{
    err->status = 400;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* one line: a client's text quoted in the message keeps no control bytes */
    for (char *p = err->message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
    return 400;
}

static const cJSON *field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return v && !cJSON_IsNull(v) ? v : NULL; /* null = not given */
}

/* The getters return 1 when the field is there and valid, 0 when absent,
 * -1 after reporting an error. */
static int get_int(const cJSON *o, const char *name, long lo, long hi, int *out, sr_error *err)
{
    const cJSON *v = field(o, name);
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) return fail(err, name, "'%s' must be an integer", name), -1;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d)) return fail(err, name, "'%s' must be an integer", name), -1;
    if (d < (double)lo || d > (double)hi)
        return fail(err, name, "'%s' is %.17g; it must be in %ld..%ld", name, d, lo, hi), -1;
    *out = (int)d;
    return 1;
}

/* lo_open: the interval excludes lo. */
static int get_num(const cJSON *o, const char *name, double lo, int lo_open, double hi, double *out, sr_error *err)
{
    const cJSON *v = field(o, name);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return fail(err, name, "'%s' must be a number", name), -1;
    double d = v->valuedouble;
    if (d < lo || (lo_open && d == lo) || d > hi)
        return fail(err, name, "'%s' is %.17g; it must be in %s%g, %g]", name, d, lo_open ? "(" : "[", lo, hi), -1;
    *out = d;
    return 1;
}

static int get_bool(const cJSON *o, const char *name, int *out, sr_error *err)
{
    const cJSON *v = field(o, name);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) return fail(err, name, "'%s' must be true or false", name), -1;
    *out = cJSON_IsTrue(v);
    return 1;
}

/* true/false or "on"/"off" (the CLI's spelling) */
static int get_onoff(const cJSON *o, const char *name, int *out, sr_error *err)
{
    const cJSON *v = field(o, name);
    if (!v) return 0;
    if (cJSON_IsString(v) && !strcmp(v->valuestring, "on")) *out = 1;
    else if (cJSON_IsString(v) && !strcmp(v->valuestring, "off")) *out = 0;
    else if (cJSON_IsBool(v)) *out = cJSON_IsTrue(v);
    else return fail(err, name, "'%s' must be true, false, \"on\" or \"off\"", name), -1;
    return 1;
}

/* A string field: valid UTF-8, at most max bytes; *out points into the tree. */
static int get_str(const cJSON *o, const char *name, size_t max, const char **out, sr_error *err)
{
    const cJSON *v = field(o, name);
    if (!v) return 0;
    if (!cJSON_IsString(v)) return fail(err, name, "'%s' must be a string", name), -1;
    size_t n = strlen(v->valuestring);
    if (n > max) return fail(err, name, "'%s' is longer than %zu bytes", name, max), -1;
    if (!sr_utf8_valid(v->valuestring, n)) return fail(err, name, "'%s' is not valid UTF-8", name), -1;
    *out = v->valuestring;
    return 1;
}

static char *dup_or_oom(const char *s, int *oom)
{
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

/* Message content: a string, or an array of {"type":"text","text":…} parts
 * (joined).  Returns malloc'd text or NULL after an error. */
static char *content_text(const cJSON *c, int i, sr_error *err)
{
    char pname[64];
    snprintf(pname, sizeof pname, "messages[%d].content", i);
    if (!c) return strdup("");
    if (cJSON_IsString(c)) {
        size_t n = strlen(c->valuestring);
        if (!sr_utf8_valid(c->valuestring, n)) return fail(err, pname, "'%s' is not valid UTF-8", pname), NULL;
        char *d = strdup(c->valuestring);
        if (!d) fail(err, pname, "out of memory");
        return d;
    }
    if (!cJSON_IsArray(c)) return fail(err, pname, "'%s' must be a string or an array of text parts", pname), NULL;
    size_t total = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsObject(part) || !cJSON_IsString(t) || strcmp(t->valuestring, "text") || !cJSON_IsString(x))
            return fail(err, pname, "'%s': only parts {\"type\": \"text\", \"text\": \"...\"} are supported", pname),
                   NULL;
        size_t n = strlen(x->valuestring);
        if (!sr_utf8_valid(x->valuestring, n)) return fail(err, pname, "'%s' is not valid UTF-8", pname), NULL;
        total += n;
    }
    char *d = malloc(total + 1);
    if (!d) return fail(err, pname, "out of memory"), NULL;
    size_t at = 0;
    cJSON_ArrayForEach(part, c) {
        const char *s = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        size_t n = strlen(s);
        memcpy(d + at, s, n);
        at += n;
    }
    d[at] = 0;
    return d;
}

static int parse_messages(const cJSON *root, sr_request *r, sr_error *err)
{
    const cJSON *m = field(root, "messages");
    if (!m) return fail(err, "messages", "'messages' is required");
    if (!cJSON_IsArray(m)) return fail(err, "messages", "'messages' must be an array");
    int n = cJSON_GetArraySize(m);
    if (n < 1) return fail(err, "messages", "'messages' must not be empty");
    if (n > SR_MAX_MESSAGES) return fail(err, "messages", "'messages' has more than %d entries", SR_MAX_MESSAGES);
    r->messages = calloc((size_t)n, sizeof *r->messages);
    if (!r->messages) return fail(err, "messages", "out of memory");
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, m) {
        char pname[64];
        snprintf(pname, sizeof pname, "messages[%d].role", i);
        if (!cJSON_IsObject(it)) return fail(err, "messages", "messages[%d] must be an object", i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
        if (!cJSON_IsString(role)) return fail(err, pname, "'%s' must be a string", pname);
        const char *rn = role->valuestring, *mapped;
        if (!strcmp(rn, "system") || !strcmp(rn, "developer")) mapped = "system";
        else if (!strcmp(rn, "user")) mapped = "user";
        else if (!strcmp(rn, "assistant")) mapped = "Huginn";
        else return fail(err, pname, "'%s': unsupported role (system, developer, user, assistant)", pname);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (cJSON_IsNull(c)) c = NULL;
        char *text = content_text(c, i, err);
        if (!text) return 400;
        r->messages[i].content = text;
        int oom = 0;
        r->messages[i].role = dup_or_oom(mapped, &oom);
        r->n_messages = ++i;
        if (oom) return fail(err, "messages", "out of memory");
    }
    return 0;
}

static int parse_prompt(const cJSON *root, const sr_limits *lim, sr_request *r, sr_error *err)
{
    const cJSON *p = field(root, "prompt");
    if (!p) return fail(err, "prompt", "'prompt' is required");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        p = cJSON_GetArrayItem(p, 0); /* ["text"]: one prompt */
    if (cJSON_IsString(p)) {
        size_t n = strlen(p->valuestring);
        if (!sr_utf8_valid(p->valuestring, n)) return fail(err, "prompt", "'prompt' is not valid UTF-8");
        if (!(r->prompt = strdup(p->valuestring))) return fail(err, "prompt", "out of memory");
        return 0;
    }
    if (!cJSON_IsArray(p))
        return fail(err, "prompt", "'prompt' must be a string or an array of token ids (one prompt per request)");
    int n = cJSON_GetArraySize(p);
    if (n < 1) return fail(err, "prompt", "'prompt' must not be empty");
    if (n > lim->max_tokens) return fail(err, "prompt", "'prompt' has %d tokens; the context holds %d", n, lim->max_tokens);
    r->prompt_ids = malloc(sizeof(int32_t) * (size_t)n);
    if (!r->prompt_ids) return fail(err, "prompt", "out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, p) {
        double d = cJSON_IsNumber(it) ? it->valuedouble : NAN;
        if (!isfinite(d) || d != floor(d) || d < 0 || d >= lim->vocab_size)
            return fail(err, "prompt", "'prompt'[%d] must be a token id in 0..%d (one prompt per request)",
                        r->n_prompt_ids, lim->vocab_size - 1);
        r->prompt_ids[r->n_prompt_ids++] = (int32_t)d;
    }
    return 0;
}

static int parse_stop(const cJSON *root, sr_request *r, sr_error *err)
{
    const cJSON *s = field(root, "stop");
    if (!s) return 0;
    if (cJSON_IsString(s)) {
        const char *v;
        if (get_str(root, "stop", SR_MAX_STOP_LEN, &v, err) < 0) return 400;
        if (!*v) return 0; /* "" stops nothing */
        if (!(r->stop[r->n_stop++] = strdup(v))) return fail(err, "stop", "out of memory");
        return 0;
    }
    if (!cJSON_IsArray(s)) return fail(err, "stop", "'stop' must be a string or an array of strings");
    if (cJSON_GetArraySize(s) > SR_MAX_STOP) return fail(err, "stop", "'stop' has more than %d strings", SR_MAX_STOP);
    const cJSON *it;
    cJSON_ArrayForEach(it, s) {
        if (!cJSON_IsString(it)) return fail(err, "stop", "'stop' must be a string or an array of strings");
        size_t n = strlen(it->valuestring);
        if (n > SR_MAX_STOP_LEN) return fail(err, "stop", "a 'stop' string is longer than %d bytes", SR_MAX_STOP_LEN);
        if (!sr_utf8_valid(it->valuestring, n)) return fail(err, "stop", "a 'stop' string is not valid UTF-8");
        if (!n) continue;
        if (!(r->stop[r->n_stop++] = strdup(it->valuestring))) return fail(err, "stop", "out of memory");
    }
    return 0;
}

#define TRY(x) do { if ((x) < 0) return 400; } while (0)

static int parse_fields(const cJSON *o, const sr_limits *lim, sr_request *r, sr_error *err)
{
    const cJSON *v;
    const char *s;
    int have;
    /* model: accepted, ignored; it must still be a string */
    if ((v = field(o, "model")) && !cJSON_IsString(v)) return fail(err, "model", "'model' must be a string");
    TRY(get_bool(o, "stream", &r->stream, err));
    int cap = lim->max_tokens > 0 ? lim->max_tokens : 1;
    TRY(have = get_int(o, "max_tokens", 1, cap, &r->max_tokens, err));
    if (!have) TRY(get_int(o, "max_completion_tokens", 1, cap, &r->max_tokens, err));
    TRY(r->temperature_set = get_num(o, "temperature", 0, 0, 100, &r->temperature, err));
    TRY(r->top_p_set = get_num(o, "top_p", 0, 1, 1, &r->top_p, err));
    if ((v = field(o, "seed"))) {
        double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
            return fail(err, "seed", "'seed' must be an integer of at most 2^53 in magnitude");
        r->seed = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
        r->seed_set = 1;
    }
    if (parse_stop(o, r, err)) return 400;

    /* huginn's own */
    TRY(get_int(o, "num_steps", 1, lim->max_steps, &r->num_steps, err));
    TRY(r->top_k_set = get_int(o, "top_k", 0, 1 << 30, &r->top_k, err));
    TRY(r->min_p_set = get_num(o, "min_p", 0, 0, 1, &r->min_p, err));
    TRY(r->rep_set = get_num(o, "repetition_penalty", 0, 1, 1e6, &r->repetition_penalty, err));
    TRY(r->init_scale_set = get_num(o, "init_scale", 0, 0, 1e6, &r->init_scale, err));
    TRY(have = get_str(o, "criterion", 64, &s, err));
    if (have && (hg_criterion_parse(s, &r->criterion) != HG_OK))
        return fail(err, "criterion",
                    "'criterion': unknown criterion '%s' (entropy-diff, latent-diff, kl, minp-kl, argmax-stability, "
                    "cosine, none, off)", s);
    if ((v = field(o, "threshold"))) {
        if (cJSON_IsString(v) && !strcmp(v->valuestring, "auto")) r->threshold = NAN;
        else TRY(get_num(o, "threshold", -1e300, 0, 1e300, &r->threshold, err));
    }
    TRY(get_int(o, "min_steps", 0, 1 << 20, &r->min_steps, err));
    TRY(get_int(o, "check_every", 1, 1 << 20, &r->check_every, err));
    TRY(get_bool(o, "warmstart", &r->warmstart, err));
    TRY(get_bool(o, "ignore_eos", &r->ignore_eos, err));
    TRY(have = get_str(o, "cache", 128, &s, err));
    if (have) {
        hg_err e;
        if (hg_cache_strategy_check(s, &e) != HG_OK) return fail(err, "cache", "'cache': %s", e.msg);
        if (!(r->cache = strdup(s))) return fail(err, "cache", "out of memory");
    }

    /* generators */
    const char *spec_f = NULL, *diff_f = NULL;
    if ((have = get_int(o, "draft_steps", 1, lim->max_steps, &r->spec.draft_steps, err)) > 0) spec_f = "draft_steps";
    TRY(have);
    if ((have = get_int(o, "lookahead", 1, 1024, &r->spec.lookahead, err)) > 0) spec_f = "lookahead";
    TRY(have);
    if ((have = get_num(o, "verification_threshold", 0, 1, 1e6, &r->spec.verification_threshold, err)) > 0)
        spec_f = "verification_threshold";
    TRY(have);
    if ((have = get_int(o, "inner_recurrence", 1, lim->max_steps, &r->diff.inner_recurrence, err)) > 0)
        diff_f = "inner_recurrence";
    TRY(have);
    if ((have = get_int(o, "headway", 1, 1024, &r->diff.headway, err)) > 0) diff_f = "headway";
    TRY(have);
    if ((have = get_int(o, "max_wavefront", 0, 1 << 24, &r->diff.max_wavefront, err)) > 0) diff_f = "max_wavefront";
    TRY(have);
    TRY(have = get_str(o, "freeze", 64, &s, err));
    if (have) {
        if (hg_freeze_parse(s, &r->diff.freeze) != HG_OK)
            return fail(err, "freeze", "'freeze': unknown strategy '%s' (latent-diff, latent-acceleration-1, "
                                       "latent-acceleration-2, token-stability, fixed)", s);
        diff_f = "freeze";
    }
    if ((have = get_num(o, "exit_t", 0, 0, 1e6, &r->diff.exit_t, err)) > 0) diff_f = "exit_t";
    TRY(have);
    if ((have = get_num(o, "ema_embeds", 0, 0, 1, &r->diff.ema_embeds, err)) > 0) diff_f = "ema_embeds";
    TRY(have);
    if ((have = get_num(o, "state_noise_mixing", 0, 0, 1, &r->diff.state_noise_mixing, err)) > 0)
        diff_f = "state_noise_mixing";
    TRY(have);
    if ((have = get_onoff(o, "dampened_mixer", &r->diff.dampened_mixer, err)) > 0) diff_f = "dampened_mixer";
    TRY(have);
    if ((have = get_onoff(o, "sqrt_mixer", &r->diff.sqrt_mixer, err)) > 0) diff_f = "sqrt_mixer";
    TRY(have);
    if ((have = get_onoff(o, "full_prefill", &r->diff.full_prefill, err)) > 0) diff_f = "full_prefill";
    TRY(have);
    TRY(have = get_str(o, "generator", 32, &s, err));
    if (have) {
        if (hg_generator_parse(s, &r->generator) != HG_OK)
            return fail(err, "generator", "'generator': unknown generator '%s' (plain, speculative, diffusion)", s);
    } else if (spec_f && diff_f) {
        return fail(err, diff_f, "'%s' (speculative) and '%s' (diffusion) exclude each other", spec_f, diff_f);
    } else {
        r->generator = spec_f ? HG_GEN_SPECULATIVE : diff_f ? HG_GEN_DIFFUSION : HG_GEN_PLAIN;
    }
    if (spec_f && r->generator != HG_GEN_SPECULATIVE)
        return fail(err, spec_f, "'%s' goes with the speculative generator", spec_f);
    if (diff_f && r->generator != HG_GEN_DIFFUSION)
        return fail(err, diff_f, "'%s' goes with the diffusion generator", diff_f);
    if (r->generator != HG_GEN_PLAIN && r->criterion != HG_CRIT_OFF)
        return fail(err, "criterion", "'criterion' goes with the plain generator, not with %s",
                    hg_generator_name(r->generator));
    if (r->generator == HG_GEN_DIFFUSION && r->diff.max_wavefront > 0 && r->diff.max_wavefront <= r->diff.headway)
        return fail(err, "max_wavefront", "'max_wavefront' %d: must be 0 (unlimited) or more than the headway (%d)",
                    r->diff.max_wavefront, r->diff.headway);
    return 0;
}

int sr_parse(const char *body, size_t len, int chat, const sr_limits *lim, sr_request *r, sr_error *err)
{
    memset(r, 0, sizeof *r);
    memset(err, 0, sizeof *err);
    r->chat = chat;
    r->threshold = NAN;
    r->check_every = 1;
    hg_spec_params_default(&r->spec);
    hg_diff_params_default(&r->diff);
    if (!body || !len) return fail(err, NULL, "the request has no body; send a JSON object");
    if (!sr_utf8_valid(body, len)) return fail(err, NULL, "the request body is not valid UTF-8");
    if (memchr(body, 0, len)) return fail(err, NULL, "malformed JSON: a NUL byte in the body");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return fail(err, NULL, "malformed JSON near byte %zu", at);
    }
    for (const char *p = end; p && p < body + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return fail(err, NULL, "malformed JSON: text after the object at byte %zu", (size_t)(p - body));
        }
    int rc;
    if (!cJSON_IsObject(root)) rc = fail(err, NULL, "the request body must be a JSON object");
    else if ((rc = chat ? parse_messages(root, r, err) : parse_prompt(root, lim, r, err))) {
    } else rc = parse_fields(root, lim, r, err);
    cJSON_Delete(root);
    if (rc) sr_request_free(r);
    return rc;
}

void sr_request_free(sr_request *r)
{
    for (int i = 0; i < r->n_messages; i++) {
        free(r->messages[i].role);
        free(r->messages[i].content);
    }
    free(r->messages);
    free(r->prompt);
    free(r->prompt_ids);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->cache);
    int chat = r->chat;
    memset(r, 0, sizeof *r);
    r->chat = chat;
}

char *sr_error_json(const char *message, const char *type, const char *param, const char *code)
{
    cJSON *root = cJSON_CreateObject(), *e = cJSON_CreateObject();
    if (!root || !e) {
        cJSON_Delete(root);
        cJSON_Delete(e);
        return NULL;
    }
    cJSON_AddItemToObject(root, "error", e);
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    if (param && *param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code && *code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
