/* test_serve_request.c — the request parser of `huginn serve`
 * (app/serve_request.c): valid chat and completion bodies with every field,
 * and each way a body is refused with 400 (and which field is named). */
#include "testutil.h"
#include "serve_request.h"

#include <math.h>

static const sr_limits LIM = {.max_steps = 256, .vocab_size = 4096, .max_tokens = 256};

static int parse(const char *body, int chat, sr_request *r, sr_error *e)
{
    return sr_parse(body, strlen(body), chat, &LIM, r, e);
}

static void test_chat_minimal(void **state)
{
    (void)state;
    sr_request r;
    sr_error e;
    assert_int_equal(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", 1, &r, &e), 0);
    assert_int_equal(r.chat, 1);
    assert_int_equal(r.n_messages, 1);
    assert_string_equal(r.messages[0].role, "user");
    assert_string_equal(r.messages[0].content, "Hi");
    assert_int_equal(r.stream, 0);
    assert_int_equal(r.max_tokens, 0);
    assert_int_equal(r.num_steps, 0);
    assert_false(r.temperature_set);
    assert_false(r.seed_set);
    assert_true(isnan(r.threshold));
    assert_int_equal(r.criterion, HG_CRIT_OFF);
    assert_int_equal(r.generator, HG_GEN_PLAIN);
    assert_null(r.cache);
    assert_int_equal(r.n_stop, 0);
    sr_request_free(&r);
}

static void test_chat_roles_and_parts(void **state)
{
    (void)state;
    sr_request r;
    sr_error e;
    const char *b = "{\"model\":\"x\",\"messages\":["
                    "{\"role\":\"system\",\"content\":\"Be brief.\"},"
                    "{\"role\":\"developer\",\"content\":null},"
                    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"\xc3\xa9\"}]},"
                    "{\"role\":\"assistant\",\"content\":\"ok\",\"name\":\"n\"}],"
                    "\"frequency_penalty\":0.5,\"logit_bias\":{\"1\":2},\"user\":\"u\"}";
    assert_int_equal(parse(b, 1, &r, &e), 0);
    assert_int_equal(r.n_messages, 4);
    assert_string_equal(r.messages[0].role, "system");
    assert_string_equal(r.messages[1].role, "system");
    assert_string_equal(r.messages[1].content, "");
    assert_string_equal(r.messages[2].content, "a\xc3\xa9");
    assert_string_equal(r.messages[3].role, "Huginn");
    assert_string_equal(r.messages[3].content, "ok");
    sr_request_free(&r);
}

static void test_all_fields(void **state)
{
    (void)state;
    sr_request r;
    sr_error e;
    const char *b = "{\"prompt\":\"Once\",\"max_tokens\":48,\"temperature\":0,\"top_p\":0.9,\"seed\":-3,"
                    "\"stop\":[\"\\n\\n\",\"END\",\"\"],\"stream\":true,\"num_steps\":32,\"criterion\":\"kl\","
                    "\"threshold\":0.001,\"min_steps\":2,\"check_every\":3,\"warmstart\":true,"
                    "\"cache\":\"latest-m4\",\"init_scale\":0,\"top_k\":40,\"min_p\":0.05,"
                    "\"repetition_penalty\":1.1,\"ignore_eos\":true,\"stream_options\":{\"include_usage\":true}}";
    assert_int_equal(parse(b, 0, &r, &e), 0);
    assert_string_equal(r.prompt, "Once");
    assert_int_equal(r.max_tokens, 48);
    assert_true(r.temperature_set);
    assert_true(r.temperature == 0);
    assert_true(r.top_p_set && fabs(r.top_p - 0.9) < 1e-12);
    assert_true(r.seed_set);
    assert_true(r.seed == (uint64_t)(int64_t)-3);
    assert_int_equal(r.n_stop, 2); /* "" stops nothing */
    assert_string_equal(r.stop[0], "\n\n");
    assert_string_equal(r.stop[1], "END");
    assert_int_equal(r.stream, 1);
    assert_int_equal(r.num_steps, 32);
    assert_int_equal(r.criterion, HG_CRIT_KL);
    assert_true(fabs(r.threshold - 0.001) < 1e-15);
    assert_int_equal(r.min_steps, 2);
    assert_int_equal(r.check_every, 3);
    assert_int_equal(r.warmstart, 1);
    assert_string_equal(r.cache, "latest-m4");
    assert_true(r.init_scale_set && r.init_scale == 0);
    assert_true(r.top_k_set && r.top_k == 40);
    assert_true(r.min_p_set && r.rep_set);
    assert_int_equal(r.ignore_eos, 1);
    sr_request_free(&r);

    assert_int_equal(parse("{\"prompt\":\"x\",\"stop\":\"###\",\"threshold\":\"auto\",\"max_completion_tokens\":7}", 0,
                           &r, &e),
                     0);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "###");
    assert_true(isnan(r.threshold));
    assert_int_equal(r.max_tokens, 7);
    sr_request_free(&r);
}

