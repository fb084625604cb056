/* app.c — messages, events and commands shared by the TUI and --plain. */
#include "app.h"
#include "export.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ua_notice(ua_app *a, int is_error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->notice, sizeof a->notice, fmt, ap);
    va_end(ap);
    a->notice_is_error = is_error;
    a->notice_seq++;
}

void ua_settings_changed(ua_app *a) { ub_set_settings(a->be, &a->set); }

void ua_backend_poll(ua_app *a)
{
    ub_info_get(a->be, &a->srv);
    if (!a->srv.remote) { a->ss.server[0] = 0; return; }   /* replies from here on are local */
    if (a->srv.model[0]) {
        snprintf(a->model_name, sizeof a->model_name, "%.127s", a->srv.model);
        snprintf(a->ss.model, sizeof a->ss.model, "%s", a->srv.model);
    }
    snprintf(a->ss.server, sizeof a->ss.server, "%s", a->srv.url);
}

int ua_steps_fixed(const ua_app *a) { return a->srv.remote && a->srv.probed && !a->srv.huginn; }

int ua_clamp_steps(ua_app *a)
{
    if (!a->srv.remote || !a->srv.huginn || a->srv.max_steps < 1 || a->set.num_steps <= a->srv.max_steps) return 0;
    a->set.num_steps = a->srv.max_steps;
    return 1;
}

void ua_sampling_text(const us_settings *s, char *out, size_t cap)
{
    if (s->greedy) { snprintf(out, cap, "greedy"); return; }
    size_t n = (size_t)snprintf(out, cap, "sample T %g", s->temperature);
    if (s->top_p > 0 && s->top_p < 1 && n < cap) n += (size_t)snprintf(out + n, cap - n, " p %g", s->top_p);
    if (s->top_k > 0 && n < cap) n += (size_t)snprintf(out + n, cap - n, " k %d", s->top_k);
    if (s->min_p > 0 && n < cap) snprintf(out + n, cap - n, " min-p %g", s->min_p);
}

/* The conversation the model sees: messages[0..upto) without sweep replies
 * (malloc'd; *n its length). */
static hg_chat_msg *context_msgs(const ua_app *a, int upto, int *n)
{
    hg_chat_msg *v = malloc(sizeof *v * (size_t)(upto ? upto : 1));
    *n = 0;
    if (!v) return NULL;
    for (int i = 0; i < upto; i++) {
        if (ss_is_sweep(&a->ss.msg[i])) continue;
        v[*n].role = a->ss.msg[i].role;
        v[*n].content = a->ss.msg[i].content;
        (*n)++;
    }
    return v;
}

static int start_reply(ua_app *a)
{
    /* the messages sent: all but the (empty) reply at the end, and no sweeps */
    int n;
    hg_chat_msg *v = context_msgs(a, a->ss.n, &n);
    if (!v) return -1;
    ub_set_settings(a->be, &a->set);
    if (!ss_add(&a->ss, "Huginn", "")) { free(v); return -1; }
    a->reply = a->ss.n - 1;
    int rc = ub_turn(a->be, v, n, a->ss.n_dropped);
    free(v);
    if (rc) { ss_pop(&a->ss); ua_notice(a, 1, "a reply is running"); return -1; }
    a->streaming = 1;
    a->sweeping = 0;
    a->prov_kind = a->prov_len = a->prov_n = 0;
    a->gen_drafted = a->gen_accepted = a->gen_rejected_last = a->gen_passes = a->gen_tokens = 0;
    return 0;
}

