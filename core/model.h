/* model.h — the loaded checkpoint: config, weights (f32), RoPE tables. */
#ifndef HG_MODEL_H
#define HG_MODEL_H

#include "internal.h"
#include "safetensors.h"
#include "kernels.h"
#include "pool.h"
#include "amx.h"

typedef struct hg_layer {
    const float *norm[4];    /* norm_1..norm_4 (n_embd)                               */
    hg_mat wqkv;             /* (q_dim + 2 kv_dim, n_embd): rows Q, then K, then V    */
    const float *qk_bias;    /* (2, 1, n_heads, head_dim): [0] added to q, [1] to k; NULL when absent */
    hg_mat attn_proj;        /* (n_embd, q_dim)                                       */
    hg_mat fc;               /* (2 intermediate, n_embd): first half gate, then up   */
    hg_mat mlp_proj;         /* (n_embd, intermediate)                                */
} hg_layer;

struct hg_model {
    hg_config cfg;
    hg_gen_defaults gen;
    char *dir;
    int q_dim, kv_dim;       /* n_heads * head_dim, n_kv_heads * head_dim             */
    hg_layer *prelude;       /* n_prelude layers                                      */
    hg_layer *core;          /* n_core layers                                         */
    hg_layer *coda;          /* n_coda layers                                         */
    hg_mat wte;              /* (vocab, n_embd)                                       */
    hg_mat lm_head;          /* (vocab, n_embd); wte itself when tied and not stored  */
    int tied_head;
    hg_mat adapter;          /* (n_embd, 2 n_embd): input is concat(state, embedding) */
    const float *ln_f;       /* (n_embd)                                              */
    float *rope_cos;         /* (block_size, head_dim / 2)                            */
    float *rope_sin;         /* (block_size, head_dim / 2)                            */
    hg_st st;                /* the mapped files                                      */
    void **owned;            /* converted tensors we allocated                        */
    void *cache_map;         /* mapped converted-weights cache file                   */
    size_t cache_size;
    hg_weights weights;      /* format of the big matrices                            */
    hg_pool *pool;           /* persistent threads for the decode kernels             */
    hg_workspace ws;         /* prefill scratch: expanded tiles, AMX workspace        */
    hg_amx_ws amx;
    int n_owned;
    size_t weight_bytes;
    int n_threads;
};

/* An allocation owned (and freed) by the model, 64-byte aligned. */
void *hg_model_own(hg_model *m, size_t bytes);
/* Fill rope_cos / rope_sin from the config. */
void hg_model_rope_tables(hg_model *m);
/* The thread pool and prefill workspace (after weights and n_threads are set). */
hg_status hg_model_init_runtime(hg_model *m, hg_err *err);
/* A prefill workspace for the model's weights (the model's own, or a
 * context's that runs on its own threads); freed with the second call. */
hg_status hg_model_workspace_init(const hg_model *m, hg_workspace *ws, hg_amx_ws *amx);
void hg_model_workspace_free(hg_workspace *ws, hg_amx_ws *amx);

/* Parse config.json text into cfg (both head-count spellings, defaults). */
hg_status hg_config_parse(const char *json, const char *what, hg_config *cfg, hg_err *err);

/* Resolve a directory or hub id "ORG/NAME" to a snapshot directory
 * (malloc'd).  The error says where it looked. */
hg_status hg_resolve_model_path(const char *path_or_id, char **dir, hg_err *err);

#endif
