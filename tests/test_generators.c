/* test_generators.c — the speculative and diffusion-style generators.
 * Every case of tiny-huginn.samplers.golden.json (made by the reference
 * implementation): identical output_ids (the first max_new_tokens, or up to
 * the stop token) and, for diffusion, the reference's statistics.  Speculative
 * greedy with verification threshold 1 equals plain greedy on chat prompts of
 * demo-huginn; the reference's crash cases (speculative + warm start, `fixed`
 * freezing with a small wavefront) run, stop where they should and leave the
 * context consistent; cancellation keeps the cache usable; every event
 * carries the context's tokens and KV bytes as they are then. */
#include "testutil.h"
#include "huginn.h"

#include <math.h>

static hg_model *g_tiny, *g_demo;
static hg_tokenizer *g_demo_tok;
static cJSON *g_golden;

static int setup(void **state)
{
    (void)state;
    hg_err e;
    hg_load_params lp;
    hg_load_params_default(&lp);
    lp.n_threads = 1;
    lp.cache_dir = "";
    if (hg_model_load(HG_FIXTURES "/tiny-huginn", &lp, &g_tiny, &e) != HG_OK) {
        fprintf(stderr, "load: %s\n", e.msg);
        return -1;
    }
    if (hg_model_load(HG_FIXTURES "/demo-huginn", &lp, &g_demo, &e) != HG_OK) {
        fprintf(stderr, "load: %s\n", e.msg);
        return -1;
    }
    if (hg_tokenizer_load_dir(HG_FIXTURES "/demo-huginn", &g_demo_tok, &e) != HG_OK) {
        fprintf(stderr, "tokenizer: %s\n", e.msg);
        return -1;
    }
    g_golden = tu_read_json(HG_FIXTURES "/tiny-huginn.samplers.golden.json");
    return g_golden ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hg_model_free(g_tiny);
    hg_model_free(g_demo);
    hg_tokenizer_free(g_demo_tok);
    cJSON_Delete(g_golden);
    return 0;
}

static double arg_num(const cJSON *args, const char *key, double def)
{
    const cJSON *j = cJSON_GetObjectItem(args, key);
    if (!j) return def;
    if (cJSON_IsBool(j)) return cJSON_IsTrue(j);
    return j->valuedouble;
}

static const char *arg_str(const cJSON *args, const char *key, const char *def)
{
    const cJSON *j = cJSON_GetObjectItem(args, key);
    return j && cJSON_IsString(j) ? j->valuestring : def;
}

/* Parameters of a golden case (the reference's defaults where absent). */
static void case_params(const cJSON *cs, hg_gen_params *p, const char **cache)
{
    const cJSON *args = cJSON_GetObjectItem(cs, "args");
    const char *kind = cJSON_GetObjectItem(cs, "kind")->valuestring;
    hg_gen_params_default(p, g_tiny);
    p->greedy = 1;
    p->init_scale = 0;
    p->max_new_tokens = cJSON_GetObjectItem(cs, "max_new_tokens")->valueint;
    p->num_steps = (int)arg_num(args, "num_steps", 32);
    p->warmstart = (int)arg_num(args, "continuous_compute", 0);
    if (!strcmp(kind, "speculative")) {
        p->generator = HG_GEN_SPECULATIVE;
        p->spec.draft_steps = (int)arg_num(args, "draft_steps", 32);
        p->spec.lookahead = (int)arg_num(args, "lookahead_for_draft", 8);
        p->spec.verification_threshold = arg_num(args, "verification_threshold", 1);
        *cache = arg_str(args, "cache_lookup_strategy", "full");
    } else {
        p->generator = HG_GEN_DIFFUSION;
        hg_diff_params *d = &p->diff;
        d->inner_recurrence = (int)arg_num(args, "inner_recurrence", 4);
        d->headway = (int)arg_num(args, "headway", 1);
        d->max_wavefront = (int)arg_num(args, "max_wavefront", 128);
        assert_int_equal(hg_freeze_parse(arg_str(args, "freeze_strategy", "latent-diff"), &d->freeze), HG_OK);
        d->exit_t = arg_num(args, "exit_t", 0.03);
        d->ema_embeds = arg_num(args, "ema_embeds", 0.1);
        d->state_noise_mixing = arg_num(args, "state_noise_mixing", 0.5);
        d->dampened_mixer = (int)arg_num(args, "dampened_state_mixer", 1);
        d->sqrt_mixer = (int)arg_num(args, "sqrt_mixer", 0);
        d->full_prefill = (int)arg_num(args, "full_prefill", 1);
        *cache = arg_str(args, "cache_lookup_strategy", "latest-m4-compress-s4");
    }
}

