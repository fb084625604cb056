/* test_perplexity.c — `huginn perplexity`, run as a user would (the real
 * binary), against a perplexity recomputed here independently: our own
 * windows, hg_forward's logits for every position, log-softmax in double.
 * Also: every token is scored once however the windows fall, the SVG is
 * written whole or not at all, and bad input gets one line and status 2. */
#include "testutil.h"
#include "huginn.h"

#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#define TEXT HG_FIXTURES "/texts/ravens.txt"

static char g_bin[PATH_MAX], g_model[PATH_MAX], g_text[PATH_MAX], g_tmp[PATH_MAX];
static hg_model *g_m;
static hg_tokenizer *g_tok;
static int32_t *g_ids; /* BOS, then the text's tokens */
static int g_n;

static int setup(void **state)
{
    (void)state;
    if (!realpath("huginn", g_bin) || !realpath(HG_FIXTURES "/demo-huginn", g_model) || !realpath(TEXT, g_text))
        return -1;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/huginn-ppl-XXXXXX");
    if (!mkdtemp(g_tmp)) return -1;
    hg_load_params lp;
    hg_load_params_default(&lp);
    lp.weights = HG_WEIGHTS_F32;
    lp.cache_dir = "";
    hg_err e;
    if (hg_model_load(g_model, &lp, &g_m, &e) || hg_tokenizer_load_dir(g_model, &g_tok, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    size_t len;
    char *text = tu_read_file(TEXT, &len);
    int32_t *t;
    int n;
    if (!text || hg_tokenize(g_tok, text, len, 0, &t, &n, &e)) return -1;
    free(text);
    g_ids = malloc(sizeof *g_ids * (size_t)(n + 1));
    g_ids[0] = hg_tokenizer_bos_id(g_tok);
    memcpy(g_ids + 1, t, sizeof *t * (size_t)n);
    g_n = n + 1;
    free(t);
    return g_ids[0] >= 0 && n > 300 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(g_ids);
    hg_tokenizer_free(g_tok);
    hg_model_free(g_m);
    rmdir(g_tmp);
    return 0;
}

typedef struct result {
    int status;
    char *out, *err;
} result;

static result run(const char *args)
{
    static char cmd[65536];
    char outp[PATH_MAX + 8], errp[PATH_MAX + 8];
    snprintf(outp, sizeof outp, "%s/out", g_tmp);
    snprintf(errp, sizeof errp, "%s/err", g_tmp);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' perplexity %s >'%s' 2>'%s' </dev/null", g_tmp, g_bin, args, outp, errp);
    result r;
    int st = system(cmd);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = tu_read_file(outp, NULL);
    r.err = tu_read_file(errp, NULL);
    unlink(outp);
    unlink(errp);
    return r;
}

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

/* The perplexity at num_steps with windows of ctx positions, computed here:
 * windows [s, s + ctx) with s advancing by ctx - 1, all logits from
 * hg_forward, log-softmax in double.  *scored counts the predictions and each
 * position's count must be 1. */
static double reference_ppl(int ctx, int num_steps, long *scored)
{
    const hg_config *cf = hg_model_config(g_m);
    int V = cf->vocab_size;
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.n_ctx = ctx < g_n ? ctx : g_n;
    cp.max_steps = num_steps;
    hg_ctx *c;
    hg_err e;
    assert_int_equal(hg_ctx_new(g_m, &cp, &c, &e), HG_OK);
    float *logits = malloc(sizeof(float) * (size_t)cp.n_ctx * (size_t)V);
    int *times = calloc((size_t)g_n, sizeof(int));
    double sum = 0;
    *scored = 0;
    int s = 0;
    for (;;) {
        int len = g_n - s < ctx ? g_n - s : ctx;
        if (hg_forward(c, g_ids + s, len, num_steps, 0.0f, 0, logits, NULL, &e)) fail_msg("%s", e.msg);
        for (int t = 0; t + 1 < len; t++) {
            const float *l = logits + (size_t)t * V;
            double mx = -INFINITY, z = 0;
            for (int i = 0; i < V; i++) mx = fmax(mx, l[i]);
            for (int i = 0; i < V; i++) z += exp((double)l[i] - mx);
            sum += mx + log(z) - l[g_ids[s + t + 1]];
            times[s + t + 1]++;
            (*scored)++;
        }
        if (s + len >= g_n) break;
        s += ctx - 1;
    }
    assert_int_equal(times[0], 0);
    for (int i = 1; i < g_n; i++)
        if (times[i] != 1) fail_msg("ctx %d: position %d scored %d times", ctx, i, times[i]);
    free(times);
    free(logits);
    hg_ctx_free(c);
    return exp(sum / (double)*scored);
}

/* Run the command with --json; return its results array (parsed). */
static cJSON *run_json(const char *args)
{
    result r = run(args);
    if (r.status != 0) fail_msg("perplexity %s: exit %d: %s", args, r.status, r.err);
    cJSON *j = cJSON_Parse(r.out);
    if (!j) fail_msg("perplexity %s: output is not JSON: %s", args, r.out);
    result_free(&r);
    return j;
}

static void check_against_reference(int ctx, const char *steps_list, const int *steps, int n_steps)
{
    char args[16384], ctx_arg[32] = "";
    if (ctx) snprintf(ctx_arg, sizeof ctx_arg, "--ctx %d", ctx);
    snprintf(args, sizeof args, "--model '%s' --file '%s' --weights f32 --steps %s %s --json", g_model, g_text,
             steps_list, ctx_arg);
    cJSON *j = run_json(args);
    const cJSON *res = cJSON_GetObjectItem(j, "results");
    assert_int_equal(cJSON_GetArraySize(res), n_steps);
    int window = ctx ? ctx : hg_model_config(g_m)->block_size;
    for (int i = 0; i < n_steps; i++) {
        const cJSON *r = cJSON_GetArrayItem(res, i);
        long scored;
        double want = reference_ppl(window, steps[i], &scored);
        double got = cJSON_GetObjectItem(r, "ppl")->valuedouble;
        assert_int_equal(cJSON_GetObjectItem(r, "steps")->valueint, steps[i]);
        assert_int_equal((long)cJSON_GetObjectItem(r, "tokens")->valuedouble, scored);
        assert_int_equal(scored, g_n - 1); /* every token of the file, once */
        assert_true(cJSON_GetObjectItem(r, "seconds")->valuedouble >= 0);
        if (!(fabs(got - want) <= 1e-5 * want))
            fail_msg("ctx %d, %d steps: command %.9g, recomputed %.9g", window, steps[i], got, want);
        printf("ctx %4d, steps %2d: ppl %.6f (recomputed %.6f), %ld tokens\n", window, steps[i], got, want, scored);
    }
    cJSON_Delete(j);
}

/* One window of the default size (block_size 256 < the text: 4 windows). */
static void test_default_ctx(void **state)
{
    (void)state;
    check_against_reference(0, "4", (int[]){4}, 1);
}

/* Windows much shorter than the text, two depths, and the extremes: ctx 2
 * (one prediction per window) and a window one longer than the text. */
static void test_windows(void **state)
{
    (void)state;
    check_against_reference(64, "1,8", (int[]){1, 8}, 2);
    check_against_reference(2, "1", (int[]){1}, 1);
    /* the last window full, and the last window of 2 positions (1 prediction):
     * windows advance by ctx - 1 over the g_n - 1 predictions */
    int full = 0, two = 0;
    for (int ctx = 200; ctx > 2 && (!full || !two); ctx--) {
        if (!full && (g_n - 1) % (ctx - 1) == 0) full = ctx;
        if (!two && (g_n - 1) % (ctx - 1) == 1) two = ctx;
    }
    assert_true(full && two);
    check_against_reference(full, "2", (int[]){2}, 1);
    check_against_reference(two, "2", (int[]){2}, 1);
}

/* Without --json: a table, and a plot with one '*' per steps value when
 * there are several. */
static void test_table_and_plot(void **state)
{
    (void)state;
    char args[16384];
    snprintf(args, sizeof args, "--model '%s' --file '%s' --steps 1,2,4 --ctx 128", g_model, g_text);
    result r = run(args);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "perplexity"));
    assert_non_null(strstr(r.out, "perplexity against steps"));
    int stars = 0;
    for (const char *p = r.out; *p; p++) stars += *p == '*';
    assert_int_equal(stars, 3);
    assert_string_equal(r.err, ""); /* no progress bar off a terminal */
    result_free(&r);
    /* one steps value: a table, no plot */
    snprintf(args, sizeof args, "--model '%s' --file '%s' --steps 2 --ctx 128", g_model, g_text);
    r = run(args);
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.out, "perplexity against steps"));
    result_free(&r);
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p++) n++;
    return n;
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_svg(void **state)
{
    (void)state;
    char svg[PATH_MAX + 16], args[16384];
    snprintf(svg, sizeof svg, "%s/curve.svg", g_tmp);
    FILE *f = fopen(svg, "w");
    fputs("old", f);
    fclose(f);
    /* a run that fails after the start (ctx over block_size) leaves it as it was */
    snprintf(args, sizeof args, "--model '%s' --file '%s' --steps 1,2 --ctx 257 --svg '%s'", g_model, g_text, svg);
    result r = run(args);
    assert_int_equal(r.status, 2);
    result_free(&r);
    char *s = tu_read_file(svg, NULL);
    assert_string_equal(s, "old");
    free(s);
    assert_int_equal(dir_entries(g_tmp), 1); /* no temporary left */
    snprintf(args, sizeof args, "--model '%s' --file '%s' --steps 1,2,4 --ctx 128 --json --svg '%s'", g_model, g_text,
             svg);
    cJSON *j = run_json(args);
    cJSON_Delete(j);
    s = tu_read_file(svg, NULL);
    assert_non_null(s);
    assert_true(!strncmp(s, "<?xml", 5));
    assert_int_equal(count(s, "<svg"), 1);
    assert_non_null(strstr(s, "</svg>\n"));
    assert_int_equal(count(s, "<circle"), 3);
    assert_int_equal(count(s, "<polyline"), 1);
    assert_int_equal(count(s, "<"), count(s, ">")); /* tags closed */
    struct stat sb;
    assert_int_equal(stat(svg, &sb), 0);
    assert_true(sb.st_mode & S_IRGRP || (sb.st_mode & 077) == 0); /* not left 0600 by mkstemp unless umask says */
    free(s);
    assert_int_equal(dir_entries(g_tmp), 1);
    unlink(svg);
}

