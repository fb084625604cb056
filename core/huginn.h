/*
 * huginn.h — the public interface of the huginn engine library (core/).
 *
 * Huginn-0125 is a recurrent-depth language model: a prelude, one core block
 * iterated num_steps times on a latent state, and a coda.  This library loads
 * checkpoints, runs the forward pass exactly like the reference implementation,
 * generates with per-token adaptive compute, and tokenizes text.
 *
 * Rules of the library: it never prints and never exits.  Every fallible call
 * returns an hg_status and, when given one, fills an hg_err with a one-line
 * message naming what went wrong (file, tensor, value).  The UI and the CLI
 * use nothing but this header.
 */
#ifndef HUGINN_H
#define HUGINN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */

typedef enum hg_status {
    HG_OK = 0,
    HG_E_ARG,        /* a bad argument or option value                 */
    HG_E_IO,         /* a file could not be opened, read or mapped     */
    HG_E_FORMAT,     /* a file is malformed (JSON, safetensors, …)     */
    HG_E_NOMEM,      /* an allocation failed                           */
    HG_E_RANGE,      /* a length or position beyond a limit (context)  */
    HG_E_UNSUPPORTED,/* valid input that this engine does not support  */
    HG_E_CANCELLED,  /* the event callback asked to stop               */
    HG_E_INTERNAL
} hg_status;

const char *hg_status_str(hg_status st);

/* A one-line, human-readable error message filled by failing calls. */
typedef struct hg_err {
    char msg[512];
} hg_err;

/* ----------------------------------------------------------------- model */

typedef struct hg_model hg_model;

/* Shapes and hyper-parameters read from config.json. */
typedef struct hg_config {
    int n_embd;             /* 5280 for Huginn-0125                        */
    int n_heads;            /* num_attention_heads (or n_heads)            */
    int n_kv_heads;         /* num_key_value_heads (= n_heads)             */
    int head_dim;           /* n_embd / n_heads                            */
    int intermediate_size;  /* 17920                                       */
    int vocab_size;         /* rows of wte / lm_head                       */
    int block_size;         /* longest context; RoPE table length          */
    int n_prelude;          /* n_layers_in_prelude                         */
    int n_core;             /* n_layers_in_recurrent_block                 */
    int n_coda;             /* n_layers_in_coda                            */
    int mean_recurrence;    /* default num_steps                           */
    float norm_eps;
    float rope_base;        /* default 50000                               */
    int qk_bias;            /* qk_bias tensors present                     */
    int tie_embeddings;
} hg_config;

/* Defaults read from generation_config.json (and the tokenizer's specials). */
typedef struct hg_gen_defaults {
    int bos_token_id;       /* -1 when unknown                             */
    int pad_token_id;       /* -1 when unknown                             */
    int n_stop;
    int stop_ids[16];       /* bos, every eos, <|end_text|>, <|end_turn|>  */
    int do_sample;
    float temperature;      /* 0 when absent                               */
    int top_k;
    float top_p;            /* 0 when absent                               */
    float min_p;
    float repetition_penalty; /* 1 when absent                             */
} hg_gen_defaults;

typedef enum hg_dtype {
    HG_DTYPE_F32 = 0,
    HG_DTYPE_BF16,
    HG_DTYPE_F16,
} hg_dtype;

/* Weight formats for the big matrices (norms and biases stay f32). */
typedef enum hg_weights {
    HG_WEIGHTS_AUTO = 0,    /* the checkpoint's own precision (F32 -> f32,
                               BF16 -> bf16, F16 -> f32), except that F32
                               checkpoints of over 1e9 parameters use bf16 */
    HG_WEIGHTS_F32,         /* exact: the golden mode                      */
    HG_WEIGHTS_BF16,        /* bfloat16, f32 accumulation                  */
    HG_WEIGHTS_Q8_0,        /* blocks of 32 int8 with one f16 scale        */
    HG_WEIGHTS_Q4,          /* blocks of 32 4-bit values with a scale and a
                               zero point in 16 bits: 4.5 bits per weight  */
    /* values past AUTO follow core/kernels.h hg_mat_type (one table)   */
} hg_weights;

