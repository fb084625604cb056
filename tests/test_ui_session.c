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
    assert_string_equal(t.server, "");
    /* replies from a server: the session says which */
    snprintf(t.server, sizeof t.server, "http://gpu-box:8000/v1");
    char p3[256];
    snprintf(p3, sizeof p3, "%s/c.json", dir);
    assert_int_equal(ss_save(&t, p3, err, sizeof err), 0);
    us_session u;
    ss_init(&u);
    assert_int_equal(ss_load(&u, p3, err, sizeof err), 0);
    assert_string_equal(u.server, "http://gpu-box:8000/v1");
    ss_free(&u);
    t.server[0] = 0;
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

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Hostile session files are refused or repaired with a one-line note. */
static void test_validation(void **st)
{
    (void)st;
    char path[256], err[512];
    us_session s;
    ss_init(&s);
    snprintf(path, sizeof path, "%s/bad.json", dir);
    /* steps INT_MAX and below 1, an unknown role, a system message in the
     * middle, a cut UTF-8 sequence, offsets past the text, a huge id */
    write_text(path,
               "{\"messages\": ["
               "{\"role\": \"user\", \"content\": \"hi\"},"
               "{\"role\": \"Huginn\", \"content\": \"ab\", \"ids\": [1, 2], \"steps\": [2147483647, -5],"
               " \"offsets\": [0, 1]},"
               "{\"role\": \"evil\", \"content\": \"x\"},"
               "{\"role\": \"system\", \"content\": \"late\"},"
               "{\"role\": \"user\", \"content\": \"\\u00e2\\u0080\"},"
               "{\"role\": \"user\", \"content\": \"cut \xe2\x80\"},"
               "{\"role\": \"Huginn\", \"content\": \"cd\", \"ids\": [1, 2], \"steps\": [1, 1], \"offsets\": [0, 9]},"
               "{\"role\": \"Huginn\", \"content\": \"ef\", \"ids\": [1e300, 2], \"steps\": [1, 1], \"offsets\": [0, 1]},"
               "{\"role\": 5, \"content\": \"x\"}"
               "]}");
    assert_int_equal(ss_load(&s, path, err, sizeof err), 1);
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, "repaired"));
    assert_non_null(strstr(err, "clamped"));
    assert_int_equal(s.n, 6);
    for (int i = 0; i < s.n; i++) {
        assert_true(!strcmp(s.msg[i].role, "user") || !strcmp(s.msg[i].role, "Huginn"));
        assert_true(ss_utf8_valid(s.msg[i].content, s.msg[i].len));
        for (int k = 0; k < s.msg[i].n_tok; k++) {
            assert_true(s.msg[i].tok[k].steps >= 1 && s.msg[i].tok[k].steps <= 256);
            assert_true(s.msg[i].tok[k].start >= 0 && (size_t)s.msg[i].tok[k].start <= s.msg[i].len);
        }
    }
    assert_int_equal(s.msg[1].n_tok, 2);
    assert_int_equal(s.msg[1].tok[0].steps, 256);
    assert_int_equal(s.msg[1].tok[1].steps, 1);
    assert_true(ss_mean_steps(&s.msg[1]) <= 256);
    assert_string_equal(s.msg[3].content, "cut \xef\xbf\xbd");
    assert_int_equal(s.msg[4].n_tok, 0); /* offsets past the text */
    assert_string_equal(s.msg[4].content, "cd");
    assert_int_equal(s.msg[5].n_tok, 0); /* a huge id */
    /* refused: not a session, a FIFO, a directory; the session is kept */
    write_text(path, "[1, 2]");
    assert_int_equal(ss_load(&s, path, err, sizeof err), -1);
    assert_int_equal(s.n, 6);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(ss_load(&s, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    unlink(path);
    assert_int_equal(ss_load(&s, dir, err, sizeof err), -1);
    /* a message typed or pasted with a cut sequence is stored repaired */
    us_msg *m = ss_add(&s, "user", "paste \xe2\x80");
    assert_string_equal(m->content, "paste \xef\xbf\xbd");
    ss_set_system(&s, "sys \xf0\x9f");
    assert_string_equal(s.msg[0].content, "sys \xef\xbf\xbd");
    ss_pop(&s);
    ss_set_system(&s, "");
    /* a clean file loads with 0 */
    snprintf(path, sizeof path, "%s/good.json", dir);
    assert_int_equal(ss_save(&s, path, err, sizeof err), 0);
    assert_int_equal(ss_load(&s, path, err, sizeof err), 0);
    assert_int_equal(s.n, 6);
    ss_free(&s);
}

/* The atomic writer never replaces what is not a regular file, and writes
 * through a symlink to its target. */
static void test_no_clobber(void **st)
{
    (void)st;
    us_session s;
    char fifo[256], link[300], target[256], err[512];
    struct stat sb;
    build(&s);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(ss_export_md(&s, fifo, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(ss_save(&s, fifo, err, sizeof err), -1);
    assert_int_equal(lstat(fifo, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    /* a symlink to the FIFO: refused too, both left alone */
    snprintf(link, sizeof link, "%s/to-fifo", dir);
    assert_int_equal(symlink(fifo, link), 0);
    assert_int_equal(ss_export_md(&s, link, err, sizeof err), -1);
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    /* a symlink to a character device */
    snprintf(link, sizeof link, "%s/to-null", dir);
    assert_int_equal(symlink("/dev/null", link), 0);
    assert_int_equal(ss_export_md(&s, link, err, sizeof err), -1);
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_int_equal(stat("/dev/null", &sb), 0);
    assert_true(S_ISCHR(sb.st_mode));
    /* a relative symlink to a regular file: the target gets the text */
    snprintf(target, sizeof target, "%s/real.md", dir);
    write_text(target, "old");
    chmod(target, 0640);
    snprintf(link, sizeof link, "%s/to-real", dir);
    assert_int_equal(symlink("real.md", link), 0);
    assert_int_equal(ss_export_md(&s, link, err, sizeof err), 0);
    assert_int_equal(lstat(link, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    char *md = tu_read_file(target, NULL);
    assert_non_null(md);
    assert_non_null(strstr(md, "## Huginn"));
    free(md);
    assert_int_equal(stat(target, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    /* a dangling symlink: its target is created */
    snprintf(link, sizeof link, "%s/to-new", dir);
    assert_int_equal(symlink("new.json", link), 0);
    assert_int_equal(ss_save(&s, link, err, sizeof err), 0);
    snprintf(target, sizeof target, "%s/new.json", dir);
    assert_int_equal(lstat(target, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    /* a directory */
    assert_int_equal(ss_save(&s, dir, err, sizeof err), -1);
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
        cmocka_unit_test(test_validation), cmocka_unit_test(test_no_clobber),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
