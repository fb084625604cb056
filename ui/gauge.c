/* gauge.c — compute gauge, sparkline, histogram, status bar. */
#include "gauge.h"
#include "settings.h"
#include "theme.h"
#include "wrap.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const blocks[9] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};

void ug_init(ug_gauge *g) { memset(g, 0, sizeof *g); }

void ug_new_reply(ug_gauge *g)
{
    memset(g->hist, 0, sizeof g->hist);
    g->hist_total = 0;
    g->hist_max = 0;
}

void ug_step(ug_gauge *g, int step, int num_steps, double exit_value, double threshold, int n_positions)
{
    g->active = 1;
    g->step = step;
    g->num_steps = num_steps;
    g->exit_value = exit_value;
    g->threshold = threshold;
    g->n_positions = n_positions;
}

void ug_token(ug_gauge *g, int steps_used, int num_steps)
{
    g->active = 0;
    g->last_used = steps_used;
    g->step = steps_used;
    if (num_steps > 0) g->num_steps = num_steps;
    g->last_budget = g->num_steps;
    g->n_positions = 0;
    g->recent[g->head] = steps_used;
    g->head = (g->head + 1) % UG_RECENT;
    if (g->n_recent < UG_RECENT) g->n_recent++;
    int s = steps_used < 0 ? 0 : steps_used > UG_MAX_STEPS ? UG_MAX_STEPS : steps_used;
    g->hist[s]++;
    g->hist_total++;
    if (g->num_steps > g->hist_max) g->hist_max = g->num_steps > UG_MAX_STEPS ? UG_MAX_STEPS : g->num_steps;
    if (s > g->hist_max) g->hist_max = s;
}

void ug_idle(ug_gauge *g) { g->active = 0; }

int ug_level(int v, int vmax)
{
    if (v <= 0) return 0;
    if (vmax < 1) vmax = 1;
    long long l = ((long long)v * 8 + vmax - 1) / vmax;
    return l < 1 ? 1 : l > 8 ? 8 : (int)l;
}

void ug_bar_text(char *out, size_t cap, int width, int done, int budget, int finished)
{
    size_t n = 0;
    if (budget < 1) budget = 1;
    if (done > budget) done = budget;
    int fill = (int)((long)done * width / budget);
    if (done > 0 && fill == 0) fill = 1;
    for (int i = 0; i < width && n + 2 < cap; i++)
        out[n++] = i < fill ? (finished ? '#' : '|') : (finished ? '.' : ' ');
    out[n] = 0;
}

void ug_spark_text(char *out, size_t cap, const int *v, int n, int vmax)
{
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *b = blocks[ug_level(v[i], vmax)];
        if (v[i] > 0 && ug_level(v[i], vmax) == 0) b = blocks[1];
        size_t l = strlen(b);
        if (o + l + 1 > cap) break;
        memcpy(out + o, b, l);
        o += l;
    }
    out[o] = 0;
}

static void fmt_val(double v, char *out, size_t cap)
{
    if (isnan(v)) snprintf(out, cap, "-");
    else us_fmt_num(v, out, cap);
}