const char *hg_weights_name(hg_weights w);          /* "f32", "bf16", "q8_0", "auto" */
hg_status hg_weights_parse(const char *name, hg_weights *out);

/* Progress of a long load (weight conversion): fraction in [0, 1]; return
 * non-zero to cancel the load. */
typedef int (*hg_progress_cb)(double fraction, const char *what, void *user);

typedef struct hg_load_params {
    int n_threads;          /* 0 = number of cores                         */
    hg_weights weights;     /* HG_WEIGHTS_AUTO by default                  */
    const char *cache_dir;  /* converted weights: NULL = $XDG_CACHE_HOME/huginn
                               (~/.cache/huginn), "" = do not cache   */
    hg_progress_cb progress;
    void *progress_user;
} hg_load_params;

void hg_load_params_default(hg_load_params *p);

/* Load a checkpoint: a directory (config.json + safetensors, single or
 * sharded) or a hub id "ORG/NAME" looked up in the Hugging Face cache
 * ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub).
 * Every tensor is validated against the config before use. */
hg_status hg_model_load(const char *path_or_id, const hg_load_params *p,
                        hg_model **out, hg_err *err);
void hg_model_free(hg_model *m);
/* Resolve a directory or hub id to the checkpoint directory (malloc'd),
 * without loading anything; the error says where it looked. */
hg_status hg_model_resolve(const char *path_or_id, char **dir, hg_err *err);

const hg_config *hg_model_config(const hg_model *m);
const hg_gen_defaults *hg_model_gen_defaults(const hg_model *m);
/* The directory the checkpoint was loaded from (resolved hub snapshot). */
const char *hg_model_dir(const hg_model *m);
/* Bytes of weights the model holds (mapped or converted). */
size_t hg_model_weight_bytes(const hg_model *m);
/* The weight format in use (never AUTO). */
hg_weights hg_model_weights(const hg_model *m);
/* Bytes of weights read to decode one token at num_steps steps. */
double hg_model_bytes_per_token(const hg_model *m, int num_steps);
/* The kernel variant chosen for this CPU ("avx512bf16", "avx2", "neon-i8mm",
 * "generic", …; HUGINN_KERNELS=NAME forces one). */
const char *hg_kernels_name(void);
/* The vectors its products use: "avx512", "avx2", "neon" or "scalar"
 * (HUGINN_KERNELS=avx2 on an AVX-512 CPU: "avx2"). */
const char *hg_kernels_vectors(void);
/* 1 when prefill products run on AMX tiles: the variant uses them (only
 * avx512bf16, so HUGINN_KERNELS=avx2 or avx512 turns them off), the CPU has
 * them, the OS grants them, and HUGINN_NO_AMX is not set. */
int hg_kernels_amx(void);

/* Named shapes for benchmarks and random checkpoints: "huginn-0125" (the
 * real model), "tiny" (tiny-huginn's), "demo" (demo-huginn's). */
hg_status hg_shape_config(const char *name, hg_config *out, hg_err *err);
/* A model of the given shape with random weights made in memory (no file):
 * for timing the kernels at full size. */
hg_status hg_model_random(const hg_config *cfg, hg_weights w, uint64_t seed, int n_threads, hg_model **out,
                          hg_err *err);
/* Write a random checkpoint in the real layout to dir: config.json,
 * generation_config.json, sharded safetensors (shards of at most
 * shard_bytes) with model.safetensors.index.json, the tied embedding stored
 * twice.  dtype: HG_DTYPE_F32 or HG_DTYPE_BF16. */
hg_status hg_write_random_checkpoint(const char *dir, const hg_config *cfg, hg_dtype dtype, uint64_t seed,
                                     size_t shard_bytes, hg_progress_cb progress, void *user, hg_err *err);

