/* test_ui_export.c — traces as JSON Lines and the HTML page: a strict
 * well-formedness check of the page (every tag closed in order, quoted
 * attributes, known entities, nothing fetched), one data-steps element per
 * reply token, escaping, the theme's heat palette, refused output paths. */
#include "testutil.h"
#include "export.h"
#include "heatmap.h"

#include <ctype.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/huginn-test-export-XXXXXX";

static int setup(void **st) { (void)st; return mkdtemp(dir) ? 0 : -1; }
static int teardown(void **st)
{
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A conversation with awkward text: markup characters, a newline, an
 * invalid byte, an empty piece, a sweep of three runs. */
static void build(us_session *s)
{
    ss_init(s);
    snprintf(s->model, sizeof s->model, "demo <huginn> & \"co\"");
    ss_set_system(s, "Be <brief> & kind.");
    ss_add(s, "user", "Is 1 < 2 & \"3\" > 'x'?");
    us_msg *r = ss_add(s, "Huginn", "");
    const char *pieces[] = {"Yes", ", 1 <", " 2", " &amp;", "\n", "\xff bad", "", " ok."};
    float tr[4] = {0.5f, NAN, 0.001f, 0.0001f};
    for (int i = 0; i < 8; i++) {
        ss_append_token(r, 100 + i, pieces[i], strlen(pieces[i]), 1 + i * 4, tr, i % 2 ? 4 : 0);
        r->tok[i].threshold = 5e-4;
        r->tok[i].criterion = HG_CRIT_KL;
    }
    int steps[] = {2, 8, 32};
    for (int k = 0; k < 3; k++) {
        us_msg *m = ss_add(s, "sweep", "");
        m->sweep = 1;
        m->num_steps = steps[k];
        for (int i = 0; i < 3 + k; i++) ss_append_token(m, i == 1 && k == 0 ? 7 : i, "ab", 2, steps[k] / 2 + i, tr, 2);
    }
    ss_sweep_diverge(s, 1);
    ss_add(s, "user", "Thanks");
}

static int total_tokens(const us_session *s)
{
    int n = 0;
    for (int i = 0; i < s->n; i++) n += s->msg[i].n_tok;
    return n;
}

/* ------------------------------------------------ the strict checker */

static const char *const void_tags[] = {"meta", "br", "hr", "img", "input", "link", "wbr", NULL};

static int is_void(const char *t)
{
    for (int i = 0; void_tags[i]; i++)
        if (!strcmp(t, void_tags[i])) return 1;
    return 0;
}

typedef struct check {
    int data_steps;         /* elements with a data-steps attribute */
    int spans;
    int fetches;            /* src= or href= attributes, url( in CSS */
    char err[256];
} check;

#define BAD(...) do { snprintf(ck->err, sizeof ck->err, __VA_ARGS__); return -1; } while (0)

/* An entity at p ('&'): &name; or &#digits; or &#xhex;.  Returns its length. */
static int entity(const char *p)
{
    const char *q = p + 1;
    if (*q == '#') {
        q++;
        int hex = *q == 'x' || *q == 'X';
        if (hex) q++;
        const char *d = q;
        while (hex ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q)) q++;
        if (q == d || *q != ';') return 0;
        return (int)(q - p + 1);
    }
    static const char *const names[] = {"amp;", "lt;", "gt;", "quot;", "apos;", "nbsp;", NULL};
    for (int i = 0; names[i]; i++)
        if (!strncmp(q, names[i], strlen(names[i]))) return (int)(1 + strlen(names[i]));
    return 0;
}

