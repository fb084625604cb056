/* wrap.c — display-width word wrapping. */
#include "wrap.h"

#include <wchar.h>

int uw_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (len == 0) { *cp = 0; return 0; }
    unsigned c = u[0];
    int n;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    else if ((c & 0xE0) == 0xC0) { n = 2; v = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { n = 3; v = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { n = 4; v = c & 0x07; min = 0x10000; }
    else { *cp = 0xFFFD; return 1; }
    if ((size_t)n > len) { *cp = 0xFFFD; return 1; }
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) { *cp = 0xFFFD; return 1; }
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) { *cp = 0xFFFD; return 1; }
    *cp = v;
    return n;
}

int uw_encode(uint32_t cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int uw_cpwidth(uint32_t cp)
{
    if (cp == '\t') return 1;           /* shown as one space */
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return 0;
    int w = wcwidth((wchar_t)cp);
    if (w < 0) return 1;                /* unknown: shown as a replacement */
    return w > 2 ? 2 : w;
}

int uw_width(const char *s, size_t len)
{
    int w = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        i += (size_t)uw_decode(s + i, len - i, &cp);
        w += uw_cpwidth(cp);
    }
    return w;
}

size_t uw_fit(const char *s, size_t len, int cols)
{
    int w = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int n = uw_decode(s + i, len - i, &cp);
        int cw = uw_cpwidth(cp);
        if (w + cw > cols) break;
        w += cw;
        i += (size_t)n;
    }
    return i;
}

static int emit(uw_line *out, int max, int k, int start, int len, int width)
{
    if (k < max) { out[k].start = start; out[k].len = len; out[k].width = width; }
    return k + 1;
}

int uw_wrap(const char *s, size_t len, int width, uw_line *out, int max)
{
    if (width < 1) width = 1;
    int k = 0;
    int start = 0, curw = 0;
    int brk = -1, brk_w = 0, resume = 0, resume_w = 0;   /* last break opportunity */
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int n = uw_decode(s + i, len - i, &cp);
        if (cp == '\n') {
            k = emit(out, max, k, start, (int)i - start, curw);
            i += (size_t)n;
            start = (int)i; curw = 0; brk = -1;
            continue;
        }
        int cw = uw_cpwidth(cp);
        if (cp == ' ') {
            /* a space may hang past the edge: it is dropped at a break */
            brk = (int)i; brk_w = curw; resume = (int)i + n; resume_w = curw + cw;
            if (curw + cw > width) {
                k = emit(out, max, k, start, brk - start, brk_w);
                start = resume; curw = 0; brk = -1;
                i += (size_t)n;
                continue;
            }
            curw += cw;
            i += (size_t)n;
            continue;
        }
        if (curw + cw > width && curw > 0) {
            if (brk >= start && brk >= 0) {
                k = emit(out, max, k, start, brk - start, brk_w);
                start = resume; curw -= resume_w; brk = -1;
            } else {
                k = emit(out, max, k, start, (int)i - start, curw);
                start = (int)i; curw = 0; brk = -1;
            }
        }
        curw += cw;
        i += (size_t)n;
        if (cw == 2) { brk = (int)i; brk_w = curw; resume = (int)i; resume_w = curw; }
    }
    k = emit(out, max, k, start, (int)len - start, curw);
    return k;
}
