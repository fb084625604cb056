/* test_cli.c — the command-line contract of `huginn run` and `huginn forward`,
 * run as a user would: the real binary, from another directory, checked
 * against the golden file; bad input gives one line on stderr and status 2. */
#include "testutil.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char g_bin[PATH_MAX], g_model[PATH_MAX], g_tmp[PATH_MAX];
static cJSON *g_golden;

static int setup(void **state)
{
    (void)state;
    /* a cross build (make test-arm64), the sanitizer build (make test-sanitize) */
    const char *bin = getenv("HUGINN_TEST_BIN");
    if (!realpath(bin && *bin ? bin : "huginn", g_bin) || !realpath(HG_FIXTURES "/tiny-huginn", g_model)) return -1;
    g_golden = tu_read_json(HG_FIXTURES "/tiny-huginn.golden.json");
    snprintf(g_tmp, sizeof g_tmp, "/tmp/huginn-cli-XXXXXX");
    if (!mkdtemp(g_tmp)) return -1;
    return g_golden ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cJSON_Delete(g_golden);
    rmdir(g_tmp);
    return 0;
}

typedef struct result {
    int status;
    char *out, *err;
} result;

/* A command the runs go through ("timeout 20" where a hang is the bug). */
static const char *g_wrap = "";

/* Run `huginn ARGS` in the temp directory; capture stdout and stderr. */
static result run(const char *args)
{
    static char cmd[65536 + 3 * PATH_MAX];
    char outp[PATH_MAX + 8], errp[PATH_MAX + 8];
    snprintf(outp, sizeof outp, "%s/out", g_tmp);
    snprintf(errp, sizeof errp, "%s/err", g_tmp);
    const char *runner = getenv("HUGINN_TEST_RUNNER"); /* e.g. qemu-aarch64 -L / */
    snprintf(cmd, sizeof cmd, "cd '%s' && %s %s '%s' %s >'%s' 2>'%s' %s", g_tmp, g_wrap, runner ? runner : "", g_bin, args,
             outp, errp, strchr(args, '<') ? "" : "</dev/null");
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

static void ids_arg(const cJSON *arr, char *buf, size_t n)
{
    buf[0] = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) snprintf(buf + strlen(buf), n - strlen(buf), "%s%d", buf[0] ? "," : "", it->valueint);
}

static void assert_ids_equal(const cJSON *a, const cJSON *b, const char *what)
{
    assert_non_null(a);
    assert_non_null(b);
    if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
        fail_msg("%s: %d entries, golden %d", what, cJSON_GetArraySize(a), cJSON_GetArraySize(b));
    for (int i = 0; i < cJSON_GetArraySize(a); i++)
        if (cJSON_GetArrayItem(a, i)->valueint != cJSON_GetArrayItem(b, i)->valueint)
            fail_msg("%s: entry %d is %d, golden %d", what, i, cJSON_GetArrayItem(a, i)->valueint,
                     cJSON_GetArrayItem(b, i)->valueint);
}

/* Every generate/adaptive case through `huginn run --json`. */
static void test_run_golden(void **state)
{
    (void)state;
    const cJSON *cs;
    int n = 0;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(g_golden, "cases"))
    {
        const char *kind = cJSON_GetObjectItem(cs, "kind")->valuestring;
        if (!strcmp(kind, "forward")) continue;
        static char ids[16384], args[32768];
        ids_arg(cJSON_GetObjectItem(cs, "prompt_ids"), ids, sizeof ids);
        snprintf(args, sizeof args, "run --model '%s' --prompt-ids %s --steps %d --max-new-tokens %d --init-scale 0 --greedy --json",
                 g_model, ids, cJSON_GetObjectItem(cs, "num_steps")->valueint,
                 cJSON_GetObjectItem(cs, "max_new_tokens")->valueint);
        if (cJSON_IsTrue(cJSON_GetObjectItem(cs, "continuous"))) strcat(args, " --warmstart");
        const cJSON *c = cJSON_GetObjectItem(cs, "cache");
        if (c) snprintf(args + strlen(args), sizeof args - strlen(args), " --cache %s", c->valuestring);
        const cJSON *crit = cJSON_GetObjectItem(cs, "criterion");
        if (crit) {
            const cJSON *thr = cJSON_GetObjectItem(cs, "threshold");
            char *tp = cJSON_IsNumber(thr) ? cJSON_PrintUnformatted(thr) : NULL;
            snprintf(args + strlen(args), sizeof args - strlen(args), " --criterion %s --threshold %s",
                     crit->valuestring, tp ? tp : "auto");
            free(tp);
        }
        result r = run(args);
        if (r.status != 0) fail_msg("%s: exit %d: %s", cJSON_GetObjectItem(cs, "name")->valuestring, r.status, r.err);
        cJSON *j = cJSON_Parse(r.out);
        assert_non_null(j);
        assert_ids_equal(cJSON_GetObjectItem(j, "output_ids"), cJSON_GetObjectItem(cs, "output_ids"), "output_ids");
        const cJSON *steps = cJSON_GetObjectItem(j, "steps");
        assert_int_equal(cJSON_GetArraySize(steps), cJSON_GetArraySize(cJSON_GetObjectItem(cs, "output_ids")));
        if (cJSON_GetObjectItem(cs, "steps"))
            assert_ids_equal(steps, cJSON_GetObjectItem(cs, "steps"), "steps");
        else {
            const cJSON *it;
            cJSON_ArrayForEach(it, steps) assert_int_equal(it->valueint, cJSON_GetObjectItem(cs, "num_steps")->valueint);
        }
        const char *sr = cJSON_GetObjectItem(j, "stop_reason")->valuestring;
        assert_true(!strcmp(sr, "max_new_tokens") || !strcmp(sr, "stop_token"));
        cJSON_Delete(j);
        result_free(&r);
        n++;
    }
    assert_true(n >= 10);
}

