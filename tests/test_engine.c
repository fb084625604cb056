/* test_engine.c — generation behaviour through the public API on the tiny
 * checkpoint (init_scale 0, greedy unless said otherwise): multi-turn cache
 * reuse, cancellation and resumption, context limits, the event stream,
 * seeded init, step extremes, argument checks, truncation and the cache
 * strategy switch. */
#include "testutil.h"
#include "huginn.h"

#include <math.h>
#include <pthread.h>

static hg_model *g_m;
static int g_V;

static int setup(void **state)
{
    (void)state;
    hg_err e;
    hg_load_params lp;
    hg_load_params_default(&lp);
    lp.cache_dir = "";
    if (hg_model_load(HG_FIXTURES "/tiny-huginn", &lp, &g_m, &e) != HG_OK) {
        fprintf(stderr, "load: %s\n", e.msg);
        return -1;
    }
    g_V = hg_model_config(g_m)->vocab_size;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hg_model_free(g_m);
    return 0;
}

static hg_ctx *new_ctx(int n_ctx, const char *cache)
{
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.n_ctx = n_ctx;
    if (cache) cp.cache = cache;
    hg_ctx *c;
    hg_err e;
    if (hg_ctx_new(g_m, &cp, &c, &e) != HG_OK) fail_msg("hg_ctx_new: %s", e.msg);
    return c;
}

/* greedy, init_scale 0, no stop tokens (lengths are exactly max_new_tokens) */
static void gparams(hg_gen_params *p, int steps, int max_new)
{
    hg_gen_params_default(p, g_m);
    p->num_steps = steps;
    p->max_new_tokens = max_new;
    p->init_scale = 0;
    p->greedy = 1;
    p->n_stop = 0;
    p->stop_ids = NULL;
}

/* generate and copy the ids out (returns n_out) */
static int gen(hg_ctx *c, const int32_t *ids, int n, const hg_gen_params *p, hg_event_cb cb, void *user,
               int32_t *out, hg_stop_reason *why)
{
    hg_gen_result r;
    hg_err e;
    hg_status st = hg_generate(c, ids, n, p, cb, user, &r, &e);
    if (st != HG_OK) fail_msg("hg_generate: %s (%s)", hg_status_str(st), e.msg);
    if (out) memcpy(out, r.output_ids, sizeof(int32_t) * (size_t)r.n_out);
    if (why) *why = r.stop_reason;
    int n_out = r.n_out;
    hg_gen_result_free(&r);
    return n_out;
}

static void assert_ids(const int32_t *a, const int32_t *b, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) fail_msg("%s: token %d is %d, expected %d", what, i, a[i], b[i]);
}

static const int32_t PROMPT_A[] = {12, 200, 33, 7, 401, 95};
#define NA 6
static const int32_t PROMPT_B[] = {300, 18, 250};
#define NB 3

/* ------------------------------------------------------------ multi-turn */

static void test_multi_turn(void **state)
{
    (void)state;
    hg_gen_params p;
    gparams(&p, 5, 5);
    hg_ctx *c = new_ctx(0, NULL);
    assert_int_equal(hg_ctx_n_past(c), 0);
    int32_t out1[8], out2[8], whole[32], ref[8];
    assert_int_equal(gen(c, PROMPT_A, NA, &p, NULL, NULL, out1, NULL), 5);
    /* the prompt and 4 of the 5 outputs are cached; the 5th is pending */
    assert_int_equal(hg_ctx_n_past(c), NA + 4);
    assert_int_equal(hg_ctx_n_tokens(c), NA + 5);
    assert_ids(hg_ctx_tokens(c), PROMPT_A, NA, "context tokens (prompt)");
    assert_ids(hg_ctx_tokens(c) + NA, out1, 5, "context tokens (reply)");
    /* second turn: only B is passed; the pending reply token is processed first */
    assert_int_equal(gen(c, PROMPT_B, NB, &p, NULL, NULL, out2, NULL), 5);
    assert_int_equal(hg_ctx_n_past(c), NA + 5 + NB + 4);
    assert_int_equal(hg_ctx_n_tokens(c), NA + 5 + NB + 5);
    /* a fresh context fed the whole sequence A + out1 + B gives the same reply */
    int n = 0;
    memcpy(whole + n, PROMPT_A, sizeof PROMPT_A), n += NA;
    memcpy(whole + n, out1, sizeof(int32_t) * 5), n += 5;
    memcpy(whole + n, PROMPT_B, sizeof PROMPT_B), n += NB;
    hg_ctx *f = new_ctx(0, NULL);
    assert_int_equal(gen(f, whole, n, &p, NULL, NULL, ref, NULL), 5);
    assert_ids(out2, ref, 5, "second turn vs fresh context");
    assert_int_equal(hg_ctx_n_past(f), hg_ctx_n_past(c));
    hg_ctx_free(f);
    hg_ctx_free(c);
}

