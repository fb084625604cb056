/* test_ui_engine.c — the chat's engine thread on tiny-huginn: a depth sweep
 * runs the prompt once per depth in order, each run between RUN_BEGIN and
 * RUN_END, every token within its depth; the run at the depth of a normal
 * turn gives that turn's tokens (only the depth changes); a stop ends the
 * sweep early; the context figures of the status bar move during a reply,
 * speculative and diffusion ones too. */
#include "testutil.h"
#include "engine_thread.h"

#include <poll.h>
#include <time.h>

static hg_model *g_model;
static hg_tokenizer *g_tok;

static int setup(void **st)
{
    (void)st;
    hg_err e;
    if (hg_model_load(HG_FIXTURES "/tiny-huginn", NULL, &g_model, &e) != HG_OK) return -1;
    if (hg_tokenizer_load_dir(HG_FIXTURES "/tiny-huginn", &g_tok, &e) != HG_OK) return -1;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    hg_tokenizer_free(g_tok);
    hg_model_free(g_model);
    return 0;
}

typedef struct run {
    int num_steps;
    int ids[64], steps[64], n;
    int stop_reason;
} run;

typedef struct job {
    run runs[8];
    int n_runs;         /* sweep runs seen (RUN_BEGIN)          */
    run plain;          /* tokens outside runs (a normal turn)  */
    int done, done_sweep, done_stop;
    int stop_after;     /* ue_stop after this many tokens (0: never) */
    int tokens;
    int ctx_at_stop;    /* the engine's context (ue_ctx_info) right after ue_stop */
} job;

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Drain events until DONE (60 s at most). */
static void collect(ue_engine *e, job *j)
{
    double t0 = mono_s();
    int wakes = 0, events = 0, steps = 0, toks = 0;
    for (; !j->done && mono_s() - t0 < 60; wakes++) {
        struct pollfd p = {ue_wake_fd(e), POLLIN, 0};
        poll(&p, 1, 10);
        ue_drain_wake(e);
        ue_event ev;
        while (ue_pop(e, &ev)) {
            events++;
            if (ev.kind == UE_STEP) steps++;
            if (ev.kind == UE_TOKEN) toks++;
            run *r = j->n_runs ? &j->runs[j->n_runs - 1] : &j->plain;
            if (ev.kind == UE_RUN_BEGIN) {
                assert_true(j->n_runs < 8);
                assert_int_equal(ev.step, j->n_runs);
                j->runs[j->n_runs++].num_steps = ev.num_steps;
            } else if (ev.kind == UE_TOKEN && ev.token_id >= 0) {
                if (r->n < 64) { r->ids[r->n] = ev.token_id; r->steps[r->n] = ev.steps_used; r->n++; }
                if (j->stop_after && ++j->tokens == j->stop_after) {
                    ue_stop(e);
                    ue_ctx_info(e, &j->ctx_at_stop, NULL, NULL, NULL);
                }
            } else if (ev.kind == UE_RUN_END) {
                assert_true(j->n_runs > 0);
                assert_int_equal(ev.num_steps, r->num_steps);
                assert_int_equal(ev.n_tokens, r->n);
                r->stop_reason = ev.stop_reason;
            } else if (ev.kind == UE_ERROR) {
                fail_msg("engine error: %s", ev.text);
            } else if (ev.kind == UE_DONE) {
                j->done = 1;
                j->done_sweep = ev.sweep;
                j->done_stop = ev.stop_reason;
            }
            ue_event_free(&ev);
        }
    }
    if (!j->done)
        fail_msg("no DONE after %.1f s: %d wakes, %d events (%d steps, %d tokens), %d runs, busy %d", mono_s() - t0,
                 wakes, events, steps, toks, j->n_runs, ue_busy(e));
}

static ue_engine *start(us_settings *s)
{
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.cache = s->cache;
    hg_ctx *ctx;
    hg_err e;
    assert_int_equal(hg_ctx_new(g_model, &cp, &ctx, &e), HG_OK);
    ue_engine *eng;
    char err[256];
    assert_int_equal(ue_start(&eng, g_model, g_tok, ctx, s, err, sizeof err), 0);
    return eng;
}

