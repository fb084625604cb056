/* fuzz.h — shared by the libFuzzer harnesses (make fuzz): a private temp
 * directory for inputs that the code under test reads from files. */
#ifndef HG_FUZZ_H
#define HG_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The process's temp directory (made once, removed at exit). */
static char fz_dir[64];
static inline void fz_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir);
    if (fz_dir[0] && system(cmd)) { /* nothing to do */ }
}
static inline const char *fz_tmpdir(void)
{
    if (!fz_dir[0]) {
        snprintf(fz_dir, sizeof fz_dir, "/tmp/huginn-fuzz-XXXXXX");
        if (!mkdtemp(fz_dir)) abort();
        atexit(fz_cleanup);
    }
    return fz_dir;
}

/* Write n bytes to <tmpdir>/name; the path (static buffer per call site). */
static inline void fz_write(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    fclose(f);
}
#endif
