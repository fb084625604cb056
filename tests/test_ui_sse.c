/* test_ui_sse.c — the chat client's wire format: SSE framing fed in pieces
 * cut at every byte boundary (LF, CRLF, CR, comments, fields, [DONE], huge
 * lines), the decoding of huginn and plain chunks, progress as data and as
 * comments, error objects, malformed JSON, the request body, /v1/models,
 * error bodies and server URLs. */
#include "testutil.h"
#include <math.h>
#include "session.h"
#include "sse.h"
#include "wire.h"

/* Events collected: kind letter ('D' data, 'C' comment) then the text, one
 * per line. */
typedef struct col {
    char out[8192];
    size_t n;
    int events, stop_after;
} col;

static int collect(void *user, sse_kind k, const char *t, size_t len)
{
    col *c = user;
    assert_int_equal(t[len], 0);    /* NUL-terminated for the decoder */
    int w = snprintf(c->out + c->n, sizeof c->out - c->n, "%c[%.*s]\n", k == SSE_DATA ? 'D' : 'C', (int)len, t);
    c->n += (size_t)w;
    c->events++;
    return c->stop_after && c->events >= c->stop_after ? 7 : 0;
}

/* Feed s whole, then cut in two at every boundary and in 1-byte pieces: the
 * events must be the same every time. */
static void check_split(const char *s, const char *want)
{
    size_t n = strlen(s);
    for (size_t cut = 0; cut <= n + 1; cut++) {
        sse_parser p;
        col c = {0};
        sse_init(&p, 0);
        if (cut <= n) {
            assert_int_equal(sse_feed(&p, s, cut, collect, &c), 0);
            assert_int_equal(sse_feed(&p, s + cut, n - cut, collect, &c), 0);
        } else {
            for (size_t i = 0; i < n; i++) assert_int_equal(sse_feed(&p, s + i, 1, collect, &c), 0);
        }
        if (strcmp(c.out, want)) fail_msg("cut %zu of %zu: got\n%s\nwant\n%s", cut, n, c.out, want);
        sse_free(&p);
    }
}

static void test_sse_framing(void **st)
{
    (void)st;
    check_split("data: {\"a\":1}\n\ndata: [DONE]\n\n", "D[{\"a\":1}]\nD[[DONE]]\n");
    check_split("data: {\"a\":1}\r\n\r\ndata:x\r\n\r\n", "D[{\"a\":1}]\nD[x]\n");
    check_split("data: a\r\rdata: b\r\r", "D[a]\nD[b]\n");                   /* bare CR */
    check_split("data: one\ndata: two\n\n", "D[one\ntwo]\n");                 /* joined */
    check_split(": keep-alive\n: {\"huginn\":{\"step\":3}}\ndata: x\n\n",
                "C[keep-alive]\nC[{\"huginn\":{\"step\":3}}]\nD[x]\n");
    check_split("event: message\nid: 7\nretry: 100\ndata: y\nfoo: bar\n\n", "D[y]\n");  /* fields ignored */
    check_split("data:  two spaces\n\n", "D[ two spaces]\n");                 /* only one stripped */
    check_split("data\n\n", "D[]\n");                                         /* no colon: empty */
    check_split("\n\n\nevent: ping\n\n", "");                                 /* no data: no event */
    check_split("data: {\"x\":\"\xe7\x9a\x84\"}\n\n", "D[{\"x\":\"\xe7\x9a\x84\"}]\n");
    /* an event not ended by a blank line is pending at the end */
    sse_parser p;
    col c = {0};
    sse_init(&p, 0);
    assert_int_equal(sse_feed(&p, "data: cut", 9, collect, &c), 0);
    assert_true(sse_pending(&p));
    assert_int_equal(c.events, 0);
    sse_free(&p);
    sse_init(&p, 0);
    assert_int_equal(sse_feed(&p, "data: x\n\n", 9, collect, &c), 0);
    assert_false(sse_pending(&p));
    sse_free(&p);
}

