/* crt.h — the only module that owns the terminal: curses set-up and
 * teardown (also from atexit), colours from the theme at the terminal's
 * depth, key reading (Alt as Esc-prefix, bracketed paste, mouse wheel),
 * signals (handlers only set flags), and writing a canvas to the screen. */
#ifndef UI_CRT_H
#define UI_CRT_H
#include <signal.h>
#include "canvas.h"
#include "theme.h"

extern volatile sig_atomic_t crt_sig_quit;   /* SIGTERM, SIGHUP, SIGINT, SIGQUIT: its number */

/* 0 ok, -1 when the terminal cannot be used (message in err). */
int crt_init(char *err, size_t errcap);
/* Restore the terminal; safe to call more than once. */
void crt_done(void);
/* Colour depth chosen (24, 256, 16, 8, 0 = monochrome). */
int crt_depth(void);
/* Set up colour pairs for the theme (a mono theme, or depth 0: attributes only). */
void crt_set_theme(const ut_theme *t);
void crt_size(int *w, int *h);
/* Next key (keys.h code) within timeout_ms (0: only what is buffered),
 * or -1.  Esc then a key within 40 ms is Alt+key. */
int crt_read_key(int timeout_ms);
/* Write the canvas to the screen (one refresh). */
void crt_flush(const ui_canvas *c);
/* Force a full repaint at the next flush (Ctrl-L). */
void crt_redraw(void);
/* Leave curses for a child program ($EDITOR), and come back. */
void crt_suspend(void);
void crt_resume(void);
#endif
