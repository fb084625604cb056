/* cmd_run.c — `huginn run` (generate) and `huginn forward` (one pass). */
#include "cli.h"
#include "cmds.h"
#include "huginn.h"
#include "export.h"
#include "platform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char run_usage[] =
    "usage: huginn run [--model PATH] (--prompt-ids 1,2,3 | --prompt TEXT [--bos] | --chat TEXT [--system TEXT])\n"
    "                  [--steps N] [--max-new-tokens N] [--init-scale X]\n"
    "                  [--greedy | --temperature T --top-k K --top-p P --min-p M]\n"
    "                  [--repetition-penalty R] [--seed S]\n"
    "                  [--criterion NAME --threshold X --min-steps N --check-every N]\n"
    "                  [--cache STRATEGY] [--warmstart] [--ctx N] [--threads N] [--json] [--trace FILE]\n"
    "                  [--draft-steps D --lookahead K [--verification-threshold V]]\n"
    "                  [--diffusion [--inner-recurrence R] [--headway H] [--max-wavefront W]\n"
    "                   [--freeze NAME] [--exit-t X] [--ema-embeds E] [--state-noise-mixing M]\n"
    "                   [--dampened-mixer on|off] [--sqrt-mixer on|off] [--full-prefill on|off]]\n"
    "\n"
    "Generate from a prompt.  --model is a checkpoint directory or a hub id ORG/NAME\n"
    "found in the Hugging Face cache (default: the bundled demo-huginn).\n"
    "\n"
    "prompt:\n"
    "  --prompt-ids IDS       token ids, comma separated\n"
    "  --prompt TEXT          raw text, tokenized without special tokens; --bos prepends bos_token\n"
    "  --chat TEXT            one user turn in the chat format, ready for the reply; --system TEXT adds\n"
    "                         a system message\n"
    "compute:\n"
    "  --steps N              recurrence steps per token (default: the config's mean_recurrence)\n"
    "  --init-scale X         scale of the random initial state (default 1; 0 = zeros, deterministic)\n"
    "  --criterion NAME       per-token adaptive exit: entropy-diff, latent-diff, kl, minp-kl,\n"
    "                         argmax-stability, cosine or none (never exits; warm start then carries\n"
    "                         the state before ln_f, like the reference's adaptive path)\n"
    "  --threshold X|auto     exit threshold (auto: 1e-3, 0.03, 1e-3, 1e-5, 5, 1e-3 respectively)\n"
    "  --min-steps N          first step (0-based) at which the exit test runs (default 0)\n"
    "  --check-every N        run the exit test every N steps (default 1)\n"
    "  --warmstart            start each token's recurrence from the previous token's final state\n"
    "  --cache STRATEGY       full (default), latest-m4, compress-sN, compress-rN,\n"
    "                         latest-m4-compress-sN, latest-m4-compress-rN.  compress-sN/rN alone\n"
    "                         falls back to latest-m4 for tokens that exited early (the reference\n"
    "                         fails there)\n"
    "generator (default: plain, one token at a time at full depth):\n"
    "  --draft-steps D        speculative: draft tokens with D recurrence steps (default 32) ...\n"
    "  --lookahead K          ... K at a time (default 8, >= 1), then check them all in one\n"
    "                         full-depth pass; with --greedy the output is the plain greedy output\n"
    "  --verification-threshold V  a draft stands while it is the verify pass's argmax (V >= 1,\n"
    "                         default 1) or while its probability is >= V x the largest (V < 1)\n"
    "  --diffusion            diffusion-style: a wave of positions iterated together, frozen as\n"
    "                         their states settle (default cache latest-m4-compress-s4)\n"
    "  --inner-recurrence R   core steps per diffusion step (default 4)\n"
    "  --headway H            positions the wave grows by per step (default 1)\n"
    "  --max-wavefront W      widest wave (default 128; 0 = unlimited; else more than H)\n"
    "  --freeze NAME          latent-diff (default), latent-acceleration-1, latent-acceleration-2,\n"
    "                         token-stability, fixed (H tokens per step after steps/R steps)\n"
    "  --exit-t X             freezing threshold of the latent criteria (default 0.03)\n"
    "  --ema-embeds E         moving average of the wave's embeddings (default 0.1)\n"
    "  --state-noise-mixing M mix of fresh initial states into the wave (default 0.5)\n"
    "  --dampened-mixer on|off  divide M by 1 + each position's recurrence count (default on)\n"
    "  --sqrt-mixer on|off    mix with the square roots of the weights (default off)\n"
    "  --full-prefill on|off  the prompt at full depth first (default on)\n"
    "                         Neither takes --criterion.  --warmstart: speculative drafts start\n"
    "                         from the previous token's state, the verify pass from s0;\n"
    "                         diffusion's new positions start from the wave's last states\n"
    "sampling (default: the checkpoint's generation_config.json):\n"
    "  --greedy               argmax (lowest id on ties)\n"
    "  --temperature T, --top-k K, --top-p P, --min-p M   sample (in this order, after the\n"
    "                         repetition penalty)\n"
    "  --repetition-penalty R divide positive / multiply negative logits of tokens seen\n"
    "  --seed S               seed of the sampler and of the initial state (default: random)\n"
    "  --max-new-tokens N     (default 256); stops earlier at a stop token, which is included\n"
    "other:\n"
    "  --weights F            auto (default: the checkpoint's precision; bf16 for F32 checkpoints of\n"
    "                         over 1e9 parameters), f32 (exact), bf16, q8_0 or q4 (4.5 bits per weight).\n"
    "                         Converted weights are cached in $XDG_CACHE_HOME/huginn and mapped on\n"
    "                         later starts\n"
    "  --kv-dtype T           KV cache elements: f32 (default, exact), bf16 or f16 (half the memory)\n"
    "  --ctx N                context positions (default: the config's block_size)\n"
    "  --threads N            threads (default: the cores it may run on)\n"
    "  --json                 print {\"output_ids\": [...], \"steps\": [...], \"stop_reason\": ...,\n"
    "                         \"prefill_s\": s, \"decode_s\": s, \"stats\": {...}} (and \"text\" for text\n"
    "                         prompts); steps[t] = steps that\n"
    "                         produced output_ids[t], steps[0] is the prefill; stats: the generator\n"
    "                         and, speculative: rounds, drafted, accepted; diffusion:\n"
    "                         num_core_forward_passes, num_tokens_forward, diffusion_steps,\n"
    "                         num_cache_clears, num_standing_waves, recurrence_per_position\n"
    "  --trace FILE           per-token trace as JSON Lines, one line per produced token:\n"
    "                         {\"index\": i, \"id\": t, \"text\": \"...\", \"steps\": s, \"exit_values\": [...]}\n"
    "                         (index 0 is the prefill's token; text when the model has a tokenizer;\n"
    "                         exit_values: the criterion's value after every step, null where not\n"
    "                         evaluated).  Written atomically; a directory, FIFO or unwritable place\n"
    "                         is refused before anything runs\n"
    "\n"
    "Exit status: 0 ok, 2 bad input (options, files, a prompt longer than the context), 1 failure.\n";

