/* cmd_perplexity.c — `huginn perplexity`: how well the model predicts a text,
 * at one or several recurrence depths, in any weight format.
 *
 * The text is BOS followed by the file's tokens (no special tokens).  It is
 * scored in windows of ctx positions that overlap by one token: window k
 * covers positions [k (ctx-1), k (ctx-1) + ctx), and each window predicts
 * every position after its first from the ones before it, so every token
 * after BOS is predicted exactly once.  init_scale is 0 (deterministic). */
#include "cli.h"
#include "cmds.h"
#include "huginn.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: huginn perplexity [--model PATH] --file FILE [--steps 1,4,32] [--weights F] [--ctx N]\n"
    "                         [--threads N] [--json] [--svg FILE]\n"
    "\n"
    "Perplexity of the model on a UTF-8 text file: BOS, then the file's tokens (no special tokens),\n"
    "scored in windows of --ctx positions that overlap by one token, so every token after BOS is\n"
    "predicted exactly once.  The initial state is zeros (init_scale 0): runs are deterministic.\n"
    "\n"
    "  --model PATH      checkpoint directory or hub id ORG/NAME (default: the bundled demo-huginn)\n"
    "  --file FILE       the text (a regular file of valid UTF-8, not empty)\n"
    "  --steps LIST      recurrence steps, comma separated, each measured in turn (default: the\n"
    "                    config's mean_recurrence)\n"
    "  --weights F       auto (default), f32 (exact), bf16, q8_0, q4 (see 'huginn run --help')\n"
    "  --ctx N           positions per window, 2..block_size (default: the config's block_size)\n"
    "  --threads N       threads (default: the cores it may run on)\n"
    "  --json            print {\"results\": [{\"steps\": S, \"ppl\": X, \"tokens\": N, \"seconds\": T}, ...]}\n"
    "  --svg FILE        also write the curve of perplexity against steps as a standalone SVG\n"
    "                    picture (written whole or not at all; FILE must be a regular file or new)\n"
    "\n"
    "Without --json: a table, and for several steps values a plot of perplexity against steps\n"
    "(log scale).  A progress bar runs on stderr when it is a terminal.  Ctrl-C (SIGTERM) at any\n"
    "point stops it with one line, 'interrupted', no SVG nor temporary left, and status 130 (143).\n"
    "\n"
    "Exit status: 0 ok, 2 bad input (options, a missing, empty, non-regular or non-UTF-8 file), 1 failure.\n";

#define MAX_STEPS_VALUES 64

typedef struct ppl_result {
    int steps;
    double ppl, seconds;
    long tokens;
} ppl_result;

/* ---------------------------------------------------------------- input */

/* Parse "1,4,32": integers 1..4096, no empty entries, no repeats. */
static int parse_steps(const char *s, int *out, int *n)
{
    *n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        if (*p < '0' || *p > '9') return 0;
        long v = strtol(p, &end, 10);
        if (errno || v < 1 || v > 4096 || *n == MAX_STEPS_VALUES) return 0;
        for (int i = 0; i < *n; i++)
            if (out[i] == v) return 0;
        out[(*n)++] = (int)v;
        if (*end == 0) return 1;
        if (*end != ',') return 0;
        p = end + 1;
    }
}

/* Offset of the first byte that is not part of valid UTF-8 (overlong forms,
 * surrogates and code points over U+10FFFF are invalid), or len. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int n;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) n = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) n = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) n = 3, cp = c & 0x07, min = 0x10000;
        else return i;
        if (i + (size_t)n >= len) return i; /* truncated at the end */
        for (int k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += (size_t)n + 1;
    }
    return len;
}

/* Read the text file: a regular, non-empty file of valid UTF-8.  Returns 0
 * or an exit status after a one-line error. */
