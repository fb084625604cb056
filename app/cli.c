/* cli.c — option parsing helpers for the subcommands. */
#include "cli.h"
#include "platform.h"

#ifndef HUGINN_DATADIR
#define HUGINN_DATADIR "/usr/local/share/huginn"
#endif

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_init(cli *c, const char *cmd, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    c->argc = argc;
    c->argv = argv;
    c->i = 0;
}

const char *cli_next(cli *c)
{
    c->i++;
    c->eq = NULL;
    if (c->i >= c->argc) return NULL;
    const char *a = c->argv[c->i];
    if (a[0] == '-' && a[1] == '-') {
        const char *e = strchr(a, '=');
        if (e) c->eq = e + 1;
    }
    return a;
}

int cli_is(cli *c, const char *name)
{
    const char *a = c->argv[c->i];
    size_t n = strlen(name);
    return strncmp(a, name, n) == 0 && (a[n] == 0 || a[n] == '=');
}

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "huginn %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_BAD_INPUT;
}

int cli_unknown(cli *c)
{
    c->bad = 1;
    const char *a = c->argv[c->i];
    if (a[0] == '-')
        return cli_error(c->cmd, "unknown option '%s' (see 'huginn %s --help')", a, c->cmd);
    return cli_error(c->cmd, "unexpected argument '%s' (see 'huginn %s --help')", a, c->cmd);
}

const char *cli_str(cli *c)
{
    const char *name = c->argv[c->i];
    if (c->eq) return c->eq;
    if (c->i + 1 >= c->argc) {
        c->bad = 1;
        cli_error(c->cmd, "option '%s' needs a value", name);
        return NULL;
    }
    return c->argv[++c->i];
}

static const char *opt_name(cli *c, char *buf, size_t n)
{
    const char *a = c->argv[c->eq ? c->i : c->i - 1];
    size_t l = strcspn(a, "=");
    if (l >= n) l = n - 1;
    memcpy(buf, a, l);
    buf[l] = 0;
    return buf;
}

int cli_int(cli *c, long lo, long hi, int *out)
{
    const char *v = cli_str(c);
    if (!v) return 0;
    char nb[64];
    errno = 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno) {
        c->bad = 1;
        cli_error(c->cmd, "%s: expected an integer, got '%s'", opt_name(c, nb, sizeof nb), v);
        return 0;
    }
    if (x < lo || x > hi) {
        c->bad = 1;
        cli_error(c->cmd, "%s: %ld is out of range (%ld..%ld)", opt_name(c, nb, sizeof nb), x, lo, hi);
        return 0;
    }
    *out = (int)x;
    return 1;
}

int cli_u64(cli *c, uint64_t *out)
{
    const char *v = cli_str(c);
    if (!v) return 0;
    char nb[64];
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || *v == '-') {
        c->bad = 1;
        cli_error(c->cmd, "%s: expected a non-negative integer, got '%s'", opt_name(c, nb, sizeof nb), v);
        return 0;
    }
    *out = x;
    return 1;
}

int cli_double(cli *c, double lo, double hi, double *out)
{
    const char *v = cli_str(c);
    if (!v) return 0;
    char nb[64];
    errno = 0;
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || errno || isnan(x)) {
        c->bad = 1;
        cli_error(c->cmd, "%s: expected a number, got '%s'", opt_name(c, nb, sizeof nb), v);
        return 0;
    }
    if (x < lo || x > hi) {
        c->bad = 1;
        cli_error(c->cmd, "%s: %g is out of range (%g..%g)", opt_name(c, nb, sizeof nb), x, lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

int cli_float(cli *c, double lo, double hi, float *out)
{
    double d;
    if (!cli_double(c, lo, hi, &d)) return 0;
    *out = (float)d;
    return 1;
}

int cli_parse_ids(const char *s, int32_t **ids, int *n)
{
    size_t cap = 16;
    int cnt = 0;
    int32_t *a = malloc(cap * sizeof *a);
    if (!a) return 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') {
            if (*p == ',' && (p == s)) { free(a); return 0; }
            p++;
        }
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',' && *end != ' ' && *end != '\t' && *end != '\n')) {
            free(a);
            return 0;
        }
        if ((size_t)cnt == cap) {
            cap *= 2;
            int32_t *na = realloc(a, cap * sizeof *a);
            if (!na) { free(a); return 0; }
            a = na;
        }
        a[cnt++] = (int32_t)v;
        p = end;
    }
    *ids = a;
    *n = cnt;
    return 1;
}

void json_print_float(FILE *f, double v)
{
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    char buf[64];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, f);
}

int cli_status_exit(hg_status s)
{
    switch (s) {
    case HG_OK: return 0;
    case HG_E_ARG:
    case HG_E_IO:
    case HG_E_FORMAT:
    case HG_E_RANGE:
    case HG_E_UNSUPPORTED: return EXIT_BAD_INPUT;
    default: return EXIT_RUNTIME;
    }
}

#include <sys/stat.h>

const char *cli_default_model(void)
{
    static char path[4096];
    char exe[4096];
    if (hg_exe_dir(exe, sizeof exe)) return NULL;
    /* the source tree, an installed tree (relocatable), the compiled-in DATADIR */
    const char *cands[] = {"%s/tests/fixtures/demo-huginn", "%s/../share/huginn/demo-huginn"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        int n = snprintf(path, sizeof path, cands[i], exe);
        if (n < 0 || (size_t)n >= sizeof path) continue; /* too long a path: not there */
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return path;
    }
    snprintf(path, sizeof path, "%s/demo-huginn", HUGINN_DATADIR);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return path;
    return NULL;
}
