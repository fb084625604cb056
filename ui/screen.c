/* screen.c — the layout and every widget, drawn into a canvas (no curses):
 * transcript (wrapped, scrollable, heatmap tints, browse selection), the
 * token trace panel, the compute gauge, the notice line, the input line,
 * the status bar and the help overlay. */
#include "tui.h"
#include "heatmap.h"
#include "keys.h"
#include "theme.h"
#include "wrap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dline {
    int msg;        /* message index                          */
    int kind;       /* 0 header, 1 text, 2 blank, 3 welcome   */
    int start, len; /* bytes of the message content (text)    */
} dline;

typedef struct dlines {
    dline *v;
    int n, cap;
} dlines;

static void dl_add(dlines *d, int msg, int kind, int start, int len)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->v = realloc(d->v, sizeof *d->v * (size_t)d->cap);
    }
    d->v[d->n++] = (dline){msg, kind, start, len};
}

static void layout_transcript(const ua_app *a, int w, dlines *d)
{
    int tw = w - 3;         /* from column 2, one column spare at the right */
    if (tw < 1) tw = 1;
    for (int i = 0; i < a->ss.n; i++) {
        const us_msg *m = &a->ss.msg[i];
        dl_add(d, i, 0, 0, 0);
        const char *s = m->content ? m->content : "";
        size_t len = m->len;
        /* the model's text starts after the header's blank line: skip leading newlines */
        size_t skip = 0;
        while (skip < len && (s[skip] == '\n' || s[skip] == ' ')) skip++;
        int nl = uw_wrap(s + skip, len - skip, tw, NULL, 0);
        uw_line *lines = malloc(sizeof *lines * (size_t)nl);
        uw_wrap(s + skip, len - skip, tw, lines, nl);
        for (int k = 0; k < nl; k++) dl_add(d, i, 1, lines[k].start + (int)skip, lines[k].len);
        free(lines);
        if (a->streaming && i == a->reply && a->prov_kind && a->prov_len > 0) {
            /* the provisional tokens (drafts, or the diffusion wave) */
            int pw = tw > 3 ? tw - 2 : 1;
            int np = uw_wrap(a->prov, (size_t)a->prov_len, pw, NULL, 0);
            uw_line *pl = malloc(sizeof *pl * (size_t)(np ? np : 1));
            uw_wrap(a->prov, (size_t)a->prov_len, pw, pl, np);
            for (int k = 0; k < np; k++) dl_add(d, i, 3, pl[k].start, pl[k].len);
            free(pl);
        }
        dl_add(d, i, 2, 0, 0);
    }
}

static int max_steps_seen(const ua_app *a)
{
    int mx = 1;
    for (int i = 0; i < a->ss.n; i++)
        for (int t = 0; t < a->ss.msg[i].n_tok; t++)
            if (a->ss.msg[i].tok[t].steps > mx) mx = a->ss.msg[i].tok[t].steps;
    return mx;
}

