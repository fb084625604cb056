/* session.h — the conversation: messages with, for replies, every token's
 * text span, step count and convergence trace; JSON save/load (atomic),
 * Markdown export, autosave paths.  Curses-free. */
#ifndef UI_SESSION_H
#define UI_SESSION_H
#include <stddef.h>
#include <stdint.h>

typedef struct us_token {
    int32_t id;
    int start;          /* byte offset of the token's text in content   */
    int steps;          /* recurrence steps that produced it            */
    int n_trace;        /* exit values recorded (0 when unknown)        */
    float *trace;       /* exit value after each step (NaN: none)       */
    double threshold;   /* the exit threshold it ran with (NaN: none)   */
    int criterion;      /* the hg_criterion it ran with                 */
} us_token;

typedef struct us_msg {
    char role[16];      /* "system", "user", "Huginn"                    */
    char *content;      /* NUL-terminated                               */
    size_t len, cap;
    us_token *tok;      /* replies only                                 */
    int n_tok, cap_tok;
    double tok_per_s;   /* replies: decode speed (0 unknown)            */
    int stopped;        /* the reply was stopped by the user            */
    /* role "sweep": the last user turn answered again at another depth;
     * shown, saved and exported, never sent to the model */
    int sweep;          /* which sweep (1, 2, …; 0: not a sweep reply)   */
    int num_steps;      /* its num_steps                                 */
    int diverge;        /* first token that departs from the deepest run
                           of its sweep (-1: none, or it is the deepest)  */
} us_msg;

typedef struct us_session {
    us_msg *msg;
    int n, cap;
    int n_dropped;      /* oldest non-system messages left out of the context */
    char model[256];    /* informational                                 */
    char server[512];   /* the server's URL when the replies came from one
                           (huginn chat --server; "" for the local engine) */
} us_session;

void ss_init(us_session *s);
void ss_free(us_session *s);
void ss_clear(us_session *s);                 /* keeps the system message */
/* Add a message; invalid UTF-8 in text becomes U+FFFD. */
us_msg *ss_add(us_session *s, const char *role, const char *text);
void ss_pop(us_session *s);                   /* drop the last message    */
void ss_set_system(us_session *s, const char *text);  /* "" removes it   */
/* Append a reply token: its text piece, id, steps and trace (copied). */
int ss_append_token(us_msg *m, int32_t id, const char *piece, size_t len, int steps,
                    const float *trace, int n_trace);
void ss_append_text(us_msg *m, const char *text, size_t len);
/* The token whose text covers byte off (-1 if none). */
int ss_token_at(const us_msg *m, int off);
/* Is the message a sweep reply (kept out of the model's context)? */
int ss_is_sweep(const us_msg *m);
/* Set diverge on every run of sweep id: the first token index where its
 * ids depart from those of the run with the most steps (-1 when equal). */
void ss_sweep_diverge(us_session *s, int id);
/* Remove message i (later ones move up). */
void ss_remove(us_session *s, int i);
/* Mean steps per token of a reply (0 if none). */
double ss_mean_steps(const us_msg *m);

/* Save as JSON to path atomically (path.tmp then rename).  0 or -1 (err). */
int ss_save(const us_session *s, const char *path, char *err, size_t errcap);
/* Load a session, validated: messages whose role is not system (first
 * only), user or Huginn are dropped, invalid UTF-8 is repaired, token lists
 * that do not match the text are dropped, step counts are clamped to
 * 1..US_MAX_STEPS.  Returns 0, 1 when it had to repair (err holds a one-line
 * note of what), or -1 when the file is refused (err says why; s untouched). */
int ss_load(us_session *s, const char *path, char *err, size_t errcap);
/* A copy of s (n bytes) with invalid UTF-8 replaced by U+FFFD (malloc'd,
 * NUL-terminated; NULL when out of memory); its length in *out_len. */
char *ss_utf8_repaired(const char *s, size_t n, size_t *out_len);
/* Is text valid UTF-8? */
int ss_utf8_valid(const char *s, size_t n);
#define SS_MAX_FILE ((size_t)64 << 20)  /* bytes of a session file          */
#define SS_MAX_MESSAGES 100000
/* Markdown with per-token steps for replies. */
int ss_export_md(const us_session *s, const char *path, char *err, size_t errcap);
/* Write text to path atomically (a temporary file next to it, fsync, then
 * rename).  0, or -1 with "path: reason" in err. */
int ss_write_atomic(const char *path, const char *text, char *err, size_t errcap);
/* Create dir and its parents (mode 0700). */
int ss_mkdirs(const char *dir);
/* A new autosave path: <state>/sessions/YYYYmmdd-HHMMSS-PID.json */
void ss_autosave_path(const char *state_dir, char *out, size_t cap);
/* The newest *.json in <state>/sessions (0), or -1 when none. */
int ss_latest(const char *state_dir, char *out, size_t cap);
#endif