/* Ctrl-C: exit 130, one line, and no SVG nor temporary left (an existing SVG
 * as it was), whenever it comes.  No fixed delay: the signal goes once the
 * run has shown it is under way (its SVG temporary exists, made after the
 * handler is installed), then after delays that land it in the load, the
 * tokenizing or the scoring; the run is long enough (thousands of steps)
 * never to finish first on any machine.  SIGTERM the same with 143. */
static int find_temporary(const char *dir)
{
    DIR *d = opendir(dir);
    int found = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (!strncmp(de->d_name, ".never.svg.", 11) || !strncmp(de->d_name, ".kept.svg.", 10)) found = 1;
    if (d) closedir(d);
    return found;
}

static void interrupt_once(int sig, int delay_ms, int existing)
{
    char svg[PATH_MAX + 16], errp[PATH_MAX + 8];
    snprintf(svg, sizeof svg, "%s/%s", g_tmp, existing ? "kept.svg" : "never.svg");
    snprintf(errp, sizeof errp, "%s/err", g_tmp);
    if (existing) {
        FILE *f = fopen(svg, "w");
        fputs("old", f);
        fclose(f);
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int dn = open("/dev/null", O_RDWR), ef = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (dn < 0 || ef < 0 || chdir(g_tmp)) _exit(99);
        dup2(dn, 0);
        dup2(dn, 1);
        dup2(ef, 2);
        execl(g_bin, g_bin, "perplexity", "--model", g_model, "--file", g_text, "--steps", "1024,2048,4096",
              "--svg", svg, (char *)NULL);
        _exit(98);
    }
    /* under way: its temporary is there (up to 120 s on a loaded machine) */
    int st = 0, waited = 0;
    while (!find_temporary(g_tmp) && waited < 120000 && waitpid(pid, &st, WNOHANG) == 0) {
        usleep(2000);
        waited += 2;
    }
    if (!find_temporary(g_tmp)) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("no SVG temporary appeared (status %d)", st);
    }
    usleep((useconds_t)delay_ms * 1000);
    assert_int_equal(kill(pid, sig), 0);
    for (waited = 0; waitpid(pid, &st, WNOHANG) == 0; waited += 10) {
        if (waited > 120000) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("still running 120 s after signal %d (delay %d ms)", sig, delay_ms);
        }
        usleep(10000);
    }
    char *err = tu_read_file(errp, NULL);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 128 + sig || !err || strcmp(err, "huginn perplexity: interrupted\n"))
        fail_msg("signal %d after %d ms: %s %d, stderr '%s' (want exit %d, one line 'interrupted')", sig, delay_ms,
                 WIFEXITED(st) ? "exit" : "killed by signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                 err ? err : "", 128 + sig);
    free(err);
    unlink(errp);
    if (existing) {
        char *s = tu_read_file(svg, NULL);
        assert_non_null(s);
        assert_string_equal(s, "old");
        free(s);
        unlink(svg);
    }
    if (dir_entries(g_tmp) != 0) fail_msg("signal %d after %d ms: files left in %s", sig, delay_ms, g_tmp);
    printf("signal %d after %d ms: exit %d, one line, nothing left\n", sig, delay_ms, WEXITSTATUS(st));
}

