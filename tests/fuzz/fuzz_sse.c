/* fuzz_sse.c — what a server sends the chat client: the bytes as an SSE
 * stream, cut into pieces at points taken from the input, every event
 * decoded as a chunk (data and comments); the same bytes as a /v1/models
 * answer, an error body and a --server URL.  Checks: the parser gives the
 * same events however the stream is cut, decoded content is valid UTF-8,
 * and steps stay in the chat's range. */
#include "fuzz.h"
#include "session.h"
#include "settings.h"
#include "sse.h"
#include "wire.h"

typedef struct acc {
    unsigned long hash;
    int events;
} acc;

static int on_event(void *user, sse_kind k, const char *t, size_t n)
{
    acc *a = user;
    a->events++;
    a->hash = a->hash * 31 + (unsigned long)k;
    for (size_t i = 0; i < n; i++) a->hash = a->hash * 131 + (unsigned char)t[i];
    wire_chunk c;
    if (wire_decode(t, n, k == SSE_COMMENT, &c) == 0) {
        if (c.content && !ss_utf8_valid(c.content, c.content_len)) abort();
        if (c.has_huginn && (c.steps < 1 || c.steps > US_MAX_STEPS || c.token_id < 0)) abort();
        if (c.kind == WK_ERROR && (!c.error[0] || strchr(c.error, '\n'))) abort();
        wire_chunk_free(&c);
    }
    return 0;
}

static int run(const uint8_t *d, size_t n, size_t step, acc *a)
{
    sse_parser p;
    sse_init(&p, 4096);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i += step) rc = sse_feed(&p, (const char *)d + i, i + step > n ? n - i : step, on_event, a);
    sse_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    acc whole = {0}, cut = {0};
    int r1 = run(data, size, size ? size : 1, &whole);
    size_t step = size ? 1 + data[0] % 17 : 1;
    int r2 = run(data, size, step, &cut);
    if (r1 != r2 || whole.events != cut.events || whole.hash != cut.hash) abort();

    char err[512], out[512];
    wire_models m;
    if (wire_models_parse((const char *)data, size, size > 3 ? "m" : NULL, &m, err, sizeof err) == 0) {
        if (!m.model[0] || strchr(m.model, '\n')) abort();
    } else if (!err[0]) abort();
    wire_error_text(500, (const char *)data, size, out, sizeof out);
    if (strchr(out, '\n') || !ss_utf8_valid(out, strlen(out))) abort();
    char url[300], base[600], host[300];
    size_t ul = size < sizeof url - 1 ? size : sizeof url - 1;
    memcpy(url, data, ul);
    url[ul] = 0;
    if (wire_base_url(url, base, sizeof base, host, sizeof host, err, sizeof err) == 0) {
        size_t bl = strlen(base);
        if (bl < 3 || strcmp(base + bl - 3, "/v1") || !host[0]) abort();
    }
    return 0;
}
