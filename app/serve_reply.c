/* serve_reply.c — OpenAI response objects from generation events (see
 * serve_reply.h). */
#include "serve_reply.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRESS_EVERY_S 0.05

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct rp_reply {
    rp_info in;
    rp_write_fn write;
    void *user;
    hg_stream *st;
    char *acc;                  /* the reply's text so far (cut at a stop string) */
    size_t len, cap, emitted;   /* emitted: bytes of acc already sent           */
    size_t max_stop;
    int stopped;                /* a stop string was found                      */
    int oom;
    int role_sent;
    double last_exit;           /* the criterion's value at the last step       */
    double last_progress;
};

rp_reply *rp_new(const rp_info *info, rp_write_fn write, void *user)
{
    rp_reply *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->in = *info;
    r->write = write;
    r->user = user;
    r->last_exit = NAN;
    r->st = info->tok ? hg_stream_new(info->tok, 1) : NULL;
    if (info->tok && !r->st) {
        free(r);
        return NULL;
    }
    for (int i = 0; i < info->n_stop; i++) {
        size_t n = strlen(info->stop[i]);
        if (n > r->max_stop) r->max_stop = n;
    }
    return r;
}

void rp_free(rp_reply *r)
{
    if (!r) return;
    hg_stream_free(r->st);
    free(r->acc);
    free(r);
}

static void append(rp_reply *r, const char *s, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + n + 1) cap *= 2;
        char *a = realloc(r->acc, cap);
        if (!a) {
            r->oom = 1;
            return;
        }
        r->acc = a;
        r->cap = cap;
    }
    memcpy(r->acc + r->len, s, n);
    r->len += n;
    r->acc[r->len] = 0;
}

/* Cut acc at the first stop string that starts at or after from; 1 if cut. */
static int cut_at_stop(rp_reply *r, size_t from)
{
    size_t best = (size_t)-1;
    for (int i = 0; i < r->in.n_stop; i++) {
        const char *s = r->in.stop[i];
        size_t n = strlen(s);
        for (size_t at = from; at + n <= r->len && at < best; at++)
            if (!memcmp(r->acc + at, s, n)) {
                best = at;
                break;
            }
    }
    if (best == (size_t)-1) return 0;
    r->len = best;
    r->acc[best] = 0;
    return 1;
}

/* Bytes at the end of acc that may begin a stop string (held back). */
static size_t held_back(const rp_reply *r)
{
    size_t hold = 0;
    for (int i = 0; i < r->in.n_stop; i++) {
        const char *s = r->in.stop[i];
        size_t n = strlen(s);
        for (size_t k = n - 1; k > hold; k--)
            if (k <= r->len && !memcmp(r->acc + r->len - k, s, k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

static void write_json(rp_reply *r, cJSON *o, int sse)
{
    char *s = cJSON_PrintUnformatted(o);
    if (!s) {
        r->oom = 1;
        return;
    }
    if (sse) r->write(r->user, "data: ", 6);
    r->write(r->user, s, strlen(s));
    r->write(r->user, sse ? "\n\n" : "\n", sse ? 2 : 1);
    free(s);
}

static void add_num_or_null(cJSON *o, const char *name, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, name, v);
    else cJSON_AddNullToObject(o, name);
}

/* An OpenAI reply object (id, object, created, model) with one choice of
 * index 0, returned in *choice. */
static cJSON *reply_object(const rp_reply *r, const char *object, cJSON **choice)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->in.id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)r->in.created);
    cJSON_AddStringToObject(o, "model", r->in.model);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, *choice);
    cJSON_AddNumberToObject(*choice, "index", 0);
    return o;
}

/* A chunk with one choice; text may be NULL (no content field). */
static cJSON *chunk(rp_reply *r, const char *text, const char *finish, int role)
{
    cJSON *c, *o = reply_object(r, r->in.chat ? "chat.completion.chunk" : "text_completion", &c);
    if (r->in.chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (role) cJSON_AddStringToObject(d, "role", "assistant");
        if (text) cJSON_AddStringToObject(d, "content", text);
    } else {
        cJSON_AddStringToObject(c, "text", text ? text : "");
        cJSON_AddNullToObject(c, "logprobs");
    }
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    return o;
}

static void send_role(rp_reply *r)
{
    if (!r->in.chat || r->role_sent) return;
    r->role_sent = 1;
    cJSON *o = chunk(r, "", NULL, 1);
    write_json(r, o, 1);
    cJSON_Delete(o);
}

int rp_event(rp_reply *r, const hg_event *ev)
{
    if (ev->type == HG_EV_STEP) {
        r->last_exit = ev->exit_value;
        if (!r->in.stream) return 0;
        double now = now_s();
        if (now - r->last_progress < PROGRESS_EVERY_S) return 0;
        r->last_progress = now;
        char line[160], ex[40];
        if (isfinite(ev->exit_value)) snprintf(ex, sizeof ex, "%.9g", ev->exit_value);
        else snprintf(ex, sizeof ex, "null");
        int n = snprintf(line, sizeof line,
                         ": {\"object\":\"huginn.progress\",\"huginn\":{\"step\":%d,\"num_steps\":%d,\"exit\":%s}}\n\n",
                         ev->step, ev->num_steps, ex);
        if (n > 0 && (size_t)n < sizeof line) r->write(r->user, line, (size_t)n);
        return 0;
    }
    if (ev->type != HG_EV_TOKEN) return 0;
    if (r->stopped) return 1;
    char piece[8192];
    size_t n = r->st ? hg_stream_push(r->st, ev->token_id, piece, sizeof piece) : 0;
    size_t before = r->len;
    append(r, piece, n);
    if (r->in.n_stop) {
        size_t from = before > r->max_stop ? before - r->max_stop : 0;
        if (from < r->emitted) from = r->emitted;
        r->stopped = cut_at_stop(r, from);
    }
    size_t upto = r->stopped ? r->len : r->len - held_back(r);
    if (upto < r->emitted) upto = r->emitted;
    if (r->in.stream) {
        send_role(r);
        char save = r->acc ? r->acc[upto] : 0;
        if (r->acc) r->acc[upto] = 0;
        cJSON *o = chunk(r, r->acc ? r->acc + r->emitted : "", NULL, 0);
        if (r->acc) r->acc[upto] = save;
        cJSON *h = cJSON_AddObjectToObject(o, "huginn");
        cJSON_AddNumberToObject(h, "token_id", ev->token_id);
        cJSON_AddNumberToObject(h, "steps", ev->steps_used);
        add_num_or_null(h, "exit", r->last_exit);
        cJSON_AddNumberToObject(h, "num_steps", ev->num_steps);
        write_json(r, o, 1);
        cJSON_Delete(o);
    }
    r->emitted = upto;
    r->last_exit = NAN;
    return r->stopped;
}

