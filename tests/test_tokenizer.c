/* test_tokenizer.c — the tokenizer against Hugging Face `tokenizers`: every
 * golden case of the tiny and medium tokenizers (ids, decoded,
 * decoded_skip_special), the chat format of tiny-huginn.chat.json, and unit
 * cases: Split behaviours with and without invert, added tokens at the
 * edges and adjacent, streaming decode of split characters, empty and
 * invalid UTF-8 input, normalizers, broken and unsupported files. */
#include "testutil.h"
#include "huginn.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void run_golden(const char *tok_path, const char *golden_path)
{
    hg_tokenizer *t;
    hg_err e;
    if (hg_tokenizer_load(tok_path, &t, &e) != HG_OK) fail_msg("load %s: %s", tok_path, e.msg);
    cJSON *g = tu_read_json(golden_path);
    assert_non_null(g);
    const cJSON *cs;
    int n = 0;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(g, "cases"))
    {
        const char *text = cJSON_GetObjectItem(cs, "text")->valuestring;
        int32_t *ids;
        int nid, ng;
        assert_int_equal(hg_tokenize(t, text, strlen(text), 0, &ids, &nid, &e), HG_OK);
        int32_t *gold = tu_json_ids(cJSON_GetObjectItem(cs, "ids"), &ng);
        int same = nid == ng && !memcmp(ids, gold, sizeof(int32_t) * (size_t)ng);
        if (!same) {
            fprintf(stderr, "text %s\n ours:", text);
            for (int i = 0; i < nid; i++) fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\n gold:");
            for (int i = 0; i < ng; i++) fprintf(stderr, " %d", gold[i]);
            fprintf(stderr, "\n");
            fail_msg("%s: ids differ for case %d", golden_path, n);
        }
        char *dec, *dec_skip;
        assert_int_equal(hg_detokenize(t, gold, ng, 0, &dec, &e), HG_OK);
        assert_int_equal(hg_detokenize(t, gold, ng, 1, &dec_skip, &e), HG_OK);
        assert_string_equal(dec, cJSON_GetObjectItem(cs, "decoded")->valuestring);
        assert_string_equal(dec_skip, cJSON_GetObjectItem(cs, "decoded_skip_special")->valuestring);
        /* streaming the same ids gives the same text */
        hg_stream *st = hg_stream_new(t, 0);
        char *acc = calloc(strlen(dec) + 64, 1), piece[256];
        for (int i = 0; i < ng; i++) {
            hg_stream_push(st, gold[i], piece, sizeof piece);
            strcat(acc, piece);
        }
        hg_stream_finish(st, piece, sizeof piece);
        strcat(acc, piece);
        assert_string_equal(acc, dec);
        hg_stream_free(st);
        free(acc);
        free(dec);
        free(dec_skip);
        free(ids);
        free(gold);
        n++;
    }
    print_message("%s: %d cases identical\n", golden_path, n);
    assert_true(n >= 10);
    cJSON_Delete(g);
    hg_tokenizer_free(t);
}

static void test_golden_tiny(void **state)
{
    (void)state;
    run_golden(HG_FIXTURES "/tiny-huginn/tokenizer.json", HG_FIXTURES "/tokenizers/tiny.golden.json");
}

static void test_golden_medium(void **state)
{
    (void)state;
    run_golden(HG_FIXTURES "/tokenizers/medium.tokenizer.json", HG_FIXTURES "/tokenizers/medium.golden.json");
}

static void test_chat(void **state)
{
    (void)state;
    hg_tokenizer *t;
    hg_err e;
    assert_int_equal(hg_tokenizer_load_dir(HG_FIXTURES "/tiny-huginn", &t, &e), HG_OK);
    assert_null(hg_tokenizer_warning(t));
    assert_int_equal(hg_tokenizer_bos_id(t), 480);
    cJSON *g = tu_read_json(HG_FIXTURES "/tiny-huginn.chat.json");
    const cJSON *conv;
    int n = 0;
    cJSON_ArrayForEach(conv, g)
    {
        const cJSON *msgs = cJSON_GetObjectItem(conv, "messages");
        int nm = cJSON_GetArraySize(msgs);
        hg_chat_msg m[16];
        for (int i = 0; i < nm; i++) {
            const cJSON *it = cJSON_GetArrayItem(msgs, i);
            m[i].role = cJSON_GetObjectItem(it, "role")->valuestring;
            m[i].content = cJSON_GetObjectItem(it, "content")->valuestring;
        }
        char *text = hg_chat_render(m, nm, 1);
        assert_string_equal(text, cJSON_GetObjectItem(conv, "text")->valuestring);
        int32_t *ids;
        int nid, ng;
        assert_int_equal(hg_chat_tokenize(t, m, nm, 1, &ids, &nid, &e), HG_OK);
        int32_t *gold = tu_json_ids(cJSON_GetObjectItem(conv, "ids"), &ng);
        assert_int_equal(nid, ng);
        assert_memory_equal(ids, gold, sizeof(int32_t) * (size_t)ng);
        free(text);
        free(ids);
        free(gold);
        n++;
    }
    assert_int_equal(n, 3);
    cJSON_Delete(g);
    hg_tokenizer_free(t);
}

