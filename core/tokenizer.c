/* tokenizer.c — Hugging Face tokenizer.json (byte-level BPE), exact to the
 * `tokenizers` library (TOKENIZER.md).
 *
 * encode: invalid UTF-8 -> U+FFFD; split on added tokens (leftmost-longest,
 * lstrip/rstrip/single_word); normalizer; pre-tokenizers (Split on an
 * Oniguruma regex with every behaviour and invert, ByteLevel with or without
 * the GPT-2 regex); BPE with merge ranks in a hash table and a cache of
 * encoded pieces; post-processor (TemplateProcessing or none).
 * decode: token strings through the ByteLevel decoder, lossy UTF-8. */
#include "internal.h"
#include "tok_unicode.h"

#include <cjson/cJSON.h>
#include <oniguruma.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- hash map */

typedef struct smap_ent {
    char *key;
    int len;
    int val;
} smap_ent;

typedef struct smap { /* string -> int, open addressing */
    smap_ent *e;
    size_t cap, n;
} smap;

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static int smap_grow(smap *m)
{
    size_t nc = m->cap ? m->cap * 2 : 1024;
    smap_ent *ne = calloc(nc, sizeof *ne);
    if (!ne) return 0;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->e[i].key) continue;
        size_t j = hash_bytes(m->e[i].key, (size_t)m->e[i].len) & (nc - 1);
        while (ne[j].key) j = (j + 1) & (nc - 1);
        ne[j] = m->e[i];
    }
    free(m->e);
    m->e = ne;
    m->cap = nc;
    return 1;
}

static int smap_get(const smap *m, const char *k, int len)
{
    if (!m->cap) return -1;
    size_t j = hash_bytes(k, (size_t)len) & (m->cap - 1);
    while (m->e[j].key) {
        if (m->e[j].len == len && !memcmp(m->e[j].key, k, (size_t)len)) return m->e[j].val;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

/* Insert or overwrite; returns 0 on allocation failure. */
static int smap_put(smap *m, const char *k, int len, int val)
{
    if ((m->n + 1) * 2 > m->cap && !smap_grow(m)) return 0;
    size_t j = hash_bytes(k, (size_t)len) & (m->cap - 1);
    while (m->e[j].key) {
        if (m->e[j].len == len && !memcmp(m->e[j].key, k, (size_t)len)) {
            m->e[j].val = val;
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    char *c = malloc((size_t)len + 1);
    if (!c) return 0;
    memcpy(c, k, (size_t)len);
    c[len] = 0;
    m->e[j] = (smap_ent){c, len, val};
    m->n++;
    return 1;
}

static void smap_free(smap *m)
{
    for (size_t i = 0; i < m->cap; i++) free(m->e[i].key);
    free(m->e);
    memset(m, 0, sizeof *m);
}

typedef struct mmap_ent { /* merge pair (a, b) -> rank, new id */
    uint64_t key;
    int rank, id;
} mmap_ent;

typedef struct mmap_ {
    mmap_ent *e;
    size_t cap, n;
} pmap;

static uint64_t pair_key(int a, int b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

static size_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

static int pmap_put(pmap *m, uint64_t key, int rank, int id)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        mmap_ent *ne = calloc(nc, sizeof *ne);
        if (!ne) return 0;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].key) continue;
            size_t j = mix64(m->e[i].key) & (nc - 1);
            while (ne[j].key) j = (j + 1) & (nc - 1);
            ne[j] = m->e[i];
        }
        free(m->e);
        m->e = ne;
        m->cap = nc;
    }
    size_t j = mix64(key) & (m->cap - 1);
    while (m->e[j].key) {
        if (m->e[j].key == key) return 1; /* the first (lowest rank) merge wins */
        j = (j + 1) & (m->cap - 1);
    }
    m->e[j] = (mmap_ent){key, rank, id};
    m->n++;
    return 1;
}

static const mmap_ent *pmap_get(const pmap *m, uint64_t key)
{
    if (!m->cap) return NULL;
    size_t j = mix64(key) & (m->cap - 1);
    while (m->e[j].key) {
        if (m->e[j].key == key) return &m->e[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

/* ------------------------------------------------------------- model */

typedef enum { SPLIT_ISOLATED, SPLIT_REMOVED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS } split_behavior;

typedef struct pretok {
    enum { PT_SPLIT, PT_BYTELEVEL } type;
    regex_t *re;             /* Split (Regex or escaped String), ByteLevel with use_regex */
    split_behavior behavior;
    int invert;
    int add_prefix_space;
} pretok;

typedef struct added_tok {
    char *content;
    int len, id;
    int special, lstrip, rstrip, single_word, normalized;
} added_tok;

typedef struct tmpl_item {
    int is_seq;              /* $A: the sequence itself */
    int n_ids;
    int32_t *ids;            /* the special token's ids */
} tmpl_item;

typedef struct cache_ent {
    char *key;
    int len;
    int n;
    int32_t *ids;
    struct cache_ent *next;
} cache_ent;

#define CACHE_BUCKETS 8192
#define CACHE_MAX 200000

struct hg_tokenizer {
    smap vocab;              /* token string -> id (model vocab)           */
    char **id_str;           /* id -> token string (vocab and added)       */
    int *id_len;
    int n_ids;               /* size of id_str                             */
    pmap merges;
    int ignore_merges, byte_fallback, unk_id;
    char *cont_prefix, *eow_suffix;
    added_tok *added;
    int n_added;
    unsigned char added_first[256]; /* a byte some added token starts with */
    int n_norm;
    int norm[8];             /* HG_TOK_NFC / HG_TOK_NFKC in order          */
    pretok *pre;
    int n_pre;
    int bytelevel;           /* a ByteLevel pre-tokenizer maps bytes        */
    int byte_id[256];        /* id of each byte's byte-level char, or -1   */
    int max_tok_len;         /* the longest vocab string, in bytes         */
    /* Byte pairs (u, v) some merge joins: a merge (A, B) with A's last byte
     * u and B's first byte v.  Between two bytes of a pair not in it no
     * merge can ever happen, so BPE may cut a piece there (bpe_piece). */
    unsigned char junction[256 * 256 / 8];
    int cuttable;            /* the junction table is complete and valid    */
    tmpl_item *tmpl;
    int n_tmpl;              /* 0: no post-processor                       */
    int decoder_bytelevel;
    int has_decoder;
    int bos_id;
    char *warning;
    /* encoded-piece cache */
    pthread_mutex_t lock;
    cache_ent *cache[CACHE_BUCKETS];
    int cache_n;
};

static int g_inv[0x200]; /* byte-level code point -> byte, -1 if none */
static void init_inv(void);
static pthread_once_t inv_once = PTHREAD_ONCE_INIT;
static void compute_junctions(hg_tokenizer *t);

/* GPT-2 byte <-> unicode table. */
static void byte_to_cp_table(int *cp)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) cp[b] = b;
        else cp[b] = 256 + n++;
    }
}

