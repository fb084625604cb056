/* remote.c — an OpenAI-compatible server as the chat's backend (libcurl). */
#include "remote.h"
#include "evqueue.h"
#include "sse.h"
#include "wire.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRACE_MAX 1024
#define ERRBODY_MAX ((size_t)64 << 10)
#define MODELS_MAX ((size_t)4 << 20)

typedef struct ur_remote {
    ue_queue evq;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    int quit, busy, finishing;
    atomic_int stop;
    us_settings settings;
    hg_chat_msg *msgs;
    int n_msgs, dropped;
    int sweep[UE_SWEEP_MAX], n_sweep;
    CURLM *multi;
    struct curl_slist *headers;
    char api_key[1024];
    char want_model[256];
    long connect_timeout, idle_timeout;
    ub_info info;               /* under mu                               */
    int last_total;             /* usage.total_tokens of the last reply   */
    char last_cache[64];
} ur_remote;

/* ------------------------------------------------------------- helpers */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void push_err(ur_remote *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void push_err(ur_remote *r, const char *fmt, ...)
{
    char b[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    ueq_push_text(&r->evq, UE_ERROR, b);
}

typedef struct buf {
    char *p;
    size_t n, cap, max;
    int over;
} buf;

static void buf_add(buf *b, const char *d, size_t n)
{
    if (b->n + n > b->max) { n = b->max > b->n ? b->max - b->n : 0; b->over = 1; }
    if (!n) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n + 1) c *= 2;
        char *np = realloc(b->p, c);
        if (!np) { b->over = 1; return; }
        b->p = np;
        b->cap = c;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* Run one transfer on the multi handle until it ends or Ctrl-C: the
 * CURLcode, or -1 when cancelled. */
static int perform(ur_remote *r, CURL *h)
{
    if (curl_multi_add_handle(r->multi, h) != CURLM_OK) return CURLE_FAILED_INIT;
    int running = 1, rc = CURLE_OK, cancelled = 0;
    while (running) {
        if (atomic_load(&r->stop)) { cancelled = 1; break; }
        if (curl_multi_perform(r->multi, &running) != CURLM_OK) { rc = CURLE_FAILED_INIT; break; }
        if (!running) break;
        curl_multi_poll(r->multi, NULL, 0, 200, NULL);
    }
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(r->multi, &left)))
        if (m->msg == CURLMSG_DONE && m->easy_handle == h) rc = m->data.result;
    curl_multi_remove_handle(r->multi, h);
    return cancelled ? -1 : rc;
}

static CURL *easy(ur_remote *r, const char *url, char *errbuf)
{
    CURL *h = curl_easy_init();
    if (!h) return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, r->connect_timeout);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, r->idle_timeout);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "huginn/" HUGINN_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    errbuf[0] = 0;
    return h;
}

/* "cannot reach HOST: why" for a failed transfer. */
static void transfer_error(ur_remote *r, int rc, const char *errbuf, char *out, size_t cap)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror((CURLcode)rc);
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(out, cap, "cannot reach %s: %s", r->info.url, why);
    else
        snprintf(out, cap, "%s: %s", r->info.host, why);
}

/* --------------------------------------------------------------- probe */

static size_t write_buf(char *d, size_t sz, size_t n, void *user)
{
    buf_add(user, d, sz * n);
    return sz * n;
}