static int read_text(const char *cmd, const char *path, char **text, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return cli_error(cmd, "--file %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return cli_error(cmd, "--file %s: not a regular file", path);
    }
    size_t cap = (size_t)sb.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        fprintf(stderr, "huginn %s: out of memory for %s\n", cmd, path);
        return EXIT_RUNTIME;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                close(fd);
                fprintf(stderr, "huginn %s: out of memory for %s\n", cmd, path);
                return EXIT_RUNTIME;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return cli_error(cmd, "--file %s: %s", path, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    if (n == 0) {
        free(buf);
        return cli_error(cmd, "--file %s: the file is empty", path);
    }
    size_t bad = utf8_invalid_at((const unsigned char *)buf, n);
    if (bad < n) {
        free(buf);
        return cli_error(cmd, "--file %s: invalid UTF-8 at byte %zu", path, bad);
    }
    *text = buf;
    *len = n;
    return 0;
}

/* ------------------------------------------------------------- SVG file */

/* The SVG is written to a temporary file next to the target, made before the
 * long computation (so a bad path fails at once) and renamed over the target
 * at the end: the target is replaced whole or not at all. */
typedef struct svg_out {
    const char *path;
    char *tmp;
    FILE *f;
} svg_out;

static int svg_open(const char *cmd, const char *path, svg_out *o)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    struct stat sb;
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return cli_error(cmd, "--svg %s: exists and is not a regular file", path);
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
    o->tmp = malloc(strlen(path) + 16);
    if (!o->tmp) return cli_error(cmd, "out of memory");
    memcpy(o->tmp, path, dl);
    sprintf(o->tmp + dl, ".%s.XXXXXX", path + dl);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int e = errno;
        free(o->tmp);
        o->tmp = NULL;
        return cli_error(cmd, "--svg %s: cannot create a file there: %s", path, strerror(e));
    }
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    o->f = fdopen(fd, "w");
    if (!o->f) {
        close(fd);
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
        return cli_error(cmd, "--svg %s: %s", path, strerror(errno));
    }
    return 0;
}

static void svg_abort(svg_out *o)
{
    if (o->f) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}

static volatile sig_atomic_t g_stop;

/* Returns 0, an exit status after a one-line error, or -1 when interrupted
 * (g_stop) before the rename: the temporary is left for svg_abort. */
static int svg_commit(const char *cmd, svg_out *o)
{
    int bad = ferror(o->f) | fflush(o->f) | fsync(fileno(o->f));
    bad |= fclose(o->f);
    o->f = NULL;
    if (!bad && g_stop) return -1;
    if (bad || rename(o->tmp, o->path) != 0) {
        int e = errno;
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
        fprintf(stderr, "huginn %s: --svg %s: %s\n", cmd, o->path, strerror(e));
        return EXIT_RUNTIME;
    }
    free(o->tmp);
    o->tmp = NULL;
    return 0;
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else if ((unsigned char)*s >= 0x20 || *s == '\t') fputc(*s, f);
    }
}

/* A "nice" tick spacing (1, 2 or 5 times a power of ten) for a range. */
static double nice_step(double range, int ticks)
{
    double raw = range / ticks, p = pow(10, floor(log10(raw))), r = raw / p;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * p;
}

/* Results sorted by steps (the order of the curve). */
static void sorted(const ppl_result *r, int n, ppl_result *out)
{
    memcpy(out, r, sizeof *r * (size_t)n);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && out[j].steps < out[j - 1].steps; j--) {
            ppl_result t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
}

