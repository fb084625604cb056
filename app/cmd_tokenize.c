/* cmd_tokenize.c — `huginn tokenize`, `huginn detokenize` and
 * `huginn bench tokenizer`. */
#include "cli.h"
#include "cmds.h"
#include "huginn.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char tok_usage[] =
    "usage: huginn tokenize (--tokenizer FILE | --model PATH) [--special] --json   < JSON array of strings\n"
    "       huginn tokenize (--tokenizer FILE | --model PATH) [--special] TEXT\n"
    "\n"
    "Text to token ids, exactly as Hugging Face tokenizers.  With --json, standard input is a JSON array\n"
    "of strings and the output a JSON array of id arrays, one per input.  --special adds the\n"
    "post-processor's special tokens (none are added without it).  Invalid UTF-8 is replaced by U+FFFD.\n"
    "A run of over 1 MiB that no token boundary can cut (one letter repeated) is refused (exit 2).\n";

static const char detok_usage[] =
    "usage: huginn detokenize (--tokenizer FILE | --model PATH) [--skip-special] --json   < JSON array of id arrays\n"
    "       huginn detokenize (--tokenizer FILE | --model PATH) [--skip-special] IDS...\n"
    "\n"
    "Token ids to text.  With --json, standard input is a JSON array of id arrays and the output a JSON\n"
    "array of strings.  --skip-special leaves special tokens out.  IDS: 1,2,3 or 1 2 3.\n";

static const char bench_tok_usage[] =
    "usage: huginn bench tokenizer (--tokenizer FILE | --model PATH) --text FILE [--json]\n"
    "\n"
    "Encode the text file repeatedly for at least a second (a cold first pass, then warm passes with\n"
    "the piece cache filled) and print the throughput in MB/s and tokens/s.\n";

typedef struct tok_opts {
    const char *tokenizer, *model, *text_file;
    int special, skip_special, json;
    char **args;
    int n_args;
} tok_opts;

