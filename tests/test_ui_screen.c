/* test_ui_screen.c — the chat's whole layout (tui_draw) at every terminal
 * size from 1x1 up: the input line and the status bar always on screen, no
 * widget drawn over another (welcome over the separator, gauge over the
 * notice), the transcript rewrapped without losing a character, the cursor
 * on its character however long the input, the help overlay shown and its
 * descriptions wrapped, never cut; on one column the bottom-right cell left
 * blank (curses cannot write it there).  Run under ASan by make test-sanitize. */
#include "testutil.h"
#include <locale.h>
#include <math.h>
#include "canvas.h"
#include "gauge.h"
#include "keys.h"
#include "tui.h"
#include "wrap.h"

#define MAXW 130
#define MAXH 44

static const char *USER_MSG = "漢字かな交じり文 and emoji 🐦🦅 — tell me about ravens 乌鸦, please";
static const char *REPLY = "Ravens (Corvus corax) are large black birds. 渡鸦很聪明 🐦 They live long.";

static void app_init(ua_app *a, int with_transcript)
{
    memset(a, 0, sizeof *a);
    us_defaults(&a->set, 32);
    ss_init(&a->ss);
    snprintf(a->model_name, sizeof a->model_name, "demo-huginn");
    a->n_ctx = 256;
    if (!with_transcript) return;
    assert_non_null(ss_add(&a->ss, "user", USER_MSG));
    us_msg *m = ss_add(&a->ss, "Huginn", "");
    assert_non_null(m);
    /* the reply as tokens of a few bytes (whole UTF-8 sequences) */
    const char *p = REPLY;
    int id = 0;
    while (*p) {
        int n = 0;
        for (int k = 0; k < 3 && p[n]; k++) {
            uint32_t cp;
            n += uw_decode(p + n, strlen(p + n), &cp);
        }
        float tr[3] = {1e-1f, 1e-2f, 1e-4f};
        assert_int_equal(ss_append_token(m, id, p, (size_t)n, 4 + id % 29, tr, 3), 0);
        id++;
        p += n;
    }
}

static void row_text(const ui_canvas *c, int y, char *out, size_t cap) { cv_row_text(c, y, out, cap); }

/* The text of columns [x0, x1) of row y (wide characters whole). */
static void cols_text(const ui_canvas *c, int y, int x0, int x1, char *out, size_t cap)
{
    size_t n = 0;
    for (int x = x0 < 0 ? 0 : x0; x < x1 && x < c->w; x++) {
        uint32_t ch = c->cells[y * c->w + x].ch;
        if (!ch) continue;
        char b[4];
        int l = uw_encode(ch, b);
        if (n + (size_t)l + 1 > cap) break;
        memcpy(out + n, b, (size_t)l);
        n += (size_t)l;
    }
    out[n] = 0;
}

/* s without spaces (wrapping only ever breaks at spaces or between
 * characters, so what a wrapped text shows is s less its spaces) */
static void squeeze(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++)
        if (*s != ' ') out[n++] = *s;
    out[n] = 0;
}

static int starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static int find_row(const ui_canvas *c, const char *needle)
{
    char b[4096];
    for (int y = 0; y < c->h; y++) {
        row_text(c, y, b, sizeof b);
        if (strstr(b, needle)) return y;
    }
    return -1;
}

/* The status bar's first field, clipped to the width as the bar clips it. */
static void status_prefix(int w, char *out)
{
    int n = w - 1 < 11 ? w - 1 : 11;
    snprintf(out, 16, " %.*s", n > 0 ? n : 0, "demo-huginn");
}

/* On one column the bottom-right cell must stay blank: ncurses cannot write
 * it there (it writes the cell to its left and inserts; with no column to
 * the left it sends a character from outside its line: a stray ⎽ at 1x1). */