static const char fwd_usage[] =
    "usage: huginn forward [--model PATH] --prompt-ids 1,2,3 [--steps N] [--init-scale X] [--seed S]\n"
    "                      [--weights auto|f32|bf16|q8_0|q4] [--kv-dtype f32|bf16|f16] [--threads N] [--json]\n"
    "\n"
    "One forward pass over the prompt with a fixed number of recurrence steps.\n"
    "With --json: {\"argmax\": [per position], \"last_logits\": [the whole vocabulary at the last position]}.\n"
    "Without: the argmax per position and the top logits of the last position.\n";

typedef struct run_opts {
    const char *model;
    char *ids_arg;
    const char *prompt, *chat, *system;
    int bos, json, have_prompt;
    int steps, max_new, threads, n_ctx;
    float init_scale;
    int greedy, sampled, seed_set;
    float temperature, top_p, min_p, rep;
    int top_k;
    uint64_t seed;
    hg_criterion crit;
    double threshold;
    int min_steps, check_every;
    const char *cache;
    int warmstart;
    hg_weights weights;
    hg_kv_dtype kv_dtype;
    const char *trace;
    /* generators */
    hg_generator gen;
    hg_spec_params spec;
    hg_diff_params diff;
    const char *spec_opt, *diff_opt; /* an option of each, for errors */
} run_opts;

/* on|off */
static int cli_onoff(cli *c, const char *name, int *out)
{
    const char *v = cli_str(c);
    if (!v) return 0;
    if (!strcmp(v, "on")) *out = 1;
    else if (!strcmp(v, "off")) *out = 0;
    else {
        cli_error(c->cmd, "%s: expected on or off, got '%s'", name, v);
        return 0;
    }
    return 1;
}

