/* test_loader.c — checkpoint loading and validation (HUGINN.md §1).
 *
 * Every case builds a checkpoint in a fresh mkdtemp directory under /tmp:
 * the tiny model's config.json and generation_config.json, and a single
 * model.safetensors written here (header JSON with cJSON, then the data)
 * from the tiny model's real tensors, with one thing broken or changed.
 * Broken files must fail with HG_E_FORMAT / HG_E_IO / HG_E_UNSUPPORTED and a
 * message naming the file and the tensor; valid variants (n_heads, no
 * rope_base, BF16/F16 copies, extra tensors, hub ids) must load and compute
 * the same logits as the original. */
#include "testutil.h"
#include "huginn.h"
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TINY HG_FIXTURES "/tiny-huginn"

static hg_st g_src;          /* the tiny model's tensors (mapped) */
static float *g_ref;         /* its last-position logits for REF_IDS at 4 steps */
static int g_V;
static hg_load_params g_lp;  /* no converted-weights cache on disk */

static const int32_t REF_IDS[] = {1, 2, 3, 4, 5};

/* --------------------------------------------------------------- files */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void copy_file(const char *src, const char *dst)
{
    size_t n = 0;
    char *buf = tu_read_file(src, &n);
    if (!buf) fail_msg("cannot read %s", src);
    write_file(dst, buf, n);
    free(buf);
}

static void write_json(const char *path, const cJSON *j)
{
    char *s = cJSON_Print(j);
    write_file(path, s, strlen(s));
    free(s);
}

/* Temp directories still present (a failed case longjmps past its cleanup):
 * removed by the group teardown. */
static char *g_dirs[64];

static void track_dir(const char *dir, int add)
{
    for (int i = 0; i < 64; i++) {
        if (add && !g_dirs[i]) { g_dirs[i] = strdup(dir); return; }
        if (!add && g_dirs[i] && !strcmp(g_dirs[i], dir)) { free(g_dirs[i]); g_dirs[i] = NULL; return; }
    }
}

/* A temp checkpoint directory holding the tiny config files (no weights yet). */
static char *make_dir(void)
{
    char *dir = strdup("/tmp/hg_loader_XXXXXX");
    if (!mkdtemp(dir)) fail_msg("mkdtemp: %s", strerror(errno));
    track_dir(dir, 1);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", dir);
    copy_file(TINY "/config.json", p);
    snprintf(p, sizeof p, "%s/generation_config.json", dir);
    copy_file(TINY "/generation_config.json", p);
    return dir;
}

static void drop_dir(char *dir)
{
    rm_rf(dir);
    track_dir(dir, 0);
    free(dir);
}

/* ---------------------------------------------------- building files */

typedef struct ent {
    char name[160];
    char dtype[16];
    int ndim;
    int64_t shape[HG_ST_MAX_DIMS];
    const void *data;        /* bytes written to the data area */
    size_t nbytes;
    uint64_t b, e;           /* data_offsets written to the header */
} ent;

typedef struct ckpt {
    ent *v;
    int n;
    void *bufs[1024];
    int nbufs;
} ckpt;

/* contiguous offsets in order */
static void relayout(ckpt *c)
{
    uint64_t off = 0;
    for (int i = 0; i < c->n; i++) {
        c->v[i].b = off;
        off += c->v[i].nbytes;
        c->v[i].e = off;
    }
}

static void ckpt_from_src(ckpt *c)
{
    memset(c, 0, sizeof *c);
    c->v = calloc((size_t)g_src.n_tensors + 8, sizeof *c->v);
    for (int i = 0; i < g_src.n_tensors; i++) {
        const hg_st_tensor *t = &g_src.tensors[i];
        ent *e = &c->v[c->n++];
        snprintf(e->name, sizeof e->name, "%s", t->name);
        snprintf(e->dtype, sizeof e->dtype, "%s", hg_st_dtype_name(t->dtype));
        e->ndim = t->ndim;
        memcpy(e->shape, t->shape, sizeof e->shape);
        e->data = t->data;
        e->nbytes = t->nbytes;
    }
    relayout(c);
}

static void ckpt_free(ckpt *c)
{
    for (int i = 0; i < c->nbufs; i++) free(c->bufs[i]);
    free(c->v);
    memset(c, 0, sizeof *c);
}

static ent *ckpt_find(ckpt *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].name, name)) return &c->v[i];
    fail_msg("no tensor %s in the tiny checkpoint", name);
    return NULL;
}

static void ckpt_drop(ckpt *c, const char *name)
{
    ent *e = ckpt_find(c, name);
    int i = (int)(e - c->v);
    memmove(&c->v[i], &c->v[i + 1], sizeof *c->v * (size_t)(c->n - i - 1));
    c->n--;
    relayout(c);
}

