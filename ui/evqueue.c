/* evqueue.c — events from a backend thread to the UI. */
#include "evqueue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ueq_init(ue_queue *q, char *err, size_t errcap)
{
    memset(q, 0, sizeof *q);
    if (pipe(q->wake)) { snprintf(err, errcap, "pipe: %s", strerror(errno)); return -1; }
    for (int i = 0; i < 2; i++) {
        fcntl(q->wake[i], F_SETFL, fcntl(q->wake[i], F_GETFL) | O_NONBLOCK);
        fcntl(q->wake[i], F_SETFD, FD_CLOEXEC);
    }
    pthread_mutex_init(&q->mu, NULL);
    return 0;
}

void ueq_free(ue_queue *q)
{
    ue_event ev;
    while (ueq_pop(q, &ev)) ue_event_free(&ev);
    free(q->q);
    close(q->wake[0]);
    close(q->wake[1]);
    pthread_mutex_destroy(&q->mu);
    memset(q, 0, sizeof *q);
}

static void wake(ue_queue *q)
{
    char b = 1;
    ssize_t r = write(q->wake[1], &b, 1);
    (void)r;
}

void ueq_push(ue_queue *q, const ue_event *ev)
{
    pthread_mutex_lock(&q->mu);
    int was_empty = q->len == 0;
    if (ev->kind == UE_STEP && q->len > 0) {
        ue_event *last = &q->q[(q->head + q->len - 1) % q->cap];
        if (last->kind == UE_STEP) { *last = *ev; pthread_mutex_unlock(&q->mu); return; }
    }
    if (q->len == q->cap) {
        int cap = q->cap ? q->cap * 2 : 256;
        if (q->limit && cap > q->limit) cap = q->limit;
        ue_event *nq = cap > q->cap ? malloc(sizeof *nq * (size_t)cap) : NULL;
        if (!nq) { /* no room: drop the event, but never the end of a reply */
            int done = ev->kind == UE_DONE;
            if (done) {
                q->done_slot = *ev;
                q->has_done = 1;
            } else {
                ue_event drop = *ev;
                ue_event_free(&drop);
            }
            pthread_mutex_unlock(&q->mu);
            if (done) wake(q);
            return;
        }
        for (int i = 0; i < q->len; i++) nq[i] = q->q[(q->head + i) % q->cap];
        free(q->q);
        q->q = nq;
        q->cap = cap;
        q->head = 0;
    }
    q->q[(q->head + q->len) % q->cap] = *ev;
    q->len++;
    pthread_mutex_unlock(&q->mu);
    if (was_empty) wake(q);
}

void ueq_push_text(ue_queue *q, ue_kind k, const char *text)
{
    ue_event ev = {0};
    ev.kind = k;
    ev.text = strdup(text);
    ev.text_len = ev.text ? strlen(ev.text) : 0;
    ueq_push(q, &ev);
}

int ueq_pop(ue_queue *q, ue_event *ev)
{
    pthread_mutex_lock(&q->mu);
    int got = q->len > 0;
    if (got) {
        *ev = q->q[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
    } else if (q->has_done) {
        *ev = q->done_slot;
        q->has_done = 0;
        got = 1;
    }
    pthread_mutex_unlock(&q->mu);
    return got;
}

void ueq_drain_wake(ue_queue *q)
{
    char b[256];
    while (read(q->wake[0], b, sizeof b) > 0) {}
}

int ueq_fd(const ue_queue *q) { return q->wake[0]; }

void ueq_set_limit(ue_queue *q, int n)
{
    pthread_mutex_lock(&q->mu);
    q->limit = n > 0 ? n : 0;
    pthread_mutex_unlock(&q->mu);
}
