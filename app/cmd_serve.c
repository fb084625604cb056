#define _GNU_SOURCE /* POLLRDHUP */
/* cmd_serve.c — `huginn serve`: an OpenAI-compatible HTTP server on
 * libmicrohttpd (a thread per connection).  Requests are parsed by
 * serve_request.c, run on serve_slots.c's slots and answered by
 * serve_reply.c; this file is the command line and the HTTP glue. */
#include "cli.h"
#include "cmds.h"
#include "huginn.h"
#include "platform.h"
#include "serve_reply.h"
#include "serve_request.h"
#include "serve_slots.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <locale.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char serve_usage[] =
    "usage: huginn serve [--model PATH] [--host ADDR] [--port N] [--slots N] [--api-key-file F]\n"
    "                    [--threads N] [--weights F] [--ctx N] [--max-steps N] [--max-body BYTES]\n"
    "                    [--queue N] [--model-name NAME]\n"
    "\n"
    "An OpenAI-compatible HTTP server: POST /v1/chat/completions and /v1/completions\n"
    "(whole or streamed as server-sent events), GET /v1/models and GET /health.\n"
    "Requests take the OpenAI fields (messages, prompt, max_tokens, temperature (0 = greedy),\n"
    "top_p, seed, stop, stream) and huginn's own at the top level, named like `huginn run`'s\n"
    "options with _ for -: num_steps, criterion, threshold, min_steps, check_every, warmstart,\n"
    "cache, init_scale, top_k, min_p, repetition_penalty, ignore_eos (no stop tokens),\n"
    "generator (plain, speculative, diffusion), draft_steps, lookahead,\n"
    "verification_threshold, inner_recurrence, headway,\n"
    "max_wavefront, freeze, exit_t, ema_embeds, state_noise_mixing, dampened_mixer, sqrt_mixer,\n"
    "full_prefill.  Every streamed token carries \"huginn\": {token_id, steps, exit, num_steps};\n"
    "usage adds mean_steps.\n"
    "\n"
    "  --model PATH           checkpoint directory or hub id (default: the bundled demo-huginn)\n"
    "  --host ADDR            address to bind (default 127.0.0.1: this machine only)\n"
    "  --port N               TCP port (default 8080; 0 = a free one).  Once bound, the server\n"
    "                         prints 'listening on http://HOST:PORT' on stderr\n"
    "  --slots N              requests generated at the same time (default 1), each on its own\n"
    "                         context sharing the weights; a request takes the idle slot whose\n"
    "                         cache shares the longest prefix with its prompt and computes only\n"
    "                         the rest.  Others wait in a queue\n"
    "  --queue N              requests that may wait for a slot (default 64; more get 503)\n"
    "  --api-key-file F       require 'Authorization: Bearer KEY' (KEY: the file's content without\n"
    "                         the trailing newline) on /v1/*; /health stays open\n"
    "  --threads N            threads in all (default: the cores it may run on), split between the slots\n"
    "  --weights F            auto (default), f32, bf16, q8_0 or q4 (as huginn run)\n"
    "  --ctx N                context positions per slot (default: the config's block_size)\n"
    "  --max-steps N          the largest num_steps a request may ask for (default 256)\n"
    "  --max-body BYTES       the largest request body (default 1048576; larger: 413)\n"
    "  --model-name NAME      the model's id in /v1/models and replies (default: the directory's name)\n"
    "\n"
    "Without a max_tokens field a reply has at most 256 tokens.  SIGINT or SIGTERM stops the\n"
    "server: running generations are cancelled and it exits 0.\n"
    "Exit status: 0 stopped by a signal, 2 bad options or files, 1 failure.\n";

/* ------------------------------------------------------------ the server */

typedef struct server {
    hg_model *m;
    hg_tokenizer *tok;
    pthread_mutex_t tok_mu;
    sv_pool *pool;
    const char *name;
    char *key;
    size_t key_len;
    size_t max_body;
    int max_steps;
    int n_ctx;
    _Atomic unsigned long next_id;
    _Atomic int stopping;
    _Atomic int active;         /* completion requests not yet completed   */
} server;

/* One request's generation: the bytes for the client, filled by the slot's
 * thread, drained by the connection's thread. */
typedef struct job {
    server *srv;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;
    size_t len, off, cap;
    int oom;
    int finished;               /* on_done ran: every byte is in buf       */
    int failed_status;          /* a whole reply that failed: its status   */
    _Atomic int cancel;         /* the client is gone                      */
    int refs;
    struct MHD_Connection *conn;
    sr_request req;
    int32_t *ids;
    int n_ids;
    rp_reply *rp;
    rp_info info;
    char id[48];
    sv_task task;
} job;

