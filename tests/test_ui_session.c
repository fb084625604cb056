/* test_ui_session.c — the conversation model: save/load round trip (atomic),
 * Markdown export, token lookup, autosave paths. */
#include "testutil.h"
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>
#include "session.h"

static char dir[] = "/tmp/huginn-test-session-XXXXXX";

static void build(us_session *s)
{
    ss_init(s);
    snprintf(s->model, sizeof s->model, "demo-huginn");
    ss_add(s, "user", "What is a raven?");
    us_msg *r = ss_add(s, "Huginn", "");
    const char *pieces[] = {"A", " raven", " is", " 黒い", " bird", "."};
    int steps[] = {3, 5, 2, 7, 4, 1};
    float tr[3] = {0.5f, 0.01f, 0.0001f};
    for (int i = 0; i < 6; i++) ss_append_token(r, 100 + i, pieces[i], strlen(pieces[i]), steps[i], tr, 3);
    r->tok_per_s = 12.5;
    ss_set_system(s, "Be brief.");
}

static void test_model(void **st)
{
    (void)st;
    us_session s;
    build(&s);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.msg[0].role, "system");
    assert_string_equal(s.msg[1].role, "user");
    us_msg *r = &s.msg[2];
    assert_string_equal(r->content, "A raven is 黒い bird.");
    assert_int_equal(r->n_tok, 6);
    assert_int_equal(ss_token_at(r, 0), 0);
    assert_int_equal(ss_token_at(r, 2), 1);       /* 'r' of raven */
    assert_int_equal(ss_token_at(r, 12), 3);      /* inside 黒い */
    assert_int_equal(ss_token_at(r, (int)r->len - 1), 5);
    assert_true(ss_mean_steps(r) > 3.66 && ss_mean_steps(r) < 3.67);
    assert_int_equal(r->tok[3].n_trace, 3);
    ss_set_system(&s, "Other.");
    assert_string_equal(s.msg[0].content, "Other.");
    assert_int_equal(s.n, 3);
    ss_set_system(&s, "");
    assert_int_equal(s.n, 2);
    assert_string_equal(s.msg[0].role, "user");
    ss_clear(&s);
    assert_int_equal(s.n, 0);
    ss_free(&s);
}

static void test_round_trip(void **st)
{
    (void)st;
    us_session s, t;
    char path[256], err[512];
    build(&s);
    s.msg[2].stopped = 1;
    snprintf(path, sizeof path, "%s/a.json", dir);
    assert_int_equal(ss_save(&s, path, err, sizeof err), 0);
    /* atomic: no temporary file left behind */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s/a.json.tmp.%d", dir, (int)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);
    ss_init(&t);
    assert_int_equal(ss_load(&t, path, err, sizeof err), 0);
    assert_int_equal(t.n, s.n);
    assert_string_equal(t.model, "demo-huginn");
    for (int i = 0; i < s.n; i++) {
        assert_string_equal(t.msg[i].role, s.msg[i].role);
        assert_string_equal(t.msg[i].content, s.msg[i].content);
        assert_int_equal(t.msg[i].n_tok, s.msg[i].n_tok);
        for (int k = 0; k < s.msg[i].n_tok; k++) {
            assert_int_equal(t.msg[i].tok[k].id, s.msg[i].tok[k].id);
            assert_int_equal(t.msg[i].tok[k].steps, s.msg[i].tok[k].steps);
            assert_int_equal(t.msg[i].tok[k].start, s.msg[i].tok[k].start);
            /* the convergence traces travel too */
            assert_int_equal(t.msg[i].tok[k].n_trace, s.msg[i].tok[k].n_trace);
            for (int j = 0; j < s.msg[i].tok[k].n_trace; j++)
                assert_float_equal(t.msg[i].tok[k].trace[j], s.msg[i].tok[k].trace[j], 1e-6 * fabs(s.msg[i].tok[k].trace[j]));
        }
    }
    assert_int_equal(t.msg[2].stopped, 1);
    assert_true(t.msg[2].tok_per_s > 12.4);
    /* saving what was loaded gives the same file */
    char p2[256];
    snprintf(p2, sizeof p2, "%s/b.json", dir);
    assert_int_equal(ss_save(&t, p2, err, sizeof err), 0);
    char *x = tu_read_file(path, NULL), *y = tu_read_file(p2, NULL);
    assert_string_equal(x, y);
    free(x); free(y);
    /* errors keep the session */
    assert_int_equal(ss_load(&t, "/nonexistent/x.json", err, sizeof err), -1);
    assert_int_equal(t.n, 3);
    FILE *f = fopen(p2, "w"); fputs("{\"not\": \"a session\"}", f); fclose(f);
    assert_int_equal(ss_load(&t, p2, err, sizeof err), -1);
    assert_non_null(strstr(err, "messages"));
    assert_int_equal(t.n, 3);
    ss_free(&s);
    ss_free(&t);
}