static void expect_bad(const char *args, const char *needle);

/* run --trace on every adaptive case: one JSON line per token whose steps
 * and exit_values are the golden file's (relative 1e-3; null = NaN). */
static void test_run_trace_golden(void **state)
{
    (void)state;
    const cJSON *cs;
    int n_cases = 0;
    char tpath[PATH_MAX + 32];
    snprintf(tpath, sizeof tpath, "%s/trace.jsonl", g_tmp);
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(g_golden, "cases"))
    {
        if (strcmp(cJSON_GetObjectItem(cs, "kind")->valuestring, "adaptive")) continue;
        const char *name = cJSON_GetObjectItem(cs, "name")->valuestring;
        static char ids[16384], args[32768];
        ids_arg(cJSON_GetObjectItem(cs, "prompt_ids"), ids, sizeof ids);
        const cJSON *thr = cJSON_GetObjectItem(cs, "threshold");
        char *thr_s = cJSON_IsNumber(thr) ? cJSON_PrintUnformatted(thr) : NULL;
        snprintf(args, sizeof args,
                 "run --model '%s' --prompt-ids %s --steps %d --max-new-tokens %d --init-scale 0 --greedy"
                 " --criterion %s --threshold %s --cache %s%s --trace '%s'",
                 g_model, ids, cJSON_GetObjectItem(cs, "num_steps")->valueint,
                 cJSON_GetObjectItem(cs, "max_new_tokens")->valueint,
                 cJSON_GetObjectItem(cs, "criterion")->valuestring, thr_s ? thr_s : "auto",
                 cJSON_GetObjectItem(cs, "cache")->valuestring,
                 cJSON_IsTrue(cJSON_GetObjectItem(cs, "continuous")) ? " --warmstart" : "", tpath);
        free(thr_s);
        result r = run(args);
        if (r.status != 0) fail_msg("%s: exit %d: %s", name, r.status, r.err);
        result_free(&r);
        char *text = tu_read_file(tpath, NULL);
        assert_non_null(text);
        const cJSON *gout = cJSON_GetObjectItem(cs, "output_ids"), *gsteps = cJSON_GetObjectItem(cs, "steps"),
                    *gev = cJSON_GetObjectItem(cs, "exit_values");
        int line = 0;
        for (char *p = text, *nl; *p; p = nl + 1, line++) {
            nl = strchr(p, '\n');
            if (!nl) fail_msg("%s: line %d does not end in a newline", name, line);
            *nl = 0;
            cJSON *j = cJSON_Parse(p);
            if (!j) fail_msg("%s: line %d is not JSON: %s", name, line, p);
            if (line >= cJSON_GetArraySize(gout)) fail_msg("%s: more lines than golden tokens", name);
            assert_int_equal(cJSON_GetObjectItem(j, "index")->valueint, line);
            assert_int_equal(cJSON_GetObjectItem(j, "id")->valueint, cJSON_GetArrayItem(gout, line)->valueint);
            assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "text")));   /* tiny-huginn has a tokenizer */
            if (cJSON_GetObjectItem(j, "steps")->valueint != cJSON_GetArrayItem(gsteps, line)->valueint)
                fail_msg("%s: token %d: steps %d, golden %d", name, line, cJSON_GetObjectItem(j, "steps")->valueint,
                         cJSON_GetArrayItem(gsteps, line)->valueint);
            const cJSON *ev = cJSON_GetObjectItem(j, "exit_values"), *grow = cJSON_GetArrayItem(gev, line);
            if (cJSON_GetArraySize(ev) != cJSON_GetArraySize(grow))
                fail_msg("%s: token %d: %d exit values, golden %d", name, line, cJSON_GetArraySize(ev),
                         cJSON_GetArraySize(grow));
            for (int k = 0; k < cJSON_GetArraySize(grow); k++) {
                const cJSON *g = cJSON_GetArrayItem(grow, k), *v = cJSON_GetArrayItem(ev, k);
                if (cJSON_IsNull(g)) {
                    if (!cJSON_IsNull(v)) fail_msg("%s: exit value [%d][%d] = %g, golden null", name, line, k, v->valuedouble);
                } else if (!cJSON_IsNumber(v) ||
                           !(fabs(v->valuedouble - g->valuedouble) <= 1e-3 * fabs(g->valuedouble) + 1e-6)) {
                    fail_msg("%s: exit value [%d][%d] = %.6g, golden %.6g", name, line, k,
                             cJSON_IsNumber(v) ? v->valuedouble : NAN, g->valuedouble);
                }
            }
            cJSON_Delete(j);
        }
        assert_int_equal(line, cJSON_GetArraySize(gout));
        free(text);
        unlink(tpath);
        n_cases++;
    }
    assert_true(n_cases >= 8);
}