void ug_draw(ui_canvas *c, int y, int x, int w, int h, const ug_gauge *g)
{
    int xe = x + w;
    char buf[2048];
    /* row 0: the step bar */
    char lab[16];
    if (g->label && g->active) snprintf(lab, sizeof lab, "%-7.7s ", g->label);
    int cx = cv_puts(c, y, x, xe, g->label && g->active ? lab : g->n_positions > 1 && g->active ? "prefill " : "compute ",
                     R_GAUGE_LABEL);
    /* while iterating, the pass's budget; after, the last token's (a reply
     * stopped during a diffusion wave: the wave's passes reported 4 steps) */
    int budget = g->active || g->last_budget < 1 ? g->num_steps : g->last_budget;
    if (budget < 1) budget = 1;
    int done = g->active ? g->step : g->last_used;
    char right[160], ev[32], th[32];
    fmt_val(g->exit_value, ev, sizeof ev);
    fmt_val(g->threshold, th, sizeof th);
    if (g->crit && !isnan(g->threshold))
        snprintf(right, sizeof right, " step %3d/%-3d %s %s %s %s", done, budget, g->crit, ev,
                 g->exits_above ? ">=" : "<", th);
    else
        snprintf(right, sizeof right, " step %3d/%-3d %s", done, budget, g->crit ? g->crit : "fixed steps");
    int rw = uw_width(right, strlen(right));
    int barw = xe - cx - 2 - rw;
    if (barw < 4) barw = 4;
    if (barw > 64) barw = 64;
    ug_bar_text(buf, sizeof buf, barw, done, budget, !g->active);
    cx = cv_puts(c, y, cx, xe, "[", R_GAUGE_LABEL);
    int fill = 0;
    while (buf[fill] == '|' || buf[fill] == '#') fill++;
    cv_put(c, y, cx, xe, buf, (size_t)fill, R_GAUGE_FILL);
    cv_puts(c, y, cx + fill, xe, buf + fill, R_GAUGE_EMPTY);
    cx += barw;
    cx = cv_puts(c, y, cx, xe, "]", R_GAUGE_LABEL);
    cv_puts(c, y, cx, xe, right, g->active ? R_GAUGE_LABEL : R_GAUGE_EXIT);
    if (h < 2) return;
    /* row 1: sparkline of recent tokens */
    cx = cv_puts(c, y + 1, x, xe, "tokens  ", R_GAUGE_LABEL);
    char tail[96];
    double mean = 0;
    int rmax = 0;
    for (int i = 0; i < g->n_recent && i < 200; i++)
        if (g->recent[(g->head - 1 - i + UG_RECENT) % UG_RECENT] > rmax) rmax = g->recent[(g->head - 1 - i + UG_RECENT) % UG_RECENT];
    int nmean = g->n_recent < 64 ? g->n_recent : 64;
    for (int i = 0; i < nmean; i++) mean += g->recent[(g->head - 1 - i + UG_RECENT) % UG_RECENT];
    if (nmean) mean /= nmean;
    if (g->n_recent) snprintf(tail, sizeof tail, " last %d  mean %.1f  max %d", g->recent[(g->head - 1 + UG_RECENT) % UG_RECENT], mean, g->n_recent ? rmax : 0);
    else snprintf(tail, sizeof tail, " (steps per token)");
    int sw = xe - cx - uw_width(tail, strlen(tail));
    if (sw < 1) sw = 1;
    int n = g->n_recent < sw ? g->n_recent : sw;
    int vals[UG_RECENT];
    int vmax = 1;   /* scaled to the largest shown: the shape tells the story */
    for (int i = 0; i < n; i++) {
        vals[i] = g->recent[(g->head - n + i + UG_RECENT) % UG_RECENT];
        if (vals[i] > vmax) vmax = vals[i];
    }
    ug_spark_text(buf, sizeof buf, vals, n, vmax);
    cx = cv_puts(c, y + 1, cx, xe, buf, R_SPARK);
    cv_puts(c, y + 1, cx, xe, tail, R_GAUGE_LABEL);
    if (h < 3) return;
    /* row 2: histogram of steps in this reply, one column per step count */
    cx = cv_puts(c, y + 2, x, xe, "steps   ", R_GAUGE_LABEL);
    int hm = g->hist_max > 0 ? g->hist_max : budget;
    int cols = xe - cx - 24;
    if (cols < 4) cols = 4;
    int per = (hm + cols - 1) / cols;     /* step values per column */
    if (per < 1) per = 1;
    int ncol = (hm + per - 1) / per;
    int cnt[UG_MAX_STEPS + 1] = {0}, cmax = 0, mode = 0, modec = 0;
    for (int s = 1; s <= hm && s <= UG_MAX_STEPS; s++) {
        cnt[(s - 1) / per] += g->hist[s];
        if (g->hist[s] > modec) { modec = g->hist[s]; mode = s; }
    }
    for (int i = 0; i < ncol; i++) if (cnt[i] > cmax) cmax = cnt[i];
    cx = cv_puts(c, y + 2, cx, xe, "1", R_GAUGE_LABEL);
    for (int i = 0; i < ncol; i++) {
        int l = ug_level(cnt[i], cmax);
        cx = cv_puts(c, y + 2, cx, xe, l ? blocks[l] : "_", l ? R_HIST : R_GAUGE_EMPTY);
    }
    if (g->hist_total)
        cv_printf(c, y + 2, cx, xe, R_GAUGE_LABEL, "%d  mode %d, %d tokens", hm, mode, g->hist_total);
    else
        cv_printf(c, y + 2, cx, xe, R_GAUGE_LABEL, "%d  (histogram of the reply)", hm);
}

