/* app.h — what the TUI and the plain REPL share: the model, the engine
 * thread, the live settings, the conversation, autosave, and the handling of
 * messages, engine events and slash commands.  Curses-free. */
#ifndef UI_APP_H
#define UI_APP_H
#include "backend.h"
#include "session.h"
#include "settings.h"
#include "huginn.h"

typedef struct ua_app {
    hg_model *model;
    hg_tokenizer *tok;
    ub_backend *be;             /* where replies come from */
    ub_info srv;                /* the backend's facts (a remote server's)  */
    us_settings set;
    us_session ss;
    char model_name[128];
    char state_dir[4096];
    char autosave[4300];        /* this session's autosave file ("" = none) */
    int streaming;              /* a reply is running                       */
    int reply;                  /* index of the reply message               */
    int sweeping;               /* the running job is a sweep               */
    int sweep_id;               /* its id (us_msg.sweep)                    */
    /* the last reply */
    double tok_per_s, mean_steps;
    int ctx_used, n_ctx;
    size_t kv;
    char cache_used[64];        /* the context's strategy                   */
    char notice[512];           /* the latest notice or error               */
    int notice_is_error;
    int notice_seq;             /* bumps on every notice                    */
    /* the live view of the parallel generators: provisional tokens after the
     * reply's text (speculative drafts, or the diffusion wave) */
    int prov_kind;              /* 0 none, 1 drafts, 2 wave                 */
    char prov[4096];
    int prov_len;
    int prov_n;                 /* tokens in prov                           */
    int prov_start[512], prov_count[512]; /* each token's offset and steps  */
    /* the running (or last) reply's generator statistics */
    int gen_drafted, gen_accepted, gen_rejected_last, gen_passes, gen_tokens;
} ua_app;

/* Refresh a->srv from the backend (after its events): a remote server's
 * model becomes the model name, and the session records server and model. */
void ua_backend_poll(ua_app *a);
/* The replies come from a server that is not a huginn server: the steps
 * (and every recurrence setting) are fixed there, and no token carries its
 * steps. */
int ua_steps_fixed(const ua_app *a);
/* A huginn server's largest step count: num_steps above it comes down to it
 * (1 when it did). */
int ua_clamp_steps(ua_app *a);

/* Status-bar text of the generator ("" for plain). */
void ua_generator_text(const ua_app *a, char *out, size_t cap);

/* Send a user message (start a reply).  -1 (notice set) while streaming. */
int ua_send(ua_app *a, const char *text);
/* Regenerate the last reply (sweep replies stay). */
int ua_regen(ua_app *a);
/* Answer the last user message again at each depth of steps[n] (the other
 * settings as now, one seed), the replies added as "sweep" messages that
 * the model never sees.  -1 (notice set) while streaming or with no message. */
int ua_sweep(ua_app *a, const int *steps, int n);
/* Apply one engine event to the conversation and stats. */
void ua_event(ua_app *a, const ue_event *ev);
/* Run a slash command; returns its kind (UC_NONE for a message).  Handles
 * settings, /system, /regen, /clear, /save, /load, /export, /trace, /sweep; the caller
 * handles UC_THEME, UC_HELP and UC_QUIT. */
int ua_command(ua_app *a, const char *line, us_cmd *cmd);
void ua_notice(ua_app *a, int is_error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Push the settings to the engine (after every change). */
void ua_settings_changed(ua_app *a);
void ua_autosave(ua_app *a);
/* "T 0.7 p 0.9 …" or "greedy". */
void ua_sampling_text(const us_settings *s, char *out, size_t cap);
#endif