static void check_corner(const ui_canvas *c, const char *what)
{
    if (c->w != 1) return;
    uint32_t ch = c->cells[(c->h - 1) * c->w].ch;
    if (ch != ' ' && ch != 0) fail_msg("%s at %dx%d: U+%04X drawn in the bottom-right cell of one column", what, c->w, c->h, ch);
}

static void draw(ui_canvas *c, int w, int h, ua_app *a, ug_gauge *g, tui_view *v)
{
    assert_int_equal(cv_init(c, w, h), 0);
    tui_draw(c, a, g, v);
    check_corner(c, v->help ? "help" : v->browse ? "browse" : v->show_notice ? "notice" : "chat");
}

/* Every size, an empty chat and one with a transcript: the input line on
 * screen (the last row at one row, then above the status bar), the status
 * bar at the bottom, the cursor on screen, and the separator (when there is
 * one) whole: nothing drawn over it. */
static void test_every_size_layout(void **st)
{
    (void)st;
    ug_gauge g;
    ug_init(&g);
    g.num_steps = 32;
    for (int tr = 0; tr < 2; tr++) {
        ua_app a;
        app_init(&a, tr);
        tui_view v = {.sel_msg = -1, .sel_tok = -1, .input = "", .input_point = 0};
        ui_canvas c = {0};
        for (int h = 1; h <= MAXH; h++)
            for (int w = 1; w <= MAXW; w++) {
                draw(&c, w, h, &a, &g, &v);
                char b[4096], sp[16];
                int in_row = -1;
                for (int y = 0; y < h; y++) {
                    row_text(&c, y, b, sizeof b);
                    if (starts_with(b, "›")) in_row = y;
                }
                if (w == 1 && h == 1) { /* its one cell is the corner left blank */
                    if (c.cur_y != 0 || c.cur_x != 0) fail_msg("1x1: cursor at %d,%d", c.cur_x, c.cur_y);
                    continue;
                }
                if (in_row < 0 || (h == 1 && in_row != 0) || (h > 1 && in_row > h - 2))
                    fail_msg("%dx%d (transcript %d): the input line is at row %d", w, h, tr, in_row);
                if (w >= 3 && !strstr(b, "›") && h == 1) fail_msg("%dx%d: no prompt", w, h);
                if (w >= 4) {
                    row_text(&c, in_row, b, sizeof b);
                    char want[64];
                    snprintf(want, sizeof want, "› %.*s", w - 2 < 4 ? w - 2 : 4, "Type");
                    if (!starts_with(b, want)) fail_msg("%dx%d: input row '%s'", w, h, b);
                }
                if (h >= 2 && w >= 2) {
                    status_prefix(w, sp);
                    row_text(&c, in_row + 1, b, sizeof b);
                    if (!starts_with(b, sp)) fail_msg("%dx%d: row under the input '%s', not the status bar", w, h, b);
                }
                if (c.cur_y != in_row || c.cur_x < 0 || c.cur_x >= w)
                    fail_msg("%dx%d: cursor at %d,%d (input row %d)", w, h, c.cur_x, c.cur_y, in_row);
                int seps = 0;
                for (int y = 0; y < h; y++) {
                    row_text(&c, y, b, sizeof b);
                    if (!starts_with(b, "─") && !starts_with(b, " compute [")) continue;
                    if (starts_with(b, "─")) {
                        seps++;
                        /* the whole row is the separator: ── compute ───… */
                        char want[1024] = "";
                        size_t n = 0;
                        for (int x = 0; x < w; x++) {
                            const char *ch = x >= 2 && x < 11 ? &" compute "[x - 2] : "─";
                            size_t l = x >= 2 && x < 11 ? 1 : strlen("─");
                            memcpy(want + n, ch, l);
                            n += l;
                        }
                        want[n] = 0;
                        while (n && want[n - 1] == ' ') want[--n] = 0;
                        if (strcmp(b, want)) fail_msg("%dx%d (transcript %d): separator row %d drawn over: '%s'", w, h, tr, y, b);
                    }
                    if (y >= in_row) fail_msg("%dx%d: '%s' at row %d, not above the input (row %d)", w, h, b, y, in_row);
                }
                if (seps > 1) fail_msg("%dx%d: %d separators", w, h, seps);
                if (h >= 5 && seps != 1) fail_msg("%dx%d: no separator", w, h);
            }
        cv_free(&c);
        ss_free(&a.ss);
    }
}

