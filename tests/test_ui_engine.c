/* test_ui_engine.c — the chat's engine thread on tiny-huginn: a depth sweep
 * runs the prompt once per depth in order, each run between RUN_BEGIN and
 * RUN_END, every token within its depth; the run at the depth of a normal
 * turn gives that turn's tokens (only the depth changes); a stop ends the
 * sweep early. */
#include "testutil.h"
#include "engine_thread.h"

#include <poll.h>

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
} job;

/* Drain events until DONE (10 s at most). */
static void collect(ue_engine *e, job *j)
{
    for (int waited = 0; !j->done && waited < 1000; waited++) {
        struct pollfd p = {ue_wake_fd(e), POLLIN, 0};
        poll(&p, 1, 10);
        ue_drain_wake(e);
        ue_event ev;
        while (ue_pop(e, &ev)) {
            run *r = j->n_runs ? &j->runs[j->n_runs - 1] : &j->plain;
            if (ev.kind == UE_RUN_BEGIN) {
                assert_true(j->n_runs < 8);
                assert_int_equal(ev.step, j->n_runs);
                j->runs[j->n_runs++].num_steps = ev.num_steps;
            } else if (ev.kind == UE_TOKEN && ev.token_id >= 0) {
                if (r->n < 64) { r->ids[r->n] = ev.token_id; r->steps[r->n] = ev.steps_used; r->n++; }
                if (j->stop_after && ++j->tokens == j->stop_after) ue_stop(e);
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
    assert_true(j->done);
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
    /* a stop during the first run ends the sweep there (a deep first run, so
     * that the stop lands in it even when this thread is scheduled late) */
    job *d = calloc(1, sizeof *d);
    d->stop_after = 1;
    int deep[] = {256, 8, 1};
    assert_int_equal(ue_sweep(e, msgs, 1, 0, deep, 3), 0);
    collect(e, d);
    assert_int_equal(d->n_runs, 1);
    assert_int_equal(d->runs[0].stop_reason, HG_STOP_CANCELLED);
    assert_int_equal(d->done_stop, HG_STOP_CANCELLED);
    assert_true(d->runs[0].n <= 4);
    /* and a normal turn afterwards still gives the first reply */
    job *f = calloc(1, sizeof *f);
    assert_int_equal(ue_turn(e, msgs, 1, 0), 0);
    collect(e, f);
    assert_int_equal(f->plain.n, a->plain.n);
    for (int t = 0; t < a->plain.n; t++) assert_int_equal(f->plain.ids[t], a->plain.ids[t]);
    free(a); free(b); free(c); free(d); free(f);
    ue_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests_name("ui_engine", tests, setup, teardown);
}