static int utf8_put(char *out, int cp)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of a valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static int utf8_valid_len(const unsigned char *s, size_t n)
{
    if (!n) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (n < (size_t)len) return 0;
    unsigned cp = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* Length of the maximal invalid prefix (per the WHATWG/Rust lossy rule: a
 * truncated but otherwise valid prefix of a sequence counts as one). */
static int utf8_invalid_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 1;
    int i = 1;
    if (i < (int)n && s[i] >= lo && s[i] <= hi) {
        i++;
        while (i < len && i < (int)n && (s[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

/* Replace invalid UTF-8 with U+FFFD (malloc'd, NUL-terminated). */
static char *utf8_sanitize(const char *text, size_t len, size_t *out_len)
{
    char *o = malloc(len * 3 + 1);
    if (!o) return NULL;
    size_t j = 0;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        int l = utf8_valid_len(s + i, len - i);
        if (l) {
            memcpy(o + j, s + i, (size_t)l);
            j += (size_t)l;
            i += (size_t)l;
        } else {
            i += (size_t)utf8_invalid_len(s + i, len - i);
            memcpy(o + j, "\xEF\xBF\xBD", 3);
            j += 3;
        }
    }
    o[j] = 0;
    *out_len = j;
    return o;
}

/* Decode the character at s (n > 0 bytes left): its length, or 1 with
 * U+FFFD for an invalid or cut sequence.  Never reads past s + n. */
static int utf8_decode(const char *s, size_t n, int *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    int l = utf8_valid_len(u, n);
    if (!l) { *cp = 0xFFFD; return 1; }
    if (l == 1) *cp = u[0];
    else if (l == 2) *cp = (u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    else if (l == 3) *cp = (u[0] & 0x0F) << 12 | (u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    else *cp = (u[0] & 0x07) << 18 | (u[1] & 0x3F) << 12 | (u[2] & 0x3F) << 6 | (u[3] & 0x3F);
    return l;
}

/* ---------------------------------------------------------------- load */

static pthread_once_t onig_once = PTHREAD_ONCE_INIT;
static void onig_init_once(void)
{
    OnigEncoding encs[1] = {ONIG_ENCODING_UTF8};
    onig_initialize(encs, 1);
}

static hg_status compile_regex(const char *pat, size_t len, int literal, regex_t **out, const char *what, hg_err *err)
{
    pthread_once(&onig_once, onig_init_once);
    char *esc = NULL;
    if (literal) { /* escape every non-alphanumeric ASCII character */
        esc = malloc(len * 2 + 1);
        if (!esc) return hg_fail(err, HG_E_NOMEM, "out of memory");
        size_t j = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)pat[i];
            if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) esc[j++] = '\\';
            esc[j++] = (char)c;
        }
        pat = esc;
        len = j;
    }
    OnigErrorInfo einfo;
    int r = onig_new(out, (const UChar *)pat, (const UChar *)pat + len, ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                     ONIG_SYNTAX_RUBY, &einfo);
    free(esc);
    if (r != ONIG_NORMAL) {
        UChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(msg, r, &einfo);
        return hg_fail(err, HG_E_FORMAT, "%s: bad regex: %s", what, (char *)msg);
    }
    return HG_OK;
}

static const char GPT2_RE[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static hg_status parse_pretok(hg_tokenizer *t, const cJSON *j, const char *path, hg_err *err)
{
    if (!j || cJSON_IsNull(j)) return HG_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(type)) return hg_fail(err, HG_E_FORMAT, "%s: pre_tokenizer without a type", path);
    const char *ty = type->valuestring;
    if (!strcmp(ty, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "pretokenizers"))
        {
            hg_status s = parse_pretok(t, it, path, err);
            if (s) return s;
        }
        return HG_OK;
    }
    pretok p = {0};
    if (!strcmp(ty, "Split")) {
        p.type = PT_SPLIT;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        const cJSON *re = pat ? cJSON_GetObjectItemCaseSensitive(pat, "Regex") : NULL;
        const cJSON *str = pat ? cJSON_GetObjectItemCaseSensitive(pat, "String") : NULL;
        hg_status s;
        if (cJSON_IsString(re)) s = compile_regex(re->valuestring, strlen(re->valuestring), 0, &p.re, path, err);
        else if (cJSON_IsString(str)) s = compile_regex(str->valuestring, strlen(str->valuestring), 1, &p.re, path, err);
        else return hg_fail(err, HG_E_FORMAT, "%s: Split pre_tokenizer without a Regex or String pattern", path);
        if (s) return s;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "behavior");
        const char *bs = cJSON_IsString(b) ? b->valuestring : "";
        if (!strcmp(bs, "Isolated")) p.behavior = SPLIT_ISOLATED;
        else if (!strcmp(bs, "Removed")) p.behavior = SPLIT_REMOVED;
        else if (!strcmp(bs, "MergedWithPrevious")) p.behavior = SPLIT_MERGED_PREV;
        else if (!strcmp(bs, "MergedWithNext")) p.behavior = SPLIT_MERGED_NEXT;
        else if (!strcmp(bs, "Contiguous")) p.behavior = SPLIT_CONTIGUOUS;
        else {
            onig_free(p.re);
            return hg_fail(err, HG_E_UNSUPPORTED, "%s: unsupported Split behavior '%s'", path, bs);
        }
        p.invert = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "invert"));
    } else if (!strcmp(ty, "ByteLevel")) {
        p.type = PT_BYTELEVEL;
        p.add_prefix_space = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "add_prefix_space"));
        const cJSON *ur = cJSON_GetObjectItemCaseSensitive(j, "use_regex");
        if (!ur || cJSON_IsTrue(ur)) {
            hg_status s = compile_regex(GPT2_RE, strlen(GPT2_RE), 0, &p.re, path, err);
            if (s) return s;
        }
        t->bytelevel = 1;
    } else {
        return hg_fail(err, HG_E_UNSUPPORTED, "%s: unsupported pre_tokenizer type '%s'", path, ty);
    }
    pretok *np = realloc(t->pre, sizeof *np * (size_t)(t->n_pre + 1));
    if (!np) {
        if (p.re) onig_free(p.re);
        return hg_fail(err, HG_E_NOMEM, "out of memory");
    }
    t->pre = np;
    t->pre[t->n_pre++] = p;
    return HG_OK;
}

static hg_status parse_normalizer(hg_tokenizer *t, const cJSON *j, const char *path, hg_err *err)
{
    if (!j || cJSON_IsNull(j)) return HG_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const char *ty = cJSON_IsString(type) ? type->valuestring : "";
    if (!strcmp(ty, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "normalizers"))
        {
            hg_status s = parse_normalizer(t, it, path, err);
            if (s) return s;
        }
        return HG_OK;
    }
    int kind;
    if (!strcmp(ty, "NFC")) kind = HG_TOK_NFC;
    else if (!strcmp(ty, "NFKC")) kind = HG_TOK_NFKC;
    else return hg_fail(err, HG_E_UNSUPPORTED, "%s: unsupported normalizer type '%s'", path, ty);
    if (t->n_norm >= 8) return hg_fail(err, HG_E_UNSUPPORTED, "%s: too many normalizers", path);
    t->norm[t->n_norm++] = kind;
    return HG_OK;
}

static int add_id_str(hg_tokenizer *t, int id, const char *s, int len)
{
    if (id < 0 || id > (1 << 24)) return 0;
    if (id >= t->n_ids) {
        int nn = id + 1 > t->n_ids * 2 ? id + 1 : t->n_ids * 2;
        char **ns = realloc(t->id_str, sizeof *ns * (size_t)nn);
        if (!ns) return 0;
        t->id_str = ns;
        int *nl = realloc(t->id_len, sizeof *nl * (size_t)nn);
        if (!nl) return 0;
        t->id_len = nl;
        for (int i = t->n_ids; i < nn; i++) {
            t->id_str[i] = NULL;
            t->id_len[i] = 0;
        }
        t->n_ids = nn;
    }
    free(t->id_str[id]);
    t->id_str[id] = malloc((size_t)len + 1);
    if (!t->id_str[id]) return 0;
    memcpy(t->id_str[id], s, (size_t)len);
    t->id_str[id][len] = 0;
    t->id_len[id] = len;
    return 1;
}

