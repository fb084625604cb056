/* test_ui_theme.c — theme parsing with fallbacks, colour depth, the shipped
 * themes. */
#include "testutil.h"
#include "theme.h"

static void test_builtin(void **st)
{
    (void)st;
    ut_theme t;
    ut_builtin(&t, "default");
    assert_string_equal(t.name, "default");
    assert_int_equal(t.mono, 0);
    assert_int_equal(t.role[R_USER_HDR].fg.rgb, 0x5fafff);
    ut_builtin(&t, "mono");
    assert_int_equal(t.mono, 1);
    assert_int_equal(t.role[R_STATUS].attrs, UT_REVERSE);
    assert_int_equal(t.role[R_STATUS].fg.rgb, -1);
    /* heat levels stay distinguishable without colour */
    assert_true(t.role[R_HEAT0].attrs != t.role[R_HEAT7].attrs);
}

static void test_parse_fallbacks(void **st)
{
    (void)st;
    ut_theme t;
    char err[256];
    /* roles left out keep the default's values; bad values are ignored */
    assert_int_equal(ut_parse(&t, "{\"name\": \"x\", \"roles\": {"
                                  "\"user\": {\"fg\": \"#102030\", \"bg\": \"blue\", \"attrs\": [\"bold\", \"underline\"]},"
                                  "\"notice\": {\"fg\": \"not-a-colour\"},"
                                  "\"no.such.role\": {\"fg\": \"red\"},"
                                  "\"heat.3\": {\"fg\": 196}}}", err, sizeof err), 0);
    ut_theme d;
    ut_builtin(&d, "default");
    assert_string_equal(t.name, "x");
    assert_int_equal(t.role[R_USER].fg.rgb, 0x102030);
    assert_int_equal(t.role[R_USER].bg.idx, 4);
    assert_int_equal(t.role[R_USER].attrs, UT_BOLD | UT_UNDERLINE);
    assert_int_equal(t.role[R_NOTICE].fg.rgb, d.role[R_NOTICE].fg.rgb);
    assert_int_equal(t.role[R_HEAT3].fg.idx, 196);
    assert_int_equal(t.role[R_BOT_HDR].fg.rgb, d.role[R_BOT_HDR].fg.rgb);
    /* base: mono */
    assert_int_equal(ut_parse(&t, "{\"base\": \"mono\", \"mono\": true}", err, sizeof err), 0);
    assert_int_equal(t.mono, 1);
    /* unusable JSON */
    assert_int_equal(ut_parse(&t, "{nope", err, sizeof err), -1);
    assert_int_equal(ut_parse(&t, "[1,2]", err, sizeof err), -1);
}

static void test_depth(void **st)
{
    (void)st;
    assert_int_equal(ut_color_depth("1", "truecolor", 256), 0);        /* NO_COLOR wins */
    assert_int_equal(ut_color_depth("", "truecolor", 256), 24);        /* empty NO_COLOR: ignored */
    assert_int_equal(ut_color_depth(NULL, "24bit", 256), 24);
    assert_int_equal(ut_color_depth(NULL, NULL, 256), 256);
    assert_int_equal(ut_color_depth(NULL, NULL, 16), 16);
    assert_int_equal(ut_color_depth(NULL, NULL, 8), 8);
    assert_int_equal(ut_color_depth(NULL, "truecolor", 2), 0);
    ut_color c;
    assert_int_equal(ut_color_parse("#ff0000", &c), 0);
    assert_int_equal(ut_color_for_depth(c, 24), 0xff0000);
    assert_int_equal(ut_color_for_depth(c, 256), 196);
    assert_int_equal(ut_color_for_depth(c, 16), 9);
    assert_int_equal(ut_color_for_depth(c, 0), -1);
    assert_int_equal(ut_color_parse("default", &c), 0);
    assert_int_equal(ut_color_for_depth(c, 256), -1);
    assert_int_equal(ut_color_parse("bright-blue", &c), 0);
    assert_int_equal(ut_color_for_depth(c, 16), 12);
    assert_int_equal(ut_color_parse("#12345", &c), -1);
    assert_int_equal(ut_color_parse("300", &c), -1);
    assert_int_equal(ut_rgb_to_256(0x808080), 244);
}

static void test_shipped_and_lookup(void **st)
{
    (void)st;
    ut_theme t;
    char err[256];
    setenv("HUGINN_THEMES", "themes", 1);
    const char *names[] = {"default", "light", "mono"};
    for (int i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "themes/%s.json", names[i]);
        char *s = tu_read_file(path, NULL);
        assert_non_null(s);
        assert_int_equal(ut_parse(&t, s, err, sizeof err), 0);
        assert_string_equal(t.name, names[i]);
        free(s);
        assert_int_equal(ut_load(&t, names[i], err, sizeof err), 0);
    }
    assert_int_equal(t.mono, 1);
    /* missing themes: an error, and the built-in default to go on with */
    assert_int_equal(ut_load(&t, "no-such-theme", err, sizeof err), -1);
    assert_string_equal(t.name, "default");
    assert_non_null(strstr(err, "no-such-theme"));
    /* built-ins work anywhere */
    setenv("HUGINN_THEMES", "/nonexistent", 1);
    assert_int_equal(ut_load(&t, "mono", err, sizeof err), 0);
    assert_int_equal(t.mono, 1);
    assert_int_equal(ut_load(&t, "../etc/passwd", err, sizeof err), -1);
    unsetenv("HUGINN_THEMES");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin), cmocka_unit_test(test_parse_fallbacks),
        cmocka_unit_test(test_depth), cmocka_unit_test(test_shipped_and_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
