/* test_ui_keys.c — the key table: dispatch, help overlay, man section;
 * the settings the hotkeys and slash commands change. */
#include "testutil.h"
#include <math.h>
#include "keys.h"
#include "settings.h"

static void test_dispatch(void **st)
{
    (void)st;
    assert_int_equal(uk_dispatch(UK_ALT('='), 0), A_STEPS_INC);
    assert_int_equal(uk_dispatch(UK_F(6), 0), A_STEPS_INC);
    assert_int_equal(uk_dispatch(UK_ALT('-'), 0), A_STEPS_DEC);
    assert_int_equal(uk_dispatch(UK_F(5), 0), A_STEPS_DEC);
    assert_int_equal(uk_dispatch(UK_ALT(']'), 0), A_STEPS_MUL);
    assert_int_equal(uk_dispatch(UK_ALT('['), 0), A_STEPS_DIV);
    assert_int_equal(uk_dispatch(UK_ALT('c'), 0), A_CRIT_CYCLE);
    assert_int_equal(uk_dispatch(UK_ALT('t'), 0), A_THR_DIV);
    assert_int_equal(uk_dispatch(UK_ALT('T'), 0), A_THR_MUL);
    assert_int_equal(uk_dispatch(UK_ALT('w'), 0), A_WARM);
    assert_int_equal(uk_dispatch(UK_ALT('k'), 0), A_CACHE_CYCLE);
    assert_int_equal(uk_dispatch(UK_ALT('s'), 0), A_SAMPLING);
    assert_int_equal(uk_dispatch(UK_ALT('h'), 0), A_HEATMAP);
    assert_int_equal(uk_dispatch(UK_F(2), 0), A_HEATMAP);
    assert_int_equal(uk_dispatch(UK_CTRL('C'), 0), A_STOP);
    assert_int_equal(uk_dispatch(UK_CTRL('L'), 0), A_REDRAW);
    assert_int_equal(uk_dispatch(UK_PGUP, 0), A_SCROLL_UP);
    assert_int_equal(uk_dispatch(UK_CX_CE, 0), A_EDITOR);
    assert_int_equal(uk_dispatch(UK_CTRL('J'), 0), A_NEWLINE);
    assert_int_equal(uk_dispatch(UK_ALT_ENTER, 0), A_NEWLINE);
    /* hotkeys never steal typing: plain letters and '?' with text go to the line */
    assert_int_equal(uk_dispatch('c', 0), A_NONE);
    assert_int_equal(uk_dispatch('=', 0), A_NONE);
    assert_int_equal(uk_dispatch('?', 0), A_NONE);
    assert_int_equal(uk_dispatch('?', UK_EMPTY), A_HELP);
    assert_int_equal(uk_dispatch(UK_F(1), 0), A_HELP);
    /* Ctrl-D quits only on an empty line */
    assert_int_equal(uk_dispatch(UK_CTRL('D'), 0), A_NONE);
    assert_int_equal(uk_dispatch(UK_CTRL('D'), UK_EMPTY), A_QUIT);
    /* arrows: history normally, the selection in browse mode */
    assert_int_equal(uk_dispatch(UK_LEFT, 0), A_NONE);
    assert_int_equal(uk_dispatch(UK_UP, 0), A_NONE);
    assert_int_equal(uk_dispatch(UK_LEFT, UK_BROWSING), A_SEL_PREV);
    assert_int_equal(uk_dispatch(UK_DOWN, UK_BROWSING), A_SEL_DOWN);
    assert_int_equal(uk_dispatch(UK_ESC, UK_BROWSING), A_SEL_EXIT);
    assert_int_equal(uk_dispatch(UK_ENTER, 0), A_NONE);
}

static void test_names(void **st)
{
    (void)st;
    char b[32];
    uk_name(UK_ALT('='), b, sizeof b); assert_string_equal(b, "Alt-=");
    uk_name(UK_F(6), b, sizeof b); assert_string_equal(b, "F6");
    uk_name(UK_CTRL('C'), b, sizeof b); assert_string_equal(b, "Ctrl-C");
    uk_name(UK_CX_CE, b, sizeof b); assert_string_equal(b, "Ctrl-X Ctrl-E");
    uk_name(UK_ALT('T'), b, sizeof b); assert_string_equal(b, "Alt-T");
}

/* Every dispatchable action is in the help, under the name dispatch uses. */
static void test_help_from_table(void **st)
{
    (void)st;
    char lines[128][128];
    int n = uk_help_lines(lines, 128, 22);
    assert_true(n > 20 && n < 128);
    for (int i = 0; i < uk_table_len; i++) {
        const uk_entry *e = &uk_table[i];
        if (!e->desc) continue;
        char keys[64];
        uk_entry_keys(e, keys, sizeof keys);
        int found = 0;
        for (int k = 0; k < n; k++)
            if (!strncmp(lines[k], keys, strlen(keys)) && strstr(lines[k], e->desc)) found = 1;
        assert_true(found);
        /* and the keys dispatch to the action (in the entry's state) */
        if (!(e->when & UK_LISTED))
            for (int k = 0; k < 3 && e->keys[k]; k++)
                assert_int_equal(uk_dispatch(e->keys[k], e->when), e->action);
    }
    int alt_eq = 0;
    for (int k = 0; k < n; k++) if (strstr(lines[k], "Alt-=, F6")) alt_eq = 1;
    assert_true(alt_eq);
}

