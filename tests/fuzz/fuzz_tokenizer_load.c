/* fuzz_tokenizer_load.c — tokenizer.json loading; a tokenizer that loads
 * encodes and decodes a fixed text with every kind of character. */
#include "fuzz.h"
#include "huginn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", fz_tmpdir());
    fz_write(path, data, size);
    hg_tokenizer *t = NULL;
    hg_err e;
    if (hg_tokenizer_load(path, &t, &e) != HG_OK) return 0;
    static const char text[] = "Hello, world! 123 4567 ﬁ ①  \t\n\n über <s> </s> <|end_turn|> 黒い \xe2\x80";
    int32_t *ids = NULL;
    int n = 0;
    for (int special = 0; special < 2; special++) {
        if (hg_tokenize(t, text, sizeof text - 1, special, &ids, &n, &e) == HG_OK) {
            char *s = NULL;
            if (hg_detokenize(t, ids, n, special, &s, &e) == HG_OK) free(s);
            free(ids);
        }
    }
    int V = hg_tokenizer_vocab_size(t);
    for (int id = -1; id <= V && id < 300; id++) {
        const char *x = hg_tokenizer_id_text(t, id);
        (void)x;
        hg_tokenizer_is_special(t, id);
    }
    hg_tokenizer_free(t);
    return 0;
}