static void test_interrupt(void **state)
{
    (void)state;
    const int delays[] = {0, 1, 5, 20, 100, 500, 1500};
    for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) interrupt_once(SIGINT, delays[i], i % 2);
    interrupt_once(SIGTERM, 0, 0);
    interrupt_once(SIGTERM, 300, 1);
}

static void test_bad_input(void **state)
{
    (void)state;
    char empty[PATH_MAX + 16], bad[PATH_MAX + 16], fifo[PATH_MAX + 16], args[16384];
    snprintf(empty, sizeof empty, "%s/empty.txt", g_tmp);
    snprintf(bad, sizeof bad, "%s/bad.txt", g_tmp);
    snprintf(fifo, sizeof fifo, "%s/fifo", g_tmp);
    FILE *f = fopen(empty, "w");
    fclose(f);
    f = fopen(bad, "w");
    fputs("good text, then \xc3\x28 a broken sequence", f);
    fclose(f);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    struct {
        const char *args, *expect;
    } cases[] = {
        {"--file /nonexistent/text.txt", "No such file"},
        {"--file '%s/empty.txt'", "empty"},
        {"--file '%s/bad.txt'", "invalid UTF-8 at byte 16"},
        {"--file '%s/fifo'", "not a regular file"},
        {"--file '%s'", "not a regular file"},
        {"", "--file FILE is required"},
        {"--file T --steps ''", "--steps"},
        {"--file T --steps 1,,2", "--steps"},
        {"--file T --steps 0", "--steps"},
        {"--file T --steps 4097", "--steps"},
        {"--file T --steps 1,1", "--steps"},
        {"--file T --steps 1,", "--steps"},
        {"--file T --steps ,1", "--steps"},
        {"--file T --steps 2x", "--steps"},
        {"--file T --ctx 1", "--ctx"},
        {"--file T --ctx 257", "block_size is 256"},
        {"--file T --weights q5", "--weights"},
        {"--file T --svg '%s'", "not a regular file"},
        {"--file T --svg /nonexistent/dir/x.svg", "cannot create"},
        {"--file T --bogus", "unknown option"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char a[PATH_MAX * 2];
        snprintf(a, sizeof a, cases[i].args, g_tmp);
        /* T stands for the good text */
        char *t = strstr(a, "--file T");
        if (t) {
            char rest[PATH_MAX * 2];
            snprintf(rest, sizeof rest, "%s", t + 8);
            snprintf(t, sizeof a - (size_t)(t - a), "--file '%s'%s", g_text, rest);
        }
        snprintf(args, sizeof args, "--model '%s' %s", g_model, a);
        result r = run(args);
        if (r.status != 2 || !strstr(r.err, cases[i].expect) || count(r.err, "\n") != 1 || r.out[0])
            fail_msg("'%s': status %d, stderr '%s' (want 2 and '%s', one line, no stdout)", a, r.status, r.err,
                     cases[i].expect);
        result_free(&r);
    }
    unlink(empty);
    unlink(bad);
    unlink(fifo);
    assert_int_equal(dir_entries(g_tmp), 0);
}

static void test_help(void **state)
{
    (void)state;
    result r = run("--help");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--svg FILE"));
    assert_non_null(strstr(r.out, "overlap by one token"));
    result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_ctx), cmocka_unit_test(test_windows), cmocka_unit_test(test_table_and_plot),
        cmocka_unit_test(test_svg),         cmocka_unit_test(test_interrupt), cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