static void svg_write(FILE *f, const ppl_result *res, int n, const char *subtitle)
{
    ppl_result r[MAX_STEPS_VALUES];
    sorted(res, n, r);
    const double W = 640, H = 400, L = 70, R = 20, T = 56, B = 56;
    double xmin = log2(r[0].steps), xmax = log2(r[n - 1].steps);
    if (xmax - xmin < 1) xmin -= 0.5, xmax += 0.5;
    double ymin = r[0].ppl, ymax = r[0].ppl;
    for (int i = 1; i < n; i++) {
        if (r[i].ppl < ymin) ymin = r[i].ppl;
        if (r[i].ppl > ymax) ymax = r[i].ppl;
    }
    double span = ymax - ymin > 1e-9 * ymax ? ymax - ymin : (ymax > 0 ? ymax * 0.1 : 1);
    double ystep = nice_step(span, 5);
    double y0 = floor((ymin - 0.05 * span) / ystep) * ystep, y1 = ceil((ymax + 0.05 * span) / ystep) * ystep;
    if (y0 < 0 && ymin >= 0) y0 = 0;
#define PX(v) (L + 24 + ((v) - xmin) / (xmax - xmin) * (W - L - R - 48))
#define PY(v) (H - B - ((v) - y0) / (y1 - y0) * (H - T - B))
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Perplexity against recurrence steps</text>\n", L);
    fprintf(f, "<text x=\"%.0f\" y=\"40\" fill=\"#555555\">", L);
    xml_text(f, subtitle);
    fprintf(f, "</text>\n<g stroke=\"#dddddd\" stroke-width=\"1\">\n");
    for (double y = y0; y <= y1 + ystep * 1e-6; y += ystep)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, PY(y), W - R, PY(y));
    fprintf(f, "</g>\n<g stroke=\"#333333\" stroke-width=\"1\">\n");
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, H - B, W - R, H - B);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, (double)T, L, H - B);
    fprintf(f, "</g>\n<g text-anchor=\"end\">\n");
    int dec = ystep >= 1 ? 0 : (int)ceil(-log10(ystep));
    for (double y = y0; y <= y1 + ystep * 1e-6; y += ystep)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%.*f</text>\n", L - 6, PY(y) + 4, dec, y);
    fprintf(f, "</g>\n<g text-anchor=\"middle\">\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%d</text>\n", PX(log2(r[i].steps)), H - B + 18, r[i].steps);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">recurrence steps (log scale)</text>\n", (L + W - R) / 2, H - 14);
    fprintf(f, "</g>\n<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">perplexity</text>\n",
            (T + H - B) / 2);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
    for (int i = 0; i < n; i++) fprintf(f, "%s%.1f,%.1f", i ? " " : "", PX(log2(r[i].steps)), PY(r[i].ppl));
    fprintf(f, "\"/>\n<g fill=\"#1f77b4\">\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\"><title>%d steps: perplexity %.4f</title></circle>\n",
                PX(log2(r[i].steps)), PY(r[i].ppl), r[i].steps, r[i].ppl);
    fprintf(f, "</g>\n<g text-anchor=\"middle\" font-size=\"11\" fill=\"#1f77b4\">\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%.2f</text>\n", PX(log2(r[i].steps)), PY(r[i].ppl) - 9, r[i].ppl);
    fprintf(f, "</g>\n</svg>\n");
#undef PX
#undef PY
}

/* --------------------------------------------------------- terminal plot */

/* Perplexity (rows) against log2 steps (columns), '*' at the measured
 * points joined by '.'. */
