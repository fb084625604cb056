/* test_serve_reply.c — the replies of `huginn serve` (app/serve_reply.c)
 * from token events on the demo tokenizer: one chunk per token with its
 * huginn data, the text pieced together equal to the detokenized ids, stop
 * strings cut across token boundaries (never sent, the generation stopped),
 * whole replies, progress comments. */
#include "testutil.h"
#include "serve_reply.h"

#include <cjson/cJSON.h>
#include <math.h>

static hg_tokenizer *g_tok;

static int setup(void **state)
{
    (void)state;
    hg_err e;
    if (hg_tokenizer_load_dir(HG_FIXTURES "/demo-huginn", &g_tok, &e) != HG_OK) {
        fprintf(stderr, "tokenizer: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hg_tokenizer_free(g_tok);
    return 0;
}

typedef struct sink {
    char buf[1 << 16];
    size_t n;
} sink;

static void sink_write(void *user, const char *d, size_t n)
{
    sink *s = user;
    assert_true(s->n + n < sizeof s->buf);
    memcpy(s->buf + s->n, d, n);
    s->n += n;
    s->buf[s->n] = 0;
}

static const char TEXT[] = "The raven flew over the hill. The end. Ravens are clever.";

/* Feed TEXT's tokens; returns how many were fed before the reply asked to stop. */
static int feed(rp_reply *r, const int32_t *ids, int n, int *stopped_at)
{
    *stopped_at = -1;
    for (int i = 0; i < n; i++) {
        hg_event ev = {.type = HG_EV_STEP, .step = 3, .num_steps = 4, .exit_value = 0.25};
        rp_event(r, &ev);
        ev = (hg_event){.type = HG_EV_TOKEN, .token_id = ids[i], .steps_used = 3, .num_steps = 4, .index = i,
                        .exit_value = NAN};
        if (rp_event(r, &ev)) {
            *stopped_at = i;
            return i + 1;
        }
    }
    return n;
}

/* Every "data: " chunk of a stream, parsed; the text of their deltas joined. */
static int chunks(const char *buf, int chat, char *text, size_t cap, int *n_token_chunks, cJSON **last)
{
    int n = 0;
    *n_token_chunks = 0;
    text[0] = 0;
    *last = NULL;
    const char *p = buf;
    while ((p = strstr(p, "data: "))) {
        p += 6;
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        if (!strncmp(p, "[DONE]", 6)) {
            assert_string_equal(end + 2, ""); /* the last thing sent */
            return n;
        }
        cJSON *o = cJSON_ParseWithLength(p, (size_t)(end - p));
        assert_non_null(o);
        assert_string_equal(cJSON_GetObjectItem(o, "object")->valuestring,
                            chat ? "chat.completion.chunk" : "text_completion");
        cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0);
        cJSON *t = chat ? cJSON_GetObjectItem(cJSON_GetObjectItem(c, "delta"), "content") : cJSON_GetObjectItem(c, "text");
        if (t) strncat(text, t->valuestring, cap - strlen(text) - 1);
        cJSON *h = cJSON_GetObjectItem(o, "huginn");
        if (h && cJSON_GetObjectItem(h, "token_id")) {
            (*n_token_chunks)++;
            assert_int_equal(cJSON_GetObjectItem(h, "steps")->valueint, 3);
            assert_int_equal(cJSON_GetObjectItem(h, "num_steps")->valueint, 4);
            assert_true(fabs(cJSON_GetObjectItem(h, "exit")->valuedouble - 0.25) < 1e-12);
        }
        cJSON_Delete(*last);
        *last = o;
        n++;
        p = end + 2;
    }
    fail_msg("no data: [DONE]");
    return n;
}

static void test_stream_pieces_equal_detokenized(void **state)
{
    (void)state;
    int32_t *ids;
    int n;
    hg_err e;
    assert_int_equal(hg_tokenize(g_tok, TEXT, strlen(TEXT), 0, &ids, &n, &e), HG_OK);
    for (int chat = 0; chat < 2; chat++) {
        sink s = {.n = 0};
        rp_info in = {.tok = g_tok, .chat = chat, .stream = 1, .id = "x-1", .model = "demo", .created = 7,
                      .num_steps = 4, .prompt_tokens = 5};
        rp_reply *r = rp_new(&in, sink_write, &s);
        int stopped;
        assert_int_equal(feed(r, ids, n, &stopped), n);
        assert_int_equal(stopped, -1);
        int32_t steps[256];
        for (int i = 0; i < n; i++) steps[i] = 3;
        hg_gen_result res = {.n_out = n, .output_ids = ids, .steps = steps, .stop_reason = HG_STOP_MAX_TOKENS};
        rp_done(r, &res, 2);
        rp_free(r);
        char text[4096];
        int ntc;
        cJSON *last;
        chunks(s.buf, chat, text, sizeof text, &ntc, &last);
        assert_string_equal(text, TEXT);
        assert_int_equal(ntc, n); /* one chunk per token */
        cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(last, "choices"), 0);
        assert_string_equal(cJSON_GetObjectItem(c, "finish_reason")->valuestring, "length");
        cJSON *u = cJSON_GetObjectItem(last, "usage");
        assert_int_equal(cJSON_GetObjectItem(u, "prompt_tokens")->valueint, 5);
        assert_int_equal(cJSON_GetObjectItem(u, "completion_tokens")->valueint, n);
        assert_int_equal(cJSON_GetObjectItem(u, "total_tokens")->valueint, n + 5);
        assert_true(cJSON_GetObjectItem(u, "mean_steps")->valuedouble == 3);
        cJSON *h = cJSON_GetObjectItem(last, "huginn");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "steps")), n);
        assert_int_equal(cJSON_GetObjectItem(h, "reused_prompt_tokens")->valueint, 2);
        cJSON_Delete(last);
        /* progress comments: at most one per 50 ms, so at least the first */
        assert_non_null(strstr(s.buf, ": {\"object\":\"huginn.progress\",\"huginn\":{\"step\":3,\"num_steps\":4,\"exit\":0.25}}\n\n"));
        if (chat) assert_non_null(strstr(s.buf, "\"delta\":{\"role\":\"assistant\""));
    }
    free(ids);
}