/* the second turn processes only the new positions: its first batch has
 * 1 (pending reply token) + NB positions */
typedef struct evlog {
    int n;
    hg_event ev[2048];
    int tokens;          /* HG_EV_TOKEN seen */
    int cancel_at_token; /* cancel while computing this token (0-based), -1: never */
    int cancel_at_step;
} evlog;

static int on_event(const hg_event *ev, void *user)
{
    evlog *l = user;
    if (l->n < (int)(sizeof l->ev / sizeof l->ev[0])) l->ev[l->n++] = *ev;
    if (ev->type == HG_EV_TOKEN) {
        l->tokens++;
        return 0;
    }
    return ev->type == HG_EV_STEP && l->tokens == l->cancel_at_token && ev->step == l->cancel_at_step;
}

static void test_multi_turn_batches(void **state)
{
    (void)state;
    hg_gen_params p;
    gparams(&p, 2, 3);
    hg_ctx *c = new_ctx(0, NULL);
    evlog *l = calloc(1, sizeof *l);
    l->cancel_at_token = -1;
    gen(c, PROMPT_A, NA, &p, on_event, l, NULL, NULL);
    assert_int_equal(l->ev[0].n_positions, NA);
    assert_int_equal(l->ev[0].position, NA - 1);
    memset(l, 0, sizeof *l);
    l->cancel_at_token = -1;
    gen(c, PROMPT_B, NB, &p, on_event, l, NULL, NULL);
    /* positions NA .. NA+2 hold A's reply (the last of them was pending); B follows */
    assert_int_equal(l->ev[0].type, HG_EV_STEP);
    assert_int_equal(l->ev[0].n_positions, 1 + NB);
    assert_int_equal(l->ev[0].position, NA + 3 + NB - 1);
    free(l);
    hg_ctx_free(c);
}

/* ---------------------------------------------------------------- cancel */

static void test_cancel_and_resume(void **state)
{
    (void)state;
    hg_gen_params p;
    gparams(&p, 5, 6);
    /* uninterrupted reference */
    int32_t ref[8];
    hg_ctx *c = new_ctx(0, NULL);
    assert_int_equal(gen(c, PROMPT_A, NA, &p, NULL, NULL, ref, NULL), 6);
    hg_ctx_free(c);

    /* cancel on the 3rd step of the 2nd token (the first decode position) */
    c = new_ctx(0, NULL);
    evlog *l = calloc(1, sizeof *l);
    l->cancel_at_token = 1;
    l->cancel_at_step = 3;
    int32_t out[8], rest[8];
    hg_stop_reason why;
    int n1 = gen(c, PROMPT_A, NA, &p, on_event, l, out, &why);
    assert_int_equal(why, HG_STOP_CANCELLED);
    assert_int_equal(n1, 1); /* the first token was produced, the second was not */
    assert_int_equal(out[0], ref[0]);
    /* the prompt is cached, the interrupted position is not; the first output is pending */
    assert_int_equal(hg_ctx_n_past(c), NA);
    assert_int_equal(hg_ctx_n_tokens(c), NA + 1);
    assert_int_equal(hg_ctx_tokens(c)[NA], ref[0]);
    /* the last event is the step that asked to stop; no token event after it */
    assert_int_equal(l->ev[l->n - 1].type, HG_EV_STEP);
    assert_int_equal(l->ev[l->n - 1].step, 3);
    assert_int_equal(l->tokens, 1);
    /* continue with nothing new: the pending token is processed, and the run
     * continues exactly like the uninterrupted one */
    p.max_new_tokens = 5;
    int n2 = gen(c, NULL, 0, &p, NULL, NULL, rest, &why);
    assert_int_equal(n2, 5);
    assert_int_equal(why, HG_STOP_MAX_TOKENS);
    assert_ids(rest, ref + 1, 5, "resumed run");
    assert_int_equal(hg_ctx_n_past(c), NA + 5);
    free(l);
    hg_ctx_free(c);

    /* cancelling during the prefill leaves nothing cached */
    c = new_ctx(0, NULL);
    l = calloc(1, sizeof *l);
    l->cancel_at_token = 0;
    l->cancel_at_step = 1;
    n1 = gen(c, PROMPT_A, NA, &p, on_event, l, out, &why);
    assert_int_equal(why, HG_STOP_CANCELLED);
    assert_int_equal(n1, 0);
    assert_int_equal(hg_ctx_n_past(c), 0);
    assert_int_equal(hg_ctx_n_tokens(c), NA);
    p.max_new_tokens = 6;
    assert_int_equal(gen(c, NULL, 0, &p, NULL, NULL, rest, NULL), 6);
    assert_ids(rest, ref, 6, "run resumed after a cancelled prefill");
    free(l);
    hg_ctx_free(c);
}