/* A small tokenizer.json: byte-level BPE over a-z and space, with a Split. */
static hg_tokenizer *mk(const char *pretok, const char *extra, hg_err *e, hg_status *st)
{
    static char json[8192];
    char vocab[4096] = "";
    int id = 0;
    const char *chars = "abcdefghijklmnopqrstuvwxyz0123456789!.,;-\\u0120";
    /* single characters, then a few merges */
    for (const char *c = chars; *c; c++) {
        if (*c == '\\') {
            snprintf(vocab + strlen(vocab), sizeof vocab - strlen(vocab), "%s\"\\u0120\": %d", id ? ", " : "", id);
            id++;
            break;
        }
        snprintf(vocab + strlen(vocab), sizeof vocab - strlen(vocab), "%s\"%c\": %d", id ? ", " : "", *c, id);
        id++;
    }
    snprintf(vocab + strlen(vocab), sizeof vocab - strlen(vocab), ", \"ab\": %d, \"abc\": %d", id, id + 1);
    snprintf(json, sizeof json,
             "{\"added_tokens\": [{\"id\": 100, \"content\": \"<s>\", \"special\": true, \"normalized\": false},"
             " {\"id\": 101, \"content\": \"</s>\", \"special\": true, \"normalized\": false}],"
             " \"normalizer\": null, \"pre_tokenizer\": %s, \"post_processor\": null,"
             " \"decoder\": {\"type\": \"ByteLevel\"}, %s"
             " \"model\": {\"type\": \"BPE\", \"vocab\": {%s}, \"merges\": [\"a b\", [\"ab\", \"c\"]]}}",
             pretok, extra ? extra : "", vocab);
    char path[] = "/tmp/huginn-tok-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs(json, f);
    fclose(f);
    hg_tokenizer *t = NULL;
    *st = hg_tokenizer_load(path, &t, e);
    unlink(path);
    return t;
}

/* The tokens of text after a Split with the given pattern ({"Regex": ...} or
 * {"String": ...}), behaviour and invert, then a ByteLevel without regex:
 * their texts joined by | show the piece boundaries, since BPE merges ("a b"
 * -> "ab", "ab c" -> "abc") never cross them. */
static char *split_tokens(const char *pattern, const char *behavior, int invert, const char *text)
{
    char pt[512];
    snprintf(pt, sizeof pt,
             "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": %s,"
             " \"behavior\": \"%s\", \"invert\": %s}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false,"
             " \"use_regex\": false}]}",
             pattern, behavior, invert ? "true" : "false");
    hg_err e;
    hg_status st;
    hg_tokenizer *t = mk(pt, NULL, &e, &st);
    if (st != HG_OK) fail_msg("mk: %s", e.msg);
    int32_t *ids;
    int n;
    assert_int_equal(hg_tokenize(t, text, strlen(text), 0, &ids, &n, &e), HG_OK);
    static char out[512];
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        strcat(out, i ? "|" : "");
        strcat(out, hg_tokenizer_id_text(t, ids[i]));
    }
    free(ids);
    hg_tokenizer_free(t);
    return out;
}

static char *pieces(const char *behavior, int invert, const char *text)
{
    return split_tokens("{\"Regex\": \"[,-]\"}", behavior, invert, text);
}

static char *bound(const char *behavior, int invert, const char *text)
{
    return split_tokens("{\"String\": \"b\"}", behavior, invert, text);
}