static void plot(FILE *f, const ppl_result *res, int n)
{
    enum { ROWS = 10, COLS = 56 };
    ppl_result r[MAX_STEPS_VALUES];
    sorted(res, n, r);
    double xmin = log2(r[0].steps), xmax = log2(r[n - 1].steps);
    double ymin = r[0].ppl, ymax = r[0].ppl;
    for (int i = 1; i < n; i++) {
        if (r[i].ppl < ymin) ymin = r[i].ppl;
        if (r[i].ppl > ymax) ymax = r[i].ppl;
    }
    if (ymax - ymin < 1e-9 * (ymax > 0 ? ymax : 1)) ymax = ymin + 1;
    char grid[ROWS][COLS + 1];
    memset(grid, ' ', sizeof grid);
    for (int y = 0; y < ROWS; y++) grid[y][COLS] = 0;
#define COL(x) ((int)lround(((x) - xmin) / (xmax - xmin) * (COLS - 1)))
#define ROW(v) ((int)lround((ymax - (v)) / (ymax - ymin) * (ROWS - 1)))
    for (int i = 0; i + 1 < n; i++) {
        int c0 = COL(log2(r[i].steps)), c1 = COL(log2(r[i + 1].steps));
        for (int cx = c0; cx <= c1; cx++) {
            double t = c1 > c0 ? (double)(cx - c0) / (c1 - c0) : 0;
            grid[ROW(r[i].ppl + t * (r[i + 1].ppl - r[i].ppl))][cx] = '.';
        }
    }
    for (int i = 0; i < n; i++) grid[ROW(r[i].ppl)][COL(log2(r[i].steps))] = '*';
    fprintf(f, "\nperplexity against steps (log scale)\n");
    for (int y = 0; y < ROWS; y++) {
        if (y == 0 || y == ROWS - 1 || y == ROWS / 2)
            fprintf(f, "%10.2f |%s\n", ymax - (ymax - ymin) * y / (ROWS - 1), grid[y]);
        else
            fprintf(f, "%10s |%s\n", "", grid[y]);
    }
    fprintf(f, "%10s +", "");
    for (int x = 0; x < COLS; x++) fputc('-', f);
    char axis[COLS + 16];
    memset(axis, ' ', sizeof axis);
    axis[sizeof axis - 1] = 0;
    for (int i = 0; i < n; i++) {
        char lab[16];
        int l = snprintf(lab, sizeof lab, "%d", r[i].steps);
        int at = COL(log2(r[i].steps)) - (l - 1) / 2;
        if (at < 0) at = 0;
        if (at + l >= (int)sizeof axis - 1) at = (int)sizeof axis - 1 - l;
        int free_ = 1;
        for (int k = at > 0 ? at - 1 : 0; k < at + l + 1 && k < (int)sizeof axis - 1; k++) free_ &= axis[k] == ' ';
        if (free_) memcpy(axis + at, lab, (size_t)l);
    }
    int end = (int)sizeof axis - 1;
    while (end > 0 && axis[end - 1] == ' ') end--;
    axis[end] = 0;
    fprintf(f, "\n%10s  %s  steps\n", "", axis);
#undef COL
#undef ROW
}

/* ------------------------------------------------------------- progress */

/* Ctrl-C (or SIGTERM) only sets a flag, from the start of the work (before
 * the SVG's temporary exists) to its end: the callbacks stop the load or the
 * scoring, the flag is checked between the phases (reading, loading,
 * tokenizing, scoring, printing, the SVG's rename), and the command cleans up
 * (no SVG, no temporary) and exits 128 + the signal after one line.  (g_stop
 * is defined above svg_commit.) */
static void on_signal(int sig) { g_stop = sig; }

static int on_load(double frac, const char *what, void *user)
{
    cli_progress(frac, what, user);
    return g_stop != 0;
}

typedef struct progress {
    double done, total, window_work;
    char what[64];
    int on;
} progress;

static int on_step(const hg_event *ev, void *user)
{
    progress *p = user;
    if (p->on && ev->type == HG_EV_STEP)
        cli_progress((p->done + p->window_work * ev->step / ev->num_steps) / p->total, p->what, "perplexity");
    return g_stop != 0;
}

/* ------------------------------------------------------------- command */