static hg_status parse_model(hg_tokenizer *t, const cJSON *m, const char *path, hg_err *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE")))
        return hg_fail(err, HG_E_UNSUPPORTED, "%s: unsupported model type '%s'", path,
                       cJSON_IsString(type) ? type->valuestring : "?");
    if (!cJSON_IsObject(vocab)) return hg_fail(err, HG_E_FORMAT, "%s: model has no vocab object", path);
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab)
    {
        if (!cJSON_IsNumber(it)) return hg_fail(err, HG_E_FORMAT, "%s: vocab entry '%s' is not a number", path, it->string);
        int id = -1, len = (int)strlen(it->string);
        if (!hg_int_in(it->valuedouble, 0, 1 << 24, &id) || !smap_put(&t->vocab, it->string, len, id) || !add_id_str(t, id, it->string, len))
            return hg_fail(err, HG_E_FORMAT, "%s: bad vocab entry '%s' (id %d)", path, it->string, id);
        if (len > t->max_tok_len) t->max_tok_len = len;
    }
    t->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "ignore_merges"));
    t->byte_fallback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "byte_fallback"));
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(m, "unk_token");
    t->unk_id = cJSON_IsString(unk) ? smap_get(&t->vocab, unk->valuestring, (int)strlen(unk->valuestring)) : -1;
    const cJSON *cp = cJSON_GetObjectItemCaseSensitive(m, "continuing_subword_prefix");
    const cJSON *ew = cJSON_GetObjectItemCaseSensitive(m, "end_of_word_suffix");
    t->cont_prefix = strdup(cJSON_IsString(cp) ? cp->valuestring : "");
    t->eow_suffix = strdup(cJSON_IsString(ew) ? ew->valuestring : "");
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble > 0)
        return hg_fail(err, HG_E_UNSUPPORTED, "%s: BPE dropout is not supported", path);
    int rank = 0, plen = (int)strlen(t->cont_prefix);
    char buf[1024];
    cJSON_ArrayForEach(it, merges)
    {
        const char *a, *b;
        int la, lb;
        if (cJSON_IsString(it)) {
            const char *sp = strchr(it->valuestring, ' ');
            if (!sp) return hg_fail(err, HG_E_FORMAT, "%s: merge '%s' is not 'a b'", path, it->valuestring);
            a = it->valuestring;
            la = (int)(sp - a);
            b = sp + 1;
            lb = (int)strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring;
            b = cJSON_GetArrayItem(it, 1)->valuestring;
            la = (int)strlen(a);
            lb = (int)strlen(b);
        } else {
            return hg_fail(err, HG_E_FORMAT, "%s: merge %d is neither \"a b\" nor [a, b]", path, rank);
        }
        int ia = smap_get(&t->vocab, a, la), ib = smap_get(&t->vocab, b, lb);
        if (ia < 0 || ib < 0) return hg_fail(err, HG_E_FORMAT, "%s: merge %d uses a token missing from the vocab", path, rank);
        /* the merged token: a + b without b's continuing prefix */
        int skip = plen && lb >= plen && !memcmp(b, t->cont_prefix, (size_t)plen) ? plen : 0;
        if (la + lb - skip >= (int)sizeof buf) return hg_fail(err, HG_E_FORMAT, "%s: merge %d too long", path, rank);
        memcpy(buf, a, (size_t)la);
        memcpy(buf + la, b + skip, (size_t)(lb - skip));
        int inew = smap_get(&t->vocab, buf, la + lb - skip);
        if (inew < 0) return hg_fail(err, HG_E_FORMAT, "%s: merge %d makes a token missing from the vocab", path, rank);
        if (!pmap_put(&t->merges, pair_key(ia, ib), rank, inew)) return hg_fail(err, HG_E_NOMEM, "out of memory");
        rank++;
    }
    return HG_OK;
}

static hg_status parse_post(hg_tokenizer *t, const cJSON *j, const char *path, hg_err *err)
{
    if (!j || cJSON_IsNull(j)) return HG_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const char *ty = cJSON_IsString(type) ? type->valuestring : "";
    if (!strcmp(ty, "ByteLevel")) return HG_OK; /* offsets only */
    if (!strcmp(ty, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "processors"))
        {
            hg_status s = parse_post(t, it, path, err);
            if (s) return s;
        }
        return HG_OK;
    }
    if (strcmp(ty, "TemplateProcessing"))
        return hg_fail(err, HG_E_UNSUPPORTED, "%s: unsupported post_processor type '%s'", path, ty);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(j, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
    int n = cJSON_GetArraySize(single);
    t->tmpl = calloc((size_t)(n ? n : 1), sizeof *t->tmpl);
    if (!t->tmpl) return hg_fail(err, HG_E_NOMEM, "out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, single)
    {
        tmpl_item *ti = &t->tmpl[t->n_tmpl];
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        if (sq) {
            ti->is_seq = 1;
        } else if (sp) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(sp, "id");
            const cJSON *st = cJSON_IsString(id) ? cJSON_GetObjectItemCaseSensitive(specials, id->valuestring) : NULL;
            const cJSON *ids = st ? cJSON_GetObjectItemCaseSensitive(st, "ids") : NULL;
            if (!cJSON_IsArray(ids)) return hg_fail(err, HG_E_FORMAT, "%s: TemplateProcessing names an unknown special token", path);
            ti->n_ids = cJSON_GetArraySize(ids);
            ti->ids = calloc((size_t)(ti->n_ids ? ti->n_ids : 1), sizeof(int32_t));
            if (!ti->ids) return hg_fail(err, HG_E_NOMEM, "out of memory");
            int k = 0, v;
            const cJSON *x;
            cJSON_ArrayForEach(x, ids)
            {
                if (!cJSON_IsNumber(x) || !hg_int_in(x->valuedouble, 0, 1 << 24, &v)) {
                    free(ti->ids);
                    ti->ids = NULL;
                    return hg_fail(err, HG_E_FORMAT, "%s: TemplateProcessing has a bad token id", path);
                }
                ti->ids[k++] = v;
            }
        } else {
            return hg_fail(err, HG_E_FORMAT, "%s: bad TemplateProcessing item", path);
        }
        t->n_tmpl++;
    }
    if (!t->n_tmpl) t->n_tmpl = -1; /* an empty template: nothing, not even the sequence */
    return HG_OK;
}

static hg_status parse_decoder(hg_tokenizer *t, const cJSON *j, const char *path, hg_err *err)
{
    if (!j || cJSON_IsNull(j)) return HG_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const char *ty = cJSON_IsString(type) ? type->valuestring : "";
    if (!strcmp(ty, "ByteLevel")) {
        t->has_decoder = 1;
        t->decoder_bytelevel = 1;
        return HG_OK;
    }
    return hg_fail(err, HG_E_UNSUPPORTED, "%s: unsupported decoder type '%s'", path, ty);
}

static int cmp_added_len(const void *a, const void *b)
{
    return ((const added_tok *)b)->len - ((const added_tok *)a)->len;
}

