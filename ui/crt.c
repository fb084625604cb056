/* crt.c — the terminal. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "crt.h"
#include "keys.h"

#include <curses.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile sig_atomic_t crt_sig_quit = 0;
static int active, depth, mono, can_direct;
static attr_t role_attr[R_COUNT];
static short role_pair[R_COUNT];
static int key_paste_begin, key_paste_end;

static void on_quit_signal(int sig) { crt_sig_quit = sig; }

static void set_modes(int on)
{
    /* bracketed paste */
    fputs(on ? "\033[?2004h" : "\033[?2004l", stdout);
    fflush(stdout);
}

int crt_init(char *err, size_t errcap)
{
    if (!isatty(0) || !isatty(1)) { snprintf(err, errcap, "not a terminal"); return -1; }
    if (!getenv("ESCDELAY")) set_escdelay(25);
    if (!newterm(NULL, stdout, stdin)) { snprintf(err, errcap, "cannot open the terminal (TERM=%s)", getenv("TERM") ? getenv("TERM") : ""); return -1; }
    active = 1;
    atexit(crt_done);
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    intrflush(stdscr, FALSE);
    meta(stdscr, TRUE);
    mousemask(BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    mouseinterval(0);
    key_paste_begin = KEY_MAX + 1;
    key_paste_end = KEY_MAX + 2;
    define_key("\033[200~", key_paste_begin);
    define_key("\033[201~", key_paste_end);
    set_modes(1);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_quit_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    depth = 0;
    if (has_colors()) {
        start_color();
        use_default_colors();
        depth = ut_color_depth(getenv("NO_COLOR"), getenv("COLORTERM"), COLORS);
        can_direct = COLORS >= 0x1000000;
        if (depth == 24 && !can_direct) depth = COLORS >= 256 ? 256 : 16;
    }
    return 0;
}

void crt_done(void)
{
    if (!active) return;
    active = 0;
    set_modes(0);
    mousemask(0, NULL);
    curs_set(1);
    endwin();
    fflush(stdout);
}

int crt_depth(void) { return depth; }

static attr_t to_attr(int a)
{
    attr_t r = A_NORMAL;
    if (a & UT_BOLD) r |= A_BOLD;
    if (a & UT_DIM) r |= A_DIM;
    if (a & UT_UNDERLINE) r |= A_UNDERLINE;
    if (a & UT_REVERSE) r |= A_REVERSE;
#ifdef A_ITALIC
    if (a & UT_ITALIC) r |= A_ITALIC;
#endif
    return r;
}

void crt_set_theme(const ut_theme *t)
{
    mono = t->mono || depth == 0;
    for (int i = 0; i < R_COUNT; i++) {
        role_attr[i] = to_attr(t->role[i].attrs);
        role_pair[i] = 0;
        if (mono) continue;
        int fg = ut_color_for_depth(t->role[i].fg, depth);
        int bg = ut_color_for_depth(t->role[i].bg, depth);
        if (fg < 0 && bg < 0) continue;
        if (depth != 24 && (fg >= COLORS || bg >= COLORS)) continue;
        if (init_extended_pair(i + 1, fg, bg) == OK) role_pair[i] = (short)(i + 1);
    }
}

void crt_size(int *w, int *h)
{
    *w = COLS;
    *h = LINES;
}

static int translate(int st, wint_t ch)
{
    if (st == KEY_CODE_YES) {
        switch (ch) {
        case KEY_UP: return UK_UP;
        case KEY_DOWN: return UK_DOWN;
        case KEY_LEFT: return UK_LEFT;
        case KEY_RIGHT: return UK_RIGHT;
        case KEY_PPAGE: return UK_PGUP;
        case KEY_NPAGE: return UK_PGDN;
        case KEY_HOME: return UK_HOME;
        case KEY_END: return UK_END;
        case KEY_ENTER: return UK_ENTER;
        case KEY_BACKSPACE: return UK_BACKSPACE;
        case KEY_DC: return UK_DELETE;
        case KEY_RESIZE: return UK_RESIZE;
        case KEY_MOUSE: {
            MEVENT me;
            if (getmouse(&me) == OK) {
                if (me.bstate & BUTTON4_PRESSED) return UK_WHEEL_UP;
                if (me.bstate & BUTTON5_PRESSED) return UK_WHEEL_DOWN;
            }
            return -1;
        }
        default:
            if ((int)ch == key_paste_begin) return UK_PASTE_BEGIN;
            if ((int)ch == key_paste_end) return UK_PASTE_END;
            if (ch >= KEY_F(1) && ch <= KEY_F(24)) return UK_F((int)ch - KEY_F(0));
            return -1;
        }
    }
    if (ch == '\r') return UK_ENTER;
    if (ch == 127 || ch == 8) return UK_BACKSPACE;
    if (ch == 27) return UK_ESC;
    return (int)ch;
}

static int get_key(int timeout_ms)
{
    wint_t ch;
    timeout(timeout_ms);
    int st = get_wch(&ch);
    if (st == ERR) return -1;
    return translate(st, ch);
}

int crt_read_key(int timeout_ms)
{
    int k = get_key(timeout_ms);
    if (k == UK_ESC) {
        int n = get_key(40);
        if (n < 0) return UK_ESC;
        if (n == UK_ENTER || n == '\n') return UK_ALT_ENTER;
        if (n == UK_ESC) return UK_ESC;
        if (n < 0x110000) return UK_ALT(n);
        return n;   /* Esc then a special key: the key */
    }
    if (k == UK_CTRL('X')) {
        wint_t ch;
        timeout(600);
        int st = get_wch(&ch);
        if (st == ERR) return k;
        if (st == OK && ch == UK_CTRL('E')) return UK_CX_CE;
        unget_wch(ch);   /* (a function key after Ctrl-X is dropped) */
        return k;
    }
    return k;
}

void crt_flush(const ui_canvas *c)
{
    int h = c->h < LINES ? c->h : LINES, w = c->w < COLS ? c->w : COLS;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const uc_cell *cell = &c->cells[y * c->w + x];
            if (cell->ch == 0) continue;
            wchar_t wc[2] = {(wchar_t)cell->ch, 0};
            cchar_t cc;
            int r = cell->role < R_COUNT ? cell->role : 0;
            int pair = role_pair[r];
            setcchar(&cc, wc, role_attr[r], 0, &pair);
            /* the bottom-right cell cannot be written without scrolling: it is
             * inserted (curses writes the cell to its left, then inserts);
             * on one column there is no cell to its left and ncurses would send
             * a character from outside its line, so it is left blank
             * (tui_draw draws nothing there) */
            if (y == LINES - 1 && x == COLS - 1) {
                if (COLS > 1) mvins_wch(y, x, &cc);
                continue;
            }
            mvadd_wch(y, x, &cc);
        }
    }
    if (c->cur_y >= 0 && c->cur_y < LINES && c->cur_x >= 0) {
        move(c->cur_y, c->cur_x < COLS ? c->cur_x : COLS - 1);
        curs_set(1);
    } else curs_set(0);
    wnoutrefresh(stdscr);
    doupdate();
}

void crt_redraw(void) { clearok(curscr, TRUE); }

void crt_suspend(void)
{
    set_modes(0);
    def_prog_mode();
    endwin();
}

void crt_resume(void)
{
    reset_prog_mode();
    set_modes(1);
    clearok(curscr, TRUE);
    refresh();
}