int ua_sweep(ua_app *a, const int *steps, int n_steps)
{
    if (a->streaming) { ua_notice(a, 1, "a reply is running (Ctrl-C stops it)"); return -1; }
    if (ua_steps_fixed(a)) { ua_notice(a, 1, "/sweep: not supported by this server (its steps are fixed on the server)"); return -1; }
    int u = a->ss.n - 1;
    while (u >= 0 && strcmp(a->ss.msg[u].role, "user")) u--;
    if (u < 0) { ua_notice(a, 1, "/sweep: no message to answer yet"); return -1; }
    int n;
    hg_chat_msg *v = context_msgs(a, u + 1, &n);
    if (!v) return -1;
    int id = 0;
    for (int i = 0; i < a->ss.n; i++)
        if (ss_is_sweep(&a->ss.msg[i]) && a->ss.msg[i].sweep > id) id = a->ss.msg[i].sweep;
    ub_set_settings(a->be, &a->set);
    int rc = ub_sweep(a->be, v, n, a->ss.n_dropped, steps, n_steps);
    free(v);
    if (rc) { ua_notice(a, 1, "a reply is running"); return -1; }
    a->streaming = 1;
    a->sweeping = 1;
    a->sweep_id = id + 1;
    a->reply = a->ss.n;   /* none yet: each run adds its message */
    char list[128] = "";
    for (int i = 0; i < n_steps; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i ? "," : "", steps[i]);
    ua_notice(a, 0, "sweep %s: the last message answered at each depth (Ctrl-C stops)", list);
    a->prov_kind = a->prov_len = a->prov_n = 0;
    a->gen_drafted = a->gen_accepted = a->gen_rejected_last = a->gen_passes = a->gen_tokens = 0;
    return 0;
}

int ua_send(ua_app *a, const char *text)
{
    if (a->streaming) { ua_notice(a, 1, "a reply is running (Ctrl-C stops it)"); return -1; }
    if (!ss_add(&a->ss, "user", text)) return -1;
    return start_reply(a);
}

int ua_regen(ua_app *a)
{
    if (a->streaming) { ua_notice(a, 1, "a reply is running (Ctrl-C stops it)"); return -1; }
    int last = a->ss.n - 1;
    while (last >= 0 && ss_is_sweep(&a->ss.msg[last])) last--;
    if (last >= 0 && !strcmp(a->ss.msg[last].role, "Huginn")) ss_remove(&a->ss, last--);
    while (last >= 0 && ss_is_sweep(&a->ss.msg[last])) last--;
    if (last < 0 || strcmp(a->ss.msg[last].role, "user")) {
        ua_notice(a, 1, "/regen: no message to answer");
        return -1;
    }
    return start_reply(a);
}

void ua_autosave(ua_app *a)
{
    if (!a->autosave[0]) return;
    char dir[4400], err[512];
    snprintf(dir, sizeof dir, "%s/sessions", a->state_dir);
    if (ss_mkdirs(dir)) ua_notice(a, 1, "autosave failed: %s: %s", dir, strerror(errno));
    else if (ss_save(&a->ss, a->autosave, err, sizeof err)) ua_notice(a, 1, "autosave failed: %s", err);
}