static void test_prompts(void **state)
{
    (void)state;
    sr_request r;
    sr_error e;
    assert_int_equal(parse("{\"prompt\":[\"one prompt\"]}", 0, &r, &e), 0);
    assert_string_equal(r.prompt, "one prompt");
    sr_request_free(&r);
    assert_int_equal(parse("{\"prompt\":[1, 2, 4095]}", 0, &r, &e), 0);
    assert_null(r.prompt);
    assert_int_equal(r.n_prompt_ids, 3);
    assert_int_equal(r.prompt_ids[2], 4095);
    sr_request_free(&r);
}

static void test_generators(void **state)
{
    (void)state;
    sr_request r;
    sr_error e;
    assert_int_equal(parse("{\"prompt\":\"x\",\"draft_steps\":4,\"lookahead\":3}", 0, &r, &e), 0);
    assert_int_equal(r.generator, HG_GEN_SPECULATIVE); /* inferred, as the CLI does */
    assert_int_equal(r.spec.draft_steps, 4);
    assert_int_equal(r.spec.lookahead, 3);
    sr_request_free(&r);
    assert_int_equal(parse("{\"prompt\":\"x\",\"generator\":\"diffusion\",\"inner_recurrence\":2,\"headway\":2,"
                           "\"max_wavefront\":0,\"freeze\":\"fixed\",\"exit_t\":0.1,\"ema_embeds\":0.2,"
                           "\"state_noise_mixing\":0.3,\"dampened_mixer\":\"off\",\"sqrt_mixer\":true,"
                           "\"full_prefill\":false}",
                           0, &r, &e),
                     0);
    assert_int_equal(r.generator, HG_GEN_DIFFUSION);
    assert_int_equal(r.diff.inner_recurrence, 2);
    assert_int_equal(r.diff.headway, 2);
    assert_int_equal(r.diff.max_wavefront, 0);
    assert_int_equal(r.diff.freeze, HG_FREEZE_FIXED);
    assert_int_equal(r.diff.dampened_mixer, 0);
    assert_int_equal(r.diff.sqrt_mixer, 1);
    assert_int_equal(r.diff.full_prefill, 0);
    sr_request_free(&r);
    assert_int_equal(parse("{\"prompt\":\"x\",\"generator\":\"plain\"}", 0, &r, &e), 0);
    assert_int_equal(r.generator, HG_GEN_PLAIN);
    sr_request_free(&r);
}