hg_status hg_tokenizer_load(const char *path, hg_tokenizer **out, hg_err *err)
{
    *out = NULL;
    char *text = NULL;
    size_t len;
    hg_status s = hg_read_file(path, &text, &len, err);
    if (s) return s;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return hg_fail(err, HG_E_FORMAT, "%s: not a well-formed JSON object", path);
    }
    hg_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        cJSON_Delete(root);
        return hg_fail(err, HG_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&t->lock, NULL);
    t->bos_id = -1;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) {
        s = hg_fail(err, HG_E_FORMAT, "%s: no \"model\" object", path);
        goto fail;
    }
    if ((s = parse_model(t, model, path, err))) goto fail;
    if ((s = parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), path, err))) goto fail;
    if ((s = parse_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), path, err))) goto fail;
    if ((s = parse_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path, err))) goto fail;
    if ((s = parse_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), path, err))) goto fail;
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    int na = cJSON_GetArraySize(added);
    t->added = calloc((size_t)(na ? na : 1), sizeof *t->added);
    if (!t->added) {
        s = hg_fail(err, HG_E_NOMEM, "out of memory");
        goto fail;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, added)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content"), *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        int idv;
        if (!cJSON_IsString(c) || !cJSON_IsNumber(id) || !c->valuestring[0] ||
            !hg_int_in(id->valuedouble, 0, 1 << 24, &idv)) {
            s = hg_fail(err, HG_E_FORMAT, "%s: bad added_tokens entry", path);
            goto fail;
        }
        added_tok *a = &t->added[t->n_added++];
        a->content = strdup(c->valuestring);
        a->len = (int)strlen(c->valuestring);
        a->id = idv;
        a->special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "special"));
        a->lstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "lstrip"));
        a->rstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "rstrip"));
        a->single_word = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "single_word"));
        const cJSON *nz = cJSON_GetObjectItemCaseSensitive(it, "normalized");
        a->normalized = nz ? cJSON_IsTrue(nz) : !a->special;
        if (!a->content || !add_id_str(t, a->id, a->content, a->len)) {
            s = hg_fail(err, HG_E_NOMEM, "out of memory");
            goto fail;
        }
        t->added_first[(unsigned char)a->content[0]] = 1;
    }
    qsort(t->added, (size_t)t->n_added, sizeof *t->added, cmp_added_len); /* longest first */
    /* byte-level symbol ids */
    int cp[256];
    byte_to_cp_table(cp);
    for (int b = 0; b < 256; b++) {
        char u[4];
        int l = utf8_put(u, cp[b]);
        t->byte_id[b] = smap_get(&t->vocab, u, l);
    }
    compute_junctions(t);
    cJSON_Delete(root);
    *out = t;
    return HG_OK;
fail:
    cJSON_Delete(root);
    hg_tokenizer_free(t);
    return s;
}

/* The byte of a byte-level character at s[0, n) (its first or last), -1 if
 * it is not one. */
static int bytelevel_byte(const char *s, int n, int last)
{
    if (n <= 0) return -1;
    int i = 0, cp;
    if (last) {
        i = n - 1;
        while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    }
    utf8_decode(s + i, (size_t)(n - i), &cp);
    return cp >= 0 && cp < 0x200 ? g_inv[cp] : -1;
}

/* t->junction and t->cuttable: only for byte-level BPE whose 256 byte
 * symbols are all in the vocab, without subword prefix or suffix (then a
 * symbol's string is exactly the bytes it covers), and every merge's ends
 * byte-level characters. */
static void compute_junctions(hg_tokenizer *t)
{
    t->cuttable = 0;
    memset(t->junction, 0, sizeof t->junction);
    if (!t->bytelevel || t->cont_prefix[0] || t->eow_suffix[0]) return;
    for (int b = 0; b < 256; b++)
        if (t->byte_id[b] < 0) return;
    pthread_once(&inv_once, init_inv);
    for (size_t i = 0; i < t->merges.cap; i++) {
        uint64_t k = t->merges.e[i].key;
        if (!k) continue;
        k--;
        int a = (int)(uint32_t)(k >> 32), b = (int)(uint32_t)k;
        if (a < 0 || a >= t->n_ids || b < 0 || b >= t->n_ids || !t->id_str[a] || !t->id_str[b]) return;
        int u = bytelevel_byte(t->id_str[a], t->id_len[a], 1), v = bytelevel_byte(t->id_str[b], t->id_len[b], 0);
        if (u < 0 || v < 0) return;
        t->junction[(u << 8 | v) >> 3] |= (unsigned char)(1u << (v & 7));
    }
    t->cuttable = 1;
}

/* The chat template of Huginn, whitespace-insensitive comparison. */
static const char HUGINN_TEMPLATE[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|begin_header|>' + "
    "message['role'] + '<|end_header|>\n\n'+ message['content'] | trim + '<|end_turn|>' %}{% if loop.index0 == 0 "
    "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|begin_header|>Huginn<|end_header|>\n\n' }}{% endif %}";

static int same_ignoring_space(const char *a, const char *b)
{
    for (;;) {
        while (*a == ' ' || *a == '\t' || *a == '\r' || (*a == '\n' && 0)) a++;
        while (*b == ' ' || *b == '\t' || *b == '\r') b++;
        if (!*a || !*b) return !*a && !*b;
        if (*a != *b) return 0;
        a++;
        b++;
    }
}

hg_status hg_tokenizer_load_dir(const char *dir, hg_tokenizer **out, hg_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    hg_status s = hg_tokenizer_load(path, out, err);
    if (s) return s;
    hg_tokenizer *t = *out;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    char *text = NULL;
    if (hg_read_file(path, &text, NULL, NULL) != HG_OK) return HG_OK; /* optional */
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        hg_tokenizer_free(t);
        *out = NULL;
        return hg_fail(err, HG_E_FORMAT, "%s: not a well-formed JSON object", path);
    }
    const cJSON *bos = cJSON_GetObjectItemCaseSensitive(root, "bos_token");
    const char *bs = cJSON_IsString(bos) ? bos->valuestring
                     : cJSON_IsObject(bos) && cJSON_IsString(cJSON_GetObjectItem(bos, "content"))
                         ? cJSON_GetObjectItem(bos, "content")->valuestring
                         : NULL;
    if (bs) t->bos_id = hg_tokenizer_token_id(t, bs);
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
    if (cJSON_IsString(tmpl) && !same_ignoring_space(tmpl->valuestring, HUGINN_TEMPLATE)) {
        char msg[4400];
        snprintf(msg, sizeof msg, "%s: chat_template is not the Huginn template; using the built-in Huginn format",
                 path);
        t->warning = strdup(msg);
    }
    cJSON_Delete(root);
    return HG_OK;
}