static int check_html(const char *h, check *ck)
{
    memset(ck, 0, sizeof *ck);
    char stack[64][32];
    int depth = 0;
    const char *p = h;
    if (strncmp(p, "<!DOCTYPE html>", 15)) BAD("no <!DOCTYPE html> at the start");
    p += 15;
    while (*p) {
        if (*p == '&') {
            int n = entity(p);
            if (!n) BAD("bad entity at '%.20s'", p);
            p += n;
            continue;
        }
        if (*p == '>') BAD("a raw '>' in text at '%.30s'", p > h + 20 ? p - 20 : h);
        if (*p != '<') { p++; continue; }
        if (!strncmp(p, "<!--", 4)) {
            const char *e = strstr(p, "-->");
            if (!e) BAD("unclosed comment");
            p = e + 3;
            continue;
        }
        int closing = p[1] == '/';
        const char *q = p + 1 + closing;
        char name[32];
        int n = 0;
        while (isalnum((unsigned char)*q) && n < 31) name[n++] = (char)tolower((unsigned char)*q++);
        name[n] = 0;
        if (!n) BAD("a raw '<' in text at '%.30s'", p);
        if (closing) {
            if (*q != '>') BAD("bad end tag </%s", name);
            if (!depth || strcmp(stack[depth - 1], name))
                BAD("</%s> closes <%s>", name, depth ? stack[depth - 1] : "(nothing)");
            depth--;
            p = q + 1;
            continue;
        }
        /* attributes: name="value" (no '<' or '"' inside), or a bare name */
        int has_steps = 0;
        for (;;) {
            while (*q == ' ' || *q == '\n') q++;
            if (*q == '>') break;
            if (*q == '/' && q[1] == '>') BAD("self-closing <%s/>", name);
            char an[64];
            int k = 0;
            while ((isalnum((unsigned char)*q) || *q == '-' || *q == '_') && k < 63) an[k++] = (char)*q++;
            an[k] = 0;
            if (!k) BAD("bad attribute in <%s at '%.20s'", name, q);
            if (!strcmp(an, "data-steps")) has_steps = 1;
            if (!strcmp(an, "src") || !strcmp(an, "href")) ck->fetches++;
            if (*q == '=') {
                q++;
                if (*q != '"') BAD("unquoted attribute %s in <%s>", an, name);
                q++;
                while (*q && *q != '"') {
                    if (*q == '<') BAD("'<' inside attribute %s", an);
                    if (*q == '&') {
                        int e = entity(q);
                        if (!e) BAD("bad entity in attribute %s", an);
                        q += e;
                    } else q++;
                }
                if (*q != '"') BAD("unterminated attribute %s", an);
                q++;
            }
        }
        if (has_steps) ck->data_steps++;
        if (!strcmp(name, "span")) ck->spans++;
        p = q + 1;
        if (!strcmp(name, "script") || !strcmp(name, "style")) {
            /* raw text up to its end tag; "</" must not appear before it */
            char end[48];
            snprintf(end, sizeof end, "</%s>", name);
            const char *e = strstr(p, end);
            if (!e) BAD("<%s> not closed", name);
            for (const char *x = p; x < e; x++)
                if (x[0] == '<' && x[1] == '/') BAD("'</' inside <%s>", name);
            if (!strcmp(name, "style"))
                for (const char *x = p; x + 4 < e; x++)
                    if (!strncmp(x, "url(", 4) || !strncmp(x, "@import", 7)) ck->fetches++;
            p = e + strlen(end);
            continue;
        }
        if (is_void(name)) continue;
        if (depth == 64) BAD("nested too deep");
        snprintf(stack[depth++], sizeof stack[0], "%s", name);
    }
    if (depth) BAD("<%s> not closed at the end", stack[depth - 1]);
    return 0;
}

/* The checker itself must reject what it should. */
static void test_checker(void **st)
{
    (void)st;
    check ck;
    assert_int_equal(check_html("<!DOCTYPE html><html><body><p data-steps=\"3\">a &amp; b</p></body></html>", &ck), 0);
    assert_int_equal(ck.data_steps, 1);
    const char *bad[] = {
        "<html><body></body></html>",                                      /* no doctype */
        "<!DOCTYPE html><html><body><p>x</body></html>",                   /* misnested */
        "<!DOCTYPE html><html><body><p>a < b</p></body></html>",           /* raw < */
        "<!DOCTYPE html><html><body><p>a & b</p></body></html>",           /* bare & */
        "<!DOCTYPE html><html><body><p class=x>a</p></body></html>",       /* unquoted */
        "<!DOCTYPE html><html><body><p>a</p>",                             /* unclosed */
        "<!DOCTYPE html><html><script>var a='</b>';</script></html>",      /* </ in script */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check_html(bad[i], &ck) == 0) fail_msg("checker accepted bad HTML %zu: %s", i, bad[i]);
}