static void test_split_behaviours(void **state)
{
    (void)state;
    /* "abc,ab-c": the merges make "abc" and "ab" where a piece allows */
    assert_string_equal(pieces("Isolated", 0, "abc,ab-c"), "abc|,|ab|-|c");
    assert_string_equal(pieces("Removed", 0, "abc,ab-c"), "abc|ab|c");
    assert_string_equal(pieces("MergedWithPrevious", 0, "abc,ab-c"), "abc|,|ab|-|c");
    assert_string_equal(pieces("MergedWithNext", 0, "abc,ab-c"), "abc|,|ab|-|c");
    assert_string_equal(pieces("Contiguous", 0, "abc,,ab-c"), "abc|,|,|ab|-|c");
    /* with invert the letters are the "matches" */
    assert_string_equal(pieces("Removed", 1, "abc,ab-c"), ",|-");
    assert_string_equal(pieces("Isolated", 1, "ab,c"), "ab|,|c");
    /* merged pieces become one BPE word: "a" "b" merge across the delimiter rule */
    char *mp = pieces("MergedWithPrevious", 1, "a,b");
    assert_string_equal(mp, "a|,|b");
}

static void test_split_merges(void **state)
{
    (void)state;
    /* "abcab": matches of "b" at 1 and 4 */
    assert_string_equal(bound("Isolated", 0, "abcab"), "a|b|c|a|b");
    assert_string_equal(bound("Removed", 0, "abcab"), "a|c|a");
    assert_string_equal(bound("MergedWithPrevious", 0, "abcab"), "ab|c|ab");   /* "ab","cab" -> ab | c ab? */
    assert_string_equal(bound("MergedWithNext", 0, "abcab"), "a|b|c|a|b");      /* "a","bca","b" */
    assert_string_equal(bound("Contiguous", 0, "abbc"), "a|b|b|c");
    assert_string_equal(bound("Removed", 1, "abcab"), "b|b");
    assert_string_equal(bound("MergedWithPrevious", 1, "abcab"), "a|b|c|a|b");
}

static void test_added_tokens_edges(void **state)
{
    (void)state;
    hg_tokenizer *t;
    hg_err e;
    assert_int_equal(hg_tokenizer_load(HG_FIXTURES "/tiny-huginn/tokenizer.json", &t, &e), HG_OK);
    const char *cases[] = {"<|begin_text|>", "<|begin_text|><|end_text|>", "x<|end_turn|>", "<|end_turn|>x",
                           "<|begin_header|><|end_header|>\n"};
    int32_t *ids;
    int n;
    assert_int_equal(hg_tokenize(t, cases[0], strlen(cases[0]), 0, &ids, &n, &e), HG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 480);
    free(ids);
    assert_int_equal(hg_tokenize(t, cases[1], strlen(cases[1]), 0, &ids, &n, &e), HG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 480);
    assert_int_equal(ids[1], 481);
    free(ids);
    assert_int_equal(hg_tokenize(t, cases[2], strlen(cases[2]), 0, &ids, &n, &e), HG_OK);
    assert_int_equal(ids[n - 1], 484);
    free(ids);
    assert_int_equal(hg_tokenize(t, cases[3], strlen(cases[3]), 0, &ids, &n, &e), HG_OK);
    assert_int_equal(ids[0], 484);
    free(ids);
    assert_int_equal(hg_tokenize(t, cases[4], strlen(cases[4]), 0, &ids, &n, &e), HG_OK);
    assert_int_equal(ids[0], 482);
    assert_int_equal(ids[1], 483);
    free(ids);
    /* empty input */
    assert_int_equal(hg_tokenize(t, "", 0, 0, &ids, &n, &e), HG_OK);
    assert_int_equal(n, 0);
    free(ids);
    char *txt;
    assert_int_equal(hg_detokenize(t, NULL, 0, 0, &txt, &e), HG_OK);
    assert_string_equal(txt, "");
    free(txt);
    /* skip-special decode */
    int32_t sp[] = {480, 72, 105, 484};
    assert_int_equal(hg_detokenize(t, sp, 4, 1, &txt, &e), HG_OK);
    assert_string_equal(txt, "Hi");
    free(txt);
    assert_int_equal(hg_detokenize(t, sp, 4, 0, &txt, &e), HG_OK);
    assert_string_equal(txt, "<|begin_text|>Hi<|end_turn|>");
    free(txt);
    int32_t bad[] = {99999};
    assert_int_equal(hg_detokenize(t, bad, 1, 0, &txt, &e), HG_E_ARG);
    hg_tokenizer_free(t);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    hg_tokenizer *t;
    hg_err e;
    assert_int_equal(hg_tokenizer_load(HG_FIXTURES "/tokenizers/medium.tokenizer.json", &t, &e), HG_OK);
    const char bad[] = "ok \xff\xfe then \xe2\x82 end \xf0\x9f\x98";
    int32_t *ids, *ids2;
    int n, n2;
    assert_int_equal(hg_tokenize(t, bad, sizeof bad - 1, 0, &ids, &n, &e), HG_OK);
    /* identical to the text with U+FFFD in place of each maximal invalid sequence */
    const char fixed[] = "ok \xEF\xBF\xBD\xEF\xBF\xBD then \xEF\xBF\xBD end \xEF\xBF\xBD";
    assert_int_equal(hg_tokenize(t, fixed, sizeof fixed - 1, 0, &ids2, &n2, &e), HG_OK);
    assert_int_equal(n, n2);
    assert_memory_equal(ids, ids2, sizeof(int32_t) * (size_t)n);
    char *txt;
    assert_int_equal(hg_detokenize(t, ids, n, 0, &txt, &e), HG_OK);
    free(txt);
    free(ids);
    free(ids2);
    hg_tokenizer_free(t);
}

