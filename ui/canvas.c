/* canvas.c — the frame every widget draws into. */
#include "canvas.h"
#include "wrap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cv_init(ui_canvas *c, int w, int h)
{
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    uc_cell *cells = calloc((size_t)w * (size_t)h, sizeof *cells);
    if (!cells) return -1;
    free(c->cells);
    c->cells = cells;
    c->w = w;
    c->h = h;
    cv_clear(c, 0);
    return 0;
}

void cv_free(ui_canvas *c)
{
    free(c->cells);
    c->cells = NULL;
    c->w = c->h = 0;
}

void cv_clear(ui_canvas *c, int role)
{
    for (int i = 0; i < c->w * c->h; i++) { c->cells[i].ch = ' '; c->cells[i].role = (uint8_t)role; }
    c->cur_y = c->cur_x = -1;
}

static void set_cell(ui_canvas *c, int y, int x, uint32_t ch, int role)
{
    uc_cell *cell = &c->cells[y * c->w + x];
    /* overwriting half of a wide character blanks the other half */
    if (cell->ch == 0 && x > 0) c->cells[y * c->w + x - 1].ch = ' ';
    if (cell->ch != 0 && x + 1 < c->w && c->cells[y * c->w + x + 1].ch == 0)
        c->cells[y * c->w + x + 1].ch = ' ';
    cell->ch = ch;
    cell->role = (uint8_t)role;
}

int cv_put(ui_canvas *c, int y, int x, int xmax, const char *s, size_t len, int role)
{
    if (y < 0 || y >= c->h) return x;
    if (xmax > c->w) xmax = c->w;
    size_t i = 0;
    while (i < len && x < xmax) {
        uint32_t cp;
        i += (size_t)uw_decode(s + i, len - i, &cp);
        if (cp == '\t' || cp == '\n') cp = ' ';
        int w = uw_cpwidth(cp);
        if (w == 0) continue;
        if (x + w > xmax) break;
        if (x >= 0) {
            set_cell(c, y, x, cp, role);
            if (w == 2) set_cell(c, y, x + 1, 0, role);
        }
        x += w;
    }
    return x;
}

int cv_puts(ui_canvas *c, int y, int x, int xmax, const char *s, int role)
{
    return cv_put(c, y, x, xmax, s, strlen(s), role);
}

int cv_printf(ui_canvas *c, int y, int x, int xmax, int role, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return cv_puts(c, y, x, xmax, buf, role);
}

int cv_fill(ui_canvas *c, int y, int x, int n, uint32_t ch, int role)
{
    char b[4];
    int len = uw_encode(ch, b);
    for (int i = 0; i < n; i++) x = cv_put(c, y, x, c->w, b, (size_t)len, role);
    return x;
}

void cv_role(ui_canvas *c, int y, int x, int n, int role)
{
    if (y < 0 || y >= c->h) return;
    for (int i = x; i < x + n && i < c->w; i++)
        if (i >= 0) c->cells[y * c->w + i].role = (uint8_t)role;
}

size_t cv_row_text(const ui_canvas *c, int y, char *out, size_t cap)
{
    size_t n = 0, keep = 0;
    if (cap == 0) return 0;
    for (int x = 0; x < c->w && y >= 0 && y < c->h; x++) {
        uint32_t ch = c->cells[y * c->w + x].ch;
        if (ch == 0) continue;
        char b[4];
        int l = uw_encode(ch, b);
        if (n + (size_t)l + 1 > cap) break;
        memcpy(out + n, b, (size_t)l);
        n += (size_t)l;
        if (ch != ' ') keep = n;
    }
    out[keep] = 0;
    return keep;
}

int cv_find(const ui_canvas *c, const char *needle)
{
    char buf[4096];
    for (int y = 0; y < c->h; y++) {
        cv_row_text(c, y, buf, sizeof buf);
        if (strstr(buf, needle)) return 1;
    }
    return 0;
}
