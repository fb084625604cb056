/* settings.c — live settings, hotkeys, config and slash commands. */
#include "settings.h"
#include "keys.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const us_cache_cycle[] = {
    "full", "latest-m4", "latest-m4-compress-s16", "compress-s16", "latest-m4-compress-r4", NULL,
};

void us_defaults(us_settings *s, int mean_recurrence)
{
    memset(s, 0, sizeof *s);
    s->num_steps = mean_recurrence > 0 ? mean_recurrence : 32;
    s->criterion = HG_CRIT_KL;
    s->threshold = 5e-4;
    snprintf(s->cache, sizeof s->cache, "latest-m4");
    s->warmstart = 0;
    s->greedy = 1;
    s->temperature = 0.7f;
    s->top_p = 0.9f;
    s->top_k = 0;
    s->min_p = 0;
    s->seed = 0;
    s->max_new_tokens = 256;
    snprintf(s->theme, sizeof s->theme, "default");
    s->generator = HG_GEN_PLAIN;
    s->draft_steps = 4;
    s->lookahead = 4;
    s->inner_recurrence = 4;
}

static void describe_gen(const us_settings *s, char *msg, size_t cap)
{
    if (s->generator == HG_GEN_SPECULATIVE)
        snprintf(msg, cap, "generator speculative: drafts at %d steps, %d at a time, checked at %d", s->draft_steps,
                 s->lookahead, s->num_steps);
    else if (s->generator == HG_GEN_DIFFUSION)
        snprintf(msg, cap, "generator diffusion: a wave, %d steps a pass (criterion off)", s->inner_recurrence);
    else
        snprintf(msg, cap, "generator plain");
}

static void env_dir(const char *var, const char *home_rel, char *out, size_t cap)
{
    const char *x = getenv(var);
    if (x && *x == '/') snprintf(out, cap, "%s/huginn", x);
    else {
        const char *h = getenv("HOME");
        snprintf(out, cap, "%s/%s/huginn", h && *h ? h : "/tmp", home_rel);
    }
}

void us_config_path(char *out, size_t cap)
{
    char d[3072];
    env_dir("XDG_CONFIG_HOME", ".config", d, sizeof d);
    snprintf(out, cap, "%s/config.json", d);
}

void us_state_dir(char *out, size_t cap) { env_dir("XDG_STATE_HOME", ".local/state", out, cap); }

void us_fmt_num(double v, char *out, size_t cap)
{
    if (isnan(v)) { snprintf(out, cap, "auto"); return; }
    double a = fabs(v);
    if (a != 0 && (a < 0.01 || a >= 1e5)) {   /* 2.5e-4, not 0.00025 */
        char b[64];
        snprintf(b, sizeof b, "%.2e", v);
        char *e = strchr(b, 'e');
        int ex = atoi(e + 1);
        *e = 0;
        size_t l = strlen(b);
        while (l && b[l - 1] == '0') b[--l] = 0;
        if (l && b[l - 1] == '.') b[--l] = 0;
        snprintf(out, cap, "%se%d", b, ex);
    } else snprintf(out, cap, "%.3g", v);
}

double us_threshold(const us_settings *s)
{
    if (s->criterion == HG_CRIT_OFF || s->criterion == HG_CRIT_NONE) return NAN;
    return isnan(s->threshold) ? hg_criterion_default_threshold(s->criterion) : s->threshold;
}

static const hg_criterion crit_cycle[] = {
    HG_CRIT_NONE, HG_CRIT_KL, HG_CRIT_ARGMAX_STABILITY, HG_CRIT_ENTROPY_DIFF,
    HG_CRIT_LATENT_DIFF, HG_CRIT_MINP_KL, HG_CRIT_COSINE,
};

hg_criterion us_next_criterion(hg_criterion c)
{
    int n = (int)(sizeof crit_cycle / sizeof crit_cycle[0]);
    for (int i = 0; i < n; i++)
        if (crit_cycle[i] == c) return crit_cycle[(i + 1) % n];
    return HG_CRIT_KL;   /* off → kl */
}

static void set_criterion(us_settings *s, hg_criterion c)
{
    s->criterion = c;
    s->threshold = c == HG_CRIT_KL ? 5e-4 : NAN;
}

