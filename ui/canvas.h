/* canvas.h — a screen-sized grid of cells (code point + colour role) that
 * widgets draw into; crt.c writes it to the terminal in one pass, tests read
 * it back as text.  Curses-free. */
#ifndef UI_CANVAS_H
#define UI_CANVAS_H
#include <stddef.h>
#include <stdint.h>

typedef struct uc_cell {
    uint32_t ch;        /* 0 = the right half of a wide character */
    uint8_t role;       /* a theme role (theme.h)                 */
} uc_cell;

typedef struct ui_canvas {
    int w, h;
    uc_cell *cells;     /* h rows of w cells                      */
    int cur_y, cur_x;   /* where the terminal cursor goes (-1: hidden) */
} ui_canvas;

int cv_init(ui_canvas *c, int w, int h);      /* 0 ok, -1 no memory */
void cv_free(ui_canvas *c);
void cv_clear(ui_canvas *c, int role);
/* Write UTF-8 text at (y, x), clipped at column xmax (exclusive); returns the
 * column after the text.  A wide character that does not fit is left out. */
int cv_put(ui_canvas *c, int y, int x, int xmax, const char *s, size_t len, int role);
int cv_puts(ui_canvas *c, int y, int x, int xmax, const char *s, int role);
int cv_printf(ui_canvas *c, int y, int x, int xmax, int role, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Write one code point n times. */
int cv_fill(ui_canvas *c, int y, int x, int n, uint32_t ch, int role);
/* Set the role of n cells. */
void cv_role(ui_canvas *c, int y, int x, int n, int role);
/* Row y as UTF-8, trailing spaces trimmed; returns its length. */
size_t cv_row_text(const ui_canvas *c, int y, char *out, size_t cap);
/* Does any row contain needle? (tests) */
int cv_find(const ui_canvas *c, const char *needle);
#endif
