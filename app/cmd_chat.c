/* cmd_chat.c — `huginn chat` (the TUI, or --plain) and `huginn demo`. */
#include "cli.h"
#include "cmds.h"
#include "huginn.h"

#include "app.h"
#include "demo.h"
#include "keys.h"
#include "plain.h"
#include "remote.h"
#include "session.h"
#include "settings.h"
#include "theme.h"
#include "tui.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char chat_usage[] =
    "usage: huginn chat [--model PATH | --server URL [--api-key-file F] [--remote-model NAME]]\n"
    "                   [--theme NAME] [--plain] [--resume]\n"
    "                   [--steps N] [--criterion NAME] [--threshold X] [--cache S] [--warmstart]\n"
    "                   [--greedy | --temperature T] [--seed S] [--max-new-tokens N] [--ctx N]\n"
    "       huginn demo [SCRIPT] [the same options]\n"
    "\n"
    "The terminal chat.  Each token runs the core block up to num_steps times; the compute\n"
    "gauge shows it live, the heatmap (Alt-h) tints every token by its steps.  F1 lists the keys.\n"
    "\n"
    "  --model PATH           checkpoint directory or hub id (default: the bundled demo-huginn)\n"
    "  --server URL           chat with an OpenAI-compatible server instead (huginn serve, vLLM, …;\n"
    "                         http://HOST:PORT, with or without /v1).  A huginn server sends every\n"
    "                         token's steps (gauge, heatmap, hotkeys work) and takes the recurrence\n"
    "                         settings; with any other server the steps are fixed on the server\n"
    "  --api-key-file F       send Authorization: Bearer <the key in F> to the server\n"
    "  --remote-model NAME    the server's model to use (default: the first it lists)\n"
    "  --theme NAME           default, light, mono or themes/NAME.json ($HUGINN_THEMES first)\n"
    "  --plain                a line REPL instead of the full screen (also when stdout is not a terminal)\n"
    "  --resume               continue the last autosaved conversation\n"
    "  --steps N              recurrence steps per token, 1..256 (default 32)\n"
    "  --criterion NAME       adaptive exit: kl (default, threshold 5e-4), argmax-stability,\n"
    "                         entropy-diff, latent-diff, minp-kl, cosine, none, off\n"
    "  --threshold X|auto     exit threshold\n"
    "  --cache S              KV-cache strategy (default latest-m4)\n"
    "  --warmstart            start each token from the previous token's state\n"
    "  --greedy               argmax decoding (default: the model's generation_config)\n"
    "  --temperature T        sample with temperature T\n"
    "  --seed S               sampling seed (default: random)\n"
    "  --max-new-tokens N     reply budget (default 256)\n"
    "  --ctx N                context positions (default: the model's block_size)\n"
    "  --weights F            auto, f32, bf16, q8_0 or q4 (see huginn run --help)\n"
    "  --kv-dtype T           KV cache elements: f32 (default), bf16, f16\n"
    "  --keys-man             print the man page's KEYS section (troff) and exit\n"
    "\n"
    "Defaults come from $XDG_CONFIG_HOME/huginn/config.json (keys: steps, criterion, threshold,\n"
    "cache, warmstart, greedy, temperature, top_p, top_k, min_p, seed, max_new_tokens, theme, model).\n"
    "Conversations are autosaved to $XDG_STATE_HOME/huginn/sessions/; input history to\n"
    "$XDG_STATE_HOME/huginn/history.\n";


/* The key in an --api-key-file: its first line, trimmed; printable ASCII
 * only (it goes into a header).  0, or an exit status after the message. */