static void test_export(void **st)
{
    (void)st;
    us_session s;
    char path[256], err[512];
    build(&s);
    snprintf(path, sizeof path, "%s/x.md", dir);
    assert_int_equal(ss_export_md(&s, path, err, sizeof err), 0);
    char *md = tu_read_file(path, NULL);
    assert_non_null(strstr(md, "## You\n\nWhat is a raven?"));
    assert_non_null(strstr(md, "## Huginn\n\nA raven is 黒い bird."));
    assert_non_null(strstr(md, "6 tokens, 3.67 steps/token"));
    assert_non_null(strstr(md, "| 3 | ` 黒い` | 7 |"));
    assert_non_null(strstr(md, "| 5 | `.` | 1 |"));
    free(md);
    ss_free(&s);
}

/* Sweep replies: grouped by id, the departure from the deepest run, kept
 * through save/load, exported as sections; removing a message. */
static void add_run(us_session *s, int id, int steps, const int *ids, int n)
{
    us_msg *m = ss_add(s, "sweep", "");
    m->sweep = id;
    m->num_steps = steps;
    for (int i = 0; i < n; i++) ss_append_token(m, ids[i], "ab", 2, steps < 3 ? steps : 3, NULL, 0);
}

static void test_sweeps(void **st)
{
    (void)st;
    us_session s, t;
    char path[256], err[512];
    build(&s);
    int deep[] = {5, 6, 7, 8}, mid[] = {5, 6, 9, 8}, same[] = {5, 6, 7, 8}, shallow[] = {1};
    add_run(&s, 1, 2, shallow, 1);
    add_run(&s, 1, 8, mid, 4);
    add_run(&s, 1, 32, deep, 4);
    add_run(&s, 2, 64, same, 4);   /* another sweep: its own deepest */
    add_run(&s, 2, 4, same, 3);    /* shorter but agreeing: no departure */
    assert_true(ss_is_sweep(&s.msg[3]) && !ss_is_sweep(&s.msg[2]));
    assert_int_equal(s.msg[3].diverge, -1);
    ss_sweep_diverge(&s, 1);
    ss_sweep_diverge(&s, 2);
    assert_int_equal(s.msg[3].diverge, 0);    /* 2 steps: the first token already differs */
    assert_int_equal(s.msg[4].diverge, 2);    /* 8 steps: the third */
    assert_int_equal(s.msg[5].diverge, -1);   /* the deepest itself */
    assert_int_equal(s.msg[6].diverge, -1);
    assert_int_equal(s.msg[7].diverge, -1);
    snprintf(path, sizeof path, "%s/sw.json", dir);
    assert_int_equal(ss_save(&s, path, err, sizeof err), 0);
    ss_init(&t);
    assert_int_equal(ss_load(&t, path, err, sizeof err), 0);
    assert_int_equal(t.n, s.n);
    for (int i = 3; i < s.n; i++) {
        assert_string_equal(t.msg[i].role, "sweep");
        assert_int_equal(t.msg[i].sweep, s.msg[i].sweep);
        assert_int_equal(t.msg[i].num_steps, s.msg[i].num_steps);
        assert_int_equal(t.msg[i].diverge, s.msg[i].diverge);
        assert_int_equal(t.msg[i].n_tok, s.msg[i].n_tok);
    }
    snprintf(path, sizeof path, "%s/sw.md", dir);
    assert_int_equal(ss_export_md(&s, path, err, sizeof err), 0);
    char *md = tu_read_file(path, NULL);
    assert_non_null(strstr(md, "### Sweep 1 · steps 8\n\nDeparts from the deepest reply at token 2."));
    assert_non_null(strstr(md, "### Sweep 2 · steps 64\n"));
    free(md);
    ss_remove(&t, 2);
    assert_int_equal(t.n, s.n - 1);
    assert_string_equal(t.msg[2].role, "sweep");
    assert_int_equal(t.msg[2].num_steps, 2);
    ss_free(&s);
    ss_free(&t);
}

static void test_autosave_paths(void **st)
{
    (void)st;
    char p[512], sub[300], latest[512];
    snprintf(sub, sizeof sub, "%s/state/huginn/sessions", dir);
    assert_int_equal(ss_mkdirs(sub), 0);
    snprintf(sub, sizeof sub, "%s/state/huginn", dir);
    assert_int_equal(ss_latest(sub, latest, sizeof latest), -1);
    ss_autosave_path(sub, p, sizeof p);
    assert_non_null(strstr(p, "/sessions/"));
    us_session s;
    char err[256];
    build(&s);
    assert_int_equal(ss_save(&s, p, err, sizeof err), 0);
    assert_int_equal(ss_latest(sub, latest, sizeof latest), 0);
    assert_string_equal(latest, p);
    ss_free(&s);
}

static int setup(void **st)
{
    (void)st;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_export), cmocka_unit_test(test_autosave_paths), cmocka_unit_test(test_sweeps),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