static void draw_header(ui_canvas *c, int y, int w, const ua_app *a, int i)
{
    const us_msg *m = &a->ss.msg[i];
    int sys0 = a->ss.n > 0 && !strcmp(a->ss.msg[0].role, "system") ? 1 : 0;
    int ci = 0;     /* the index among the messages the model sees */
    for (int k = 0; k < i; k++) ci += !ss_is_sweep(&a->ss.msg[k]);
    int dropped = !ss_is_sweep(m) && ci >= sys0 && ci < sys0 + a->ss.n_dropped;
    int x;
    if (!strcmp(m->role, "user")) x = cv_puts(c, y, 0, w, "▌ you", R_USER_HDR);
    else if (ss_is_sweep(m)) {
        int live = a->streaming && i == a->reply;
        x = cv_printf(c, y, 0, w, R_BOT_HDR, "▌ sweep · steps %d", m->num_steps);
        if (m->n_tok)
            x = cv_printf(c, y, x, w, R_DIM, "  %d token%s · %.2f steps/token", m->n_tok, m->n_tok == 1 ? "" : "s",
                          ss_mean_steps(m));
        if (!live && m->tok_per_s > 0) x = cv_printf(c, y, x, w, R_DIM, " · %.1f tok/s", m->tok_per_s);
        if (m->stopped) x = cv_puts(c, y, x, w, " · stopped", R_NOTICE);
        if (live) x = cv_puts(c, y, x, w, "  …", R_DIM);
        else if (m->diverge >= 0) {
            x = cv_puts(c, y, x, w, " · departs at ", R_DIM);
            x = cv_printf(c, y, x, w, R_DIVERGE, "token %d", m->diverge + 1);
        }
    }
    else if (!strcmp(m->role, "system")) x = cv_puts(c, y, 0, w, "▌ system", R_SYSTEM);
    else {
        x = cv_puts(c, y, 0, w, "▌ huginn", R_BOT_HDR);
        int live = a->streaming && i == a->reply;
        if (m->n_tok)
            x = cv_printf(c, y, x, w, R_DIM, "  %d token%s · %.2f steps/token", m->n_tok, m->n_tok == 1 ? "" : "s",
                           ss_mean_steps(m));
        if (!live && m->tok_per_s > 0) x = cv_printf(c, y, x, w, R_DIM, " · %.1f tok/s", m->tok_per_s);
        if (m->stopped) x = cv_puts(c, y, x, w, " · stopped", R_NOTICE);
        if (live) x = cv_puts(c, y, x, w, "  …", R_DIM);
    }
    if (dropped) cv_puts(c, y, x, w, "  (left out of the context)", R_DIM);
}

/* A line of provisional tokens: drafts dim; the wave tinted by each
 * position's recurrence steps (the heatmap's colours). */
static void draw_prov_line(ui_canvas *c, int y, int w, const ua_app *a, const dline *l, int heat_max)
{
    int x = cv_puts(c, y, 2, w, l->start == 0 ? (a->prov_kind == 1 ? "⋯ " : "≈ ") : "  ", R_DIM);
    int i = l->start, end = l->start + l->len, tk = 0;
    while (i < end) {
        uint32_t cp;
        int n = uw_decode(a->prov + i, (size_t)(end - i), &cp);
        while (tk + 1 < a->prov_n && a->prov_start[tk + 1] <= i) tk++;
        int role = a->prov_kind == 2 ? uh_role(a->prov_count[tk], heat_max) : R_DIM;
        x = cv_put(c, y, x, w, a->prov + i, (size_t)n, role);
        i += n;
    }
}

static void draw_text_line(ui_canvas *c, int y, int w, const ua_app *a, const dline *l,
                           const tui_view *v, int heat_max)
{
    const us_msg *m = &a->ss.msg[l->msg];
    int base = !strcmp(m->role, "user") ? R_USER : !strcmp(m->role, "system") ? R_SYSTEM : R_BOT;
    int x = 2;
    const char *s = m->content;
    int i = l->start, end = l->start + l->len;
    int sweep = ss_is_sweep(m);
    int tint = (v->heatmap || sweep) && m->n_tok > 0;
    int tk = tint ? ss_token_at(m, i) : -1;
    while (i < end) {
        uint32_t cp;
        int n = uw_decode(s + i, (size_t)(end - i), &cp);
        int role = base;
        if (tint) {
            while (tk + 1 < m->n_tok && m->tok[tk + 1].start <= i) tk++;
            if (tk >= 0) {
                role = uh_role(m->tok[tk].steps, heat_max);
                if (sweep && tk == m->diverge) role = R_DIVERGE;
                if (v->browse && l->msg == v->sel_msg && tk == v->sel_tok) role = R_SELECT;
            }
        }
        x = cv_put(c, y, x, w, s + i, (size_t)n, role);
        i += n;
    }
}

