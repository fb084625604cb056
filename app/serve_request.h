/* serve_request.h — the requests of `huginn serve`: JSON bytes of a
 * /v1/chat/completions or /v1/completions body to a validated request, or
 * an HTTP status with an OpenAI-style error.  Pure: no model, no I/O (the
 * prompt's token count is checked by the caller, which tokenizes). */
#ifndef HG_SERVE_REQUEST_H
#define HG_SERVE_REQUEST_H

#include "huginn.h"

#include <stddef.h>
#include <stdint.h>

#define SR_MAX_STOP 16        /* stop strings per request                     */
#define SR_MAX_STOP_LEN 256   /* bytes per stop string                        */
#define SR_MAX_MESSAGES 4096  /* messages per chat request                    */

/* What the server allows (from its model and options). */
typedef struct sr_limits {
    int max_steps;            /* num_steps, draft_steps: 1..max_steps           */
    int vocab_size;           /* token-id prompts: 0..vocab_size-1             */
    int max_tokens;           /* max_tokens: 1..max_tokens (the context)       */
} sr_limits;

typedef struct sr_error {
    int status;               /* 400 (an invalid request)                      */
    char message[256];
    char param[64];           /* the field at fault ("" when none)            */
} sr_error;

typedef struct sr_message {
    char *role;               /* "system", "user" or "Huginn" (for assistant) */
    char *content;
} sr_message;

typedef struct sr_request {
    int chat;                 /* 1: /v1/chat/completions, 0: /v1/completions  */
    /* chat */
    sr_message *messages;
    int n_messages;
    /* completion: text, or token ids */
    char *prompt;
    int32_t *prompt_ids;
    int n_prompt_ids;
    /* OpenAI fields; *_set say the client gave them */
    int max_tokens;           /* 0 = not given                                 */
    int stream;
    int temperature_set, top_p_set, seed_set;
    double temperature;       /* 0 = greedy                                    */
    double top_p;
    uint64_t seed;
    char *stop[SR_MAX_STOP];
    int n_stop;
    /* huginn's own (the names of `huginn run`'s long options, _ for -) */
    int num_steps;            /* 0 = the model's mean_recurrence               */
    int top_k_set, min_p_set, rep_set, init_scale_set;
    int top_k;
    double min_p, repetition_penalty, init_scale;
    hg_criterion criterion;   /* HG_CRIT_OFF unless given                      */
    double threshold;         /* NaN = auto                                    */
    int min_steps, check_every;
    int warmstart;
    int ignore_eos;           /* no stop tokens: exactly max_tokens (vLLM's name) */
    char *cache;              /* NULL = the default ("full"; diffusion: latest-m4-compress-s4) */
    hg_generator generator;
    hg_spec_params spec;
    hg_diff_params diff;
} sr_request;

/* Parse and validate body[0..len) (need not be NUL-terminated) for the
 * chat (chat = 1) or the completions endpoint.  Returns 0 and fills req
 * (free it with sr_request_free), or the HTTP status (400) with err filled
 * and req left empty.  Unknown fields are ignored; known fields of the wrong
 * type or out of range, malformed JSON and invalid UTF-8 are errors. */
int sr_parse(const char *body, size_t len, int chat, const sr_limits *lim, sr_request *req, sr_error *err);
void sr_request_free(sr_request *req);

/* 1 when s[0..n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int sr_utf8_valid(const char *s, size_t n);

/* An OpenAI-style error body, malloc'd:
 * {"error":{"message":…,"type":…,"param":…|null,"code":…|null}}. */
char *sr_error_json(const char *message, const char *type, const char *param, const char *code);

#endif
