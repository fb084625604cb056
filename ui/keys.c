/* keys.c — the key table, dispatch, help lines and the man section. */
#include "keys.h"

#include <stdio.h>
#include <string.h>

#define K(...) {__VA_ARGS__}

const uk_entry uk_table[] = {
    {"Compute", K(UK_ALT('='), UK_F(6)), A_STEPS_INC, UK_ANY, "num_steps + 1 (up to 256), from the next token"},
    {"Compute", K(UK_ALT('-'), UK_F(5)), A_STEPS_DEC, UK_ANY, "num_steps - 1 (down to 1)"},
    {"Compute", K(UK_ALT(']')), A_STEPS_MUL, UK_ANY, "num_steps x 2"},
    {"Compute", K(UK_ALT('[')), A_STEPS_DIV, UK_ANY, "num_steps / 2"},
    {"Compute", K(UK_ALT('c'), UK_F(7)), A_CRIT_CYCLE, UK_ANY,
     "cycle the exit criterion: none, kl, argmax-stability, entropy-diff, latent-diff, minp-kl, cosine"},
    {"Compute", K(UK_ALT('t')), A_THR_DIV, UK_ANY, "exit threshold / 2"},
    {"Compute", K(UK_ALT('T')), A_THR_MUL, UK_ANY, "exit threshold x 2"},
    {"Compute", K(UK_ALT('w')), A_WARM, UK_ANY, "warm start (continuous compute) on/off"},
    {"Compute", K(UK_ALT('k')), A_CACHE_CYCLE, UK_ANY,
     "cycle the KV-cache strategy (applied at the next turn: the conversation is re-processed)"},
    {"Compute", K(UK_ALT('s')), A_SAMPLING, UK_ANY, "greedy / sampled decoding"},
    {"Compute", K(UK_ALT('d'), UK_F(8)), A_SWEEP, UK_ANY,
     "depth sweep: answer the last message again at 4, 8, 16, 32 and 64 steps (/sweep LIST for others)"},
    {"Compute", K(UK_ALT('g')), A_GEN_CYCLE, UK_ANY,
     "cycle the generator: plain, speculative (drafts and checks), diffusion (a wave)"},
    {"View", K(UK_ALT('h'), UK_F(2)), A_HEATMAP, UK_ANY, "heatmap: tint every token by the steps it took"},
    {"View", K(UK_ALT('b'), UK_F(3)), A_BROWSE, UK_ANY,
     "browse tokens (heatmap on): the selected token's steps and convergence trace"},
    {"View", K(UK_PGUP), A_SCROLL_UP, UK_ANY, "scroll the transcript up a page"},
    {"View", K(UK_PGDN), A_SCROLL_DOWN, UK_ANY, "scroll the transcript down a page"},
    {"View", K(UK_HOME), A_SCROLL_TOP, UK_ANY, "scroll to the top of the transcript"},
    {"View", K(UK_END), A_SCROLL_BOTTOM, UK_ANY, "scroll to the bottom (follow the reply)"},
    {"View", K(UK_WHEEL_UP), A_WHEEL_UP, UK_ANY, "scroll up 3 lines"},
    {"View", K(UK_WHEEL_DOWN), A_WHEEL_DOWN, UK_ANY, "scroll down 3 lines"},
    {"View", K(UK_F(1), '?'), A_HELP, UK_EMPTY, "this help (? only while the input line is empty)"},
    {"View", K(UK_F(1)), A_HELP, UK_ANY, NULL},
    {"View", K(UK_CTRL('L')), A_REDRAW, UK_ANY, "redraw the screen"},
    {"Browse", K(UK_LEFT), A_SEL_PREV, UK_BROWSING, "previous token"},
    {"Browse", K(UK_RIGHT), A_SEL_NEXT, UK_BROWSING, "next token"},
    {"Browse", K(UK_UP), A_SEL_UP, UK_BROWSING, "token on the line above"},
    {"Browse", K(UK_DOWN), A_SEL_DOWN, UK_BROWSING, "token on the line below"},
    {"Browse", K(UK_ESC, UK_ENTER), A_SEL_EXIT, UK_BROWSING, "leave browse mode"},
    {"Input", K(UK_ENTER), A_SUBMIT, UK_LISTED, "send the message (or run the /command)"},
    {"Input", K(UK_ALT_ENTER, UK_CTRL('J')), A_NEWLINE, UK_ANY, "insert a newline (multi-line input; pasted text keeps its newlines)"},
    {"Input", K(UK_CX_CE), A_EDITOR, UK_ANY, "edit the input in $EDITOR"},
    {"Input", K(UK_CTRL('C')), A_STOP, UK_ANY, "stop the reply; at the prompt: clear the line"},
    {"Input", K(UK_CTRL('D')), A_QUIT, UK_EMPTY, "quit (on an empty line)"},
    {"Input", K(UK_UP, UK_DOWN), A_NONE, UK_LISTED, "history (kept in $XDG_STATE_HOME/huginn/history)"},
    {"Input", K(UK_CTRL('A'), UK_CTRL('E')), A_NONE, UK_LISTED, "start / end of line; other readline keys work too"},
};
const int uk_table_len = (int)(sizeof uk_table / sizeof uk_table[0]);

