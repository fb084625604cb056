/* sse.c — server-sent events framing. */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

void sse_init(sse_parser *p, size_t max)
{
    memset(p, 0, sizeof *p);
    p->max = max ? max : SSE_MAX_DEFAULT;
}

void sse_free(sse_parser *p)
{
    free(p->line);
    free(p->data);
    memset(p, 0, sizeof *p);
}

static int grow(char **b, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    char *n = realloc(*b, c);
    if (!n) return -1;
    *b = n;
    *cap = c;
    return 0;
}

/* One complete line (without its end). */
static int on_line(sse_parser *p, const char *l, size_t n, sse_cb cb, void *user)
{
    if (n == 0) { /* the end of an event */
        int rc = 0;
        if (p->has_data) {
            if (grow(&p->data, &p->data_cap, p->data_len + 1)) return SSE_E_NOMEM;
            p->data[p->data_len] = 0;
            rc = cb(user, SSE_DATA, p->data, p->data_len);
        }
        p->data_len = 0;
        p->has_data = 0;
        return rc;
    }
    if (l[0] == ':') {
        size_t s = n > 1 && l[1] == ' ' ? 2 : 1;
        p->line[n] = 0;   /* l is p->line, which has room for its NUL */
        return cb(user, SSE_COMMENT, l + s, n - s);
    }
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    if (fl != 4 || memcmp(l, "data", 4)) return 0;   /* event:, id:, retry:, unknown */
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = (size_t)(l + n - v);
    if (vl && *v == ' ') v++, vl--;
    size_t need = p->data_len + (p->has_data ? 1 : 0) + vl;
    if (need > p->max) return SSE_E_TOO_LONG;
    if (grow(&p->data, &p->data_cap, need + 1)) return SSE_E_NOMEM;
    if (p->has_data) p->data[p->data_len++] = '\n';
    memcpy(p->data + p->data_len, v, vl);
    p->data_len += vl;
    p->has_data = 1;
    return 0;
}

int sse_feed(sse_parser *p, const char *buf, size_t n, sse_cb cb, void *user)
{
    if (p->stopped) return p->stopped;
    for (size_t i = 0; i < n;) {
        char c = buf[i];
        if (c == '\n' && p->cr) { p->cr = 0; i++; continue; }   /* the LF of a CRLF */
        p->cr = 0;
        if (c == '\n' || c == '\r') {
            p->cr = c == '\r';
            i++;
            int rc = on_line(p, p->line, p->line_len, cb, user);
            p->line_len = 0;
            if (rc) return p->stopped = rc;
            continue;
        }
        /* the run of bytes up to the next line end, in one copy */
        size_t j = i;
        while (j < n && buf[j] != '\n' && buf[j] != '\r') j++;
        size_t k = j - i;
        if (p->line_len + k > p->max) return p->stopped = SSE_E_TOO_LONG;
        if (grow(&p->line, &p->line_cap, p->line_len + k + 1)) return p->stopped = SSE_E_NOMEM;
        memcpy(p->line + p->line_len, buf + i, k);
        p->line_len += k;
        i = j;
    }
    return 0;
}

int sse_pending(const sse_parser *p) { return p->line_len > 0 || p->has_data; }
