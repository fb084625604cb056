/* serve_reply.h — the OpenAI response objects of `huginn serve`, built from
 * a generation's events: server-sent chunks (one per token, each with its
 * "huginn" object) or one whole body; stop strings cut the text and stop
 * the generation. */
#ifndef HG_SERVE_REPLY_H
#define HG_SERVE_REPLY_H

#include "huginn.h"

#include <stddef.h>

typedef void (*rp_write_fn)(void *user, const char *data, size_t n);

typedef struct rp_info {
    const hg_tokenizer *tok;
    int chat;                   /* chat.completion(.chunk) or text_completion */
    int stream;
    const char *id;             /* "chatcmpl-…" / "cmpl-…"                    */
    const char *model;
    long created;
    char *const *stop;          /* stop strings (borrowed)                    */
    int n_stop;
    int num_steps;              /* the step budget                            */
    hg_generator generator;
    int prompt_tokens;
    int reused_tokens;          /* prompt tokens taken from the slot's cache  */
} rp_info;

typedef struct rp_reply rp_reply;

rp_reply *rp_new(const rp_info *info, rp_write_fn write, void *user);
void rp_free(rp_reply *r);
/* Feed an event; returns non-zero when the generation should stop (a stop
 * string appeared).  Streams write a chunk per token and, at most every
 * 50 ms while a token is computed, a progress comment line
 * ": {"object":"huginn.progress","huginn":{...}}". */
int rp_event(rp_reply *r, const hg_event *ev);
/* The end: streams write the last chunk (finish_reason, usage, huginn) and
 * "data: [DONE]"; whole replies write the body. */
void rp_done(rp_reply *r, const hg_gen_result *res, int reused_tokens);
/* A stream that failed after its start: an error chunk and "data: [DONE]". */
void rp_stream_error(rp_reply *r, const char *message);

#endif