/* Per-connection request state (MHD's con_cls). */
typedef struct request {
    char *body;
    size_t len, cap;
    int too_big;
    size_t discarded;           /* bytes of a too big body read and dropped */
    int answered;               /* a response is queued                    */
    server *srv;
    int counted;                /* in srv->active                          */
    int chat;
    job *job;
} request;

static void job_release(job *j)
{
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    rp_free(j->rp);
    sr_request_free(&j->req);
    free(j->ids);
    free(j->buf);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* Append to the job's buffer (j->mu held by the caller). */
static void job_write(void *user, const char *data, size_t n)
{
    job *j = user;
    if (j->len + n > j->cap) {
        size_t cap = j->cap ? j->cap : 4096;
        while (cap < j->len + n) cap *= 2;
        char *b = realloc(j->buf, cap);
        if (!b) {
            j->oom = 1;
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, data, n);
    j->len += n;
}

static int job_event(const hg_event *ev, void *user)
{
    job *j = user;
    if (atomic_load(&j->cancel)) return 1;
    pthread_mutex_lock(&j->mu);
    size_t before = j->len;
    int rc = rp_event(j->rp, ev);
    if (j->len != before) pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

static void job_done(hg_status st, const hg_gen_result *res, const hg_err *err, int n_reused, void *user)
{
    job *j = user;
    pthread_mutex_lock(&j->mu);
    if (st == HG_OK) {
        rp_done(j->rp, res, n_reused);
    } else if (j->req.stream) {
        rp_stream_error(j->rp, err->msg);
    } else {
        j->failed_status = st == HG_E_CANCELLED ? 503 : st == HG_E_ARG || st == HG_E_RANGE ? 400 : 500;
        char *e = sr_error_json(err->msg, j->failed_status == 400 ? "invalid_request_error" : "server_error", NULL,
                                NULL);
        j->len = 0;
        if (e) job_write(j, e, strlen(e));
        free(e);
    }
    j->finished = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    job_release(j); /* the task's reference */
}

/* The client went away: stop its generation, or take it out of the queue. */
static void job_cancel(job *j)
{
    atomic_store(&j->cancel, 1);
    if (sv_withdraw(j->srv->pool, &j->task)) job_release(j); /* on_done will not run */
}

/* Seconds a connection may stay idle (reading a request, between
 * keep-alive requests).  Waiting for a generation is not idle: the wait
 * loops reset the timer. */
#define IDLE_TIMEOUT_S 120

static void still_busy(struct MHD_Connection *c)
{
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)IDLE_TIMEOUT_S);
}

/* Has the client closed its end?  (A peek: nothing is consumed.) */
static int client_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    int fd = ci->connect_fd;
    struct pollfd pf = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&pf, 1, 0) <= 0) return 0;
    if (pf.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) return 1;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void wait_slice(job *j, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

/* The streamed body: what the slot's thread wrote, as it comes. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    job *j = cls;
    pthread_mutex_lock(&j->mu);
    while (j->off == j->len && !j->finished) {
        wait_slice(j, 100);
        if (j->off == j->len && !j->finished) {
            pthread_mutex_unlock(&j->mu);
            if (client_gone(j->conn)) {
                job_cancel(j);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            still_busy(j->conn);
            pthread_mutex_lock(&j->mu);
        }
    }
    if (j->off == j->len) {
        pthread_mutex_unlock(&j->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = j->len - j->off;
    if (n > max) n = max;
    memcpy(out, j->buf + j->off, n);
    j->off += n;
    if (j->off == j->len) j->off = j->len = 0;
    pthread_mutex_unlock(&j->mu);
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    job *j = cls;
    pthread_mutex_lock(&j->mu);
    int finished = j->finished;
    pthread_mutex_unlock(&j->mu);
    if (!finished) job_cancel(j);
    job_release(j); /* the response's reference */
}

/* ------------------------------------------------------------ responses */

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
                                 size_t n)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* Send a malloc'd JSON text (NULL: out of memory) with a newline, and free it. */
static enum MHD_Result send_json_text(struct MHD_Connection *c, unsigned status, char *s)
{
    if (!s) return MHD_NO;
    size_t n = strlen(s);
    char *b = realloc(s, n + 2);
    if (b) s = b, s[n++] = '\n', s[n] = 0;
    enum MHD_Result rc = send_body(c, status, "application/json", s, n);
    free(s);
    return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return send_json_text(c, status, s);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *type, const char *param,
                                  const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *type, const char *param,
                                  const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_json_text(c, status, sr_error_json(msg, type, param, code));
}