/* GET /v1/models.  0, or -1 with the reason in err. */
static int probe(ur_remote *r, char *err, size_t errcap)
{
    char url[600], errbuf[CURL_ERROR_SIZE];
    snprintf(url, sizeof url, "%s/models", r->info.url);
    CURL *h = easy(r, url, errbuf);
    if (!h) { snprintf(err, errcap, "cannot start libcurl"); return -1; }
    buf b = {.max = MODELS_MAX};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_buf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, r->connect_timeout + 20);
    int rc = perform(r, h);
    long http = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_cleanup(h);
    int ret = -1;
    wire_models m;
    if (rc == -1) snprintf(err, errcap, "stopped");
    else if (rc != CURLE_OK) transfer_error(r, rc, errbuf, err, errcap);
    else if (http == 404) { /* no model list: a plain server, the model as given */
        pthread_mutex_lock(&r->mu);
        snprintf(r->info.model, sizeof r->info.model, "%s", r->want_model);
        r->info.huginn = 0;
        r->info.probed = 1;
        pthread_mutex_unlock(&r->mu);
        ret = 0;
    } else if (http >= 400 || http < 200) {
        char t[600];
        wire_error_text(http, b.p, b.n, t, sizeof t);
        snprintf(err, errcap, "GET %.200s: %.400s", url, t);
    } else if (b.over) snprintf(err, errcap, "GET %s: the answer is too long", url);
    else if (wire_models_parse(b.p ? b.p : "", b.n, r->want_model, &m, err, errcap) == 0) {
        pthread_mutex_lock(&r->mu);
        snprintf(r->info.model, sizeof r->info.model, "%s", m.model);
        r->info.huginn = m.huginn;
        r->info.num_steps_default = m.num_steps_default;
        r->info.max_steps = m.max_steps;
        r->info.probed = 1;
        pthread_mutex_unlock(&r->mu);
        ret = 0;
    }
    free(b.p);
    return ret;
}

static void say_connected(ur_remote *r)
{
    char b[600];
    if (r->info.huginn)
        snprintf(b, sizeof b, "connected to %s: %s (a huginn server: the steps of every token come with it)",
                 r->info.host, r->info.model);
    else
        snprintf(b, sizeof b, "connected to %s: %s (its steps are fixed on the server)", r->info.host,
                 r->info.model[0] ? r->info.model : "its default model");
    ueq_push_text(&r->evq, UE_NOTICE, b);
}

/* -------------------------------------------------------------- stream */

typedef struct stream {
    ur_remote *r;
    CURL *h;
    const us_settings *s;
    int huginn;
    long http;
    int is_sse;             /* -1 undecided, 1 SSE, 0 a whole JSON body    */
    sse_parser sse;
    buf body;               /* an error body, or a whole JSON answer       */
    char error[512];        /* the first error of the stream               */
    int done_seen, finish_seen;
    int stop_reason;
    int n_tokens, n_chunks;
    double steps_sum, t_first, t_last;
    int usage_total, usage_completion;
    double usage_mean;
    float trace[TRACE_MAX];
    int n_trace;
} stream;

static void on_chunk(stream *st, const wire_chunk *c)
{
    ur_remote *r = st->r;
    if (c->kind == WK_PROGRESS) {
        if (c->step >= 1 && c->step <= TRACE_MAX) {
            if (c->step == 1) st->n_trace = 0;
            st->trace[c->step - 1] = (float)c->exit_value;
            if (c->step > st->n_trace) st->n_trace = c->step;
        }
        ue_event ev = {0};
        ev.kind = UE_STEP;
        ev.phase = HG_PHASE_DECODE;
        ev.n_positions = 1;
        ev.step = c->step;
        ev.num_steps = c->num_steps ? c->num_steps : st->s->num_steps;
        ev.exit_value = c->exit_value;
        ev.threshold = st->s->generator == HG_GEN_PLAIN ? us_threshold(st->s) : NAN;
        ueq_push(&r->evq, &ev);
        return;
    }
    if (c->kind != WK_CHUNK) return;
    if (c->finish[0]) { st->finish_seen = 1; st->stop_reason = wire_stop_reason(c->finish); }
    if (c->has_usage) {
        st->usage_total = c->total_tokens;
        st->usage_completion = c->completion_tokens;
        st->usage_mean = c->mean_steps;
    }
    if (!c->has_huginn && !c->content_len) return;
    ue_event ev = {0};
    ev.kind = UE_TOKEN;
    ev.token_id = -1;
    ev.text = malloc(c->content_len + 1);
    if (ev.text) {
        memcpy(ev.text, c->content ? c->content : "", c->content_len);
        ev.text[c->content_len] = 0;
        ev.text_len = c->content_len;
    }
    double t = now_s();
    if (st->n_chunks++ == 0) st->t_first = t;
    st->t_last = t;
    if (c->has_huginn) {
        ev.token_id = c->token_id;
        ev.steps_used = c->steps;
        ev.num_steps = c->num_steps ? c->num_steps : st->s->num_steps;
        ev.criterion = (int)(st->s->generator == HG_GEN_PLAIN ? st->s->criterion : HG_CRIT_OFF);
        ev.threshold = st->s->generator == HG_GEN_PLAIN ? us_threshold(st->s) : NAN;
        /* the progress of this token, when the server sent every step */
        if (st->n_trace >= c->steps && c->steps > 0 && (ev.trace = malloc(sizeof(float) * (size_t)c->steps))) {
            memcpy(ev.trace, st->trace, sizeof(float) * (size_t)c->steps);
            if (!isnan(c->exit_value)) ev.trace[c->steps - 1] = (float)c->exit_value;
            ev.n_trace = c->steps;
        }
        st->n_tokens++;
        st->steps_sum += c->steps;
        ev.n_tokens = st->n_tokens;
        ev.mean_steps = st->steps_sum / st->n_tokens;
    }
    st->n_trace = 0;
    ueq_push(&r->evq, &ev);
}