static void test_sse_limits(void **st)
{
    (void)st;
    /* a huge line: refused once over the limit, in any pieces, and after */
    sse_parser p;
    col c = {0};
    sse_init(&p, 1000);
    char *big = malloc(5000);
    memcpy(big, "data: ", 6);
    memset(big + 6, 'x', 4994);
    int rc = 0;
    for (size_t i = 0; i < 5000 && rc == 0; i += 333) rc = sse_feed(&p, big + i, i + 333 > 5000 ? 5000 - i : 333, collect, &c);
    assert_int_equal(rc, SSE_E_TOO_LONG);
    assert_int_equal(sse_feed(&p, "\n\n", 2, collect, &c), SSE_E_TOO_LONG);
    assert_int_equal(c.events, 0);
    sse_free(&p);
    /* many data lines adding up past the limit */
    sse_init(&p, 100);
    rc = 0;
    for (int i = 0; i < 50 && rc == 0; i++) rc = sse_feed(&p, "data: 0123456789\n", 17, collect, &c);
    assert_int_equal(rc, SSE_E_TOO_LONG);
    sse_free(&p);
    /* a large event under the default limit goes through */
    sse_init(&p, 0);
    memcpy(big + 4998, "\n\n", 2);
    c = (col){0};
    assert_int_equal(sse_feed(&p, big, 5000, collect, &c), 0);
    assert_int_equal(c.events, 1);
    sse_free(&p);
    free(big);
    /* the callback stops the stream */
    sse_init(&p, 0);
    c = (col){0};
    c.stop_after = 1;
    assert_int_equal(sse_feed(&p, "data: a\n\ndata: b\n\n", 18, collect, &c), 7);
    assert_int_equal(c.events, 1);
    assert_int_equal(sse_feed(&p, "data: c\n\n", 9, collect, &c), 7);
    sse_free(&p);
}

static wire_chunk dec(const char *s, int comment)
{
    wire_chunk c;
    assert_int_equal(wire_decode(s, strlen(s), comment, &c), 0);
    return c;
}

static void test_decode_huginn(void **st)
{
    (void)st;
    wire_chunk c = dec("{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},"
                       "\"finish_reason\":null}]}", 0);
    assert_int_equal(c.kind, WK_CHUNK);
    assert_null(c.content);
    assert_false(c.has_huginn);
    assert_string_equal(c.finish, "");
    c = dec("{\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" raven\"},\"finish_reason\":null}],"
            "\"huginn\":{\"token_id\":4711,\"steps\":7,\"exit\":0.00031,\"num_steps\":32}}", 0);
    assert_int_equal(c.kind, WK_CHUNK);
    assert_string_equal(c.content, " raven");
    assert_int_equal(c.content_len, 6);
    assert_true(c.has_huginn);
    assert_int_equal(c.token_id, 4711);
    assert_int_equal(c.steps, 7);
    assert_int_equal(c.num_steps, 32);
    assert_true(fabs(c.exit_value - 0.00031) < 1e-12);
    wire_chunk_free(&c);
    /* an incomplete UTF-8 sequence: content "", exit null */
    c = dec("{\"choices\":[{\"delta\":{\"content\":\"\"}}],\"huginn\":{\"token_id\":5,\"steps\":32,\"exit\":null,\"num_steps\":32}}", 0);
    assert_int_equal(c.content_len, 0);
    assert_true(c.has_huginn);
    assert_true(isnan(c.exit_value));
    wire_chunk_free(&c);
    /* steps clamped to the chat's range; a bad token id means no huginn data */
    c = dec("{\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"huginn\":{\"token_id\":5,\"steps\":100000,\"num_steps\":9}}", 0);
    assert_int_equal(c.steps, 256);
    wire_chunk_free(&c);
    c = dec("{\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"huginn\":{\"token_id\":-3,\"steps\":2}}", 0);
    assert_false(c.has_huginn);
    wire_chunk_free(&c);
    c = dec("{\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"huginn\":{\"token_id\":\"5\",\"steps\":2}}", 0);
    assert_false(c.has_huginn);
    wire_chunk_free(&c);
    /* the final chunk */
    c = dec("{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
            "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":30,\"total_tokens\":42,\"mean_steps\":9.5}}", 0);
    assert_string_equal(c.finish, "stop");
    assert_int_equal(wire_stop_reason(c.finish), HG_STOP_TOKEN);
    assert_true(c.has_usage);
    assert_int_equal(c.prompt_tokens, 12);
    assert_int_equal(c.completion_tokens, 30);
    assert_int_equal(c.total_tokens, 42);
    assert_true(c.mean_steps == 9.5);
    /* progress as a data chunk and as a comment */
    c = dec("{\"object\":\"huginn.progress\",\"huginn\":{\"step\":5,\"num_steps\":32,\"exit\":0.25}}", 0);
    assert_int_equal(c.kind, WK_PROGRESS);
    assert_int_equal(c.step, 5);
    assert_int_equal(c.num_steps, 32);
    assert_true(c.exit_value == 0.25);
    c = dec("{\"huginn\":{\"step\":6,\"num_steps\":32,\"exit\":null}}", 1);
    assert_int_equal(c.kind, WK_PROGRESS);
    assert_int_equal(c.step, 6);
    assert_true(isnan(c.exit_value));
    /* other comments are ignored, never errors */
    assert_int_equal(dec("keep-alive", 1).kind, WK_IGNORE);
    assert_int_equal(dec("{not json", 1).kind, WK_IGNORE);
    assert_int_equal(dec("{\"huginn\":{\"token_id\":1}}", 1).kind, WK_IGNORE);
    assert_int_equal(dec("", 1).kind, WK_IGNORE);
}