/* --trace to a place that cannot take it: one line, status 2, nothing run,
 * nothing replaced. */
static void test_run_trace_bad_file(void **state)
{
    (void)state;
    char fifo[PATH_MAX + 16], args[2 * PATH_MAX + 256];
    snprintf(fifo, sizeof fifo, "%s/fifo", g_tmp);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(args, sizeof args, "run --model '%%s' --prompt-ids 1,2 --steps 2 --trace '%s'", fifo);
    expect_bad(args, "not a regular file");
    struct stat st;
    assert_int_equal(stat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    unlink(fifo);
    snprintf(args, sizeof args, "run --model '%%s' --prompt-ids 1,2 --steps 2 --trace '%s'", g_tmp);
    expect_bad(args, "is a directory");
    expect_bad("run --model '%s' --prompt-ids 1,2 --steps 2 --trace /nonexistent-dir/t.jsonl", "/nonexistent-dir");
    expect_bad("run --model '%s' --prompt-ids 1,2 --steps 2 --trace", "--trace");
}

static void test_forward_golden(void **state)
{
    (void)state;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(g_golden, "cases"))
    {
        if (strcmp(cJSON_GetObjectItem(cs, "kind")->valuestring, "forward")) continue;
        static char ids[16384], args[32768];
        ids_arg(cJSON_GetObjectItem(cs, "prompt_ids"), ids, sizeof ids);
        snprintf(args, sizeof args, "forward --model '%s' --prompt-ids %s --steps %d --init-scale 0 --json", g_model,
                 ids, cJSON_GetObjectItem(cs, "num_steps")->valueint);
        result r = run(args);
        assert_int_equal(r.status, 0);
        cJSON *j = cJSON_Parse(r.out);
        assert_non_null(j);
        assert_ids_equal(cJSON_GetObjectItem(j, "argmax"), cJSON_GetObjectItem(cs, "argmax"), "argmax");
        const cJSON *ll = cJSON_GetObjectItem(j, "last_logits"), *gl = cJSON_GetObjectItem(cs, "last_logits");
        assert_int_equal(cJSON_GetArraySize(ll), cJSON_GetArraySize(gl));
        for (int i = 0; i < cJSON_GetArraySize(gl); i++) {
            double d = cJSON_GetArrayItem(ll, i)->valuedouble - cJSON_GetArrayItem(gl, i)->valuedouble;
            if (d > 1e-3 || d < -1e-3) fail_msg("logit %d off by %g", i, d);
        }
        cJSON_Delete(j);
        result_free(&r);
    }
}

static void test_readable_output(void **state)
{
    (void)state;
    char args[8192];
    snprintf(args, sizeof args, "run --model '%s' --prompt-ids 1,2,3 --steps 2 --max-new-tokens 3 --init-scale 0 --greedy", g_model);
    result r = run(args);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "steps"));
    assert_null(strchr(r.out, '{'));
    result_free(&r);
    snprintf(args, sizeof args, "forward --model '%s' --prompt-ids 1,2,3 --steps 2 --init-scale 0", g_model);
    r = run(args);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "argmax"));
    result_free(&r);
}

/* Bad input: status 2 and exactly one line on stderr. */
static void expect_bad(const char *args, const char *needle)
{
    char full[8192];
    snprintf(full, sizeof full, args, g_model);
    result r = run(full);
    if (r.status != 2) fail_msg("'%s': exit %d, want 2 (stderr: %s)", full, r.status, r.err);
    assert_non_null(r.err);
    size_t len = strlen(r.err);
    assert_true(len > 0 && r.err[len - 1] == '\n');
    if (strchr(r.err, '\n') != r.err + len - 1) fail_msg("'%s': more than one line on stderr: %s", full, r.err);
    if (needle && !strstr(r.err, needle)) fail_msg("'%s': stderr lacks '%s': %s", full, needle, r.err);
    assert_int_equal(strlen(r.out), 0);
    result_free(&r);
}