void ua_event(ua_app *a, const ue_event *ev)
{
    us_msg *r = a->streaming && a->reply < a->ss.n ? &a->ss.msg[a->reply] : NULL;
    switch (ev->kind) {
    case UE_TOKEN:
        if (!r) break;
        if (ev->token_id < 0) ss_append_text(r, ev->text ? ev->text : "", ev->text_len);
        else if (ss_append_token(r, ev->token_id, ev->text ? ev->text : "", ev->text_len, ev->steps_used,
                                 ev->trace, ev->n_trace) == 0) {
            r->tok[r->n_tok - 1].threshold = ev->threshold;
            r->tok[r->n_tok - 1].criterion = ev->criterion;
        }
        break;
    case UE_RUN_BEGIN: {
        us_msg *m = a->sweeping ? ss_add(&a->ss, "sweep", "") : NULL;
        if (!m) break;
        m->sweep = a->sweep_id;
        m->num_steps = ev->num_steps;
        a->reply = a->ss.n - 1;
        break;
    }
    case UE_RUN_END:
        if (!r || !a->sweeping) break;
        r->tok_per_s = ev->tok_per_s;
        if (ev->stop_reason == HG_STOP_CANCELLED) r->stopped = 1;
        break;
    case UE_DRAFT:
        if (a->prov_kind != 1) a->prov_kind = 1, a->prov_len = a->prov_n = 0;
        if (ev->text && a->prov_n < 512 && a->prov_len + (int)ev->text_len < (int)sizeof a->prov) {
            a->prov_start[a->prov_n] = a->prov_len;
            a->prov_count[a->prov_n] = a->set.draft_steps;
            a->prov_n++;
            memcpy(a->prov + a->prov_len, ev->text, ev->text_len);
            a->prov_len += (int)ev->text_len;
        }
        break;
    case UE_VERIFY:
        /* the drafts that stood come back as tokens; the rest vanish */
        a->gen_drafted += ev->n_drafted;
        a->gen_accepted += ev->n_accepted;
        a->gen_rejected_last = ev->n_drafted - ev->n_accepted;
        a->prov_kind = 0;
        a->prov_len = a->prov_n = 0;
        break;
    case UE_WAVE:
        a->prov_kind = 2;
        a->gen_passes = ev->core_passes;
        a->prov_len = a->prov_n = 0;
        for (int i = 0; i < ev->n_wave && i < 512; i++) {
            int end = i + 1 < ev->n_wave ? ev->wave_starts[i + 1] : (int)ev->text_len;
            if (end >= (int)sizeof a->prov) break;
            a->prov_start[i] = ev->wave_starts[i];
            a->prov_count[i] = ev->wave_counts[i];
            a->prov_n = i + 1;
            a->prov_len = end;
        }
        if (ev->text) memcpy(a->prov, ev->text, (size_t)a->prov_len);
        break;
    case UE_NOTICE: ua_notice(a, 0, "%s", ev->text ? ev->text : ""); break;
    case UE_ERROR: ua_notice(a, 1, "%s", ev->text ? ev->text : ""); break;
    case UE_DONE:
        a->streaming = 0;
        a->prov_kind = 0;
        a->prov_len = a->prov_n = 0;
        if (ev->generator != HG_GEN_PLAIN) {
            a->gen_drafted = ev->n_drafted;
            a->gen_accepted = ev->n_accepted;
            a->gen_passes = ev->core_passes;
            a->gen_tokens = ev->n_tokens;
        }
        a->ctx_used = ev->ctx_used;
        a->n_ctx = ev->n_ctx;
        a->kv = ev->kv_bytes;
        a->ss.n_dropped = ev->dropped;
        {
            const char *c;
            ub_ctx_info(a->be, NULL, NULL, NULL, &c);
            snprintf(a->cache_used, sizeof a->cache_used, "%s", c);
        }
        if (a->sweeping) {
            a->sweeping = 0;
            ss_sweep_diverge(&a->ss, a->sweep_id);
            if (ev->stop_reason == HG_STOP_CANCELLED) ua_notice(a, 0, "sweep stopped");
            else if (ev->stop_reason != HG_STOP_NONE) ua_notice(a, 0, "sweep done: the first token that departs from the deepest reply is marked");
        } else if (r) {
            if (ev->n_tokens > 0) {
                a->tok_per_s = ev->tok_per_s;
                a->mean_steps = ev->mean_steps;
                r->tok_per_s = ev->tok_per_s;
            }
            if (ev->stop_reason == HG_STOP_CANCELLED) {
                r->stopped = 1;
                ua_notice(a, 0, "stopped after %d token%s", ev->n_tokens, ev->n_tokens == 1 ? "" : "s");
            } else if (ev->stop_reason == HG_STOP_CONTEXT) {
                ua_notice(a, 0, "the context is full: the reply was cut");
            }
            if (r->n_tok == 0 && r->len == 0 && ev->stop_reason != HG_STOP_CANCELLED) ss_pop(&a->ss);
        }
        ua_autosave(a);
        break;
    default: break;
    }
}

void ua_generator_text(const ua_app *a, char *out, size_t cap)
{
    const us_settings *s = &a->set;
    if (s->generator == HG_GEN_SPECULATIVE) {
        int n = snprintf(out, cap, "spec D%d×K%d", s->draft_steps, s->lookahead);
        if (a->gen_drafted > 0 && n > 0 && (size_t)n < cap)
            snprintf(out + n, cap - (size_t)n, " %d%% ok", (int)(100.0 * a->gen_accepted / a->gen_drafted + 0.5));
    } else if (s->generator == HG_GEN_DIFFUSION) {
        int n = snprintf(out, cap, "diffusion R%d", s->inner_recurrence);
        int toks = a->streaming && a->reply < a->ss.n ? a->ss.msg[a->reply].n_tok : a->gen_tokens;
        if (a->gen_passes > 0 && toks > 0 && n > 0 && (size_t)n < cap)
            snprintf(out + n, cap - (size_t)n, " %.1f passes/tok", (double)a->gen_passes / toks);
    } else if (cap) {
        out[0] = 0;
    }
}

/* The commands that set what only a huginn server computes. */
static const char *const recurrence_cmds[] = {"steps", "criterion", "threshold", "cache", "warmstart", "gen", "generator", NULL};