static int clamp_steps(int n) { return n < 1 ? 1 : n > US_MAX_STEPS ? US_MAX_STEPS : n; }

static void describe_crit(const us_settings *s, char *msg, size_t cap)
{
    char t[32];
    us_fmt_num(us_threshold(s), t, sizeof t);
    if (s->criterion == HG_CRIT_OFF || s->criterion == HG_CRIT_NONE)
        snprintf(msg, cap, "criterion %s (fixed steps)", hg_criterion_name(s->criterion));
    else
        snprintf(msg, cap, "criterion %s %s", hg_criterion_name(s->criterion), t);
}

int us_hotkey(us_settings *s, int action, char *msg, size_t cap)
{
    int old = s->num_steps;
    switch (action) {
    case A_STEPS_INC: s->num_steps = clamp_steps(s->num_steps + 1); break;
    case A_STEPS_DEC: s->num_steps = clamp_steps(s->num_steps - 1); break;
    case A_STEPS_MUL: s->num_steps = clamp_steps(s->num_steps * 2); break;
    case A_STEPS_DIV: s->num_steps = clamp_steps(s->num_steps / 2); break;
    case A_CRIT_CYCLE:
        set_criterion(s, us_next_criterion(s->criterion));
        describe_crit(s, msg, cap);
        return 1;
    case A_THR_DIV:
    case A_THR_MUL: {
        if (s->criterion == HG_CRIT_OFF || s->criterion == HG_CRIT_NONE) {
            snprintf(msg, cap, "no threshold: criterion %s", hg_criterion_name(s->criterion));
            return 0;
        }
        double t = us_threshold(s);
        s->threshold = action == A_THR_DIV ? t / 2 : t * 2;
        describe_crit(s, msg, cap);
        return 1;
    }
    case A_WARM:
        s->warmstart = !s->warmstart;
        snprintf(msg, cap, "warm start %s", s->warmstart ? "on" : "off");
        return 1;
    case A_CACHE_CYCLE: {
        int i = 0;
        while (us_cache_cycle[i] && strcmp(us_cache_cycle[i], s->cache)) i++;
        i = us_cache_cycle[i] && us_cache_cycle[i + 1] ? i + 1 : 0;
        snprintf(s->cache, sizeof s->cache, "%s", us_cache_cycle[i]);
        snprintf(msg, cap, "cache %s (from the next turn)", s->cache);
        return 1;
    }
    case A_GEN_CYCLE:
        s->generator = (hg_generator)((s->generator + 1) % HG_GEN_COUNT);
        describe_gen(s, msg, cap);
        return 1;
    case A_SAMPLING:
        s->greedy = !s->greedy;
        snprintf(msg, cap, "%s", s->greedy ? "greedy" : "sampled");
        return 1;
    default:
        return 0;
    }
    snprintf(msg, cap, "steps %d", s->num_steps);
    return s->num_steps != old;
}

void us_to_gen(const us_settings *s, hg_gen_params *p)
{
    p->num_steps = s->num_steps;
    p->criterion = s->criterion;
    p->threshold = (s->criterion == HG_CRIT_OFF) ? NAN : s->threshold;
    p->warmstart = s->warmstart;
    p->greedy = s->greedy;
    p->temperature = s->temperature;
    p->top_p = s->top_p;
    p->top_k = s->top_k;
    p->min_p = s->min_p;
    p->seed = s->seed;
    p->generator = s->generator;
    p->spec.draft_steps = s->draft_steps;
    p->spec.lookahead = s->lookahead;
    p->diff.inner_recurrence = s->inner_recurrence;
    if (s->generator != HG_GEN_PLAIN) { /* these generators run without the exit test */
        p->criterion = HG_CRIT_OFF;
        p->threshold = NAN;
    }
}

/* ------------------------------------------------------------ config */

static int parse_crit(const char *name, hg_criterion *c)
{
    if (!strcmp(name, "off")) { *c = HG_CRIT_OFF; return 0; }
    return hg_criterion_parse(name, c) == HG_OK ? 0 : -1;
}

