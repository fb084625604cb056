/* remote.h — the chat's replies from an OpenAI-compatible server (huginn
 * serve, vLLM, …) over HTTP with libcurl, on its own thread, as a backend
 * (backend.h).  GET /v1/models finds the model and tells a huginn server
 * (per-token steps, the recurrence settings sent with every request) from
 * any other (steps fixed on the server); POST /v1/chat/completions streams
 * the reply as server-sent events, turned into the UI's events.  Ctrl-C
 * aborts the transfer at once; connection errors, HTTP errors, a stream cut
 * short and malformed chunks end the reply with one line of error. */
#ifndef UI_REMOTE_H
#define UI_REMOTE_H
#include "backend.h"

typedef struct ur_options {
    const char *url;            /* as given: with or without /v1          */
    const char *api_key;        /* Authorization: Bearer KEY (NULL: none) */
    const char *model;          /* --remote-model (NULL: the first listed) */
    long connect_timeout_s;     /* 0: 10                                  */
    long idle_timeout_s;        /* no byte for this long ends a reply (0: 120) */
} ur_options;

/* Start the client: checks the URL (-1 with a message in err when it is not
 * one), then asks the server for its models once (an unreachable server is
 * not an error here: the chat opens, shows why, and asks again with the next
 * message). */
int ur_start(ub_backend **out, const ur_options *o, const us_settings *s, char *err, size_t errcap);
#endif
