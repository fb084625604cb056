/* engine_thread.h — runs hg_generate in its own thread.  A turn renders the
 * conversation with hg_chat_tokenize, keeps the longest common prefix with
 * the context's tokens, drops the oldest turns when the context would
 * overflow, and generates one token per hg_generate call so that settings
 * changed during a reply apply from the next token.  Events go into a queue
 * the UI drains when the wake descriptor becomes readable. */
#ifndef UI_ENGINE_THREAD_H
#define UI_ENGINE_THREAD_H
#include "huginn.h"
#include "settings.h"
#include <stddef.h>
#include <stdint.h>

typedef enum ue_kind {
    UE_STEP = 1,    /* a recurrence step finished (coalesced: only the latest) */
    UE_TOKEN,       /* a token: piece (its text), steps_used, trace            */
    UE_DONE,        /* the reply ended: stats                                  */
    UE_NOTICE,      /* text: e.g. oldest turns dropped                         */
    UE_ERROR,       /* text                                                    */
    UE_RUN_BEGIN,   /* a sweep run starts: num_steps its depth, step its index */
    UE_RUN_END,     /* a sweep run ended: stats as in DONE                     */
    UE_DRAFT,       /* speculative: a drafted token (text: its piece; provisional) */
    UE_VERIFY,      /* speculative: n_accepted of n_drafted drafts stood; the kept
                       tokens follow as UE_TOKEN                                  */
    UE_WAVE,        /* diffusion: text = the wave's provisional tokens after the
                       frozen text, wave_starts/wave_counts per token (n_wave)     */
} ue_kind;

#define UE_SWEEP_MAX 16

typedef struct ue_event {
    ue_kind kind;
    int n_positions, step, num_steps;
    double exit_value, threshold;
    int32_t token_id;
    int steps_used;
    char *text;             /* TOKEN: the piece; NOTICE/ERROR: the message (malloc'd) */
    size_t text_len;
    float *trace;           /* TOKEN: exit value per step (malloc'd)    */
    int n_trace;
    int criterion;          /* TOKEN: the criterion it ran with          */
    /* DONE and TOKEN */
    int n_tokens;           /* tokens of the reply so far               */
    double tok_per_s, mean_steps;
    int stop_reason;        /* hg_stop_reason                           */
    /* DONE and the engine's events (STEP, TOKEN, DRAFT, VERIFY, WAVE): the
     * context then: tokens kept (prompt and reply so far; a draft's or a
     * wave's provisional tokens not counted), its limit, the KV memory the
     * cache holds (provisional positions included) */
    int ctx_used, n_ctx;
    size_t kv_bytes;
    int dropped;            /* DONE: messages left out of the context   */
    int sweep;              /* DONE: the job was a sweep                */
    /* generators */
    int generator;          /* hg_generator of the reply                */
    int phase;              /* STEP: hg_phase (decode, draft, verify, wave) */
    int n_drafted, n_accepted;   /* VERIFY; DONE: the reply's totals     */
    int n_wave;             /* WAVE: provisional tokens                 */
    int *wave_starts;       /* WAVE: byte offset of each token in text (malloc'd) */
    int *wave_counts;       /* WAVE: recurrence steps of each (malloc'd) */
    int core_passes;        /* WAVE, DONE: core passes so far           */
    int n_frozen;           /* WAVE: tokens frozen                       */
} ue_event;

typedef struct ue_engine ue_engine;

/* Start the engine thread; it owns ctx from now on (freed by ue_free). */
int ue_start(ue_engine **out, hg_model *m, const hg_tokenizer *t, hg_ctx *ctx,
             const us_settings *s, char *err, size_t errcap);
void ue_free(ue_engine *e);
/* The descriptor that becomes readable when events are queued. */
int ue_wake_fd(const ue_engine *e);
/* Pop one event (1) or none (0).  ue_event_free releases its buffers. */
int ue_pop(ue_engine *e, ue_event *ev);
void ue_event_free(ue_event *ev);
void ue_drain_wake(ue_engine *e);
/* Settings for the next token (copied under the lock). */
void ue_set_settings(ue_engine *e, const us_settings *s);
/* Start a reply to msgs (copied).  dropped: messages after the system one
 * already left out.  -1 when a reply is running. */
int ue_turn(ue_engine *e, const hg_chat_msg *msgs, int n, int dropped);
/* A sweep: answer the conversation msgs (ending with the user turn) once
 * per depth in steps[] (at most UE_SWEEP_MAX), in order, with the settings
 * of now (the same seed for every run), each run between UE_RUN_BEGIN and
 * UE_RUN_END, then UE_DONE.  -1 when a reply is running. */
int ue_sweep(ue_engine *e, const hg_chat_msg *msgs, int n, int dropped, const int *steps, int n_steps);
int ue_busy(ue_engine *e);
void ue_stop(ue_engine *e);         /* cancel the reply (from any thread) */
void ue_reset(ue_engine *e);        /* forget the context before the next turn */
/* Context facts as of the last engine event or call (safe from the UI
 * thread): they move during a reply, speculative and diffusion ones too. */
void ue_ctx_info(ue_engine *e, int *used, int *n_ctx, size_t *kv, const char **cache);
/* Hold at most n events in the queue (0: no limit), as when it cannot grow:
 * later events are dropped, except the end of the reply (for tests). */
void ue_set_queue_limit(ue_engine *e, int n);
/* Wait until no reply is running (plain mode). */
void ue_wait_idle(ue_engine *e);
#endif