static void test_decode_plain(void **st)
{
    (void)st;
    /* vLLM: no huginn object; usage in a last chunk with no choices */
    wire_chunk c = dec("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
                       "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,\"finish_reason\":null}]}", 0);
    assert_int_equal(c.kind, WK_CHUNK);
    assert_string_equal(c.content, "Hello");
    assert_false(c.has_huginn);
    wire_chunk_free(&c);
    c = dec("{\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}", 0);
    assert_int_equal(wire_stop_reason(c.finish), HG_STOP_MAX_TOKENS);
    c = dec("{\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}", 0);
    assert_true(c.has_usage);
    assert_int_equal(c.total_tokens, 7);
    assert_true(isnan(c.mean_steps));
    assert_int_equal(dec("[DONE]", 0).kind, WK_DONE);
    assert_int_equal(dec(" [DONE] ", 0).kind, WK_DONE);
    /* invalid UTF-8 inside a JSON string is repaired */
    c = dec("{\"choices\":[{\"delta\":{\"content\":\"a\xff" "b\"}}]}", 0);
    assert_string_equal(c.content, "a\xef\xbf\xbd" "b");
    wire_chunk_free(&c);
    /* a whole (non-streamed) completion is read too */
    c = dec("{\"object\":\"chat.completion\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
            "\"finish_reason\":\"stop\"}]}", 0);
    assert_string_equal(c.content, "Hi");
    assert_string_equal(c.finish, "stop");
    wire_chunk_free(&c);
}

static void test_decode_errors(void **st)
{
    (void)st;
    wire_chunk c = dec("{\"choices\":[{\"delta\":{\"content\":\"x\"", 0);
    assert_int_equal(c.kind, WK_ERROR);
    assert_non_null(strstr(c.error, "malformed JSON"));
    assert_int_equal(dec("[1,2]", 0).kind, WK_ERROR);
    assert_int_equal(dec("garbage", 0).kind, WK_ERROR);
    c = dec("{\"error\":{\"message\":\"out of\\nmemory\",\"type\":\"server_error\"}}", 0);
    assert_int_equal(c.kind, WK_ERROR);
    assert_string_equal(c.error, "out of memory");   /* one line */
    c = dec("{\"error\":\"plain\"}", 0);
    assert_string_equal(c.error, "plain");
    c = dec("{\"error\":{\"message\":\"\"}}", 0);
    assert_string_equal(c.error, "the server reported an error");
    /* a chunk with no choices and nothing else: nothing to show */
    c = dec("{\"object\":\"chat.completion.chunk\",\"choices\":[]}", 0);
    assert_int_equal(c.kind, WK_CHUNK);
    assert_null(c.content);
    /* a huge content string */
    size_t n = 300000;
    char *big = malloc(n + 64);
    int h = snprintf(big, 64, "{\"choices\":[{\"delta\":{\"content\":\"");
    memset(big + h, 'z', n);
    strcpy(big + h + n, "\"}}]}");
    c = dec(big, 0);
    assert_int_equal(c.content_len, n);
    wire_chunk_free(&c);
    free(big);
}

