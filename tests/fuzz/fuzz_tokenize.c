/* fuzz_tokenize.c — tokenization with chat rendering on tiny-huginn's
 * tokenizer: the input as text (with and without the post-processor), and
 * split at NUL bytes into a conversation (system, user, Huginn, …) rendered
 * and tokenized; the ids must decode. */
#include "fuzz.h"
#include "huginn.h"

static hg_tokenizer *g_t;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    hg_err e;
    const char *dir = getenv("HUGINN_FUZZ_TOKENIZER");
    if (hg_tokenizer_load_dir(dir ? dir : "tests/fixtures/tiny-huginn", &g_t, &e) != HG_OK) {
        fprintf(stderr, "fuzz_tokenize: %s\n", e.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hg_err e;
    int32_t *ids;
    int n;
    char *s;
    for (int special = 0; special < 2; special++)
        if (hg_tokenize(g_t, (const char *)data, size, special, &ids, &n, &e) == HG_OK) {
            if (hg_detokenize(g_t, ids, n, 0, &s, &e) == HG_OK) free(s);
            free(ids);
        }
    /* a conversation: NUL-separated messages, each its own allocation */
    static const char *roles[] = {"system", "user", "Huginn"};
    hg_chat_msg msgs[16];
    char *parts[16];
    int k = 0;
    size_t a = 0;
    for (size_t i = 0; i <= size && k < 16; i++) {
        if (i == size || data[i] == 0) {
            parts[k] = malloc(i - a + 1);
            memcpy(parts[k], data + a, i - a);
            parts[k][i - a] = 0;
            msgs[k].role = roles[k == 0 ? 0 : 1 + (k + 1) % 2];
            msgs[k].content = parts[k];
            k++;
            a = i + 1;
        }
    }
    char *r = hg_chat_render(msgs, k, 1);
    free(r);
    if (hg_chat_tokenize(g_t, msgs, k, 1, &ids, &n, &e) == HG_OK) {
        if (hg_detokenize(g_t, ids, n, 1, &s, &e) == HG_OK) free(s);
        free(ids);
    }
    for (int i = 0; i < k; i++) free(parts[i]);
    return 0;
}