static int on_sse(void *user, sse_kind k, const char *text, size_t len)
{
    stream *st = user;
    wire_chunk c;
    if (wire_decode(text, len, k == SSE_COMMENT, &c)) {
        snprintf(st->error, sizeof st->error, "out of memory");
        return 1;
    }
    int rc = 0;
    if (c.kind == WK_DONE) { st->done_seen = 1; rc = 2; }
    else if (c.kind == WK_ERROR) {
        snprintf(st->error, sizeof st->error, "%.200s: %.255s", st->r->info.host, c.error);
        rc = 1;
    } else on_chunk(st, &c);
    wire_chunk_free(&c);
    return rc;
}

static size_t write_stream(char *d, size_t sz, size_t n, void *user)
{
    stream *st = user;
    size_t len = sz * n;
    if (!st->http) curl_easy_getinfo(st->h, CURLINFO_RESPONSE_CODE, &st->http);
    if (st->http >= 300 || st->http < 200) { buf_add(&st->body, d, len); return len; }
    if (st->is_sse < 0) {
        size_t i = 0;
        while (i < len && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t')) i++;
        if (i == len) return len;
        st->is_sse = d[i] != '{';   /* a whole JSON answer (the server ignored "stream") */
    }
    if (!st->is_sse) { buf_add(&st->body, d, len); return st->body.over ? 0 : len; }
    int rc = sse_feed(&st->sse, d, len, on_sse, st);
    if (rc == 2) return len;   /* [DONE]: the rest is ignored */
    if (rc == SSE_E_TOO_LONG) snprintf(st->error, sizeof st->error, "%s: a streamed line over %zu bytes", st->r->info.host, (size_t)SSE_MAX_DEFAULT);
    else if (rc == SSE_E_NOMEM) snprintf(st->error, sizeof st->error, "out of memory");
    return rc ? 0 : len;   /* 0 aborts the transfer */
}

/* One streamed request: the reply's events, the end facts into done. */
static void run_request(ur_remote *r, const hg_chat_msg *msgs, int n, const us_settings *s, int huginn,
                        int steps_override, ue_event *done)
{
    char model[256];
    pthread_mutex_lock(&r->mu);
    snprintf(model, sizeof model, "%s", r->info.model);
    pthread_mutex_unlock(&r->mu);
    char *body = wire_request(model, msgs, n, s, huginn, steps_override);
    if (!body) { push_err(r, "out of memory"); done->stop_reason = HG_STOP_NONE; return; }
    char url[600], errbuf[CURL_ERROR_SIZE];
    snprintf(url, sizeof url, "%s/chat/completions", r->info.url);
    stream st;
    memset(&st, 0, sizeof st);
    st.r = r;
    st.s = s;
    st.huginn = huginn;
    st.is_sse = -1;
    st.body.max = ERRBODY_MAX;
    st.usage_mean = NAN;
    sse_init(&st.sse, 0);
    CURL *h = easy(r, url, errbuf);
    st.h = h;
    int rc = CURLE_FAILED_INIT;
    if (h) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_stream);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
        rc = perform(r, h);
        if (!st.http) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st.http);
    }
    done->stop_reason = HG_STOP_NONE;
    if (rc == -1) done->stop_reason = HG_STOP_CANCELLED;
    else if (st.http >= 300 || (st.http && st.http < 200)) {
        char t[600];
        wire_error_text(st.http, st.body.p, st.body.n, t, sizeof t);
        push_err(r, "%s: %s", r->info.host, t);
    } else if (st.error[0]) push_err(r, "%s", st.error);
    else if (rc != CURLE_OK && !st.done_seen) {
        char t[600];
        if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)
            snprintf(t, sizeof t, "%s closed the connection mid-reply (%s)", r->info.host,
                     errbuf[0] ? errbuf : curl_easy_strerror((CURLcode)rc));
        else transfer_error(r, rc, errbuf, t, sizeof t);
        push_err(r, "%s", t);
    } else if (st.is_sse == 0) { /* a whole answer */
        wire_chunk c;
        if (wire_decode(st.body.p ? st.body.p : "", st.body.n, 0, &c) == 0) {
            if (c.kind == WK_ERROR) push_err(r, "%s: %s", r->info.host, c.error);
            else on_chunk(&st, &c);
            wire_chunk_free(&c);
        }
        done->stop_reason = st.stop_reason;
    } else if (!st.done_seen && !st.finish_seen) {
        push_err(r, "%s ended the stream before the reply was complete", r->info.host);
    } else done->stop_reason = st.finish_seen ? st.stop_reason : HG_STOP_TOKEN;
    if (st.finish_seen && done->stop_reason == HG_STOP_NONE && rc != -1 && !st.error[0] && st.http < 300)
        done->stop_reason = HG_STOP_TOKEN;   /* another finish reason ("content_filter", …) */
    if (h) curl_easy_cleanup(h);
    sse_free(&st.sse);
    free(st.body.p);
    free(body);
    int n_tok = st.n_tokens ? st.n_tokens : st.usage_completion ? st.usage_completion : st.n_chunks;
    done->n_tokens = n_tok;   /* a plain server: its chunks (or usage), for tok/s and "stopped after" */
    done->mean_steps = st.n_tokens ? st.steps_sum / st.n_tokens : isnan(st.usage_mean) ? 0 : st.usage_mean;
    done->tok_per_s = n_tok > 1 && st.t_last > st.t_first ? (n_tok - 1) / (st.t_last - st.t_first) : 0;
    pthread_mutex_lock(&r->mu);
    if (st.usage_total) r->last_total = st.usage_total;
    pthread_mutex_unlock(&r->mu);
    done->ctx_used = r->last_total;
}