static int is_stop_id(int id) { return id == 480 || id == 481 || id == 484; }

static void test_golden_cases(void **state)
{
    (void)state;
    const cJSON *cases = cJSON_GetObjectItem(g_golden, "cases");
    int n_cases = 0;
    for (const cJSON *cs = cases->child; cs; cs = cs->next) {
        const char *name = cJSON_GetObjectItem(cs, "name")->valuestring;
        hg_gen_params p;
        const char *cache;
        case_params(cs, &p, &cache);
        hg_ctx_params cp;
        hg_ctx_params_default(&cp);
        cp.cache = cache;
        hg_ctx *ctx;
        hg_err e;
        assert_int_equal(hg_ctx_new(g_tiny, &cp, &ctx, &e), HG_OK);
        int n_ids, n_gold;
        int32_t *ids = tu_json_ids(cJSON_GetObjectItem(cs, "prompt_ids"), &n_ids);
        int32_t *gold = tu_json_ids(cJSON_GetObjectItem(cs, "output_ids"), &n_gold);
        int want = n_gold < p.max_new_tokens ? n_gold : p.max_new_tokens;
        for (int i = 0; i < want; i++)
            if (is_stop_id(gold[i])) {
                want = i + 1;
                break;
            }
        hg_gen_result res;
        if (hg_generate(ctx, ids, n_ids, &p, NULL, NULL, &res, &e) != HG_OK) fail_msg("%s: %s", name, e.msg);
        if (res.n_out != want) fail_msg("%s: %d tokens, golden %d", name, res.n_out, want);
        for (int i = 0; i < want; i++)
            if (res.output_ids[i] != gold[i])
                fail_msg("%s: token %d is %d, golden %d", name, i, res.output_ids[i], gold[i]);
        /* the context holds prompt + output, the last one pending */
        assert_int_equal(hg_ctx_n_tokens(ctx), n_ids + res.n_out);
        assert_true(hg_ctx_n_past(ctx) <= n_ids + res.n_out - 1);
        const cJSON *stats = cJSON_GetObjectItem(cs, "stats");
        if (stats) {
            const hg_gen_stats *s = &res.stats;
#define STAT(field)                                                                                             \
    if ((long)s->field != (long)cJSON_GetObjectItem(stats, #field)->valuedouble)                                \
        fail_msg("%s: " #field " %ld, golden %ld", name, (long)s->field,                                        \
                 (long)cJSON_GetObjectItem(stats, #field)->valuedouble);
            STAT(num_core_forward_passes);
            STAT(num_tokens_forward);
            STAT(diffusion_steps);
            STAT(num_cache_clears);
            STAT(num_standing_waves);
            const cJSON *rp = cJSON_GetArrayItem(cJSON_GetObjectItem(stats, "recurrence_per_position"), 0);
            int n_rp = cJSON_GetArraySize(rp);
            if (s->n_positions != n_rp) fail_msg("%s: %d positions counted, golden %d", name, s->n_positions, n_rp);
            for (int i = 0; i < n_rp; i++)
                if (s->recurrence_per_position[i] != cJSON_GetArrayItem(rp, i)->valueint)
                    fail_msg("%s: recurrence of position %d is %d, golden %d", name, i,
                             s->recurrence_per_position[i], cJSON_GetArrayItem(rp, i)->valueint);
        } else {
            const hg_gen_stats *s = &res.stats;
            assert_true(s->rounds > 0);
            assert_true(s->accepted <= s->drafted);
        }
        hg_gen_result_free(&res);
        free(ids);
        free(gold);
        hg_ctx_free(ctx);
        n_cases++;
    }
    assert_true(n_cases >= 11);
}

/* Plain greedy output of a prompt at num_steps. */
static void plain_greedy(hg_model *m, const int32_t *ids, int n, int steps, int max_new, const char *cache,
                         hg_gen_result *out)
{
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.cache = cache;
    hg_ctx *ctx;
    hg_err e;
    assert_int_equal(hg_ctx_new(m, &cp, &ctx, &e), HG_OK);
    hg_gen_params p;
    hg_gen_params_default(&p, m);
    p.greedy = 1;
    p.num_steps = steps;
    p.max_new_tokens = max_new;
    assert_int_equal(hg_generate(ctx, ids, n, &p, NULL, NULL, out, &e), HG_OK);
    hg_ctx_free(ctx);
}

static const char *const chat_prompts[] = {"What is a raven?", "Tell me a fortune.", "Define the word harbor.",
                                           "What does serendipity mean?"};

static void test_speculative_equals_plain_greedy(void **state)
{
    (void)state;
    const struct { int D, K; const char *cache; } cfgs[] = {{4, 4, "full"}, {2, 6, "latest-m4"}, {8, 3, "compress-s8"}};
    for (size_t q = 0; q < sizeof chat_prompts / sizeof *chat_prompts; q++) {
        hg_chat_msg msg = {"user", chat_prompts[q]};
        int32_t *ids;
        int n;
        hg_err e;
        assert_int_equal(hg_chat_tokenize(g_demo_tok, &msg, 1, 1, &ids, &n, &e), HG_OK);
        for (size_t k = 0; k < sizeof cfgs / sizeof *cfgs; k++) {
            hg_gen_result plain;
            plain_greedy(g_demo, ids, n, 16, 40, cfgs[k].cache, &plain);
            hg_ctx_params cp;
            hg_ctx_params_default(&cp);
            cp.cache = cfgs[k].cache;
            hg_ctx *ctx;
            assert_int_equal(hg_ctx_new(g_demo, &cp, &ctx, &e), HG_OK);
            hg_gen_params p;
            hg_gen_params_default(&p, g_demo);
            p.greedy = 1;
            p.num_steps = 16;
            p.max_new_tokens = 40;
            p.generator = HG_GEN_SPECULATIVE;
            p.spec.draft_steps = cfgs[k].D;
            p.spec.lookahead = cfgs[k].K;
            hg_gen_result res;
            assert_int_equal(hg_generate(ctx, ids, n, &p, NULL, NULL, &res, &e), HG_OK);
            if (res.n_out != plain.n_out)
                fail_msg("prompt %zu cfg %zu: %d tokens, plain %d", q, k, res.n_out, plain.n_out);
            for (int i = 0; i < res.n_out; i++)
                if (res.output_ids[i] != plain.output_ids[i])
                    fail_msg("prompt %zu cfg %zu: token %d is %d, plain %d", q, k, i, res.output_ids[i],
                             plain.output_ids[i]);
            assert_int_equal(res.stop_reason, plain.stop_reason);
            assert_true(res.stats.rounds > 0 && res.stats.accepted <= res.stats.drafted);
            /* a second turn continues on the same context like plain decoding */
            assert_int_equal(hg_ctx_n_tokens(ctx), n + res.n_out);
            hg_gen_result_free(&res);
            hg_gen_result_free(&plain);
            hg_ctx_free(ctx);
        }
        free(ids);
    }
}

/* The chat continues after a speculative or diffusion turn: the next turn's
 * plain output equals that of a context fed the same tokens afresh. */
static void test_context_consistent_after(void **state)
{
    (void)state;
    hg_chat_msg msg = {"user", "What is a raven?"};
    int32_t *ids;
    int n;
    hg_err e;
    assert_int_equal(hg_chat_tokenize(g_demo_tok, &msg, 1, 1, &ids, &n, &e), HG_OK);
    for (int g = HG_GEN_SPECULATIVE; g <= HG_GEN_DIFFUSION; g++) {
        hg_ctx_params cp;
        hg_ctx_params_default(&cp);
        cp.cache = "latest-m4-compress-s4";
        hg_ctx *ctx;
        assert_int_equal(hg_ctx_new(g_demo, &cp, &ctx, &e), HG_OK);
        hg_gen_params p;
        hg_gen_params_default(&p, g_demo);
        p.greedy = 1;
        p.num_steps = 8;
        p.max_new_tokens = 12;
        p.generator = (hg_generator)g;
        p.spec.draft_steps = 2;
        p.spec.lookahead = 4;
        hg_gen_result res;
        assert_int_equal(hg_generate(ctx, ids, n, &p, NULL, NULL, &res, &e), HG_OK);
        assert_int_equal(res.n_out, 12);
        assert_int_equal(hg_ctx_n_tokens(ctx), n + 12);
        assert_true(hg_ctx_n_past(ctx) <= n + 11);
        /* the next call processes the pending tokens and generates */
        hg_gen_params q = p;
        q.generator = HG_GEN_PLAIN;
        q.max_new_tokens = 4;
        hg_gen_result more;
        int32_t nl = ids[n - 1];
        assert_int_equal(hg_generate(ctx, &nl, 1, &q, NULL, NULL, &more, &e), HG_OK);
        assert_int_equal(more.n_out, 4);
        hg_gen_result_free(&more);
        hg_gen_result_free(&res);
        hg_ctx_free(ctx);
    }
    free(ids);
}

/* The reference crashes on these; huginn defines them. */
static void test_reference_crash_cases(void **state)
{
    (void)state;
    const cJSON *cs = cJSON_GetArrayItem(cJSON_GetObjectItem(g_golden, "cases"), 0);
    int n;
    int32_t *ids = tu_json_ids(cJSON_GetObjectItem(cs, "prompt_ids"), &n);
    hg_err e;
    /* speculative + warm start: drafts start warm, the verify pass from s0,
     * so with threshold 1 and greedy sampling the output is plain greedy
     * decoding from s0 (warm start changes only the drafts) */
    {
        hg_gen_params p;
        hg_gen_params_default(&p, g_tiny);
        p.greedy = 1;
        p.num_steps = 8;
        p.max_new_tokens = 17;
        hg_ctx *a, *b;
        assert_int_equal(hg_ctx_new(g_tiny, NULL, &a, &e), HG_OK);
        assert_int_equal(hg_ctx_new(g_tiny, NULL, &b, &e), HG_OK);
        hg_gen_result plain, spec, cold;
        assert_int_equal(hg_generate(a, ids, n, &p, NULL, NULL, &plain, &e), HG_OK);
        p.generator = HG_GEN_SPECULATIVE;
        p.spec.draft_steps = 3;
        p.spec.lookahead = 4;
        assert_int_equal(hg_generate(b, ids, n, &p, NULL, NULL, &cold, &e), HG_OK);
        hg_ctx_reset(b);
        p.warmstart = 1;
        assert_int_equal(hg_generate(b, ids, n, &p, NULL, NULL, &spec, &e), HG_OK);
        assert_int_equal(spec.n_out, 17);
        assert_int_equal(spec.stop_reason, HG_STOP_MAX_TOKENS);
        assert_int_equal(spec.n_out, plain.n_out);
        assert_memory_equal(spec.output_ids, plain.output_ids, sizeof(int32_t) * (size_t)plain.n_out);
        /* the drafts did start warm: they differ from the cold run's */
        assert_true(spec.stats.accepted != cold.stats.accepted || spec.stats.rounds != cold.stats.rounds);
        hg_gen_result_free(&spec);
        hg_gen_result_free(&cold);
        hg_gen_result_free(&plain);
        hg_ctx_free(a);
        hg_ctx_free(b);
    }
    /* fixed freezing with small wavefronts: headway tokens per step */
    for (int w = 2; w <= 4; w++) {
        hg_ctx_params cp;
        hg_ctx_params_default(&cp);
        cp.cache = "latest-m4-compress-s4";
        hg_ctx *ctx;
        assert_int_equal(hg_ctx_new(g_tiny, &cp, &ctx, &e), HG_OK);
        hg_gen_params p;
        hg_gen_params_default(&p, g_tiny);
        p.greedy = 1;
        p.num_steps = 16;
        p.max_new_tokens = 20;
        p.generator = HG_GEN_DIFFUSION;
        p.diff.freeze = HG_FREEZE_FIXED;
        p.diff.max_wavefront = w;
        hg_gen_result res;
        assert_int_equal(hg_generate(ctx, ids, n, &p, NULL, NULL, &res, &e), HG_OK);
        assert_int_equal(res.n_out, 20);
        assert_true(res.stats.num_standing_waves > 0);
        /* after num_steps / R steps of warm-up one token per step */
        assert_int_equal(res.stats.diffusion_steps, 16 / 4 + 1 + 19);
        for (int i = 0; i < res.n_out; i++) assert_true(res.output_ids[i] >= 0 && res.output_ids[i] < 512);
        hg_gen_result_free(&res);
        hg_ctx_free(ctx);
    }
    /* a wavefront that cannot move is refused */
    {
        hg_ctx *ctx;
        assert_int_equal(hg_ctx_new(g_tiny, NULL, &ctx, &e), HG_OK);
        hg_gen_params p;
        hg_gen_params_default(&p, g_tiny);
        p.generator = HG_GEN_DIFFUSION;
        p.diff.max_wavefront = 1;
        hg_gen_result res;
        assert_int_equal(hg_generate(ctx, ids, n, &p, NULL, NULL, &res, &e), HG_E_ARG);
        assert_non_null(strstr(e.msg, "wavefront"));
        p.generator = HG_GEN_SPECULATIVE;
        p.spec.lookahead = 0;
        assert_int_equal(hg_generate(ctx, ids, n, &p, NULL, NULL, &res, &e), HG_E_ARG);
        p.spec.lookahead = 2;
        p.criterion = HG_CRIT_KL;
        assert_int_equal(hg_generate(ctx, ids, n, &p, NULL, NULL, &res, &e), HG_E_UNSUPPORTED);
        hg_ctx_free(ctx);
    }
    free(ids);
}

/* A stop token ends the output (it is included) even mid-round. */
static void test_stop_token(void **state)
{
    (void)state;
    const cJSON *cs = cJSON_GetArrayItem(cJSON_GetObjectItem(g_golden, "cases"), 0);
    int n;
    int32_t *ids = tu_json_ids(cJSON_GetObjectItem(cs, "prompt_ids"), &n);
    int32_t *gold = tu_json_ids(cJSON_GetObjectItem(cs, "output_ids"), &(int){0});
    hg_err e;
    for (int g = HG_GEN_SPECULATIVE; g <= HG_GEN_DIFFUSION; g++) {
        hg_ctx *ctx;
        assert_int_equal(hg_ctx_new(g_tiny, NULL, &ctx, &e), HG_OK);
        hg_gen_params p;
        const char *cache;
        case_params(cs, &p, &cache);
        p.generator = (hg_generator)g;
        int32_t stop = gold[5]; /* the 6th token of the speculative case */
        p.n_stop = 1;
        p.stop_ids = &stop;
        hg_gen_result res;
        assert_int_equal(hg_generate(ctx, ids, n, &p, NULL, NULL, &res, &e), HG_OK);
        assert_int_equal(res.stop_reason, HG_STOP_TOKEN);
        assert_int_equal(res.output_ids[res.n_out - 1], stop);
        for (int i = 0; i < res.n_out - 1; i++) assert_int_not_equal(res.output_ids[i], stop);
        if (g == HG_GEN_SPECULATIVE) assert_int_equal(res.n_out, 6);
        hg_gen_result_free(&res);
        hg_ctx_free(ctx);
    }
    free(ids);
    free(gold);
}

typedef struct cancel_state {
    int n_events[8];
    int stop_after_wave, waves, drafts, verifies;
} cancel_state;

static int on_event(const hg_event *ev, void *user)
{
    cancel_state *c = user;
    if (ev->type < 8) c->n_events[ev->type]++;
    if (ev->type == HG_EV_WAVE) {
        assert_true(ev->n_wave > 0 && ev->wave_ids && ev->wave_counts);
        assert_true(ev->n_frozen >= 0);
        return ++c->waves == c->stop_after_wave;
    }
    if (ev->type == HG_EV_DRAFT) c->drafts++;
    if (ev->type == HG_EV_VERIFY) {
        assert_true(ev->n_accepted <= ev->n_drafted);
        return ++c->verifies == c->stop_after_wave;
    }
    return 0;
}

static void test_events_and_cancel(void **state)
{
    (void)state;
    const cJSON *cs = cJSON_GetArrayItem(cJSON_GetObjectItem(g_golden, "cases"), 4); /* diff-s8-r4 */
    int n;
    int32_t *ids = tu_json_ids(cJSON_GetObjectItem(cs, "prompt_ids"), &n);
    hg_err e;
    for (int g = HG_GEN_SPECULATIVE; g <= HG_GEN_DIFFUSION; g++) {
        hg_gen_params p;
        const char *cache;
        case_params(cs, &p, &cache);
        p.generator = (hg_generator)g;
        p.spec.draft_steps = 2;
        p.spec.lookahead = 4;
        hg_ctx_params cp;
        hg_ctx_params_default(&cp);
        cp.cache = cache;
        hg_ctx *ctx;
        assert_int_equal(hg_ctx_new(g_tiny, &cp, &ctx, &e), HG_OK);
        cancel_state st = {.stop_after_wave = 3};
        hg_gen_result res;
        assert_int_equal(hg_generate(ctx, ids, n, &p, on_event, &st, &res, &e), HG_OK);
        assert_int_equal(res.stop_reason, HG_STOP_CANCELLED);
        assert_true(st.n_events[HG_EV_STEP] > 0);
        if (g == HG_GEN_SPECULATIVE) assert_true(st.drafts >= 8 && st.verifies == 3);
        else assert_int_equal(st.waves, 3);
        assert_int_equal(hg_ctx_n_tokens(ctx), n + res.n_out);
        assert_true(hg_ctx_n_past(ctx) <= n + res.n_out - 1);
        /* the context goes on: plain decoding of more tokens works */
        hg_gen_params q = p;
        q.generator = HG_GEN_PLAIN;
        q.max_new_tokens = 3;
        hg_gen_result more;
        assert_int_equal(hg_generate(ctx, NULL, 0, &q, NULL, NULL, &more, &e), HG_OK);
        assert_int_equal(more.n_out, 3);
        hg_gen_result_free(&more);
        hg_gen_result_free(&res);
        hg_ctx_free(ctx);
    }
    free(ids);
}

/* Every event of a reply carries the context as it is then (HG_EV_*
 * ctx_tokens and kv_bytes), so that a UI can show it while one call runs a
 * whole speculative or diffusion reply: kv_bytes is what hg_ctx_kv_bytes
 * says at that moment; a token's event counts the prompt and the output up
 * to it, as plain decoding's does for the same prompt; the cache holds at
 * least every kept token but the pending one (a draft's or a wave's
 * positions on top); the last figures are those of the context after the
 * call. */
typedef struct ctx_rec {
    hg_ctx *ctx;
    int n_prompt, n_events, n_tok, n_prov, last_kept, bad;
    int tok_kept[64];
    size_t tok_kv[64], prov_kv_over, last_kv;
    size_t per;         /* KV bytes of one position at 8 steps */
    char why[200];
} ctx_rec;

static int on_ctx_event(const hg_event *ev, void *user)
{
    ctx_rec *r = user;
    r->n_events++;
    if (r->bad) return 0;
    /* the cache's positions; a step's event also those of its pass */
    size_t kv = hg_ctx_kv_bytes(r->ctx);
    int held = hg_ctx_n_past(r->ctx);
    if (ev->type == HG_EV_STEP && ev->position + 1 > held) {
        if (held > 0) kv = kv / (size_t)held * (size_t)(ev->position + 1);
        else if (r->per && ev->kv_bytes <= r->per * (size_t)(ev->position + 1))
            kv = ev->kv_bytes; /* the first prefill: the core slots in use grow step by step */
        held = ev->position + 1;
    }
    if (ev->kv_bytes != kv || (held > 0 && ev->kv_bytes == 0))
        snprintf(r->why, sizeof r->why, "event %d (type %d): kv_bytes %zu, the cache holds %zu", r->n_events,
                 ev->type, ev->kv_bytes, kv), r->bad = 1;
    else if (ev->ctx_tokens < r->n_prompt || ev->ctx_tokens < r->last_kept)
        snprintf(r->why, sizeof r->why, "event %d (type %d): ctx_tokens %d after %d (prompt %d)", r->n_events,
                 ev->type, ev->ctx_tokens, r->last_kept, r->n_prompt), r->bad = 1;
    r->last_kept = ev->ctx_tokens;
    r->last_kv = ev->kv_bytes;
    if (ev->type == HG_EV_TOKEN && r->n_tok < 64) {
        r->tok_kept[r->n_tok] = ev->ctx_tokens;
        r->tok_kv[r->n_tok] = ev->kv_bytes;
        r->n_tok++;
    }
    if (ev->type == HG_EV_DRAFT || ev->type == HG_EV_WAVE) {
        /* the provisional positions are in the cache, not in the count */
        r->n_prov++;
        if (ev->kv_bytes > (size_t)(ev->ctx_tokens - 1) * r->per) r->prov_kv_over++;
    }
    return 0;
}

static void test_events_carry_context(void **state)
{
    (void)state;
    hg_chat_msg msg = {"user", "What is a raven?"};
    int32_t *ids;
    int n;
    hg_err e;
    assert_int_equal(hg_chat_tokenize(g_demo_tok, &msg, 1, 1, &ids, &n, &e), HG_OK);
    ctx_rec rec[HG_GEN_COUNT];
    size_t per = 0;
    for (int g = HG_GEN_PLAIN; g < HG_GEN_COUNT; g++) {
        hg_ctx_params cp;
        hg_ctx_params_default(&cp);
        cp.cache = "full";
        ctx_rec *r = &rec[g];
        memset(r, 0, sizeof *r);
        assert_int_equal(hg_ctx_new(g_demo, &cp, &r->ctx, &e), HG_OK);
        r->n_prompt = n;
        if (!per) per = hg_ctx_kv_bytes_per_token(r->ctx, 8);
        r->per = per;
        hg_gen_params p;
        hg_gen_params_default(&p, g_demo);
        p.greedy = 1;
        p.num_steps = 8;
        p.max_new_tokens = 12;
        p.generator = (hg_generator)g;
        p.spec.draft_steps = 2;
        p.spec.lookahead = 4;
        p.diff.inner_recurrence = 4;
        hg_gen_result res;
        assert_int_equal(hg_generate(r->ctx, ids, n, &p, on_ctx_event, r, &res, &e), HG_OK);
        if (r->bad) fail_msg("%s: %s", hg_generator_name((hg_generator)g), r->why);
        assert_true(res.n_out > 2);
        assert_int_equal(r->n_tok, res.n_out);
        assert_true(per > 0 && hg_ctx_kv_bytes(r->ctx) == per * (size_t)hg_ctx_n_past(r->ctx));
        for (int i = 0; i < r->n_tok; i++) {
            /* the same count as plain decoding's event for that token */
            if (r->tok_kept[i] != n + i + 1)
                fail_msg("%s: token %d reports %d tokens in the context, not %d", hg_generator_name((hg_generator)g),
                         i, r->tok_kept[i], n + i + 1);
            /* the cache holds every kept token but the pending one */
            if (r->tok_kv[i] < (size_t)(n + i) * per)
                fail_msg("%s: token %d reports %zu KV bytes, less than %d positions of %zu",
                         hg_generator_name((hg_generator)g), i, r->tok_kv[i], n + i, per);
            if (g == HG_GEN_PLAIN) assert_true(r->tok_kv[i] == (size_t)(n + i) * per);
        }
        /* the last event's figures are those of the context after the call */
        assert_int_equal(r->last_kept, hg_ctx_n_tokens(r->ctx));
        assert_true(r->last_kv >= hg_ctx_kv_bytes(r->ctx));
        assert_true(hg_ctx_kv_bytes(r->ctx) == (size_t)(hg_ctx_n_tokens(r->ctx) - 1) * per);
        if (g != HG_GEN_PLAIN) assert_true(r->n_prov > 0 && r->prov_kv_over > 0);
        hg_gen_result_free(&res);
        hg_ctx_free(r->ctx);
    }
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_cases),
        cmocka_unit_test(test_speculative_equals_plain_greedy),
        cmocka_unit_test(test_context_consistent_after),
        cmocka_unit_test(test_reference_crash_cases),
        cmocka_unit_test(test_stop_token),
        cmocka_unit_test(test_events_and_cancel),
        cmocka_unit_test(test_events_carry_context),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
