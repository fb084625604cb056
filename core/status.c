/* status.c — status strings, error formatting, small OS helpers. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
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

int hg_int_in(double v, double lo, double hi, int *out)
{
    if (!(v >= lo && v <= hi) || v != (double)(long long)v) return 0;
    *out = (int)v;
    return 1;
}

double hg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}


int hg_file_open(const char *path, hg_err *err)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        hg_fail(err, HG_E_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int dir = S_ISDIR(sb.st_mode);
        close(fd);
        hg_fail(err, HG_E_IO, "%s: %s", path, dir ? "is a directory" : "not a regular file");
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

hg_status hg_file_read(const char *path, size_t max_bytes, char **out, size_t *len, hg_err *err)
{
    *out = NULL;
    if (len) *len = 0;
    int fd = hg_file_open(path, err);
    if (fd < 0) return HG_E_IO;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return hg_fail(err, HG_E_IO, "%s: %s", path, strerror(errno));
    }
    size_t n = (size_t)sb.st_size;
    if (max_bytes && n > max_bytes) {
        close(fd);
        return hg_fail(err, HG_E_RANGE, "%s: %zu bytes, more than the %zu allowed", path, n, max_bytes);
    }
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return hg_fail(err, HG_E_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) { /* the file may shrink while we read: keep what is there */
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return hg_fail(err, HG_E_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    if (len) *len = got;
    return HG_OK;
}

hg_status hg_read_file(const char *path, char **out, size_t *len, hg_err *err)
{
    return hg_file_read(path, 0, out, len, err);
}

/* Follow symlinks from path to the file they name (which may not exist). */
static hg_status resolve_target(const char *path, char *out, size_t cap, hg_err *err)
{
    if (snprintf(out, cap, "%s", path) >= (int)cap) return hg_fail(err, HG_E_ARG, "%s: path too long", path);
    for (int hops = 0; hops < 40; hops++) {
        struct stat sb;
        if (lstat(out, &sb) != 0) {
            if (errno == ENOENT) return HG_OK;
            return hg_fail(err, HG_E_IO, "%s: %s", path, strerror(errno));
        }
        if (!S_ISLNK(sb.st_mode)) {
            if (!S_ISREG(sb.st_mode))
                return hg_fail(err, HG_E_IO, "%s: exists and is not a regular file; not overwritten", path);
            return HG_OK;
        }
        char link[4096];
        ssize_t l = readlink(out, link, sizeof link - 1);
        if (l < 0) return hg_fail(err, HG_E_IO, "%s: %s", path, strerror(errno));
        link[l] = 0;
        char next[4096];
        const char *slash = strrchr(out, '/');
        int w;
        if (link[0] == '/' || !slash) w = snprintf(next, sizeof next, "%s", link);
        else w = snprintf(next, sizeof next, "%.*s/%s", (int)(slash - out), out, link);
        if (w >= (int)sizeof next || w >= (int)cap) return hg_fail(err, HG_E_ARG, "%s: path too long", path);
        memcpy(out, next, (size_t)w + 1);
    }
    return hg_fail(err, HG_E_IO, "%s: too many levels of symbolic links", path);
}

hg_status hg_atomic_open(hg_atomic *a, const char *path, hg_err *err)
{
    memset(a, 0, sizeof *a);
    a->fd = -1;
    hg_status s = resolve_target(path, a->target, sizeof a->target, err);
    if (s) return s;
    if (snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%d", a->target, (int)getpid()) >= (int)sizeof a->tmp)
        return hg_fail(err, HG_E_ARG, "%s: path too long", path);
    struct stat sb;
    mode_t mode = stat(a->target, &sb) == 0 ? (sb.st_mode & 07777) : 0666;
    for (int tries = 0; tries < 2; tries++) {
        a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (a->fd >= 0 || errno != EEXIST) break;
        unlink(a->tmp); /* a stale temporary file of an earlier process with our pid */
    }
    if (a->fd < 0) return hg_fail(err, HG_E_IO, "%s: %s", path, strerror(errno));
    if (mode == 0666) {
        mode_t um = umask(0);
        umask(um);
        mode &= ~um;
    }
    if (fchmod(a->fd, mode) != 0) { /* not fatal: keep 0600 */ }
    return HG_OK;
}

hg_status hg_atomic_write(hg_atomic *a, const void *data, size_t n)
{
    const char *p = data;
    while (n && !a->failed) {
        ssize_t w = write(a->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            a->failed = errno ? errno : EIO;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    return a->failed ? HG_E_IO : HG_OK;
}

hg_status hg_atomic_commit(hg_atomic *a, int ok, hg_err *err)
{
    if (a->fd >= 0) { /* -1: the caller closed it (through a FILE) */
        if (ok && !a->failed && fsync(a->fd) != 0 && errno != EINVAL) a->failed = errno;
        if (close(a->fd) != 0 && !a->failed) a->failed = errno;
        a->fd = -1;
    }
    if (!ok || a->failed) {
        unlink(a->tmp);
        return ok ? hg_fail(err, HG_E_IO, "%s: %s", a->target, strerror(a->failed)) : HG_E_IO;
    }
    /* the target may have become something else meanwhile: look again */
    struct stat sb;
    if (lstat(a->target, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        unlink(a->tmp);
        return hg_fail(err, HG_E_IO, "%s: exists and is not a regular file; not overwritten", a->target);
    }
    if (rename(a->tmp, a->target) != 0) {
        int e = errno;
        unlink(a->tmp);
        return hg_fail(err, HG_E_IO, "%s: %s", a->target, strerror(e));
    }
    return HG_OK;
}

hg_status hg_file_write_atomic(const char *path, const void *data, size_t n, hg_err *err)
{
    hg_atomic a;
    hg_status s = hg_atomic_open(&a, path, err);
    if (s) return s;
    hg_atomic_write(&a, data, n);
    return hg_atomic_commit(&a, 1, err);
}
