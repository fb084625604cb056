/* fuzz_checkpoint.c — checkpoint loading: config.json and a safetensors file
 * from one input (2 bytes: the config's length, then the config, then the
 * safetensors bytes), loaded with every tensor validated; a model that loads
 * runs a forward pass of two tokens.  The first run seeds an empty corpus
 * with a tiny random checkpoint (and tiny-huginn's config). */
#include "fuzz.h"
#include "huginn.h"

#include <dirent.h>
#include <sys/stat.h>

static void pack(const char *cfg_path, const char *st_path, const char *out_path)
{
    FILE *f = fopen(cfg_path, "rb"), *g = fopen(st_path, "rb"), *o = fopen(out_path, "wb");
    if (!f || !g || !o) abort();
    static uint8_t cfg[65535], st[1 << 20];
    size_t nc = fread(cfg, 1, sizeof cfg, f), ns = fread(st, 1, sizeof st, g);
    uint8_t hdr[2] = {(uint8_t)(nc & 0xff), (uint8_t)(nc >> 8)};
    fwrite(hdr, 1, 2, o);
    fwrite(cfg, 1, nc, o);
    fwrite(st, 1, ns, o);
    fclose(f);
    fclose(g);
    fclose(o);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* seed an empty corpus directory (the last argument that is one) */
    const char *corpus = NULL;
    for (int i = 1; i < *argc; i++) {
        struct stat sb;
        if ((*argv)[i][0] != '-' && stat((*argv)[i], &sb) == 0 && S_ISDIR(sb.st_mode)) corpus = (*argv)[i];
    }
    if (!corpus) return 0;
    DIR *d = opendir(corpus);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += e->d_name[0] != '.';
    if (d) closedir(d);
    if (n) return 0;
    char dir[256], a[512], b[512], out[512];
    snprintf(dir, sizeof dir, "%s/seed", fz_tmpdir());
    hg_config c = {.n_embd = 16, .n_heads = 2, .n_kv_heads = 2, .head_dim = 8, .intermediate_size = 32,
                   .vocab_size = 32, .block_size = 16, .n_prelude = 1, .n_core = 1, .n_coda = 1,
                   .mean_recurrence = 2, .norm_eps = 1e-6f, .rope_base = 50000, .qk_bias = 1, .tie_embeddings = 1};
    hg_err err;
    for (int dt = 0; dt < 2; dt++) {
        if (hg_write_random_checkpoint(dir, &c, dt ? HG_DTYPE_BF16 : HG_DTYPE_F32, 7, 1 << 30, NULL, NULL, &err))
            continue;
        snprintf(a, sizeof a, "%s/config.json", dir);
        snprintf(b, sizeof b, "%s/model-00001-of-00001.safetensors", dir);
        snprintf(out, sizeof out, "%s/seed-random-%s", corpus, dt ? "bf16" : "f32");
        if (access(b, R_OK) == 0) pack(a, b, out);
    }
    snprintf(out, sizeof out, "%s/seed-tiny-config", corpus);
    if (access("tests/fixtures/tiny-huginn/config.json", R_OK) == 0)
        pack("tests/fixtures/tiny-huginn/config.json", "tests/fixtures/tiny-huginn/model-00002-of-00002.safetensors", out);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t nc = (size_t)data[0] | (size_t)data[1] << 8;
    if (nc > size - 2) nc = size - 2;
    char dir[256], p[300];
    snprintf(dir, sizeof dir, "%s/m", fz_tmpdir());
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/config.json", dir);
    fz_write(p, data + 2, nc);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    fz_write(p, data + 2 + nc, size - 2 - nc);
    hg_load_params lp;
    hg_load_params_default(&lp);
    lp.n_threads = 1;
    lp.cache_dir = "";
    hg_model *m = NULL;
    hg_err e;
    if (hg_model_load(dir, &lp, &m, &e) != HG_OK) return 0;
    hg_ctx_params cp;
    hg_ctx_params_default(&cp);
    cp.n_ctx = 4;
    hg_ctx *c = NULL;
    if (hg_ctx_new(m, &cp, &c, &e) == HG_OK) {
        int32_t ids[2] = {0, hg_model_config(m)->vocab_size - 1};
        hg_forward(c, ids, 2, 1, 0, 0, NULL, NULL, &e);
        hg_ctx_free(c);
    }
    hg_model_free(m);
    return 0;
}
