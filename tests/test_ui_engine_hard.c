/* test_ui_engine_hard.c — the chat's engine thread on the tiny checkpoint: a
 * sampled reply is the same tokens `huginn run` gives for the seed, the end
 * of a reply is never lost when the event queue cannot grow, and a failed
 * autosave says why. */
#include "testutil.h"
#include "huginn.h"
#include "app.h"
#include "engine_thread.h"
#include "settings.h"

#include <math.h>

static hg_model *g_m;
static hg_tokenizer *g_t;

static int setup(void **state)
{
    (void)state;
    hg_err e;
    hg_load_params lp;
    hg_load_params_default(&lp);
    lp.cache_dir = "";
    if (hg_model_load(HG_FIXTURES "/tiny-huginn", &lp, &g_m, &e) != HG_OK ||
        hg_tokenizer_load_dir(HG_FIXTURES "/tiny-huginn", &g_t, &e) != HG_OK) {
        fprintf(stderr, "load: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hg_tokenizer_free(g_t);
    hg_model_free(g_m);
    return 0;
}

static hg_ctx *new_ctx(void)
{
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.cache = "full";
    hg_ctx *c;
    hg_err e;
    if (hg_ctx_new(g_m, &cp, &c, &e) != HG_OK) fail_msg("hg_ctx_new: %s", e.msg);
    return c;
}

static void sampled(us_settings *s)
{
    us_defaults(s, hg_model_config(g_m)->mean_recurrence);
    snprintf(s->cache, sizeof s->cache, "full");
    s->criterion = HG_CRIT_OFF;
    s->num_steps = 4;
    s->greedy = 0;
    s->temperature = 1.5f;
    s->top_p = 0;
    s->top_k = 0;
    s->min_p = 0;
    s->seed = 42;
    s->max_new_tokens = 16;
}

/* Run one turn; the token ids of the reply and the kinds of all events. */
static int engine_reply(const us_settings *s, int queue_limit, int32_t *ids, int cap, int *kinds, int *n_kinds)
{
    ue_engine *e;
    char err[256];
    if (ue_start(&e, g_m, g_t, new_ctx(), s, err, sizeof err)) fail_msg("ue_start: %s", err);
    if (queue_limit) ue_set_queue_limit(e, queue_limit);
    hg_chat_msg m = {"user", "Tell me about ravens."};
    assert_int_equal(ue_turn(e, &m, 1, 0), 0);
    ue_wait_idle(e);
    int n = 0, k = 0;
    ue_event ev;
    while (ue_pop(e, &ev)) {
        if (ev.kind == UE_TOKEN && ev.token_id >= 0 && n < cap) ids[n++] = ev.token_id;
        if (kinds && k < 4096) kinds[k++] = ev.kind;
        ue_event_free(&ev);
    }
    if (n_kinds) *n_kinds = k;
    ue_free(e);
    return n;
}

/* The chat continues one RNG stream through the reply (hg_generate's
 * contract), so it samples what one hg_generate call (`huginn run`) does. */
static void test_chat_sampling_matches_run(void **state)
{
    (void)state;
    us_settings s;
    sampled(&s);
    int32_t chat[64];
    int n_chat = engine_reply(&s, 0, chat, 64, NULL, NULL);
    assert_true(n_chat > 1);

    hg_chat_msg m = {"user", "Tell me about ravens."};
    int32_t *ids;
    int n_ids;
    hg_err e;
    assert_int_equal(hg_chat_tokenize(g_t, &m, 1, 1, &ids, &n_ids, &e), HG_OK);
    hg_gen_params p;
    hg_gen_params_default(&p, g_m);
    us_to_gen(&s, &p);
    p.max_new_tokens = s.max_new_tokens;
    hg_ctx *c = new_ctx();
    hg_gen_result r;
    assert_int_equal(hg_generate(c, ids, n_ids, &p, NULL, NULL, &r, &e), HG_OK);
    if (r.n_out != n_chat) fail_msg("chat made %d tokens, one call %d", n_chat, r.n_out);
    for (int i = 0; i < n_chat; i++)
        if (chat[i] != r.output_ids[i]) fail_msg("token %d: chat %d, one call %d", i, chat[i], r.output_ids[i]);
    hg_gen_result_free(&r);
    hg_ctx_free(c);
    free(ids);
}

/* A queue that cannot grow drops tokens but never the end of the reply
 * (else the UI would show "replying" forever). */
static void test_done_never_dropped(void **state)
{
    (void)state;
    us_settings s;
    sampled(&s);
    s.greedy = 1;
    int32_t ids[64];
    int kinds[4096], nk = 0;
    engine_reply(&s, 3, ids, 64, kinds, &nk);
    assert_true(nk >= 1 && nk <= 4);
    assert_int_equal(kinds[nk - 1], UE_DONE);
}

/* A state directory that cannot be made: the notice names it and why. */
static void test_autosave_error(void **state)
{
    (void)state;
    static ua_app a;
    memset(&a, 0, sizeof a);
    snprintf(a.state_dir, sizeof a.state_dir, "/proc/huginn-no-such-dir/state");
    snprintf(a.autosave, sizeof a.autosave, "%s/sessions/x.json", a.state_dir);
    ss_init(&a.ss);
    ss_add(&a.ss, "user", "hi");
    ua_autosave(&a);
    assert_int_equal(a.notice_is_error, 1);
    if (!strstr(a.notice, "autosave failed: /proc/huginn-no-such-dir/state/sessions: "))
        fail_msg("notice: '%s'", a.notice);
    for (const char *p = a.notice; *p; p++) assert_true(*p >= 0x20 && *p < 0x7f);
    ss_free(&a.ss);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_sampling_matches_run),
        cmocka_unit_test(test_done_never_dropped),
        cmocka_unit_test(test_autosave_error),
    };
    return cmocka_run_group_tests_name("ui_engine_hard", tests, setup, teardown);
}