/* ------------------------------------------------------------- the job */

static void run_job(ur_remote *r, ue_event *out)
{
    us_settings s;
    pthread_mutex_lock(&r->mu);
    s = r->settings;
    int n_sweep = r->n_sweep, sweep[UE_SWEEP_MAX];
    memcpy(sweep, r->sweep, sizeof sweep);
    int probed = r->info.probed;
    pthread_mutex_unlock(&r->mu);
    ue_event done = {0};
    done.kind = UE_DONE;
    done.stop_reason = HG_STOP_NONE;
    done.sweep = n_sweep > 0;
    done.dropped = r->dropped;
    char err[700];
    if (!probed) {
        if (probe(r, err, sizeof err)) {
            if (atomic_load(&r->stop)) done.stop_reason = HG_STOP_CANCELLED;
            else push_err(r, "%s", err);
            *out = done;
            return;
        }
        say_connected(r);
    }
    int huginn = r->info.huginn;
    done.generator = huginn ? (int)s.generator : HG_GEN_PLAIN;
    pthread_mutex_lock(&r->mu);
    snprintf(r->last_cache, sizeof r->last_cache, "%s", s.cache);
    pthread_mutex_unlock(&r->mu);
    if (n_sweep == 0) {
        run_request(r, r->msgs, r->n_msgs, &s, huginn, 0, &done);
    } else if (!huginn) {
        push_err(r, "/sweep: not supported by this server (its steps are fixed on the server)");
    } else {
        if (!s.seed) s.seed = (uint64_t)time(NULL) * 2654435761u % 4294967291u + 1;   /* one seed for every depth */
        for (int k = 0; k < n_sweep; k++) {
            if (atomic_load(&r->stop)) { done.stop_reason = HG_STOP_CANCELLED; break; }
            ue_event b = {0};
            b.kind = UE_RUN_BEGIN;
            b.num_steps = sweep[k];
            b.step = k;
            ueq_push(&r->evq, &b);
            ue_event end = {0};
            end.kind = UE_RUN_END;
            end.num_steps = sweep[k];
            us_settings run = s;
            run.num_steps = sweep[k];
            run_request(r, r->msgs, r->n_msgs, &run, 1, sweep[k], &end);
            ueq_push(&r->evq, &end);
            done.stop_reason = end.stop_reason;
            if (end.stop_reason == HG_STOP_CANCELLED || end.stop_reason == HG_STOP_NONE) break;
        }
        done.n_tokens = 0;
    }
    *out = done;
}

