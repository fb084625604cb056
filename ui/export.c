/* export.c — traces (JSON Lines) and the HTML page of a conversation. */
#include "export.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ buffer */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len)
{
    if (b->oom) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { sb_put(b, tmp, (size_t)n); return; }
    char *big = malloc((size_t)n + 1);
    if (!big) { b->oom = 1; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)n);
    free(big);
}

/* A JSON string (UTF-8 passed through, controls escaped). */
static void sb_json_str(sbuf *b, const char *s, size_t len)
{
    sb_puts(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { char e[3] = {'\\', (char)c, 0}; sb_puts(b, e); }
        else if (c == '\n') sb_puts(b, "\\n");
        else if (c == '\r') sb_puts(b, "\\r");
        else if (c == '\t') sb_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f) sb_printf(b, "\\u%04x", c);
        else sb_put(b, (const char *)&c, 1);
    }
    sb_puts(b, "\"");
}

/* A float as JSON: enough digits to give the float back; null for NaN/inf. */
static void sb_json_num(sbuf *b, double v)
{
    if (!isfinite(v)) { sb_puts(b, "null"); return; }
    sb_printf(b, "%.9g", v);
}

static int sb_write(sbuf *b, const char *path, char *err, size_t errcap)
{
    if (b->oom) { snprintf(err, errcap, "%s: out of memory", path); return -1; }
    return ss_write_atomic(path, b->p ? b->p : "", err, errcap);
}

/* ------------------------------------------------------------ checks */

int ux_check_output(const char *path, char *err, size_t errcap)
{
    if (!path || !*path) { snprintf(err, errcap, "no file name given"); return -1; }
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) { snprintf(err, errcap, "%s: is a directory", path); return -1; }
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errcap, "%s: not a regular file (a FIFO, device or socket): refusing to replace it", path);
            return -1;
        }
    }
    size_t l = strlen(path);
    if (path[l - 1] == '/') { snprintf(err, errcap, "%s: is a directory name", path); return -1; }
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0) { snprintf(err, errcap, "%s: directory %s: %s", path, dir, strerror(errno)); return -1; }
    if (!S_ISDIR(st.st_mode)) { snprintf(err, errcap, "%s: %s is not a directory", path, dir); return -1; }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errcap, "%s: directory %s is not writable", path, dir);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ traces */

int ux_trace_write(const char *path, const ux_tok *toks, int n, char *err, size_t errcap)
{
    if (ux_check_output(path, err, errcap)) return -1;
    sbuf b = {0};
    for (int i = 0; i < n; i++) {
        const ux_tok *t = &toks[i];
        sb_printf(&b, "{\"index\": %d, \"id\": %d, ", i, (int)t->id);
        if (t->text) {
            sb_puts(&b, "\"text\": ");
            sb_json_str(&b, t->text, t->text_len);
            sb_puts(&b, ", ");
        }
        sb_printf(&b, "\"steps\": %d, \"exit_values\": [", t->steps);
        for (int k = 0; k < t->n_trace; k++) {
            if (k) sb_puts(&b, ", ");
            sb_json_num(&b, t->trace[k]);
        }
        sb_puts(&b, "]}\n");
    }
    int rc = sb_write(&b, path, err, errcap);
    free(b.p);
    return rc;
}

int ux_last_reply(const us_session *s)
{
    for (int i = s->n - 1; i >= 0; i--)
        if (!strcmp(s->msg[i].role, "Huginn") && s->msg[i].n_tok > 0) return i;
    return -1;
}

int ux_trace_msg(const us_msg *m, const hg_tokenizer *tok, const char *path, char *err, size_t errcap)
{
    ux_tok *v = calloc((size_t)(m->n_tok ? m->n_tok : 1), sizeof *v);
    if (!v) { snprintf(err, errcap, "out of memory"); return -1; }
    for (int i = 0; i < m->n_tok; i++) {
        const us_token *t = &m->tok[i];
        int b = i + 1 < m->n_tok ? m->tok[i + 1].start : (int)m->len;
        v[i].id = t->id;
        v[i].text = m->content + t->start;
        v[i].text_len = (size_t)(b - t->start);
        if (v[i].text_len == 0 && tok && hg_tokenizer_is_special(tok, t->id) && hg_tokenizer_id_text(tok, t->id)) {
            v[i].text = hg_tokenizer_id_text(tok, t->id);
            v[i].text_len = strlen(v[i].text);
        }
        v[i].steps = t->steps;
        v[i].trace = t->trace;
        v[i].n_trace = t->n_trace;
    }
    int rc = ux_trace_write(path, v, m->n_tok, err, errcap);
    free(v);
    return rc;
}