/* ------------------------------------------------------------- context */

static void test_context_limits(void **state)
{
    (void)state;
    hg_gen_params p;
    gparams(&p, 2, 50);
    hg_ctx *c = new_ctx(16, NULL);
    assert_int_equal(hg_ctx_n_ctx(c), 16);
    int32_t ids[20];
    for (int i = 0; i < 20; i++) ids[i] = 10 + 7 * i;
    /* 20 ids in a context of 16 */
    hg_gen_result r;
    hg_err e;
    memset(&e, 0, sizeof e);
    assert_int_equal(hg_generate(c, ids, 20, &p, NULL, NULL, &r, &e), HG_E_RANGE);
    assert_non_null(strstr(e.msg, "16"));
    assert_non_null(strstr(e.msg, "context"));
    assert_int_equal(hg_ctx_n_tokens(c), 0); /* nothing was appended */
    assert_int_equal(hg_ctx_n_past(c), 0);
    /* hg_forward refuses it as well */
    memset(&e, 0, sizeof e);
    assert_int_equal(hg_forward(c, ids, 20, 2, 0, 0, NULL, NULL, &e), HG_E_RANGE);
    assert_true(e.msg[0] != 0);

    /* 10 ids, 50 wanted: positions 10..15 take 6 outputs, the 7th output is
     * produced from position 15's logits and cannot be cached: 16 - 10 + 1 = 7 */
    hg_ctx_reset(c);
    int32_t out[64];
    hg_stop_reason why;
    int n = gen(c, ids, 10, &p, NULL, NULL, out, &why);
    assert_int_equal(why, HG_STOP_CONTEXT);
    assert_int_equal(n, 7);
    assert_int_equal(hg_ctx_n_past(c), 16);
    /* the same tokens as an unlimited context */
    hg_ctx *big = new_ctx(0, NULL);
    p.max_new_tokens = 7;
    int32_t ref[8];
    assert_int_equal(gen(big, ids, 10, &p, NULL, NULL, ref, NULL), 7);
    assert_ids(out, ref, 7, "context-limited run");
    hg_ctx_free(big);
    /* a full context accepts nothing more */
    memset(&e, 0, sizeof e);
    assert_int_equal(hg_generate(c, ids, 1, &p, NULL, NULL, &r, &e), HG_E_RANGE);
    assert_true(e.msg[0] != 0);
    memset(&e, 0, sizeof e);
    assert_int_equal(hg_generate(c, NULL, 0, &p, NULL, NULL, &r, &e), HG_E_RANGE);
    assert_true(e.msg[0] != 0);
    /* exactly n_ctx prompt ids: one token, then the context is full */
    hg_ctx_reset(c);
    p.max_new_tokens = 50;
    n = gen(c, ids, 16, &p, NULL, NULL, out, &why);
    assert_int_equal(n, 1);
    assert_int_equal(why, HG_STOP_CONTEXT);
    /* a context larger than block_size is refused */
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.n_ctx = hg_model_config(g_m)->block_size + 1;
    hg_ctx *bad = NULL;
    assert_int_equal(hg_ctx_new(g_m, &cp, &bad, &e), HG_E_ARG);
    assert_null(bad);
    hg_ctx_free(c);
}

/* ---------------------------------------------------------------- events */