static void draw_trace_panel(ui_canvas *c, int y, int w, int h, const ua_app *a, const tui_view *v)
{
    for (int r = 0; r < h; r++) cv_fill(c, y + r, 0, w, ' ', R_NORMAL);
    if (v->sel_msg < 0 || v->sel_msg >= a->ss.n || v->sel_tok < 0 || v->sel_tok >= a->ss.msg[v->sel_msg].n_tok) {
        cv_puts(c, y, 1, w, "browse: no token selected (Left/Right pick one, Esc leaves)", R_DIM);
        return;
    }
    const us_msg *m = &a->ss.msg[v->sel_msg];
    const us_token *t = &m->tok[v->sel_tok];
    int b = v->sel_tok + 1 < m->n_tok ? m->tok[v->sel_tok + 1].start : (int)m->len;
    char piece[96];
    int pl = 0;
    for (int i = t->start; i < b && pl < 80; i++) {
        char ch = m->content[i];
        if (ch == '\n') { piece[pl++] = '\\'; piece[pl++] = 'n'; }
        else piece[pl++] = ch;
    }
    piece[pl] = 0;
    int x = cv_printf(c, y, 1, w, R_GAUGE_LABEL, "token %d of %d  ", v->sel_tok + 1, m->n_tok);
    x = cv_puts(c, y, x, w, "«", R_DIM);
    x = cv_puts(c, y, x, w, piece, R_SELECT);
    x = cv_puts(c, y, x, w, "»", R_DIM);
    x = cv_printf(c, y, x, w, R_GAUGE_EXIT, "  %d steps", t->steps);
    x = cv_printf(c, y, x, w, R_DIM, "  id %d", t->id);
    if (t->n_trace > 0) {
        char lv[32];
        us_fmt_num(t->trace[t->n_trace - 1], lv, sizeof lv);
        char tv[32];
        us_fmt_num(t->threshold, tv, sizeof tv);
        if (isnan(t->threshold)) snprintf(tv, sizeof tv, "none");
        cv_printf(c, y, x, w, R_DIM, "  %s: last %s, threshold %s", hg_criterion_name((hg_criterion)t->criterion), lv, tv);
        double thr = t->threshold;
        uh_draw_trace(c, y + 1, 1, w - 2, h - 1, t->trace, t->n_trace, thr);
    } else cv_puts(c, y + 1, 1, w, "no convergence trace for this token (loaded from a file, or criterion off)", R_DIM);
}

/* One row of the help box: up to two pieces of text (a key and the start of
 * its description, or a wrapped part of one). */
typedef struct help_row {
    const char *s1, *s2;
    int n1, n2, x1, x2, role1, role2;
} help_row;

static int help_add(help_row *r, int n, int max, const char *s, int len, int x, int role)
{
    if (n < max) r[n] = (help_row){s, NULL, len, 0, x, 0, role, 0};
    return n + 1;
}

/* Text wrapped to width cols from column x, one row per line; the first
 * line goes beside row[n - 1]'s first piece when beside is set. */
static int help_wrap(help_row *r, int n, int max, const char *s, int x, int cols, int role, int beside)
{
    int nl = uw_wrap(s, strlen(s), cols, NULL, 0);
    uw_line *l = malloc(sizeof *l * (size_t)nl);
    if (!l) return n;
    uw_wrap(s, strlen(s), cols, l, nl);
    for (int k = 0; k < nl; k++) {
        if (k == 0 && beside && n > 0 && n <= max) {
            r[n - 1].s2 = s + l[k].start; r[n - 1].n2 = l[k].len; r[n - 1].x2 = x; r[n - 1].role2 = role;
        } else n = help_add(r, n, max, s + l[k].start, l[k].len, x, role);
    }
    free(l);
    return n;
}

/* The help overlay: a box of w - 4 columns (at most 100) and h - 2 rows,
 * the whole screen when that is too small; every description wrapped to
 * the box (beside its key, or under it in a narrow box). */
