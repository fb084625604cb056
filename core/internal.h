/* internal.h — declarations shared by core/ modules; not part of the API. */
#ifndef HG_INTERNAL_H
#define HG_INTERNAL_H

#include "huginn.h"
#include <stdarg.h>
#include <stdbool.h>

/* Fill err (may be NULL) with a printf-style message; returns st. */
hg_status hg_fail(hg_err *err, hg_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A JSON number as an int: 1 when v is a whole number in lo..hi (checked as
 * a double, before any conversion), else 0 and *out untouched. */
int hg_int_in(double v, double lo, double hi, int *out);

double hg_now(void);            /* monotonic seconds */

/* Read a whole regular file into a malloc'd NUL-terminated buffer
 * (hg_file_read without a size limit). */
hg_status hg_read_file(const char *path, char **out, size_t *len, hg_err *err);

/* An atomic write in steps (for large files written piecewise): a temporary
 * file next to the target (symlinks followed), renamed over it on commit. */
typedef struct hg_atomic {
    int fd;
    int failed;             /* errno of the first failed write            */
    char target[4096];      /* the file written (symlinks resolved)       */
    char tmp[4200];
} hg_atomic;
hg_status hg_atomic_open(hg_atomic *a, const char *path, hg_err *err);
hg_status hg_atomic_write(hg_atomic *a, const void *data, size_t n);
/* ok = 0 abandons the file (the temporary one is removed).  A caller that
 * wrote through fdopen(a->fd) closes the FILE and sets a->fd = -1 first. */
hg_status hg_atomic_commit(hg_atomic *a, int ok, hg_err *err);

#endif