int us_apply_config(us_settings *s, const char *json, char *model_out, size_t model_cap,
                    char *err, size_t errcap)
{
    cJSON *j = cJSON_Parse(json);
    if (!j || !cJSON_IsObject(j)) {
        snprintf(err, errcap, "config is not a JSON object");
        cJSON_Delete(j);
        return -1;
    }
    int rc = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        const char *k = it->string;
        double v = it->valuedouble;
        int num = cJSON_IsNumber(it), str = cJSON_IsString(it), bol = cJSON_IsBool(it);
        if (!strcmp(k, "steps") && num && v >= 1 && v <= US_MAX_STEPS) s->num_steps = (int)v;
        else if (!strcmp(k, "criterion") && str && parse_crit(it->valuestring, &s->criterion) == 0) {
            if (s->criterion != HG_CRIT_KL) s->threshold = NAN;
        } else if (!strcmp(k, "threshold") && num && v > 0 && v <= 1e6) s->threshold = v;
        else if (!strcmp(k, "threshold") && str && !strcmp(it->valuestring, "auto")) s->threshold = NAN;
        else if (!strcmp(k, "cache") && str && hg_cache_strategy_check(it->valuestring, NULL) == HG_OK)
            snprintf(s->cache, sizeof s->cache, "%s", it->valuestring);
        else if (!strcmp(k, "warmstart") && bol) s->warmstart = cJSON_IsTrue(it);
        else if (!strcmp(k, "greedy") && bol) s->greedy = cJSON_IsTrue(it);
        else if (!strcmp(k, "generator") && str && hg_generator_parse(it->valuestring, &s->generator) == HG_OK) {}
        else if (!strcmp(k, "temperature") && num && v >= 0 && v <= 1e6) s->temperature = (float)v;
        else if (!strcmp(k, "top_p") && num && v >= 0 && v <= 1) s->top_p = (float)v;
        else if (!strcmp(k, "top_k") && num && v >= 0 && v <= 1e9) s->top_k = (int)v;
        else if (!strcmp(k, "min_p") && num && v >= 0 && v <= 1) s->min_p = (float)v;
        else if (!strcmp(k, "seed") && num && v >= 0 && v < 1.8e19) s->seed = (uint64_t)v;
        else if (!strcmp(k, "max_new_tokens") && num && v >= 1 && v <= 1e9) s->max_new_tokens = (int)v;
        else if (!strcmp(k, "theme") && str) snprintf(s->theme, sizeof s->theme, "%s", it->valuestring);
        else if (!strcmp(k, "model") && str) { if (model_out) snprintf(model_out, model_cap, "%s", it->valuestring); }
        else {
            if (rc == 0) snprintf(err, errcap, "config: bad or unknown setting '%s'", k);
            rc = -1;
        }
    }
    cJSON_Delete(j);
    return rc;
}

/* --------------------------------------------------------- commands */

const char *const us_command_help[] = {
    "/steps N                 recurrence steps per token (1..256)",
    "/criterion NAME [THR]    none, off, kl, argmax-stability, entropy-diff, latent-diff, minp-kl, cosine",
    "/cache S                 full, latest-m4, latest-m4-compress-s16, compress-sN, … (next turn)",
    "/warmstart on|off        continuous compute",
    "/gen plain|speculative|diffusion [N M]   the generator (speculative: draft steps N, lookahead M; diffusion: inner recurrence N)",
    "/temp T  /top-p P  /top-k K  /min-p M  /seed S   sampling (/temp 0 = greedy)",
    "/greedy  /sample         greedy or sampled decoding",
    "/system TEXT             set the system message (empty: none)",
    "/regen                   regenerate the last reply",
    "/clear                   start a new conversation",
    "/save FILE  /load FILE   the conversation as JSON",
    "/export FILE.md|.html    Markdown with the steps of every token, or a page tinted by steps",
    "/trace FILE              the last reply's per-token steps and exit values (JSON Lines)",
    "/sweep [LIST]            answer the last message again at each depth (default 4,8,16,32,64)",
    "/theme NAME              default, light, mono, …",
    "/help  /quit",
    NULL,
};

const int us_sweep_default[] = {4, 8, 16, 32, 64};
const int us_sweep_default_n = 5;