static void test_sweep(void **st)
{
    (void)st;
    us_settings s;
    us_defaults(&s, 8);
    s.criterion = HG_CRIT_OFF;     /* fixed depth: every token takes exactly num_steps */
    s.greedy = 1;
    s.seed = 7;
    s.max_new_tokens = 12;
    s.num_steps = 8;
    ue_engine *e = start(&s);
    hg_chat_msg msgs[] = {{"user", "What is a raven?"}};
    /* a normal turn at 8 steps */
    job *a = calloc(1, sizeof *a);
    assert_int_equal(ue_turn(e, msgs, 1, 0), 0);
    collect(e, a);
    assert_int_equal(a->n_runs, 0);
    assert_int_equal(a->done_sweep, 0);
    assert_true(a->plain.n > 0);
    /* the sweep 2, 8, 1: in order; tokens within their depth; the run at 8 is the turn's reply */
    job *b = calloc(1, sizeof *b);
    int depths[] = {2, 8, 1};
    assert_int_equal(ue_sweep(e, msgs, 1, 0, depths, 3), 0);
    assert_int_equal(ue_sweep(e, msgs, 1, 0, depths, 3), -1);    /* busy */
    collect(e, b);
    assert_int_equal(b->done_sweep, 1);
    assert_int_equal(b->n_runs, 3);
    assert_int_equal(b->plain.n, 0);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(b->runs[k].num_steps, depths[k]);
        assert_true(b->runs[k].n > 0);
        for (int t = 0; t < b->runs[k].n; t++) assert_int_equal(b->runs[k].steps[t], depths[k]);
    }
    assert_int_equal(b->runs[1].n, a->plain.n);
    for (int t = 0; t < a->plain.n; t++) assert_int_equal(b->runs[1].ids[t], a->plain.ids[t]);
    /* the same sweep again gives the same tokens (one seed, the prompt reused) */
    job *c = calloc(1, sizeof *c);
    assert_int_equal(ue_sweep(e, msgs, 1, 0, depths, 3), 0);
    collect(e, c);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(c->runs[k].n, b->runs[k].n);
        for (int t = 0; t < b->runs[k].n; t++) assert_int_equal(c->runs[k].ids[t], b->runs[k].ids[t]);
    }
    /* a stop during the first run ends the sweep there: at most the token
     * in flight follows the request.  This thread may see the first token
     * late on a loaded machine, so the bound counts from the tokens the
     * engine had put out when ue_stop returned (its context then, less the
     * prompt), and the first run is long (64 tokens of 256 steps) so that
     * the stop lands in it. */
    int32_t *pids;
    int n_prompt;
    hg_err err;
    assert_int_equal(hg_chat_tokenize(g_tok, msgs, 1, 1, &pids, &n_prompt, &err), HG_OK);
    free(pids);
    us_settings longer = s;
    longer.max_new_tokens = 64;
    ue_set_settings(e, &longer);
    job *d = calloc(1, sizeof *d);
    d->stop_after = 1;
    int deep[] = {256, 8, 1};
    assert_int_equal(ue_sweep(e, msgs, 1, 0, deep, 3), 0);
    collect(e, d);
    ue_set_settings(e, &s);
    assert_int_equal(d->n_runs, 1);
    assert_int_equal(d->runs[0].stop_reason, HG_STOP_CANCELLED);
    assert_int_equal(d->done_stop, HG_STOP_CANCELLED);
    int put_out = d->ctx_at_stop - n_prompt;
    if (put_out < 1 || d->runs[0].n > put_out + 1)
        fail_msg("the stopped run gave %d tokens; %d were out when the stop was asked", d->runs[0].n, put_out);
    /* and a normal turn afterwards still gives the first reply */
    job *f = calloc(1, sizeof *f);
    assert_int_equal(ue_turn(e, msgs, 1, 0), 0);
    collect(e, f);
    assert_int_equal(f->plain.n, a->plain.n);
    for (int t = 0; t < a->plain.n; t++) assert_int_equal(f->plain.ids[t], a->plain.ids[t]);
    free(a); free(b); free(c); free(d); free(f);
    ue_free(e);
}

/* The status bar's figures during a reply: every token event carries the
 * context then (the prompt and the reply so far) and the figures the UI
 * polls (ue_ctx_info) are at least that far, with the cache in use, for the
 * speculative and diffusion generators (one hg_generate call for the whole
 * reply) as for plain decoding; the same counts for the same prompt; DONE
 * ends on the context after the reply.  (They stood at 0 through a first
 * speculative or diffusion reply.) */
typedef struct figs {
    int n, ctx[64], polled[64], done, done_ctx, n_ctx;
    size_t kv[64], polled_kv[64], done_kv;
} figs;