static void draw_help(ui_canvas *c, int w, int h, tui_view *v)
{
    enum { KEY_COL = 22, MAX_ROWS = 2048 };
    char lines[128][128];
    int n = uk_help_lines(lines, 100, KEY_COL);
    if (n > 100) n = 100;
    /* and the slash commands */
    snprintf(lines[n++], 128, "## Commands");
    for (int i = 0; us_command_help[i] && n < 127; i++) snprintf(lines[n++], 128, "%s", us_command_help[i]);
    int bw = w >= 24 ? (w - 4 < 100 ? w - 4 : 100) : w;
    int bh = h >= 6 ? h - 2 : h;
    int bx = (w - bw) / 2, by = h >= 6 ? 1 : 0;
    if (bw < 1 || bh < 1) return;
    int xe = bx + bw - 1;                       /* one column spare at the right */
    if (xe <= bx) xe = bx + bw;
    static help_row row[MAX_ROWS];
    int nr = 0;
    int inner = xe - (bx + 4);                  /* text columns from bx + 4 */
    int desc_x = bx + 4 + KEY_COL, beside = xe - desc_x >= 16;
    for (int i = 0; i < n; i++) {
        const char *l = lines[i];
        if (!strncmp(l, "## ", 3)) nr = help_add(row, nr, MAX_ROWS, l + 3, (int)strlen(l + 3), bx + 2, R_HELP_KEY);
        else if (l[0] == '/') nr = help_wrap(row, nr, MAX_ROWS, l, bx + 4, inner > 0 ? inner : 1, R_HELP, 0);
        else {
            int kl = KEY_COL;
            while (kl > 0 && l[kl - 1] == ' ') kl--;
            nr = help_add(row, nr, MAX_ROWS, l, kl, bx + 4, R_HELP_KEY);
            if (beside) nr = help_wrap(row, nr, MAX_ROWS, l + KEY_COL, desc_x, xe - desc_x, R_HELP, 1);
            else nr = help_wrap(row, nr, MAX_ROWS, l + KEY_COL, bx + 6, inner > 2 ? inner - 2 : 1, R_HELP, 0);
        }
    }
    if (nr > MAX_ROWS) nr = MAX_ROWS;
    int rows = bh >= 3 ? bh - 2 : bh - 1;       /* under the title, above "↓ more" */
    if (v->help_top > nr - rows) v->help_top = nr - rows;
    if (v->help_top < 0) v->help_top = 0;
    for (int r = 0; r < bh; r++) cv_fill(c, by + r, bx, bw, ' ', R_HELP);
    cv_puts(c, by, bx + (bw > 2 ? 2 : 0), bx + bw, "huginn keys  (Up/Down/PgUp/PgDn scroll, any other key closes)", R_HELP_KEY);
    for (int r = 0; r < rows && v->help_top + r < nr; r++) {
        const help_row *hr = &row[v->help_top + r];
        int y = by + 1 + r;
        cv_put(c, y, hr->x1, xe, hr->s1, (size_t)hr->n1, hr->role1);
        if (hr->s2) cv_put(c, y, hr->x2, xe, hr->s2, (size_t)hr->n2, hr->role2);
    }
    if (bh >= 3 && v->help_top + rows < nr) cv_puts(c, by + bh - 1, bx + bw - 8 > bx ? bx + bw - 8 : bx, bx + bw, "↓ more", R_HELP_KEY);
}

static void draw_transcript(ui_canvas *c, int w, int vh, const ua_app *a, tui_view *v, int heat_max);

