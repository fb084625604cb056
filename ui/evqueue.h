/* evqueue.h — the queue of events from a backend's thread to the UI: a
 * growable ring under its own lock, STEP events coalesced (only the latest
 * is kept), and a pipe whose read end becomes readable when events arrive.
 * Shared by the local engine thread and the remote client. */
#ifndef UI_EVQUEUE_H
#define UI_EVQUEUE_H
#include "engine_thread.h"
#include <pthread.h>

typedef struct ue_queue {
    pthread_mutex_t mu;
    ue_event *q;
    int head, len, cap;
    int limit;              /* most events held (0 = no limit)              */
    ue_event done_slot;     /* the end of a reply that found the queue full */
    int has_done;
    int wake[2];
} ue_queue;

/* 0, or -1 with a message in err. */
int ueq_init(ue_queue *q, char *err, size_t errcap);
/* Frees the events still queued and closes the pipe. */
void ueq_free(ue_queue *q);
/* Take ownership of ev's buffers.  When the queue cannot grow the event is
 * dropped (its buffers freed), except UE_DONE which is always delivered. */
void ueq_push(ue_queue *q, const ue_event *ev);
/* A malloc'd text event (NOTICE / ERROR). */
void ueq_push_text(ue_queue *q, ue_kind k, const char *text);
int ueq_pop(ue_queue *q, ue_event *ev);
void ueq_drain_wake(ue_queue *q);
int ueq_fd(const ue_queue *q);
void ueq_set_limit(ue_queue *q, int n);
#endif
