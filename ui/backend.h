/* backend.h — where the chat's replies come from.  The UI starts replies,
 * cancels them and drains the same events (engine_thread.h's ue_event)
 * whichever backend answers: the local engine on its thread (ub_local), or
 * an OpenAI-compatible server over HTTP (remote.h). */
#ifndef UI_BACKEND_H
#define UI_BACKEND_H
#include "engine_thread.h"
#include "settings.h"

/* What the UI may ask of a backend beyond replies. */
typedef struct ub_info {
    int remote;                 /* 0: the local engine                       */
    /* remote only */
    char url[512];              /* the server's base URL, ending in /v1      */
    char host[256];             /* host[:port], for the status bar           */
    char model[256];            /* the model it serves ("" until known)      */
    int probed;                 /* GET /v1/models answered                   */
    int huginn;                 /* it is a huginn server: per-token steps,
                                   the recurrence settings are sent          */
    int num_steps_default, max_steps;   /* huginn servers                    */
} ub_info;

typedef struct ub_ops {
    void (*set_settings)(void *impl, const us_settings *s);
    int (*turn)(void *impl, const hg_chat_msg *msgs, int n, int dropped);
    int (*sweep)(void *impl, const hg_chat_msg *msgs, int n, int dropped, const int *steps, int n_steps);
    int (*busy)(void *impl);
    void (*stop)(void *impl);
    void (*reset)(void *impl);
    void (*ctx_info)(void *impl, int *used, int *n_ctx, size_t *kv, const char **cache);
    void (*wait_idle)(void *impl);
    int (*wake_fd)(const void *impl);
    int (*pop)(void *impl, ue_event *ev);
    void (*drain_wake)(void *impl);
    void (*info)(void *impl, ub_info *out);
    void (*free)(void *impl);
} ub_ops;

typedef struct ub_backend {
    const ub_ops *ops;
    void *impl;
} ub_backend;

/* The local engine as a backend (the backend owns it: ub_free frees it). */
ub_backend *ub_local(ue_engine *e);
void ub_free(ub_backend *b);

/* The operations, as in engine_thread.h. */
void ub_set_settings(ub_backend *b, const us_settings *s);
int ub_turn(ub_backend *b, const hg_chat_msg *msgs, int n, int dropped);
int ub_sweep(ub_backend *b, const hg_chat_msg *msgs, int n, int dropped, const int *steps, int n_steps);
int ub_busy(ub_backend *b);
void ub_stop(ub_backend *b);
void ub_reset(ub_backend *b);
void ub_ctx_info(ub_backend *b, int *used, int *n_ctx, size_t *kv, const char **cache);
void ub_wait_idle(ub_backend *b);
int ub_wake_fd(const ub_backend *b);
int ub_pop(ub_backend *b, ue_event *ev);
void ub_drain_wake(ub_backend *b);
void ub_info_get(ub_backend *b, ub_info *out);
#endif