void tui_draw(ui_canvas *c, ua_app *a, const ug_gauge *g, tui_view *v)
{
    int w = c->w, h = c->h;
    cv_clear(c, R_NORMAL);
    /* status bar */
    char samp[64], gen[64];
    ua_sampling_text(&a->set, samp, sizeof samp);
    ua_generator_text(a, gen, sizeof gen);
    ug_status st = {
        .model = a->model_name, .num_steps = a->set.num_steps,
        .criterion = a->set.generator != HG_GEN_PLAIN ? "criterion off" : hg_criterion_name(a->set.criterion),
        .threshold = a->set.generator != HG_GEN_PLAIN ? NAN : us_threshold(&a->set),
        .cache = a->set.cache, .cache_pending = a->cache_used[0] && strcmp(a->cache_used, a->set.cache) != 0,
        .warmstart = a->set.warmstart, .sampling = samp, .tok_per_s = a->tok_per_s,
        .mean_steps = a->mean_steps, .ctx_used = a->ctx_used, .n_ctx = a->n_ctx, .kv_bytes = a->kv,
        .mode = v->browse ? "browse" : v->heatmap ? "heatmap" : NULL, .generator = gen,
        .server = a->srv.remote ? a->srv.host : NULL, .steps_fixed = ua_steps_fixed(a),
    };
    /* The rows, from the bottom, in order of need: the input line, a row
     * of status bar, a row of transcript, the notice line, the separator,
     * the rest of the status bar and of the input, the gauge; the
     * transcript takes what is left.  Nothing is drawn outside its rows,
     * whatever the size (down to 1x1). */
    const char *in = v->input ? v->input : "";
    size_t inlen = strlen(in);
    int iw = w - 3;
    if (iw < 1) iw = 1;
    int nil = uw_wrap(in, inlen, iw, NULL, 0);
    uw_line *il = malloc(sizeof *il * (size_t)nil);
    if (!il) return;
    uw_wrap(in, inlen, iw, il, nil);
    int sr_want = ug_status_draw(c, 0, w, 0, &st);
    if (sr_want > 3) sr_want = 3;
    int ir_want = nil < 6 ? nil : 6;
    int left = h - 1;                               /* the input's first row */
    int sr = left > 0 ? 1 : 0;
    left -= sr;
    int tr_min = left > 0 ? 1 : 0;                  /* a row of transcript   */
    left -= tr_min;
    int nr = left > 0 ? 1 : 0;                      /* the notice line       */
    left -= nr;
    int sep = left > 0 ? 1 : 0;
    left -= sep;
    int more = sr_want - sr < left ? sr_want - sr : left;
    if (more > 0) { sr += more; left -= more; }
    more = ir_want - 1 < left ? ir_want - 1 : left;
    int ir = 1;
    if (more > 0) { ir += more; left -= more; }
    int gh = h >= 16 ? 3 : h >= 12 ? 1 : 0;
    if (gh > left) gh = left;
    left -= gh;
    int vh = tr_min + left;                         /* the transcript's rows */
    if (sr) ug_status_draw(c, h - sr, w, sr, &st);
    /* input */
    int cur_line = 0;
    for (int k = 0; k < nil; k++) if (il[k].start <= v->input_point) cur_line = k;
    int first_il = cur_line - ir + 1 > 0 ? cur_line - ir + 1 : 0;
    if (first_il + ir > nil) first_il = nil - ir;
    int iy = h - sr - ir;
    for (int k = 0; k < ir; k++) {
        const uw_line *L = &il[first_il + k];
        cv_puts(c, iy + k, 0, w, first_il + k == 0 ? "› " : "  ", R_PROMPT);
        cv_put(c, iy + k, 2, w, in + L->start, (size_t)L->len, R_INPUT);
    }
    if (!inlen)
        cv_puts(c, iy, 2, w, a->streaming ? "replying… (Ctrl-C stops; keys work meanwhile)" :
                "Type a message · F1 help · Ctrl-D quits", R_DIM);
    {
        const uw_line *L = &il[cur_line];
        int pt = v->input_point < L->start ? L->start : v->input_point;
        if (pt > L->start + L->len) pt = L->start + L->len;
        int cx = 2 + uw_width(in + L->start, (size_t)(pt - L->start));
        c->cur_y = iy + cur_line - first_il;
        c->cur_x = cx < w ? cx : w - 1;
        if (v->help) c->cur_y = -1;
    }
    free(il);
    int sy = vh, gy = vh + sep;
    int ny = nr ? gy + gh : vh - 1;     /* no room: over the transcript's last row */
    /* gauge */
    if (gh > 0) {
        if (ua_steps_fixed(a)) {   /* no per-token steps from this server */
            cv_puts(c, gy, 1, w, "compute ", R_GAUGE_LABEL);
            cv_printf(c, gy, 9, w, R_DIM, "steps fixed on server (%s is not a huginn server: no per-token steps)", a->srv.host);
        } else ug_draw(c, gy, 1, w - 1, gh, g);
    }
    /* separator with the heat legend */
    int heat_max = max_steps_seen(a);
    if (heat_max < a->set.num_steps && a->ss.n == 0) heat_max = a->set.num_steps;
    if (sep) {
        cv_fill(c, sy, 0, w, 0x2500, R_BORDER);
        cv_puts(c, sy, 2, w, " compute ", R_GAUGE_LABEL);
        int any_sweep = 0;
        for (int i = 0; i < a->ss.n && !any_sweep; i++) any_sweep = ss_is_sweep(&a->ss.msg[i]);
        if (v->heatmap || any_sweep) {
            char tmp[512];
            ui_canvas lc = {0};
            cv_init(&lc, w, 1);
            uh_draw_legend(&lc, 0, 0, w, heat_max);
            size_t lw = cv_row_text(&lc, 0, tmp, sizeof tmp);
            int lwid = uw_width(tmp, lw);
            int lx = w - lwid - 2;
            if (lx >= 12) {     /* whole, right of " compute ", or not at all */
                cv_puts(c, sy, lx - 1, w, " ", R_BORDER);
                uh_draw_legend(c, sy, lx, w - lx, heat_max);
            }
            cv_free(&lc);
        }
    }
    /* trace panel (browse) */
    int th = v->browse && vh - 7 >= 3 ? 7 : 0;
    vh -= th;
    if (th) draw_trace_panel(c, vh, w, th, a, v);
    /* transcript */
    if (vh > 0) draw_transcript(c, w, vh, a, v, heat_max);
    if (v->show_notice && a->notice[0] && ny >= 0) {
        if (!nr) cv_fill(c, ny, 0, w, ' ', R_NORMAL);
        cv_puts(c, ny, 1, w, a->notice, a->notice_is_error ? R_ERROR : R_NOTICE);
    }
    if (v->help) draw_help(c, w, h, v);
    /* A one-column screen's bottom-right cell stays blank.  curses writes a
     * bottom-right cell (without scrolling) by writing the cell to its left
     * and inserting before it; with no column to its left ncurses sends a
     * character read from outside its line instead (a stray ⎽ or other
     * line-drawing glyph, or nothing).  crt_flush never writes that cell, and
     * the frame says what the screen shows. */
    if (w == 1) cv_fill(c, h - 1, 0, 1, ' ', R_NORMAL);
}

