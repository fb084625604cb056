/* fuzz_detokenize.c — detokenization and streaming on tiny-huginn's
 * tokenizer: the input as 16-bit ids (some outside the vocabulary), decoded
 * whole, with and without special tokens, and pushed one by one through the
 * streaming decoder with small and large output buffers; for ids in the
 * vocabulary the stream must give what the whole decode gives. */
#include "fuzz.h"
#include "huginn.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <sys/stat.h>

static hg_tokenizer *g_t;

/* Seed an empty corpus with the golden cases' ids (tests/fixtures). */
static void seed(int argc, char **argv)
{
    const char *corpus = NULL;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (argv[i][0] != '-' && stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) corpus = argv[i];
    }
    DIR *d = corpus ? opendir(corpus) : NULL;
    if (!d) return;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) n += de->d_name[0] != '.';
    closedir(d);
    char *text;
    if (n || hg_file_read("tests/fixtures/tokenizers/tiny.golden.json", 0, &text, NULL, NULL)) return;
    cJSON *j = cJSON_Parse(text);
    free(text);
    const cJSON *c;
    int k = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases"))
    {
        uint8_t buf[4096];
        size_t o = 0;
        const cJSON *id;
        cJSON_ArrayForEach(id, cJSON_GetObjectItem(c, "ids")) if (o + 2 <= sizeof buf)
        {
            int v = (int)id->valuedouble;
            buf[o++] = (uint8_t)(v & 0xff);
            buf[o++] = (uint8_t)(v >> 8);
        }
        char path[512];
        snprintf(path, sizeof path, "%s/golden-%d", corpus, k++);
        fz_write(path, buf, o);
    }
    cJSON_Delete(j);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    seed(*argc, *argv);
    hg_err e;
    if (hg_tokenizer_load_dir("tests/fixtures/tiny-huginn", &g_t, &e) != HG_OK) {
        fprintf(stderr, "fuzz_detokenize: %s\n", e.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int n = (int)(size / 2), V = hg_tokenizer_vocab_size(g_t);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    int valid = 1;
    for (int i = 0; i < n; i++) {
        int v = data[2 * i] | data[2 * i + 1] << 8;
        ids[i] = v >= 0xFF00 ? -(v & 0xFF) : v % (V + 3);
        valid &= ids[i] >= 0 && ids[i] < V && hg_tokenizer_id_text(g_t, ids[i]) != NULL;
    }
    hg_err e;
    for (int skip = 0; skip < 2; skip++) {
        char *whole = NULL;
        hg_status st = hg_detokenize(g_t, ids, n, skip, &whole, &e);
        if (valid && st != HG_OK) abort();
        hg_stream *s = hg_stream_new(g_t, skip);
        size_t cap = (size_t)n * 64 + 64, o = 0;
        char *acc = malloc(cap), piece[256], tiny[8];
        acc[0] = 0;
        for (int i = 0; i < n; i++) {
            size_t l = hg_stream_push(s, ids[i], piece, sizeof piece);
            if (l >= sizeof piece) abort();
            memcpy(acc + o, piece, l + 1);
            o += l;
        }
        size_t l = hg_stream_finish(s, piece, sizeof piece);
        memcpy(acc + o, piece, l + 1);
        if (valid && st == HG_OK && strcmp(acc, whole)) abort(); /* the stream differs from the whole decode */
        hg_stream_free(s);
        /* the smallest buffer the API allows */
        s = hg_stream_new(g_t, skip);
        for (int i = 0; i < n; i++) hg_stream_push(s, ids[i], tiny, sizeof tiny);
        hg_stream_finish(s, tiny, sizeof tiny);
        hg_stream_free(s);
        free(acc);
        free(whole);
    }
    free(ids);
    return 0;
}