/* ------------------------------------------------------------ status */

void ug_fmt_bytes(size_t b, char *out, size_t cap)
{
    if (b < 1024) snprintf(out, cap, "%zu B", b);
    else if (b < 1024 * 1024) snprintf(out, cap, "%.1f KiB", b / 1024.0);
    else if (b < (size_t)1 << 30) snprintf(out, cap, "%.1f MiB", b / 1048576.0);
    else snprintf(out, cap, "%.2f GiB", b / 1073741824.0);
}

int ug_status_fields(const ug_status *s, char (*f)[64], int max)
{
    int n = 0;
    char t[32], kv[32];
#define F(...) do { if (n < max) snprintf(f[n], 64, __VA_ARGS__); n++; } while (0)
    F("%s", s->model ? s->model : "?");
    if (s->steps_fixed) F("steps: fixed on server");
    else {
        F("steps %d", s->num_steps);
        if (s->criterion && !isnan(s->threshold)) { us_fmt_num(s->threshold, t, sizeof t); F("%s %s", s->criterion, t); }
        else F("%s", s->criterion ? s->criterion : "off");
        F("cache %s%s", s->cache ? s->cache : "full", s->cache_pending ? "*" : "");
        F("warm %s", s->warmstart ? "on" : "off");
    }
    F("%s", s->sampling ? s->sampling : "greedy");
    if (s->generator && s->generator[0] && !s->steps_fixed) F("%s", s->generator);
    F("%.1f tok/s", s->tok_per_s);
    if (!s->steps_fixed) F("%.2f steps/tok", s->mean_steps);
    if (s->server) {   /* a server: its context and cache are its own */
        F("server %.50s", s->server);
        if (s->ctx_used > 0) F("ctx %d", s->ctx_used);
    } else {
        F("ctx %d/%d", s->ctx_used, s->n_ctx);
        ug_fmt_bytes(s->kv_bytes, kv, sizeof kv);
        F("KV %s", kv);
    }
    if (s->mode) F("[%s]", s->mode);
#undef F
    return n;
}

int ug_status_draw(ui_canvas *c, int y, int w, int h, const ug_status *s)
{
    char f[16][64];
    int n = ug_status_fields(s, f, 16);
    if (n > 16) n = 16;
    int row = 0, x = 0;
    for (int r = 0; r < h; r++) cv_fill(c, y + r, 0, w, ' ', R_STATUS);
    for (int i = 0; i < n; i++) {
        int fw = uw_width(f[i], strlen(f[i]));
        int need = (x ? 3 : 1) + fw;
        if (x && x + need > w) { row++; x = 0; need = 1 + fw; }
        if (row < h) {
            if (x) cv_puts(c, y + row, x, w, " │", R_STATUS), x += 2;
            x = cv_puts(c, y + row, x + 1, w, f[i], i == 0 || i == 1 || i == 2 ? R_STATUS_KEY : R_STATUS);
        } else x += need;
    }
    return row + 1;
}