static void ckpt_add(ckpt *c, const char *name, const char *dtype, int ndim, const int64_t *shape, size_t nbytes)
{
    ent *e = &c->v[c->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->dtype, sizeof e->dtype, "%s", dtype);
    e->ndim = ndim;
    memcpy(e->shape, shape, sizeof(int64_t) * (size_t)ndim);
    void *buf = calloc(1, nbytes ? nbytes : 1);
    for (size_t i = 0; i < nbytes; i++) ((unsigned char *)buf)[i] = (unsigned char)(i * 37 + 11);
    c->bufs[c->nbufs++] = buf;
    e->data = buf;
    e->nbytes = nbytes;
    relayout(c);
}

/* The header JSON text (padded with spaces so the data area is 8-aligned). */
static char *header_text(const ckpt *c, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    for (int i = 0; i < c->n; i++) {
        const ent *e = &c->v[i];
        cJSON *o = cJSON_AddObjectToObject(root, e->name);
        cJSON_AddStringToObject(o, "dtype", e->dtype);
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < e->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)e->shape[d]));
        cJSON *of = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)e->b));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)e->e));
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t n = strlen(s), padded = (n + 8 + 7) / 8 * 8 - 8;
    char *out = malloc(padded + 1);
    memcpy(out, s, n);
    memset(out + n, ' ', padded - n);
    out[padded] = 0;
    free(s);
    *len = padded;
    return out;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Write a safetensors file: u64 LE header length, header, the tensors' bytes in order. */
static void write_st_raw(const char *path, const char *header, size_t hlen, const ckpt *c)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    unsigned char len8[8];
    put_u64(len8, hlen);
    assert_int_equal(fwrite(len8, 1, 8, f), 8);
    assert_int_equal(fwrite(header, 1, hlen, f), hlen);
    for (int i = 0; c && i < c->n; i++)
        if (c->v[i].nbytes) assert_int_equal(fwrite(c->v[i].data, 1, c->v[i].nbytes, f), c->v[i].nbytes);
    assert_int_equal(fclose(f), 0);
}

static void write_st(const char *path, const ckpt *c)
{
    size_t hlen;
    char *h = header_text(c, &hlen);
    write_st_raw(path, h, hlen, c);
    free(h);
}

/* dir/model.safetensors from c; path out */
static void write_model(const char *dir, const ckpt *c, char *path, size_t n)
{
    snprintf(path, n, "%s/model.safetensors", dir);
    write_st(path, c);
}

/* --------------------------------------------------------- conversions */