static void test_streaming(void **state)
{
    (void)state;
    hg_tokenizer *t;
    hg_err e;
    assert_int_equal(hg_tokenizer_load(HG_FIXTURES "/tiny-huginn/tokenizer.json", &t, &e), HG_OK);
    /* "é🤖" as single-byte tokens: the byte-level ids of each byte */
    const char *s = "\xc3\xa9\xf0\x9f\xa4\x96!";
    int32_t *ids;
    int n;
    assert_int_equal(hg_tokenize(t, s, strlen(s), 0, &ids, &n, &e), HG_OK);
    /* push byte tokens one by one: nothing appears until a character is complete */
    hg_stream *st = hg_stream_new(t, 0);
    char out[64], acc[64] = "";
    int emitted_partial = 0;
    for (int i = 0; i < n; i++) {
        size_t k = hg_stream_push(st, ids[i], out, sizeof out);
        for (size_t j = 0; j < k; j++) emitted_partial |= ((unsigned char)out[j] == 0xEF); /* U+FFFD */
        strcat(acc, out);
    }
    assert_int_equal(hg_stream_finish(st, out, sizeof out), 0);
    assert_string_equal(acc, s);
    assert_false(emitted_partial);
    hg_stream_free(st);
    /* a dangling partial sequence at the end becomes U+FFFD: push only the
     * first byte token of the emoji (ids[2]: 0xF0; ids[0..1] are the two bytes of é) */
    st = hg_stream_new(t, 0);
    const char *tx = hg_tokenizer_id_text(t, ids[2]);
    assert_non_null(tx);
    assert_int_equal(hg_stream_push(st, ids[2], out, sizeof out), 0);
    assert_int_equal(hg_stream_finish(st, out, sizeof out), 3);
    assert_string_equal(out, "\xEF\xBF\xBD");
    hg_stream_free(st);
    free(ids);
    hg_tokenizer_free(t);
}

static void test_normalizers(void **state)
{
    (void)state;
    hg_err e;
    hg_tokenizer *t;
    char json[] = "{\"added_tokens\": [], \"normalizer\": {\"type\": \"NFKC\"}, \"pre_tokenizer\": null,"
                  " \"decoder\": null, \"model\": {\"type\": \"BPE\", \"vocab\": {\"f\": 0, \"i\": 1, \"1\": 2, \"A\": 3,"
                  " \"\\u00c5\": 4}, \"merges\": []}}";
    char path[] = "/tmp/huginn-tok-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs(json, f);
    fclose(f);
    assert_int_equal(hg_tokenizer_load(path, &t, &e), HG_OK);
    unlink(path);
    int32_t *ids;
    int n;
    /* U+FB01 (fi ligature) -> "fi"; U+2460 (circled 1) -> "1"; A + U+030A -> U+00C5 */
    const char *s = "\xef\xac\x81\xe2\x91\xa0" "A\xcc\x8a";
    assert_int_equal(hg_tokenize(t, s, strlen(s), 0, &ids, &n, &e), HG_OK);
    int32_t want[] = {0, 1, 2, 4};
    assert_int_equal(n, 4);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    hg_tokenizer_free(t);
}