/* Each body is refused with 400, naming param ("" for the body itself). */
static const struct { int chat; const char *body, *param; } BAD[] = {
    {1, "{", ""},
    {1, "{\"messages\":[]} x", ""},
    {1, "[]", ""},
    {1, "\"text\"", ""},
    {1, "", ""},
    {1, "   ", ""},
    {1, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],}", ""},
    {1, "{\"messages\":[{\"role\":\"user\",\"content\":NaN}]}", ""},
    {1, "{}", "messages"},
    {1, "{\"messages\":{}}", "messages"},
    {1, "{\"messages\":[]}", "messages"},
    {1, "{\"messages\":[1]}", "messages"},
    {1, "{\"messages\":[{\"role\":\"tool\",\"content\":\"a\"}]}", "messages[0].role"},
    {1, "{\"messages\":[{\"content\":\"a\"}]}", "messages[0].role"},
    {1, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":1,\"content\":\"a\"}]}", "messages[1].role"},
    {1, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content"},
    {1, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}",
     "messages[0].content"},
    {0, "{}", "prompt"},
    {0, "{\"prompt\":5}", "prompt"},
    {0, "{\"prompt\":[]}", "prompt"},
    {0, "{\"prompt\":[\"a\",\"b\"]}", "prompt"},
    {0, "{\"prompt\":[[1,2]]}", "prompt"},
    {0, "{\"prompt\":[1,4096]}", "prompt"},
    {0, "{\"prompt\":[1,-1]}", "prompt"},
    {0, "{\"prompt\":[1.5]}", "prompt"},
    {0, "{\"prompt\":\"x\",\"model\":5}", "model"},
    {0, "{\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens"},
    {0, "{\"prompt\":\"x\",\"max_tokens\":257}", "max_tokens"},
    {0, "{\"prompt\":\"x\",\"max_tokens\":1.5}", "max_tokens"},
    {0, "{\"prompt\":\"x\",\"max_tokens\":\"10\"}", "max_tokens"},
    {0, "{\"prompt\":\"x\",\"max_tokens\":1e300}", "max_tokens"},
    {0, "{\"prompt\":\"x\",\"max_tokens\":-1e999}", "max_tokens"},
    {0, "{\"prompt\":\"x\",\"temperature\":-0.5}", "temperature"},
    {0, "{\"prompt\":\"x\",\"temperature\":\"hot\"}", "temperature"},
    {0, "{\"prompt\":\"x\",\"temperature\":1e400}", "temperature"},
    {0, "{\"prompt\":\"x\",\"top_p\":0}", "top_p"},
    {0, "{\"prompt\":\"x\",\"top_p\":1.01}", "top_p"},
    {0, "{\"prompt\":\"x\",\"seed\":1.5}", "seed"},
    {0, "{\"prompt\":\"x\",\"seed\":1e300}", "seed"},
    {0, "{\"prompt\":\"x\",\"seed\":\"7\"}", "seed"},
    {0, "{\"prompt\":\"x\",\"stop\":5}", "stop"},
    {0, "{\"prompt\":\"x\",\"stop\":[1]}", "stop"},
    {0, "{\"prompt\":\"x\",\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\","
        "\"13\",\"14\",\"15\",\"16\",\"17\"]}", "stop"},
    {0, "{\"prompt\":\"x\",\"stream\":\"yes\"}", "stream"},
    {0, "{\"prompt\":\"x\",\"stream\":1}", "stream"},
    {0, "{\"prompt\":\"x\",\"num_steps\":0}", "num_steps"},
    {0, "{\"prompt\":\"x\",\"num_steps\":257}", "num_steps"},
    {0, "{\"prompt\":\"x\",\"num_steps\":99999999999999999999}", "num_steps"},
    {0, "{\"prompt\":\"x\",\"num_steps\":\"32\"}", "num_steps"},
    {0, "{\"prompt\":\"x\",\"criterion\":\"bogus\"}", "criterion"},
    {0, "{\"prompt\":\"x\",\"criterion\":3}", "criterion"},
    {0, "{\"prompt\":\"x\",\"threshold\":\"high\"}", "threshold"},
    {0, "{\"prompt\":\"x\",\"check_every\":0}", "check_every"},
    {0, "{\"prompt\":\"x\",\"warmstart\":\"on\"}", "warmstart"},
    {0, "{\"prompt\":\"x\",\"ignore_eos\":1}", "ignore_eos"},
    {0, "{\"prompt\":\"x\",\"cache\":\"bogus\"}", "cache"},
    {0, "{\"prompt\":\"x\",\"cache\":7}", "cache"},
    {0, "{\"prompt\":\"x\",\"init_scale\":-1}", "init_scale"},
    {0, "{\"prompt\":\"x\",\"repetition_penalty\":0}", "repetition_penalty"},
    {0, "{\"prompt\":\"x\",\"generator\":\"beam\"}", "generator"},
    {0, "{\"prompt\":\"x\",\"generator\":\"diffusion\",\"draft_steps\":4}", "draft_steps"},
    {0, "{\"prompt\":\"x\",\"generator\":\"plain\",\"headway\":2}", "headway"},
    {0, "{\"prompt\":\"x\",\"draft_steps\":4,\"headway\":2}", "headway"},
    {0, "{\"prompt\":\"x\",\"generator\":\"speculative\",\"criterion\":\"kl\"}", "criterion"},
    {0, "{\"prompt\":\"x\",\"generator\":\"diffusion\",\"headway\":2,\"max_wavefront\":2}", "max_wavefront"},
    {0, "{\"prompt\":\"x\",\"generator\":\"diffusion\",\"freeze\":\"never\"}", "freeze"},
    {0, "{\"prompt\":\"x\",\"generator\":\"diffusion\",\"sqrt_mixer\":\"maybe\"}", "sqrt_mixer"},
    {0, "{\"prompt\":\"x\",\"draft_steps\":0}", "draft_steps"},
    {0, "{\"prompt\":\"x\",\"lookahead\":-2}", "lookahead"},
    {0, "{\"prompt\":\"\\ud800\"}", ""},
    {0, "{\"prompt\":\"x\",\"cache\":\"latest-m\\n\\r4\"}", "cache"},
    {0, "{\"prompt\":\"x\",\"criterion\":\"k\\nl\"}", "criterion"},
};