void hg_tokenizer_free(hg_tokenizer *t)
{
    if (!t) return;
    smap_free(&t->vocab);
    for (int i = 0; i < t->n_ids; i++) free(t->id_str[i]);
    free(t->id_str);
    free(t->id_len);
    free(t->merges.e);
    free(t->cont_prefix);
    free(t->eow_suffix);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    for (int i = 0; i < t->n_pre; i++)
        if (t->pre[i].re) onig_free(t->pre[i].re);
    free(t->pre);
    for (int i = 0; i < t->n_tmpl; i++) free(t->tmpl[i].ids);
    free(t->tmpl);
    free(t->warning);
    for (int b = 0; b < CACHE_BUCKETS; b++) {
        cache_ent *e = t->cache[b];
        while (e) {
            cache_ent *n = e->next;
            free(e->key);
            free(e->ids);
            free(e);
            e = n;
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int hg_tokenizer_vocab_size(const hg_tokenizer *t) { return t->n_ids; }

int hg_tokenizer_token_id(const hg_tokenizer *t, const char *content)
{
    int len = (int)strlen(content);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && !memcmp(t->added[i].content, content, (size_t)len)) return t->added[i].id;
    return smap_get(&t->vocab, content, len);
}

const char *hg_tokenizer_id_text(const hg_tokenizer *t, int id)
{
    return id >= 0 && id < t->n_ids ? t->id_str[id] : NULL;
}

int hg_tokenizer_is_special(const hg_tokenizer *t, int id)
{
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) return t->added[i].special;
    return 0;
}

int hg_tokenizer_bos_id(const hg_tokenizer *t) { return t->bos_id; }
const char *hg_tokenizer_warning(const hg_tokenizer *t) { return t->warning; }

/* -------------------------------------------------------------- output */

typedef struct ids_buf {
    int32_t *v;
    int n, cap;
    int oom;
    int too_long;            /* bytes of a run BPE refused (HG_TOK_RUN_MAX) */
    int regex_err;           /* an Oniguruma error code from a search      */
} ids_buf;

static void ids_push(ids_buf *b, int32_t id)
{
    if (b->n == b->cap) {
        int nc = b->cap ? b->cap * 2 : 64;
        int32_t *nv = realloc(b->v, sizeof *nv * (size_t)nc);
        if (!nv) {
            b->oom = 1;
            return;
        }
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = id;
}

/* ------------------------------------------------------------------ BPE */

/* Memory: BPE over a run of n symbols needs 12 bytes a symbol and at most
 * 2n heap entries of 8 bytes, so at most 28 bytes a byte of the run.  A
 * byte-level piece is first cut where no merge can join the two bytes (the
 * junction table), which is exact: BPE on the parts gives the ids of BPE on
 * the whole.  Runs that cannot be cut stay under HG_TOK_RUN_MAX bytes (a
 * one-line error above it), so tokenizing takes a few times the text's size
 * in memory and O(n log n) time whatever the text. */
#define CACHE_PIECE_MAX 256  /* longer pieces are not cached (seldom repeat) */

typedef struct sym {
    int32_t id;              /* -1: merged into the symbol before it */
    int32_t prev, next;      /* -1 at the ends */
} sym;

typedef struct heap_ent {
    int32_t rank, pos;       /* merge rank, left symbol position */
} heap_ent;

static int heap_less(const heap_ent *x, const heap_ent *y)
{
    return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static void heap_push(heap_ent *h, int *n, heap_ent e)
{
    int i = (*n)++;
    h[i] = e;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!heap_less(&h[i], &h[p])) break;
        heap_ent t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static heap_ent heap_pop(heap_ent *h, int *n)
{
    heap_ent top = h[0];
    h[0] = h[--*n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && heap_less(&h[l], &h[m])) m = l;
        if (r < *n && heap_less(&h[r], &h[m])) m = r;
        if (m == i) break;
        heap_ent t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

static void push_pair(const hg_tokenizer *t, heap_ent *h, int *hn, const sym *s, int pos)
{
    int nx = s[pos].next;
    if (nx < 0) return;
    const mmap_ent *me = pmap_get(&t->merges, pair_key(s[pos].id, s[nx].id));
    if (me) heap_push(h, hn, (heap_ent){me->rank, pos});
}

/* Initial symbols of a piece: one per byte (byte-level) or per character
 * (at most one per byte). */
static int init_symbols(const hg_tokenizer *t, const char *p, int len, sym *s)
{
    int n = 0;
    if (t->bytelevel) {
        for (int i = 0; i < len; i++) {
            int id = t->byte_id[(unsigned char)p[i]];
            if (id < 0) id = t->unk_id;
            if (id < 0) continue;
            s[n] = (sym){id, n - 1, n + 1};
            n++;
        }
    } else {
        char buf[64];
        int plen = (int)strlen(t->cont_prefix), slen = (int)strlen(t->eow_suffix);
        for (int i = 0; i < len;) {
            int cl = 1;
            unsigned char c = (unsigned char)p[i];
            if (c >= 0xF0) cl = 4;
            else if (c >= 0xE0) cl = 3;
            else if (c >= 0xC0) cl = 2;
            if (i + cl > len) cl = len - i;
            int bl = 0;
            if (i > 0 && plen) {
                memcpy(buf, t->cont_prefix, (size_t)plen);
                bl = plen;
            }
            memcpy(buf + bl, p + i, (size_t)cl);
            bl += cl;
            if (i + cl == len && slen) {
                memcpy(buf + bl, t->eow_suffix, (size_t)slen);
                bl += slen;
            }
            int id = smap_get(&t->vocab, buf, bl);
            if (id >= 0) {
                s[n] = (sym){id, n - 1, n + 1};
                n++;
            } else if (t->byte_fallback) {
                for (int k = 0; k < cl; k++) {
                    char hx[8];
                    snprintf(hx, sizeof hx, "<0x%02X>", (unsigned char)p[i + k]);
                    int bid = smap_get(&t->vocab, hx, 6);
                    if (bid < 0) bid = t->unk_id;
                    if (bid < 0) continue;
                    s[n] = (sym){bid, n - 1, n + 1};
                    n++;
                }
            } else if (t->unk_id >= 0) {
                s[n] = (sym){t->unk_id, n - 1, n + 1};
                n++;
            }
            i += cl;
        }
    }
    if (n) s[n - 1].next = -1;
    return n;
}

/* BPE over p[0, len) as one run, appending its ids to out: repeatedly merge
 * the adjacent pair of lowest rank (leftmost first).  A heap entry is
 * current when its pair still has its rank: each rank belongs to one pair. */
static void bpe_run(const hg_tokenizer *t, const char *p, int len, ids_buf *out)
{
    if (len > HG_TOK_RUN_MAX) {
        out->too_long = len;
        return;
    }
    sym *s = malloc(sizeof *s * (size_t)len);
    heap_ent *hp = malloc(sizeof *hp * (size_t)len * 2);
    if (!s || !hp) {
        free(s);
        free(hp);
        out->oom = 1;
        return;
    }
    int n = init_symbols(t, p, len, s), hn = 0;
    for (int i = 0; i + 1 < n; i++) push_pair(t, hp, &hn, s, i);
    while (hn) {
        heap_ent e = heap_pop(hp, &hn);
        int a = e.pos;
        if (s[a].id < 0) continue;
        int b = s[a].next;
        if (b < 0) continue;
        const mmap_ent *me = pmap_get(&t->merges, pair_key(s[a].id, s[b].id));
        if (!me || me->rank != e.rank) continue; /* the pair changed since */
        /* merge b into a: one entry popped, at most two pushed (2n in all) */
        s[a].id = me->id;
        s[a].next = s[b].next;
        if (s[b].next >= 0) s[s[b].next].prev = a;
        s[b].id = -1;
        if (s[a].prev >= 0) push_pair(t, hp, &hn, s, s[a].prev);
        push_pair(t, hp, &hn, s, a);
    }
    for (int i = n ? 0 : -1; i >= 0; i = s[i].next) ids_push(out, s[i].id);
    free(s);
    free(hp);
}

/* Encode one pre-tokenized piece with BPE, appending ids to out. */
static void bpe_piece(hg_tokenizer *t, const char *p, int len, ids_buf *out)
{
    if (!len) return;
    /* whole piece in the vocab with ignore_merges (never when longer than
     * every vocab string: a byte maps to at least one byte) */
    if (t->ignore_merges && len <= t->max_tok_len) {
        if (t->bytelevel) {
            int cp[256];
            byte_to_cp_table(cp);
            char *mapped = malloc((size_t)len * 4 + 1);
            int mlen = 0;
            if (mapped) {
                for (int i = 0; i < len; i++) mlen += utf8_put(mapped + mlen, cp[(unsigned char)p[i]]);
                int id = smap_get(&t->vocab, mapped, mlen);
                free(mapped);
                if (id >= 0) {
                    ids_push(out, id);
                    return;
                }
            }
        } else {
            int id = smap_get(&t->vocab, p, len);
            if (id >= 0) {
                ids_push(out, id);
                return;
            }
        }
    }
    if (len > CACHE_PIECE_MAX) {
        /* long: BPE on its parts between bytes no merge joins, not cached */
        int st = 0;
        if (t->cuttable)
            for (int i = 1; i < len && !out->oom && !out->too_long; i++) {
                unsigned u = (unsigned char)p[i - 1], v = (unsigned char)p[i];
                if (!(t->junction[(u << 8 | v) >> 3] & (1u << (v & 7)))) {
                    bpe_run(t, p + st, i - st, out); /* (refuses a run over HG_TOK_RUN_MAX) */
                    st = i;
                }
            }
        if (!out->oom && !out->too_long) bpe_run(t, p + st, len - st, out);
        return;
    }
    /* the cache */
    uint64_t h = hash_bytes(p, (size_t)len);
    size_t bucket = h & (CACHE_BUCKETS - 1);
    pthread_mutex_lock(&t->lock);
    for (cache_ent *e = t->cache[bucket]; e; e = e->next)
        if (e->len == len && !memcmp(e->key, p, (size_t)len)) {
            for (int i = 0; i < e->n; i++) ids_push(out, e->ids[i]);
            pthread_mutex_unlock(&t->lock);
            return;
        }
    pthread_mutex_unlock(&t->lock);
    int start = out->n;
    bpe_run(t, p, len, out);
    if (out->oom) return;
    /* remember it */
    pthread_mutex_lock(&t->lock);
    if (t->cache_n < CACHE_MAX) {
        cache_ent *ce = malloc(sizeof *ce);
        if (ce) {
            ce->key = malloc((size_t)len);
            ce->ids = malloc(sizeof(int32_t) * (size_t)(out->n - start + 1));
            if (ce->key && ce->ids) {
                memcpy(ce->key, p, (size_t)len);
                ce->len = len;
                ce->n = out->n - start;
                memcpy(ce->ids, out->v + start, sizeof(int32_t) * (size_t)ce->n);
                ce->next = t->cache[bucket];
                t->cache[bucket] = ce;
                t->cache_n++;
            } else {
                free(ce->key);
                free(ce->ids);
                free(ce);
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
}

/* ------------------------------------------------------- pre-tokenizing */

/* Pre-tokenizing runs depth first: each piece a stage cuts goes through the
 * next stages and BPE before the stage looks for its next match, so memory
 * stays a few times the text however long it is (the output ids aside).
 * Every stage works inside the pieces of the one before, so the ids are the
 * same as running each stage over the whole text in turn. */
typedef struct pipe_ctx {
    hg_tokenizer *t;
    ids_buf *out;
    OnigRegion *region[16];  /* one per stage, reused */
    OnigMatchParam *mp;      /* the match stack limit (HG_TOK_RUN_MAX) */
    int ok;
} pipe_ctx;

static void run_stage(pipe_ctx *c, int level, const char *p, int len);

/* One Split's behaviour applied to its raw pieces in order, holding at most
 * one piece that may still merge with the next. */
typedef struct splitter {
    pipe_ctx *c;
    int level, behavior;
    const char *p;
    int has, a, b;           /* the pending output piece                  */
    int prev_match;          /* is_match of the previous raw piece         */
} splitter;

static void sp_emit(splitter *s, int a, int b)
{
    if (b > a && s->c->ok) run_stage(s->c, s->level + 1, s->p + a, b - a);
}

static void sp_flush(splitter *s)
{
    if (s->has) sp_emit(s, s->a, s->b);
    s->has = 0;
}

static void sp_hold(splitter *s, int a, int b)
{
    sp_flush(s);
    s->has = 1;
    s->a = a;
    s->b = b;
}

static void sp_piece(splitter *s, int a, int b, int m)
{
    switch (s->behavior) {
    case SPLIT_ISOLATED: sp_emit(s, a, b); break;
    case SPLIT_REMOVED:
        if (!m) sp_emit(s, a, b);
        break;
    case SPLIT_CONTIGUOUS: /* runs of equal is_match become one piece */
        if (s->has && m == s->prev_match) s->b = b;
        else sp_hold(s, a, b);
        break;
    case SPLIT_MERGED_PREV: /* a match joins the non-match before it */
        if (s->has && m && !s->prev_match) s->b = b;
        else sp_hold(s, a, b);
        break;
    case SPLIT_MERGED_NEXT: /* a match joins the non-match after it */
        if (s->has && !m && s->prev_match) {
            s->b = b;
            sp_flush(s);
        } else if (m) sp_hold(s, a, b);
        else {
            sp_flush(s);
            sp_emit(s, a, b);
        }
        break;
    }
    s->prev_match = m;
}

/* The regex's matches over p[0, len) as alternating (piece, is_match) raw
 * pieces covering the whole text (the onig crate's find_iter rules: an
 * empty match right after the previous match is skipped one character on). */
static void split_pieces(pipe_ctx *c, int level, regex_t *re, int invert, int behavior, const char *p, int len)
{
    if (len == 0) return; /* one empty piece: nothing to emit */
    if (!c->region[level] && !(c->region[level] = onig_region_new())) {
        c->ok = 0;
        return;
    }
    OnigRegion *region = c->region[level];
    splitter sp = {c, level, behavior, p, 0, 0, 0, 0};
    const UChar *s = (const UChar *)p, *end = s + len;
    int prev = 0, last_end = 0, last_match_end = -1;
    while (last_end <= len && c->ok) {
        /* Oniguruma keeps a 32-byte backtrack entry per character a repeat
         * consumes (\p{L}+ over a run without spaces): the match stack is
         * limited to HG_TOK_RUN_MAX entries, and a search that needs more
         * fails the tokenizing with a one-line error (never ids that skip
         * part of the text) */
        int r = onig_search_with_param(re, s, end, s + last_end, end, region, ONIG_OPTION_NONE, c->mp);
        if (r == ONIG_MISMATCH) break;
        if (r < 0) {
            c->out->regex_err = r;
            c->ok = 0;
            return;
        }
        int ms = region->beg[0], me = region->end[0];
        if (ms == me && last_match_end == me) { /* skip one character */
            if (last_end >= len) break;
            int cl = 1;
            unsigned char ch = s[last_end];
            if (ch >= 0xF0) cl = 4;
            else if (ch >= 0xE0) cl = 3;
            else if (ch >= 0xC0) cl = 2;
            last_end += cl;
            continue;
        }
        last_end = me;
        last_match_end = me;
        if (prev != ms) sp_piece(&sp, prev, ms, invert);
        sp_piece(&sp, ms, me, !invert);
        prev = me;
        if (ms == me && me >= len) break;
    }
    if (prev != len) sp_piece(&sp, prev, len, invert);
    sp_flush(&sp);
}

static void run_stage(pipe_ctx *c, int level, const char *p, int len)
{
    hg_tokenizer *t = c->t;
    if (level == t->n_pre) {
        bpe_piece(t, p, len, c->out);
        if (c->out->oom || c->out->too_long) c->ok = 0;
        return;
    }
    const pretok *pt = &t->pre[level];
    if (pt->type == PT_SPLIT) {
        split_pieces(c, level, pt->re, pt->invert, pt->behavior, p, len);
        return;
    }
    /* ByteLevel: an optional prefix space, an optional GPT-2 split */
    char *tmp = NULL;
    if (pt->add_prefix_space && p[0] != ' ') {
        if (!(tmp = malloc((size_t)len + 1))) {
            c->ok = 0;
            return;
        }
        tmp[0] = ' ';
        memcpy(tmp + 1, p, (size_t)len);
        p = tmp;
        len++;
    }
    if (pt->re) split_pieces(c, level, pt->re, 0, SPLIT_ISOLATED, p, len);
    else run_stage(c, level + 1, p, len);
    free(tmp);
}

/* Normalize, pre-tokenize and BPE one segment of text (no added tokens). */
static int encode_segment(hg_tokenizer *t, const char *text, int len, ids_buf *out)
{
    char *norm = NULL;
    if (t->n_norm) {
        size_t nl;
        norm = hg_tok_normalize(text, (size_t)len, t->norm, t->n_norm, &nl);
        if (!norm) return 0;
        text = norm;
        len = (int)nl;
    }
    pipe_ctx c = {.t = t, .out = out, .ok = 1};
    if (t->n_pre > (int)(sizeof c.region / sizeof c.region[0])) c.ok = 0;
    else if (len > 0) {
        if (!(c.mp = onig_new_match_param()) || onig_initialize_match_param(c.mp) ||
            onig_set_match_stack_limit_size_of_match_param(c.mp, HG_TOK_RUN_MAX))
            out->oom = 1, c.ok = 0;
        else run_stage(&c, 0, text, len);
        if (c.mp) onig_free_match_param(c.mp);
    }
    for (int i = 0; i < (int)(sizeof c.region / sizeof c.region[0]); i++)
        if (c.region[i]) onig_region_free(c.region[i], 1);
    free(norm);
    return c.ok && !out->oom;
}

static int is_ws(const char *s, size_t n, int *len)
{
    int cp, l = utf8_decode(s, n, &cp);
    *len = l;
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

static int is_word_char_before(const char *text, int pos)
{
    if (pos <= 0) return 0;
    int i = pos - 1;
    while (i > 0 && ((unsigned char)text[i] & 0xC0) == 0x80) i--;
    int cp;
    utf8_decode(text + i, (size_t)(pos - i), &cp);
    return hg_tok_is_alnum(cp) || cp == '_';
}

static int is_word_char_at(const char *text, int pos, int len)
{
    if (pos >= len) return 0;
    int cp;
    utf8_decode(text + pos, (size_t)(len - pos), &cp);
    return hg_tok_is_alnum(cp) || cp == '_';
}

hg_status hg_tokenize(const hg_tokenizer *tc, const char *text, size_t len, int add_special, int32_t **ids,
                      int *n_ids, hg_err *err)
{
    hg_tokenizer *t = (hg_tokenizer *)tc; /* the piece cache is internally locked */
    *ids = NULL;
    *n_ids = 0;
    if (len > (size_t)1 << 30) return hg_fail(err, HG_E_RANGE, "text of %zu bytes is too long to tokenize", len);
    size_t sl;
    char *s = NULL; /* a repaired copy when the text is not valid UTF-8 */
    const unsigned char *u = (const unsigned char *)(text ? text : "");
    if (!text) len = 0;
    for (sl = 0; sl < len;) {
        int l = utf8_valid_len(u + sl, len - sl);
        if (!l) break;
        sl += (size_t)l;
    }
    if (sl < len && !(s = utf8_sanitize(text, len, &sl))) return hg_fail(err, HG_E_NOMEM, "out of memory");
    const char *str = s ? s : (const char *)u;
    ids_buf seq = {0};
    int n = (int)sl, seg = 0, ok = 1;
    for (int i = 0; ok && i < n;) {
        const added_tok *hit = NULL;
        if (t->added_first[(unsigned char)str[i]]) {
            for (int k = 0; k < t->n_added; k++) { /* longest first */
                const added_tok *a = &t->added[k];
                if (a->len <= n - i && !memcmp(str + i, a->content, (size_t)a->len)) {
                    if (a->single_word && (is_word_char_before(str, i) || is_word_char_at(str, i + a->len, n))) continue;
                    hit = a;
                    break;
                }
            }
        }
        if (!hit) {
            i++;
            while (i < n && ((unsigned char)str[i] & 0xC0) == 0x80) i++;
            continue;
        }
        int mstart = i, mend = i + hit->len;
        if (hit->lstrip) {
            int j = mstart;
            while (j > seg) {
                int k = j - 1;
                while (k > seg && ((unsigned char)str[k] & 0xC0) == 0x80) k--;
                int wl;
                if (!is_ws(str + k, (size_t)(j - k), &wl)) break;
                j = k;
            }
            mstart = j;
        }
        if (hit->rstrip) {
            int wl;
            while (mend < n && is_ws(str + mend, (size_t)(n - mend), &wl)) mend += wl;
        }
        if (mstart > seg) ok = encode_segment(t, str + seg, mstart - seg, &seq);
        ids_push(&seq, hit->id);
        seg = i = mend;
    }
    if (ok && seg < n) ok = encode_segment(t, str + seg, n - seg, &seq);
    free(s);
    if (seq.too_long) {
        free(seq.v);
        return hg_fail(err, HG_E_RANGE,
                       "the text has a run of %d bytes with no possible token boundary (one character repeated?); "
                       "the limit is %d bytes", seq.too_long, HG_TOK_RUN_MAX);
    }
    if (seq.regex_err == ONIGERR_MATCH_STACK_LIMIT_OVER) {
        free(seq.v);
        return hg_fail(err, HG_E_RANGE,
                       "the text has a run of over %d characters that the pre-tokenizer keeps as one piece "
                       "(no space or punctuation); the limit is %d", HG_TOK_RUN_MAX, HG_TOK_RUN_MAX);
    }
    if (seq.regex_err) {
        UChar m[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(m, seq.regex_err);
        free(seq.v);
        return hg_fail(err, HG_E_RANGE, "the pre-tokenizer's regex failed on this text: %s", (const char *)m);
    }
    if (!ok || seq.oom) {
        free(seq.v);
        return hg_fail(err, HG_E_NOMEM, "out of memory while tokenizing");
    }
    if (add_special && t->n_tmpl) {
        ids_buf o = {0};
        for (int k = 0; k < t->n_tmpl; k++) {
            const tmpl_item *ti = &t->tmpl[k];
            if (ti->is_seq)
                for (int q = 0; q < seq.n; q++) ids_push(&o, seq.v[q]);
            else
                for (int q = 0; q < ti->n_ids; q++) ids_push(&o, ti->ids[q]);
        }
        free(seq.v);
        seq = o;
        if (seq.oom) {
            free(seq.v);
            return hg_fail(err, HG_E_NOMEM, "out of memory");
        }
    }
    if (!seq.v) seq.v = malloc(sizeof(int32_t));
    *ids = seq.v;
    *n_ids = seq.n;
    return HG_OK;
}

/* ---------------------------------------------------------------- decode */

typedef struct bytes_buf {
    char *v;
    size_t n, cap;
    int oom;
} bytes_buf;

static void bb_put(bytes_buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *nv = realloc(b->v, nc);
        if (!nv) {
            b->oom = 1;
            return;
        }
        b->v = nv;
        b->cap = nc;
    }
    memcpy(b->v + b->n, s, n);
    b->n += n;
    b->v[b->n] = 0;
}


/* Bytes a token decodes to (before UTF-8 repair), appended to b. */
static void token_bytes(const hg_tokenizer *t, int id, bytes_buf *b)
{
    const char *s = t->id_str[id];
    int len = t->id_len[id];
    if (!t->decoder_bytelevel) {
        bb_put(b, s, (size_t)len);
        return;
    }
    pthread_once(&inv_once, init_inv);
    /* every char in the byte table -> its byte; else the token's own bytes */
    char tmp[256];
    char *out = len <= (int)sizeof tmp ? tmp : malloc((size_t)len);
    if (!out) {
        b->oom = 1;
        return;
    }
    int o = 0, all = 1;
    for (int i = 0; i < len && all;) {
        int cp, l = utf8_decode(s + i, (size_t)(len - i), &cp);
        if (cp < 0x200 && g_inv[cp] >= 0) out[o++] = (char)g_inv[cp];
        else all = 0;
        i += l;
    }
    if (all) bb_put(b, out, (size_t)o);
    else bb_put(b, s, (size_t)len);
    if (out != tmp) free(out);
}

static int special_id(const hg_tokenizer *t, int id)
{
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) return t->added[i].special;
    return 0;
}

/* Lossy UTF-8: invalid sequences -> U+FFFD (malloc'd). */
static char *utf8_lossy(const char *s, size_t n)
{
    size_t l;
    return utf8_sanitize(s, n, &l);
}

hg_status hg_detokenize(const hg_tokenizer *t, const int32_t *ids, int n_ids, int skip_special, char **text,
                        hg_err *err)
{
    *text = NULL;
    bytes_buf b = {0};
    for (int i = 0; i < n_ids; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->id_str[id]) {
            free(b.v);
            return hg_fail(err, HG_E_ARG, "token id %d is not in the vocabulary", id);
        }
        if (skip_special && special_id(t, id)) continue;
        if (!t->has_decoder && b.n) bb_put(&b, " ", 1);
        token_bytes(t, id, &b);
    }
    if (b.oom) {
        free(b.v);
        return hg_fail(err, HG_E_NOMEM, "out of memory");
    }
    *text = utf8_lossy(b.v ? b.v : "", b.n);
    free(b.v);
    return *text ? HG_OK : hg_fail(err, HG_E_NOMEM, "out of memory");
}

/* ------------------------------------------------------------- streaming */

struct hg_stream {
    const hg_tokenizer *t;
    int skip_special;
    char pend[8];            /* an incomplete UTF-8 sequence */
    int n_pend;
};

hg_stream *hg_stream_new(const hg_tokenizer *t, int skip_special)
{
    hg_stream *s = calloc(1, sizeof *s);
    if (s) {
        s->t = t;
        s->skip_special = skip_special;
    }
    return s;
}

void hg_stream_free(hg_stream *s) { free(s); }

/* Could bytes p[0..n) still become a valid sequence with more bytes? */
static int utf8_incomplete_prefix(const unsigned char *p, int n)
{
    if (n <= 0 || n >= 4) return 0;
    int need = p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3 : p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : 0;
    if (!need || n >= need) return 0;
    return utf8_invalid_len(p, (size_t)n) == n; /* every byte so far fits */
}

static size_t out_put(char *out, size_t cap, size_t o, const char *s, size_t n)
{
    if (o + n + 1 > cap) n = o + 1 < cap ? cap - o - 1 : 0;
    memcpy(out + o, s, n);
    return o + n;
}

size_t hg_stream_push(hg_stream *s, int32_t id, char *out, size_t cap)
{
    size_t o = 0;
    if (cap) out[0] = 0;
    const hg_tokenizer *t = s->t;
    if (id < 0 || id >= t->n_ids || !t->id_str[id]) return 0;
    if (s->skip_special && special_id(t, id)) return 0;
    bytes_buf b = {0};
    bb_put(&b, s->pend, (size_t)s->n_pend);
    token_bytes(t, id, &b);
    s->n_pend = 0;
    if (b.oom) {
        free(b.v);
        return 0;
    }
    const unsigned char *p = (const unsigned char *)b.v;
    size_t i = 0;
    while (i < b.n) {
        int l = utf8_valid_len(p + i, b.n - i);
        if (l) {
            o = out_put(out, cap, o, b.v + i, (size_t)l);
            i += (size_t)l;
        } else if (utf8_incomplete_prefix(p + i, (int)(b.n - i))) {
            s->n_pend = (int)(b.n - i);
            memcpy(s->pend, b.v + i, (size_t)s->n_pend);
            break;
        } else {
            i += (size_t)utf8_invalid_len(p + i, b.n - i);
            o = out_put(out, cap, o, "\xEF\xBF\xBD", 3);
        }
    }
    free(b.v);
    if (cap) out[o] = 0;
    return o;
}

size_t hg_stream_finish(hg_stream *s, char *out, size_t cap)
{
    size_t o = 0;
    if (s->n_pend) o = out_put(out, cap, 0, "\xEF\xBF\xBD", 3);
    s->n_pend = 0;
    if (cap) out[o] = 0;
    return o;
}

/* ----------------------------------------------------------------- chat */

static void trim(const char **s, size_t *n)
{
    const char *a = *s, *e = a + strlen(a);
    int wl;
    while (a < e && is_ws(a, (size_t)(e - a), &wl)) a += wl;
    while (e > a) {
        const char *k = e - 1;
        while (k > a && e - k < 4 && ((unsigned char)*k & 0xC0) == 0x80) k--;
        if (!is_ws(k, (size_t)(e - k), &wl) || wl != e - k) break;
        e = k;
    }
    *s = a;
    *n = (size_t)(e - a);
}

char *hg_chat_render(const hg_chat_msg *msgs, int n, int add_generation_prompt)
{
    bytes_buf b = {0};
    bb_put(&b, "", 0);
    for (int i = 0; i < n; i++) {
        if (i == 0) bb_put(&b, "<|begin_text|>", 14);
        bb_put(&b, "<|begin_header|>", 16);
        bb_put(&b, msgs[i].role, strlen(msgs[i].role));
        bb_put(&b, "<|end_header|>\n\n", 16);
        const char *c = msgs[i].content ? msgs[i].content : "";
        size_t cl;
        trim(&c, &cl);
        bb_put(&b, c, cl);
        bb_put(&b, "<|end_turn|>", 12);
    }
    if (add_generation_prompt) bb_put(&b, "<|begin_header|>Huginn<|end_header|>\n\n", 38);
    if (b.oom) {
        free(b.v);
        return NULL;
    }
    return b.v;
}

hg_status hg_chat_tokenize(const hg_tokenizer *t, const hg_chat_msg *msgs, int n, int add_generation_prompt,
                           int32_t **ids, int *n_ids, hg_err *err)
{
    char *text = hg_chat_render(msgs, n, add_generation_prompt);
    if (!text) return hg_fail(err, HG_E_NOMEM, "out of memory");
    hg_status s = hg_tokenize(t, text, strlen(text), 0, ids, n_ids, err);
    free(text);
    return s;
}

/* inverse byte table for the ByteLevel decoder */
static void init_inv(void)
{
    int cp[256];
    byte_to_cp_table(cp);
    for (int i = 0; i < 0x200; i++) g_inv[i] = -1;
    for (int b = 0; b < 256; b++) g_inv[cp[b]] = b;
}