/* A notice has its row to itself (the gauge is not drawn over it), and on
 * three rows or more it is shown at all. */
static void test_notice_never_covered(void **st)
{
    (void)st;
    ug_gauge g;
    ug_init(&g);
    for (int k = 0; k < 40; k++) ug_token(&g, 5 + k % 20, 32);
    ua_app a;
    app_init(&a, 1);
    ua_notice(&a, 1, "NOTICE-XYZ steps 33");
    tui_view v = {.sel_msg = -1, .sel_tok = -1, .input = "", .input_point = 0, .show_notice = 1};
    ui_canvas c = {0};
    for (int h = 3; h <= MAXH; h++)
        for (int w = 24; w <= MAXW; w++) {
            draw(&c, w, h, &a, &g, &v);
            int y = find_row(&c, "NOTICE-XYZ");
            char b[4096];
            if (y < 0) fail_msg("%dx%d: the notice is not on screen", w, h);
            row_text(&c, y, b, sizeof b);
            if (strcmp(b, " NOTICE-XYZ steps 33")) fail_msg("%dx%d: notice row '%s'", w, h, b);
        }
    cv_free(&c);
    ss_free(&a.ss);
}

/* The transcript is rewrapped at every width: each message's every
 * character is on screen (tall enough to hold it), nothing cut at the
 * right edge; the same while a speculative reply shows its drafts. */
static void test_transcript_rewrapped(void **st)
{
    (void)st;
    ug_gauge g;
    ug_init(&g);
    ua_app a;
    app_init(&a, 1);
    char want_u[1024], want_r[1024];
    squeeze(USER_MSG, want_u, sizeof want_u);
    squeeze(REPLY, want_r, sizeof want_r);
    tui_view v = {.sel_msg = -1, .sel_tok = -1, .input = "", .input_point = 0};
    ui_canvas c = {0};
    for (int heat = 0; heat < 2; heat++)
        for (int w = 4; w <= MAXW; w++) {
            v.heatmap = heat;
            int h = 200;
            draw(&c, w, h, &a, &g, &v);
            /* the transcript: rows above the separator, from column 2 */
            char all[16384] = "", b[4096], sq[4096];
            size_t n = 0;
            for (int y = 0; y < h; y++) {
                row_text(&c, y, b, sizeof b);
                if (starts_with(b, "─")) break;
                if (starts_with(b, "▌")) { if (n + 2 < sizeof all) all[n++] = '|'; continue; }
                cols_text(&c, y, 2, w, b, sizeof b);
                squeeze(b, sq, sizeof sq);
                size_t l = strlen(sq);
                if (n + l + 1 < sizeof all) { memcpy(all + n, sq, l); n += l; }
            }
            all[n] = 0;
            if (!strstr(all, want_u)) fail_msg("width %d: the message is not all there: '%s'", w, all);
            if (!strstr(all, want_r)) fail_msg("width %d (heatmap %d): the reply is not all there: '%s'", w, heat, all);
        }
    /* a speculative reply running: its drafts wrap too */
    a.streaming = 1;
    a.reply = 1;
    a.prov_kind = 1;
    const char *drafts = "drafted 🦅 words 乌鸦 ahead";
    a.prov_len = snprintf(a.prov, sizeof a.prov, "%s", drafts);
    a.prov_n = 1;
    char want_d[256];
    squeeze(drafts, want_d, sizeof want_d);
    for (int w = 7; w <= MAXW; w++) {
        draw(&c, w, 200, &a, &g, &v);
        char all[16384] = "", b[4096], sq[4096];
        size_t n = 0;
        for (int y = 0; y < 200; y++) {
            row_text(&c, y, b, sizeof b);
            if (!starts_with(b, "  ⋯ ") && !(n && starts_with(b, "    "))) { if (n) break; continue; }
            cols_text(&c, y, 4, w, b, sizeof b);
            squeeze(b, sq, sizeof sq);
            size_t l = strlen(sq);
            if (n + l + 1 < sizeof all) { memcpy(all + n, sq, l); n += l; }
        }
        all[n] = 0;
        if (strcmp(all, want_d)) fail_msg("width %d: drafts shown as '%s'", w, all);
    }
    cv_free(&c);
    ss_free(&a.ss);
}