static uint64_t random_seed(void)
{
    uint64_t s;
    if (hg_random_bytes(&s, sizeof s) == 0) return s;
    return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

/* Parse the options shared by run and forward; returns 0 to continue, or an
 * exit status (-1 = help printed). */
static int parse_opts(int argc, char **argv, run_opts *o, int is_run)
{
    memset(o, 0, sizeof *o);
    o->init_scale = 1.0f;
    o->max_new = 256;
    o->threshold = NAN;
    o->check_every = 1;
    o->rep = 1.0f;
    hg_spec_params_default(&o->spec);
    hg_diff_params_default(&o->diff);
    cli c;
    cli_init(&c, argv[0], argc, argv);
    while (cli_next(&c)) {
        if (cli_is(&c, "--help") || cli_is(&c, "-h")) {
            fputs(is_run ? run_usage : fwd_usage, stdout);
            return -1;
        } else if (cli_is(&c, "--model")) {
            if (!(o->model = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--prompt-ids")) {
            if (!(o->ids_arg = (char *)cli_str(&c))) return 2;
            o->have_prompt++;
        } else if (cli_is(&c, "--steps")) {
            if (!cli_int(&c, 1, 4096, &o->steps)) return 2;
        } else if (cli_is(&c, "--init-scale")) {
            if (!cli_float(&c, 0, 1e6, &o->init_scale)) return 2;
        } else if (cli_is(&c, "--seed")) {
            if (!cli_u64(&c, &o->seed)) return 2;
            o->seed_set = 1;
        } else if (cli_is(&c, "--json")) {
            o->json = 1;
        } else if (cli_is(&c, "--threads")) {
            if (!cli_int(&c, 1, 1024, &o->threads)) return 2;
        } else if (cli_is(&c, "--weights")) {
            const char *w = cli_str(&c);
            if (!w) return 2;
            if (hg_weights_parse(w, &o->weights) != HG_OK)
                return cli_error(c.cmd, "--weights: unknown format '%s' (auto, f32, bf16, q8_0, q4)", w);
        } else if (cli_is(&c, "--kv-dtype")) {
            const char *v = cli_str(&c);
            if (!v) return 2;
            if (hg_kv_dtype_parse(v, &o->kv_dtype) != HG_OK)
                return cli_error(c.cmd, "--kv-dtype: unknown type '%s' (f32, bf16, f16)", v);
        } else if (!is_run) {
            return cli_unknown(&c);
        } else if (cli_is(&c, "--prompt")) {
            if (!(o->prompt = cli_str(&c))) return 2;
            o->have_prompt++;
        } else if (cli_is(&c, "--chat")) {
            if (!(o->chat = cli_str(&c))) return 2;
            o->have_prompt++;
        } else if (cli_is(&c, "--system")) {
            if (!(o->system = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--bos")) {
            o->bos = 1;
        } else if (cli_is(&c, "--max-new-tokens")) {
            if (!cli_int(&c, 0, 1 << 24, &o->max_new)) return 2;
        } else if (cli_is(&c, "--ctx")) {
            if (!cli_int(&c, 1, 1 << 24, &o->n_ctx)) return 2;
        } else if (cli_is(&c, "--greedy")) {
            o->greedy = 1;
        } else if (cli_is(&c, "--temperature")) {
            if (!cli_float(&c, 0, 1e6, &o->temperature)) return 2;
            o->sampled = 1;
        } else if (cli_is(&c, "--top-k")) {
            if (!cli_int(&c, 0, 1 << 30, &o->top_k)) return 2;
            o->sampled = 1;
        } else if (cli_is(&c, "--top-p")) {
            if (!cli_float(&c, 0, 1, &o->top_p)) return 2;
            o->sampled = 1;
        } else if (cli_is(&c, "--min-p")) {
            if (!cli_float(&c, 0, 1, &o->min_p)) return 2;
            o->sampled = 1;
        } else if (cli_is(&c, "--repetition-penalty")) {
            if (!cli_float(&c, 1e-6, 1e6, &o->rep)) return 2;
        } else if (cli_is(&c, "--criterion")) {
            const char *v = cli_str(&c);
            if (!v) return 2;
            if (hg_criterion_parse(v, &o->crit) != HG_OK || o->crit == HG_CRIT_OFF)
                return cli_error(c.cmd,
                                 "--criterion: unknown criterion '%s' (entropy-diff, latent-diff, kl, minp-kl, "
                                 "argmax-stability, cosine, none)", v);
        } else if (cli_is(&c, "--threshold")) {
            const char *v = c.eq ? c.eq : (c.i + 1 < c.argc ? c.argv[c.i + 1] : NULL);
            if (v && strcmp(v, "auto") == 0) {
                if (!c.eq) c.i++;
                o->threshold = NAN;
            } else if (!cli_double(&c, -1e300, 1e300, &o->threshold)) {
                return 2;
            }
        } else if (cli_is(&c, "--min-steps")) {
            if (!cli_int(&c, 0, 1 << 20, &o->min_steps)) return 2;
        } else if (cli_is(&c, "--check-every")) {
            if (!cli_int(&c, 1, 1 << 20, &o->check_every)) return 2;
        } else if (cli_is(&c, "--cache")) {
            if (!(o->cache = cli_str(&c))) return 2;
            hg_err e;
            if (hg_cache_strategy_check(o->cache, &e) != HG_OK) return cli_error(c.cmd, "--cache: %s", e.msg);
        } else if (cli_is(&c, "--warmstart")) {
            o->warmstart = 1;
        } else if (cli_is(&c, "--trace")) {
            if (!(o->trace = cli_str(&c))) return 2;
            char err[1024];
            if (ux_check_output(o->trace, err, sizeof err)) return cli_error(c.cmd, "--trace: %s", err);
        } else if (cli_is(&c, "--draft-steps")) {
            if (!cli_int(&c, 1, 4096, &o->spec.draft_steps)) return 2;
            o->spec_opt = "--draft-steps";
        } else if (cli_is(&c, "--lookahead")) {
            if (!cli_int(&c, 1, 1024, &o->spec.lookahead)) return 2;
            o->spec_opt = "--lookahead";
        } else if (cli_is(&c, "--verification-threshold")) {
            if (!cli_double(&c, 1e-9, 1e6, &o->spec.verification_threshold)) return 2;
            o->spec_opt = "--verification-threshold";
        } else if (cli_is(&c, "--diffusion")) {
            o->gen = HG_GEN_DIFFUSION;
        } else if (cli_is(&c, "--inner-recurrence")) {
            if (!cli_int(&c, 1, 4096, &o->diff.inner_recurrence)) return 2;
            o->diff_opt = "--inner-recurrence";
        } else if (cli_is(&c, "--headway")) {
            if (!cli_int(&c, 1, 1024, &o->diff.headway)) return 2;
            o->diff_opt = "--headway";
        } else if (cli_is(&c, "--max-wavefront")) {
            if (!cli_int(&c, 0, 1 << 24, &o->diff.max_wavefront)) return 2;
            o->diff_opt = "--max-wavefront";
        } else if (cli_is(&c, "--freeze")) {
            const char *v = cli_str(&c);
            if (!v) return 2;
            if (hg_freeze_parse(v, &o->diff.freeze) != HG_OK)
                return cli_error(c.cmd, "--freeze: unknown strategy '%s' (latent-diff, latent-acceleration-1, "
                                        "latent-acceleration-2, token-stability, fixed)", v);
            o->diff_opt = "--freeze";
        } else if (cli_is(&c, "--exit-t")) {
            if (!cli_double(&c, 0, 1e6, &o->diff.exit_t)) return 2;
            o->diff_opt = "--exit-t";
        } else if (cli_is(&c, "--ema-embeds")) {
            if (!cli_double(&c, 0, 1, &o->diff.ema_embeds)) return 2;
            o->diff_opt = "--ema-embeds";
        } else if (cli_is(&c, "--state-noise-mixing")) {
            if (!cli_double(&c, 0, 1, &o->diff.state_noise_mixing)) return 2;
            o->diff_opt = "--state-noise-mixing";
        } else if (cli_is(&c, "--dampened-mixer")) {
            if (!cli_onoff(&c, "--dampened-mixer", &o->diff.dampened_mixer)) return 2;
            o->diff_opt = "--dampened-mixer";
        } else if (cli_is(&c, "--sqrt-mixer")) {
            if (!cli_onoff(&c, "--sqrt-mixer", &o->diff.sqrt_mixer)) return 2;
            o->diff_opt = "--sqrt-mixer";
        } else if (cli_is(&c, "--full-prefill")) {
            if (!cli_onoff(&c, "--full-prefill", &o->diff.full_prefill)) return 2;
            o->diff_opt = "--full-prefill";
        } else {
            return cli_unknown(&c);
        }
    }
    if (o->have_prompt == 0)
        return cli_error(argv[0], is_run ? "no prompt: give --prompt-ids, --prompt or --chat (see --help)"
                                         : "no prompt: give --prompt-ids (see --help)");
    if (o->have_prompt > 1) return cli_error(argv[0], "give only one of --prompt-ids, --prompt and --chat");
    if (o->greedy && o->sampled)
        return cli_error(argv[0], "--greedy excludes --temperature, --top-k, --top-p and --min-p");
    if (o->system && !o->chat) return cli_error(argv[0], "--system goes with --chat");
    if (o->bos && !o->prompt) return cli_error(argv[0], "--bos goes with --prompt");
    if (o->spec_opt && o->gen == HG_GEN_DIFFUSION)
        return cli_error(argv[0], "%s (speculative) and --diffusion exclude each other", o->spec_opt);
    if (o->diff_opt && o->gen != HG_GEN_DIFFUSION) return cli_error(argv[0], "%s goes with --diffusion", o->diff_opt);
    if (o->spec_opt) o->gen = HG_GEN_SPECULATIVE;
    if (o->gen != HG_GEN_PLAIN && o->crit != HG_CRIT_OFF)
        return cli_error(argv[0], "--criterion goes with the plain generator, not with %s",
                         o->gen == HG_GEN_DIFFUSION ? "--diffusion" : o->spec_opt);
    if (o->gen == HG_GEN_DIFFUSION && o->diff.max_wavefront > 0 && o->diff.max_wavefront <= o->diff.headway)
        return cli_error(argv[0], "--max-wavefront %d: must be 0 (unlimited) or more than the headway (%d)",
                         o->diff.max_wavefront, o->diff.headway);
    if (o->gen == HG_GEN_DIFFUSION && !o->cache) o->cache = "latest-m4-compress-s4";
    if (!o->model) {
        o->model = cli_default_model();
        if (!o->model) return cli_error(argv[0], "no --model given and no bundled model found");
    }
    if (!o->seed_set) o->seed = random_seed();
    return 0;
}

static int load(const run_opts *o, const char *cmd, hg_model **m, hg_ctx **ctx, int steps)
{
    hg_err e;
    hg_load_params lp;
    hg_load_params_default(&lp);
    lp.n_threads = o->threads;
    lp.weights = o->weights;
    lp.progress = cli_progress;
    lp.progress_user = "converting weights";
    hg_status s = hg_model_load(o->model, &lp, m, &e);
    if (s) {
        fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
        return cli_status_exit(s);
    }
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.n_ctx = o->n_ctx;
    if (cp.n_ctx > hg_model_config(*m)->block_size) cp.n_ctx = hg_model_config(*m)->block_size;
    if (o->cache) cp.cache = o->cache;
    cp.max_steps = steps;
    cp.kv_dtype = o->kv_dtype;
    s = hg_ctx_new(*m, &cp, ctx, &e);
    if (s) {
        fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
        hg_model_free(*m);
        return cli_status_exit(s);
    }
    return 0;
}

/* ------------------------------------------------------------------ run */

typedef struct stream_state {
    hg_stream *st;
    int on;
    /* --trace: every token's exit values and text */
    int tracing;
    hg_stream *tst;             /* text of each token (specials included)  */
    float *cur;                 /* exit values of the token being computed */
    int n_cur, cap_cur;
    ux_tok *tok;
    int n_tok, cap_tok;
    int oom;
} stream_state;

static void trace_step(stream_state *ss, const hg_event *ev)
{
    if (ev->step == 1) ss->n_cur = 0;
    if (ev->step < 1) return;
    if (ev->step > ss->cap_cur) {
        int cap = ss->cap_cur ? ss->cap_cur : 64;
        while (cap < ev->step) cap *= 2;
        float *c = realloc(ss->cur, sizeof *c * (size_t)cap);
        if (!c) { ss->oom = 1; return; }
        ss->cur = c;
        ss->cap_cur = cap;
    }
    for (int k = ss->n_cur; k < ev->step - 1; k++) ss->cur[k] = NAN;
    ss->cur[ev->step - 1] = (float)ev->exit_value;
    if (ev->step > ss->n_cur) ss->n_cur = ev->step;
}

static void trace_token(stream_state *ss, const hg_event *ev)
{
    if (ss->n_tok == ss->cap_tok) {
        int cap = ss->cap_tok ? ss->cap_tok * 2 : 64;
        ux_tok *t = realloc(ss->tok, sizeof *t * (size_t)cap);
        if (!t) { ss->oom = 1; return; }
        ss->tok = t;
        ss->cap_tok = cap;
    }
    ux_tok *t = &ss->tok[ss->n_tok++];
    memset(t, 0, sizeof *t);
    t->id = ev->token_id;
    t->steps = ev->steps_used;
    int n = ss->n_cur < ev->steps_used ? ss->n_cur : ev->steps_used;
    float *v = n > 0 ? malloc(sizeof *v * (size_t)n) : NULL;
    if (v) {
        memcpy(v, ss->cur, sizeof *v * (size_t)n);
        t->trace = v;
        t->n_trace = n;
    }
    ss->n_cur = 0;
    if (ss->tst) {
        char buf[1024];
        size_t len = hg_stream_push(ss->tst, ev->token_id, buf, sizeof buf);
        char *s = malloc(len + 1);
        if (s) {
            memcpy(s, buf, len);
            s[len] = 0;
            t->text = s;
            t->text_len = len;
        }
    }
}

static void trace_free(stream_state *ss)
{
    for (int i = 0; i < ss->n_tok; i++) {
        free((void *)ss->tok[i].trace);
        free((void *)ss->tok[i].text);
    }
    free(ss->tok);
    free(ss->cur);
    if (ss->tst) hg_stream_free(ss->tst);
}

static int on_event(const hg_event *ev, void *user)
{
    stream_state *ss = user;
    if (ss->tracing) {
        if (ev->type == HG_EV_STEP && ev->phase == HG_PHASE_DECODE) trace_step(ss, ev);
        else if (ev->type == HG_EV_TOKEN) trace_token(ss, ev);
    }
    if (ev->type == HG_EV_TOKEN && ss->on) {
        char buf[1024];
        size_t n = hg_stream_push(ss->st, ev->token_id, buf, sizeof buf);
        if (n) {
            fwrite(buf, 1, n, stdout);
            fflush(stdout);
        }
    }
    return 0;
}

static void print_ids(FILE *f, const int32_t *ids, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", ids[i]);
    fputc(']', f);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\r') fputs("\\r", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

int cmd_run(int argc, char **argv)
{
    run_opts o;
    int rc = parse_opts(argc, argv, &o, 1);
    if (rc) return rc < 0 ? 0 : rc;
    hg_model *m = NULL;
    hg_ctx *ctx = NULL;
    hg_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    int n_ids = 0;
    char *text = NULL;
    hg_err e;
    hg_status s;
    const char *cmd = argv[0];
    rc = load(&o, cmd, &m, &ctx, o.steps);
    if (rc) return rc;
    const hg_config *cfg = hg_model_config(m);

    /* The tokenizer: needed for text prompts, used for readable output (not
     * loaded for ids in, JSON out). */
    s = o.json && o.ids_arg && !o.trace ? HG_E_IO : hg_tokenizer_load_dir(hg_model_dir(m), &tok, &e);
    if (s && (o.prompt || o.chat)) {
        fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
        rc = cli_status_exit(s);
        goto out;
    }
    if (s) tok = NULL;
    if (tok && hg_tokenizer_warning(tok) && (o.prompt || o.chat))
        fprintf(stderr, "huginn %s: warning: %s\n", cmd, hg_tokenizer_warning(tok));

    if (o.ids_arg) {
        if (!cli_parse_ids(o.ids_arg, &ids, &n_ids) || n_ids == 0) {
            rc = cli_error(cmd, "--prompt-ids: expected comma-separated token ids, got '%s'", o.ids_arg);
            goto out;
        }
    } else if (o.prompt) {
        int32_t *t = NULL;
        int nt = 0;
        if ((s = hg_tokenize(tok, o.prompt, strlen(o.prompt), 0, &t, &nt, &e))) {
            rc = cli_error(cmd, "%s", e.msg);
            goto out;
        }
        int bos = o.bos ? hg_tokenizer_bos_id(tok) : -1;
        if (o.bos && bos < 0) {
            free(t);
            rc = cli_error(cmd, "--bos: the tokenizer has no bos_token");
            goto out;
        }
        ids = malloc(sizeof *ids * (size_t)(nt + 1));
        n_ids = 0;
        if (bos >= 0) ids[n_ids++] = bos;
        memcpy(ids + n_ids, t, sizeof *ids * (size_t)nt);
        n_ids += nt;
        free(t);
    } else {
        hg_chat_msg msgs[2];
        int n = 0;
        if (o.system) msgs[n++] = (hg_chat_msg){"system", o.system};
        msgs[n++] = (hg_chat_msg){"user", o.chat};
        if ((s = hg_chat_tokenize(tok, msgs, n, 1, &ids, &n_ids, &e))) {
            rc = cli_error(cmd, "%s", e.msg);
            goto out;
        }
    }
    if (n_ids == 0) {
        rc = cli_error(cmd, "the prompt is empty after tokenization");
        goto out;
    }
    if (n_ids > hg_ctx_n_ctx(ctx)) {
        rc = cli_error(cmd, "the prompt has %d tokens; the context holds %d (block_size %d)", n_ids,
                       hg_ctx_n_ctx(ctx), cfg->block_size);
        goto out;
    }

    hg_gen_params p;
    hg_gen_params_default(&p, m);
    if (o.steps) p.num_steps = o.steps;
    p.max_new_tokens = o.max_new;
    p.init_scale = o.init_scale;
    p.seed = o.seed;
    if (o.greedy) p.greedy = 1;
    if (o.sampled) {
        p.greedy = 0;
        p.temperature = o.temperature > 0 ? o.temperature : p.temperature;
        if (o.top_k) p.top_k = o.top_k;
        if (o.top_p > 0) p.top_p = o.top_p;
        if (o.min_p > 0) p.min_p = o.min_p;
    }
    if (o.rep != 1.0f) p.repetition_penalty = o.rep;
    p.criterion = o.crit;
    p.threshold = o.threshold;
    p.min_steps = o.min_steps;
    p.check_every = o.check_every;
    p.warmstart = o.warmstart;
    p.generator = o.gen;
    p.spec = o.spec;
    p.diff = o.diff;

    stream_state ss = {0};
    int text_mode = tok && (o.prompt || o.chat);
    if (text_mode && !o.json && isatty(1)) {
        ss.st = hg_stream_new(tok, 1);
        ss.on = ss.st != NULL;
    }
    if (o.trace) {
        ss.tracing = 1;
        if (tok) ss.tst = hg_stream_new(tok, 0);
    }
    hg_gen_result r;
    s = hg_generate(ctx, ids, n_ids, &p, on_event, &ss, &r, &e);
    if (ss.on) {
        char buf[64];
        size_t n = hg_stream_finish(ss.st, buf, sizeof buf);
        if (n) fwrite(buf, 1, n, stdout);
        fputc('\n', stdout);
    }
    if (ss.st) hg_stream_free(ss.st);
    if (s) {
        fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
        rc = cli_status_exit(s);
        trace_free(&ss);
        goto out;
    }
    if (o.trace) {
        char err[1024];
        if (ss.oom) {
            fprintf(stderr, "huginn %s: --trace: out of memory\n", cmd);
            rc = EXIT_RUNTIME;
        } else if (ux_trace_write(o.trace, ss.tok, ss.n_tok, err, sizeof err)) {
            fprintf(stderr, "huginn %s: --trace: %s\n", cmd, err);
            rc = EXIT_RUNTIME;
        }
        trace_free(&ss);
        if (rc) {
            hg_gen_result_free(&r);
            goto out;
        }
    }
    if (tok && hg_detokenize(tok, r.output_ids, r.n_out, 1, &text, &e) != HG_OK) text = NULL;
    if (o.json) {
        printf("{\"output_ids\": ");
        print_ids(stdout, r.output_ids, r.n_out);
        printf(", \"steps\": ");
        print_ids(stdout, r.steps, r.n_out);
        printf(", \"stop_reason\": \"%s\", \"prefill_s\": %.6f, \"decode_s\": %.6f", hg_stop_reason_str(r.stop_reason),
               r.prefill_s, r.decode_s);
        if (text_mode && text) {
            printf(", \"text\": ");
            json_string(stdout, text);
        }
        const hg_gen_stats *st = &r.stats;
        printf(", \"stats\": {\"generator\": \"%s\"", hg_generator_name(p.generator));
        if (p.generator == HG_GEN_SPECULATIVE)
            printf(", \"rounds\": %d, \"drafted\": %d, \"accepted\": %d", st->rounds, st->drafted, st->accepted);
        if (p.generator == HG_GEN_DIFFUSION) {
            printf(", \"num_core_forward_passes\": %d, \"num_tokens_forward\": %ld, \"diffusion_steps\": %d, "
                   "\"num_cache_clears\": %d, \"num_standing_waves\": %d, \"recurrence_per_position\": ",
                   st->num_core_forward_passes, st->num_tokens_forward, st->diffusion_steps, st->num_cache_clears,
                   st->num_standing_waves);
            print_ids(stdout, st->recurrence_per_position, st->n_positions);
        }
        printf("}}\n");
    } else if (!ss.on) {
        if (text_mode && text) printf("%s\n", text);
        else {
            printf("output ids: ");
            print_ids(stdout, r.output_ids, r.n_out);
            printf("\nsteps:      ");
            print_ids(stdout, r.steps, r.n_out);
            printf("\nstop:       %s\n", hg_stop_reason_str(r.stop_reason));
            if (text) printf("text:       %s\n", text);
        }
    }
    if (!o.json && isatty(2)) {
        double tps = r.n_out > 1 && r.decode_s > 0 ? (r.n_out - 1) / r.decode_s : 0;
        fprintf(stderr, "[%d tokens, prefill %.3f s, decode %.2f tok/s, stop: %s", r.n_out, r.prefill_s, tps,
                hg_stop_reason_str(r.stop_reason));
        if (p.generator == HG_GEN_SPECULATIVE)
            fprintf(stderr, ", %d rounds, %d/%d drafts accepted", r.stats.rounds, r.stats.accepted, r.stats.drafted);
        if (p.generator == HG_GEN_DIFFUSION)
            fprintf(stderr, ", %d core passes in %d diffusion steps", r.stats.num_core_forward_passes,
                    r.stats.diffusion_steps);
        fputs("]\n", stderr);
    }
    hg_gen_result_free(&r);
out:
    free(text);
    free(ids);
    hg_tokenizer_free(tok);
    hg_ctx_free(ctx);
    hg_model_free(m);
    return rc;
}

/* -------------------------------------------------------------- forward */

int cmd_forward(int argc, char **argv)
{
    run_opts o;
    int rc = parse_opts(argc, argv, &o, 0);
    if (rc) return rc < 0 ? 0 : rc;
    const char *cmd = argv[0];
    int32_t *ids = NULL;
    int n_ids = 0;
    if (!cli_parse_ids(o.ids_arg, &ids, &n_ids) || n_ids == 0)
        return cli_error(cmd, "--prompt-ids: expected comma-separated token ids, got '%s'", o.ids_arg);
    hg_model *m = NULL;
    hg_ctx *ctx = NULL;
    if ((rc = load(&o, cmd, &m, &ctx, o.steps))) {
        free(ids);
        return rc;
    }
    const hg_config *cfg = hg_model_config(m);
    int steps = o.steps ? o.steps : cfg->mean_recurrence;
    int V = cfg->vocab_size;
    float *logits = NULL;
    hg_err e;
    if (n_ids > hg_ctx_n_ctx(ctx)) {
        rc = cli_error(cmd, "the prompt has %d tokens; the context holds %d", n_ids, hg_ctx_n_ctx(ctx));
        goto out;
    }
    logits = malloc(sizeof(float) * (size_t)n_ids * (size_t)V);
    if (!logits) {
        fprintf(stderr, "huginn %s: out of memory\n", cmd);
        rc = EXIT_RUNTIME;
        goto out;
    }
    hg_status s = hg_forward(ctx, ids, n_ids, steps, o.init_scale, o.seed, logits, NULL, &e);
    if (s) {
        fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
        rc = cli_status_exit(s);
        goto out;
    }
    const float *last = logits + (size_t)(n_ids - 1) * V;
    if (o.json) {
        printf("{\"argmax\": [");
        for (int t = 0; t < n_ids; t++) {
            const float *l = logits + (size_t)t * V;
            int best = 0;
            for (int i = 1; i < V; i++)
                if (l[i] > l[best]) best = i;
            printf("%s%d", t ? ", " : "", best);
        }
        printf("], \"last_logits\": [");
        for (int i = 0; i < V; i++) {
            if (i) fputs(", ", stdout);
            json_print_float(stdout, (double)last[i]);
        }
        printf("]}\n");
    } else {
        printf("position  token  argmax  logit\n");
        for (int t = 0; t < n_ids; t++) {
            const float *l = logits + (size_t)t * V;
            int best = 0;
            for (int i = 1; i < V; i++)
                if (l[i] > l[best]) best = i;
            printf("%8d  %5d  %6d  %.4f\n", t, ids[t], best, l[best]);
        }
        printf("top logits at the last position:");
        int shown[5] = {-1, -1, -1, -1, -1};
        for (int k = 0; k < 5 && k < V; k++) {
            int best = -1;
            for (int i = 0; i < V; i++) {
                int used = 0;
                for (int j = 0; j < k; j++) used |= shown[j] == i;
                if (!used && (best < 0 || last[i] > last[best])) best = i;
            }
            shown[k] = best;
            printf(" %d (%.4f)", best, last[best]);
        }
        printf("\n");
    }
out:
    free(logits);
    free(ids);
    hg_ctx_free(ctx);
    hg_model_free(m);
    return rc;
}