static void test_events(void **state)
{
    (void)state;
    const int N = 3, T = 4;
    hg_gen_params p;
    gparams(&p, N, T);
    hg_ctx *c = new_ctx(0, NULL);
    evlog *l = calloc(1, sizeof *l);
    l->cancel_at_token = -1;
    int32_t out[8];
    assert_int_equal(gen(c, PROMPT_A, NA, &p, on_event, l, out, NULL), T);
    /* every token: N step events 1..N, then one token event */
    assert_int_equal(l->n, T * (N + 1));
    for (int t = 0; t < T; t++) {
        int pos = t == 0 ? NA - 1 : NA + t - 1;
        for (int k = 0; k < N; k++) {
            const hg_event *ev = &l->ev[t * (N + 1) + k];
            assert_int_equal(ev->type, HG_EV_STEP);
            assert_int_equal(ev->step, k + 1);
            assert_int_equal(ev->num_steps, N);
            assert_int_equal(ev->n_positions, t == 0 ? NA : 1);
            assert_int_equal(ev->position, pos);
            assert_true(isnan(ev->exit_value)); /* no criterion */
        }
        const hg_event *tk = &l->ev[t * (N + 1) + N];
        assert_int_equal(tk->type, HG_EV_TOKEN);
        assert_int_equal(tk->steps_used, N);
        assert_int_equal(tk->token_id, out[t]);
        assert_int_equal(tk->index, t);
        assert_int_equal(tk->position, NA + t);
    }
    free(l);
    hg_ctx_free(c);
}

/* ------------------------------------------------------------ init_scale */

static void test_init_scale_seed(void **state)
{
    (void)state;
    hg_ctx *c = new_ctx(0, NULL);
    size_t sz = sizeof(float) * (size_t)g_V;
    float *a = malloc(sz), *b = malloc(sz), *d = malloc(sz), *z = malloc(sz);
    hg_err e;
    assert_int_equal(hg_forward(c, PROMPT_A, NA, 4, 1.0f, 7, NULL, a, &e), HG_OK);
    assert_int_equal(hg_forward(c, PROMPT_A, NA, 4, 1.0f, 7, NULL, b, &e), HG_OK);
    assert_int_equal(hg_forward(c, PROMPT_A, NA, 4, 1.0f, 8, NULL, d, &e), HG_OK);
    assert_int_equal(hg_forward(c, PROMPT_A, NA, 4, 0.0f, 7, NULL, z, &e), HG_OK);
    assert_memory_equal(a, b, sz);
    double dd = 0, dz = 0;
    for (int i = 0; i < g_V; i++) {
        dd = fmax(dd, fabs(a[i] - d[i]));
        dz = fmax(dz, fabs(a[i] - z[i]));
    }
    assert_true(dd > 1e-4); /* another seed, another start state */
    assert_true(dz > 1e-4); /* init_scale 1 differs from the zero state */
    /* init_scale 0 ignores the seed */
    assert_int_equal(hg_forward(c, PROMPT_A, NA, 4, 0.0f, 12345, NULL, d, &e), HG_OK);
    assert_memory_equal(z, d, sz);

    /* generation: same seed, same ids; the seeds' outputs differ somewhere */
    hg_gen_params p;
    gparams(&p, 2, 12);
    p.init_scale = 1.0f;
    p.seed = 1;
    int32_t o1[16], o2[16], o3[16];
    hg_ctx_reset(c);
    gen(c, PROMPT_A, NA, &p, NULL, NULL, o1, NULL);
    hg_ctx_reset(c);
    gen(c, PROMPT_A, NA, &p, NULL, NULL, o2, NULL);
    assert_ids(o1, o2, 12, "same seed");
    int differs = 0;
    for (uint64_t seed = 2; seed < 10 && !differs; seed++) {
        p.seed = seed;
        hg_ctx_reset(c);
        gen(c, PROMPT_A, NA, &p, NULL, NULL, o3, NULL);
        for (int i = 0; i < 12; i++) differs |= o3[i] != o1[i];
    }
    assert_true(differs);
    free(a);
    free(b);
    free(d);
    free(z);
    hg_ctx_free(c);
}

/* ---------------------------------------------------------- num_steps */

