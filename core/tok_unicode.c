/* tok_unicode.c — NFC/NFKC (full decomposition, canonical ordering,
 * canonical composition with the Hangul rules) over generated tables. */
#include "tok_unicode.h"

#include <oniguruma.h>
#include <stdlib.h>
#include <string.h>

static const hg_decomp *find_decomp(unsigned cp)
{
    int lo = 0, hi = hg_decomp_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (hg_decomp_table[mid].cp == cp) return &hg_decomp_table[mid];
        if (hg_decomp_table[mid].cp < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static int ccc_of(unsigned cp)
{
    int lo = 0, hi = hg_ccc_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (hg_ccc_table[mid].cp == cp) return hg_ccc_table[mid].ccc;
        if (hg_ccc_table[mid].cp < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

static unsigned compose_pair(unsigned a, unsigned b)
{
    /* Hangul LV and LVT */
    if (a >= 0x1100 && a < 0x1113 && b >= 0x1161 && b < 0x1176)
        return 0xAC00 + ((a - 0x1100) * 21 + (b - 0x1161)) * 28;
    if (a >= 0xAC00 && a <= 0xD7A3 && (a - 0xAC00) % 28 == 0 && b > 0x11A7 && b < 0x11C3) return a + (b - 0x11A7);
    int lo = 0, hi = hg_comp_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const hg_comp *c = &hg_comp_table[mid];
        if (c->a == a && c->b == b) return c->c;
        if (c->a < a || (c->a == a && c->b < b)) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

typedef struct cpbuf {
    unsigned *v;
    size_t n, cap;
    int oom;
} cpbuf;

static void cp_push(cpbuf *b, unsigned cp)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        unsigned *nv = realloc(b->v, nc * sizeof *nv);
        if (!nv) {
            b->oom = 1;
            return;
        }
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = cp;
}

static void decompose(unsigned cp, int compat, cpbuf *out)
{
    if (cp >= 0xAC00 && cp <= 0xD7A3) { /* Hangul syllable */
        unsigned s = cp - 0xAC00;
        cp_push(out, 0x1100 + s / (21 * 28));
        cp_push(out, 0x1161 + (s % (21 * 28)) / 28);
        if (s % 28) cp_push(out, 0x11A7 + s % 28);
        return;
    }
    const hg_decomp *d = find_decomp(cp);
    if (d && (!d->compat || compat)) {
        for (unsigned i = 0; i < d->len; i++) decompose(hg_decomp_data[d->off + i], compat, out);
        return;
    }
    cp_push(out, cp);
}

static void normalize_cps(cpbuf *b, int form)
{
    cpbuf d = {0};
    for (size_t i = 0; i < b->n; i++) decompose(b->v[i], form == HG_TOK_NFKC, &d);
    /* canonical ordering: stable sort of each run of non-zero classes */
    for (size_t i = 1; i < d.n; i++) {
        int c = ccc_of(d.v[i]);
        if (!c) continue;
        size_t j = i;
        while (j > 0 && ccc_of(d.v[j - 1]) > c) {
            unsigned t = d.v[j];
            d.v[j] = d.v[j - 1];
            d.v[j - 1] = t;
            j--;
        }
    }
    /* canonical composition: a character joins the last starter unless a
     * character between them has class 0 or >= its own ("blocked") */
    size_t o = 0;
    long starter = -1;
    int last = -1; /* class of the last character after the starter; -1: none */
    for (size_t i = 0; i < d.n; i++) {
        unsigned cp = d.v[i];
        int c = ccc_of(cp);
        if (form && starter >= 0 && (last == -1 || last < c)) {
            unsigned comp = compose_pair(d.v[starter], cp);
            if (comp) {
                d.v[starter] = comp;
                continue;
            }
        }
        if (c == 0) {
            starter = (long)o;
            last = -1;
        } else {
            last = c;
        }
        d.v[o++] = cp;
    }
    d.n = o;
    free(b->v);
    *b = d;
}

static int dec_utf8(const unsigned char *s, unsigned *cp)
{
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    if (s[0] < 0xE0) { *cp = (s[0] & 0x1Fu) << 6 | (s[1] & 0x3Fu); return 2; }
    if (s[0] < 0xF0) { *cp = (s[0] & 0x0Fu) << 12 | (s[1] & 0x3Fu) << 6 | (s[2] & 0x3Fu); return 3; }
    *cp = (s[0] & 0x07u) << 18 | (s[1] & 0x3Fu) << 12 | (s[2] & 0x3Fu) << 6 | (s[3] & 0x3Fu);
    return 4;
}

char *hg_tok_normalize(const char *s, size_t n, const int *forms, int n_forms, size_t *out_len)
{
    cpbuf b = {0};
    for (size_t i = 0; i < n;) {
        unsigned cp;
        i += (size_t)dec_utf8((const unsigned char *)s + i, &cp);
        cp_push(&b, cp);
    }
    for (int f = 0; f < n_forms; f++) normalize_cps(&b, forms[f]);
    if (b.oom) {
        free(b.v);
        return NULL;
    }
    char *o = malloc(b.n * 4 + 1);
    if (!o) {
        free(b.v);
        return NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < b.n; i++) {
        unsigned cp = b.v[i];
        if (cp < 0x80) o[j++] = (char)cp;
        else if (cp < 0x800) { o[j++] = (char)(0xC0 | cp >> 6); o[j++] = (char)(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) {
            o[j++] = (char)(0xE0 | cp >> 12); o[j++] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[j++] = (char)(0x80 | (cp & 0x3F));
        } else {
            o[j++] = (char)(0xF0 | cp >> 18); o[j++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            o[j++] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[j++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    o[j] = 0;
    free(b.v);
    *out_len = j;
    return o;
}

int hg_tok_is_alnum(int cp)
{
    return ONIGENC_IS_CODE_CTYPE(ONIG_ENCODING_UTF8, (OnigCodePoint)cp, ONIGENC_CTYPE_ALNUM);
}