static void draw_transcript(ui_canvas *c, int w, int vh, const ua_app *a, tui_view *v, int heat_max)
{
    dlines d = {0};
    layout_transcript(a, w, &d);
    int maxscroll = d.n - vh > 0 ? d.n - vh : 0;
    if (v->browse && v->sel_msg >= 0) {
        /* keep the selected token in view */
        int at = -1;
        for (int k = 0; k < d.n; k++) {
            if (d.v[k].msg != v->sel_msg || d.v[k].kind != 1) continue;
            int off = v->sel_tok < a->ss.msg[v->sel_msg].n_tok ? a->ss.msg[v->sel_msg].tok[v->sel_tok].start : 0;
            if (d.v[k].start <= off) at = k;
        }
        if (at >= 0) {
            int first = d.n - vh - v->scroll;
            if (first < 0) first = 0;
            if (at < first) v->scroll = d.n - vh - at;
            else if (at >= first + vh) v->scroll = d.n - at - 1;
        }
    }
    if (v->scroll > maxscroll) v->scroll = maxscroll;
    if (v->scroll < 0) v->scroll = 0;
    int first = d.n - vh - v->scroll;
    if (first < 0) first = 0;
    if (a->ss.n == 0) {   /* the welcome, in the transcript's rows only */
        char l[4][600];
        snprintf(l[0], sizeof l[0], "huginn · %s", a->model_name);
        snprintf(l[1], sizeof l[1], "A recurrent-depth model: each token runs the core block up to num_steps times.");
        snprintf(l[2], sizeof l[2], "Type a message and press Enter. Alt-=/Alt-- change steps, Alt-h heatmap, F1 help.");
        snprintf(l[3], sizeof l[3], "Replies come from %.400s%s.", a->srv.url,
                 ua_steps_fixed(a) ? " (not a huginn server: its steps are fixed)" : "");
        int nl = a->srv.remote ? 4 : 3;
        for (int k = 0; k < nl && vh / 3 + k < vh; k++) cv_puts(c, vh / 3 + k, 2, w, l[k], k ? R_DIM : R_BOT_HDR);
    }
    for (int r = 0; r < vh && first + r < d.n; r++) {
        const dline *l = &d.v[first + r];
        if (l->kind == 0) draw_header(c, r, w, a, l->msg);
        else if (l->kind == 1) draw_text_line(c, r, w, a, l, v, heat_max);
        else if (l->kind == 3) draw_prov_line(c, r, w, a, l, heat_max);
    }
    if (v->scroll > 0) {   /* the longest form that fits */
        char b[64];
        snprintf(b, sizeof b, " ↓ %d more lines (End) ", v->scroll);
        if (uw_width(b, strlen(b)) + 1 > w) snprintf(b, sizeof b, " ↓ %d more ", v->scroll);
        if (uw_width(b, strlen(b)) + 1 > w) snprintf(b, sizeof b, " ↓ %d ", v->scroll);
        int bw = uw_width(b, strlen(b));
        cv_puts(c, vh - 1, w - bw - 1 > 0 ? w - bw - 1 : 0, w, b, R_STATUS);
    }
    free(d.v);
}