static void test_bad_requests(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        sr_request r;
        sr_error e;
        int rc = parse(BAD[i].body, BAD[i].chat, &r, &e);
        if (rc != 400) fail_msg("body %zu '%s': status %d, expected 400", i, BAD[i].body, rc);
        if (strcmp(e.param, BAD[i].param))
            fail_msg("body %zu '%s': param '%s', expected '%s' (%s)", i, BAD[i].body, e.param, BAD[i].param,
                     e.message);
        assert_true(e.message[0] != 0);
        assert_null(strchr(e.message, '\n'));
        assert_null(r.messages); /* nothing left allocated */
        assert_null(r.prompt);
        assert_int_equal(r.n_stop, 0);
    }
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    sr_request r;
    sr_error e;
    const char bad_content[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\xff\xfe\"}]}";
    assert_int_equal(parse(bad_content, 1, &r, &e), 400);
    assert_non_null(strstr(e.message, "UTF-8"));
    const char overlong[] = "{\"prompt\":\"\xc0\xaf\"}";
    assert_int_equal(parse(overlong, 0, &r, &e), 400);
    const char truncated[] = "{\"prompt\":\"\xe2\x82\"}";
    assert_int_equal(parse(truncated, 0, &r, &e), 400);
    /* a NUL byte inside the body is not JSON */
    const char nul[] = "{\"prompt\":\"a\0b\"}";
    assert_int_equal(sr_parse(nul, sizeof nul - 1, 0, &LIM, &r, &e), 400);
    /* escapes decode to valid UTF-8 */
    assert_int_equal(parse("{\"prompt\":\"\\u00e9\\ud83d\\ude00\"}", 0, &r, &e), 0);
    assert_string_equal(r.prompt, "\xc3\xa9\xf0\x9f\x98\x80");
    sr_request_free(&r);

    assert_true(sr_utf8_valid("", 0));
    assert_true(sr_utf8_valid("\xf4\x8f\xbf\xbf", 4));
    assert_false(sr_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(sr_utf8_valid("\xed\xa0\x80", 3));     /* a surrogate */
    assert_false(sr_utf8_valid("\xe0\x80\x80", 3));     /* overlong */
    assert_false(sr_utf8_valid("\x80", 1));
}

static void test_not_terminated_and_deep(void **state)
{
    (void)state;
    sr_request r;
    sr_error e;
    /* the body need not end in NUL: only len bytes are read */
    const char body[] = "{\"prompt\":\"abc\"}XXXX";
    assert_int_equal(sr_parse(body, sizeof body - 5, 0, &LIM, &r, &e), 0);
    assert_string_equal(r.prompt, "abc");
    sr_request_free(&r);
    /* deep nesting is refused, not a stack overflow */
    size_t n = 200000;
    char *deep = malloc(n + 1);
    memset(deep, '[', n);
    deep[n] = 0;
    assert_int_equal(sr_parse(deep, n, 0, &LIM, &r, &e), 400);
    free(deep);
    /* a big body of many unknown fields is parsed and the fields ignored */
    size_t cap = 1 << 20, at = 0;
    char *big = malloc(cap);
    at += (size_t)snprintf(big + at, cap - at, "{\"prompt\":\"p\"");
    for (int i = 0; i < 20000; i++) at += (size_t)snprintf(big + at, cap - at, ",\"f%d\":[%d,{\"a\":null}]", i, i);
    at += (size_t)snprintf(big + at, cap - at, "}");
    assert_int_equal(sr_parse(big, at, 0, &LIM, &r, &e), 0);
    sr_request_free(&r);
    free(big);
}

static void test_error_json(void **state)
{
    (void)state;
    char *s = sr_error_json("bad \"x\"", "invalid_request_error", "max_tokens", NULL);
    assert_non_null(s);
    assert_string_equal(s, "{\"error\":{\"message\":\"bad \\\"x\\\"\",\"type\":\"invalid_request_error\","
                           "\"param\":\"max_tokens\",\"code\":null}}");
    free(s);
    s = sr_error_json("no", "authentication_error", NULL, "invalid_api_key");
    assert_string_equal(s, "{\"error\":{\"message\":\"no\",\"type\":\"authentication_error\",\"param\":null,"
                           "\"code\":\"invalid_api_key\"}}");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_minimal),      cmocka_unit_test(test_chat_roles_and_parts),
        cmocka_unit_test(test_all_fields),        cmocka_unit_test(test_prompts),
        cmocka_unit_test(test_generators),        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_invalid_utf8),      cmocka_unit_test(test_not_terminated_and_deep),
        cmocka_unit_test(test_error_json),
    };
    return cmocka_run_group_tests_name("serve_request", tests, NULL, NULL);
}