static void test_broken_files(void **state)
{
    (void)state;
    hg_tokenizer *t;
    hg_err e;
    assert_int_not_equal(hg_tokenizer_load("/nonexistent/tokenizer.json", &t, &e), HG_OK);
    assert_non_null(strstr(e.msg, "/nonexistent/tokenizer.json"));
    char path[] = "/tmp/huginn-tok-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}", f); /* truncated */
    fclose(f);
    assert_int_equal(hg_tokenizer_load(path, &t, &e), HG_E_FORMAT);
    assert_non_null(strstr(e.msg, path));
    unlink(path);
    hg_status st;
    t = mk("{\"type\": \"Metaspace\"}", NULL, &e, &st);
    assert_int_equal(st, HG_E_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "Metaspace"));
    t = mk("{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}", NULL, &e, &st);
    assert_int_equal(st, HG_E_FORMAT);
    assert_non_null(strstr(e.msg, "regex"));
    t = mk("{\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Sideways\"}", NULL, &e, &st);
    assert_int_equal(st, HG_E_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "Sideways"));
}

/* Messages ending in a cut UTF-8 sequence: trim never reads past the end and
 * keeps the bytes (they become U+FFFD when tokenized). */
static void test_chat_cut_utf8(void **state)
{
    (void)state;
    static const struct { const char *in, *kept; } cases[] = {
        {"\xe2\x80", "\xe2\x80"},           {"a \xe2\x80", "a \xe2\x80"},     {"\xe2\x80 ", "\xe2\x80"},
        {" \xf0\x9f", "\xf0\x9f"},          {"\xe2", "\xe2"},                 {" \xe2\x80\x83 x \xe2\x80\x83", "x"},
        {"x \x80", "x \x80"},               {"\xc2", "\xc2"},                 {"\xe2\x80\xa8", ""},
    };
    hg_tokenizer *t;
    hg_err e;
    assert_int_equal(hg_tokenizer_load_dir(HG_FIXTURES "/tiny-huginn", &t, &e), HG_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the message at the very end of its own allocation */
        size_t n = strlen(cases[i].in);
        char *c = malloc(n + 1);
        memcpy(c, cases[i].in, n + 1);
        hg_chat_msg m[2] = {{"system", c}, {"user", c}};
        char *r = hg_chat_render(m, 2, 1);
        assert_non_null(r);
        char want[256];
        snprintf(want, sizeof want,
                 "<|begin_text|><|begin_header|>system<|end_header|>\n\n%s<|end_turn|>"
                 "<|begin_header|>user<|end_header|>\n\n%s<|end_turn|><|begin_header|>Huginn<|end_header|>\n\n",
                 cases[i].kept, cases[i].kept);
        if (strcmp(r, want)) fail_msg("case %zu: rendered '%s'", i, r);
        int32_t *ids;
        int nid;
        assert_int_equal(hg_chat_tokenize(t, m, 2, 1, &ids, &nid, &e), HG_OK);
        assert_true(nid > 10);
        free(ids);
        free(r);
        free(c);
    }
    hg_tokenizer_free(t);
}

/* Numbers out of range in tokenizer.json: a load error, no conversion UB. */
static void test_huge_numbers(void **state)
{
    (void)state;
    static const char *files[] = {
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1e300}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1e300}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0.5}, \"merges\": []}}",
        "{\"added_tokens\": [{\"id\": 1e300, \"content\": \"<s>\"}], \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0},"
        " \"merges\": []}}",
        "{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}},"
        " {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [1e300]}}},"
        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[] = "/tmp/huginn-tok-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");
        fputs(files[i], f);
        fclose(f);
        hg_tokenizer *t = NULL;
        hg_err e;
        hg_status st = hg_tokenizer_load(path, &t, &e);
        unlink(path);
        if (st == HG_OK) fail_msg("file %zu loaded", i);
        assert_int_equal(st, HG_E_FORMAT);
    }
}

/* A FIFO where tokenizer.json is expected: an error at once. */
static void test_fifo(void **state)
{
    (void)state;
    char dir[] = "/tmp/huginn-tok-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    hg_tokenizer *t = NULL;
    hg_err e;
    assert_int_equal(hg_tokenizer_load(path, &t, &e), HG_E_IO);
    assert_non_null(strstr(e.msg, "not a regular file"));
    assert_int_equal(hg_tokenizer_load_dir(dir, &t, &e), HG_E_IO);
    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0); /* a directory */
    assert_int_equal(hg_tokenizer_load(path, &t, &e), HG_E_IO);
    rmdir(path);
    rmdir(dir);
}

/* ----------------------------------------------- long pieces (bpe_piece) */

/* An independent BPE for the checks below: the merges of a tokenizer.json
 * in a small hash map, then the textbook loop (merge the leftmost pair of
 * lowest rank, rescanning the whole piece each time: quadratic, fine for a
 * few thousand bytes). */