static void test_error_body(void **st)
{
    (void)st;
    char out[512];
    const char *b = "{\"error\":{\"message\":\"invalid api key\",\"type\":\"invalid_request_error\"}}";
    wire_error_text(401, b, strlen(b), out, sizeof out);
    assert_string_equal(out, "HTTP 401 (unauthorized: check --api-key-file): invalid api key");
    b = "{\"error\":{\"message\":\"boom\"}}";
    wire_error_text(500, b, strlen(b), out, sizeof out);
    assert_string_equal(out, "HTTP 500: boom");
    b = "{\"detail\":\"Not Found\"}";
    wire_error_text(404, b, strlen(b), out, sizeof out);
    assert_string_equal(out, "HTTP 404 (not found): Not Found");
    b = "<html>Bad gateway\nmore</html>";
    wire_error_text(502, b, strlen(b), out, sizeof out);
    assert_string_equal(out, "HTTP 502: <html>Bad gateway");
    wire_error_text(503, NULL, 0, out, sizeof out);
    assert_string_equal(out, "HTTP 503");
    /* long or broken text is cut at a character boundary, stays valid UTF-8 */
    char big[2048] = "{\"error\":{\"message\":\"";
    for (int i = 0; i < 300; i++) strcat(big, "\xc3\xa9");
    strcat(big, "\"}}");
    char small[101];
    wire_error_text(500, big, strlen(big), small, sizeof small);
    assert_true(ss_utf8_valid(small, strlen(small)));
    assert_true(strlen(small) >= 98);
    char junk[200];
    memset(junk, 0xf1, sizeof junk);
    wire_error_text(502, junk, sizeof junk, out, sizeof out);
    assert_true(ss_utf8_valid(out, strlen(out)));
    assert_non_null(strstr(out, "HTTP 502: \xef\xbf\xbd"));
}

static void test_request(void **st)
{
    (void)st;
    us_settings s;
    us_defaults(&s, 32);
    s.num_steps = 24;
    s.seed = 7;
    hg_chat_msg m[3] = {{"system", "Be brief."}, {"user", "Hi"}, {"Huginn", "Hello"}};
    char *r = wire_request("huginn-0125", m, 3, &s, 1, 0);
    cJSON *j = cJSON_Parse(r);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "huginn-0125");
    cJSON *msgs = cJSON_GetObjectItem(j, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 3);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 2), "role")->valuestring, "assistant");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "stream")));
    assert_int_equal(cJSON_GetObjectItem(j, "max_tokens")->valueint, 256);
    assert_true(cJSON_GetObjectItem(j, "temperature")->valuedouble == 0);   /* greedy */
    assert_null(cJSON_GetObjectItem(j, "top_p"));
    assert_int_equal(cJSON_GetObjectItem(j, "seed")->valueint, 7);
    assert_int_equal(cJSON_GetObjectItem(j, "num_steps")->valueint, 24);
    assert_string_equal(cJSON_GetObjectItem(j, "criterion")->valuestring, "kl");
    assert_true(fabs(cJSON_GetObjectItem(j, "threshold")->valuedouble - 5e-4) < 1e-12);
    assert_string_equal(cJSON_GetObjectItem(j, "cache")->valuestring, "latest-m4");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "warmstart")));
    assert_string_equal(cJSON_GetObjectItem(j, "generator")->valuestring, "plain");
    assert_null(cJSON_GetObjectItem(j, "stream_options"));
    cJSON_Delete(j);
    free(r);
    /* a sweep's depth; speculative without the criterion */
    s.generator = HG_GEN_SPECULATIVE;
    s.greedy = 0;
    r = wire_request("m", m, 2, &s, 1, 8);
    j = cJSON_Parse(r);
    assert_int_equal(cJSON_GetObjectItem(j, "num_steps")->valueint, 8);
    assert_null(cJSON_GetObjectItem(j, "criterion"));
    assert_int_equal(cJSON_GetObjectItem(j, "draft_steps")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItem(j, "lookahead")->valueint, 4);
    assert_true(fabs(cJSON_GetObjectItem(j, "temperature")->valuedouble - 0.7) < 1e-6);
    assert_true(fabs(cJSON_GetObjectItem(j, "top_p")->valuedouble - 0.9) < 1e-6);
    cJSON_Delete(j);
    free(r);
    /* another server: only the OpenAI fields */
    r = wire_request("m", m, 2, &s, 0, 0);
    j = cJSON_Parse(r);
    const char *huginn_only[] = {"num_steps", "criterion", "threshold", "warmstart", "cache", "generator", "draft_steps", "lookahead"};
    for (size_t i = 0; i < sizeof huginn_only / sizeof *huginn_only; i++) assert_null(cJSON_GetObjectItem(j, huginn_only[i]));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "stream_options"), "include_usage")));
    cJSON_Delete(j);
    free(r);
}