int ua_command(ua_app *a, const char *line, us_cmd *c)
{
    char err[600];
    if (ua_steps_fixed(a)) {
        const char *p = line;
        while (*p == ' ') p++;
        size_t n = strcspn(p + 1, " \t");
        for (int i = 0; p[0] == '/' && recurrence_cmds[i]; i++)
            if (strlen(recurrence_cmds[i]) == n && !strncmp(p + 1, recurrence_cmds[i], n)) {
                memset(c, 0, sizeof *c);
                c->kind = UC_ERROR;
                ua_notice(a, 1, "/%s: not supported by this server (not a huginn server: its steps are fixed on the server)",
                          recurrence_cmds[i]);
                return UC_ERROR;
            }
    }
    if (a->srv.remote) {   /* sampling the OpenAI API cannot carry */
        const char *p = line;
        while (*p == ' ') p++;
        if (!strncmp(p, "/top-k", 6) || !strncmp(p, "/min-p", 6)) {
            memset(c, 0, sizeof *c);
            c->kind = UC_ERROR;
            ua_notice(a, 1, "%.6s: not sent to a server (the OpenAI API has temperature, top-p and seed only)", p);
            return UC_ERROR;
        }
    }
    us_cmd_kind k = us_command(&a->set, line, c);
    switch (k) {
    case UC_NONE: return k;
    case UC_SET:
        if (ua_clamp_steps(a)) {
            ua_settings_changed(a);
            ua_notice(a, 1, "steps %d: the server allows at most %d", a->set.num_steps, a->srv.max_steps);
            break;
        }
        ua_settings_changed(a);
        ua_notice(a, 0, "%s", c->msg);
        break;
    case UC_ERROR: ua_notice(a, 1, "%s", c->msg); break;
    case UC_SYSTEM:
        if (a->streaming) { ua_notice(a, 1, "/system: wait for the reply to end"); break; }
        ss_set_system(&a->ss, c->arg);
        ua_notice(a, 0, c->arg[0] ? "system message set" : "system message removed");
        break;
    case UC_REGEN: ua_regen(a); break;
    case UC_CLEAR:
        if (a->streaming) { ua_notice(a, 1, "/clear: wait for the reply to end"); break; }
        ss_clear(&a->ss);
        ub_reset(a->be);
        ss_autosave_path(a->state_dir, a->autosave, sizeof a->autosave);
        a->ctx_used = 0;
        ua_notice(a, 0, "new conversation");
        break;
    case UC_SAVE:
        if (ss_save(&a->ss, c->arg, err, sizeof err)) ua_notice(a, 1, "/save: %s", err);
        else ua_notice(a, 0, "saved %s", c->arg);
        break;
    case UC_LOAD:
        if (a->streaming) { ua_notice(a, 1, "/load: wait for the reply to end"); break; }
        int rc = ss_load(&a->ss, c->arg, err, sizeof err);
        if (rc < 0) ua_notice(a, 1, "/load: %s", err);
        else {
            ub_reset(a->be);
            if (rc) ua_notice(a, 1, "/load: %s", err);
            else ua_notice(a, 0, "loaded %s (%d messages)", c->arg, a->ss.n);
        }
        break;
    case UC_SWEEP: ua_sweep(a, c->steps, c->n_steps); break;
    case UC_TRACE: {
        int i = ux_last_reply(&a->ss);
        if (a->streaming) ua_notice(a, 1, "/trace: wait for the reply to end");
        else if (i < 0 && ua_steps_fixed(a)) ua_notice(a, 1, "/trace: this server sends no per-token steps");
        else if (i < 0) ua_notice(a, 1, "/trace: no reply yet");
        else if (ux_trace_msg(&a->ss.msg[i], a->tok, c->arg, err, sizeof err)) ua_notice(a, 1, "/trace: %s", err);
        else ua_notice(a, 0, "wrote the trace of %d tokens to %s", a->ss.msg[i].n_tok, c->arg);
        break;
    }
    case UC_EXPORT: {
        ut_theme th;
        char terr[256];
        if (ut_load(&th, a->set.theme, terr, sizeof terr)) ut_builtin(&th, "default");
        if (ux_export(&a->ss, &th, c->arg, err, sizeof err)) ua_notice(a, 1, "/export: %s", err);
        else ua_notice(a, 0, "exported %s (%s)", c->arg, ux_is_html(c->arg) ? "HTML" : "Markdown");
        break;
    }
    default: break;
    }
    return k;
}
