/* test_ui_gauge.c — the compute gauge, sparkline, histogram, heatmap levels,
 * legend, convergence trace and status bar, rendered into a text canvas. */
#include "testutil.h"
#include <locale.h>
#include <math.h>
#include "canvas.h"
#include "gauge.h"
#include "heatmap.h"
#include "theme.h"

static void row(const ui_canvas *c, int y, char *buf) { cv_row_text(c, y, buf, 4096); }

static void test_bar(void **st)
{
    (void)st;
    char b[128];
    ug_bar_text(b, sizeof b, 10, 5, 10, 0);
    assert_string_equal(b, "|||||     ");
    ug_bar_text(b, sizeof b, 10, 3, 4, 1);          /* a finished token: # used, . unused */
    assert_string_equal(b, "#######...");
    ug_bar_text(b, sizeof b, 8, 1, 256, 0);         /* one step shows */
    assert_string_equal(b, "|       ");
    ug_bar_text(b, sizeof b, 4, 9, 4, 0);           /* clamped */
    assert_string_equal(b, "||||");
    int v[] = {1, 2, 4, 8, 0};
    ug_spark_text(b, sizeof b, v, 5, 8);
    assert_string_equal(b, "▁▂▄█ ");
    assert_int_equal(ug_level(1, 32), 1);
    assert_int_equal(ug_level(32, 32), 8);
    assert_int_equal(ug_level(0, 32), 0);
    /* a step count from a hostile session file: no overflow */
    assert_int_equal(ug_level(2147483647, 32), 8);
    assert_int_equal(ug_level(2147483647, 2147483647), 8);
    assert_int_equal(ug_level(1, 2147483647), 1);
}

static void test_gauge_live(void **st)
{
    (void)st;
    ui_canvas c = {0};
    char buf[4096];
    cv_init(&c, 80, 3);
    ug_gauge g;
    ug_init(&g);
    ug_new_reply(&g);
    g.crit = "kl";
    ug_step(&g, 3, 8, 2.5e-3, 5e-4, 1);
    ug_draw(&c, 0, 0, 80, 3, &g);
    row(&c, 0, buf);
    assert_non_null(strstr(buf, "compute ["));
    assert_non_null(strstr(buf, "step   3/8   kl 2.5e-3 < 5e-4"));
    assert_non_null(strstr(buf, "|||"));
    /* the token exits after 4 of 8 steps: it joins the strip and histogram */
    ug_token(&g, 4, 8);
    int seq[] = {2, 2, 8, 1, 4};
    for (int i = 0; i < 5; i++) ug_token(&g, seq[i], 8);
    cv_clear(&c, 0);
    ug_draw(&c, 0, 0, 80, 3, &g);
    row(&c, 0, buf);
    assert_non_null(strstr(buf, "step   4/8"));
    assert_non_null(strstr(buf, "#"));
    assert_non_null(strstr(buf, "."));
    row(&c, 1, buf);
    assert_non_null(strstr(buf, "tokens  ▄▂▂█▁▄ last 4  mean 3.5  max 8"));
    row(&c, 2, buf);
    /* counts per step value 1..8: 1,2,0,2,0,0,0,1 */
    assert_non_null(strstr(buf, "steps   1▄█_█___▄8  mode 2, 6 tokens"));
    /* a diffusion reply stopped during a wave: the passes report their own
     * budget (4); once idle the bar is the last token's again (8 of 32) */
    g.crit = NULL;
    ug_token(&g, 8, 32);
    ug_step(&g, 2, 4, NAN, NAN, 5);
    cv_clear(&c, 0);
    ug_draw(&c, 0, 0, 80, 1, &g);
    row(&c, 0, buf);
    assert_non_null(strstr(buf, "step   2/4   fixed steps"));
    ug_idle(&g);
    cv_clear(&c, 0);
    ug_draw(&c, 0, 0, 80, 1, &g);
    row(&c, 0, buf);
    assert_non_null(strstr(buf, "step   8/32  fixed steps"));
    /* the prefill */
    ug_step(&g, 2, 8, NAN, NAN, 17);
    cv_clear(&c, 0);
    ug_draw(&c, 0, 0, 80, 1, &g);
    row(&c, 0, buf);
    assert_non_null(strstr(buf, "prefill ["));
    cv_free(&c);
}