typedef struct ref_bpe {
    cJSON *root, *vocab;
    uint64_t *key;
    int *rank, *merged, cap;
    int byte_id[256];
} ref_bpe;

static uint64_t ref_key(int a, int b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

static int ref_id(const ref_bpe *r, const char *s)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->vocab, s);
    return v ? v->valueint : -1;
}

static void ref_load(ref_bpe *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->root = tu_read_json(path);
    assert_non_null(r->root);
    const cJSON *model = cJSON_GetObjectItem(r->root, "model");
    r->vocab = cJSON_GetObjectItem(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItem(model, "merges");
    r->cap = 1;
    while (r->cap < 4 * cJSON_GetArraySize(merges)) r->cap *= 2;
    r->key = calloc((size_t)r->cap, sizeof *r->key);
    r->rank = calloc((size_t)r->cap, sizeof *r->rank);
    r->merged = calloc((size_t)r->cap, sizeof *r->merged);
    int rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges)
    {
        char a[256], b[256], ab[512];
        if (cJSON_IsString(m)) {
            const char *sp = strchr(m->valuestring, ' ');
            snprintf(a, sizeof a, "%.*s", (int)(sp - m->valuestring), m->valuestring);
            snprintf(b, sizeof b, "%s", sp + 1);
        } else {
            snprintf(a, sizeof a, "%s", cJSON_GetArrayItem(m, 0)->valuestring);
            snprintf(b, sizeof b, "%s", cJSON_GetArrayItem(m, 1)->valuestring);
        }
        snprintf(ab, sizeof ab, "%s%s", a, b);
        uint64_t k = ref_key(ref_id(r, a), ref_id(r, b));
        size_t j = (size_t)(k * 0x9E3779B97F4A7C15ull >> 20) & (size_t)(r->cap - 1);
        while (r->key[j] && r->key[j] != k) j = (j + 1) & (size_t)(r->cap - 1);
        if (!r->key[j]) { /* the first of duplicate merges wins */
            r->key[j] = k;
            r->rank[j] = rank;
            r->merged[j] = ref_id(r, ab);
        }
        rank++;
    }
    /* the GPT-2 byte-level table, written out again here */
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int cp = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174 ? b : 256 + n++;
        char u[4] = {0};
        if (cp < 0x80) u[0] = (char)cp;
        else u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F));
        r->byte_id[b] = ref_id(r, u);
    }
}

static int ref_lookup(const ref_bpe *r, int a, int b, int *merged)
{
    uint64_t k = ref_key(a, b);
    size_t j = (size_t)(k * 0x9E3779B97F4A7C15ull >> 20) & (size_t)(r->cap - 1);
    while (r->key[j]) {
        if (r->key[j] == k) {
            *merged = r->merged[j];
            return r->rank[j];
        }
        j = (j + 1) & (size_t)(r->cap - 1);
    }
    return -1;
}

/* The ids of one pre-token p[0, n). */
static int ref_encode(const ref_bpe *r, const char *p, int n, int32_t *ids)
{
    for (int i = 0; i < n; i++) ids[i] = r->byte_id[(unsigned char)p[i]];
    for (;;) {
        int best = -1, best_rank = 0, best_id = 0;
        for (int i = 0; i + 1 < n; i++) {
            int m, rk = ref_lookup(r, ids[i], ids[i + 1], &m);
            if (rk >= 0 && (best < 0 || rk < best_rank)) best = i, best_rank = rk, best_id = m;
        }
        if (best < 0) return n;
        ids[best] = best_id;
        memmove(ids + best + 1, ids + best + 2, sizeof *ids * (size_t)(n - best - 2));
        n--;
    }
}

static void ref_free(ref_bpe *r)
{
    cJSON_Delete(r->root);
    free(r->key);
    free(r->rank);
    free(r->merged);
}

static uint64_t g_rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)g_rng;
}

/* Random letters (one pre-token however long), random CJK (3 bytes each),
 * one letter repeated, mixed runs: pieces longer than the piece cache's
 * limit, which BPE cuts where no merge joins two bytes; the ids must be
 * those of the textbook BPE on the whole piece. */