/* -------------------------------------------------------- exit criteria */

typedef enum hg_criterion {
    HG_CRIT_OFF = 0,        /* no criterion named: plain fixed-step path   */
    HG_CRIT_NONE,           /* adaptive path, never exits (warm start: x_k)*/
    HG_CRIT_ENTROPY_DIFF,
    HG_CRIT_LATENT_DIFF,
    HG_CRIT_KL,
    HG_CRIT_MINP_KL,
    HG_CRIT_ARGMAX_STABILITY,
    HG_CRIT_COSINE,
    HG_CRIT_COUNT
} hg_criterion;

/* CLI name ("kl", "argmax-stability", …); "off" for HG_CRIT_OFF. */
const char *hg_criterion_name(hg_criterion c);
/* Parse a CLI name; returns HG_E_ARG for an unknown one. */
hg_status hg_criterion_parse(const char *name, hg_criterion *out);
/* The default ("auto") threshold of HUGINN.md §5. */
double hg_criterion_default_threshold(hg_criterion c);
/* 1 when the criterion exits on value >= threshold (argmax-stability),
 * 0 when it exits on value < threshold. */
int hg_criterion_exits_above(hg_criterion c);

/* ------------------------------------------------------------- context */

typedef struct hg_ctx hg_ctx;

typedef enum hg_kv_dtype {
    HG_KV_F32 = 0,          /* exact (the golden mode)                     */
    HG_KV_BF16,             /* half the memory                             */
    HG_KV_F16,              /* half the memory, 3 more mantissa bits       */
} hg_kv_dtype;

const char *hg_kv_dtype_name(hg_kv_dtype d);        /* "f32", "bf16", "f16" */
hg_status hg_kv_dtype_parse(const char *name, hg_kv_dtype *out);

typedef struct hg_ctx_params {
    int n_ctx;              /* 0 = block_size; never more than block_size  */
    const char *cache;      /* "full" (default), "latest-m4", "compress-s16",
                               "compress-r4", "latest-m4-compress-s16", …   */
    int max_steps;          /* KV slots reserved up front (0 = mean_recurrence);
                               grown at the start of a call when needed     */
    int ubatch;             /* positions per prefill chunk (0 = 512)       */
    hg_kv_dtype kv_dtype;   /* element type of the KV cache (default f32)  */
    int n_threads;          /* 0 = run on the model's threads (one context
                               computes at a time); N > 0 = the context's own
                               N threads and scratch, so that contexts of one
                               model can generate at the same time, each from
                               its own calling thread                        */
} hg_ctx_params;

void hg_ctx_params_default(hg_ctx_params *p);

hg_status hg_ctx_new(hg_model *m, const hg_ctx_params *p, hg_ctx **out, hg_err *err);
void hg_ctx_free(hg_ctx *c);

/* Forget every token: the next call starts a new sequence. */
void hg_ctx_reset(hg_ctx *c);
/* Drop tokens from position n on (n <= hg_ctx_n_tokens). */
hg_status hg_ctx_truncate(hg_ctx *c, int n, hg_err *err);
/* Change the cache strategy; only allowed while the context is empty. */
hg_status hg_ctx_set_cache(hg_ctx *c, const char *strategy, hg_err *err);
const char *hg_ctx_cache(const hg_ctx *c);

int hg_ctx_n_ctx(const hg_ctx *c);      /* context limit in positions      */
int hg_ctx_n_past(const hg_ctx *c);     /* positions already in the cache  */
int hg_ctx_n_tokens(const hg_ctx *c);   /* tokens known (past + pending)   */
const int32_t *hg_ctx_tokens(const hg_ctx *c);
size_t hg_ctx_kv_bytes(const hg_ctx *c);/* KV-cache memory in use          */
/* KV bytes one position takes when every token runs num_steps steps. */
size_t hg_ctx_kv_bytes_per_token(const hg_ctx *c, int num_steps);

