/* heatmap.h — tint tokens by the steps they took: levels, the legend, and
 * the convergence-trace plot of a selected token.  Curses-free. */
#ifndef UI_HEATMAP_H
#define UI_HEATMAP_H
#include "canvas.h"

/* Heat level 0..7 of a token that took `steps` of at most `max_steps`. */
int uh_level(int steps, int max_steps);
/* The role (theme.h R_HEAT0 + level). */
int uh_role(int steps, int max_steps);
/* The legend, one row: "heat  1-4 5-8 … 29-32 steps" with tinted cells. */
void uh_draw_legend(ui_canvas *c, int y, int x, int w, int max_steps);
/* The convergence trace: exit value per step (log scale) as columns of
 * eighth blocks over h-1 rows plus an axis row; the threshold row is marked
 * with '-'.  Values <= 0 or NaN leave their column empty. */
void uh_draw_trace(ui_canvas *c, int y, int x, int w, int h, const float *trace, int n,
                   double threshold);
#endif