/* Browse helpers used by tui.c: next/previous token across replies. */
int tui_sel_move(const ua_app *a, int *msg, int *tok, int delta)
{
    int m = *msg, t = *tok;
    if (m < 0 || m >= a->ss.n) {
        for (m = a->ss.n - 1; m >= 0 && a->ss.msg[m].n_tok == 0; m--) {}
        if (m < 0) return 0;
        *msg = m;
        *tok = a->ss.msg[m].n_tok - 1;
        return 1;
    }
    t += delta;
    while (t < 0 || t >= a->ss.msg[m].n_tok) {
        if (t < 0) {
            do m--; while (m >= 0 && a->ss.msg[m].n_tok == 0);
            if (m < 0) return 0;
            t = a->ss.msg[m].n_tok + t;
            if (t < 0) t = 0;   /* stepping one at a time: never more than one reply */
        } else {
            int over = t - a->ss.msg[m].n_tok;
            do m++; while (m < a->ss.n && a->ss.msg[m].n_tok == 0);
            if (m >= a->ss.n) return 0;
            t = over;
            if (t >= a->ss.msg[m].n_tok) t = a->ss.msg[m].n_tok - 1;
        }
    }
    *msg = m;
    *tok = t;
    return 1;
}

/* The token on the display line above (dir -1) or below (+1) at about the
 * same column, across replies. */
int tui_sel_vertical(const ua_app *a, int w, int *msg, int *tok, int dir)
{
    if (*msg < 0 || *msg >= a->ss.n || *tok < 0 || *tok >= a->ss.msg[*msg].n_tok) return 0;
    dlines d = {0};
    layout_transcript(a, w, &d);
    const us_msg *m = &a->ss.msg[*msg];
    int off = m->tok[*tok].start, at = -1, col = 0;
    for (int k = 0; k < d.n; k++)
        if (d.v[k].msg == *msg && d.v[k].kind == 1 && d.v[k].start <= off) at = k;
    if (at < 0) { free(d.v); return 0; }
    col = uw_width(m->content + d.v[at].start, (size_t)(off - d.v[at].start));
    int found = 0;
    for (int k = at + dir; k >= 0 && k < d.n; k += dir) {
        const dline *l = &d.v[k];
        const us_msg *mm = &a->ss.msg[l->msg];
        if (l->kind != 1 || mm->n_tok == 0) continue;
        size_t b = uw_fit(mm->content + l->start, (size_t)l->len, col);
        int t = ss_token_at(mm, l->start + (int)b);
        if (t < 0) t = 0;
        *msg = l->msg;
        *tok = t;
        found = 1;
        break;
    }
    free(d.v);
    return found;
}