/* Where the time of the calls on a context went (seconds, cumulative since
 * the context was made or the last hg_ctx_profile_reset). */
typedef enum hg_prof_part {
    HG_PROF_QKV = 0, HG_PROF_ATTN_PROJ, HG_PROF_MLP_FC, HG_PROF_MLP_PROJ, HG_PROF_ADAPTER, HG_PROF_HEAD,
    HG_PROF_ATTENTION,      /* scores, softmax, values                      */
    HG_PROF_OTHER,          /* norms, RoPE, SwiGLU, exit tests, sampling    */
    HG_PROF_COUNT
} hg_prof_part;
typedef struct hg_profile {
    double seconds[HG_PROF_COUNT];
    double bytes[HG_PROF_COUNT];  /* weight bytes read by the products */
} hg_profile;
const char *hg_prof_part_name(hg_prof_part p);
void hg_ctx_profile(const hg_ctx *c, hg_profile *out);
void hg_ctx_profile_reset(hg_ctx *c);

/* Check a strategy string without a context ("latest-m4-compress-s16"…). */
hg_status hg_cache_strategy_check(const char *strategy, hg_err *err);

/* ---------------------------------------------------------- generation */

/* How tokens are generated (HUGINN.md §5, §7, §8). */
typedef enum hg_generator {
    HG_GEN_PLAIN = 0,       /* one token at a time, full depth              */
    HG_GEN_SPECULATIVE,     /* the model drafts for itself at fewer steps,
                               one full-depth pass verifies the drafts      */
    HG_GEN_DIFFUSION,       /* a wave of positions iterated together, a few
                               steps at a time, frozen as states settle     */
    HG_GEN_COUNT
} hg_generator;

const char *hg_generator_name(hg_generator g);   /* "plain", "speculative", "diffusion" */
hg_status hg_generator_parse(const char *name, hg_generator *out);

/* Speculative generation (reference generate_speculative). */
typedef struct hg_spec_params {
    int draft_steps;        /* D: recurrence steps of a draft (default 32)  */
    int lookahead;          /* K: tokens drafted per round (default 8, >= 1)*/
    double verification_threshold; /* V (default 1): >= 1 a draft stands while
                               it equals the verify pass's argmax; < 1 while
                               its verify probability >= V * max probability */
} hg_spec_params;

void hg_spec_params_default(hg_spec_params *p);

/* Which positions of the diffusion wave freeze. */
typedef enum hg_freeze {
    HG_FREEZE_LATENT_DIFF = 0,      /* relative state change < exit_t        */
    HG_FREEZE_LATENT_ACCEL1,        /* relative change of the change < exit_t */
    HG_FREEZE_LATENT_ACCEL2,        /* same over three aligned steps          */
    HG_FREEZE_TOKEN_STABILITY,      /* token unchanged > num_steps / R steps  */
    HG_FREEZE_FIXED,                /* headway tokens per step after num_steps / R steps */
    HG_FREEZE_COUNT
} hg_freeze;

const char *hg_freeze_name(hg_freeze f);   /* "latent-diff", "latent-acceleration-1", … */
hg_status hg_freeze_parse(const char *name, hg_freeze *out);

/* Diffusion-style generation (reference generate_diffusion_style). */
typedef struct hg_diff_params {
    int inner_recurrence;   /* R: core steps per diffusion step (default 4) */
    int headway;            /* new positions per diffusion step (default 1) */
    int max_wavefront;      /* widest wave (default 128; 0 = unlimited;
                               otherwise > headway)                         */
    hg_freeze freeze;       /* default latent-diff                          */
    double exit_t;          /* freezing threshold of the latent criteria (0.03) */
    double ema_embeds;      /* embedding moving average (0.1)               */
    double state_noise_mixing; /* mix of fresh initial states (0.5)         */
    int dampened_mixer;     /* mixing / (1 + recurrence count) (default 1)  */
    int sqrt_mixer;         /* mix with square roots of the weights (0)    */
    int full_prefill;       /* the prompt at full depth first (default 1)  */
    int max_diffusion_steps;/* safety limit (default 4096)                 */
} hg_diff_params;