static uint16_t to_bf16(float f) /* round to nearest even */
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static uint16_t to_f16(float f) /* round to nearest even, subnormals, inf */
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    int32_t fexp = (int32_t)((x >> 23) & 0xff);
    uint32_t man = x & 0x7fffffu;
    if (fexp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    int32_t exp = fexp - 127 + 15;
    if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {
        if (exp < -10) return sign;
        man |= 0x800000u;
        int shift = 14 - exp;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* a carry may round up into inf: correct */
    return (uint16_t)(sign | h);
}

static void convert_all(ckpt *c, int bf16)
{
    for (int i = 0; i < c->n; i++) {
        ent *e = &c->v[i];
        if (strcmp(e->dtype, "F32") != 0) continue;
        size_t n = e->nbytes / 4;
        uint16_t *buf = malloc(2 * n + 2);
        const unsigned char *src = e->data;
        for (size_t k = 0; k < n; k++) {
            float f;
            memcpy(&f, src + 4 * k, 4);
            buf[k] = bf16 ? to_bf16(f) : to_f16(f);
        }
        c->bufs[c->nbufs++] = buf;
        e->data = buf;
        e->nbytes = 2 * n;
        snprintf(e->dtype, sizeof e->dtype, "%s", bf16 ? "BF16" : "F16");
    }
    relayout(c);
}

static void test_conversions(void **state)
{
    (void)state;
    /* bf16: 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7 -> even (1.0);
     * 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6 -> even (1 + 2^-6) */
    assert_int_equal(to_bf16(1.0f), 0x3f80);
    assert_int_equal(to_bf16(1.0f + 0x1p-8f), 0x3f80);
    assert_int_equal(to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    assert_int_equal(to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    assert_int_equal(to_bf16(-2.0f), 0xc000);
    /* f16 */
    assert_int_equal(to_f16(1.0f), 0x3c00);
    assert_int_equal(to_f16(-2.0f), 0xc000);
    assert_int_equal(to_f16(65504.0f), 0x7bff);
    assert_int_equal(to_f16(1e6f), 0x7c00);
    assert_int_equal(to_f16(0x1p-24f), 0x0001); /* smallest subnormal */
    assert_int_equal(to_f16(0x1p-14f), 0x0400); /* smallest normal */
    assert_int_equal(to_f16(1.0f + 0x1p-11f), 0x3c00); /* halfway -> even */
    assert_int_equal(to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(to_f16(0.1f), 0x2e66);
}

/* ------------------------------------------------------------- checks */

static void forward_logits(hg_model *m, float *out)
{
    hg_ctx *c;
    hg_err e;
    if (hg_ctx_new(m, NULL, &c, &e) != HG_OK) fail_msg("ctx: %s", e.msg);
    if (hg_forward(c, REF_IDS, 5, 4, 0.0f, 0, NULL, out, &e) != HG_OK) fail_msg("forward: %s", e.msg);
    hg_ctx_free(c);
}

static double max_abs(const float *a, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

static double max_diff_from_ref(const float *a)
{
    double m = 0;
    for (int i = 0; i < g_V; i++) {
        double d = fabs((double)a[i] - g_ref[i]);
        if (!(d <= m)) m = d; /* NaN propagates */
    }
    return m;
}

static hg_model *load_ok(const char *path)
{
    hg_model *m = NULL;
    hg_err e;
    memset(&e, 0, sizeof e);
    hg_status st = hg_model_load(path, &g_lp, &m, &e);
    if (st != HG_OK) fail_msg("loading %s: %s (%s)", path, hg_status_str(st), e.msg);
    assert_non_null(m);
    return m;
}

/* Load must fail with `want` and a message containing every needle. */
static void load_fails(const char *path, hg_status want, const char *n1, const char *n2, const char *n3)
{
    hg_model *m = (hg_model *)0x1;
    hg_err e;
    memset(&e, 0, sizeof e);
    hg_status st = hg_model_load(path, &g_lp, &m, &e);
    if (st == HG_OK) {
        hg_model_free(m);
        fail_msg("loading %s succeeded; expected %s", path, hg_status_str(want));
    }
    assert_null(m);
    if (st != want) fail_msg("status %s, expected %s: %s", hg_status_str(st), hg_status_str(want), e.msg);
    const char *needles[3] = {n1, n2, n3};
    for (int i = 0; i < 3; i++)
        if (needles[i] && !strstr(e.msg, needles[i])) fail_msg("message lacks '%s': %s", needles[i], e.msg);
    print_message("    %s\n", e.msg);
}

/* ---------------------------------------------------------------- setup */

static int setup(void **state)
{
    (void)state;
    hg_err e;
    hg_load_params_default(&g_lp);
    g_lp.cache_dir = "";
    if (hg_st_open_dir(&g_src, TINY, &e) != HG_OK) {
        fprintf(stderr, "open %s: %s\n", TINY, e.msg);
        return -1;
    }
    hg_model *m;
    if (hg_model_load(TINY, &g_lp, &m, &e) != HG_OK) {
        fprintf(stderr, "load: %s\n", e.msg);
        return -1;
    }
    g_V = hg_model_config(m)->vocab_size;
    g_ref = malloc(sizeof(float) * (size_t)g_V);
    forward_logits(m, g_ref);
    hg_model_free(m);
    return 0;
}

static void hub_env_restore(void);
static char *g_saved_hub;

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 64; i++)
        if (g_dirs[i]) {
            rm_rf(g_dirs[i]);
            free(g_dirs[i]);
            g_dirs[i] = NULL;
        }
    if (g_saved_hub) hub_env_restore();
    hg_st_close(&g_src);
    free(g_ref);
    return 0;
}

/* -------------------------------------------------------- the intact file */

static void test_intact(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    char path[512];
    write_model(dir, &c, path, sizeof path);
    hg_model *m = load_ok(dir);
    assert_string_equal(hg_model_dir(m), dir);
    const hg_config *cf = hg_model_config(m);
    assert_int_equal(cf->n_embd, 64);
    assert_int_equal(cf->n_heads, 4);
    assert_int_equal(cf->head_dim, 16);
    assert_int_equal(cf->vocab_size, 512);
    assert_int_equal(cf->n_prelude, 2);
    assert_int_equal(cf->n_core, 4);
    assert_int_equal(cf->n_coda, 2);
    assert_int_equal(hg_model_weights(m), HG_WEIGHTS_F32);
    float *l = malloc(sizeof(float) * (size_t)g_V);
    forward_logits(m, l);
    double d = max_diff_from_ref(l);
    if (!(d <= 1e-6)) fail_msg("single-file copy differs from the sharded original by %g", d);
    assert_true(max_abs(l, g_V) > 0.1); /* real logits, not zeros */
    free(l);
    hg_model_free(m);
    ckpt_free(&c);
    drop_dir(dir);
}

/* ------------------------------------------------------- broken files */

static void test_truncated(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    char path[512];
    write_model(dir, &c, path, sizeof path);
    /* the first 100 bytes: the header length says more than there is */
    assert_int_equal(truncate(path, 100), 0);
    load_fails(dir, HG_E_FORMAT, path, NULL, NULL);
    /* 5 bytes: not even a header length */
    assert_int_equal(truncate(path, 5), 0);
    load_fails(dir, HG_E_FORMAT, path, NULL, NULL);
    /* empty */
    assert_int_equal(truncate(path, 0), 0);
    load_fails(dir, HG_E_FORMAT, path, NULL, NULL);
    /* the header intact but the data cut short: the last tensor runs past the end */
    write_model(dir, &c, path, sizeof path);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 4), 0);
    load_fails(dir, HG_E_FORMAT, path, c.v[c.n - 1].name, NULL);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_header_past_end(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    char path[512];
    write_model(dir, &c, path, sizeof path);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    /* header length = file size: runs 8 bytes past the end */
    unsigned char len8[8];
    put_u64(len8, (uint64_t)sb.st_size);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, len8, 8, 0), 8);
    close(fd);
    load_fails(dir, HG_E_FORMAT, path, NULL, NULL);
    /* an absurd length (2^63) must not overflow the check */
    put_u64(len8, (uint64_t)1 << 63);
    fd = open(path, O_WRONLY);
    assert_int_equal(pwrite(fd, len8, 8, 0), 8);
    close(fd);
    load_fails(dir, HG_E_FORMAT, path, NULL, NULL);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_offsets_past_end(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    /* the last tensor's range shifted by 8 bytes: ends 8 bytes past the data */
    ent *e = &c.v[c.n - 1];
    e->b += 8;
    e->e += 8;
    char path[512];
    write_model(dir, &c, path, sizeof path);
    load_fails(dir, HG_E_FORMAT, path, e->name, NULL);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_begin_after_end(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    ent *e = ckpt_find(&c, "transformer.core_block.1.attn.proj.weight");
    uint64_t t = e->b;
    e->b = e->e;
    e->e = t;
    char path[512];
    write_model(dir, &c, path, sizeof path);
    load_fails(dir, HG_E_FORMAT, path, e->name, NULL);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_overlap(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    /* norm_2 pointed at norm_1's bytes (same size, so only the overlap is wrong) */
    ent *a = ckpt_find(&c, "transformer.prelude.0.norm_1.weight");
    ent *b = ckpt_find(&c, "transformer.prelude.0.norm_2.weight");
    b->b = a->b;
    b->e = a->e;
    char path[512];
    write_model(dir, &c, path, sizeof path);
    load_fails(dir, HG_E_FORMAT, path, "transformer.prelude.0.norm_1.weight", "transformer.prelude.0.norm_2.weight");
    /* a partial overlap: a 4-byte shift into the neighbour */
    ckpt_free(&c);
    ckpt_from_src(&c);
    b = ckpt_find(&c, "transformer.prelude.0.norm_2.weight");
    b->b -= 4;
    b->e -= 4;
    write_model(dir, &c, path, sizeof path);
    load_fails(dir, HG_E_FORMAT, path, "transformer.prelude.0.norm_2.weight", NULL);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_unknown_dtype(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    ent *e = ckpt_find(&c, "transformer.coda.0.mlp.fc.weight");
    snprintf(e->dtype, sizeof e->dtype, "F99");
    char path[512];
    write_model(dir, &c, path, sizeof path);
    load_fails(dir, HG_E_FORMAT, path, e->name, "F99");
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_integer_dtype(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    /* I32 has the F32 byte size: a valid safetensors file, but not a weight type */
    ent *e = ckpt_find(&c, "transformer.core_block.0.attn.proj.weight");
    snprintf(e->dtype, sizeof e->dtype, "I32");
    char path[512];
    write_model(dir, &c, path, sizeof path);
    load_fails(dir, HG_E_UNSUPPORTED, path, e->name, "I32");
    /* and a norm vector */
    ckpt_free(&c);
    ckpt_from_src(&c);
    e = ckpt_find(&c, "transformer.ln_f.weight");
    snprintf(e->dtype, sizeof e->dtype, "I32");
    write_model(dir, &c, path, sizeof path);
    load_fails(dir, HG_E_UNSUPPORTED, path, e->name, NULL);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_wrong_shape(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    /* Wqkv stored as (64, 192) instead of (192, 64): same bytes, wrong orientation */
    ent *e = ckpt_find(&c, "transformer.prelude.1.attn.Wqkv.weight");
    assert_int_equal(e->shape[0], 192);
    e->shape[0] = 64;
    e->shape[1] = 192;
    char path[512];
    write_model(dir, &c, path, sizeof path);
    load_fails(dir, HG_E_FORMAT, path, e->name, "192");
    /* the embedding with its vocabulary and width swapped */
    ckpt_free(&c);
    ckpt_from_src(&c);
    e = ckpt_find(&c, "transformer.wte.weight");
    e->shape[0] = 64;
    e->shape[1] = 512;
    write_model(dir, &c, path, sizeof path);
    load_fails(dir, HG_E_FORMAT, path, e->name, NULL);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_missing_tensor(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    ckpt_drop(&c, "transformer.core_block.2.mlp.fc.weight");
    char path[512];
    write_model(dir, &c, path, sizeof path);
    /* no file holds it: the message names the checkpoint directory */
    load_fails(dir, HG_E_FORMAT, dir, "transformer.core_block.2.mlp.fc.weight", NULL);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_bytes_vs_shape(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    /* shape (63) for 256 bytes of F32 (64 values) */
    ent *e = ckpt_find(&c, "transformer.coda.1.norm_3.weight");
    e->shape[0] = 63;
    char path[512];
    write_model(dir, &c, path, sizeof path);
    load_fails(dir, HG_E_FORMAT, path, e->name, NULL);
    /* the byte range 4 short of the shape */
    ckpt_free(&c);
    ckpt_from_src(&c);
    e = ckpt_find(&c, "transformer.adapter.weight");
    e->e -= 4;
    write_model(dir, &c, path, sizeof path);
    load_fails(dir, HG_E_FORMAT, path, e->name, NULL);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_bad_header_json(void **state)
{
    (void)state;
    char *dir = make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *bad[] = {
        "{\"transformer.wte.weight\": {\"dtype\": \"F32\", \"shape\": [512, 64], \"data_offsets\": [0, 131",
        "[1, 2, 3]",
        "\"just a string\"",
        "{\"transformer.wte.weight\": 7}",
        "{\"transformer.wte.weight\": {\"dtype\": \"F32\", \"shape\": [-1, 64], \"data_offsets\": [0, 0]}}",
        "{\"transformer.wte.weight\": {\"dtype\": \"F32\", \"shape\": [512, 64], \"data_offsets\": [0]}}",
    };
    unsigned char pad[64];
    memset(pad, 0, sizeof pad);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "wb");
        unsigned char len8[8];
        put_u64(len8, strlen(bad[i]));
        fwrite(len8, 1, 8, f);
        fwrite(bad[i], 1, strlen(bad[i]), f);
        fwrite(pad, 1, sizeof pad, f);
        fclose(f);
        load_fails(dir, HG_E_FORMAT, path, NULL, NULL);
    }
    drop_dir(dir);
}

/* --------------------------------------------------------------- shards */

static void write_index(const char *dir, const ckpt *c, const char *shard, const char *other, const char *other_name)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
    cJSON_AddNumberToObject(meta, "total_size", 0);
    cJSON *wm = cJSON_AddObjectToObject(root, "weight_map");
    for (int i = 0; i < c->n; i++)
        cJSON_AddStringToObject(wm, c->v[i].name, other_name && !strcmp(c->v[i].name, other_name) ? other : shard);
    if (other_name && !cJSON_GetObjectItemCaseSensitive(wm, other_name)) cJSON_AddStringToObject(wm, other_name, other);
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    write_json(p, root);
    cJSON_Delete(root);
}

static void test_duplicate_across_shards(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt all, one;
    ckpt_from_src(&all);
    ckpt_from_src(&one);
    /* shard 1 holds everything, shard 2 holds ln_f again */
    for (int i = one.n - 1; i >= 0; i--)
        if (strcmp(one.v[i].name, "transformer.ln_f.weight")) ckpt_drop(&one, one.v[i].name);
    assert_int_equal(one.n, 1);
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
    write_st(p1, &all);
    write_st(p2, &one);
    write_index(dir, &all, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                "transformer.ln_f.weight");
    load_fails(dir, HG_E_FORMAT, "model-00002-of-00002.safetensors", "transformer.ln_f.weight", NULL);
    /* control: without the duplicate the same two-shard layout loads */
    ckpt rest;
    ckpt_from_src(&rest);
    ckpt_drop(&rest, "transformer.ln_f.weight");
    write_st(p1, &rest);
    hg_model *m = load_ok(dir);
    float *l = malloc(sizeof(float) * (size_t)g_V);
    forward_logits(m, l);
    assert_true(max_diff_from_ref(l) <= 1e-6);
    free(l);
    hg_model_free(m);
    ckpt_free(&rest);
    ckpt_free(&all);
    ckpt_free(&one);
    drop_dir(dir);
}

static void test_index_missing_shard(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt all;
    ckpt_from_src(&all);
    char p1[512], ip[512];
    snprintf(p1, sizeof p1, "%s/model-00001-of-00003.safetensors", dir);
    snprintf(ip, sizeof ip, "%s/model.safetensors.index.json", dir);
    write_st(p1, &all);
    write_index(dir, &all, "model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors",
                "transformer.extra.weight");
    load_fails(dir, HG_E_IO, ip, "model-00003-of-00003.safetensors", NULL);
    /* the index names a tensor its shard does not hold */
    cJSON *root = tu_read_json(ip);
    cJSON *wm = cJSON_GetObjectItem(root, "weight_map");
    cJSON_DeleteItemFromObject(wm, "transformer.extra.weight");
    cJSON_AddStringToObject(wm, "transformer.ghost.weight", "model-00001-of-00003.safetensors");
    write_json(ip, root);
    cJSON_Delete(root);
    load_fails(dir, HG_E_FORMAT, ip, "transformer.ghost.weight", NULL);
    /* the index itself is not JSON */
    write_file(ip, "{ nope", 6);
    load_fails(dir, HG_E_FORMAT, ip, NULL, NULL);
    ckpt_free(&all);
    drop_dir(dir);
}

/* --------------------------------------------------------------- config */

static void edit_config(const char *dir, const char *del, const char *add_key, double add_val)
{
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", dir);
    cJSON *j = tu_read_json(p);
    assert_non_null(j);
    if (del) {
        assert_non_null(cJSON_GetObjectItemCaseSensitive(j, del));
        cJSON_DeleteItemFromObjectCaseSensitive(j, del);
    }
    if (add_key) cJSON_AddNumberToObject(j, add_key, add_val);
    write_json(p, j);
    cJSON_Delete(j);
}

static void test_config_missing_field(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    char path[512], cfg[512];
    write_model(dir, &c, path, sizeof path);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    edit_config(dir, "vocab_size", NULL, 0);
    load_fails(dir, HG_E_FORMAT, cfg, "vocab_size", NULL);
    /* both head-count spellings absent */
    copy_file(TINY "/config.json", cfg);
    edit_config(dir, "num_attention_heads", NULL, 0);
    load_fails(dir, HG_E_FORMAT, cfg, "num_attention_heads", NULL);
    /* a field of the wrong type counts as missing */
    copy_file(TINY "/config.json", cfg);
    cJSON *j = tu_read_json(cfg);
    cJSON_ReplaceItemInObjectCaseSensitive(j, "n_embd", cJSON_CreateString("64"));
    write_json(cfg, j);
    cJSON_Delete(j);
    load_fails(dir, HG_E_FORMAT, cfg, "n_embd", NULL);
    /* no config.json at all */
    unlink(cfg);
    load_fails(dir, HG_E_IO, cfg, NULL, NULL);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_config_not_json(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    char path[512], cfg[512];
    write_model(dir, &c, path, sizeof path);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    write_file(cfg, "{ \"n_embd\": 64, oops", 20);
    load_fails(dir, HG_E_FORMAT, cfg, NULL, NULL);
    write_file(cfg, "[64, 4]", 7);
    load_fails(dir, HG_E_FORMAT, cfg, NULL, NULL);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_config_n_heads(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    char path[512];
    write_model(dir, &c, path, sizeof path);
    edit_config(dir, "num_attention_heads", "n_heads", 4);
    hg_model *m = load_ok(dir);
    assert_int_equal(hg_model_config(m)->n_heads, 4);
    assert_int_equal(hg_model_config(m)->head_dim, 16);
    float *l = malloc(sizeof(float) * (size_t)g_V);
    forward_logits(m, l);
    assert_true(max_diff_from_ref(l) <= 1e-6);
    free(l);
    hg_model_free(m);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_config_rope_default(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    char path[512];
    write_model(dir, &c, path, sizeof path);
    edit_config(dir, "rope_base", NULL, 0);
    hg_model *m = load_ok(dir);
    assert_true(hg_model_config(m)->rope_base == 50000.0f);
    /* the tiny model was made with 50000: same logits */
    float *l = malloc(sizeof(float) * (size_t)g_V);
    forward_logits(m, l);
    assert_true(max_diff_from_ref(l) <= 1e-6);
    hg_model_free(m);
    /* control: another base is read and changes the result */
    edit_config(dir, NULL, "rope_base", 10000);
    m = load_ok(dir);
    assert_true(hg_model_config(m)->rope_base == 10000.0f);
    forward_logits(m, l);
    assert_true(max_diff_from_ref(l) > 1e-4);
    free(l);
    hg_model_free(m);
    ckpt_free(&c);
    drop_dir(dir);
}

/* --------------------------------------------------- other precisions */

static void check_precision(int bf16)
{
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    convert_all(&c, bf16);
    char path[512];
    write_model(dir, &c, path, sizeof path);
    hg_model *m = load_ok(dir);
    /* AUTO: BF16 checkpoints run in bf16, F16 ones are widened to f32 */
    assert_int_equal(hg_model_weights(m), bf16 ? HG_WEIGHTS_BF16 : HG_WEIGHTS_F32);
    float *l = malloc(sizeof(float) * (size_t)g_V);
    forward_logits(m, l);
    double d = max_diff_from_ref(l), scale = max_abs(g_ref, g_V);
    /* bf16 keeps 8 bits of mantissa (relative error 2^-9 per weight), f16 11 bits (2^-12) */
    double tol = bf16 ? 0.1 * scale : 1e-2;
    print_message("    %s: max |logit - f32| = %.3g (max |logit| %.3g, tolerance %.3g)\n", bf16 ? "BF16" : "F16",
                  d, scale, tol);
    if (!(d <= tol)) fail_msg("%s logits differ from F32 by %g > %g", bf16 ? "BF16" : "F16", d, tol);
    /* and the difference is real: the weights were rounded */
    assert_true(d > 0);
    free(l);
    hg_model_free(m);
    /* the same bytes with weights forced to f32 */
    hg_load_params lp = g_lp;
    lp.weights = HG_WEIGHTS_F32;
    hg_err e;
    assert_int_equal(hg_model_load(dir, &lp, &m, &e), HG_OK);
    assert_int_equal(hg_model_weights(m), HG_WEIGHTS_F32);
    hg_model_free(m);
    ckpt_free(&c);
    drop_dir(dir);
}

static void test_bf16(void **state)
{
    (void)state;
    check_precision(1);
}

static void test_f16(void **state)
{
    (void)state;
    check_precision(0);
}

static void test_extra_tensors(void **state)
{
    (void)state;
    char *dir = make_dir();
    ckpt c;
    ckpt_from_src(&c);
    ckpt_find(&c, "freqs_cis"); /* the tiny checkpoint carries it */
    ckpt_add(&c, "transformer.unused.weight", "F32", 2, (int64_t[]){3, 5}, 60);
    ckpt_add(&c, "some.counter", "I64", 1, (int64_t[]){2}, 16);
    ckpt_add(&c, "model.flags", "BOOL", 1, (int64_t[]){3}, 3);
    ckpt_add(&c, "model.empty", "F32", 2, (int64_t[]){0, 4}, 0);
    char path[512];
    write_model(dir, &c, path, sizeof path);
    hg_model *m = load_ok(dir);
    float *l = malloc(sizeof(float) * (size_t)g_V);
    forward_logits(m, l);
    assert_true(max_diff_from_ref(l) <= 1e-6);
    hg_model_free(m);
    /* freqs_cis is optional too */
    ckpt_drop(&c, "freqs_cis");
    write_model(dir, &c, path, sizeof path);
    m = load_ok(dir);
    forward_logits(m, l);
    assert_true(max_diff_from_ref(l) <= 1e-6);
    hg_model_free(m);
    /* a tied checkpoint without lm_head.weight uses wte */
    ckpt_drop(&c, "lm_head.weight");
    write_model(dir, &c, path, sizeof path);
    m = load_ok(dir);
    forward_logits(m, l);
    assert_true(max_diff_from_ref(l) <= 1e-5);
    hg_model_free(m);
    free(l);
    ckpt_free(&c);
    drop_dir(dir);
}

/* ------------------------------------------------------------------ hub */

static void hub_env(const char *cache)
{
    const char *old = getenv("HF_HUB_CACHE");
    free(g_saved_hub);
    g_saved_hub = old ? strdup(old) : NULL;
    setenv("HF_HUB_CACHE", cache, 1);
}

static void hub_env_restore(void)
{
    if (g_saved_hub) setenv("HF_HUB_CACHE", g_saved_hub, 1);
    else unsetenv("HF_HUB_CACHE");
    free(g_saved_hub);
    g_saved_hub = NULL;
}

/* cache/models--acme--tiny/snapshots/REV with symlinks to the tiny files */
static void make_snapshot(const char *cache, const char *rev, int with_config)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/models--acme--tiny", cache);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/models--acme--tiny/snapshots", cache);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/models--acme--tiny/snapshots/%s", cache, rev);
    assert_int_equal(mkdir(p, 0755), 0);
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors.index.json",
                           "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                           "tokenizer.json", "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (!with_config && !strcmp(files[i], "config.json")) continue;
        char src[1024], real[4096], dst[2048];
        snprintf(src, sizeof src, TINY "/%s", files[i]);
        assert_non_null(realpath(src, real));
        snprintf(dst, sizeof dst, "%s/%s", p, files[i]);
        assert_int_equal(symlink(real, dst), 0);
    }
}

static void set_mtime(const char *cache, const char *rev, time_t t)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/models--acme--tiny/snapshots/%s", cache, rev);
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static void expect_hub_dir(const char *cache, const char *rev)
{
    char want[1024];
    snprintf(want, sizeof want, "%s/models--acme--tiny/snapshots/%s", cache, rev);
    hg_model *m = load_ok("acme/tiny");
    if (strcmp(hg_model_dir(m), want) != 0) fail_msg("resolved to %s, expected %s", hg_model_dir(m), want);
    assert_int_equal(hg_model_config(m)->vocab_size, 512);
    hg_model_free(m);
}

static void test_hub(void **state)
{
    (void)state;
    char cache[] = "/tmp/hg_hub_XXXXXX";
    assert_non_null(mkdtemp(cache));
    track_dir(cache, 1);
    hub_env(cache);
    make_snapshot(cache, "rev1", 1);
    expect_hub_dir(cache, "rev1");
    /* the loaded hub model computes what the directory does */
    hg_model *m = load_ok("acme/tiny");
    float *l = malloc(sizeof(float) * (size_t)g_V);
    forward_logits(m, l);
    assert_true(max_diff_from_ref(l) <= 1e-6);
    free(l);
    hg_model_free(m);
    hub_env_restore();
    rm_rf(cache);
    track_dir(cache, 0);
}

static void test_hub_newest(void **state)
{
    (void)state;
    char cache[] = "/tmp/hg_hub_XXXXXX";
    assert_non_null(mkdtemp(cache));
    track_dir(cache, 1);
    hub_env(cache);
    make_snapshot(cache, "rev1", 1);
    make_snapshot(cache, "rev2", 1);
    time_t now = time(NULL);
    set_mtime(cache, "rev1", now - 200);
    set_mtime(cache, "rev2", now - 100);
    expect_hub_dir(cache, "rev2");
    set_mtime(cache, "rev1", now - 50);
    expect_hub_dir(cache, "rev1");
    /* a newer snapshot without config.json (an interrupted download) is passed over */
    make_snapshot(cache, "rev3", 0);
    set_mtime(cache, "rev3", now);
    expect_hub_dir(cache, "rev1");
    hub_env_restore();
    rm_rf(cache);
    track_dir(cache, 0);
}

static void test_hub_missing(void **state)
{
    (void)state;
    char cache[] = "/tmp/hg_hub_XXXXXX";
    assert_non_null(mkdtemp(cache));
    track_dir(cache, 1);
    hub_env(cache);
    char snaps[1024];
    snprintf(snaps, sizeof snaps, "%s/models--acme--nothing/snapshots", cache);
    load_fails("acme/nothing", HG_E_IO, snaps, "huggingface-cli download", "acme/nothing");
    /* the repository directory exists but has no snapshot */
    char p[1024];
    snprintf(p, sizeof p, "%s/models--acme--nothing", cache);
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(mkdir(snaps, 0755), 0);
    load_fails("acme/nothing", HG_E_IO, snaps, "huggingface-cli download", NULL);
    /* HF_HOME/hub is used when HF_HUB_CACHE is not set */
    unsetenv("HF_HUB_CACHE");
    const char *old_home = getenv("HF_HOME");
    char *saved_home = old_home ? strdup(old_home) : NULL;
    setenv("HF_HOME", cache, 1);
    snprintf(snaps, sizeof snaps, "%s/hub/models--acme--nothing/snapshots", cache);
    load_fails("acme/nothing", HG_E_IO, snaps, NULL, NULL);
    if (saved_home) setenv("HF_HOME", saved_home, 1);
    else unsetenv("HF_HOME");
    free(saved_home);
    /* a path that is neither a directory nor a hub id */
    load_fails("/nonexistent/dir/for/huginn", HG_E_IO, "/nonexistent/dir/for/huginn", NULL, NULL);
    hub_env_restore();
    rm_rf(cache);
    track_dir(cache, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_intact),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_header_past_end),
        cmocka_unit_test(test_offsets_past_end),
        cmocka_unit_test(test_begin_after_end),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_integer_dtype),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_bytes_vs_shape),
        cmocka_unit_test(test_bad_header_json),
        cmocka_unit_test(test_duplicate_across_shards),
        cmocka_unit_test(test_index_missing_shard),
        cmocka_unit_test(test_config_missing_field),
        cmocka_unit_test(test_config_not_json),
        cmocka_unit_test(test_config_n_heads),
        cmocka_unit_test(test_config_rope_default),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_extra_tensors),
        cmocka_unit_test(test_hub),
        cmocka_unit_test(test_hub_newest),
        cmocka_unit_test(test_hub_missing),
    };
    return cmocka_run_group_tests_name("loader", tests, setup, teardown);
}