static void test_step_extremes(void **state)
{
    (void)state;
    hg_ctx *c = new_ctx(0, NULL); /* slots reserved for mean_recurrence (8) steps */
    float *last = malloc(sizeof(float) * (size_t)g_V);
    hg_err e;
    const int steps[2] = {1, 64};
    for (int s = 0; s < 2; s++) {
        hg_gen_params p;
        gparams(&p, steps[s], 3);
        hg_gen_result r;
        hg_ctx_reset(c);
        if (hg_generate(c, PROMPT_A, NA, &p, NULL, NULL, &r, &e) != HG_OK) fail_msg("%d steps: %s", steps[s], e.msg);
        assert_int_equal(r.n_out, 3);
        for (int t = 0; t < 3; t++) {
            assert_int_equal(r.steps[t], steps[s]);
            assert_true(r.output_ids[t] >= 0 && r.output_ids[t] < g_V);
        }
        /* the first token is the argmax of a plain forward pass at the same steps */
        assert_int_equal(hg_forward(c, PROMPT_A, NA, steps[s], 0, 0, NULL, last, &e), HG_OK);
        int best = 0;
        for (int i = 1; i < g_V; i++)
            if (last[i] > last[best]) best = i;
        assert_int_equal(r.output_ids[0], best);
        for (int i = 0; i < g_V; i++) assert_true(isfinite(last[i]));
        hg_gen_result_free(&r);
    }
    /* 0 steps is refused */
    hg_gen_params p;
    gparams(&p, 0, 3);
    hg_gen_result r;
    hg_ctx_reset(c);
    assert_int_equal(hg_generate(c, PROMPT_A, NA, &p, NULL, NULL, &r, &e), HG_E_ARG);
    assert_int_equal(hg_forward(c, PROMPT_A, NA, 0, 0, 0, NULL, last, &e), HG_E_ARG);
    free(last);
    hg_ctx_free(c);
}

/* ------------------------------------------------------------ arguments */

static void test_bad_token_ids(void **state)
{
    (void)state;
    hg_ctx *c = new_ctx(0, NULL);
    hg_gen_params p;
    gparams(&p, 2, 2);
    hg_gen_result r;
    hg_err e;
    const int32_t over[] = {1, 2, (int32_t)g_V};
    const int32_t neg[] = {-1};
    memset(&e, 0, sizeof e);
    assert_int_equal(hg_generate(c, over, 3, &p, NULL, NULL, &r, &e), HG_E_ARG);
    char want[32];
    snprintf(want, sizeof want, "%d", g_V);
    assert_non_null(strstr(e.msg, want));
    assert_int_equal(hg_ctx_n_tokens(c), 0);
    memset(&e, 0, sizeof e);
    assert_int_equal(hg_generate(c, neg, 1, &p, NULL, NULL, &r, &e), HG_E_ARG);
    assert_non_null(strstr(e.msg, "-1"));
    assert_int_equal(hg_forward(c, over, 3, 2, 0, 0, NULL, NULL, &e), HG_E_ARG);
    /* the last valid id is accepted */
    const int32_t edge[] = {0, (int32_t)g_V - 1};
    assert_int_equal(gen(c, edge, 2, &p, NULL, NULL, NULL, NULL), 2);
    /* after a valid turn, a bad id leaves the context as it was */
    int nt = hg_ctx_n_tokens(c), np = hg_ctx_n_past(c);
    assert_int_equal(hg_generate(c, over, 3, &p, NULL, NULL, &r, &e), HG_E_ARG);
    assert_int_equal(hg_ctx_n_tokens(c), nt);
    assert_int_equal(hg_ctx_n_past(c), np);
    /* nothing new and nothing pending */
    hg_ctx_reset(c);
    assert_int_equal(hg_generate(c, NULL, 0, &p, NULL, NULL, &r, &e), HG_E_ARG);
    /* a stop count with no stop list (it would read past the defaults) */
    gparams(&p, 2, 2);
    p.n_stop = 20;
    p.stop_ids = NULL;
    assert_int_equal(hg_generate(c, edge, 2, &p, NULL, NULL, &r, &e), HG_E_ARG);
    assert_non_null(strstr(e.msg, "n_stop"));
    hg_ctx_free(c);
}

/* ------------------------------------------------------------- truncate */