void hg_diff_params_default(hg_diff_params *p);

typedef struct hg_gen_params {
    int num_steps;          /* recurrence steps per token (>= 1); 0 = mean_recurrence */
    int max_new_tokens;     /* default 256                                 */
    float init_scale;       /* state init scale; 0 = zeros (deterministic) */
    /* sampling (HUGINN.md §5 order) */
    int greedy;             /* 1 = argmax (after repetition penalty)       */
    float temperature;      /* <= 0 or 1 = no scaling                      */
    int top_k;              /* 0 = off                                     */
    float top_p;            /* 0 or >= 1 = off                             */
    float min_p;            /* 0 = off                                     */
    float repetition_penalty; /* 1 = off                                   */
    uint64_t seed;
    /* adaptive compute */
    hg_criterion criterion; /* HG_CRIT_OFF = fixed num_steps               */
    double threshold;       /* NaN = "auto" (the criterion's default)      */
    int min_steps;          /* first step (0-based) at which the test runs */
    int check_every;        /* test every N steps (>= 1)                   */
    int warmstart;          /* continuous compute                          */
    /* stop set: n_stop < 0 = the model's defaults */
    int n_stop;
    const int32_t *stop_ids;
    /* the generator and its parameters (the one in use is read) */
    hg_generator generator; /* HG_GEN_PLAIN by default                     */
    hg_spec_params spec;
    hg_diff_params diff;
} hg_gen_params;

/* Defaults: num_steps = mean_recurrence, the model's generation_config
 * sampling, criterion off, check_every 1, the plain generator, the
 * reference's speculative and diffusion defaults.  m may be NULL (generic
 * defaults).
 *
 * Speculative and diffusion generation take the normal sampler (greedy or
 * sampled), every cache strategy and warm start, but no exit criterion
 * (criterion must be HG_CRIT_OFF).  Where the reference fails, huginn does:
 * - speculative + warm start: each draft starts from the previous token's
 *   final state, the verify pass from s0; the next round starts from the
 *   verify state of the position that produced the last accepted token;
 * - diffusion `fixed` freezing freezes min(headway, new tokens) positions per
 *   step even when the wave stands at max_wavefront (the reference indexes
 *   past its sequence there); max_wavefront must be 0 or > headway;
 * - diffusion guessed tokens (headway > 1) are drawn from the vocabulary.
 * Both stop at max_new_tokens and at the first stop token (included); the
 * reference may run past them (it gives the same prefix). */
void hg_gen_params_default(hg_gen_params *p, const hg_model *m);

typedef enum hg_event_type {
    HG_EV_STEP = 1,         /* one recurrence step of the token/prefill finished */
    HG_EV_TOKEN,            /* a token was produced (final: in the output) */
    HG_EV_DRAFT,            /* speculative: a token was drafted (provisional:
                               token_id, index = its place in the round,
                               position = where it would go)            */
    HG_EV_VERIFY,           /* speculative: a round was verified: n_drafted
                               drafts, n_accepted of them stand (the first
                               n_accepted), token_id = the verify pass's own
                               token that follows them or -1; the tokens
                               kept then arrive as HG_EV_TOKEN          */
    HG_EV_WAVE,             /* diffusion: one diffusion step finished: the
                               wave's provisional tokens and counters
                               (wave_* fields), n_frozen frozen tokens;
                               newly frozen tokens then arrive as HG_EV_TOKEN */
} hg_event_type;

/* What a pass is for (HG_EV_STEP events). */
typedef enum hg_phase {
    HG_PHASE_DECODE = 0,    /* plain decoding (or the prefill)             */
    HG_PHASE_DRAFT,         /* speculative draft of one token (D steps)    */
    HG_PHASE_VERIFY,        /* speculative verify pass (K positions)       */
    HG_PHASE_WAVE,          /* diffusion step over the wave                */
} hg_phase;