static void test_bad_input(void **state)
{
    (void)state;
    expect_bad("run --model '%s' --prompt-ids 1,2,x", "--prompt-ids");
    expect_bad("run --model '%s' --prompt-ids 1,2 --steps 0", "--steps");
    expect_bad("run --model '%s' --prompt-ids 1,2 --steps abc", "--steps");
    expect_bad("run --model '%s' --prompt-ids 1,2,99999", "vocabulary");
    expect_bad("run --model '%s' --prompt-ids 1 --cache bogus", "bogus");
    expect_bad("run --model '%s' --prompt-ids 1 --criterion wat", "wat");
    expect_bad("run --model '%s' --prompt-ids 1 --frobnicate", "--frobnicate");
    expect_bad("run --model '%s' --prompt-ids 1 --greedy --temperature 0.7", "--greedy");
    expect_bad("run --model '%s'", "prompt");
    expect_bad("run --model '%s' --prompt-ids", "--prompt-ids");
    expect_bad("run --model '%s/nope' --prompt-ids 1", "nope");
    setenv("HF_HUB_CACHE", g_tmp, 1);
    expect_bad("run --model nobody/nothing%.0s --prompt-ids 1", "huggingface-cli download");
    expect_bad("forward --model '%s' --prompt-ids 1 --max-new-tokens 3", "--max-new-tokens");
    /* a prompt longer than the context (block_size 256) */
    static char longp[8192];
    strcpy(longp, "run --model '%s' --prompt-ids 1");
    for (int i = 0; i < 300; i++) strcat(longp, ",7");
    expect_bad(longp, "context");
    expect_bad("nosuchcommand", "unknown command");
    /* export: a missing session, a missing or unwritable target, stray arguments */
    expect_bad("export /nonexistent/s.json out.html%.0s", "/nonexistent/s.json");
    expect_bad("export%.0s", "SESSION.json");
    expect_bad("export a.json%.0s", "SESSION.json");
    expect_bad("export a.json /tmp%.0s", "is a directory");
    expect_bad("export a.json b.html c%.0s", "too many");
    expect_bad("export a.json b.html --theme nosuchtheme%.0s", "nosuchtheme");
    /* generators: bad combinations and values */
    expect_bad("run --model '%s' --prompt-ids 1 --diffusion --draft-steps 2", "--diffusion");
    expect_bad("run --model '%s' --prompt-ids 1 --lookahead 0", "--lookahead");
    expect_bad("run --model '%s' --prompt-ids 1 --draft-steps 0", "--draft-steps");
    expect_bad("run --model '%s' --prompt-ids 1 --verification-threshold 0", "--verification-threshold");
    expect_bad("run --model '%s' --prompt-ids 1 --headway 2", "--diffusion");
    expect_bad("run --model '%s' --prompt-ids 1 --freeze fixed", "--diffusion");
    expect_bad("run --model '%s' --prompt-ids 1 --diffusion --freeze bogus", "bogus");
    expect_bad("run --model '%s' --prompt-ids 1 --diffusion --max-wavefront 2 --headway 2", "--max-wavefront");
    expect_bad("run --model '%s' --prompt-ids 1 --diffusion --sqrt-mixer maybe", "--sqrt-mixer");
    expect_bad("run --model '%s' --prompt-ids 1 --diffusion --full-prefill", "--full-prefill");
    expect_bad("run --model '%s' --prompt-ids 1 --diffusion --ema-embeds 1.5", "--ema-embeds");
    expect_bad("run --model '%s' --prompt-ids 1 --diffusion --inner-recurrence 0", "--inner-recurrence");
    expect_bad("run --model '%s' --prompt-ids 1 --diffusion --criterion kl", "--criterion");
    expect_bad("run --model '%s' --prompt-ids 1 --lookahead 2 --criterion kl", "--criterion");
    expect_bad("run --model '%s' --prompt-ids 1,2,3 --diffusion --full-prefill off --max-wavefront 2", "wavefront");
}

