/* internal.h — declarations shared by core/ modules; not part of the API. */
#ifndef HG_INTERNAL_H
#define HG_INTERNAL_H

#include "huginn.h"
#include <stdarg.h>
#include <stdbool.h>

/* Fill err (may be NULL) with a printf-style message; returns st. */
hg_status hg_fail(hg_err *err, hg_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

double hg_now(void);            /* monotonic seconds */
int hg_n_cores(void);

/* Read a whole file into a malloc'd NUL-terminated buffer. */
hg_status hg_read_file(const char *path, char **out, size_t *len, hg_err *err);

#endif
