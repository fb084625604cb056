/* safetensors.c — parse, validate and memory-map safetensors files.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
 *  "__metadata__": {...}}, then the data area; offsets are relative to it.
 * Everything is checked before a pointer is handed out: header inside the
 * file, JSON well formed, dtype known, shape product * dtype size equal to
 * the byte range without overflow, ranges inside the data area and not
 * overlapping.  Errors name the file and the tensor. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct { const char *name; hg_st_dtype d; size_t size; } dtypes[] = {
    {"F32", HG_ST_F32, 4},   {"BF16", HG_ST_BF16, 2}, {"F16", HG_ST_F16, 2},
    {"F64", HG_ST_F64, 8},   {"I64", HG_ST_I64, 8},   {"I32", HG_ST_I32, 4},
    {"I16", HG_ST_I16, 2},   {"I8", HG_ST_I8, 1},     {"U8", HG_ST_U8, 1},
    {"BOOL", HG_ST_BOOL, 1}, {"U16", HG_ST_U16, 2},   {"U32", HG_ST_U32, 4},
    {"U64", HG_ST_U64, 8},   {"F8_E4M3", HG_ST_F8_E4M3, 1},
    {"F8_E5M2", HG_ST_F8_E5M2, 1}, {"C64", HG_ST_C64, 8},
};

const char *hg_st_dtype_name(hg_st_dtype d)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].d == d) return dtypes[i].name;
    return "?";
}

size_t hg_st_dtype_size(hg_st_dtype d)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].d == d) return dtypes[i].size;
    return 0;
}

static int parse_dtype(const char *s, hg_st_dtype *d)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, s) == 0) { *d = dtypes[i].d; return 1; }
    return 0;
}

typedef struct { size_t b, e; int idx; } range_t;

static int cmp_range(const void *a, const void *b)
{
    const range_t *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : (x->e < y->e ? -1 : x->e > y->e);
}

static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9.0e15) || v != (double)(uint64_t)v) return 0;
    *out = (uint64_t)v;
    return 1;
}

hg_status hg_st_add_file(hg_st *st, const char *path, hg_err *err)
{
    int fd = hg_file_open(path, err);
    if (fd < 0) return HG_E_IO;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return hg_fail(err, HG_E_IO, "%s: %s", path, strerror(errno));
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return hg_fail(err, HG_E_FORMAT, "%s: truncated safetensors file (%zu bytes, no header)", path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return hg_fail(err, HG_E_IO, "%s: mmap failed: %s", path, strerror(errno));

    const unsigned char *p = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    hg_status st_ = HG_OK;
    cJSON *root = NULL;
    range_t *ranges = NULL;
    int first_new = st->n_tensors;
    if (hlen > size - 8) {
        st_ = hg_fail(err, HG_E_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)",
                      path, (unsigned long long)hlen, size);
        goto fail;
    }
    root = cJSON_ParseWithLength((const char *)p + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        st_ = hg_fail(err, HG_E_FORMAT, "%s: header is not a well-formed JSON object", path);
        goto fail;
    }
    size_t data_off = 8 + (size_t)hlen;
    size_t data_size = size - data_off;

    int n = cJSON_GetArraySize(root);
    hg_st_file *nf = realloc(st->files, sizeof *nf * (size_t)(st->n_files + 1));
    hg_st_tensor *nt = realloc(st->tensors, sizeof *nt * (size_t)(st->n_tensors + n));
    if (nf) st->files = nf;
    if (nt) st->tensors = nt;
    ranges = malloc(sizeof *ranges * (size_t)(n ? n : 1));
    if (!nf || !nt || !ranges) {
        st_ = hg_fail(err, HG_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    int file_idx = st->n_files;
    int nr = 0;
    for (cJSON *it = root->child; it; it = it->next) {
        const char *name = it->string;
        if (strcmp(name, "__metadata__") == 0) continue;
        if (!cJSON_IsObject(it)) {
            st_ = hg_fail(err, HG_E_FORMAT, "%s: tensor '%s': entry is not an object", path, name);
            goto fail;
        }
        if (hg_st_find(st, name)) {
            st_ = hg_fail(err, HG_E_FORMAT, "%s: tensor '%s' is defined twice", path, name);
            goto fail;
        }
        cJSON *jd = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        cJSON *js = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *jo = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        hg_st_tensor t = {0};
        if (!cJSON_IsString(jd) || !parse_dtype(jd->valuestring, &t.dtype)) {
            st_ = hg_fail(err, HG_E_FORMAT, "%s: tensor '%s': unknown dtype '%s'", path, name,
                          cJSON_IsString(jd) ? jd->valuestring : "(missing)");
            goto fail;
        }
        if (!cJSON_IsArray(js) || cJSON_GetArraySize(js) > HG_ST_MAX_DIMS) {
            st_ = hg_fail(err, HG_E_FORMAT, "%s: tensor '%s': bad shape", path, name);
            goto fail;
        }
        t.ndim = cJSON_GetArraySize(js);
        uint64_t numel = 1;
        for (int d = 0; d < t.ndim; d++) {
            uint64_t v;
            if (!json_uint(cJSON_GetArrayItem(js, d), &v)) {
                st_ = hg_fail(err, HG_E_FORMAT, "%s: tensor '%s': bad shape entry", path, name);
                goto fail;
            }
            t.shape[d] = (int64_t)v;
            if (v != 0 && numel > UINT64_MAX / v / 8) {
                st_ = hg_fail(err, HG_E_FORMAT, "%s: tensor '%s': shape overflows", path, name);
                goto fail;
            }
            numel *= v;
        }
        uint64_t b, e;
        if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !json_uint(cJSON_GetArrayItem(jo, 0), &b) ||
            !json_uint(cJSON_GetArrayItem(jo, 1), &e) || b > e) {
            st_ = hg_fail(err, HG_E_FORMAT, "%s: tensor '%s': bad data_offsets", path, name);
            goto fail;
        }
        if (e > data_size) {
            st_ = hg_fail(err, HG_E_FORMAT,
                          "%s: tensor '%s': data offsets [%llu, %llu] run past the end of the data (%zu bytes)",
                          path, name, (unsigned long long)b, (unsigned long long)e, data_size);
            goto fail;
        }
        uint64_t need = numel * hg_st_dtype_size(t.dtype);
        if (need != e - b) {
            st_ = hg_fail(err, HG_E_FORMAT, "%s: tensor '%s': %llu bytes for shape of %llu %s values", path, name,
                          (unsigned long long)(e - b), (unsigned long long)numel, jd->valuestring);
            goto fail;
        }
        t.numel = (int64_t)numel;
        t.nbytes = (size_t)need;
        t.data = p + data_off + b;
        t.file = file_idx;
        t.name = strdup(name);
        if (!t.name) {
            st_ = hg_fail(err, HG_E_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        ranges[nr].b = (size_t)b;
        ranges[nr].e = (size_t)e;
        ranges[nr].idx = st->n_tensors;
        nr++;
        st->tensors[st->n_tensors++] = t;
    }
    qsort(ranges, (size_t)nr, sizeof *ranges, cmp_range);
    for (int i = 1; i < nr; i++) {
        if (ranges[i].b < ranges[i - 1].e) {
            st_ = hg_fail(err, HG_E_FORMAT, "%s: tensors '%s' and '%s' overlap", path,
                          st->tensors[ranges[i - 1].idx].name, st->tensors[ranges[i].idx].name);
            goto fail;
        }
    }
    st->files[file_idx].path = strdup(path);
    st->files[file_idx].map = map;
    st->files[file_idx].size = size;
    st->n_files++;
    free(ranges);
    cJSON_Delete(root);
    return HG_OK;

fail:
    for (int i = first_new; i < st->n_tensors; i++) free(st->tensors[i].name);
    st->n_tensors = first_new;
    free(ranges);
    cJSON_Delete(root);
    munmap(map, size);
    return st_;
}

/* Something is there (a FIFO or a directory too: opening it says what is
 * wrong rather than the loader quietly looking elsewhere). */