/* The sampler golden cases through `huginn run --json`: tokens and stats. */
static void test_run_generators(void **state)
{
    (void)state;
    cJSON *golden = tu_read_json(HG_FIXTURES "/tiny-huginn.samplers.golden.json");
    assert_non_null(golden);
    const cJSON *cs;
    int n = 0;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(golden, "cases"))
    {
        const char *name = cJSON_GetObjectItem(cs, "name")->valuestring;
        const cJSON *a = cJSON_GetObjectItem(cs, "args");
        static char ids[16384], args[32768];
        ids_arg(cJSON_GetObjectItem(cs, "prompt_ids"), ids, sizeof ids);
        int max_new = cJSON_GetObjectItem(cs, "max_new_tokens")->valueint;
        snprintf(args, sizeof args,
                 "run --model '%s' --prompt-ids %s --steps %d --max-new-tokens %d --init-scale 0 --greedy --json "
                 "--threads 1",
                 g_model, ids, cJSON_GetObjectItem(a, "num_steps")->valueint, max_new);
#define ADD(...) snprintf(args + strlen(args), sizeof args - strlen(args), __VA_ARGS__)
        const cJSON *v;
        if (!strcmp(cJSON_GetObjectItem(cs, "kind")->valuestring, "speculative")) {
            ADD(" --draft-steps %d --lookahead %d", cJSON_GetObjectItem(a, "draft_steps")->valueint,
                cJSON_GetObjectItem(a, "lookahead_for_draft")->valueint);
            if ((v = cJSON_GetObjectItem(a, "verification_threshold"))) ADD(" --verification-threshold %g", v->valuedouble);
        } else {
            ADD(" --diffusion --inner-recurrence %d", cJSON_GetObjectItem(a, "inner_recurrence")->valueint);
            if ((v = cJSON_GetObjectItem(a, "freeze_strategy"))) ADD(" --freeze %s", v->valuestring);
            if ((v = cJSON_GetObjectItem(a, "max_wavefront"))) ADD(" --max-wavefront %d", v->valueint);
            if ((v = cJSON_GetObjectItem(a, "ema_embeds"))) ADD(" --ema-embeds %g", v->valuedouble);
            if ((v = cJSON_GetObjectItem(a, "state_noise_mixing"))) ADD(" --state-noise-mixing %g", v->valuedouble);
            if ((v = cJSON_GetObjectItem(a, "full_prefill"))) ADD(" --full-prefill %s", cJSON_IsTrue(v) ? "on" : "off");
        }
        if ((v = cJSON_GetObjectItem(a, "cache_lookup_strategy"))) ADD(" --cache %s", v->valuestring);
        if (cJSON_IsTrue(cJSON_GetObjectItem(a, "continuous_compute"))) ADD(" --warmstart");
        result r = run(args);
        if (r.status != 0) fail_msg("%s: exit %d: %s", name, r.status, r.err);
        cJSON *j = cJSON_Parse(r.out);
        assert_non_null(j);
        const cJSON *out = cJSON_GetObjectItem(j, "output_ids"), *gold = cJSON_GetObjectItem(cs, "output_ids");
        assert_int_equal(cJSON_GetArraySize(out), max_new);
        for (int i = 0; i < max_new; i++)
            if (cJSON_GetArrayItem(out, i)->valueint != cJSON_GetArrayItem(gold, i)->valueint)
                fail_msg("%s: token %d differs", name, i);
        const cJSON *st = cJSON_GetObjectItem(j, "stats"), *gst = cJSON_GetObjectItem(cs, "stats");
        assert_non_null(st);
        if (gst) {
            const char *keys[] = {"num_core_forward_passes", "num_tokens_forward", "diffusion_steps"};
            for (int k = 0; k < 3; k++)
                assert_int_equal(cJSON_GetObjectItem(st, keys[k])->valueint, cJSON_GetObjectItem(gst, keys[k])->valueint);
            assert_ids_equal(cJSON_GetObjectItem(st, "recurrence_per_position"),
                             cJSON_GetArrayItem(cJSON_GetObjectItem(gst, "recurrence_per_position"), 0),
                             "recurrence_per_position");
        } else {
            assert_true(cJSON_GetObjectItem(st, "rounds")->valueint > 0);
            assert_true(cJSON_GetObjectItem(st, "accepted")->valueint <= cJSON_GetObjectItem(st, "drafted")->valueint);
        }
        cJSON_Delete(j);
        result_free(&r);
        n++;
    }
    assert_true(n >= 11);
    cJSON_Delete(golden);
}

/* tokenize / detokenize: the JSON contract on the golden tokenizer cases */
static void test_tokenize_cli(void **state)
{
    (void)state;
    cJSON *g = tu_read_json(HG_FIXTURES "/tokenizers/medium.golden.json");
    assert_non_null(g);
    char tok[PATH_MAX], in[PATH_MAX + 16];
    static char args[3 * PATH_MAX + 256];
    assert_non_null(realpath(HG_FIXTURES "/tokenizers/medium.tokenizer.json", tok));
    cJSON *texts = cJSON_CreateArray(), *idss = cJSON_CreateArray();
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(g, "cases"))
    {
        cJSON_AddItemToArray(texts, cJSON_Duplicate(cJSON_GetObjectItem(cs, "text"), 1));
        cJSON_AddItemToArray(idss, cJSON_Duplicate(cJSON_GetObjectItem(cs, "ids"), 1));
    }
    snprintf(in, sizeof in, "%s/in.json", g_tmp);
    FILE *f = fopen(in, "w");
    char *js = cJSON_PrintUnformatted(texts);
    fputs(js, f);
    fclose(f);
    free(js);
    snprintf(args, sizeof args, "tokenize --tokenizer '%s' --json < '%s'", tok, in);
    result r = run(args);
    assert_int_equal(r.status, 0);
    cJSON *out = cJSON_Parse(r.out);
    assert_int_equal(cJSON_GetArraySize(out), cJSON_GetArraySize(idss));
    for (int i = 0; i < cJSON_GetArraySize(idss); i++)
        assert_ids_equal(cJSON_GetArrayItem(out, i), cJSON_GetArrayItem(idss, i), "tokenize ids");
    cJSON_Delete(out);
    result_free(&r);
    f = fopen(in, "w");
    js = cJSON_PrintUnformatted(idss);
    fputs(js, f);
    fclose(f);
    free(js);
    snprintf(args, sizeof args, "detokenize --tokenizer '%s' --skip-special --json < '%s'", tok, in);
    r = run(args);
    assert_int_equal(r.status, 0);
    out = cJSON_Parse(r.out);
    int i = 0;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(g, "cases"))
    {
        assert_string_equal(cJSON_GetArrayItem(out, i)->valuestring,
                            cJSON_GetObjectItem(cs, "decoded_skip_special")->valuestring);
        i++;
    }
    cJSON_Delete(out);
    result_free(&r);
    /* bad input: not JSON, wrong types, an id out of range, no tokenizer */
    f = fopen(in, "w");
    fputs("[\"ok\", 3]", f);
    fclose(f);
    snprintf(args, sizeof args, "tokenize --tokenizer '%s' --json < '%s'", tok, in);
    r = run(args);
    assert_int_equal(r.status, 2);
    result_free(&r);
    f = fopen(in, "w");
    fputs("[[1, 2], [99999]]", f);
    fclose(f);
    snprintf(args, sizeof args, "detokenize --tokenizer '%s' --json < '%s'", tok, in);
    r = run(args);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "99999"));
    result_free(&r);
    f = fopen(in, "w");
    fputs("{not json", f);
    fclose(f);
    snprintf(args, sizeof args, "detokenize --tokenizer '%s' --json < '%s'", tok, in);
    r = run(args);
    assert_int_equal(r.status, 2);
    result_free(&r);
    r = run("tokenize --tokenizer /nonexistent.json --json");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "/nonexistent.json"));
    result_free(&r);
    unlink(in);
    cJSON_Delete(texts);
    cJSON_Delete(idss);
    cJSON_Delete(g);
}

