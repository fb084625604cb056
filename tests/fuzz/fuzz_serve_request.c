/* fuzz_serve_request.c — request bodies of `huginn serve` (the JSON of
 * /v1/chat/completions and /v1/completions): parsed for both endpoints;
 * an accepted request must hold what the server relies on (valid UTF-8
 * text, values in range, a consistent generator), a refused one a one-line
 * message and status 400. */
#include "fuzz.h"
#include "serve_request.h"

#include <math.h>

static void check(const sr_request *r, const sr_limits *lim)
{
    if (r->chat) {
        if (r->n_messages < 1 || !r->messages) abort();
        for (int i = 0; i < r->n_messages; i++) {
            const sr_message *m = &r->messages[i];
            if (strcmp(m->role, "system") && strcmp(m->role, "user") && strcmp(m->role, "Huginn")) abort();
            if (!sr_utf8_valid(m->content, strlen(m->content))) abort();
        }
    } else {
        if (!r->prompt == !r->prompt_ids) abort();
        if (r->prompt && !sr_utf8_valid(r->prompt, strlen(r->prompt))) abort();
        for (int i = 0; i < r->n_prompt_ids; i++)
            if (r->prompt_ids[i] < 0 || r->prompt_ids[i] >= lim->vocab_size) abort();
    }
    if (r->max_tokens < 0 || r->max_tokens > lim->max_tokens) abort();
    if (r->num_steps < 0 || r->num_steps > lim->max_steps) abort();
    if (r->temperature_set && !(r->temperature >= 0)) abort();
    if (r->top_p_set && !(r->top_p > 0 && r->top_p <= 1)) abort();
    if (r->n_stop < 0 || r->n_stop > SR_MAX_STOP) abort();
    for (int i = 0; i < r->n_stop; i++)
        if (!r->stop[i][0] || strlen(r->stop[i]) > SR_MAX_STOP_LEN) abort();
    if (r->check_every < 1) abort();
    if (r->generator != HG_GEN_PLAIN && r->criterion != HG_CRIT_OFF) abort();
    if (r->cache) {
        hg_err e;
        if (hg_cache_strategy_check(r->cache, &e) != HG_OK) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const sr_limits lim = {.max_steps = 256, .vocab_size = 4096, .max_tokens = 256};
    for (int chat = 0; chat < 2; chat++) {
        sr_request r;
        sr_error e;
        int rc = sr_parse((const char *)data, size, chat, &lim, &r, &e);
        if (rc == 0) {
            check(&r, &lim);
            sr_request_free(&r);
        } else if (rc != 400 || !e.message[0] || strchr(e.message, '\n')) {
            abort();
        }
    }
    return 0;
}