static void test_models(void **st)
{
    (void)st;
    wire_models m;
    char err[256];
    const char *h = "{\"object\":\"list\",\"data\":[{\"id\":\"demo-huginn\",\"object\":\"model\",\"owned_by\":\"huginn\","
                    "\"huginn\":{\"num_steps_default\":32,\"max_steps\":256}}]}";
    assert_int_equal(wire_models_parse(h, strlen(h), NULL, &m, err, sizeof err), 0);
    assert_string_equal(m.model, "demo-huginn");
    assert_true(m.huginn);
    assert_int_equal(m.num_steps_default, 32);
    assert_int_equal(m.max_steps, 256);
    const char *v = "{\"object\":\"list\",\"data\":[{\"id\":\"a\",\"object\":\"model\"},{\"id\":\"tomg-group-umd/huginn-0125\"}]}";
    assert_int_equal(wire_models_parse(v, strlen(v), NULL, &m, err, sizeof err), 0);
    assert_string_equal(m.model, "a");
    assert_false(m.huginn);
    assert_int_equal(wire_models_parse(v, strlen(v), "tomg-group-umd/huginn-0125", &m, err, sizeof err), 0);
    assert_string_equal(m.model, "tomg-group-umd/huginn-0125");
    assert_int_equal(wire_models_parse(v, strlen(v), "nope", &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "no model 'nope'"));
    assert_non_null(strstr(err, "a, tomg-group-umd/huginn-0125"));
    assert_int_equal(wire_models_parse("{\"data\":[]}", 11, NULL, &m, err, sizeof err), -1);
    assert_int_equal(wire_models_parse("<html>", 6, NULL, &m, err, sizeof err), -1);
    assert_int_equal(wire_models_parse("{\"data\":[{\"id\":5}]}", 18, NULL, &m, err, sizeof err), -1);
}

static void test_urls(void **st)
{
    (void)st;
    char b[600], h[300], err[300];
    struct { const char *in, *base, *host; } ok[] = {
        {"http://127.0.0.1:8080", "http://127.0.0.1:8080/v1", "127.0.0.1:8080"},
        {"http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1", "127.0.0.1:8080"},
        {"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1", "127.0.0.1:8080"},
        {"http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1", "127.0.0.1:8080"},
        {"https://gpu.example.org/api", "https://gpu.example.org/api/v1", "gpu.example.org"},
        {"localhost:8000", "http://localhost:8000/v1", "localhost:8000"},
        {"http://[::1]:9/v1", "http://[::1]:9/v1", "[::1]:9"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(wire_base_url(ok[i].in, b, sizeof b, h, sizeof h, err, sizeof err), 0);
        assert_string_equal(b, ok[i].base);
        assert_string_equal(h, ok[i].host);
    }
    const char *bad[] = {"ftp://x", "http://", "", "http://a b", "http://x/?q=1", "/v1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(wire_base_url(bad[i], b, sizeof b, h, sizeof h, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_framing), cmocka_unit_test(test_sse_limits),
        cmocka_unit_test(test_decode_huginn), cmocka_unit_test(test_decode_plain),
        cmocka_unit_test(test_decode_errors), cmocka_unit_test(test_error_body),
        cmocka_unit_test(test_request), cmocka_unit_test(test_models), cmocka_unit_test(test_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