static int read_key(const char *cmd, const char *path, char *key, size_t cap)
{
    char *text = NULL;
    size_t len = 0;
    hg_err e;
    if (hg_file_read(path, 64 << 10, &text, &len, &e) != HG_OK)
        return cli_error(cmd, "--api-key-file: %s", e.msg);
    char *p = text;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    size_t n = strcspn(p, "\r\n");
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= (unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f;
    int rc = 0;
    if (n == 0) rc = cli_error(cmd, "--api-key-file: %s holds no key", path);
    else if (n >= cap) rc = cli_error(cmd, "--api-key-file: the key in %s is too long", path);
    else if (bad) rc = cli_error(cmd, "--api-key-file: the key in %s has spaces or characters outside printable ASCII", path);
    else snprintf(key, cap, "%.*s", (int)n, p);
    memset(text, 0, len);
    free(text);
    return rc;
}

/* `huginn chat --server URL`: the same chat, its replies from a server. */
static int run_remote(const char *cmd, us_settings *set, int steps_set, const char *server, const char *key_file,
                      const char *remote_model, int plain, int resume, const ud_script *demo)
{
    char key[1024] = "", err[1024] = "";
    if (key_file) {
        int rc = read_key(cmd, key_file, key, sizeof key);
        if (rc) return rc;
    }
    ua_app a;
    memset(&a, 0, sizeof a);
    ur_options o = {.url = server, .api_key = key[0] ? key : NULL, .model = remote_model};
    if (isatty(2)) fprintf(stderr, "connecting to %s…\r", server);
    int rc = ur_start(&a.be, &o, set, err, sizeof err);
    if (isatty(2)) fprintf(stderr, "\033[K");
    memset(key, 0, sizeof key);
    if (rc) return cli_error(cmd, "%s", err);
    ub_info_get(a.be, &a.srv);
    if (a.srv.huginn && a.srv.num_steps_default > 0 && !steps_set) set->num_steps = a.srv.num_steps_default;
    a.set = *set;
    ub_set_settings(a.be, &a.set);
    snprintf(a.model_name, sizeof a.model_name, "%.127s", a.srv.host);
    snprintf(a.cache_used, sizeof a.cache_used, "%s", a.set.cache);
    ss_init(&a.ss);
    us_state_dir(a.state_dir, sizeof a.state_dir);
    ss_autosave_path(a.state_dir, a.autosave, sizeof a.autosave);
    if (resume) {
        char last[4300];
        int lr = -2;
        if (ss_latest(a.state_dir, last, sizeof last) == 0) lr = ss_load(&a.ss, last, err, sizeof err);
        if (lr >= 0) {
            snprintf(a.autosave, sizeof a.autosave, "%s", last);
            if (lr) ua_notice(&a, 1, "--resume: %s", err);
            else ua_notice(&a, 0, "resumed %s (%d messages)", last, a.ss.n);
        } else if (lr == -1) ua_notice(&a, 1, "--resume: %s", err);
        else ua_notice(&a, 1, "--resume: no saved conversation in %s/sessions", a.state_dir);
    }
    ua_backend_poll(&a);
    if (plain || !isatty(1) || !isatty(0)) {
        if (demo) fprintf(stderr, "huginn demo: needs a terminal; running the plain chat\n");
        rc = plain_run(&a);
    } else {
        rc = tui_run(&a, demo, err, sizeof err);
        if (rc == 1) fprintf(stderr, "huginn %s: %s\n", cmd, err);
    }
    ub_free(a.be);
    ss_free(&a.ss);
    return rc;
}

static int run_chat(int argc, char **argv, int is_demo)
{
    const char *cmd = is_demo ? "demo" : "chat";
    us_settings set;
    us_defaults(&set, 32);
    char cfg_model[1024] = "";
    int steps_set = 0, sampling_set = 0;
    /* config file first, then the options */
    char cfg_path[4200], err[1024];
    us_config_path(cfg_path, sizeof cfg_path);
    char *cfg = ui_read_file(cfg_path);
    if (cfg) {
        if (us_apply_config(&set, cfg, cfg_model, sizeof cfg_model, err, sizeof err))
            fprintf(stderr, "huginn %s: %s: %s (ignored)\n", cmd, cfg_path, err);
        steps_set = strstr(cfg, "\"steps\"") != NULL;
        sampling_set = strstr(cfg, "\"greedy\"") != NULL || strstr(cfg, "\"temperature\"") != NULL;
        free(cfg);
    }
    const char *model = NULL, *theme = NULL, *script = NULL;
    const char *server = NULL, *key_file = NULL, *remote_model = NULL, *local_opt = NULL;
    int plain = 0, resume = 0, n_ctx = 0;
    hg_weights weights = HG_WEIGHTS_AUTO;
    hg_kv_dtype kv_dtype = HG_KV_F32;
    cli c;
    cli_init(&c, cmd, argc, argv);
    const char *arg;
    while ((arg = cli_next(&c))) {
        if (cli_is(&c, "--help") || cli_is(&c, "-h")) { fputs(chat_usage, stdout); return 0; }
        else if (cli_is(&c, "--keys-man")) { uk_man(stdout); return 0; }
        else if (cli_is(&c, "--model")) { if (!(model = cli_str(&c))) return EXIT_BAD_INPUT; }
        else if (cli_is(&c, "--server")) { if (!(server = cli_str(&c))) return EXIT_BAD_INPUT; }
        else if (cli_is(&c, "--api-key-file")) { if (!(key_file = cli_str(&c))) return EXIT_BAD_INPUT; }
        else if (cli_is(&c, "--remote-model")) { if (!(remote_model = cli_str(&c))) return EXIT_BAD_INPUT; }
        else if (cli_is(&c, "--theme")) { if (!(theme = cli_str(&c))) return EXIT_BAD_INPUT; }
        else if (cli_is(&c, "--plain")) plain = 1;
        else if (cli_is(&c, "--resume")) resume = 1;
        else if (cli_is(&c, "--steps")) { if (!cli_int(&c, 1, US_MAX_STEPS, &set.num_steps)) return EXIT_BAD_INPUT; steps_set = 1; }
        else if (cli_is(&c, "--criterion")) {
            const char *v = cli_str(&c);
            if (!v) return EXIT_BAD_INPUT;
            if (!strcmp(v, "off")) set.criterion = HG_CRIT_OFF;
            else if (hg_criterion_parse(v, &set.criterion) != HG_OK)
                return cli_error(cmd, "unknown criterion '%s' (kl, argmax-stability, entropy-diff, latent-diff, minp-kl, cosine, none, off)", v);
            set.threshold = set.criterion == HG_CRIT_KL ? 5e-4 : NAN;
        } else if (cli_is(&c, "--threshold")) {
            const char *v = cli_str(&c);
            if (!v) return EXIT_BAD_INPUT;
            char *end;
            double t = strtod(v, &end);
            if (!strcmp(v, "auto")) set.threshold = NAN;
            else if (*end || !(t > 0) || !isfinite(t)) return cli_error(cmd, "bad --threshold '%s' (a positive number or auto)", v);
            else set.threshold = t;
        } else if (cli_is(&c, "--cache")) {
            const char *v = cli_str(&c);
            hg_err e;
            if (!v) return EXIT_BAD_INPUT;
            if (strlen(v) >= sizeof set.cache || hg_cache_strategy_check(v, &e) != HG_OK)
                return cli_error(cmd, "bad --cache '%s'", v);
            snprintf(set.cache, sizeof set.cache, "%s", v);
        } else if (cli_is(&c, "--warmstart")) set.warmstart = 1;
        else if (cli_is(&c, "--greedy")) { set.greedy = 1; sampling_set = 1; }
        else if (cli_is(&c, "--temperature")) {
            if (!cli_float(&c, 0, 100, &set.temperature)) return EXIT_BAD_INPUT;
            set.greedy = set.temperature == 0;
            sampling_set = 1;
        } else if (cli_is(&c, "--seed")) { if (!cli_u64(&c, &set.seed)) return EXIT_BAD_INPUT; }
        else if (cli_is(&c, "--max-new-tokens")) { if (!cli_int(&c, 1, 1 << 20, &set.max_new_tokens)) return EXIT_BAD_INPUT; }
        else if (cli_is(&c, "--ctx")) { if (!cli_int(&c, 1, 1 << 24, &n_ctx)) return EXIT_BAD_INPUT; local_opt = "--ctx"; }
        else if (cli_is(&c, "--weights")) {
            const char *v = cli_str(&c);
            if (!v) return EXIT_BAD_INPUT;
            if (hg_weights_parse(v, &weights) != HG_OK) return cli_error(cmd, "--weights: unknown format '%s' (auto, f32, bf16, q8_0, q4)", v);
            local_opt = "--weights";
        } else if (cli_is(&c, "--kv-dtype")) {
            const char *v = cli_str(&c);
            if (!v) return EXIT_BAD_INPUT;
            if (hg_kv_dtype_parse(v, &kv_dtype) != HG_OK) return cli_error(cmd, "--kv-dtype: unknown type '%s' (f32, bf16, f16)", v);
            local_opt = "--kv-dtype";
        }
        else if (is_demo && arg[0] != '-' && !script) script = arg;
        else return cli_unknown(&c);
    }
    if (server && model) return cli_error(cmd, "give --model (a local model) or --server (a remote one), not both");
    if (server && local_opt) return cli_error(cmd, "%s applies to a local model, not to --server", local_opt);
    if (!server && (key_file || remote_model))
        return cli_error(cmd, "%s needs --server URL", key_file ? "--api-key-file" : "--remote-model");
    if (theme) {
        if (strchr(theme, '/') || strlen(theme) >= sizeof set.theme) return cli_error(cmd, "bad --theme '%s'", theme);
        snprintf(set.theme, sizeof set.theme, "%s", theme);
    }
    /* the demo script */
    ud_script demo = {0};
    if (is_demo) {
        char path[4200];
        char *text = NULL;
        if (script) {
            if (!(text = ui_read_file(script))) return cli_error(cmd, "cannot read the script '%s'", script);
        } else if (ud_default_path(path, sizeof path) == 0) text = ui_read_file(path);
        if (!text) text = strdup(ud_default_script);
        int rc = ud_parse(&demo, text, err, sizeof err);
        free(text);
        if (rc) return cli_error(cmd, "%s: %s", script ? script : "default script", err);
    }
    if (server) {
        int rc = run_remote(cmd, &set, steps_set, server, key_file, remote_model, plain, resume, is_demo ? &demo : NULL);
        ud_free(&demo);
        return rc;
    }
    if (!model) model = cfg_model[0] ? cfg_model : cli_default_model();
    if (!model) {
        ud_free(&demo);
        return cli_error(cmd, "no model: give --model PATH (the bundled tests/fixtures/demo-huginn was not found)");
    }

    ua_app a;
    memset(&a, 0, sizeof a);
    hg_err e = {{0}};
    hg_load_params lp;
    hg_load_params_default(&lp);
    lp.progress = cli_progress;
    lp.progress_user = "loading";
    lp.weights = weights;
    hg_status st = hg_model_load(model, &lp, &a.model, &e);
    if (st != HG_OK) { fprintf(stderr, "huginn %s: %s\n", cmd, e.msg); ud_free(&demo); return cli_status_exit(st); }
    st = hg_tokenizer_load_dir(hg_model_dir(a.model), &a.tok, &e);
    if (st != HG_OK) {
        fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
        hg_model_free(a.model);
        ud_free(&demo);
        return cli_status_exit(st);
    }
    if (!sampling_set) {
        const hg_gen_defaults *gd = hg_model_gen_defaults(a.model);
        set.greedy = !gd->do_sample;
        if (gd->temperature > 0) set.temperature = gd->temperature;
        if (gd->top_p > 0) set.top_p = gd->top_p;
        set.top_k = gd->top_k;
        set.min_p = gd->min_p;
    }
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.n_ctx = n_ctx;
    cp.cache = set.cache;
    cp.kv_dtype = kv_dtype;
    hg_ctx *ctx = NULL;
    st = hg_ctx_new(a.model, &cp, &ctx, &e);
    if (st != HG_OK) {
        fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
        hg_tokenizer_free(a.tok);
        hg_model_free(a.model);
        ud_free(&demo);
        return cli_status_exit(st);
    }
    a.set = set;
    const char *md = hg_model_dir(a.model);
    size_t ml = strlen(md);
    while (ml > 1 && md[ml - 1] == '/') ml--;
    const char *base = md + ml;
    while (base > md && base[-1] != '/') base--;
    snprintf(a.model_name, sizeof a.model_name, "%.*s", (int)(md + ml - base), base);
    snprintf(a.cache_used, sizeof a.cache_used, "%s", hg_ctx_cache(ctx));
    a.n_ctx = hg_ctx_n_ctx(ctx);
    ss_init(&a.ss);
    snprintf(a.ss.model, sizeof a.ss.model, "%s", a.model_name);
    us_state_dir(a.state_dir, sizeof a.state_dir);
    ss_autosave_path(a.state_dir, a.autosave, sizeof a.autosave);
    if (resume) {
        char last[4300];
        int rc = -2;
        if (ss_latest(a.state_dir, last, sizeof last) == 0) rc = ss_load(&a.ss, last, err, sizeof err);
        if (rc >= 0) {
            snprintf(a.autosave, sizeof a.autosave, "%s", last);
            if (rc) ua_notice(&a, 1, "--resume: %s", err);
            else ua_notice(&a, 0, "resumed %s (%d messages)", last, a.ss.n);
        } else if (rc == -1) ua_notice(&a, 1, "--resume: %s", err);
        else ua_notice(&a, 1, "--resume: no saved conversation in %s/sessions", a.state_dir);
    }
    ue_engine *eng = NULL;
    if (ue_start(&eng, a.model, a.tok, ctx, &a.set, err, sizeof err) || !(a.be = ub_local(eng))) {
        if (eng) ue_free(eng);
        else hg_ctx_free(ctx);
        fprintf(stderr, "huginn %s: %s\n", cmd, eng ? "out of memory" : err);
        hg_tokenizer_free(a.tok);
        hg_model_free(a.model);
        ud_free(&demo);
        return EXIT_RUNTIME;
    }
    int rc = 0;
    if (plain || !isatty(1) || !isatty(0)) {
        if (is_demo) fprintf(stderr, "huginn demo: needs a terminal; running the plain chat\n");
        rc = plain_run(&a);
    } else {
        rc = tui_run(&a, is_demo ? &demo : NULL, err, sizeof err);
        if (rc == 1) fprintf(stderr, "huginn %s: %s\n", cmd, err);
    }
    ub_free(a.be);
    ss_free(&a.ss);
    hg_tokenizer_free(a.tok);
    hg_model_free(a.model);
    ud_free(&demo);
    return rc;
}

int cmd_chat(int argc, char **argv) { return run_chat(argc, argv, 0); }
int cmd_demo(int argc, char **argv) { return run_chat(argc, argv, 1); }