typedef struct hg_event {
    hg_event_type type;
    int position;           /* last position of the batch being computed   */
    int n_positions;        /* positions in the batch (1 when decoding)    */
    int step;               /* HG_EV_STEP: steps done so far (1-based)     */
    int num_steps;          /* the step budget of this token               */
    double exit_value;      /* the criterion's value at this step; NaN when
                               not evaluated (off, before min_steps, …)    */
    double threshold;       /* the criterion's threshold (NaN when off)    */
    int token_id;           /* HG_EV_TOKEN: the id produced                */
    int steps_used;         /* HG_EV_TOKEN: steps that produced it         */
    int index;              /* HG_EV_TOKEN: index in this call's output    */
    hg_phase phase;         /* HG_EV_STEP: what the pass is for            */
    /* speculative (HG_EV_VERIFY) */
    int n_drafted, n_accepted;
    /* diffusion (HG_EV_WAVE): positions wave_pos0 .. wave_pos0+n_wave-1;
     * position out_pos0 holds output index 0; frozen: positions < out_pos0
     * + n_frozen.  Pointers are valid during the callback only. */
    int wave_pos0, n_wave, out_pos0, n_frozen, diffusion_step;
    const int32_t *wave_ids;   /* (n_wave) provisional tokens              */
    const int32_t *wave_counts;/* (n_wave) recurrence steps of each position */
    /* The context at this event (every event of hg_generate and hg_score),
     * so that a caller can show it while one call runs a whole reply:
     * ctx_tokens: tokens kept in the context: the prompt and the output put
     *   out so far (HG_EV_TOKEN: this token included), the last one pending;
     *   what hg_ctx_n_tokens reports once the call returns.  Provisional
     *   tokens, a speculative round's drafts and a diffusion wave's, are not
     *   counted until they are put out as HG_EV_TOKEN.
     * kv_bytes: KV-cache memory in use at this moment: the positions whose
     *   keys and values the cache holds, the provisional positions of a
     *   draft, a verify pass or a wave included while they are in it, and
     *   (HG_EV_STEP) the positions of the pass being computed; once the call
     *   returns, hg_ctx_kv_bytes.  It can exceed the kept tokens' share: the
     *   cache may hold verified or frozen tokens not yet put out. */
    int ctx_tokens;
    size_t kv_bytes;
} hg_event;

/* Called for every event; return non-zero to stop.  A stop leaves the cache
 * consistent: the positions of the interrupted token are not kept. */
typedef int (*hg_event_cb)(const hg_event *ev, void *user);

typedef enum hg_stop_reason {
    HG_STOP_NONE = 0,
    HG_STOP_TOKEN,          /* a stop token was produced (it is included)  */
    HG_STOP_MAX_TOKENS,     /* max_new_tokens reached                      */
    HG_STOP_CONTEXT,        /* the context is full                         */
    HG_STOP_CANCELLED,      /* the callback asked to stop                  */
    HG_STOP_STEP_LIMIT,     /* diffusion: max_diffusion_steps ran out      */
} hg_stop_reason;

const char *hg_stop_reason_str(hg_stop_reason r); /* "stop_token", …      */

/* What a speculative or diffusion run did (zeros for the plain generator). */
typedef struct hg_gen_stats {
    /* speculative */
    int rounds;             /* draft-and-verify rounds                     */
    int drafted;            /* tokens drafted                              */
    int accepted;           /* drafted tokens that stood                   */
    /* diffusion (the reference's statistics, same names) */
    int num_core_forward_passes; /* core-block passes (the prefill counts 1) */
    long num_tokens_forward;/* positions passed through those passes        */
    int num_cache_clears;   /* cache positions dropped                     */
    int num_standing_waves; /* steps the wave stood at max_wavefront      */
    int diffusion_steps;
    int n_positions;        /* entries of recurrence_per_position          */
    int32_t *recurrence_per_position; /* recurrence steps of every position
                               0 .. n_positions-1 of the context (prompt and
                               frozen output; malloc'd, NULL when unused)  */
} hg_gen_stats;