/* The man page's KEYS section is what the table generates
 * (tools/gen_man_keys.sh regenerates it). */
static void test_man_up_to_date(void **st)
{
    (void)st;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    uk_man(f);
    fclose(f);
    assert_non_null(strstr(buf, ".B Alt\\-=, F6\n"));
    char *man = tu_read_file("man/huginn.1", NULL);
    if (!man) { free(buf); skip(); }
    const char *b = strstr(man, ".\\\" BEGIN KEYS\n");
    const char *e = strstr(man, ".\\\" END KEYS");
    assert_non_null(b);
    assert_non_null(e);
    b += strlen(".\\\" BEGIN KEYS\n");
    size_t sect = (size_t)(e - b);
    if (sect != len || memcmp(b, buf, len))
        fail_msg("man/huginn.1 KEYS section is out of date: run tools/gen_man_keys.sh");
    free(man);
    free(buf);
}

static void test_hotkeys(void **st)
{
    (void)st;
    us_settings s;
    char msg[256];
    us_defaults(&s, 32);
    assert_int_equal(s.criterion, HG_CRIT_KL);
    assert_true(fabs(s.threshold - 5e-4) < 1e-12);
    assert_string_equal(s.cache, "latest-m4");
    assert_int_equal(us_hotkey(&s, A_STEPS_INC, msg, sizeof msg), 1);
    assert_int_equal(s.num_steps, 33);
    assert_string_equal(msg, "steps 33");
    us_hotkey(&s, A_STEPS_MUL, msg, sizeof msg);
    us_hotkey(&s, A_STEPS_MUL, msg, sizeof msg);
    assert_int_equal(s.num_steps, 132);
    us_hotkey(&s, A_STEPS_MUL, msg, sizeof msg);
    assert_int_equal(s.num_steps, 256);                   /* clamped */
    for (int i = 0; i < 10; i++) us_hotkey(&s, A_STEPS_DIV, msg, sizeof msg);
    assert_int_equal(s.num_steps, 1);
    assert_int_equal(us_hotkey(&s, A_STEPS_DEC, msg, sizeof msg), 0);
    assert_int_equal(s.num_steps, 1);
    /* the criterion cycle */
    const char *order[] = {"argmax-stability", "entropy-diff", "latent-diff", "minp-kl", "cosine", "none", "kl"};
    for (int i = 0; i < 7; i++) {
        us_hotkey(&s, A_CRIT_CYCLE, msg, sizeof msg);
        assert_string_equal(hg_criterion_name(s.criterion), order[i]);
    }
    /* thresholds */
    us_hotkey(&s, A_THR_DIV, msg, sizeof msg);
    assert_true(fabs(us_threshold(&s) - 2.5e-4) < 1e-12);
    assert_string_equal(msg, "criterion kl 2.5e-4");
    us_hotkey(&s, A_THR_MUL, msg, sizeof msg);
    us_hotkey(&s, A_THR_MUL, msg, sizeof msg);
    assert_true(fabs(us_threshold(&s) - 1e-3) < 1e-12);
    us_hotkey(&s, A_WARM, msg, sizeof msg);
    assert_int_equal(s.warmstart, 1);
    us_hotkey(&s, A_CACHE_CYCLE, msg, sizeof msg);
    assert_string_equal(s.cache, "latest-m4-compress-s16");
    us_hotkey(&s, A_SAMPLING, msg, sizeof msg);
    assert_int_equal(s.greedy, 0);                        /* defaults are greedy */
}

