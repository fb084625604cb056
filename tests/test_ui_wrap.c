/* test_ui_wrap.c — display-width wrapping and the canvas. */
#include "testutil.h"
#include <locale.h>
#include "wrap.h"
#include "canvas.h"

static int wrap_strs(const char *s, int width, char out[][128], int max)
{
    uw_line l[64];
    int n = uw_wrap(s, strlen(s), width, l, 64);
    for (int i = 0; i < n && i < max; i++) snprintf(out[i], 128, "%.*s", l[i].len, s + l[i].start);
    return n;
}

static void test_width(void **st)
{
    (void)st;
    assert_int_equal(uw_width("abc", 3), 3);
    assert_int_equal(uw_width("日本語", strlen("日本語")), 6);
    assert_int_equal(uw_width("😀", strlen("😀")), 2);
    assert_int_equal(uw_width("e\xcc\x81", 3), 1);          /* e + combining acute */
    assert_int_equal(uw_width("\xff" "a", 2), 2);            /* invalid byte: replacement */
    assert_int_equal((int)uw_fit("日本語", strlen("日本語"), 5), 6);  /* two wide chars fit in 5 */
}

static void test_wrap_words(void **st)
{
    (void)st;
    char o[16][128];
    int n = wrap_strs("the quick brown fox jumps", 10, o, 16);
    assert_int_equal(n, 3);
    assert_string_equal(o[0], "the quick");
    assert_string_equal(o[1], "brown fox");
    assert_string_equal(o[2], "jumps");
    n = wrap_strs("abcdefghijklmnop", 5, o, 16);      /* a long word is cut */
    assert_int_equal(n, 4);
    assert_string_equal(o[0], "abcde");
    assert_string_equal(o[3], "p");
    n = wrap_strs("one\ntwo\n\nthree", 20, o, 16);     /* newlines end lines */
    assert_int_equal(n, 4);
    assert_string_equal(o[2], "");
    assert_string_equal(o[3], "three");
    n = wrap_strs("", 10, o, 16);
    assert_int_equal(n, 1);
}

static void test_wrap_wide(void **st)
{
    (void)st;
    char o[16][128];
    /* 7 wide characters, 2 columns each, in 6 columns: 3 per line */
    int n = wrap_strs("日本語のテキスト", 6, o, 16);
    assert_int_equal(n, 3);
    assert_string_equal(o[0], "日本語");
    assert_string_equal(o[1], "のテキ");
    assert_string_equal(o[2], "スト");
    /* a wide character never straddles the edge: "ab" + 2 wide in 5 columns */
    n = wrap_strs("ab日本", 5, o, 16);
    assert_int_equal(n, 2);
    assert_string_equal(o[0], "ab日");
    assert_string_equal(o[1], "本");
    /* emoji count 2 */
    n = wrap_strs("hi 😀😀 ok", 4, o, 16);
    assert_string_equal(o[0], "hi");
    assert_string_equal(o[1], "😀😀");
    assert_string_equal(o[2], "ok");
    /* every line fits */
    const char *mix = "Huginn 思考 in a loop: 每个 token 🐦 runs the core block again and again.";
    uw_line l[64];
    for (int w = 3; w < 30; w++) {
        n = uw_wrap(mix, strlen(mix), w, l, 64);
        for (int i = 0; i < n; i++) assert_true(uw_width(mix + l[i].start, (size_t)l[i].len) <= w);
    }
}

static void test_canvas(void **st)
{
    (void)st;
    ui_canvas c = {0};
    assert_int_equal(cv_init(&c, 10, 2), 0);
    int x = cv_puts(&c, 0, 0, 10, "ab日本語xyz", 1);
    assert_int_equal(x, 10);           /* a b 日 本 語 x = 2+6+... clipped at 10 */
    char buf[64];
    cv_row_text(&c, 0, buf, sizeof buf);
    assert_string_equal(buf, "ab日本語xy");
    /* a wide character that does not fit is left out */
    cv_clear(&c, 0);
    x = cv_puts(&c, 1, 0, 3, "a日本", 0);
    assert_int_equal(x, 3);
    cv_row_text(&c, 1, buf, sizeof buf);
    assert_string_equal(buf, "a日");
    assert_true(cv_find(&c, "a日"));
    cv_free(&c);
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_width), cmocka_unit_test(test_wrap_words),
        cmocka_unit_test(test_wrap_wide), cmocka_unit_test(test_canvas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