typedef struct hg_gen_result {
    int n_out;
    int32_t *output_ids;    /* n_out ids (malloc'd; hg_gen_result_free)    */
    int32_t *steps;         /* steps[t]: recurrence steps that produced output_ids[t]
                               (speculative: num_steps, every kept token
                               passed the full-depth verify pass;
                               diffusion: the position's recurrence count) */
    hg_stop_reason stop_reason;
    double prefill_s;       /* seconds for the prefill (first token)       */
    double decode_s;        /* seconds for the remaining tokens            */
    hg_gen_stats stats;
} hg_gen_result;

void hg_gen_result_free(hg_gen_result *r);

/* Append ids to the context and generate.  Tokens already known but not yet
 * in the cache (such as the last token of the previous reply) are processed
 * first, so a chat turn passes only its new tokens.  n_ids may be 0 when
 * tokens are pending.  A call with n_ids = 0 right after a call that
 * generated continues it: the warm-start state and (for the same seed) the
 * RNG stream carry over, so N calls of one token give the same tokens as one
 * call of N — a UI can change parameters between tokens that way.  A call
 * that appends ids starts a new prompt (state s0, RNG seeded afresh). */
hg_status hg_generate(hg_ctx *c, const int32_t *ids, int n_ids,
                      const hg_gen_params *p, hg_event_cb cb, void *user,
                      hg_gen_result *res, hg_err *err);

/* Time one core-block pass (adapter and every core layer: one recurrence
 * step) over `width` positions after the cached ones, as a diffusion wave
 * or a verify pass runs it: the median of reps passes, in seconds.  The
 * context's cache and tokens are left as they were. */
hg_status hg_time_wave_pass(hg_ctx *c, int width, int reps, double *seconds, hg_err *err);

/* One plain forward pass over ids on an empty context (the context is reset
 * first and left holding the ids): logits for every position into
 * logits[n_ids * vocab_size] (NULL: only the last row into last_logits). */
hg_status hg_forward(hg_ctx *c, const int32_t *ids, int n_ids, int num_steps,
                     float init_scale, uint64_t seed, float *logits,
                     float *last_logits, hg_err *err);

/* Score a text: one forward pass over ids (n_ids >= 2) on an empty context
 * (reset first and left holding the ids) at num_steps steps with init_scale 0;
 * nll[t] = -log p(ids[t+1] | ids[0..t]) for t < n_ids - 1, from a log-softmax
 * in double.  The head runs a few rows at a time, so no (n_ids, vocab) logits
 * are held.  cb gets the HG_EV_STEP events; returning non-zero cancels
 * (HG_E_CANCELLED, the context is reset). */
hg_status hg_score(hg_ctx *c, const int32_t *ids, int n_ids, int num_steps, hg_event_cb cb, void *user,
                   double *nll, hg_err *err);

/* ----------------------------------------------------------- tokenizer */

typedef struct hg_tokenizer hg_tokenizer;

/* Load a Hugging Face tokenizer.json.  An unsupported component (normalizer,
 * pre-tokenizer, model, post-processor, decoder) is a load error naming it. */
hg_status hg_tokenizer_load(const char *path, hg_tokenizer **out, hg_err *err);
/* Load <dir>/tokenizer.json and <dir>/tokenizer_config.json of a model. */
hg_status hg_tokenizer_load_dir(const char *dir, hg_tokenizer **out, hg_err *err);
void hg_tokenizer_free(hg_tokenizer *t);