static void *thread_main(void *arg)
{
    ur_remote *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->quit && !(r->busy && r->msgs)) pthread_cond_wait(&r->cv, &r->mu);
        if (r->quit) break;
        pthread_mutex_unlock(&r->mu);
        ue_event done;
        run_job(r, &done);
        pthread_mutex_lock(&r->mu);
        for (int i = 0; i < r->n_msgs; i++) { free((char *)r->msgs[i].role); free((char *)r->msgs[i].content); }
        free(r->msgs);
        r->msgs = NULL;
        r->n_msgs = 0;
        r->busy = 0;
        r->finishing = 1;
        pthread_mutex_unlock(&r->mu);
        ueq_push(&r->evq, &done);
        pthread_mutex_lock(&r->mu);
        r->finishing = 0;
        pthread_cond_broadcast(&r->idle_cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ------------------------------------------------------------ backend */

static void r_set_settings(void *p, const us_settings *s)
{
    ur_remote *r = p;
    pthread_mutex_lock(&r->mu);
    r->settings = *s;
    pthread_mutex_unlock(&r->mu);
}

static int r_sweep(void *p, const hg_chat_msg *msgs, int n, int dropped, const int *steps, int n_steps)
{
    ur_remote *r = p;
    if (n_steps < 0 || n_steps > UE_SWEEP_MAX) return -1;
    pthread_mutex_lock(&r->mu);
    if (r->busy) { pthread_mutex_unlock(&r->mu); return -1; }
    for (int i = 0; i < n_steps; i++) r->sweep[i] = steps[i];
    r->n_sweep = n_steps;
    /* the server is stateless: the whole conversation every time, none left out */
    r->msgs = calloc((size_t)(n ? n : 1), sizeof *r->msgs);
    int ok = r->msgs != NULL;
    for (int i = 0; ok && i < n; i++) {
        r->msgs[i].role = strdup(msgs[i].role);
        r->msgs[i].content = strdup(msgs[i].content ? msgs[i].content : "");
        ok = r->msgs[i].role && r->msgs[i].content;
    }
    if (!ok) {
        for (int i = 0; r->msgs && i < n; i++) { free((char *)r->msgs[i].role); free((char *)r->msgs[i].content); }
        free(r->msgs);
        r->msgs = NULL;
        pthread_mutex_unlock(&r->mu);
        return -1;
    }
    r->n_msgs = n;
    r->dropped = dropped;
    r->busy = 1;
    atomic_store(&r->stop, 0);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static int r_turn(void *p, const hg_chat_msg *msgs, int n, int dropped) { return r_sweep(p, msgs, n, dropped, NULL, 0); }

static int r_busy(void *p)
{
    ur_remote *r = p;
    pthread_mutex_lock(&r->mu);
    int b = r->busy;
    pthread_mutex_unlock(&r->mu);
    return b;
}

static void r_stop(void *p)
{
    ur_remote *r = p;
    atomic_store(&r->stop, 1);
    curl_multi_wakeup(r->multi);
}

static void r_reset(void *p) { (void)p; }   /* the server keeps no conversation */

static void r_ctx_info(void *p, int *used, int *n_ctx, size_t *kv, const char **cache)
{
    ur_remote *r = p;
    pthread_mutex_lock(&r->mu);
    if (used) *used = r->last_total;
    if (n_ctx) *n_ctx = 0;
    if (kv) *kv = 0;
    if (cache) *cache = r->last_cache[0] ? r->last_cache : r->settings.cache;
    pthread_mutex_unlock(&r->mu);
}

static void r_wait_idle(void *p)
{
    ur_remote *r = p;
    pthread_mutex_lock(&r->mu);
    while (r->busy || r->finishing) pthread_cond_wait(&r->idle_cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static int r_wake_fd(const void *p) { return ueq_fd(&((const ur_remote *)p)->evq); }
static int r_pop(void *p, ue_event *ev) { return ueq_pop(&((ur_remote *)p)->evq, ev); }
static void r_drain_wake(void *p) { ueq_drain_wake(&((ur_remote *)p)->evq); }

static void r_info(void *p, ub_info *out)
{
    ur_remote *r = p;
    pthread_mutex_lock(&r->mu);
    *out = r->info;
    pthread_mutex_unlock(&r->mu);
}

static void r_free(void *p)
{
    ur_remote *r = p;
    atomic_store(&r->stop, 1);
    pthread_mutex_lock(&r->mu);
    r->quit = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    curl_multi_wakeup(r->multi);
    pthread_join(r->thread, NULL);
    ueq_free(&r->evq);
    curl_multi_cleanup(r->multi);
    curl_slist_free_all(r->headers);
    memset(r->api_key, 0, sizeof r->api_key);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    pthread_cond_destroy(&r->idle_cv);
    free(r);
    curl_global_cleanup();
}

static const ub_ops remote_ops = {
    r_set_settings, r_turn, r_sweep, r_busy, r_stop, r_reset, r_ctx_info, r_wait_idle,
    r_wake_fd, r_pop, r_drain_wake, r_info, r_free,
};

int ur_start(ub_backend **out, const ur_options *o, const us_settings *s, char *err, size_t errcap)
{
    ur_remote *r = calloc(1, sizeof *r);
    ub_backend *b = calloc(1, sizeof *b);
    if (!r || !b) { free(r); free(b); snprintf(err, errcap, "out of memory"); return -1; }
    r->info.remote = 1;
    if (wire_base_url(o->url, r->info.url, sizeof r->info.url, r->info.host, sizeof r->info.host, err, errcap)) {
        free(r); free(b);
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(r); free(b);
        snprintf(err, errcap, "cannot initialise libcurl");
        return -1;
    }
    r->settings = *s;
    r->connect_timeout = o->connect_timeout_s > 0 ? o->connect_timeout_s : 10;
    r->idle_timeout = o->idle_timeout_s > 0 ? o->idle_timeout_s : 120;
    snprintf(r->want_model, sizeof r->want_model, "%s", o->model ? o->model : "");
    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    r->headers = curl_slist_append(r->headers, "Accept: text/event-stream, application/json");
    if (o->api_key && *o->api_key) {
        char h[1100];
        snprintf(h, sizeof h, "Authorization: Bearer %s", o->api_key);
        r->headers = curl_slist_append(r->headers, h);
        memset(h, 0, sizeof h);
    }
    r->multi = curl_multi_init();
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_cond_init(&r->idle_cv, NULL);
    if (!r->headers || !r->multi || ueq_init(&r->evq, err, errcap)) {
        if (r->multi) curl_multi_cleanup(r->multi);
        curl_slist_free_all(r->headers);
        free(r); free(b);
        curl_global_cleanup();
        if (!err[0]) snprintf(err, errcap, "out of memory");
        return -1;
    }
    /* the model list, once now (the chat opens either way) */
    char perr[700];
    if (probe(r, perr, sizeof perr)) ueq_push_text(&r->evq, UE_ERROR, perr);
    else say_connected(r);
    if (pthread_create(&r->thread, NULL, thread_main, r)) {
        ueq_free(&r->evq);
        curl_multi_cleanup(r->multi);
        curl_slist_free_all(r->headers);
        free(r); free(b);
        curl_global_cleanup();
        snprintf(err, errcap, "cannot start the client thread");
        return -1;
    }
    b->ops = &remote_ops;
    b->impl = r;
    *out = b;
    return 0;
}