/* run --chat: the reply text is the decoded output ids, the prompt the chat format */
static void test_run_chat(void **state)
{
    (void)state;
    char args[8192];
    snprintf(args, sizeof args, "run --model '%s' --chat Hi --steps 8 --init-scale 0 --greedy --max-new-tokens 12 --json",
             g_model);
    result r = run(args);
    assert_int_equal(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(cJSON_GetObjectItem(j, "text"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "output_ids")), 12);
    snprintf(args, sizeof args, "run --model '%s' --chat Hi --steps 8 --init-scale 0 --greedy --max-new-tokens 12",
             g_model);
    result r2 = run(args);
    assert_int_equal(r2.status, 0);
    /* the readable run prints the same text */
    char *text = cJSON_GetObjectItem(j, "text")->valuestring;
    assert_non_null(strstr(r2.out, text));
    /* the chat prompt is the chat format: the same ids as --prompt-ids of the rendered conversation */
    int32_t chat_ids[] = {480, 482, 117, 269, 114, 483, 10, 10, 72, 105, 484, 482, 72, 117, 460, 110, 483, 10, 10};
    char ids[512] = "";
    for (size_t i = 0; i < sizeof chat_ids / sizeof chat_ids[0]; i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%d", i ? "," : "", chat_ids[i]);
    snprintf(args, sizeof args, "run --model '%s' --prompt-ids %s --steps 8 --init-scale 0 --greedy --max-new-tokens 12 --json",
             g_model, ids);
    result r3 = run(args);
    cJSON *j3 = cJSON_Parse(r3.out);
    assert_ids_equal(cJSON_GetObjectItem(j3, "output_ids"), cJSON_GetObjectItem(j, "output_ids"), "chat vs ids");
    cJSON_Delete(j);
    cJSON_Delete(j3);
    result_free(&r);
    result_free(&r2);
    result_free(&r3);
}

static void test_help(void **state)
{
    (void)state;
    const char *cmds[] = {"--help", "run --help", "forward --help", "tokenize --help", "detokenize --help",
                          "bench --help", "bench tokenizer --help", "chat --help", "mkmodel --help",
                          "export --help", "serve --help"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        result r = run(cmds[i]);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "usage"));
        result_free(&r);
    }
}

/* --version and bench name the kernels, whether prefill runs on AMX, and the
 * FMA peak of the kernels' own vectors; HUGINN_KERNELS=avx2 turns AMX off. */