static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static hg_status open_index(hg_st *st, const char *dir, const char *index_path, hg_err *err)
{
    char *text = NULL;
    hg_status s = hg_read_file(index_path, &text, NULL, err);
    if (s != HG_OK) return s;
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return hg_fail(err, HG_E_FORMAT, "%s: not a JSON object with a \"weight_map\"", index_path);
    }
    /* Open each shard once, in order of first mention. */
    char **seen = NULL;
    int n_seen = 0;
    s = HG_OK;
    for (cJSON *it = wm->child; it && s == HG_OK; it = it->next) {
        if (!cJSON_IsString(it)) {
            s = hg_fail(err, HG_E_FORMAT, "%s: weight_map entry '%s' is not a file name", index_path, it->string);
            break;
        }
        const char *fn = it->valuestring;
        if (!*fn || strchr(fn, '/') || strcmp(fn, "..") == 0) {
            s = hg_fail(err, HG_E_FORMAT, "%s: bad shard file name '%s'", index_path, fn);
            break;
        }
        int dup = 0;
        for (int i = 0; i < n_seen; i++) dup |= strcmp(seen[i], fn) == 0;
        if (dup) continue;
        char **ns = realloc(seen, sizeof *ns * (size_t)(n_seen + 1));
        if (!ns) { s = hg_fail(err, HG_E_NOMEM, "out of memory"); break; }
        seen = ns;
        seen[n_seen++] = (char *)fn;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, fn);
        if (!file_exists(path)) {
            s = hg_fail(err, HG_E_IO, "%s: shard '%s' named in the index is missing", index_path, fn);
            break;
        }
        s = hg_st_add_file(st, path, err);
    }
    /* Every tensor the index names must be in the shard it names. */
    for (cJSON *it = wm->child; it && s == HG_OK; it = it->next) {
        const hg_st_tensor *t = hg_st_find(st, it->string);
        if (!t) {
            s = hg_fail(err, HG_E_FORMAT, "%s: tensor '%s' is not in shard '%s'", index_path, it->string,
                        it->valuestring);
            break;
        }
        const char *fp = st->files[t->file].path;
        const char *base = strrchr(fp, '/');
        base = base ? base + 1 : fp;
        if (strcmp(base, it->valuestring) != 0)
            s = hg_fail(err, HG_E_FORMAT, "%s: tensor '%s' is in '%s', not in '%s' as the index says",
                        index_path, it->string, base, it->valuestring);
    }
    free(seen);
    cJSON_Delete(root);
    return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