int hg_tokenizer_vocab_size(const hg_tokenizer *t);
/* id of a token's exact content (added tokens included), -1 if none. */
int hg_tokenizer_token_id(const hg_tokenizer *t, const char *content);
/* The text of one id (added token content, or decoded bytes); NULL if unknown. */
const char *hg_tokenizer_id_text(const hg_tokenizer *t, int id);
int hg_tokenizer_is_special(const hg_tokenizer *t, int id);
/* bos token id from tokenizer_config.json (-1 when unknown). */
int hg_tokenizer_bos_id(const hg_tokenizer *t);
/* A warning produced while loading (e.g. a non-Huginn chat template), or NULL. */
const char *hg_tokenizer_warning(const hg_tokenizer *t);

/* Encode UTF-8 text (invalid bytes become U+FFFD first).  *ids is malloc'd.
 * add_special: apply the post-processor's template (BOS etc.).  Memory is a
 * few times the text's size (plus at most ~32 MiB) and time O(n log n): a
 * piece the pre-tokenizer keeps whole of over HG_TOK_RUN_MAX characters (no
 * space or punctuation: its regex would need 32 bytes a character), and a run
 * of over HG_TOK_RUN_MAX bytes that no token boundary can cut (byte-level BPE:
 * every adjacent byte pair joined by some merge) are refused with HG_E_RANGE
 * and a one-line message. */
#define HG_TOK_RUN_MAX (1 << 20)
hg_status hg_tokenize(const hg_tokenizer *t, const char *text, size_t len,
                      int add_special, int32_t **ids, int *n_ids, hg_err *err);

/* Decode ids to malloc'd UTF-8 text (NUL-terminated). */
hg_status hg_detokenize(const hg_tokenizer *t, const int32_t *ids, int n_ids,
                        int skip_special, char **text, hg_err *err);

/* Streaming decoder: feed ids one at a time; each call appends to out only
 * complete UTF-8 characters (a character split across tokens appears once
 * complete).  hg_stream_finish flushes a dangling partial sequence as U+FFFD. */
typedef struct hg_stream hg_stream;
hg_stream *hg_stream_new(const hg_tokenizer *t, int skip_special);
void hg_stream_free(hg_stream *s);
/* Returns the number of bytes written to out (NUL-terminated, out_cap >= 8). */
size_t hg_stream_push(hg_stream *s, int32_t id, char *out, size_t out_cap);
size_t hg_stream_finish(hg_stream *s, char *out, size_t out_cap);

/* ----------------------------------------------------------------- chat */

typedef struct hg_chat_msg {
    const char *role;       /* "system", "user" or "Huginn"                */
    const char *content;
} hg_chat_msg;

/* Render messages in the Huginn chat format (HUGINN.md §6); with
 * add_generation_prompt the text ends ready for the model's reply.
 * Returns malloc'd text. */
char *hg_chat_render(const hg_chat_msg *msgs, int n, int add_generation_prompt);

/* Render and tokenize (special tokens recognised, no extra BOS). */
hg_status hg_chat_tokenize(const hg_tokenizer *t, const hg_chat_msg *msgs, int n,
                           int add_generation_prompt, int32_t **ids, int *n_ids,
                           hg_err *err);

/* ---------------------------------------------------------------- files */

/* Open a file for reading, refusing anything but a regular file: a FIFO, a
 * device or a directory is an error at once, never a hang.  Returns a
 * blocking, close-on-exec descriptor, or -1 with err filled. */
int hg_file_open(const char *path, hg_err *err);
/* Read a whole regular file into a malloc'd NUL-terminated buffer;
 * max_bytes > 0 refuses a larger file (HG_E_RANGE). */
hg_status hg_file_read(const char *path, size_t max_bytes, char **out, size_t *len, hg_err *err);
/* Replace a file's contents atomically (a temporary file in the same folder,
 * then rename).  A symlink is written through to its target; a target that
 * exists and is not a regular file (a device, a FIFO, a directory) is
 * refused and left alone.  An existing file keeps its permissions. */
hg_status hg_file_write_atomic(const char *path, const void *data, size_t n, hg_err *err);

#ifdef __cplusplus
}
#endif
#endif /* HUGINN_H */
