/* wire.h — the JSON of the OpenAI-compatible HTTP API as the chat client
 * speaks it, pure (no network): the request body of a streamed chat
 * completion, the decoding of one streamed chunk (choices[0].delta, the
 * finish reason, usage, and a huginn server's per-token "huginn" object and
 * progress), GET /v1/models, error bodies, and the server URL. */
#ifndef UI_WIRE_H
#define UI_WIRE_H
#include "huginn.h"
#include "settings.h"
#include <stddef.h>
#include <stdint.h>

typedef enum wire_kind {
    WK_IGNORE = 0,  /* nothing for the UI (a comment, an empty delta)        */
    WK_DONE,        /* data: [DONE]                                           */
    WK_CHUNK,       /* a chat.completion.chunk                                */
    WK_PROGRESS,    /* a huginn server's progress: step of num_steps          */
    WK_ERROR,       /* an error object in the stream, or a malformed chunk    */
} wire_kind;

typedef struct wire_chunk {
    wire_kind kind;
    char *content;          /* CHUNK: delta.content, valid UTF-8 (malloc'd; NULL: none) */
    size_t content_len;
    int has_huginn;         /* CHUNK: the "huginn" object of a token         */
    int32_t token_id;
    int steps, num_steps;   /* PROGRESS: step is the step done               */
    int step;
    double exit_value;      /* NaN when null or absent                       */
    char finish[32];        /* CHUNK: finish_reason ("" none)                */
    int has_usage;
    int prompt_tokens, completion_tokens, total_tokens;
    double mean_steps;      /* NaN when absent                               */
    char error[256];        /* ERROR: the message                            */
} wire_chunk;

/* Decode one SSE event: data (comment 0) or a comment line (comment 1,
 * never an error: only a huginn progress object counts).  0, or -1 when out
 * of memory.  wire_chunk_free releases content. */
int wire_decode(const char *text, size_t len, int comment, wire_chunk *out);
void wire_chunk_free(wire_chunk *c);

/* The body of POST /v1/chat/completions (malloc'd; NULL: out of memory).
 * Roles: "Huginn" is sent as "assistant".  A huginn server also gets the
 * recurrence settings (num_steps: steps_override when > 0); other servers
 * only the OpenAI fields, and stream_options.include_usage. */
char *wire_request(const char *model, const hg_chat_msg *msgs, int n, const us_settings *s, int huginn,
                   int steps_override);

/* GET /v1/models: the model to use (want when given and listed, else the
 * first; want not listed is an error), and whether it is a huginn server.
 * 0, or -1 with a one-line message in err. */
typedef struct wire_models {
    char model[256];
    int huginn, num_steps_default, max_steps;
} wire_models;
int wire_models_parse(const char *body, size_t len, const char *want, wire_models *out, char *err, size_t errcap);

/* An error response: "HTTP 401: <error.message>" (or the first line of a
 * body that is not an error object). */
void wire_error_text(long http, const char *body, size_t len, char *out, size_t cap);

/* A server URL as given (with or without the scheme, with or without /v1,
 * trailing slashes) to its base ending in /v1, and host[:port].  0, or -1
 * with a message. */
int wire_base_url(const char *in, char *base, size_t cap, char *host, size_t hcap, char *err, size_t errcap);

/* "stop" -> HG_STOP_TOKEN, "length" -> HG_STOP_MAX_TOKENS, others NONE. */
int wire_stop_reason(const char *finish);
#endif