static void test_heat(void **st)
{
    (void)st;
    assert_int_equal(uh_level(1, 32), 0);
    assert_int_equal(uh_level(32, 32), 7);
    assert_int_equal(uh_level(4, 32), 0);
    assert_int_equal(uh_level(5, 32), 1);
    assert_int_equal(uh_level(99, 32), 7);
    assert_int_equal(uh_level(1, 1), 0);
    assert_int_equal(uh_role(8, 8), R_HEAT7);
    for (int s = 1; s < 32; s++) assert_true(uh_level(s, 32) <= uh_level(s + 1, 32));
    ui_canvas c = {0};
    char buf[4096];
    cv_init(&c, 80, 1);
    uh_draw_legend(&c, 0, 0, 80, 32);
    row(&c, 0, buf);
    assert_string_equal(buf, "heat  1-4 5-8 9-12 13-16 17-20 21-24 25-28 29-32 steps");
    assert_int_equal(c.cells[6].role, R_HEAT0);
    assert_int_equal(c.cells[10].role, R_HEAT1);
    cv_clear(&c, 0);
    uh_draw_legend(&c, 0, 0, 80, 3);
    row(&c, 0, buf);
    assert_string_equal(buf, "heat  1 2 3 steps");
    cv_free(&c);
}

static void test_trace(void **st)
{
    (void)st;
    ui_canvas c = {0};
    char buf[4096];
    cv_init(&c, 40, 5);
    float tr[] = {1e-1f, 1e-2f, 1e-3f, 1e-4f};
    uh_draw_trace(&c, 0, 0, 40, 5, tr, 4, 5e-4);
    row(&c, 4, buf);
    assert_non_null(strstr(buf, "step"));
    /* first column is the tallest: full at the top row; the last is below the threshold */
    row(&c, 0, buf);
    assert_non_null(strstr(buf, "0.1"));
    assert_non_null(strstr(buf, "███"));
    int top_last = c.cells[0 * 40 + 8 + 3 * 3].ch;
    assert_int_equal(top_last, ' ');
    int found_thr = 0;
    for (int y = 0; y < 4; y++) { row(&c, y, buf); if (strstr(buf, "-")) found_thr = 1; }
    assert_true(found_thr);
    cv_clear(&c, 0);
    float nan_tr[] = {NAN, NAN};
    uh_draw_trace(&c, 0, 0, 40, 5, nan_tr, 2, NAN);
    row(&c, 0, buf);
    assert_non_null(strstr(buf, "no exit values"));
    cv_free(&c);
}

static void test_status(void **st)
{
    (void)st;
    ug_status s = {.model = "demo-huginn", .num_steps = 32, .criterion = "kl", .threshold = 5e-4,
                   .cache = "latest-m4", .warmstart = 0, .sampling = "greedy", .tok_per_s = 41.25,
                   .mean_steps = 3.456, .ctx_used = 120, .n_ctx = 256, .kv_bytes = 3 << 20};
    char f[16][64];
    int n = ug_status_fields(&s, f, 16);
    assert_int_equal(n, 10);
    assert_string_equal(f[1], "steps 32");
    assert_string_equal(f[2], "kl 5e-4");
    assert_string_equal(f[3], "cache latest-m4");
    assert_string_equal(f[4], "warm off");
    assert_string_equal(f[6], "41.2 tok/s");
    assert_string_equal(f[7], "3.46 steps/tok");
    assert_string_equal(f[8], "ctx 120/256");
    assert_string_equal(f[9], "KV 3.0 MiB");
    ui_canvas c = {0};
    char buf[4096];
    cv_init(&c, 100, 2);
    int rows = ug_status_draw(&c, 0, 100, 2, &s);
    row(&c, 0, buf);
    assert_non_null(strstr(buf, "demo-huginn │ steps 32 │ kl 5e-4 │ cache latest-m4"));
    assert_int_equal(c.cells[2].role, R_STATUS_KEY);
    assert_true(rows <= 2);
    /* a narrow terminal: fields flow onto a second row */
    cv_init(&c, 50, 2);
    assert_int_equal(ug_status_draw(&c, 0, 50, 0, &s) > 1, 1);
    s.criterion = "none";
    s.threshold = NAN;
    n = ug_status_fields(&s, f, 16);
    assert_string_equal(f[2], "none");
    /* a huginn server: its host, the tokens of the last reply, no KV */
    s.server = "127.0.0.1:8080";
    s.n_ctx = 0;
    n = ug_status_fields(&s, f, 16);
    assert_int_equal(n, 10);
    assert_string_equal(f[1], "steps 32");
    assert_string_equal(f[8], "server 127.0.0.1:8080");
    assert_string_equal(f[9], "ctx 120");
    /* another server: the steps are fixed there */
    s.steps_fixed = 1;
    s.generator = "spec D4×K4";
    n = ug_status_fields(&s, f, 16);
    assert_int_equal(n, 6);
    assert_string_equal(f[1], "steps: fixed on server");
    assert_string_equal(f[2], "greedy");
    assert_string_equal(f[3], "41.2 tok/s");
    assert_string_equal(f[4], "server 127.0.0.1:8080");
    cv_free(&c);
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bar), cmocka_unit_test(test_gauge_live), cmocka_unit_test(test_heat),
        cmocka_unit_test(test_trace), cmocka_unit_test(test_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