static enum MHD_Result send_health(server *s, struct MHD_Connection *c)
{
    int n, idle, queued;
    sv_counts(s->pool, &n, &idle, &queued);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddNumberToObject(o, "slots", n);
    cJSON_AddNumberToObject(o, "slots_idle", idle);
    cJSON_AddNumberToObject(o, "queued", queued);
    return send_json(c, 200, o);
}

static enum MHD_Result send_models(server *s, struct MHD_Connection *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(o, "data");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddItemToArray(d, m);
    cJSON_AddStringToObject(m, "id", s->name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "huginn");
    cJSON *h = cJSON_AddObjectToObject(m, "huginn");
    cJSON_AddNumberToObject(h, "num_steps_default", hg_model_config(s->m)->mean_recurrence);
    cJSON_AddNumberToObject(h, "max_steps", s->max_steps);
    cJSON_AddNumberToObject(h, "n_ctx", s->n_ctx);
    return send_json(c, 200, o);
}

/* --------------------------------------------------------- completions */

static uint64_t random_seed(void)
{
    uint64_t v;
    if (hg_random_bytes(&v, sizeof v) == 0) return v;
    return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

/* The request's generation parameters, as `huginn run` sets them. */
static void gen_params(server *s, const sr_request *q, hg_gen_params *p)
{
    hg_gen_params_default(p, s->m);
    if (q->num_steps) p->num_steps = q->num_steps;
    p->max_new_tokens = q->max_tokens ? q->max_tokens : 256;
    p->init_scale = q->init_scale_set ? (float)q->init_scale : 1.0f;
    p->seed = q->seed_set ? q->seed : random_seed();
    int sampled = q->top_p_set || q->top_k_set || q->min_p_set || (q->temperature_set && q->temperature > 0);
    if (q->temperature_set && q->temperature == 0) {
        p->greedy = 1;
    } else if (sampled) {
        p->greedy = 0;
        if (q->temperature_set) p->temperature = (float)q->temperature;
        if (q->top_p_set) p->top_p = (float)q->top_p;
        if (q->top_k_set) p->top_k = q->top_k;
        if (q->min_p_set) p->min_p = (float)q->min_p;
    }
    if (q->rep_set) p->repetition_penalty = (float)q->repetition_penalty;
    p->criterion = q->criterion;
    p->threshold = q->threshold;
    p->min_steps = q->min_steps;
    p->check_every = q->check_every;
    p->warmstart = q->warmstart;
    if (q->ignore_eos) {
        p->n_stop = 0;
        p->stop_ids = NULL;
    }
    p->generator = q->generator;
    p->spec = q->spec;
    p->diff = q->diff;
}

static int tokenize_request(server *s, const sr_request *q, int32_t **ids, int *n, hg_err *e)
{
    hg_status st;
    pthread_mutex_lock(&s->tok_mu);
    if (q->chat) {
        hg_chat_msg *v = malloc(sizeof *v * (size_t)q->n_messages);
        if (!v) st = HG_E_NOMEM;
        else {
            for (int i = 0; i < q->n_messages; i++) v[i] = (hg_chat_msg){q->messages[i].role, q->messages[i].content};
            st = hg_chat_tokenize(s->tok, v, q->n_messages, 1, ids, n, e);
            free(v);
        }
    } else if (q->prompt) {
        st = hg_tokenize(s->tok, q->prompt, strlen(q->prompt), 0, ids, n, e);
    } else {
        *ids = malloc(sizeof **ids * (size_t)q->n_prompt_ids);
        st = *ids ? HG_OK : HG_E_NOMEM;
        if (*ids) memcpy(*ids, q->prompt_ids, sizeof **ids * (size_t)q->n_prompt_ids);
        *n = q->n_prompt_ids;
    }
    pthread_mutex_unlock(&s->tok_mu);
    if (st == HG_E_NOMEM) snprintf(e->msg, sizeof e->msg, "out of memory");
    return st;
}

static enum MHD_Result completion(server *s, struct MHD_Connection *c, request *rq)
{
    sr_limits lim = {.max_steps = s->max_steps, .vocab_size = hg_model_config(s->m)->vocab_size,
                     .max_tokens = s->n_ctx};
    job *j = calloc(1, sizeof *j);
    if (!j) return send_error(c, 500, "server_error", NULL, NULL, "out of memory");
    j->srv = s;
    j->conn = c;
    j->refs = 1; /* the connection's */
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    rq->job = j;
    sr_error pe;
    if (sr_parse(rq->body, rq->len, rq->chat, &lim, &j->req, &pe))
        return send_error(c, (unsigned)pe.status, "invalid_request_error", pe.param, NULL, "%s", pe.message);
    sr_request *q = &j->req;
    hg_err e;
    if (tokenize_request(s, q, &j->ids, &j->n_ids, &e))
        return send_error(c, 400, "invalid_request_error", q->chat ? "messages" : "prompt", NULL, "%s", e.msg);
    if (j->n_ids == 0)
        return send_error(c, 400, "invalid_request_error", q->chat ? "messages" : "prompt", NULL,
                          "the prompt is empty after tokenization");
    if (j->n_ids >= s->n_ctx)
        return send_error(c, 400, "invalid_request_error", q->chat ? "messages" : "prompt", "context_length_exceeded",
                          "the prompt has %d tokens; the context holds %d, and at least one is needed for the reply",
                          j->n_ids, s->n_ctx);
    gen_params(s, q, &j->task.params);
    snprintf(j->id, sizeof j->id, "%s-%lx%lx", q->chat ? "chatcmpl" : "cmpl", (unsigned long)time(NULL),
             atomic_fetch_add(&s->next_id, 1));
    j->info = (rp_info){.tok = s->tok, .chat = q->chat, .stream = q->stream, .id = j->id, .model = s->name,
                        .created = (long)time(NULL), .stop = q->stop, .n_stop = q->n_stop,
                        .num_steps = j->task.params.num_steps, .generator = q->generator, .prompt_tokens = j->n_ids};
    if (!(j->rp = rp_new(&j->info, job_write, j)))
        return send_error(c, 500, "server_error", NULL, NULL, "out of memory");
    j->task.ids = j->ids;
    j->task.n_ids = j->n_ids;
    j->task.cache = q->cache ? q->cache : q->generator == HG_GEN_DIFFUSION ? "latest-m4-compress-s4" : NULL;
    j->task.on_event = job_event;
    j->task.on_done = job_done;
    j->task.user = j;
    j->refs++; /* the task's */
    int rc = atomic_load(&s->stopping) ? -2 : sv_submit(s->pool, &j->task);
    if (rc) {
        j->refs--;
        if (rc == -1)
            return send_error(c, 503, "server_error", NULL, "queue_full",
                              "all slots are busy and the queue is full; try again later");
        return send_error(c, 503, "server_error", NULL, NULL, "the server is shutting down");
    }
    if (q->stream) {
        j->refs++; /* the response's */
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, j,
                                                                   stream_free);
        if (!r) {
            j->refs--;
            job_cancel(j);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        MHD_add_response_header(r, "X-Accel-Buffering", "no");
        enum MHD_Result mr = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return mr;
    }
    /* whole: wait here (a thread per connection), watching the client */
    pthread_mutex_lock(&j->mu);
    while (!j->finished) {
        wait_slice(j, 100);
        if (!j->finished) {
            pthread_mutex_unlock(&j->mu);
            if (client_gone(c)) {
                job_cancel(j);
                return MHD_NO;
            }
            still_busy(c);
            pthread_mutex_lock(&j->mu);
        }
    }
    pthread_mutex_unlock(&j->mu);
    if (j->oom) return send_error(c, 500, "server_error", NULL, NULL, "out of memory");
    return send_body(c, j->failed_status ? (unsigned)j->failed_status : 200, "application/json", j->buf, j->len);
}

/* ------------------------------------------------------------- routing */

static int authorized(server *s, struct MHD_Connection *c)
{
    if (!s->key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    /* constant time in the key's content: every byte of the key is compared */
    unsigned char diff = (unsigned char)(n != s->key_len);
    for (size_t i = 0; i < s->key_len; i++) diff |= (unsigned char)(s->key[i] ^ (i < n ? h[i] : 0));
    return diff == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    server *s = cls;
    int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), is_post = !strcmp(method, "POST");
    int chat = !strcmp(url, "/v1/chat/completions"), compl = !strcmp(url, "/v1/completions");
    if (!*con_cls) {
        request *rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        *con_cls = rq;
        rq->answered = 1; /* unless it goes on to read a body */
        if (!strcmp(url, "/health")) {
            if (!is_get) return send_error(c, 405, "invalid_request_error", NULL, NULL, "use GET on /health");
            return send_health(s, c);
        }
        int models = !strcmp(url, "/v1/models");
        if (!models && !chat && !compl)
            return send_error(c, 404, "invalid_request_error", NULL, "not_found", "no such endpoint: %s %s", method,
                              url);
        if (!authorized(s, c))
            return send_error(c, 401, "authentication_error", NULL, "invalid_api_key",
                              "missing or wrong API key (Authorization: Bearer KEY)");
        if (models) {
            if (!is_get) return send_error(c, 405, "invalid_request_error", NULL, NULL, "use GET on %s", url);
            return send_models(s, c);
        }
        if (!is_post) return send_error(c, 405, "invalid_request_error", NULL, NULL, "use POST on %s", url);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || *end || v > s->max_body)
                return send_error(c, 413, "invalid_request_error", NULL, "request_too_large",
                                  "the request body is larger than %zu bytes", s->max_body);
        }
        rq->chat = chat;
        rq->answered = 0;
        rq->srv = s;
        rq->counted = 1;
        atomic_fetch_add(&s->active, 1);
        return MHD_YES;
    }
    request *rq = *con_cls;
    if (rq->answered) { /* the rest of a refused request's body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->too_big || rq->len + n > s->max_body) {
            rq->too_big = 1;
            rq->discarded += n;
            /* read on (to answer 413), but not for ever */
            return rq->discarded > 16 * s->max_body ? MHD_NO : MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n + 1) cap *= 2;
            char *b = realloc(rq->body, cap);
            if (!b) return MHD_NO;
            rq->body = b;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload, n);
        rq->len += n;
        return MHD_YES;
    }
    rq->answered = 1;
    if (rq->too_big)
        return send_error(c, 413, "invalid_request_error", NULL, "request_too_large",
                          "the request body is larger than %zu bytes", s->max_body);
    return completion(s, c, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c;
    request *rq = *con_cls;
    if (!rq) return;
    if (rq->job) {
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
            pthread_mutex_lock(&rq->job->mu);
            int finished = rq->job->finished;
            pthread_mutex_unlock(&rq->job->mu);
            if (!finished) job_cancel(rq->job);
        }
        job_release(rq->job);
    }
    if (rq->counted) atomic_fetch_sub(&rq->srv->active, 1);
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