/* A long input line with the cursor anywhere: the cursor sits on its
 * character at every size (the input scrolls to it, however many lines the
 * text wraps to). */
static void test_long_input_cursor(void **st)
{
    (void)st;
    ug_gauge g;
    ug_init(&g);
    ua_app a;
    app_init(&a, 1);
    char in[2400];
    size_t n = 0;
    for (int i = 0; n < 2000; i++) n += (size_t)snprintf(in + n, sizeof in - n, "w%03d 字 ", i % 1000);
    const int marks[] = {0, 12, 300, 1003, (int)n - 1};
    ui_canvas c = {0};
    for (int m = 0; m < 5; m++) {
        char text[2400];
        memcpy(text, in, n + 1);
        text[marks[m]] = 'Q';
        tui_view v = {.sel_msg = -1, .sel_tok = -1, .input = text, .input_point = marks[m]};
        for (int h = 1; h <= 30; h++)
            for (int w = 4; w <= 90; w++) {
                draw(&c, w, h, &a, &g, &v);
                if (c.cur_y < 0 || c.cur_y >= h || c.cur_x < 2 || c.cur_x >= w)
                    fail_msg("%dx%d mark %d: cursor at %d,%d", w, h, marks[m], c.cur_x, c.cur_y);
                uint32_t ch = c.cells[c.cur_y * w + c.cur_x].ch;
                if (ch != 'Q') {
                    char b[4096];
                    row_text(&c, c.cur_y, b, sizeof b);
                    fail_msg("%dx%d mark %d: cursor at %d,%d on U+%04X, not on its character: '%s'", w, h,
                             marks[m], c.cur_x, c.cur_y, ch, b);
                }
            }
    }
    cv_free(&c);
    ss_free(&a.ss);
}

/* F1 at any size: the help shows (the whole screen when small), and every
 * description is there whole, wrapped to the box, not cut at its edge. */
static void test_help_every_size(void **st)
{
    (void)st;
    ug_gauge g;
    ug_init(&g);
    ua_app a;
    app_init(&a, 1);
    tui_view v = {.sel_msg = -1, .sel_tok = -1, .input = "", .input_point = 0, .help = 1};
    ui_canvas c = {0};
    for (int h = 1; h <= MAXH; h++)
        for (int w = 14; w <= MAXW; w++) {
            v.help_top = 0;
            draw(&c, w, h, &a, &g, &v);
            if (find_row(&c, "huginn keys") < 0) fail_msg("%dx%d: F1 shows no help", w, h);
            if (c.cur_y >= 0) fail_msg("%dx%d: the cursor shows over the help", w, h);
        }
    /* tall enough for every row: the box's text holds each description */
    char lines[128][128];
    int nk = uk_help_lines(lines, 128, 22);
    for (int w = 24; w <= MAXW; w += 3) {
        int h = 1000;
        v.help_top = 0;
        draw(&c, w, h, &a, &g, &v);
        int bw = w - 4 < 100 ? w - 4 : 100, bx = (w - bw) / 2;
        static char all[65536];
        size_t n = 0;
        char b[4096], sq[4096];
        for (int y = 1; y < h - 1; y++) {
            cols_text(&c, y, bx, bx + bw, b, sizeof b);
            squeeze(b, sq, sizeof sq);
            size_t l = strlen(sq);
            if (n + l + 1 < sizeof all) { memcpy(all + n, sq, l); n += l; }
        }
        all[n] = 0;
        for (int i = 0; i < nk; i++) {
            if (!strncmp(lines[i], "## ", 3)) continue;
            squeeze(lines[i] + 22, sq, sizeof sq);
            if (!strstr(all, sq)) fail_msg("width %d: the help lacks '%s'", w, lines[i] + 22);
        }
        for (int i = 0; us_command_help[i]; i++) {
            squeeze(us_command_help[i], sq, sizeof sq);
            if (!strstr(all, sq)) fail_msg("width %d: the help lacks '%s'", w, us_command_help[i]);
        }
    }
    cv_free(&c);
    ss_free(&a.ss);
}