static cJSON *usage(const rp_reply *r, const hg_gen_result *res)
{
    cJSON *u = cJSON_CreateObject();
    int n = res ? res->n_out : 0;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += res->steps[i];
    cJSON_AddNumberToObject(u, "prompt_tokens", r->in.prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", n);
    cJSON_AddNumberToObject(u, "total_tokens", r->in.prompt_tokens + n);
    cJSON_AddNumberToObject(u, "mean_steps", n ? sum / n : 0);
    return u;
}

static cJSON *huginn_obj(const rp_reply *r, const hg_gen_result *res)
{
    cJSON *h = cJSON_CreateObject();
    cJSON *steps = cJSON_AddArrayToObject(h, "steps");
    for (int i = 0; res && i < res->n_out; i++) cJSON_AddItemToArray(steps, cJSON_CreateNumber(res->steps[i]));
    cJSON_AddStringToObject(h, "generator", hg_generator_name(r->in.generator));
    cJSON_AddNumberToObject(h, "num_steps", r->in.num_steps);
    cJSON_AddNumberToObject(h, "reused_prompt_tokens", r->in.reused_tokens);
    cJSON *st = cJSON_AddObjectToObject(h, "stats");
    cJSON_AddStringToObject(st, "stop_reason", res ? hg_stop_reason_str(res->stop_reason) : "none");
    cJSON_AddNumberToObject(st, "prefill_s", res ? res->prefill_s : 0);
    cJSON_AddNumberToObject(st, "decode_s", res ? res->decode_s : 0);
    if (res && r->in.generator == HG_GEN_SPECULATIVE) {
        cJSON_AddNumberToObject(st, "rounds", res->stats.rounds);
        cJSON_AddNumberToObject(st, "drafted", res->stats.drafted);
        cJSON_AddNumberToObject(st, "accepted", res->stats.accepted);
    }
    if (res && r->in.generator == HG_GEN_DIFFUSION) {
        cJSON_AddNumberToObject(st, "num_core_forward_passes", res->stats.num_core_forward_passes);
        cJSON_AddNumberToObject(st, "num_tokens_forward", (double)res->stats.num_tokens_forward);
        cJSON_AddNumberToObject(st, "diffusion_steps", res->stats.diffusion_steps);
        cJSON_AddNumberToObject(st, "num_cache_clears", res->stats.num_cache_clears);
        cJSON_AddNumberToObject(st, "num_standing_waves", res->stats.num_standing_waves);
    }
    return h;
}

void rp_done(rp_reply *r, const hg_gen_result *res, int reused_tokens)
{
    r->in.reused_tokens = reused_tokens;
    if (!r->stopped && r->st) {
        char tail[64];
        size_t before = r->len, n = hg_stream_finish(r->st, tail, sizeof tail);
        append(r, tail, n);
        if (r->in.n_stop) r->stopped = cut_at_stop(r, before > r->max_stop ? before - r->max_stop : 0);
    }
    if (r->len < r->emitted) r->emitted = r->len;
    int stop = r->stopped || (res && (res->stop_reason == HG_STOP_TOKEN || res->stop_reason == HG_STOP_CANCELLED));
    const char *finish = stop ? "stop" : "length";
    const char *rest = r->acc ? r->acc + r->emitted : "";
    if (r->in.stream) {
        send_role(r);
        cJSON *o = chunk(r, *rest || !r->in.chat ? rest : NULL, finish, 0);
        cJSON_AddItemToObject(o, "usage", usage(r, res));
        cJSON_AddItemToObject(o, "huginn", huginn_obj(r, res));
        write_json(r, o, 1);
        cJSON_Delete(o);
        r->write(r->user, "data: [DONE]\n\n", 14);
        r->emitted = r->len;
        return;
    }
    cJSON *c, *o = reply_object(r, r->in.chat ? "chat.completion" : "text_completion", &c);
    const char *text = r->acc ? r->acc : "";
    if (r->in.chat) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", text);
    } else {
        cJSON_AddStringToObject(c, "text", text);
        cJSON_AddNullToObject(c, "logprobs");
    }
    cJSON_AddStringToObject(c, "finish_reason", finish);
    cJSON_AddItemToObject(o, "usage", usage(r, res));
    cJSON_AddItemToObject(o, "huginn", huginn_obj(r, res));
    write_json(r, o, 0);
    cJSON_Delete(o);
}

void rp_stream_error(rp_reply *r, const char *message)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", "server_error");
    cJSON_AddNullToObject(e, "param");
    cJSON_AddNullToObject(e, "code");
    write_json(r, o, 1);
    cJSON_Delete(o);
    r->write(r->user, "data: [DONE]\n\n", 14);
}
