/* tui.c — the main loop: keys (through the key table, then readline's
 * callback interface), engine events, resize, the demo player. */
#include "tui.h"
#include "crt.h"
#include "keys.h"
#include "theme.h"
#include "wrap.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct tui {
    ua_app *a;
    ug_gauge g;
    ut_theme theme;
    ui_canvas cv;
    tui_view v;
    int quit, paste, dirty;
    unsigned char feed[256];
    int feed_len, feed_pos;
    char *line;             /* a line accepted by readline */
    int got_eof;
    int notice_seq;
    double notice_at;
    char history[4300];
    FILE *devnull;
    const ud_script *demo;
    int demo_i, demo_pos, demo_wait;
    double demo_next;
} tui;

static tui *T;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ----------------------------------------------------------- readline */

static int rl_getc_cb(FILE *f)
{
    (void)f;
    if (T->feed_pos < T->feed_len) return T->feed[T->feed_pos++];
    return EOF;
}
static int rl_avail_cb(void) { return T->feed_pos < T->feed_len; }
static void rl_redisplay_cb(void) {}
static void rl_prep_cb(int meta) { (void)meta; }
static void rl_deprep_cb(void) {}

static void on_line(char *line)
{
    if (!line) { T->got_eof = 1; return; }
    free(T->line);
    T->line = line;
}

static void feed_bytes(const char *b, int n)
{
    if (n <= 0) return;
    if (n > (int)sizeof T->feed) n = (int)sizeof T->feed;
    memcpy(T->feed, b, (size_t)n);
    T->feed_len = n;
    T->feed_pos = 0;
    for (int guard = 0; T->feed_pos < T->feed_len && guard < 512; guard++) rl_callback_read_char();
    T->feed_len = T->feed_pos = 0;
}

static void rl_setup(void)
{
    T->devnull = fopen("/dev/null", "w");
    rl_readline_name = "huginn";
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_getc_function = rl_getc_cb;
    rl_input_available_hook = rl_avail_cb;
    rl_redisplay_function = rl_redisplay_cb;
    rl_prep_term_function = rl_prep_cb;
    rl_deprep_term_function = rl_deprep_cb;
    rl_outstream = T->devnull;
    rl_instream = stdin;
    rl_callback_handler_install("", on_line);
    rl_variable_bind("enable-bracketed-paste", "off");
    rl_variable_bind("bell-style", "none");
    rl_bind_key('\t', rl_insert);
    using_history();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", T->a->state_dir);
    ss_mkdirs(dir);
    snprintf(T->history, sizeof T->history, "%s/history", T->a->state_dir);
    read_history(T->history);
}

static void rl_teardown(void)
{
    rl_callback_handler_remove();
    stifle_history(1000);
    write_history(T->history);
    if (T->devnull) fclose(T->devnull);
}

static int input_empty(void) { return rl_end == 0; }

static void set_input(const char *text)
{
    rl_replace_line(text, 0);
    rl_point = rl_end;
}

/* --------------------------------------------------------- the editor */

