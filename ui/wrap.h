/* wrap.h — UTF-8 decoding, display width (wcwidth) and word wrapping by
 * display width.  Curses-free.  The caller sets a UTF-8 locale. */
#ifndef UI_WRAP_H
#define UI_WRAP_H
#include <stddef.h>
#include <stdint.h>

/* Decode one UTF-8 character at s (len bytes available); returns the bytes
 * consumed (>= 1); an invalid byte decodes as U+FFFD and consumes 1. */
int uw_decode(const char *s, size_t len, uint32_t *cp);
/* Encode cp into out (>= 4 bytes); returns the bytes written. */
int uw_encode(uint32_t cp, char *out);
/* Columns a code point takes: 0 (combining, controls), 1, or 2 (wide). */
int uw_cpwidth(uint32_t cp);
/* Columns of a UTF-8 string. */
int uw_width(const char *s, size_t len);
/* Bytes of the longest prefix of s that fits in `cols` columns. */
size_t uw_fit(const char *s, size_t len, int cols);

/* One display line of wrapped text: bytes [start, start+len) of the input. */
typedef struct uw_line {
    int start;
    int len;
    int width;
} uw_line;

/* Wrap text to `width` columns: '\n' ends a line; a line breaks after the
 * last space (the space is dropped) or after a wide character that fits, and
 * a word longer than the width is cut by characters.  Fills at most max
 * lines and returns how many lines the whole text needs (an empty text is
 * one empty line). */
int uw_wrap(const char *s, size_t len, int width, uw_line *out, int max);

#endif
