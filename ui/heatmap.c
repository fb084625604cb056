/* heatmap.c — token tint levels, legend, convergence trace plot. */
#include "heatmap.h"
#include "settings.h"
#include "theme.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int uh_level(int steps, int max_steps)
{
    if (max_steps < 1) max_steps = 1;
    if (steps < 1) steps = 1;
    if (steps > max_steps) steps = max_steps;
    if (max_steps <= 1) return 0;
    int l = (int)((long)(steps - 1) * UT_HEAT_LEVELS / max_steps);
    return l < 0 ? 0 : l >= UT_HEAT_LEVELS ? UT_HEAT_LEVELS - 1 : l;
}

int uh_role(int steps, int max_steps) { return R_HEAT0 + uh_level(steps, max_steps); }

void uh_draw_legend(ui_canvas *c, int y, int x, int w, int max_steps)
{
    int xe = x + w;
    if (max_steps < 1) max_steps = 1;
    x = cv_puts(c, y, x, xe, "heat ", R_GAUGE_LABEL);
    for (int l = 0; l < UT_HEAT_LEVELS; l++) {
        /* the step range of level l */
        int lo = 0, hi = -1;
        for (int s = 1; s <= max_steps; s++)
            if (uh_level(s, max_steps) == l) { if (!lo) lo = s; hi = s; }
        if (!lo) continue;
        char b[32];
        if (lo == hi) snprintf(b, sizeof b, "%d", lo);
        else snprintf(b, sizeof b, "%d-%d", lo, hi);
        x = cv_puts(c, y, x, xe, " ", R_GAUGE_LABEL);
        x = cv_puts(c, y, x, xe, b, R_HEAT0 + l);
    }
    cv_puts(c, y, x, xe, " steps", R_GAUGE_LABEL);
}

void uh_draw_trace(ui_canvas *c, int y, int x, int w, int h, const float *trace, int n,
                   double threshold)
{
    static const char *const bl[9] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    if (h < 2 || w < 8) return;
    int rows = h - 1;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        double v = trace[i];
        if (!(v > 0) || !isfinite(v)) continue;
        double l = log10(v);
        if (l < lo) lo = l;
        if (l > hi) hi = l;
    }
    int have_thr = threshold > 0 && isfinite(threshold);
    if (have_thr) {
        double l = log10(threshold);
        if (l < lo) lo = l;
        if (l > hi) hi = l;
    }
    int label_w = 8;
    int cw = n > 0 ? (w - label_w) / n : 1;     /* columns per step */
    if (cw < 1) cw = 1;
    if (cw > 3) cw = 3;
    if (!isfinite(lo)) {
        cv_puts(c, y, x, x + w, "no exit values (criterion off or not evaluated)", R_DIM);
        return;
    }
    if (hi - lo < 1) { lo -= 0.5; hi += 0.5; }
    int units = rows * 8;
    int thr_row = -1;
    if (have_thr) {
        int u = (int)lround((log10(threshold) - lo) / (hi - lo) * (units - 1)) + 1;
        thr_row = rows - 1 - (u - 1) / 8;
    }
    char lab[32];
    us_fmt_num(pow(10, hi), lab, sizeof lab);
    cv_puts(c, y, x, x + label_w, lab, R_DIM);
    us_fmt_num(pow(10, lo), lab, sizeof lab);
    cv_puts(c, y + rows - 1, x, x + label_w, lab, R_DIM);
    for (int i = 0; i < n; i++) {
        double v = trace[i];
        int u = 0;
        if (v > 0 && isfinite(v)) u = (int)lround((log10(v) - lo) / (hi - lo) * (units - 1)) + 1;
        int below = have_thr && v > 0 && v < threshold;
        for (int r = 0; r < rows; r++) {
            int base = (rows - 1 - r) * 8;       /* units below this row */
            int fill = u - base;
            fill = fill < 0 ? 0 : fill > 8 ? 8 : fill;
            for (int k = 0; k < cw; k++) {
                int cx = x + label_w + i * cw + k;
                if (cx >= x + w) break;
                if (fill) cv_puts(c, y + r, cx, x + w, bl[fill], below ? R_GAUGE_EXIT : R_HIST);
                else if (r == thr_row) cv_puts(c, y + r, cx, x + w, "-", R_GAUGE_EXIT);
            }
        }
    }
    if (thr_row >= 0)
        for (int cx = x + label_w + n * cw; cx < x + w && cx < x + label_w + n * cw + 4; cx++)
            cv_puts(c, y + thr_row, cx, x + w, "-", R_GAUGE_EXIT);
    /* axis row: step numbers */
    int ay = y + rows;
    cv_puts(c, ay, x, x + label_w, "step", R_DIM);
    for (int i = 0; i < n; i += (cw >= 3 ? 1 : cw == 2 ? 2 : 5)) {
        char b[16];
        snprintf(b, sizeof b, "%d", i + 1);
        cv_puts(c, ay, x + label_w + i * cw, x + w, b, R_DIM);
    }
}