static void collect_figs(ue_engine *e, figs *f)
{
    double t0 = mono_s();
    while (!f->done && mono_s() - t0 < 60) {
        struct pollfd p = {ue_wake_fd(e), POLLIN, 0};
        poll(&p, 1, 10);
        ue_drain_wake(e);
        ue_event ev;
        while (ue_pop(e, &ev)) {
            if (ev.kind == UE_TOKEN && ev.token_id >= 0 && f->n < 64) {
                assert_int_equal(ev.n_tokens, f->n + 1);
                f->ctx[f->n] = ev.ctx_used;
                f->kv[f->n] = ev.kv_bytes;
                ue_ctx_info(e, &f->polled[f->n], &f->n_ctx, &f->polled_kv[f->n], NULL);
                f->n++;
            } else if (ev.kind == UE_ERROR) {
                fail_msg("engine error: %s", ev.text);
            } else if (ev.kind == UE_DONE) {
                f->done = 1;
                f->done_ctx = ev.ctx_used;
                f->done_kv = ev.kv_bytes;
            }
            ue_event_free(&ev);
        }
    }
    if (!f->done) fail_msg("no DONE after %.1f s: %d tokens, busy %d", mono_s() - t0, f->n, ue_busy(e));
}

static void test_ctx_figures_during_reply(void **st)
{
    (void)st;
    hg_chat_msg msgs[] = {{"user", "What is a raven?"}};
    int32_t *ids;
    int n_prompt;
    hg_err err;
    assert_int_equal(hg_chat_tokenize(g_tok, msgs, 1, 1, &ids, &n_prompt, &err), HG_OK);
    free(ids);
    figs *f = calloc(HG_GEN_COUNT, sizeof *f);
    for (int g = HG_GEN_PLAIN; g < HG_GEN_COUNT; g++) {
        const char *name = hg_generator_name((hg_generator)g);
        us_settings s;
        us_defaults(&s, 8);
        s.criterion = HG_CRIT_OFF;
        s.greedy = 1;
        s.seed = 7;
        s.max_new_tokens = 12;
        s.num_steps = 8;
        s.generator = (hg_generator)g;
        s.draft_steps = 2;
        s.lookahead = 4;
        ue_engine *e = start(&s);
        int used;
        size_t kv;
        ue_ctx_info(e, &used, NULL, &kv, NULL);
        assert_int_equal(used, 0);          /* a fresh context */
        assert_int_equal(ue_turn(e, msgs, 1, 0), 0);
        collect_figs(e, &f[g]);
        ue_free(e);
        figs *r = &f[g];
        assert_true(r->n > 0);
        for (int i = 0; i < r->n; i++) {
            /* what the status bar shows while the reply runs */
            if (r->polled[i] < n_prompt + i + 1 || r->polled[i] > n_prompt + r->n || r->polled_kv[i] == 0)
                fail_msg("%s: during the reply, after token %d, the status bar shows ctx %d/%d, KV %zu bytes", name,
                         i + 1, r->polled[i], r->n_ctx, r->polled_kv[i]);
            /* and the token's event carries the context then */
            if (r->ctx[i] != n_prompt + i + 1 || r->kv[i] == 0)
                fail_msg("%s: token %d: ctx %d (not %d), KV %zu bytes", name, i + 1, r->ctx[i], n_prompt + i + 1,
                         r->kv[i]);
        }
        assert_int_equal(r->done_ctx, n_prompt + r->n);
        assert_true(r->done_kv > 0 && r->done_kv <= r->kv[r->n - 1]);
    }
    /* the same prompt and tokens: the same counts as plain decoding; the
     * KV of the whole exchange too (full-depth positions alike) */
    for (int g = HG_GEN_SPECULATIVE; g < HG_GEN_COUNT; g++) {
        int m = f[g].n < f[HG_GEN_PLAIN].n ? f[g].n : f[HG_GEN_PLAIN].n;
        for (int i = 0; i < m; i++) assert_int_equal(f[g].ctx[i], f[HG_GEN_PLAIN].ctx[i]);
    }
    assert_int_equal(f[HG_GEN_SPECULATIVE].n, f[HG_GEN_PLAIN].n);
    assert_true(f[HG_GEN_SPECULATIVE].done_kv == f[HG_GEN_PLAIN].done_kv);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_ctx_figures_during_reply),
    };
    return cmocka_run_group_tests_name("ui_engine", tests, setup, teardown);
}
