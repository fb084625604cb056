/* settings.h — the live generation settings of the chat, the hotkey
 * actions on them, config.json defaults, and the slash-command parser.
 * Curses-free. */
#ifndef UI_SETTINGS_H
#define UI_SETTINGS_H
#include <stddef.h>
#include <stdint.h>
#include "huginn.h"

#define US_MAX_STEPS 256

typedef struct us_settings {
    int num_steps;
    hg_criterion criterion;
    double threshold;           /* NaN = the criterion's default */
    char cache[64];
    int warmstart;
    int greedy;
    float temperature, top_p, min_p;
    int top_k;
    uint64_t seed;
    int max_new_tokens;
    char theme[64];
    /* the generator (HUGINN.md §7, §8); speculative and diffusion run
     * without the exit criterion */
    hg_generator generator;
    int draft_steps, lookahead;     /* speculative (default 4, 4)        */
    int inner_recurrence;           /* diffusion (default 4)             */
} us_settings;

/* The chat's defaults: steps = mean_recurrence (32 if unknown), criterion kl
 * threshold 5e-4, cache latest-m4, greedy, max_new_tokens 256, the plain
 * generator (speculative: drafts at 4 steps, 4 at a time; diffusion: inner
 * recurrence 4). */
void us_defaults(us_settings *s, int mean_recurrence);
/* Apply a config.json text (keys: steps, criterion, threshold, cache,
 * warmstart, greedy, temperature, top_p, top_k, min_p, seed,
 * max_new_tokens, theme, model); model (if any) is copied to model_out.
 * 0 ok, -1 with err for bad JSON or a bad value. */
int us_apply_config(us_settings *s, const char *json, char *model_out, size_t model_cap,
                    char *err, size_t errcap);
/* $XDG_CONFIG_HOME/huginn/config.json (default ~/.config). */
void us_config_path(char *out, size_t cap);
/* $XDG_STATE_HOME/huginn (default ~/.local/state/huginn). */
void us_state_dir(char *out, size_t cap);

/* Hotkey actions (keys.h ids); return 1 when something changed.  msg gets a
 * short notice ("steps 33"). */
int us_hotkey(us_settings *s, int action, char *msg, size_t cap);
/* The threshold actually used (the default when NaN). */
double us_threshold(const us_settings *s);
/* The criterion cycle: none, kl, argmax-stability, entropy-diff,
 * latent-diff, minp-kl, cosine (off counts as none). */
hg_criterion us_next_criterion(hg_criterion c);
extern const char *const us_cache_cycle[];

/* Fill engine generation params from the settings. */
void us_to_gen(const us_settings *s, hg_gen_params *p);

/* Slash commands. */
typedef enum us_cmd_kind {
    UC_NONE = 0,        /* not a command: a message */
    UC_SET,             /* a setting changed (msg says what) */
    UC_ERROR,           /* bad command or value (msg says why) */
    UC_SYSTEM, UC_REGEN, UC_CLEAR, UC_SAVE, UC_LOAD, UC_EXPORT, UC_THEME, UC_HELP, UC_QUIT,
    UC_TRACE,           /* arg: the file for the last reply's trace */
    UC_SWEEP,           /* steps[n_steps]: the depths of a sweep */
} us_cmd_kind;

typedef struct us_cmd {
    us_cmd_kind kind;
    char arg[1024];     /* file name, theme name, system text */
    char msg[256];
    int steps[16], n_steps;
} us_cmd;

/* The default sweep: 4, 8, 16, 32, 64. */
extern const int us_sweep_default[];
extern const int us_sweep_default_n;
/* Parse a sweep list "2,8,32" (commas or spaces; 1..256 each, at most 16;
 * "" = the default).  0, or -1 with a message in err. */
int us_parse_sweep(const char *s, int *steps, int *n, char *err, size_t errcap);

/* Parse and, for settings, apply a line that starts with '/'.  Lines that do
 * not start with '/' give UC_NONE. */
us_cmd_kind us_command(us_settings *s, const char *line, us_cmd *out);
/* One line per command for /help. */
extern const char *const us_command_help[];

/* "%.3g" with 1e-4 style exponents: 5e-04 -> "5e-4". */
void us_fmt_num(double v, char *out, size_t cap);
#endif
