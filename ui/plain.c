/* plain.c — the line REPL. */
#include "plain.h"
#include "gauge.h"

#include <readline/history.h>
#include <readline/readline.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted, quit_sig;
static void on_sigint(int s) { (void)s; interrupted = 1; }
static void on_quit(int s) { quit_sig = s; }

static void print_notice(ua_app *a, int *seq)
{
    if (a->notice_seq == *seq) return;
    *seq = a->notice_seq;
    fprintf(stderr, "%s%s\n", a->notice_is_error ? "error: " : "-- ", a->notice);
}

/* Stream the running reply to stdout; a steps summary line at the end. */
static void stream_reply(ua_app *a, int *seq)
{
    int steps[4096], n = 0;
    interrupted = 0;
    while (a->streaming) {
        if (interrupted || quit_sig) { ub_stop(a->be); interrupted = 0; }
        fd_set rf;
        FD_ZERO(&rf);
        int fd = ub_wake_fd(a->be);
        FD_SET(fd, &rf);
        struct timeval tv = {0, 100000};
        if (select(fd + 1, &rf, NULL, NULL, &tv) <= 0) continue;
        ub_drain_wake(a->be);
        ue_event ev;
        while (ub_pop(a->be, &ev)) {
            if (ev.kind == UE_RUN_BEGIN) printf("%s-- sweep · steps %d\n", n ? "\n" : "", ev.num_steps);
            if (ev.kind == UE_TOKEN) {
                if (ev.text_len) fwrite(ev.text, 1, ev.text_len, stdout);
                if (ev.token_id >= 0 && n < 4096) steps[n++] = ev.steps_used;
                fflush(stdout);
            }
            ua_event(a, &ev);
            ue_event_free(&ev);
            print_notice(a, seq);
        }
        ua_backend_poll(a);
    }
    char spark[4096 * 3 + 1];
    int vmax = 1;
    for (int i = 0; i < n; i++) if (steps[i] > vmax) vmax = steps[i];
    ug_spark_text(spark, sizeof spark, steps, n, vmax);
    if (ua_steps_fixed(a)) printf("\n[%.1f tok/s · steps fixed on the server]\n", a->tok_per_s);
    else if (a->srv.remote)
        printf("\n[%d tokens · steps %s · mean %.2f · %.1f tok/s · %s]\n", n, spark, a->mean_steps, a->tok_per_s, a->srv.host);
    else
        printf("\n[%d tokens · steps %s · mean %.2f · %.1f tok/s · ctx %d/%d]\n", n, spark,
               a->mean_steps, a->tok_per_s, a->ctx_used, a->n_ctx);
    fflush(stdout);
}

int plain_run(ua_app *a)
{
    int tty = isatty(0);
    int seq = a->notice_seq;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_quit; /* no SA_RESTART: a blocked read returns */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    char hist[4400];
    snprintf(hist, sizeof hist, "%s/history", a->state_dir);
    {   /* what the backend said while starting (a server: connected, or why not) */
        ue_event ev;
        ub_drain_wake(a->be);
        while (ub_pop(a->be, &ev)) {
            ua_event(a, &ev);
            ue_event_free(&ev);
            print_notice(a, &seq);
        }
    }
    ua_backend_poll(a);
    if (tty) {
        ss_mkdirs(a->state_dir);
        using_history();
        read_history(hist);
        if (ua_steps_fixed(a))
            printf("huginn %s · %s · steps: fixed on server · /help for commands, Ctrl-D quits\n", a->model_name, a->srv.host);
        else
            printf("huginn %s · steps %d · %s · /help for commands, Ctrl-D quits\n", a->model_name,
                   a->set.num_steps, hg_criterion_name(a->set.criterion));
    }
    while (!quit_sig) {
        char *line = NULL;
        if (tty) {
            line = readline("> ");
        } else {
            size_t cap = 0;
            ssize_t n = getline(&line, &cap, stdin);
            if (n < 0) { free(line); line = NULL; }
            else if (n && line[n - 1] == '\n') line[n - 1] = 0;
        }
        if (!line || quit_sig) { free(line); break; }
        char *t = line;
        while (*t == ' ') t++;
        if (!*t) { free(line); continue; }
        if (tty) add_history(t);
        if (t[0] == '/') {
            us_cmd c;
            int k = ua_command(a, t, &c);
            if (k == UC_QUIT) { free(line); break; }
            if (k == UC_HELP) for (int i = 0; us_command_help[i]; i++) printf("%s\n", us_command_help[i]);
            else if (k == UC_THEME) printf("-- themes apply to the full-screen chat\n");
            print_notice(a, &seq);
            if ((k == UC_REGEN || k == UC_SWEEP) && a->streaming) stream_reply(a, &seq);
            free(line);
            continue;
        }
        if (ua_send(a, t) == 0) stream_reply(a, &seq);
        print_notice(a, &seq);
        free(line);
    }
    if (tty) {
        stifle_history(1000);
        write_history(hist);
    }
    if (a->streaming) { ub_stop(a->be); ub_wait_idle(a->be); }
    if (quit_sig) { /* the reply's end was saved; say so and leave with 128+N */
        fflush(stdout);
        return 128 + quit_sig;
    }
    return 0;
}
