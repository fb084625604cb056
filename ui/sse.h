/* sse.h — server-sent events framing (the WHATWG event-stream format), pure:
 * bytes in, in pieces of any size, events out through a callback.  Lines end
 * in LF, CRLF or CR (a CRLF split across two pieces counts once).  "data:"
 * lines (one leading space stripped) are joined with "\n" and delivered at
 * the blank line that ends the event; comment lines (":" first) are
 * delivered at once, without the colon and one leading space; "event:",
 * "id:", "retry:" and unknown fields are ignored.  A line or an event longer
 * than the limit stops the stream with SSE_E_TOO_LONG. */
#ifndef UI_SSE_H
#define UI_SSE_H
#include <stddef.h>

typedef enum sse_kind { SSE_DATA = 1, SSE_COMMENT } sse_kind;

#define SSE_E_TOO_LONG (-1)
#define SSE_E_NOMEM    (-2)

/* Return non-zero to stop: sse_feed then returns that value. */
typedef int (*sse_cb)(void *user, sse_kind kind, const char *text, size_t len);

typedef struct sse_parser {
    char *line;
    size_t line_len, line_cap;
    char *data;
    size_t data_len, data_cap;
    int has_data;       /* a data line was seen in this event   */
    int cr;             /* the last byte was a CR                */
    int stopped;        /* an error or the callback stopped it   */
    size_t max;         /* most bytes of a line, and of an event */
} sse_parser;

#define SSE_MAX_DEFAULT ((size_t)1 << 20)

void sse_init(sse_parser *p, size_t max);   /* max 0: SSE_MAX_DEFAULT */
void sse_free(sse_parser *p);
/* Feed n bytes: 0, SSE_E_TOO_LONG, SSE_E_NOMEM, or the callback's non-zero
 * value.  After a non-zero return further input is refused (same value). */
int sse_feed(sse_parser *p, const char *buf, size_t n, sse_cb cb, void *user);
/* At the end of the body: 1 when an event (or a line) was left unfinished. */
int sse_pending(const sse_parser *p);
#endif