/* Browse (trace panel), heatmap and a sweep legend at every size: drawn
 * without writing outside the canvas (ASan), the input line still there. */
static void test_browse_every_size(void **st)
{
    (void)st;
    ug_gauge g;
    ug_init(&g);
    ua_app a;
    app_init(&a, 1);
    tui_view v = {.sel_msg = 1, .sel_tok = 0, .input = "typed", .input_point = 2, .browse = 1, .heatmap = 1};
    ui_canvas c = {0};
    for (int h = 1; h <= MAXH; h++)
        for (int w = 1; w <= MAXW; w++) {
            draw(&c, w, h, &a, &g, &v);
            if (w >= 8 && find_row(&c, "› ty") < 0) fail_msg("%dx%d: no input line in browse", w, h);
            /* the heat legend whole or not at all; the scroll mark's arrow there */
            char r[4096];
            for (int y = 0; y < h; y++) {
                row_text(&c, y, r, sizeof r);
                if (starts_with(r, "─") && strstr(r, "heat") && !strstr(r, " steps──"))
                    fail_msg("%dx%d: a cut heat legend: '%s'", w, h, r);
                if (strstr(r, "more") && !strstr(r, "↓ ")) fail_msg("%dx%d: a cut scroll mark: '%s'", w, h, r);
            }
        }
    cv_free(&c);
    ss_free(&a.ss);
}

/* One column (and one row), in every state: the notice shown, the help,
 * browse with the heatmap, a reply streaming: the bottom-right cell blank
 * (draw checks it), nothing written outside the canvas (ASan). */
static void test_one_column(void **st)
{
    (void)st;
    ug_gauge g;
    ug_init(&g);
    for (int k = 0; k < 40; k++) ug_token(&g, 5 + k % 20, 32);
    for (int state = 0; state < 6; state++) {
        ua_app a;
        app_init(&a, state > 0);
        ua_notice(&a, 1, "NOTICE-XYZ steps 33");
        a.streaming = state == 5;
        tui_view v = {.sel_msg = -1, .sel_tok = -1, .input = state == 4 ? "typed" : "", .input_point = 0,
                      .show_notice = state == 2, .help = state == 3};
        if (state == 4) v.sel_msg = 1, v.sel_tok = 0, v.browse = 1, v.heatmap = 1;
        ui_canvas c = {0};
        for (int h = 1; h <= MAXH; h++) draw(&c, 1, h, &a, &g, &v);
        for (int w = 1; w <= MAXW; w++) draw(&c, w, 1, &a, &g, &v);
        cv_free(&c);
        ss_free(&a.ss);
    }
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_size_layout), cmocka_unit_test(test_notice_never_covered),
        cmocka_unit_test(test_transcript_rewrapped), cmocka_unit_test(test_long_input_cursor),
        cmocka_unit_test(test_help_every_size), cmocka_unit_test(test_browse_every_size),
        cmocka_unit_test(test_one_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