static void test_kernels_report(void **state)
{
    (void)state;
    result r = run("--version");
    assert_int_equal(r.status, 0);
    const char *k = strstr(r.out, "kernels: ");
    assert_non_null(k);
    int native_avx = !strncmp(k, "kernels: avx", 12);
    result_free(&r);
    if (!native_avx) {
        print_message("no AVX kernels on this CPU: the forced-avx2 report is not checked\n");
        return;
    }
    setenv("HUGINN_KERNELS", "avx2", 1);
    r = run("--version");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "kernels: avx2\n")); /* and no "+ AMX" */
    result_free(&r);
    r = run("bench --shape tiny --weights bf16 --steps 1 --prompt-tokens 20 --decode-tokens 1 --json");
    unsetenv("HUGINN_KERNELS");
    assert_int_equal(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "amx")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kernels")), "avx2");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kernel_isa")), "avx2");
    double peak = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "peak_gflops"));
    double kpeak = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "kernel_peak_gflops"));
    double pf = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "prefill_gflops"));
    double kr = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "prefill_ratio_to_kernel_peak"));
    assert_true(kpeak > 0 && peak > 0);
    /* AVX2 vectors: at most the machine's peak (half of it on AVX-512, but
     * neighbours make one measurement noisy) */
    assert_true(kpeak < peak * 1.3);
    /* the JSON rounds prefill_gflops to 3 decimals and the peak to 1 */
    assert_true(fabs(kr - pf / kpeak) <= 1e-2 * kr + 1e-3);
    cJSON_Delete(j);
    result_free(&r);
    /* the AVX-VNNI variant's vectors are AVX2's: its peak is the AVX2 one */
    setenv("HUGINN_KERNELS", "avxvnni", 1);
    r = run("--version");
    int vnni = r.status == 0 && strstr(r.out, "kernels: avxvnni\n") != NULL;
    result_free(&r);
    if (!vnni) {
        unsetenv("HUGINN_KERNELS");
        print_message("no AVX-VNNI on this CPU: its bench report is not checked\n");
        return;
    }
    r = run("bench --shape tiny --weights q8_0 --steps 1 --prompt-tokens 20 --decode-tokens 1 --json");
    unsetenv("HUGINN_KERNELS");
    assert_int_equal(r.status, 0);
    j = cJSON_Parse(r.out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kernels")), "avxvnni");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "kernel_isa")), "avx2");
    cJSON_Delete(j);
    result_free(&r);
}

/* ------------------------------------------------------- hostile input */

/* Run a shell command line (in the temp directory); its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    static char cmd[16384];
    int n = snprintf(cmd, sizeof cmd, "cd '%s' && ", g_tmp);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A copy of tiny-huginn in g_tmp/name made of symlinks, except `special`:
 * a FIFO ("fifo") or a file with the given text. */
static void mk_model(const char *name, const char *special, const char *text)
{
    char dir[PATH_MAX + 64], src[PATH_MAX + 300], dst[2 * PATH_MAX + 300];
    snprintf(dir, sizeof dir, "%s/%s", g_tmp, name);
    assert_int_equal(mkdir(dir, 0700), 0);
    DIR *d = opendir(g_model);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(src, sizeof src, "%s/%s", g_model, e->d_name);
        snprintf(dst, sizeof dst, "%s/%s", dir, e->d_name);
        if (!strcmp(e->d_name, special)) continue;
        assert_int_equal(symlink(src, dst), 0);
    }
    closedir(d);
    snprintf(dst, sizeof dst, "%s/%s", dir, special);
    if (!text) assert_int_equal(mkfifo(dst, 0600), 0);
    else {
        FILE *f = fopen(dst, "w");
        fputs(text, f);
        fclose(f);
    }
}

static void rm_model(const char *name) { sh("rm -rf '%s'", name); }

static void test_hostile(void **state)
{
    (void)state;
    char args[8192];
    /* a message or system message ending in a cut UTF-8 sequence */
    snprintf(args, sizeof args, "run --model '%s' --chat \"$(printf '\\342\\200')\" --steps 4 --max-new-tokens 3", g_model);
    result r = run(args);
    if (r.status != 0) fail_msg("cut UTF-8 message: exit %d: %s", r.status, r.err);
    result_free(&r);
    snprintf(args, sizeof args,
             "run --model '%s' --system \"$(printf 'be \\342\\200 ')\" --chat \"$(printf ' \\360\\237')\" --steps 4 "
             "--max-new-tokens 3", g_model);
    r = run(args);
    if (r.status != 0) fail_msg("cut UTF-8 system message: exit %d: %s", r.status, r.err);
    result_free(&r);
    /* a demo script line too long for a step, or for a line: refused, not cut */
    assert_int_equal(sh("printf 'say %%0600d\\n' 0 > demo-long.txt && printf 'say %%0550d\\n' 0 > demo-text.txt"), 0);
    const char *demos[][2] = {{"demo-long.txt", "line 1: longer than 599 bytes"}, {"demo-text.txt", "line 1: longer than 511 bytes"}};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "demo --model '%s' %s", g_model, demos[i][0]);
        r = run(args);
        if (r.status != 2 || !strstr(r.err, demos[i][1]) || strchr(r.err, '\n') != r.err + strlen(r.err) - 1)
            fail_msg("a demo script with %s: exit %d: %s", demos[i][1], r.status, r.err);
        result_free(&r);
    }
    /* a FIFO where a checkpoint file or the tokenizer is expected: an error at once, no hang */
    const char *fifos[] = {"config.json", "tokenizer.json", "model-00001-of-00002.safetensors",
                           "model.safetensors.index.json", "generation_config.json"};
    g_wrap = "timeout 20"; /* a hang fails the test (exit 124) instead of hanging it */
    for (size_t i = 0; i < sizeof fifos / sizeof fifos[0]; i++) {
        mk_model("fifo", fifos[i], NULL);
        time_t t0 = time(NULL);
        r = run("run --model fifo --prompt-ids 1,2 --max-new-tokens 1");
        if (r.status != 2 || !strstr(r.err, "not a regular file"))
            fail_msg("a FIFO as %s: exit %d: %s", fifos[i], r.status, r.err);
        assert_true(time(NULL) - t0 < 15); /* well under a second when idle; the machine may be loaded */
        result_free(&r);
        rm_model("fifo");
    }
    g_wrap = "";
    /* huge numbers in config.json: a range error naming the field, no UB */
    char cfg[4096];
    char *orig = tu_read_file(HG_FIXTURES "/tiny-huginn/config.json", NULL);
    assert_non_null(orig);
    char *v = strstr(orig, "\"vocab_size\"");
    assert_non_null(v);
    char *colon = strchr(v, ':'), *end = colon + 1;
    while (*end == ' ' || (*end >= '0' && *end <= '9')) end++;
    snprintf(cfg, sizeof cfg, "%.*s: 1e300%s", (int)(colon - orig), orig, end);
    free(orig);
    mk_model("huge", "config.json", cfg);
    r = run("run --model huge --prompt-ids 1,2 --max-new-tokens 1");
    if (r.status != 2 || !strstr(r.err, "vocab_size") || strstr(r.err, "-2147483648"))
        fail_msg("vocab_size 1e300: exit %d: %s", r.status, r.err);
    result_free(&r);
    rm_model("huge");
    /* failed output is exit 1 with a message, never a silent 0 */
    const char *runner = getenv("HUGINN_TEST_RUNNER");
    if (!runner) runner = "";
    int st = sh("%s '%s' run --model '%s' --prompt-ids 1,2 --max-new-tokens 2 >/dev/full 2>err", runner, g_bin, g_model);
    assert_int_equal(st, 1);
    char errp[PATH_MAX + 8];
    snprintf(errp, sizeof errp, "%s/err", g_tmp);
    char *err = tu_read_file(errp, NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "No space left"));
    free(err);
    st = sh("%s '%s' tokenize --model '%s' hello >/dev/full 2>err", runner, g_bin, g_model);
    assert_int_equal(st, 1);
    unlink(errp);
}