uk_action uk_dispatch(int key, int state)
{
    /* browse-mode bindings win while browsing */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < uk_table_len; i++) {
            const uk_entry *e = &uk_table[i];
            if (e->when & UK_LISTED) continue;
            if (pass == 0 && !(e->when & UK_BROWSING)) continue;
            if (pass == 1 && (e->when & UK_BROWSING)) continue;
            if ((e->when & UK_BROWSING) && !(state & UK_BROWSING)) continue;
            if ((e->when & UK_EMPTY) && !(state & UK_EMPTY)) continue;
            for (int k = 0; k < 3 && e->keys[k]; k++)
                if (e->keys[k] == key) return e->action;
        }
    }
    return A_NONE;
}

void uk_name(int key, char *out, size_t cap)
{
    static const struct { int k; const char *n; } names[] = {
        {UK_UP, "Up"}, {UK_DOWN, "Down"}, {UK_LEFT, "Left"}, {UK_RIGHT, "Right"},
        {UK_PGUP, "PgUp"}, {UK_PGDN, "PgDn"}, {UK_HOME, "Home"}, {UK_END, "End"},
        {UK_ENTER, "Enter"}, {UK_ESC, "Esc"}, {UK_BACKSPACE, "Backspace"}, {UK_DELETE, "Delete"},
        {UK_RESIZE, "Resize"}, {UK_WHEEL_UP, "Wheel-Up"}, {UK_WHEEL_DOWN, "Wheel-Down"},
        {UK_PASTE_BEGIN, "Paste"}, {UK_PASTE_END, "Paste-End"}, {UK_CX_CE, "Ctrl-X Ctrl-E"},
        {UK_ALT_ENTER, "Alt-Enter"}, {' ', "Space"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].k == key) { snprintf(out, cap, "%s", names[i].n); return; }
    if (key >= UK_F(1) && key <= UK_F(24)) { snprintf(out, cap, "F%d", key - UK_F(0)); return; }
    if (UK_IS_ALT(key)) {
        char inner[32];
        uk_name(key & ~0x200000, inner, sizeof inner);
        snprintf(out, cap, "Alt-%s", inner);
        return;
    }
    if (key > 0 && key < 32) { snprintf(out, cap, "Ctrl-%c", key + '@'); return; }
    if (key < 0x80) { snprintf(out, cap, "%c", key); return; }
    snprintf(out, cap, "U+%04X", key);
}

void uk_entry_keys(const uk_entry *e, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (int k = 0; k < 3 && e->keys[k]; k++) {
        char nm[32];
        uk_name(e->keys[k], nm, sizeof nm);
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", k ? ", " : "", nm);
        if (n >= cap) break;
    }
}

int uk_help_lines(char (*lines)[128], int max, int key_col)
{
    int n = 0;
    const char *sec = NULL;
    for (int i = 0; i < uk_table_len; i++) {
        const uk_entry *e = &uk_table[i];
        if (!e->desc) continue;
        if (!sec || strcmp(sec, e->section)) {
            sec = e->section;
            if (n < max) snprintf(lines[n], 128, "## %s", sec);
            n++;
        }
        char keys[64];
        uk_entry_keys(e, keys, sizeof keys);
        if (n < max) snprintf(lines[n], 128, "%-*s%s", key_col, keys, e->desc);
        n++;
    }
    return n;
}

static void troff(FILE *f, const char *s)
{
    if (*s == '.' || *s == '\'') fputs("\\&", f);
    for (; *s; s++) {
        if (*s == '-') fputs("\\-", f);
        else if (*s == '\\') fputs("\\e", f);
        else fputc(*s, f);
    }
}

void uk_man(FILE *f)
{
    const char *sec = NULL;
    fputs(".\\\" generated from ui/keys.c by tools/gen_man_keys.sh: do not edit\n", f);
    for (int i = 0; i < uk_table_len; i++) {
        const uk_entry *e = &uk_table[i];
        if (!e->desc) continue;
        if (!sec || strcmp(sec, e->section)) {
            sec = e->section;
            fputs(".SS ", f);
            troff(f, sec);
            fputc('\n', f);
        }
        char keys[64];
        uk_entry_keys(e, keys, sizeof keys);
        fputs(".TP\n.B ", f);
        troff(f, keys);
        fputc('\n', f);
        troff(f, e->desc);
        fputc('\n', f);
    }
}

const char *uk_action_name(uk_action a)
{
    static const char *n[A_COUNT] = {
        "none", "help", "quit", "stop", "redraw", "steps+1", "steps-1", "steps*2", "steps/2",
        "criterion", "threshold/2", "threshold*2", "warmstart", "cache", "sampling", "generator", "heatmap",
        "browse", "scroll-up", "scroll-down", "scroll-top", "scroll-bottom", "wheel-up",
        "wheel-down", "newline", "editor", "submit", "sel-prev", "sel-next", "sel-up",
        "sel-down", "sel-exit", "sweep",
    };
    return a >= 0 && a < A_COUNT ? n[a] : "?";
}