static void test_stop_strings(void **state)
{
    (void)state;
    int32_t *ids;
    int n;
    hg_err e;
    assert_int_equal(hg_tokenize(g_tok, TEXT, strlen(TEXT), 0, &ids, &n, &e), HG_OK);
    /* stops that begin inside a token, span tokens, and never appear */
    static const struct { const char *stop; const char *want; } CASES[] = {
        {"hill. The", "The raven flew over the "},
        {"e end", "The raven flew over the hill. Th"},
        {"aven", "The r"},
        {"clever.", "The raven flew over the hill. The end. Ravens are "},
        {"nowhere", TEXT},
    };
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        for (int stream = 0; stream < 2; stream++) {
            sink s = {.n = 0};
            char *stops[2] = {"zzz", (char *)CASES[k].stop};
            rp_info in = {.tok = g_tok, .chat = 1, .stream = stream, .id = "x", .model = "demo", .stop = stops,
                          .n_stop = 2, .num_steps = 4};
            rp_reply *r = rp_new(&in, sink_write, &s);
            int stopped;
            int fed = feed(r, ids, n, &stopped);
            int found = strstr(TEXT, CASES[k].stop) != NULL;
            if (found) assert_true(stopped >= 0 && fed <= n);
            else assert_int_equal(stopped, -1);
            int32_t steps[256];
            for (int i = 0; i < fed; i++) steps[i] = 3;
            hg_gen_result res = {.n_out = fed, .output_ids = ids, .steps = steps,
                                 .stop_reason = found ? HG_STOP_CANCELLED : HG_STOP_MAX_TOKENS};
            rp_done(r, &res, 0);
            rp_free(r);
            const char *want_finish = found ? "stop" : "length";
            if (stream) {
                char text[4096];
                int ntc;
                cJSON *last;
                chunks(s.buf, 1, text, sizeof text, &ntc, &last);
                if (strcmp(text, CASES[k].want)) fail_msg("stop '%s': sent '%s'", CASES[k].stop, text);
                assert_int_equal(ntc, fed);
                cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(last, "choices"), 0);
                assert_string_equal(cJSON_GetObjectItem(c, "finish_reason")->valuestring, want_finish);
                cJSON_Delete(last);
            } else {
                cJSON *o = cJSON_Parse(s.buf);
                assert_non_null(o);
                assert_string_equal(cJSON_GetObjectItem(o, "object")->valuestring, "chat.completion");
                cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0);
                cJSON *m = cJSON_GetObjectItem(c, "message");
                assert_string_equal(cJSON_GetObjectItem(m, "role")->valuestring, "assistant");
                if (strcmp(cJSON_GetObjectItem(m, "content")->valuestring, CASES[k].want))
                    fail_msg("stop '%s': whole reply '%s'", CASES[k].stop, cJSON_GetObjectItem(m, "content")->valuestring);
                assert_string_equal(cJSON_GetObjectItem(c, "finish_reason")->valuestring, want_finish);
                assert_null(strstr(s.buf, "huginn.progress")); /* only streams get progress */
                cJSON_Delete(o);
            }
        }
    }
    free(ids);
}

static void test_stream_error(void **state)
{
    (void)state;
    sink s = {.n = 0};
    rp_info in = {.tok = g_tok, .chat = 0, .stream = 1, .id = "x", .model = "demo", .num_steps = 4};
    rp_reply *r = rp_new(&in, sink_write, &s);
    rp_stream_error(r, "out of \"memory\"");
    rp_free(r);
    assert_string_equal(s.buf, "data: {\"error\":{\"message\":\"out of \\\"memory\\\"\",\"type\":\"server_error\","
                               "\"param\":null,\"code\":null}}\n\ndata: [DONE]\n\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_pieces_equal_detokenized),
        cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_stream_error),
    };
    return cmocka_run_group_tests_name("serve_reply", tests, setup, teardown);
}