static int parse(int argc, char **argv, tok_opts *o, const char *usage, int kind)
{
    memset(o, 0, sizeof *o);
    o->args = calloc((size_t)argc + 1, sizeof *o->args);
    cli c;
    cli_init(&c, argv[0], argc, argv);
    const char *a;
    while ((a = cli_next(&c))) {
        if (cli_is(&c, "--help") || cli_is(&c, "-h")) {
            fputs(usage, stdout);
            return -1;
        } else if (cli_is(&c, "--tokenizer")) {
            if (!(o->tokenizer = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--model")) {
            if (!(o->model = cli_str(&c))) return 2;
        } else if (cli_is(&c, "--json")) {
            o->json = 1;
        } else if (kind == 0 && cli_is(&c, "--special")) {
            o->special = 1;
        } else if (kind == 1 && cli_is(&c, "--skip-special")) {
            o->skip_special = 1;
        } else if (kind == 2 && cli_is(&c, "--text")) {
            if (!(o->text_file = cli_str(&c))) return 2;
        } else if (a[0] == '-' && a[1] == '-') {
            return cli_unknown(&c);
        } else if (kind != 2) {
            o->args[o->n_args++] = (char *)a;
        } else {
            return cli_unknown(&c);
        }
    }
    if (!!o->tokenizer == !!o->model) return cli_error(argv[0], "give exactly one of --tokenizer FILE and --model PATH");
    if (kind == 2 && !o->text_file) return cli_error(argv[0], "--text FILE is required");
    if (kind != 2 && o->json && o->n_args) return cli_error(argv[0], "with --json the input comes on standard input");
    if (kind != 2 && !o->json && !o->n_args) return cli_error(argv[0], "nothing to do: give text, or --json and standard input");
    return 0;
}

static int load_tok(const tok_opts *o, const char *cmd, hg_tokenizer **t)
{
    hg_err e;
    hg_status s;
    if (o->tokenizer) {
        s = hg_tokenizer_load(o->tokenizer, t, &e);
    } else {
        char *dir = NULL;
        s = hg_model_resolve(o->model, &dir, &e);
        if (!s) s = hg_tokenizer_load_dir(dir, t, &e);
        free(dir);
    }
    if (s) {
        fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
        return cli_status_exit(s);
    }
    return 0;
}

/* Options, then the tokenizer; returns 0 to go on, -1 after --help, or an
 * exit status (o->args freed on every non-zero return). */
static int start(int argc, char **argv, tok_opts *o, const char *usage, int kind, hg_tokenizer **t)
{
    int rc = parse(argc, argv, o, usage, kind);
    if (!rc) rc = load_tok(o, argv[0], t);
    if (rc) free(o->args);
    return rc;
}

static char *read_stdin(size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (n + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int cmd_tokenize(int argc, char **argv)
{
    tok_opts o;
    const char *cmd = argv[0];
    hg_tokenizer *t = NULL;
    int rc = start(argc, argv, &o, tok_usage, 0, &t);
    if (rc) return rc < 0 ? 0 : rc;
    hg_err e;
    if (!o.json) {
        for (int a = 0; a < o.n_args && !rc; a++) {
            int32_t *ids;
            int n;
            hg_status s = hg_tokenize(t, o.args[a], strlen(o.args[a]), o.special, &ids, &n, &e);
            if (s) {
                fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
                rc = cli_status_exit(s);
                break;
            }
            printf("%d tokens\n", n);
            for (int i = 0; i < n; i++) {
                char *piece = NULL;
                hg_detokenize(t, &ids[i], 1, 0, &piece, &e);
                cJSON *js = cJSON_CreateString(piece ? piece : "");
                char *q = cJSON_PrintUnformatted(js);
                printf("%6d  %s\n", ids[i], q);
                free(q);
                cJSON_Delete(js);
                free(piece);
            }
            free(ids);
        }
    } else {
        size_t len;
        char *in = read_stdin(&len);
        cJSON *arr = in ? cJSON_ParseWithLength(in, len) : NULL;
        free(in);
        if (!cJSON_IsArray(arr)) {
            rc = cli_error(cmd, "standard input is not a JSON array of strings");
        } else {
            const cJSON *it;
            int idx = 0;
            cJSON_ArrayForEach(it, arr)
            {
                if (!cJSON_IsString(it)) {
                    rc = cli_error(cmd, "input entry %d is not a string", idx);
                    break;
                }
                idx++;
            }
            if (!rc) {
                fputc('[', stdout);
                idx = 0;
                cJSON_ArrayForEach(it, arr)
                {
                    int32_t *ids;
                    int n;
                    hg_status s = hg_tokenize(t, it->valuestring, strlen(it->valuestring), o.special, &ids, &n, &e);
                    if (s) {
                        fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
                        rc = cli_status_exit(s);
                        break;
                    }
                    printf("%s[", idx++ ? ", " : "");
                    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
                    fputc(']', stdout);
                    free(ids);
                }
                printf("]\n");
            }
        }
        cJSON_Delete(arr);
    }
    hg_tokenizer_free(t);
    free(o.args);
    return rc;
}

/* Ids of one JSON array into a malloc'd list; 0 when an entry is not an id. */
static int json_ids(const cJSON *a, int32_t **ids, int *n)
{
    int cnt = cJSON_GetArraySize(a);
    *ids = malloc(sizeof(int32_t) * (size_t)(cnt ? cnt : 1));
    *n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a)
    {
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 2147483647.0 ||
            x->valuedouble != (double)(int32_t)x->valuedouble)
            return 0;
        (*ids)[(*n)++] = (int32_t)x->valuedouble;
    }
    return 1;
}

int cmd_detokenize(int argc, char **argv)
{
    tok_opts o;
    const char *cmd = argv[0];
    hg_tokenizer *t = NULL;
    int rc = start(argc, argv, &o, detok_usage, 1, &t);
    if (rc) return rc < 0 ? 0 : rc;
    hg_err e;
    if (!o.json) {
        int32_t *all = NULL;
        int n = 0;
        for (int a = 0; a < o.n_args; a++) {
            int32_t *ids;
            int k;
            if (!cli_parse_ids(o.args[a], &ids, &k)) {
                rc = cli_error(cmd, "'%s' is not a list of token ids", o.args[a]);
                break;
            }
            all = realloc(all, sizeof *all * (size_t)(n + k + 1));
            memcpy(all + n, ids, sizeof *ids * (size_t)k);
            n += k;
            free(ids);
        }
        char *text = NULL;
        if (!rc && hg_detokenize(t, all, n, o.skip_special, &text, &e)) rc = cli_error(cmd, "%s", e.msg);
        if (!rc) printf("%s\n", text);
        free(text);
        free(all);
    } else {
        size_t len;
        char *in = read_stdin(&len);
        cJSON *arr = in ? cJSON_ParseWithLength(in, len) : NULL;
        free(in);
        if (!cJSON_IsArray(arr)) rc = cli_error(cmd, "standard input is not a JSON array of id arrays");
        cJSON *out = cJSON_CreateArray();
        const cJSON *it;
        int idx = 0;
        cJSON_ArrayForEach(it, arr)
        {
            if (rc) break;
            int32_t *ids = NULL;
            int n;
            if (!cJSON_IsArray(it) || !json_ids(it, &ids, &n)) {
                if (cJSON_IsArray(it)) free(ids);
                rc = cli_error(cmd, "input entry %d is not an array of token ids", idx);
                break;
            }
            char *text = NULL;
            if (hg_detokenize(t, ids, n, o.skip_special, &text, &e)) {
                rc = cli_error(cmd, "input entry %d: %s", idx, e.msg);
                free(ids);
                break;
            }
            cJSON_AddItemToArray(out, cJSON_CreateString(text));
            free(text);
            free(ids);
            idx++;
        }
        if (!rc) {
            char *s = cJSON_PrintUnformatted(out);
            printf("%s\n", s);
            free(s);
        }
        cJSON_Delete(out);
        cJSON_Delete(arr);
    }
    hg_tokenizer_free(t);
    free(o.args);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cmd_bench_tokenizer(int argc, char **argv)
{
    tok_opts o;
    const char *cmd = "bench tokenizer";
    argv[0] = (char *)cmd;
    int rc = parse(argc, argv, &o, bench_tok_usage, 2);
    free(o.args);
    if (rc) return rc < 0 ? 0 : rc;
    hg_tokenizer *t = NULL;
    if ((rc = load_tok(&o, cmd, &t))) return rc;
    char *text;
    size_t tlen;
    hg_err fe;
    if (hg_file_read(o.text_file, 0, &text, &tlen, &fe) != HG_OK) {
        hg_tokenizer_free(t);
        return cli_error(cmd, "%s", fe.msg);
    }
    long n = (long)tlen;
    hg_err e;
    int32_t *ids;
    int nid;
    double t0 = now_s();
    if (hg_tokenize(t, text, (size_t)n, 0, &ids, &nid, &e)) {
        fprintf(stderr, "huginn %s: %s\n", cmd, e.msg);
        free(text);
        hg_tokenizer_free(t);
        return 1;
    }
    double cold = now_s() - t0;
    free(ids);
    int passes = 0;
    t0 = now_s();
    double el = 0;
    while (el < 1.0 || passes < 2) {
        hg_tokenize(t, text, (size_t)n, 0, &ids, &nid, &e);
        free(ids);
        passes++;
        el = now_s() - t0;
    }
    double warm = el / passes;
    if (o.json)
        printf("{\"bytes\": %ld, \"tokens\": %d, \"cold_mb_per_s\": %.3f, \"mb_per_s\": %.3f, \"tokens_per_s\": %.0f}\n", n,
               nid, n / cold / 1e6, n / warm / 1e6, nid / warm);
    else
        printf("%ld bytes -> %d tokens; first pass %.2f MB/s, then %.2f MB/s (%.0f tokens/s) over %d passes\n", n, nid,
               n / cold / 1e6, n / warm / 1e6, nid / warm, passes);
    free(text);
    hg_tokenizer_free(t);
    return 0;
}
