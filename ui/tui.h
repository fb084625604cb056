/* tui.h — the full-screen chat: layout, widgets, the main loop. */
#ifndef UI_TUI_H
#define UI_TUI_H
#include "app.h"
#include "demo.h"
#include "canvas.h"
#include "gauge.h"

/* Run the chat on the terminal until the user quits; returns the exit
 * status (0, or 1 when the terminal could not be used: message in err). */
int tui_run(ua_app *a, const ud_script *demo, char *err, size_t errcap);

/* The layout and drawing, curses-free (tests render into a canvas). */
typedef struct tui_view {
    int heatmap, browse, help, help_top;
    int scroll;                 /* lines scrolled up from the bottom */
    int sel_msg, sel_tok;       /* browse selection                  */
    const char *input;          /* the input line's text             */
    int input_point;            /* cursor byte offset in input       */
    int show_notice;
    const char *theme_name;
} tui_view;
void tui_draw(ui_canvas *c, ua_app *a, const ug_gauge *g, tui_view *v);
/* Browse: move the selection by delta tokens across replies (the last token
 * when none is selected); to the line above/below.  1 when it moved. */
int tui_sel_move(const ua_app *a, int *msg, int *tok, int delta);
int tui_sel_vertical(const ua_app *a, int w, int *msg, int *tok, int dir);
#endif