static void test_html(void **st)
{
    (void)st;
    us_session s;
    build(&s);
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/c.html", dir);
    ut_theme th;
    ut_builtin(&th, "default");
    assert_int_equal(ux_export(&s, &th, path, err, sizeof err), 0);
    char *h = tu_read_file(path, NULL);
    assert_non_null(h);
    check ck;
    if (check_html(h, &ck)) fail_msg("not well-formed: %s", ck.err);
    assert_int_equal(ck.data_steps, total_tokens(&s));
    assert_int_equal(ck.fetches, 0);
    assert_null(strstr(h, "https://"));
    /* escaping: the model name, the system and user text, a token */
    assert_non_null(strstr(h, "demo &lt;huginn&gt; &amp; &quot;co&quot;"));
    assert_non_null(strstr(h, "Is 1 &lt; 2 &amp; &quot;3&quot; &gt; &#39;x&#39;?"));
    assert_non_null(strstr(h, "data-steps=\"5\" data-i=\"2\" data-id=\"101\" data-trace=\"0.5,n,0.001,0.0001\" data-crit=\"kl\" data-thr=\"0.0005\">, 1 &lt;</span>"));
    assert_non_null(strstr(h, "&amp;amp;"));
    assert_non_null(strstr(h, "\xef\xbf\xbd bad"));        /* the invalid byte replaced */
    assert_null(strstr(h, "\xff"));
    /* the heat palette of the theme and the legend */
    char css[64];
    snprintf(css, sizeof css, ".h7{color:#%06x;background:#%06x;", th.role[R_HEAT7].fg.rgb, th.role[R_HEAT7].bg.rgb);
    assert_non_null(strstr(h, css));
    assert_non_null(strstr(h, "data-level=\"0\""));
    /* the sweep side by side, its departure marked */
    assert_non_null(strstr(h, "<div class=\"runs\">"));
    assert_non_null(strstr(h, "sweep · steps 2 "));
    assert_non_null(strstr(h, "departs from the deepest at token 2"));
    assert_non_null(strstr(h, "class=\"t h"));
    assert_non_null(strstr(h, " diverge\" data-steps="));
    free(h);
    /* mono: attributes instead of colours */
    ut_builtin(&th, "mono");
    assert_int_equal(ux_export_html(&s, &th, path, err, sizeof err), 0);
    h = tu_read_file(path, NULL);
    if (check_html(h, &ck)) fail_msg("mono page not well-formed: %s", ck.err);
    assert_non_null(strstr(h, ".h0{opacity:.65;}"));
    free(h);
    /* an empty conversation is a page too */
    us_session e;
    ss_init(&e);
    assert_int_equal(ux_export_html(&e, NULL, path, err, sizeof err), 0);
    h = tu_read_file(path, NULL);
    if (check_html(h, &ck)) fail_msg("empty page not well-formed: %s", ck.err);
    assert_int_equal(ck.data_steps, 0);
    free(h);
    /* any other name: Markdown */
    snprintf(path, sizeof path, "%s/c.md", dir);
    assert_int_equal(ux_export(&s, &th, path, err, sizeof err), 0);
    h = tu_read_file(path, NULL);
    assert_non_null(strstr(h, "# Huginn conversation"));
    assert_null(strstr(h, "<span"));
    free(h);
    assert_true(ux_is_html("a.HTML") && ux_is_html("b.htm") && !ux_is_html("c.md") && !ux_is_html("html"));
    ss_free(&s);
}

static void test_trace(void **st)
{
    (void)st;
    us_session s;
    build(&s);
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/t.jsonl", dir);
    int r = ux_last_reply(&s);
    assert_int_equal(r, 2);
    assert_int_equal(ux_trace_msg(&s.msg[r], NULL, path, err, sizeof err), 0);
    char *t = tu_read_file(path, NULL);
    assert_non_null(t);
    int lines = 0;
    for (char *p = t; (p = strchr(p, '\n')); p++) lines++;
    assert_int_equal(lines, s.msg[r].n_tok);
    assert_non_null(strstr(t, "{\"index\": 0, \"id\": 100, \"text\": \"Yes\", \"steps\": 1, \"exit_values\": []}\n"));
    assert_non_null(strstr(t, "{\"index\": 1, \"id\": 101, \"text\": \", 1 <\", \"steps\": 5, \"exit_values\": [0.5, null, 0.00100000005, 9.99999975e-05]}\n"));
    assert_non_null(strstr(t, "\"text\": \"\\n\""));
    /* every line is JSON */
    for (char *p = t, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        *nl = 0;
        cJSON *j = cJSON_Parse(p);
        if (!j) fail_msg("not JSON: %s", p);
        cJSON_Delete(j);
    }
    free(t);
    ss_free(&s);
}

/* Output paths that must be refused, and left as they were. */
static void test_bad_paths(void **st)
{
    (void)st;
    us_session s;
    build(&s);
    char err[512], fifo[300], sub[300], file[300];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(ux_export(&s, NULL, fifo, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    struct stat sb;
    assert_int_equal(stat(fifo, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    assert_int_equal(ux_trace_msg(&s.msg[2], NULL, fifo, err, sizeof err), -1);
    assert_int_equal(ux_export(&s, NULL, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "is a directory"));
    assert_int_equal(ux_export(&s, NULL, "/nonexistent-dir/x.html", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent-dir"));
    assert_int_equal(ux_export(&s, NULL, "", err, sizeof err), -1);
    snprintf(file, sizeof file, "%s/plain", dir);
    FILE *f = fopen(file, "w");
    fputs("x", f);
    fclose(f);
    snprintf(sub, sizeof sub, "%s/plain/x.html", dir);      /* a file as the directory */
    assert_int_equal(ux_export(&s, NULL, sub, err, sizeof err), -1);
    if (geteuid() != 0) {                                      /* root writes anywhere */
        snprintf(sub, sizeof sub, "%s/ro", dir);
        mkdir(sub, 0500);
        snprintf(file, sizeof file, "%s/ro/x.html", dir);
        assert_int_equal(ux_export(&s, NULL, file, err, sizeof err), -1);
        assert_non_null(strstr(err, "not writable"));
    }
    ss_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker), cmocka_unit_test(test_html), cmocka_unit_test(test_trace),
        cmocka_unit_test(test_bad_paths),
    };
    return cmocka_run_group_tests_name("ui_export", tests, setup, teardown);
}
