/* gauge.h — the compute gauge: the live step bar of the token being
 * computed, a sparkline of steps per recent token, and a histogram of steps
 * in the reply; plus the status bar.  Draws into a canvas.  Curses-free. */
#ifndef UI_GAUGE_H
#define UI_GAUGE_H
#include "canvas.h"
#include <stddef.h>

#define UG_RECENT 512
#define UG_MAX_STEPS 256

typedef struct ug_gauge {
    int active;             /* a token (or the prefill) is iterating     */
    int n_positions;        /* > 1: the prefill                           */
    int step, num_steps;    /* steps done of the budget                   */
    int last_used;          /* the last token's steps (bar after its exit) */
    int last_budget;        /* and its budget (a wave's passes report less)  */
    double exit_value, threshold;
    const char *crit;       /* criterion name ("kl"), NULL when off       */
    const char *label;      /* "draft", "verify", "wave"; NULL: compute/prefill */
    int exits_above;
    int recent[UG_RECENT];  /* ring of recent tokens' steps               */
    int n_recent, head;
    int hist[UG_MAX_STEPS + 1];  /* steps -> count, this reply            */
    int hist_total, hist_max;    /* tokens, largest budget seen           */
} ug_gauge;

void ug_init(ug_gauge *g);
void ug_new_reply(ug_gauge *g);                 /* clears the histogram   */
void ug_step(ug_gauge *g, int step, int num_steps, double exit_value, double threshold,
             int n_positions);
void ug_token(ug_gauge *g, int steps_used, int num_steps);
void ug_idle(ug_gauge *g);                      /* the reply ended        */

/* The step bar, `width` cells: '|' per step done while iterating, '#' for
 * the steps a finished token used and '.' for its unused budget (the same
 * characters in monochrome).  Writes UTF-8 text into out. */
void ug_bar_text(char *out, size_t cap, int width, int done, int budget, int finished);
/* A sparkline of values (1 row, ▁..█ by v / vmax). */
void ug_spark_text(char *out, size_t cap, const int *v, int n, int vmax);
/* Eighth-block level 0..8 for v of vmax (0 only for v <= 0). */
int ug_level(int v, int vmax);

/* Draw the gauge into rows y..y+h-1 (h >= 1; 3 rows show everything). */
void ug_draw(ui_canvas *c, int y, int x, int w, int h, const ug_gauge *g);

/* The status bar's facts. */
typedef struct ug_status {
    const char *model;
    int num_steps;
    const char *criterion;      /* CLI name                          */
    double threshold;           /* NaN: none                         */
    const char *cache;
    int cache_pending;          /* takes effect at the next turn     */
    int warmstart;
    const char *sampling;       /* "greedy" / "T 0.7 p 0.9"          */
    double tok_per_s;           /* last reply                        */
    double mean_steps;          /* last reply                        */
    int ctx_used, n_ctx;
    size_t kv_bytes;
    const char *mode;           /* "heatmap", "browse", "streaming" or NULL */
    const char *generator;      /* "spec D4×K4 87% ok", "diffusion R4 …"; NULL/"" plain */
    const char *server;         /* host[:port] of a remote server (NULL: local) */
    int steps_fixed;            /* the server is not a huginn server          */
} ug_status;

/* The status fields as text, e.g. "steps 32"; returns the count. */
int ug_status_fields(const ug_status *s, char (*f)[64], int max);
/* Draw the status bar (fields flow into as many of the h rows as needed);
 * returns the rows it needs at width w. */
int ug_status_draw(ui_canvas *c, int y, int w, int h, const ug_status *s);
void ug_fmt_bytes(size_t b, char *out, size_t cap);
#endif