static void test_commands(void **st)
{
    (void)st;
    us_settings s;
    us_cmd c;
    us_defaults(&s, 32);
    assert_int_equal(us_command(&s, "hello", &c), UC_NONE);
    assert_int_equal(us_command(&s, "/steps 12", &c), UC_SET);
    assert_int_equal(s.num_steps, 12);
    assert_int_equal(us_command(&s, "/steps 0", &c), UC_ERROR);
    assert_int_equal(us_command(&s, "/steps 300", &c), UC_ERROR);
    assert_int_equal(us_command(&s, "/steps x", &c), UC_ERROR);
    assert_int_equal(s.num_steps, 12);
    assert_int_equal(us_command(&s, "/criterion argmax-stability 3", &c), UC_SET);
    assert_int_equal(s.criterion, HG_CRIT_ARGMAX_STABILITY);
    assert_true(fabs(us_threshold(&s) - 3) < 1e-12);
    assert_int_equal(us_command(&s, "/criterion entropy-diff", &c), UC_SET);
    assert_true(fabs(us_threshold(&s) - hg_criterion_default_threshold(HG_CRIT_ENTROPY_DIFF)) < 1e-12);
    assert_int_equal(us_command(&s, "/criterion bogus", &c), UC_ERROR);
    assert_int_equal(us_command(&s, "/cache full", &c), UC_SET);
    assert_string_equal(s.cache, "full");
    assert_int_equal(us_command(&s, "/cache nonsense-x9", &c), UC_ERROR);
    assert_string_equal(s.cache, "full");
    assert_int_equal(us_command(&s, "/warmstart on", &c), UC_SET);
    assert_int_equal(s.warmstart, 1);
    assert_int_equal(us_command(&s, "/warmstart maybe", &c), UC_ERROR);
    assert_int_equal(us_command(&s, "/temp 0.8", &c), UC_SET);
    assert_int_equal(s.greedy, 0);
    assert_int_equal(us_command(&s, "/temp 0", &c), UC_SET);
    assert_int_equal(s.greedy, 1);
    assert_int_equal(us_command(&s, "/top-p 0.5", &c), UC_SET);
    assert_int_equal(us_command(&s, "/top-k 40", &c), UC_SET);
    assert_int_equal(s.top_k, 40);
    assert_int_equal(us_command(&s, "/min-p 0.1", &c), UC_SET);
    assert_int_equal(us_command(&s, "/seed 7", &c), UC_SET);
    assert_int_equal((int)s.seed, 7);
    assert_int_equal(us_command(&s, "/system You are terse.", &c), UC_SYSTEM);
    assert_string_equal(c.arg, "You are terse.");
    assert_int_equal(us_command(&s, "/regen", &c), UC_REGEN);
    assert_int_equal(us_command(&s, "/clear", &c), UC_CLEAR);
    assert_int_equal(us_command(&s, "/save a.json", &c), UC_SAVE);
    assert_string_equal(c.arg, "a.json");
    assert_int_equal(us_command(&s, "/load a.json", &c), UC_LOAD);
    assert_int_equal(us_command(&s, "/export x.md", &c), UC_EXPORT);
    assert_int_equal(us_command(&s, "/save", &c), UC_ERROR);
    assert_int_equal(us_command(&s, "/theme light", &c), UC_THEME);
    assert_int_equal(us_command(&s, "/help", &c), UC_HELP);
    assert_int_equal(us_command(&s, "/quit", &c), UC_QUIT);
    assert_int_equal(us_command(&s, "/frobnicate", &c), UC_ERROR);
    /* /trace FILE, /sweep [LIST] */
    assert_int_equal(us_command(&s, "/trace t.jsonl", &c), UC_TRACE);
    assert_string_equal(c.arg, "t.jsonl");
    assert_int_equal(us_command(&s, "/trace", &c), UC_ERROR);
    assert_int_equal(us_command(&s, "/sweep", &c), UC_SWEEP);
    assert_int_equal(c.n_steps, 5);
    assert_int_equal(c.steps[0], 4);
    assert_int_equal(c.steps[4], 64);
    assert_int_equal(us_command(&s, "/sweep 2,8, 32", &c), UC_SWEEP);
    assert_int_equal(c.n_steps, 3);
    assert_int_equal(c.steps[0], 2);
    assert_int_equal(c.steps[1], 8);
    assert_int_equal(c.steps[2], 32);
    assert_int_equal(us_command(&s, "/sweep 2,0", &c), UC_ERROR);
    assert_int_equal(us_command(&s, "/sweep 2,x", &c), UC_ERROR);
    assert_int_equal(us_command(&s, "/sweep 257", &c), UC_ERROR);
    assert_int_equal(us_command(&s, "/sweep 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", &c), UC_ERROR);
    assert_non_null(strstr(c.msg, "16"));
    /* the sweep hotkey is in the table */
    assert_int_equal(uk_dispatch(UK_ALT('d'), 0), A_SWEEP);
    assert_int_equal(uk_dispatch(UK_F(8), 0), A_SWEEP);
}

static void test_config(void **st)
{
    (void)st;
    us_settings s;
    char model[256] = "", err[256];
    us_defaults(&s, 32);
    assert_int_equal(us_apply_config(&s, "{\"steps\": 16, \"criterion\": \"cosine\", \"cache\": \"full\","
                                         " \"warmstart\": true, \"theme\": \"light\", \"model\": \"/m\"}",
                                     model, sizeof model, err, sizeof err), 0);
    assert_int_equal(s.num_steps, 16);
    assert_int_equal(s.criterion, HG_CRIT_COSINE);
    assert_string_equal(s.cache, "full");
    assert_int_equal(s.warmstart, 1);
    assert_string_equal(s.theme, "light");
    assert_string_equal(model, "/m");
    assert_int_equal(us_apply_config(&s, "{\"steps\": 999}", NULL, 0, err, sizeof err), -1);
    assert_int_equal(s.num_steps, 16);
    assert_int_equal(us_apply_config(&s, "not json", NULL, 0, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch), cmocka_unit_test(test_names),
        cmocka_unit_test(test_help_from_table), cmocka_unit_test(test_man_up_to_date),
        cmocka_unit_test(test_hotkeys), cmocka_unit_test(test_commands), cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