int cmd_perplexity(int argc, char **argv)
{
    const char *cmd = argv[0], *model = NULL, *file = NULL, *svg = NULL;
    int steps[MAX_STEPS_VALUES], n_steps = 0, n_ctx = 0, threads = 0, json = 0;
    hg_weights weights = HG_WEIGHTS_AUTO;
    cli c;
    cli_init(&c, cmd, argc, argv);
    while (cli_next(&c)) {
        if (cli_is(&c, "--help") || cli_is(&c, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (cli_is(&c, "--model")) {
            if (!(model = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--file")) {
            if (!(file = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--svg")) {
            if (!(svg = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--steps")) {
            const char *v = cli_str(&c);
            if (!v) return 2;
            if (!parse_steps(v, steps, &n_steps))
                return cli_error(cmd, "--steps: expected distinct integers 1..4096 separated by commas "
                                      "(at most %d), got '%s'", MAX_STEPS_VALUES, v);
        } else if (cli_is(&c, "--ctx")) {
            if (!cli_int(&c, 2, 1 << 24, &n_ctx)) return 2;
        } else if (cli_is(&c, "--threads")) {
            if (!cli_int(&c, 1, 1024, &threads)) return 2;
        } else if (cli_is(&c, "--json")) {
            json = 1;
        } else if (cli_is(&c, "--weights")) {
            const char *w = cli_str(&c);
            if (!w) return 2;
            if (hg_weights_parse(w, &weights) != HG_OK)
                return cli_error(cmd, "--weights: unknown format '%s' (auto, f32, bf16, q8_0, q4)", w);
        } else {
            return cli_unknown(&c);
        }
    }
    if (!file) return cli_error(cmd, "--file FILE is required (see --help)");
    if (!model && !(model = cli_default_model())) return cli_error(cmd, "no --model given and no bundled model found");

    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    char *text = NULL;
    size_t len = 0;
    svg_out so = {0};
    hg_model *m = NULL;
    hg_ctx *ctx = NULL;
    hg_tokenizer *tok = NULL;
    int32_t *ids = NULL, *file_ids = NULL;
    double *nll = NULL;
    ppl_result res[MAX_STEPS_VALUES];
    hg_err e;
    hg_status s;
    int rc = read_text(cmd, file, &text, &len);
    if (rc) goto out;
    if (g_stop) goto stopped;
    if (svg && (rc = svg_open(cmd, svg, &so))) goto out;
    if (g_stop) goto stopped;
    hg_load_params lp;
    hg_load_params_default(&lp);
    lp.n_threads = threads;
    lp.weights = weights;
    lp.progress = on_load;
    lp.progress_user = "converting weights";
    if ((s = hg_model_load(model, &lp, &m, &e))) goto fail;
    if (g_stop) goto stopped;
    const hg_config *cfg = hg_model_config(m);
    if (n_ctx > cfg->block_size) {
        rc = cli_error(cmd, "--ctx %d: the model's block_size is %d", n_ctx, cfg->block_size);
        goto out;
    }
    if (!n_ctx) n_ctx = cfg->block_size;
    if (!n_steps) steps[n_steps++] = cfg->mean_recurrence;
    int max_steps = 0;
    for (int i = 0; i < n_steps; i++)
        if (steps[i] > max_steps) max_steps = steps[i];

    if ((s = hg_tokenizer_load_dir(hg_model_dir(m), &tok, &e))) goto fail;
    if (g_stop) goto stopped;
    int n_file = 0;
    if ((s = hg_tokenize(tok, text, len, 0, &file_ids, &n_file, &e))) goto fail;
    if (g_stop) goto stopped;
    if (n_file == 0) {
        rc = cli_error(cmd, "--file %s: no tokens", file);
        goto out;
    }
    int bos = hg_tokenizer_bos_id(tok);
    if (bos < 0) bos = hg_model_gen_defaults(m)->bos_token_id;
    if (bos < 0) {
        rc = cli_error(cmd, "the model has no bos_token (tokenizer_config.json or generation_config.json)");
        goto out;
    }
    int n = n_file + 1; /* positions: BOS and the file's tokens */
    ids = malloc(sizeof *ids * (size_t)n);
    nll = malloc(sizeof *nll * (size_t)n);
    if (!ids || !nll) {
        fprintf(stderr, "huginn %s: out of memory\n", cmd);
        rc = EXIT_RUNTIME;
        goto out;
    }
    ids[0] = bos;
    memcpy(ids + 1, file_ids, sizeof *ids * (size_t)n_file);

    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.n_ctx = n_ctx < n ? n_ctx : n;
    cp.max_steps = max_steps;
    if ((s = hg_ctx_new(m, &cp, &ctx, &e))) goto fail;
    if (g_stop) goto stopped;
    int win = cp.n_ctx;

    progress pg = {.on = isatty(2)};
    double work_per_steps = 0; /* positions processed for one steps value */
    for (int st = 0;; st += win - 1) {
        int end = st + win < n ? st + win : n;
        work_per_steps += end - st;
        if (end == n) break;
    }
    for (int i = 0; i < n_steps; i++) pg.total += work_per_steps * steps[i];

    for (int i = 0; i < n_steps; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long scored = 0;
        int n_win = (n - 1 + win - 2) / (win - 1), w = 0;
        for (int st = 0;; st += win - 1, w++) {
            int end = st + win < n ? st + win : n;
            snprintf(pg.what, sizeof pg.what, "steps %d, window %d/%d", steps[i], w + 1, n_win);
            pg.window_work = (double)(end - st) * steps[i];
            /* nll[st + t] = -log p(ids[st + t + 1]): the window's predictions */
            if ((s = hg_score(ctx, ids + st, end - st, steps[i], on_step, &pg, nll + st, &e))) goto fail;
            pg.done += pg.window_work;
            scored += end - st - 1;
            if (end == n) break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double sum = 0;
        for (int t = 0; t < n - 1; t++) sum += nll[t];
        res[i] = (ppl_result){.steps = steps[i], .ppl = exp(sum / scored), .tokens = scored,
                              .seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec)};
    }
    if (g_stop) goto stopped; /* after the last step's callback */
    if (pg.on) cli_progress(1.0, "done", "perplexity");

    const char *slash = strrchr(file, '/');
    char subtitle[512];
    const char *mdir = hg_model_dir(m), *ms = strrchr(mdir, '/');
    snprintf(subtitle, sizeof subtitle, "%s, %s weights, %s: %d tokens, windows of %d", ms && ms[1] ? ms + 1 : mdir,
             hg_weights_name(hg_model_weights(m)), slash ? slash + 1 : file, n_file, win);
    if (json) {
        printf("{\"results\": [");
        for (int i = 0; i < n_steps; i++) {
            printf("%s{\"steps\": %d, \"ppl\": ", i ? ", " : "", res[i].steps);
            json_print_float(stdout, res[i].ppl);
            printf(", \"tokens\": %ld, \"seconds\": ", res[i].tokens);
            json_print_float(stdout, res[i].seconds);
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("%s\n\n", subtitle);
        printf("%6s  %12s  %8s  %9s\n", "steps", "perplexity", "tokens", "seconds");
        for (int i = 0; i < n_steps; i++)
            printf("%6d  %12.4f  %8ld  %9.2f\n", res[i].steps, res[i].ppl, res[i].tokens, res[i].seconds);
        if (n_steps > 1) plot(stdout, res, n_steps);
    }
    fflush(stdout);
    if (svg) {
        svg_write(so.f, res, n_steps, subtitle);
        rc = svg_commit(cmd, &so); /* checks g_stop last thing before the rename */
        if (rc == -1) goto stopped;
    } else if (g_stop) goto stopped;
    goto out;
fail:
    if (!g_stop) {
        fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
        rc = cli_status_exit(s);
        goto out;
    }
stopped:
    if (isatty(2)) fputc('\n', stderr);
    fprintf(stderr, "huginn %s: interrupted\n", cmd);
    rc = 128 + (int)g_stop;
out:
    if (so.tmp) svg_abort(&so);
    free(nll);
    free(ids);
    free(file_ids);
    free(text);
    hg_tokenizer_free(tok);
    hg_ctx_free(ctx);
    hg_model_free(m);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
