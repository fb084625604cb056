/* status.c — status strings, error formatting, small OS helpers. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *hg_status_str(hg_status st)
{
    switch (st) {
    case HG_OK: return "ok";
    case HG_E_ARG: return "invalid argument";
    case HG_E_IO: return "i/o error";
    case HG_E_FORMAT: return "malformed file";
    case HG_E_NOMEM: return "out of memory";
    case HG_E_RANGE: return "out of range";
    case HG_E_UNSUPPORTED: return "unsupported";
    case HG_E_CANCELLED: return "cancelled";
    case HG_E_INTERNAL: return "internal error";
    }
    return "unknown status";
}

hg_status hg_fail(hg_err *err, hg_status st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

double hg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int hg_n_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

hg_status hg_read_file(const char *path, char **out, size_t *len, hg_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return hg_fail(err, HG_E_IO, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return hg_fail(err, HG_E_IO, "%s: cannot seek", path);
    }
    long n = ftell(f);
    if (n < 0) {
        fclose(f);
        return hg_fail(err, HG_E_IO, "%s: not a regular file", path);
    }
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (!buf) {
        fclose(f);
        return hg_fail(err, HG_E_NOMEM, "%s: out of memory reading %ld bytes", path, n);
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return hg_fail(err, HG_E_IO, "%s: read failed", path);
    }
    fclose(f);
    buf[n] = 0;
    *out = buf;
    if (len) *len = (size_t)n;
    return HG_OK;
}
