/* keys.h — the one key table.  Key codes are terminal-independent (crt.c
 * translates curses keys into them); the table drives dispatch, the help
 * overlay and the man page's KEYS section.  Curses-free. */
#ifndef UI_KEYS_H
#define UI_KEYS_H
#include <stddef.h>
#include <stdio.h>

/* Key codes: a Unicode code point (Ctrl-A = 1 …), or one of these. */
#define UK_ALT(c)    (0x200000 | (c))         /* Alt+key, or Esc then key */
#define UK_IS_ALT(k) (((k) & 0x200000) != 0)
#define UK_F(n)      (0x110000 + (n))         /* F1 … F12                */
enum {
    UK_UP = 0x110100, UK_DOWN, UK_LEFT, UK_RIGHT, UK_PGUP, UK_PGDN, UK_HOME, UK_END,
    UK_ENTER, UK_ESC, UK_BACKSPACE, UK_DELETE, UK_RESIZE,
    UK_WHEEL_UP, UK_WHEEL_DOWN, UK_PASTE_BEGIN, UK_PASTE_END,
    UK_CX_CE,       /* Ctrl-X then Ctrl-E */
    UK_ALT_ENTER,
};
#define UK_CTRL(c)   ((c) & 0x1f)

typedef enum uk_action {
    A_NONE = 0,
    A_HELP, A_QUIT, A_STOP, A_REDRAW,
    A_STEPS_INC, A_STEPS_DEC, A_STEPS_MUL, A_STEPS_DIV,
    A_CRIT_CYCLE, A_THR_DIV, A_THR_MUL, A_WARM, A_CACHE_CYCLE, A_SAMPLING, A_GEN_CYCLE,
    A_HEATMAP, A_BROWSE,
    A_SCROLL_UP, A_SCROLL_DOWN, A_SCROLL_TOP, A_SCROLL_BOTTOM, A_WHEEL_UP, A_WHEEL_DOWN,
    A_NEWLINE, A_EDITOR, A_SUBMIT,
    A_SEL_PREV, A_SEL_NEXT, A_SEL_UP, A_SEL_DOWN, A_SEL_EXIT,
    A_SWEEP,
    A_COUNT
} uk_action;

/* When an entry applies. */
enum {
    UK_ANY = 0,
    UK_EMPTY = 1,       /* only while the input line is empty           */
    UK_BROWSING = 2,    /* only in browse mode (heatmap token selection)*/
    UK_LISTED = 4,      /* handled by the input line: listed, not dispatched */
};

typedef struct uk_entry {
    const char *section;
    int keys[3];            /* 0-terminated alternatives */
    uk_action action;
    int when;
    const char *desc;
} uk_entry;

extern const uk_entry uk_table[];
extern const int uk_table_len;

/* The action bound to key in the current state (flags: UK_EMPTY when the
 * input line is empty, UK_BROWSING in browse mode); A_NONE when none. */
uk_action uk_dispatch(int key, int state);
/* A key's name: "Alt-=", "F6", "Ctrl-C", "PgUp", "?" … */
void uk_name(int key, char *out, size_t cap);
/* The names of an entry's keys joined with ", ". */
void uk_entry_keys(const uk_entry *e, char *out, size_t cap);
/* The help overlay: n lines of text "KEYS<pad>DESCRIPTION" or a section
 * header ("## Section"); returns the number of lines, fills at most max. */
int uk_help_lines(char (*lines)[128], int max, int key_col);
/* The man page's KEYS section (troff, between the BEGIN/END markers). */
void uk_man(FILE *f);
const char *uk_action_name(uk_action a);
#endif