static void test_truncate(void **state)
{
    (void)state;
    hg_gen_params p;
    gparams(&p, 5, 5);
    hg_ctx *c = new_ctx(0, NULL);
    int32_t out1[8], out2[8], ref[8], whole[32];
    gen(c, PROMPT_A, NA, &p, NULL, NULL, out1, NULL);
    hg_err e;
    /* keep the prompt and the first 2 outputs */
    assert_int_equal(hg_ctx_truncate(c, NA + 2, &e), HG_OK);
    assert_int_equal(hg_ctx_n_tokens(c), NA + 2);
    assert_int_equal(hg_ctx_n_past(c), NA + 2);
    gen(c, PROMPT_B, NB, &p, NULL, NULL, out2, NULL);
    int n = 0;
    memcpy(whole + n, PROMPT_A, sizeof PROMPT_A), n += NA;
    memcpy(whole + n, out1, sizeof(int32_t) * 2), n += 2;
    memcpy(whole + n, PROMPT_B, sizeof PROMPT_B), n += NB;
    hg_ctx *f = new_ctx(0, NULL);
    gen(f, whole, n, &p, NULL, NULL, ref, NULL);
    assert_ids(out2, ref, 5, "truncated + regenerated vs fresh");
    hg_ctx_free(f);
    /* truncating into the prompt and regenerating reproduces the first run */
    assert_int_equal(hg_ctx_truncate(c, NA - 1, &e), HG_OK);
    assert_int_equal(hg_ctx_n_past(c), NA - 1);
    gen(c, PROMPT_A + NA - 1, 1, &p, NULL, NULL, out2, NULL);
    assert_ids(out2, out1, 5, "regenerated after truncating into the prompt");
    /* beyond the known tokens, or negative: refused */
    memset(&e, 0, sizeof e);
    assert_int_equal(hg_ctx_truncate(c, hg_ctx_n_tokens(c) + 1, &e), HG_E_ARG);
    assert_true(e.msg[0] != 0);
    assert_int_equal(hg_ctx_truncate(c, -1, &e), HG_E_ARG);
    /* dropping only the pending token keeps the cache; nothing is left to process */
    int np = hg_ctx_n_past(c);
    assert_int_equal(hg_ctx_n_tokens(c), np + 1);
    assert_int_equal(hg_ctx_truncate(c, np, &e), HG_OK);
    assert_int_equal(hg_ctx_n_past(c), np);
    assert_int_equal(hg_ctx_n_tokens(c), np);
    hg_gen_result r;
    assert_int_equal(hg_generate(c, NULL, 0, &p, NULL, NULL, &r, &e), HG_E_ARG);
    hg_ctx_free(c);
}

/* --------------------------------------------------------- cache switch */

static void test_set_cache(void **state)
{
    (void)state;
    hg_ctx *c = new_ctx(0, "full");
    hg_err e;
    assert_string_equal(hg_ctx_cache(c), "full");
    /* allowed while empty */
    assert_int_equal(hg_ctx_set_cache(c, "latest-m4", &e), HG_OK);
    assert_string_equal(hg_ctx_cache(c), "latest-m4");
    hg_gen_params p;
    gparams(&p, 2, 2);
    gen(c, PROMPT_A, NA, &p, NULL, NULL, NULL, NULL);
    /* refused on a non-empty context, strategy unchanged */
    memset(&e, 0, sizeof e);
    assert_int_equal(hg_ctx_set_cache(c, "compress-s4", &e), HG_E_ARG);
    assert_true(e.msg[0] != 0);
    assert_string_equal(hg_ctx_cache(c), "latest-m4");
    /* an unknown strategy is refused either way */
    assert_int_equal(hg_ctx_set_cache(c, "fast", &e), HG_E_ARG);
    /* after a reset it works, and generation under the new strategy runs */
    hg_ctx_reset(c);
    assert_int_equal(hg_ctx_n_past(c), 0);
    assert_int_equal(hg_ctx_set_cache(c, "compress-s4", &e), HG_OK);
    assert_string_equal(hg_ctx_cache(c), "compress-s4");
    assert_int_equal(hg_ctx_set_cache(c, "fast", &e), HG_E_ARG);
    assert_string_equal(hg_ctx_cache(c), "compress-s4");
    p.num_steps = 12; /* more slots than the context reserved */
    assert_int_equal(gen(c, PROMPT_A, NA, &p, NULL, NULL, NULL, NULL), 2);
    /* and back to full with more steps than ever reserved */
    hg_ctx_reset(c);
    assert_int_equal(hg_ctx_set_cache(c, "full", &e), HG_OK);
    p.num_steps = 16;
    int32_t a[2], b[2];
    gen(c, PROMPT_A, NA, &p, NULL, NULL, a, NULL);
    hg_ctx *f = new_ctx(0, "full");
    gen(f, PROMPT_A, NA, &p, NULL, NULL, b, NULL);
    assert_ids(a, b, 2, "switched back to full vs fresh");
    hg_ctx_free(f);
    /* an unknown strategy at context creation */
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.cache = "compress-x4";
    hg_ctx *bad = NULL;
    memset(&e, 0, sizeof e);
    assert_int_equal(hg_ctx_new(g_m, &cp, &bad, &e), HG_E_ARG);
    assert_non_null(strstr(e.msg, "compress-x4"));
    assert_null(bad);
    hg_ctx_free(c);
}