static void test_long_pieces_exact(void **state)
{
    (void)state;
    const char *path = HG_FIXTURES "/demo-huginn/tokenizer.json";
    hg_tokenizer *t;
    hg_err e;
    assert_int_equal(hg_tokenizer_load(path, &t, &e), HG_OK);
    ref_bpe r;
    ref_load(&r, path);
    static char text[16384];
    static int32_t want[16384];
    for (int kind = 0; kind < 5; kind++)
        for (int len = 200; len <= 4000; len = len * 3 / 2) {
            int n = 0;
            while (n < len) {
                if (kind == 0) text[n++] = (char)('a' + rnd() % 26);
                else if (kind == 1) { /* U+4E00..U+9FFF */
                    int cp = 0x4E00 + (int)(rnd() % 0x5200);
                    text[n++] = (char)(0xE0 | cp >> 12);
                    text[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
                    text[n++] = (char)(0x80 | (cp & 0x3F));
                } else if (kind == 2) text[n++] = 'a';
                else if (kind == 3) text[n++] = "etaoinshrdlu"[rnd() % 12]; /* common letters: more merges */
                else text[n++] = (char)('a' + rnd() % 3);
            }
            text[n] = 0;
            int nw = ref_encode(&r, text, n, want);
            int32_t *ids;
            int nid;
            assert_int_equal(hg_tokenize(t, text, (size_t)n, 0, &ids, &nid, &e), HG_OK);
            if (nid != nw || memcmp(ids, want, sizeof *ids * (size_t)nw))
                fail_msg("kind %d, %d bytes: %d ids, the textbook BPE %d (or different ids)", kind, n, nid, nw);
            free(ids);
        }
    ref_free(&r);
    hg_tokenizer_free(t);
}

/* Peak RSS growth (KiB) and milliseconds of hg_tokenize in a child process
 * (ru_maxrss there counts from the fork); its status in *st. */
static long child_tokenize(hg_tokenizer *t, const char *text, size_t len, hg_status *st, long *ms, int *nid)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        int32_t *ids;
        int n = 0;
        hg_err e;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        hg_status s = hg_tokenize(t, text, len, 0, &ids, &n, &e);
        clock_gettime(CLOCK_MONOTONIC, &b);
        getrusage(RUSAGE_SELF, &ru1);
        long r[4] = {s, ru1.ru_maxrss - ru0.ru_maxrss, n,
                     (long)((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000)};
        if (write(fd[1], r, sizeof r) != (ssize_t)sizeof r) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    long r[4] = {-1, 0, 0, 0};
    assert_int_equal(read(fd[0], r, sizeof r), (ssize_t)sizeof r);
    close(fd[0]);
    int wst;
    waitpid(pid, &wst, 0);
    *st = (hg_status)r[0];
    *ms = r[3];
    *nid = (int)r[2];
    return r[1];
}

/* Tokenizing 8 MiB with no split point took ~32x the text in memory: the
 * regex's backtrack stack (32 bytes a letter of \p{L}+) and BPE's heap over
 * the one piece.  Now: such a text is refused with one line, at once, in
 * bounded memory; 8 MiB of runs of 10^6 letters (or 10^5 CJK characters)
 * between spaces is tokenized in a few times its size. */
static void test_long_piece_memory(void **state)
{
    (void)state;
    int asan = 0;
#if defined(__SANITIZE_ADDRESS__)
    asan = 1; /* ASan's quarantine and shadow make RSS meaningless */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    asan = 1;
#endif
#endif
    hg_tokenizer *t;
    hg_err e;
    assert_int_equal(hg_tokenizer_load(HG_FIXTURES "/demo-huginn/tokenizer.json", &t, &e), HG_OK);
    const size_t len = 8u << 20;
    char *text = malloc(len + 1);
    for (int kind = 0; kind < 3; kind++) {
        for (size_t i = 0; i < len;) {
            if (kind == 2 && i + 3 <= len) {
                int cp = 0x4E00 + (int)(rnd() % 0x5200);
                text[i++] = (char)(0xE0 | cp >> 12);
                text[i++] = (char)(0x80 | (cp >> 6 & 0x3F));
                text[i++] = (char)(0x80 | (cp & 0x3F));
                if (i % 300000 < 3 && i + 1 < len) text[i++] = ' ';
            } else {
                text[i] = (char)('a' + rnd() % 26);
                if (kind == 1 && i % 1000000 == 999999) text[i] = ' ';
                i++;
            }
        }
        text[len] = 0;
        hg_status st;
        long ms;
        int nid;
        long kib = child_tokenize(t, text, len, &st, &ms, &nid);
        double factor = (double)kib * 1024 / (double)len;
        static const char *names[] = {"8 MiB of letters, no space", "8 MiB of 10^6-letter runs",
                                      "8 MiB of 10^5-character CJK runs"};
        printf("%s: status %d, %d ids, peak RSS +%ld KiB (%.1fx the text), %ld ms\n", names[kind], st, nid, kib,
               factor, ms);
        if (kind == 0) {
            assert_int_equal(st, HG_E_RANGE);
            assert_int_equal(hg_tokenize(t, text, len, 0, &(int32_t *){NULL}, &nid, &e), HG_E_RANGE);
            assert_non_null(strstr(e.msg, "no space or punctuation"));
            if (!asan && kib > 48 * 1024) fail_msg("refusing it took %ld KiB", kib);
        } else {
            assert_int_equal(st, HG_OK);
            if (!asan && factor > 12) fail_msg("%s took %.1fx its size in memory", names[kind], factor);
        }
    }
    free(text);
    hg_tokenizer_free(t);
}

/* A byte-level tokenizer with no regex whose one merge joins "a a": a run of
 * 'a' cannot be cut.  Over HG_TOK_RUN_MAX bytes it is refused with one line;
 * 10^6 of them give 500000 "aa".  Through the demo tokenizer (whose regex
 * keeps letters together) the same run is refused by the regex limit. */
static void test_long_run_limit(void **state)
{
    (void)state;
    char path[] = "/tmp/huginn-tok-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs("{\"model\": {\"type\": \"BPE\", \"vocab\": {", f);
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int cp = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174 ? b : 256 + n++;
        if (cp == '"' || cp == '\\') fprintf(f, "\"\\%c\": %d, ", cp, b);
        else if (cp < 0x80) fprintf(f, "\"%c\": %d, ", cp, b);
        else fprintf(f, "\"\\u%04x\": %d, ", cp, b);
    }
    fputs("\"aa\": 256}, \"merges\": [\"a a\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false,"
          " \"use_regex\": false}, \"decoder\": {\"type\": \"ByteLevel\"}}", f);
    fclose(f);
    hg_tokenizer *t, *demo;
    hg_err e;
    if (hg_tokenizer_load(path, &t, &e)) fail_msg("%s", e.msg);
    unlink(path);
    assert_int_equal(hg_tokenizer_load(HG_FIXTURES "/demo-huginn/tokenizer.json", &demo, &e), HG_OK);
    size_t big = (size_t)HG_TOK_RUN_MAX + 1;
    char *text = malloc(big + 1);
    memset(text, 'a', big);
    text[big] = 0;
    int32_t *ids;
    int nid;
    assert_int_equal(hg_tokenize(t, text, big, 0, &ids, &nid, &e), HG_E_RANGE);
    assert_null(ids);
    assert_non_null(strstr(e.msg, "no possible token boundary"));
    assert_null(strchr(e.msg, '\n'));
    assert_int_equal(hg_tokenize(demo, text, big, 0, &ids, &nid, &e), HG_E_RANGE);
    assert_non_null(strstr(e.msg, "no space or punctuation"));
    assert_null(strchr(e.msg, '\n'));
    assert_int_equal(hg_tokenize(t, text, 1000000, 0, &ids, &nid, &e), HG_OK);
    assert_int_equal(nid, 500000);
    for (int i = 0; i < nid; i++) assert_int_equal(ids[i], 256);
    free(ids);
    /* 'b' ends every run (no merge joins a and b): cut there, each run fine */
    for (size_t i = 999; i < big; i += 1000) text[i] = 'b';
    assert_int_equal(hg_tokenize(t, text, big, 0, &ids, &nid, &e), HG_OK);
    char *back;
    assert_int_equal(hg_detokenize(t, ids, nid, 0, &back, &e), HG_OK);
    assert_string_equal(back, text);
    free(back);
    free(ids);
    free(text);
    hg_tokenizer_free(t);
    hg_tokenizer_free(demo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_tiny),       cmocka_unit_test(test_golden_medium),
        cmocka_unit_test(test_chat),              cmocka_unit_test(test_split_behaviours),
        cmocka_unit_test(test_split_merges),      cmocka_unit_test(test_added_tokens_edges),
        cmocka_unit_test(test_invalid_utf8),      cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_normalizers),       cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_chat_cut_utf8),     cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_fifo),              cmocka_unit_test(test_long_pieces_exact),
        cmocka_unit_test(test_long_piece_memory), cmocka_unit_test(test_long_run_limit),
    };
    return cmocka_run_group_tests_name("tokenizer", tests, NULL, NULL);
}