/* ---------------------------------------------------------------- main */

static int read_key(const char *path, char **key, size_t *n)
{
    hg_err e;
    char *s;
    size_t len;
    if (hg_file_read(path, 4096, &s, &len, &e) != HG_OK)
        return cli_error("serve", "--api-key-file: %s", e.msg);
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r')) s[--len] = 0;
    if (!len || memchr(s, 0, len)) {
        free(s);
        return cli_error("serve", "--api-key-file %s: the key is empty", path);
    }
    *key = s;
    *n = len;
    return 0;
}

/* Resolve host:port to a socket address (numeric or a name). */
static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len, int *v6)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) return -1;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    const char *model = NULL, *host = "127.0.0.1", *key_file = NULL, *name = NULL;
    int port = 8080, slots = 1, threads = 0, n_ctx = 0, max_steps = 256, queue = 64;
    long max_body = 1 << 20;
    hg_weights weights = HG_WEIGHTS_AUTO;
    cli c;
    cli_init(&c, argv[0], argc, argv);
    while (cli_next(&c)) {
        if (cli_is(&c, "--help") || cli_is(&c, "-h")) {
            fputs(serve_usage, stdout);
            return 0;
        } else if (cli_is(&c, "--model")) {
            if (!(model = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--host")) {
            if (!(host = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--port")) {
            if (!cli_int(&c, 0, 65535, &port)) return 2;
        } else if (cli_is(&c, "--slots")) {
            if (!cli_int(&c, 1, 256, &slots)) return 2;
        } else if (cli_is(&c, "--queue")) {
            if (!cli_int(&c, 0, 1 << 16, &queue)) return 2;
        } else if (cli_is(&c, "--api-key-file")) {
            if (!(key_file = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--threads")) {
            if (!cli_int(&c, 1, 1024, &threads)) return 2;
        } else if (cli_is(&c, "--ctx")) {
            if (!cli_int(&c, 2, 1 << 24, &n_ctx)) return 2;
        } else if (cli_is(&c, "--max-steps")) {
            if (!cli_int(&c, 1, 4096, &max_steps)) return 2;
        } else if (cli_is(&c, "--max-body")) {
            int v;
            if (!cli_int(&c, 1, 1 << 30, &v)) return 2;
            max_body = v;
        } else if (cli_is(&c, "--model-name")) {
            if (!(name = cli_str(&c))) return 2;
            if (!*name) return cli_error(c.cmd, "--model-name: empty");
        } else if (cli_is(&c, "--weights")) {
            const char *w = cli_str(&c);
            if (!w) return 2;
            if (hg_weights_parse(w, &weights) != HG_OK)
                return cli_error(c.cmd, "--weights: unknown format '%s' (auto, f32, bf16, q8_0, q4)", w);
        } else {
            return cli_unknown(&c);
        }
    }
    if (!model && !(model = cli_default_model()))
        return cli_error(c.cmd, "no --model given and no bundled model found");
    setlocale(LC_NUMERIC, "C");

    server s = {.max_body = (size_t)max_body, .max_steps = max_steps};
    pthread_mutex_init(&s.tok_mu, NULL);
    if (key_file && read_key(key_file, &s.key, &s.key_len)) return 2;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int v6 = 0;
    if (resolve(host, port, &addr, &addr_len, &v6)) {
        free(s.key);
        return cli_error(c.cmd, "--host %s: not an address of this machine", host);
    }

    hg_err e;
    hg_load_params lp;
    hg_load_params_default(&lp);
    lp.n_threads = 1; /* the slots have their own threads */
    lp.weights = weights;
    lp.progress = cli_progress;
    lp.progress_user = "converting weights";
    hg_status st = hg_model_load(model, &lp, &s.m, &e);
    if (st) {
        fprintf(stderr, "huginn serve: %s\n", e.msg);
        free(s.key);
        return cli_status_exit(st);
    }
    int rc = 0;
    struct MHD_Daemon *d = NULL;
    char *base = NULL;
    if ((st = hg_tokenizer_load_dir(hg_model_dir(s.m), &s.tok, &e))) {
        fprintf(stderr, "huginn serve: %s\n", e.msg);
        rc = cli_status_exit(st);
        goto out;
    }
    const hg_config *cfg = hg_model_config(s.m);
    s.n_ctx = n_ctx && n_ctx < cfg->block_size ? n_ctx : cfg->block_size;
    if (!name) {
        char *dir = strdup(hg_model_dir(s.m));
        size_t n = dir ? strlen(dir) : 0;
        while (n > 1 && dir[n - 1] == '/') dir[--n] = 0;
        base = dir ? strdup(strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir) : NULL;
        free(dir);
        name = base ? base : "huginn";
    }
    s.name = name;
    /* signals: blocked before any thread starts (threads inherit the mask),
     * so that only this thread takes them, in sigwait */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    int total = threads ? threads : hg_usable_cpus();
    if (total < 1) total = 1;
    int per_slot = total / slots > 0 ? total / slots : 1;
    if ((st = sv_new(s.m, slots, per_slot, s.n_ctx, 0, queue, &s.pool, &e))) {
        fprintf(stderr, "huginn serve: %s\n", e.msg);
        rc = cli_status_exit(st);
        goto out;
    }

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
    if (v6) flags |= MHD_USE_IPv6;
    d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, &s, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, completed, &s,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)(queue + slots + 64), MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "huginn serve: cannot listen on %s port %d: %s\n", host, port,
                errno ? strerror(errno) : "failed");
        rc = EXIT_BAD_INPUT;
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int bound = di && di->port ? di->port : port;
    fprintf(stderr, "huginn serve: model %s (%s weights), %d slot%s of %d positions, %d thread%s each\n", s.name,
            hg_weights_name(hg_model_weights(s.m)), slots, slots == 1 ? "" : "s", s.n_ctx, per_slot,
            per_slot == 1 ? "" : "s");
    fprintf(stderr, "listening on http://%s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "", bound);
    fflush(stderr);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    fprintf(stderr, "huginn serve: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
    atomic_store(&s.stopping, 1);
    MHD_quiesce_daemon(d);      /* no new connections */
    sv_shutdown(s.pool);        /* cancel running generations, fail queued ones */
    /* the replies go out to the end (a few seconds at most), then the
     * connections close */
    for (int i = 0; i < 300 && atomic_load(&s.active) > 0; i++) usleep(10000);
    MHD_stop_daemon(d);
    d = NULL;
out:
    if (d) MHD_stop_daemon(d);
    sv_free(s.pool);
    free(base);
    hg_tokenizer_free(s.tok);
    hg_model_free(s.m);
    free(s.key);
    pthread_mutex_destroy(&s.tok_mu);
    return rc;
}