/* N calls of one token (n_ids = 0 after the first) equal one call of N
 * tokens: the warm state and the RNG stream continue across calls.  Checked
 * for greedy warm start with adaptive exit, and for seeded sampling with a
 * random initial state. */
static void run_chunked(hg_gen_params *p, int32_t *ids, int n, int total, int32_t *out_one, int32_t *steps_one,
                        int32_t *out_chunk, int32_t *steps_chunk)
{
    hg_err e;
    hg_gen_result r;
    hg_ctx *a = new_ctx(0, "latest-m4");
    p->max_new_tokens = total;
    assert_int_equal(hg_generate(a, ids, n, p, NULL, NULL, &r, &e), HG_OK);
    assert_int_equal(r.n_out, total);
    memcpy(out_one, r.output_ids, sizeof(int32_t) * total);
    memcpy(steps_one, r.steps, sizeof(int32_t) * total);
    hg_gen_result_free(&r);
    hg_ctx *b = new_ctx(0, "latest-m4");
    p->max_new_tokens = 1;
    for (int i = 0; i < total; i++) {
        assert_int_equal(hg_generate(b, i ? NULL : ids, i ? 0 : n, p, NULL, NULL, &r, &e), HG_OK);
        assert_int_equal(r.n_out, 1);
        out_chunk[i] = r.output_ids[0];
        steps_chunk[i] = r.steps[0];
        hg_gen_result_free(&r);
    }
    hg_ctx_free(a);
    hg_ctx_free(b);
}

static void test_chunked_equals_single(void **state)
{
    (void)state;
    int32_t ids[12];
    for (int i = 0; i < 12; i++) ids[i] = (i * 53 + 7) % 480;
    int32_t o1[12], s1[12], o2[12], s2[12];
    hg_gen_params p;
    gparams(&p, 12, 12);
    p.warmstart = 1;
    p.criterion = HG_CRIT_KL;
    p.threshold = 5e-4;
    run_chunked(&p, ids, 12, 12, o1, s1, o2, s2);
    assert_memory_equal(o1, o2, sizeof o1);
    assert_memory_equal(s1, s2, sizeof s1);
    /* warm start really changes the result (so the check above means something) */
    int32_t o3[12], s3[12], o4[12], s4[12];
    p.warmstart = 0;
    run_chunked(&p, ids, 12, 12, o3, s3, o4, s4);
    assert_true(memcmp(s1, s3, sizeof s1) != 0 || memcmp(o1, o3, sizeof o1) != 0);
    /* sampling with a random state: the RNG stream continues */
    gparams(&p, 6, 12);
    p.greedy = 0;
    p.temperature = 1.5f;
    p.init_scale = 1;
    p.seed = 1234;
    run_chunked(&p, ids, 12, 12, o1, s1, o2, s2);
    assert_memory_equal(o1, o2, sizeof o1);
}

/* A second turn's prefill attends to earlier tokens that exited at
 * different steps (latest-m4): the one-row attention (chunks of 4) and the
 * gathered many-row attention (one chunk) give the same ids and steps. */
static void run_two_turns(int ubatch, int32_t *out, int32_t *steps)
{
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.cache = "latest-m4";
    cp.ubatch = ubatch;
    hg_ctx *c;
    hg_err e;
    assert_int_equal(hg_ctx_new(g_m, &cp, &c, &e), HG_OK);
    hg_gen_params p;
    gparams(&p, 16, 10);
    p.criterion = HG_CRIT_ENTROPY_DIFF;
    p.threshold = 0.01;
    int32_t a[9], b[14];
    for (int i = 0; i < 9; i++) a[i] = (i * 31 + 5) % 480;
    for (int i = 0; i < 14; i++) b[i] = (i * 17 + 3) % 480;
    hg_gen_result r;
    assert_int_equal(hg_generate(c, a, 9, &p, NULL, NULL, &r, &e), HG_OK);
    memcpy(out, r.output_ids, sizeof(int32_t) * 10);
    memcpy(steps, r.steps, sizeof(int32_t) * 10);
    hg_gen_result_free(&r);
    assert_int_equal(hg_generate(c, b, 14, &p, NULL, NULL, &r, &e), HG_OK);
    memcpy(out + 10, r.output_ids, sizeof(int32_t) * 10);
    memcpy(steps + 10, r.steps, sizeof(int32_t) * 10);
    hg_gen_result_free(&r);
    hg_ctx_free(c);
}

