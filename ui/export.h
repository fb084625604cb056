/* export.h — what leaves the chat for analysis or sharing: per-token traces
 * (JSON Lines) and the conversation as one self-contained HTML page.
 * Curses-free; every file is written atomically. */
#ifndef UI_EXPORT_H
#define UI_EXPORT_H
#include <stddef.h>
#include <stdint.h>
#include "huginn.h"
#include "session.h"
#include "theme.h"

/* One produced token for a trace. */
typedef struct ux_tok {
    int32_t id;
    const char *text;       /* its text (NULL: no tokenizer)               */
    size_t text_len;
    int steps;              /* recurrence steps that produced it           */
    const float *trace;     /* the criterion's value after each step (NaN: */
    int n_trace;            /*   not evaluated)                            */
} ux_tok;

/* Can path be written as a new or replaced regular file?  0, or -1 with a
 * one-line reason: a directory, a FIFO or other non-regular file, a parent
 * directory that is missing or not writable. */
int ux_check_output(const char *path, char *err, size_t errcap);

/* JSON Lines, one line per token in order:
 * {"index": i, "id": t, "text": "…", "steps": s, "exit_values": [v, null, …]}
 * ("text" only when given).  0, or -1 with err. */
int ux_trace_write(const char *path, const ux_tok *toks, int n, char *err, size_t errcap);
/* The same for a reply message (special tokens get their content as text
 * when tok is given). */
int ux_trace_msg(const us_msg *m, const hg_tokenizer *tok, const char *path, char *err, size_t errcap);
/* The last reply of the conversation (a Huginn message with tokens), or -1. */
int ux_last_reply(const us_session *s);


/* One self-contained HTML page (inline CSS and script, nothing fetched):
 * the conversation, every reply token a <span data-steps=N> tinted with the
 * theme's heat palette, a legend, a tooltip with the token's steps and its
 * convergence trace (inline SVG) on hover, sweep runs side by side.  th may
 * be NULL (the built-in default theme). */
int ux_export_html(const us_session *s, const ut_theme *th, const char *path, char *err, size_t errcap);
/* 1 when path ends in .html or .htm (any case). */
int ux_is_html(const char *path);
/* HTML for *.html / *.htm, Markdown otherwise (after ux_check_output). */
int ux_export(const us_session *s, const ut_theme *th, const char *path, char *err, size_t errcap);
#endif