hg_status hg_st_open_dir(hg_st *st, const char *dir, hg_err *err)
{
    char path[4096];
    memset(st, 0, sizeof *st);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    hg_status s;
    if (file_exists(path)) {
        s = open_index(st, dir, path, err);
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (file_exists(path)) {
            s = hg_st_add_file(st, path, err);
        } else {
            DIR *d = opendir(dir);
            if (!d) return hg_fail(err, HG_E_IO, "%s: %s", dir, strerror(errno));
            char **names = NULL;
            int n = 0;
            struct dirent *de;
            while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l > 12 && strcmp(de->d_name + l - 12, ".safetensors") == 0) {
                    char **nn = realloc(names, sizeof *nn * (size_t)(n + 1));
                    if (!nn) break;
                    names = nn;
                    names[n++] = strdup(de->d_name);
                }
            }
            closedir(d);
            qsort(names, (size_t)n, sizeof *names, cmp_str);
            s = n ? HG_OK : hg_fail(err, HG_E_IO, "%s: no model.safetensors, no index and no *.safetensors file", dir);
            for (int i = 0; i < n; i++) {
                if (s == HG_OK) {
                    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
                    s = hg_st_add_file(st, path, err);
                }
                free(names[i]);
            }
            free(names);
        }
    }
    if (s != HG_OK) hg_st_close(st);
    return s;
}

const hg_st_tensor *hg_st_find(const hg_st *st, const char *name)
{
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

void hg_st_close(hg_st *st)
{
    for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    for (int i = 0; i < st->n_files; i++) {
        munmap(st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    free(st->tensors);
    free(st->files);
    memset(st, 0, sizeof *st);
}