static void run_editor(void)
{
    char path[] = "/tmp/huginn-input-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) { ua_notice(T->a, 1, "editor: %s", strerror(errno)); return; }
    ssize_t wr = write(fd, rl_line_buffer, (size_t)rl_end);
    (void)wr;
    close(fd);
    const char *ed = getenv("VISUAL");
    if (!ed || !*ed) ed = getenv("EDITOR");
    if (!ed || !*ed) ed = "vi";
    setenv("HUGINN_ED", ed, 1);
    crt_suspend();
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exec $HUGINN_ED \"$1\"", "sh", path, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    /* a resize (SIGWINCH) meanwhile interrupts waitpid: wait on, or the
     * chat would take the terminal back from the editor and read the file
     * before it is saved (the edit lost, the file left in /tmp) */
    if (pid > 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    crt_resume();
    FILE *f = fopen(path, "r");
    if (f) {
        char buf[65536];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        while (n && buf[n - 1] == '\n') buf[--n] = 0;
        set_input(buf);
    }
    unlink(path);
    T->dirty = 1;
}

/* ------------------------------------------------------------ actions */

static void select_last_token(void)
{
    T->v.sel_msg = -1;
    T->v.sel_tok = -1;
    tui_sel_move(T->a, &T->v.sel_msg, &T->v.sel_tok, 0);
}

static void submit(const char *text);

static void do_action(uk_action act)
{
    ua_app *a = T->a;
    char msg[256] = "";
    int page = T->cv.h > 16 ? T->cv.h - 12 : 4;
    switch (act) {
    case A_HELP: T->v.help = 1; T->v.help_top = 0; break;
    case A_QUIT: T->quit = 1; break;
    case A_STOP:
        if (a->streaming) { ub_stop(a->be); ua_notice(a, 0, "stopping…"); }
        else if (!input_empty()) { set_input(""); ua_notice(a, 0, "line cleared (Ctrl-D on an empty line or /quit quits)"); }
        else ua_notice(a, 0, "Ctrl-D on an empty line or /quit quits");
        break;
    case A_REDRAW: crt_redraw(); break;
    case A_STEPS_INC: case A_STEPS_DEC: case A_STEPS_MUL: case A_STEPS_DIV:
    case A_CRIT_CYCLE: case A_THR_DIV: case A_THR_MUL: case A_WARM: case A_CACHE_CYCLE: case A_SAMPLING: case A_GEN_CYCLE:
        if (act != A_SAMPLING && ua_steps_fixed(a)) {
            ua_notice(a, 1, "steps: fixed on server (not a huginn server: the recurrence settings cannot be sent)");
            break;
        }
        us_hotkey(&a->set, act, msg, sizeof msg);
        if (ua_clamp_steps(a)) snprintf(msg, sizeof msg, "steps %d: the server allows at most that", a->set.num_steps);
        ua_settings_changed(a);
        ua_notice(a, 0, "%s%s", msg, !a->streaming || act == A_CACHE_CYCLE ? ""
                                     : a->srv.remote ? " (from the next reply)" : " (from the next token)");
        break;
    case A_HEATMAP:
        T->v.heatmap = !T->v.heatmap;
        if (!T->v.heatmap) T->v.browse = 0;
        break;
    case A_BROWSE:
        T->v.browse = !T->v.browse;
        if (T->v.browse) { T->v.heatmap = 1; select_last_token(); }
        break;
    case A_SEL_EXIT: T->v.browse = 0; break;
    case A_SEL_PREV: tui_sel_move(a, &T->v.sel_msg, &T->v.sel_tok, -1); break;
    case A_SEL_NEXT: tui_sel_move(a, &T->v.sel_msg, &T->v.sel_tok, +1); break;
    case A_SEL_UP: tui_sel_vertical(a, T->cv.w, &T->v.sel_msg, &T->v.sel_tok, -1); break;
    case A_SEL_DOWN: tui_sel_vertical(a, T->cv.w, &T->v.sel_msg, &T->v.sel_tok, +1); break;
    case A_SCROLL_UP: T->v.scroll += page; break;
    case A_SCROLL_DOWN: T->v.scroll -= page; break;
    case A_SCROLL_TOP: T->v.scroll = 1 << 28; break;
    case A_SCROLL_BOTTOM: T->v.scroll = 0; break;
    case A_WHEEL_UP: T->v.scroll += 3; break;
    case A_WHEEL_DOWN: T->v.scroll -= 3; break;
    case A_NEWLINE: rl_insert_text("\n"); break;
    case A_EDITOR: run_editor(); break;
    case A_SWEEP:
        if (ua_sweep(a, us_sweep_default, us_sweep_default_n) == 0) { ug_new_reply(&T->g); T->v.scroll = 0; }
        break;
    default: break;
    }
    if (T->v.scroll < 0) T->v.scroll = 0;
}

static void feed_key(int k)
{
    char b[16];
    int n = 0;
    switch (k) {
    case UK_UP: n = snprintf(b, sizeof b, "\033[A"); break;
    case UK_DOWN: n = snprintf(b, sizeof b, "\033[B"); break;
    case UK_RIGHT: n = snprintf(b, sizeof b, "\033[C"); break;
    case UK_LEFT: n = snprintf(b, sizeof b, "\033[D"); break;
    case UK_DELETE: n = snprintf(b, sizeof b, "\033[3~"); break;
    case UK_BACKSPACE: b[0] = 127; n = 1; break;
    case UK_ENTER: b[0] = '\r'; n = 1; break;
    case UK_ESC: return;
    default:
        if (UK_IS_ALT(k)) {
            int c = k & ~0x200000;
            if (c >= 0x110000) return;
            b[0] = 27;
            n = 1 + uw_encode((uint32_t)c, b + 1);
        } else if (k < 0x110000) n = uw_encode((uint32_t)k, b);
        else return;
    }
    feed_bytes(b, n);
}

static void on_key(int k)
{
    T->dirty = 1;
    if (k == UK_RESIZE) return;
    if (T->v.help) {
        switch (k) {
        case UK_UP: T->v.help_top--; return;
        case UK_DOWN: T->v.help_top++; return;
        case UK_PGUP: T->v.help_top -= 10; return;
        case UK_PGDN: T->v.help_top += 10; return;
        default: T->v.help = 0; return;
        }
    }
    if (T->paste) {
        if (k == UK_PASTE_END) { T->paste = 0; return; }
        char b[8];
        if (k == UK_ENTER || k == '\n') rl_insert_text("\n");
        else if (k == '\t') rl_insert_text("    ");
        else if (k >= 32 && k < 0x110000) { b[uw_encode((uint32_t)k, b)] = 0; rl_insert_text(b); }
        return;
    }
    if (k == UK_PASTE_BEGIN) { T->paste = 1; return; }
    if (k == UK_PASTE_END) return;
    int state = (input_empty() ? UK_EMPTY : 0) | (T->v.browse ? UK_BROWSING : 0);
    uk_action act = uk_dispatch(k, state);
    if (act != A_NONE) { do_action(act); return; }
    feed_key(k);
    if (T->got_eof) { T->got_eof = 0; }
    if (T->line) {
        char *l = T->line;
        T->line = NULL;
        submit(l);
        free(l);
    }
}

static void submit(const char *text)
{
    ua_app *a = T->a;
    while (*text == ' ' || *text == '\n') text++;
    size_t n = strlen(text);
    if (!n) return;
    add_history(text);
    if (text[0] == '/') {
        us_cmd c;
        int k = ua_command(a, text, &c);
        if (k == UC_THEME) {
            char err[512];
            if (ut_load(&T->theme, c.arg, err, sizeof err)) ua_notice(a, 1, "/theme: %s", err);
            else {
                if (crt_depth() == 0) ut_builtin(&T->theme, "mono");
                crt_set_theme(&T->theme);
                snprintf(a->set.theme, sizeof a->set.theme, "%.63s", c.arg);
                ua_notice(a, 0, "theme %s%s", c.arg, crt_depth() == 0 ? " (no colours here: mono)" : "");
            }
        } else if (k == UC_HELP) { T->v.help = 1; T->v.help_top = 0; }
        else if (k == UC_QUIT) T->quit = 1;
        else if ((k == UC_REGEN || k == UC_SWEEP) && a->streaming) { ug_new_reply(&T->g); T->v.scroll = 0; }
        else if (k == UC_CLEAR || k == UC_LOAD) { T->v.browse = 0; T->v.scroll = 0; ug_init(&T->g); }
        return;
    }
    if (a->streaming) {
        ua_notice(a, 1, "a reply is running: Ctrl-C stops it (your text is kept)");
        set_input(text);
        return;
    }
    if (ua_send(a, text) == 0) {
        ug_new_reply(&T->g);
        T->v.scroll = 0;
    }
}

/* ------------------------------------------------------------- events */

static void drain_events(void)
{
    ua_app *a = T->a;
    ub_drain_wake(a->be);
    ue_event ev;
    while (ub_pop(a->be, &ev)) {
        switch (ev.kind) {
        case UE_STEP:
            T->g.crit = a->set.criterion == HG_CRIT_OFF || a->set.generator != HG_GEN_PLAIN
                            ? NULL : hg_criterion_name(a->set.criterion);
            T->g.label = ev.phase == HG_PHASE_DRAFT ? "draft" : ev.phase == HG_PHASE_VERIFY ? "verify"
                         : ev.phase == HG_PHASE_WAVE ? "wave" : NULL;
            T->g.exits_above = a->set.criterion == HG_CRIT_ARGMAX_STABILITY;
            ug_step(&T->g, ev.step, ev.num_steps, ev.exit_value, ev.threshold, ev.n_positions);
            break;
        case UE_TOKEN:
            if (ev.token_id >= 0) ug_token(&T->g, ev.steps_used, ev.num_steps);
            a->mean_steps = ev.mean_steps;
            break;
        case UE_DONE: ug_idle(&T->g); T->demo_wait = 0; break;
        default: break;
        }
        ua_event(a, &ev);
        ue_event_free(&ev);
        T->dirty = 1;
    }
    ua_backend_poll(a);
    {
        int used, nctx;
        size_t kv;
        ub_ctx_info(a->be, &used, &nctx, &kv, NULL);
        a->ctx_used = used;
        a->n_ctx = nctx;
        a->kv = kv;
    }
}

/* --------------------------------------------------------------- demo */

static void demo_tick(double now)
{
    if (!T->demo || T->demo_i >= T->demo->n || now < T->demo_next) return;
    if (T->demo_wait && T->a->streaming) return;
    T->demo_wait = 0;
    const ud_step *s = &T->demo->steps[T->demo_i];
    T->dirty = 1;
    switch (s->op) {
    case UD_SAY:
    case UD_TYPE: {
        const char *t = s->text;
        size_t len = strlen(t);
        if ((size_t)T->demo_pos < len) {
            uint32_t cp;
            int n = uw_decode(t + T->demo_pos, len - (size_t)T->demo_pos, &cp);
            char b[8];
            snprintf(b, sizeof b, "%.*s", n, t + T->demo_pos);
            rl_insert_text(b);
            T->demo_pos += n;
            T->demo_next = now + 0.045;
            return;
        }
        T->demo_pos = 0;
        T->demo_i++;
        if (s->op == UD_SAY) {
            on_key(UK_ENTER);
            T->demo_wait = 1;
            T->demo_next = now + 0.3;
        }
        return;
    }
    case UD_ENTER: on_key(UK_ENTER); T->demo_wait = 1; T->demo_next = now + 0.3; break;
    case UD_WAIT: T->demo_wait = 1; break;
    case UD_PAUSE: T->demo_next = now + s->seconds; break;
    case UD_KEY: on_key(s->key); T->demo_next = now + 0.6; break;
    case UD_NOTE: ua_notice(T->a, 0, "%s", s->text); T->demo_next = now + 1.5; break;
    case UD_CMD: submit(s->text); T->demo_next = now + 0.6; break;
    case UD_QUIT: T->quit = 1; break;
    }
    T->demo_i++;
}

/* ---------------------------------------------------------- main loop */

static void draw(void)
{
    int w, h;
    crt_size(&w, &h);
    if (w != T->cv.w || h != T->cv.h) cv_init(&T->cv, w, h);
    T->v.input = rl_line_buffer ? rl_line_buffer : "";
    T->v.input_point = rl_point;
    if (T->a->notice_seq != T->notice_seq) { T->notice_seq = T->a->notice_seq; T->notice_at = now_s(); }
    T->v.show_notice = now_s() - T->notice_at < 8.0;
    T->v.theme_name = T->theme.name;
    if (!T->g.active && T->g.n_recent == 0 && !T->a->streaming) {
        /* nothing computed yet: show the settings the first token will use */
        hg_criterion cr = T->a->set.criterion;
        T->g.crit = cr == HG_CRIT_OFF ? NULL : hg_criterion_name(cr);
        T->g.exits_above = cr == HG_CRIT_ARGMAX_STABILITY;
        T->g.threshold = us_threshold(&T->a->set);
        T->g.exit_value = NAN;
        T->g.num_steps = T->a->set.num_steps;
    }
    tui_draw(&T->cv, T->a, &T->g, &T->v);
    crt_flush(&T->cv);
    const char *dump = getenv("HUGINN_CANVAS_DUMP");   /* debugging: the last frame as text */
    if (dump && *dump) {
        FILE *f = fopen(dump, "w");
        if (f) {
            char row[4096];
            for (int y = 0; y < T->cv.h; y++) { cv_row_text(&T->cv, y, row, sizeof row); fprintf(f, "%s\n", row); }
            fclose(f);
        }
    }
    T->dirty = 0;
}

int tui_run(ua_app *a, const ud_script *demo, char *err, size_t errcap)
{
    tui t;
    memset(&t, 0, sizeof t);
    T = &t;
    t.a = a;
    t.demo = demo;
    t.v.sel_msg = t.v.sel_tok = -1;
    ug_init(&t.g);
    ua_backend_poll(a);
    /* replies restored from a session fill the strip */
    for (int i = 0; i < a->ss.n; i++)
        for (int k = 0; k < a->ss.msg[i].n_tok; k++) ug_token(&t.g, a->ss.msg[i].tok[k].steps, a->set.num_steps);
    ug_new_reply(&t.g);
    t.g.num_steps = a->set.num_steps;
    if (crt_init(err, errcap)) { T = NULL; return 1; }
    char terr[512];
    if (crt_depth() == 0) ut_builtin(&t.theme, "mono");
    else if (ut_load(&t.theme, a->set.theme, terr, sizeof terr)) ua_notice(a, 1, "theme: %s", terr);
    crt_set_theme(&t.theme);
    rl_setup();
    cv_init(&t.cv, 80, 24);
    t.dirty = 1;
    double last_draw = 0;
    while (!t.quit && !crt_sig_quit) {
        double now = now_s();
        if (t.dirty && now - last_draw >= 0.025) { draw(); last_draw = now; }
        fd_set rf;
        FD_ZERO(&rf);
        FD_SET(0, &rf);
        int wfd = ub_wake_fd(a->be);
        FD_SET(wfd, &rf);
        double wait = 0.5;
        if (t.dirty) wait = 0.025;
        if (t.demo && t.demo_i < t.demo->n) {
            double dn = t.demo_next - now;
            if (dn < wait) wait = dn < 0.005 ? 0.005 : dn;
        }
        struct timeval tv = {(time_t)wait, (suseconds_t)((wait - (int)wait) * 1e6)};
        int r = select((wfd > 0 ? wfd : 0) + 1, &rf, NULL, NULL, &tv);
        if (r > 0 && FD_ISSET(wfd, &rf)) drain_events();
        /* keys: whatever is there (curses may hold some already); a
         * signal (SIGWINCH) interrupts select and shows up as a resize */
        int k;
        while (!t.quit && (k = crt_read_key(0)) != -1) on_key(k);
        if (t.v.show_notice && now_s() - t.notice_at >= 8.0) t.dirty = 1;
        demo_tick(now_s());
    }
    if (a->streaming) {
        ub_stop(a->be);
        ub_wait_idle(a->be);
        drain_events();
    }
    rl_teardown();
    crt_done();
    cv_free(&t.cv);
    T = NULL;
    return crt_sig_quit ? 128 + crt_sig_quit : 0;
}