/* Tokenizing a large input costs a few times its size, not tens of times. */
static void test_tokenize_memory(void **state)
{
    (void)state;
    /* ASan's shadow memory and qemu are no measure */
    if (getenv("HUGINN_SANITIZE") || getenv("HUGINN_TEST_RUNNER")) skip();
    char in[PATH_MAX + 16];
    snprintf(in, sizeof in, "%s/big.json", g_tmp);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    static const char *words[] = {"the", "raven", "flew", "\\u00fcber", "ch\\u00e2teau", "\\u043d\\u0430\\u0448",
                                  "12345", "  ", "\\n", "!?", "ok", "Huginn", "recurrent", "depth"};
    uint64_t x = 88172645463325252ull;
    fputs("[\"", f);
    long bytes = 0;
    while (bytes < (6l << 20)) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bytes += fprintf(f, "%s ", words[x % (sizeof words / sizeof words[0])]);
    }
    fputs("\"]", f);
    fclose(f);
    struct stat sb;
    assert_int_equal(stat(in, &sb), 0);
    /* the peak of a tiny input, then of the large one */
    long peak[2];
    for (int k = 0; k < 2; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            if (!freopen(k ? in : "/dev/null", "r", stdin) || !freopen("/dev/null", "w", stdout)) _exit(99);
            if (!k) { /* an empty array */
                int fd[2];
                if (pipe(fd)) _exit(99);
                if (write(fd[1], "[\"hi\"]", 6) != 6) _exit(99);
                close(fd[1]);
                dup2(fd[0], 0);
            }
            execl(g_bin, "huginn", "tokenize", "--model", g_model, "--json", (char *)NULL);
            _exit(98);
        }
        int status;
        struct rusage ru;
        assert_true(wait4(pid, &status, 0, &ru) == pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        peak[k] = ru.ru_maxrss * 1024l;
    }
    long extra = peak[1] - peak[0];
    print_message("tokenize --json of %ld bytes: peak %.1f MB (+%.1f MB over a tiny input, %.1fx the input)\n",
                  (long)sb.st_size, peak[1] / 1e6, extra / 1e6, (double)extra / (double)sb.st_size);
    if (extra > 5 * (long)sb.st_size) fail_msg("peak %.1f MB over the base for %.1f MB of input", extra / 1e6, sb.st_size / 1e6);
    unlink(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_golden),   cmocka_unit_test(test_forward_golden),
        cmocka_unit_test(test_readable_output), cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_help),          cmocka_unit_test(test_tokenize_cli),
        cmocka_unit_test(test_run_chat),      cmocka_unit_test(test_run_generators),
        cmocka_unit_test(test_kernels_report),
        cmocka_unit_test(test_run_trace_golden), cmocka_unit_test(test_run_trace_bad_file),
        cmocka_unit_test(test_hostile),       cmocka_unit_test(test_tokenize_memory),
    };
    return cmocka_run_group_tests_name("cli", tests, setup, teardown);
}