static void test_attention_paths_agree(void **state)
{
    (void)state;
    int32_t o1[20], s1[20], o2[20], s2[20];
    run_two_turns(4, o1, s1);
    run_two_turns(0, o2, s2);
    assert_memory_equal(o1, o2, sizeof o1);
    assert_memory_equal(s1, s2, sizeof s1);
    int varied = 0; /* the first turn's tokens really exited at different steps */
    for (int i = 1; i < 10; i++) varied |= s1[i] != s1[0];
    assert_true(varied);
}

/* ------------------------------------------- contexts on their own threads */

typedef struct conc_job {
    hg_ctx *c;
    const int32_t *prompt;
    int n;
    int32_t out[3][24];
    int n_out[3];
    int fail;
} conc_job;

static void *conc_run(void *a)
{
    conc_job *j = a;
    hg_gen_params p;
    gparams(&p, 6, 24);
    for (int r = 0; r < 3; r++) {
        hg_ctx_reset(j->c);
        hg_gen_result res;
        hg_err e;
        if (hg_generate(j->c, j->prompt, j->n, &p, NULL, NULL, &res, &e) != HG_OK) {
            j->fail = 1;
            return NULL;
        }
        memcpy(j->out[r], res.output_ids, sizeof(int32_t) * (size_t)res.n_out);
        j->n_out[r] = res.n_out;
        hg_gen_result_free(&res);
    }
    return NULL;
}

/* Two contexts of one model with their own threads (n_threads > 0) generate
 * at the same time, prefill included, and give what a context on the
 * model's threads gives alone. */
static void test_concurrent_contexts(void **state)
{
    (void)state;
    int32_t pa[40], pb[33];
    for (int i = 0; i < 40; i++) pa[i] = PROMPT_A[i % NA] + i;
    for (int i = 0; i < 33; i++) pb[i] = PROMPT_B[i % NB] + 2 * i;
    hg_gen_params p;
    gparams(&p, 6, 24);
    int32_t ra[24], rb[24];
    hg_ctx *c0 = new_ctx(0, NULL);
    int na = gen(c0, pa, 40, &p, NULL, NULL, ra, NULL);
    hg_ctx_reset(c0);
    int nb = gen(c0, pb, 33, &p, NULL, NULL, rb, NULL);
    hg_ctx_free(c0);

    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    hg_err e;
    conc_job ja = {.prompt = pa, .n = 40}, jb = {.prompt = pb, .n = 33};
    cp.n_threads = 2;
    assert_int_equal(hg_ctx_new(g_m, &cp, &ja.c, &e), HG_OK);
    cp.n_threads = 1;
    assert_int_equal(hg_ctx_new(g_m, &cp, &jb.c, &e), HG_OK);
    cp.n_threads = -1;
    hg_ctx *bad = NULL;
    assert_int_equal(hg_ctx_new(g_m, &cp, &bad, &e), HG_E_ARG);
    assert_null(bad);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, conc_run, &ja), 0);
    assert_int_equal(pthread_create(&tb, NULL, conc_run, &jb), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_false(ja.fail);
    assert_false(jb.fail);
    for (int r = 0; r < 3; r++) {
        assert_int_equal(ja.n_out[r], na);
        assert_int_equal(jb.n_out[r], nb);
        assert_ids(ja.out[r], ra, na, "context A on its own threads");
        assert_ids(jb.out[r], rb, nb, "context B on its own thread");
    }
    hg_ctx_free(ja.c);
    hg_ctx_free(jb.c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_turn),
        cmocka_unit_test(test_multi_turn_batches),
        cmocka_unit_test(test_cancel_and_resume),
        cmocka_unit_test(test_context_limits),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_init_scale_seed),
        cmocka_unit_test(test_step_extremes),
        cmocka_unit_test(test_bad_token_ids),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_set_cache),
        cmocka_unit_test(test_chunked_equals_single),
        cmocka_unit_test(test_attention_paths_agree),
        cmocka_unit_test(test_concurrent_contexts),
    };
    return cmocka_run_group_tests_name("engine", tests, setup, teardown);
}
