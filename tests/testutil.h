/* testutil.h — shared helpers for the cmocka suites (run from the repo root). */
#ifndef HG_TESTUTIL_H
#define HG_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#ifndef HG_FIXTURES
#define HG_FIXTURES "tests/fixtures"
#endif

/* Read a whole file into a malloc'd NUL-terminated buffer (NULL on failure). */
static inline char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; if (len) *len = (size_t)n; }
    return buf;
}

static inline cJSON *tu_read_json(const char *path)
{
    char *s = tu_read_file(path, NULL);
    if (!s) return NULL;
    cJSON *j = cJSON_Parse(s);
    free(s);
    return j;
}

/* A JSON array of integers into a malloc'd int32 array. */
static inline int32_t *tu_json_ids(const cJSON *arr, int *n)
{
    int len = cJSON_GetArraySize(arr);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(len ? len : 1));
    for (int i = 0; i < len; i++) ids[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
    *n = len;
    return ids;
}
#endif