int us_parse_sweep(const char *s, int *steps, int *n, char *err, size_t errcap)
{
    *n = 0;
    while (*s == ' ') s++;
    if (!*s) {
        for (int i = 0; i < us_sweep_default_n; i++) steps[i] = us_sweep_default[i];
        *n = us_sweep_default_n;
        return 0;
    }
    while (*s) {
        while (*s == ' ' || *s == ',') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 1 || v > US_MAX_STEPS || (*end && *end != ',' && *end != ' ')) {
            snprintf(err, errcap, "/sweep: give step counts 1..%d separated by commas (e.g. /sweep 2,8,32)", US_MAX_STEPS);
            return -1;
        }
        if (*n == 16) { snprintf(err, errcap, "/sweep: at most 16 depths"); return -1; }
        steps[(*n)++] = (int)v;
        s = end;
    }
    if (*n == 0) { snprintf(err, errcap, "/sweep: give step counts (e.g. /sweep 2,8,32)"); return -1; }
    return 0;
}

static int parse_double(const char *s, double *v)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    while (*end && isspace((unsigned char)*end)) end++;
    return (*end || errno || !isfinite(*v)) ? -1 : 0;
}

us_cmd_kind us_command(us_settings *s, const char *line, us_cmd *o)
{
    memset(o, 0, sizeof *o);
    while (*line == ' ') line++;
    if (line[0] != '/') return o->kind = UC_NONE;
    char name[32] = "";
    const char *p = line + 1;
    int n = 0;
    while (*p && !isspace((unsigned char)*p) && n < 31) name[n++] = *p++;
    name[n] = 0;
    while (isspace((unsigned char)*p)) p++;
    char arg[1024];
    snprintf(arg, sizeof arg, "%s", p);
    size_t al = strlen(arg);
    while (al && isspace((unsigned char)arg[al - 1])) arg[--al] = 0;
    double v;
    o->kind = UC_SET;
#define ERR(...) do { o->kind = UC_ERROR; snprintf(o->msg, sizeof o->msg, __VA_ARGS__); return o->kind; } while (0)
    if (!strcmp(name, "steps")) {
        if (parse_double(arg, &v) || v != floor(v) || v < 1 || v > US_MAX_STEPS) ERR("/steps: give a whole number 1..256");
        s->num_steps = (int)v;
        snprintf(o->msg, sizeof o->msg, "steps %d", s->num_steps);
    } else if (!strcmp(name, "criterion")) {
        char cn[64] = "", th[64] = "";
        if (sscanf(arg, "%63s %63s", cn, th) < 1) ERR("/criterion: give a name (none, kl, argmax-stability, …)");
        hg_criterion c;
        if (parse_crit(cn, &c)) ERR("/criterion: unknown criterion '%s'", cn);
        double t = NAN;
        if (th[0] && strcmp(th, "auto") && (parse_double(th, &t) || t <= 0)) ERR("/criterion: bad threshold '%s'", th);
        set_criterion(s, c);
        if (th[0]) s->threshold = t;
        describe_crit(s, o->msg, sizeof o->msg);
    } else if (!strcmp(name, "threshold")) {
        if (parse_double(arg, &v) || v <= 0) ERR("/threshold: give a positive number");
        s->threshold = v;
        describe_crit(s, o->msg, sizeof o->msg);
    } else if (!strcmp(name, "cache")) {
        hg_err e;
        if (!arg[0] || strlen(arg) >= sizeof s->cache) ERR("/cache: give a strategy (full, latest-m4, …)");
        if (hg_cache_strategy_check(arg, &e) != HG_OK) ERR("/cache: %.200s", e.msg);
        snprintf(s->cache, sizeof s->cache, "%.63s", arg);
        snprintf(o->msg, sizeof o->msg, "cache %s (from the next turn)", s->cache);
    } else if (!strcmp(name, "warmstart")) {
        if (!strcmp(arg, "on")) s->warmstart = 1;
        else if (!strcmp(arg, "off")) s->warmstart = 0;
        else ERR("/warmstart: on or off");
        snprintf(o->msg, sizeof o->msg, "warm start %.8s", arg);
    } else if (!strcmp(name, "gen") || !strcmp(name, "generator")) {
        char gn[32] = "";
        int a1 = 0, a2 = 0;
        int na = sscanf(arg, "%31s %d %d", gn, &a1, &a2);
        hg_generator g;
        if (na < 1 || hg_generator_parse(gn, &g) != HG_OK) ERR("/gen: plain, speculative or diffusion");
        if (na >= 2 && (a1 < 1 || a1 > US_MAX_STEPS)) ERR("/gen: steps 1..%d", US_MAX_STEPS);
        if (na >= 3 && (a2 < 1 || a2 > 64)) ERR("/gen: lookahead 1..64");
        s->generator = g;
        if (g == HG_GEN_SPECULATIVE && na >= 2) s->draft_steps = a1;
        if (g == HG_GEN_SPECULATIVE && na >= 3) s->lookahead = a2;
        if (g == HG_GEN_DIFFUSION && na >= 2) s->inner_recurrence = a1;
        describe_gen(s, o->msg, sizeof o->msg);
    } else if (!strcmp(name, "temp") || !strcmp(name, "temperature")) {
        if (parse_double(arg, &v) || v < 0 || v > 100) ERR("/temp: give a number >= 0");
        s->temperature = (float)v;
        s->greedy = v == 0;
        snprintf(o->msg, sizeof o->msg, "temperature %g (%s)", v, s->greedy ? "greedy" : "sampled");
    } else if (!strcmp(name, "top-p")) {
        if (parse_double(arg, &v) || v < 0 || v > 1) ERR("/top-p: give a number in 0..1");
        s->top_p = (float)v; s->greedy = 0;
        snprintf(o->msg, sizeof o->msg, "top-p %g (sampled)", v);
    } else if (!strcmp(name, "top-k")) {
        if (parse_double(arg, &v) || v < 0 || v != floor(v)) ERR("/top-k: give a whole number >= 0");
        s->top_k = (int)v; s->greedy = 0;
        snprintf(o->msg, sizeof o->msg, "top-k %d (sampled)", s->top_k);
    } else if (!strcmp(name, "min-p")) {
        if (parse_double(arg, &v) || v < 0 || v > 1) ERR("/min-p: give a number in 0..1");
        s->min_p = (float)v; s->greedy = 0;
        snprintf(o->msg, sizeof o->msg, "min-p %g (sampled)", v);
    } else if (!strcmp(name, "seed")) {
        if (parse_double(arg, &v) || v < 0 || v != floor(v)) ERR("/seed: give a whole number >= 0");
        s->seed = (uint64_t)v;
        snprintf(o->msg, sizeof o->msg, "seed %llu", (unsigned long long)s->seed);
    } else if (!strcmp(name, "greedy")) {
        s->greedy = 1; snprintf(o->msg, sizeof o->msg, "greedy");
    } else if (!strcmp(name, "sample")) {
        s->greedy = 0; snprintf(o->msg, sizeof o->msg, "sampled");
    } else if (!strcmp(name, "system")) {
        o->kind = UC_SYSTEM; snprintf(o->arg, sizeof o->arg, "%s", arg);
    } else if (!strcmp(name, "regen")) o->kind = UC_REGEN;
    else if (!strcmp(name, "clear")) o->kind = UC_CLEAR;
    else if (!strcmp(name, "save") || !strcmp(name, "load") || !strcmp(name, "export") || !strcmp(name, "trace")) {
        if (!arg[0]) ERR("/%s: give a file name", name);
        o->kind = name[0] == 's' ? UC_SAVE : name[0] == 'l' ? UC_LOAD : name[0] == 't' ? UC_TRACE : UC_EXPORT;
        snprintf(o->arg, sizeof o->arg, "%s", arg);
    } else if (!strcmp(name, "sweep")) {
        if (us_parse_sweep(arg, o->steps, &o->n_steps, o->msg, sizeof o->msg)) return o->kind = UC_ERROR;
        o->kind = UC_SWEEP;
    } else if (!strcmp(name, "theme")) {
        if (!arg[0]) ERR("/theme: give a name (default, light, mono)");
        o->kind = UC_THEME; snprintf(o->arg, sizeof o->arg, "%s", arg);
    } else if (!strcmp(name, "help") || !strcmp(name, "?")) o->kind = UC_HELP;
    else if (!strcmp(name, "quit") || !strcmp(name, "exit") || !strcmp(name, "q")) o->kind = UC_QUIT;
    else ERR("unknown command /%s (try /help)", name);
#undef ERR
    return o->kind;
}
