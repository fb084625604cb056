/* session.c — the conversation model and its files. */
#include "session.h"
#include "huginn.h"
#include "settings.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void ss_init(us_session *s) { memset(s, 0, sizeof *s); }

static void append_repaired(us_msg *m, const char *s, size_t n);

static void msg_free(us_msg *m)
{
    free(m->content);
    for (int i = 0; i < m->n_tok; i++) free(m->tok[i].trace);
    free(m->tok);
    memset(m, 0, sizeof *m);
}

void ss_free(us_session *s)
{
    for (int i = 0; i < s->n; i++) msg_free(&s->msg[i]);
    free(s->msg);
    memset(s, 0, sizeof *s);
}

void ss_clear(us_session *s)
{
    int keep = s->n > 0 && !strcmp(s->msg[0].role, "system") ? 1 : 0;
    for (int i = keep; i < s->n; i++) msg_free(&s->msg[i]);
    s->n = keep;
    s->n_dropped = 0;
}

void ss_append_text(us_msg *m, const char *text, size_t len)
{
    if (m->len + len + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 64;
        while (cap < m->len + len + 1) cap *= 2;
        char *c = realloc(m->content, cap);
        if (!c) return;
        m->content = c;
        m->cap = cap;
    }
    memcpy(m->content + m->len, text, len);
    m->len += len;
    m->content[m->len] = 0;
}

us_msg *ss_add(us_session *s, const char *role, const char *text)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        us_msg *m = realloc(s->msg, sizeof *m * (size_t)cap);
        if (!m) return NULL;
        s->msg = m;
        s->cap = cap;
    }
    us_msg *m = &s->msg[s->n++];
    memset(m, 0, sizeof *m);
    snprintf(m->role, sizeof m->role, "%s", role);
    m->diverge = -1;
    append_repaired(m, text ? text : "", text ? strlen(text) : 0); /* a pasted cut sequence becomes U+FFFD */
    return m;
}

void ss_pop(us_session *s)
{
    if (s->n > 0) msg_free(&s->msg[--s->n]);
}

void ss_set_system(us_session *s, const char *text)
{
    int has = s->n > 0 && !strcmp(s->msg[0].role, "system");
    if (!text || !*text) {
        if (has) {
            msg_free(&s->msg[0]);
            memmove(s->msg, s->msg + 1, sizeof *s->msg * (size_t)(s->n - 1));
            s->n--;
        }
        return;
    }
    if (has) {
        s->msg[0].len = 0;
        append_repaired(&s->msg[0], text, strlen(text));
        return;
    }
    if (!ss_add(s, "system", text)) return;
    us_msg m = s->msg[s->n - 1];
    memmove(s->msg + 1, s->msg, sizeof *s->msg * (size_t)(s->n - 1));
    s->msg[0] = m;
}

int ss_append_token(us_msg *m, int32_t id, const char *piece, size_t len, int steps,
                    const float *trace, int n_trace)
{
    if (m->n_tok == m->cap_tok) {
        int cap = m->cap_tok ? m->cap_tok * 2 : 64;
        us_token *t = realloc(m->tok, sizeof *t * (size_t)cap);
        if (!t) return -1;
        m->tok = t;
        m->cap_tok = cap;
    }
    us_token *t = &m->tok[m->n_tok++];
    t->id = id;
    t->start = (int)m->len;
    t->steps = steps;
    t->n_trace = 0;
    t->trace = NULL;
    t->threshold = NAN;
    t->criterion = 0;
    if (trace && n_trace > 0 && (t->trace = malloc(sizeof *trace * (size_t)n_trace))) {
        memcpy(t->trace, trace, sizeof *trace * (size_t)n_trace);
        t->n_trace = n_trace;
    }
    ss_append_text(m, piece, len);
    return 0;
}

int ss_is_sweep(const us_msg *m) { return !strcmp(m->role, "sweep"); }

void ss_sweep_diverge(us_session *s, int id)
{
    int deep = -1;
    for (int i = 0; i < s->n; i++)
        if (ss_is_sweep(&s->msg[i]) && s->msg[i].sweep == id && !s->msg[i].stopped &&
            (deep < 0 || s->msg[i].num_steps > s->msg[deep].num_steps))
            deep = i;
    for (int i = 0; i < s->n; i++) {
        us_msg *m = &s->msg[i];
        if (!ss_is_sweep(m) || m->sweep != id) continue;
        m->diverge = -1;
        if (deep < 0 || i == deep) continue;
        const us_msg *d = &s->msg[deep];
        int t = 0;
        while (t < m->n_tok && t < d->n_tok && m->tok[t].id == d->tok[t].id) t++;
        if (t < m->n_tok) m->diverge = t;   /* a stopped or shorter run that agrees so far: none */
    }
}

void ss_remove(us_session *s, int i)
{
    if (i < 0 || i >= s->n) return;
    msg_free(&s->msg[i]);
    memmove(s->msg + i, s->msg + i + 1, sizeof *s->msg * (size_t)(s->n - i - 1));
    s->n--;
}

int ss_token_at(const us_msg *m, int off)
{
    /* the last token starting at or before off that has text there */
    int lo = 0, hi = m->n_tok - 1, best = -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (m->tok[mid].start <= off) { best = mid; lo = mid + 1; }
        else hi = mid - 1;
    }
    return best;
}

double ss_mean_steps(const us_msg *m)
{
    if (m->n_tok == 0) return 0;
    double s = 0;
    for (int i = 0; i < m->n_tok; i++) s += m->tok[i].steps;
    return s / m->n_tok;
}

/* ----------------------------------------------------------- files */

int ss_mkdirs(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(p, 0700) && errno != EEXIST) return -1;
        *c = '/';
    }
    if (mkdir(p, 0700) && errno != EEXIST) return -1;
    return 0;
}

int ss_write_atomic(const char *path, const char *text, char *err, size_t errcap)
{
    hg_err e;
    if (hg_file_write_atomic(path, text, strlen(text), &e) == HG_OK) return 0;
    snprintf(err, errcap, "%s", e.msg);
    return -1;
}

/* A float for the session file: 6 significant digits, null for NaN. */
static cJSON *num6(double v)
{
    if (!isfinite(v)) return cJSON_CreateNull();
    char b[32];
    snprintf(b, sizeof b, "%.6g", v);
    return cJSON_CreateNumber(strtod(b, NULL));
}

static void save_traces(cJSON *o, const us_msg *m)
{
    int any = 0;
    for (int t = 0; t < m->n_tok; t++) any |= m->tok[t].n_trace > 0;
    if (!any) return;
    cJSON *tr = cJSON_AddArrayToObject(o, "traces");
    cJSON *th = cJSON_AddArrayToObject(o, "thresholds");
    cJSON *cr = cJSON_AddArrayToObject(o, "criteria");
    for (int t = 0; t < m->n_tok; t++) {
        const us_token *k = &m->tok[t];
        cJSON *row = cJSON_CreateArray();
        for (int i = 0; i < k->n_trace; i++) cJSON_AddItemToArray(row, num6(k->trace[i]));
        cJSON_AddItemToArray(tr, row);
        cJSON_AddItemToArray(th, num6(k->threshold));
        cJSON_AddItemToArray(cr, cJSON_CreateString(hg_criterion_name((hg_criterion)k->criterion)));
    }
}

static void load_traces(us_msg *m, const cJSON *o)
{
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(o, "traces");
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(o, "thresholds");
    const cJSON *cr = cJSON_GetObjectItemCaseSensitive(o, "criteria");
    if (!cJSON_IsArray(tr) || cJSON_GetArraySize(tr) != m->n_tok) return;
    for (int t = 0; t < m->n_tok; t++) {
        us_token *k = &m->tok[t];
        const cJSON *row = cJSON_GetArrayItem(tr, t);
        int n = cJSON_IsArray(row) ? cJSON_GetArraySize(row) : 0;
        if (n > 0 && n <= 65536 && (k->trace = malloc(sizeof *k->trace * (size_t)n))) {
            for (int i = 0; i < n; i++) {
                const cJSON *v = cJSON_GetArrayItem(row, i);
                k->trace[i] = cJSON_IsNumber(v) ? (float)v->valuedouble : NAN;
            }
            k->n_trace = n;
        }
        const cJSON *tv = cJSON_GetArrayItem(th, t);
        k->threshold = cJSON_IsNumber(tv) ? tv->valuedouble : NAN;
        const cJSON *cv = cJSON_GetArrayItem(cr, t);
        hg_criterion c;
        if (cJSON_IsString(cv) && hg_criterion_parse(cv->valuestring, &c) == HG_OK) k->criterion = (int)c;
    }
}

int ss_save(const us_session *s, const char *path, char *err, size_t errcap)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "version", 1);
    cJSON_AddStringToObject(j, "format", "huginn-chat");
    if (s->model[0]) cJSON_AddStringToObject(j, "model", s->model);
    if (s->server[0]) cJSON_AddStringToObject(j, "server", s->server);
    cJSON_AddNumberToObject(j, "dropped", s->n_dropped);
    cJSON *arr = cJSON_AddArrayToObject(j, "messages");
    for (int i = 0; i < s->n; i++) {
        const us_msg *m = &s->msg[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", m->role);
        cJSON_AddStringToObject(o, "content", m->content ? m->content : "");
        if (m->n_tok) {
            cJSON *ids = cJSON_AddArrayToObject(o, "ids");
            cJSON *st = cJSON_AddArrayToObject(o, "steps");
            cJSON *of = cJSON_AddArrayToObject(o, "offsets");
            for (int t = 0; t < m->n_tok; t++) {
                cJSON_AddItemToArray(ids, cJSON_CreateNumber(m->tok[t].id));
                cJSON_AddItemToArray(st, cJSON_CreateNumber(m->tok[t].steps));
                cJSON_AddItemToArray(of, cJSON_CreateNumber(m->tok[t].start));
            }
            save_traces(o, m);
            if (m->tok_per_s > 0) cJSON_AddNumberToObject(o, "tokens_per_s", m->tok_per_s);
        }
        if (m->stopped) cJSON_AddBoolToObject(o, "stopped", 1);
        if (ss_is_sweep(m)) {
            cJSON_AddNumberToObject(o, "sweep", m->sweep);
            cJSON_AddNumberToObject(o, "num_steps", m->num_steps);
            cJSON_AddNumberToObject(o, "diverge", m->diverge);
        }
        cJSON_AddItemToArray(arr, o);
    }
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) { snprintf(err, errcap, "out of memory"); return -1; }
    int rc = ss_write_atomic(path, text, err, errcap);
    free(text);
    return rc;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static int utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!len || n < (size_t)len) return 0;
    unsigned cp = c & (0x7Fu >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

int ss_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        int l = utf8_len((const unsigned char *)s + i, n - i);
        if (!l) return 0;
        i += (size_t)l;
    }
    return 1;
}

/* Append text with each invalid byte replaced by U+FFFD. */
static void append_repaired(us_msg *m, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        int l = utf8_len((const unsigned char *)s + i, n - i);
        if (l) {
            ss_append_text(m, s + i, (size_t)l);
            i += (size_t)l;
            continue;
        }
        /* one U+FFFD for a cut sequence: its lead byte and continuation bytes */
        unsigned c = (unsigned char)s[i];
        size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1, k = 1;
        while (k < want && i + k < n && ((unsigned char)s[i + k] & 0xC0) == 0x80) k++;
        ss_append_text(m, "\xEF\xBF\xBD", 3);
        i += k;
    }
}

char *ss_utf8_repaired(const char *s, size_t n, size_t *out_len)
{
    us_msg tmp;
    memset(&tmp, 0, sizeof tmp);
    append_repaired(&tmp, s, n);
    if (!tmp.content) tmp.content = calloc(1, 1);
    if (out_len) *out_len = tmp.content ? tmp.len : 0;
    return tmp.content;
}

/* A JSON number that is a whole number in lo..hi (checked as a double). */
static int json_int_in(const cJSON *j, double lo, double hi, int *out)
{
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= lo && v <= hi) || v != floor(v)) return 0;
    *out = (int)v;
    return 1;
}

int ss_load(us_session *s, const char *path, char *err, size_t errcap)
{
    char *buf;
    hg_err e;
    if (hg_file_read(path, SS_MAX_FILE, &buf, NULL, &e) != HG_OK) {
        snprintf(err, errcap, "%s", e.msg);
        return -1;
    }
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "messages");
    if (!cJSON_IsArray(arr)) {
        snprintf(err, errcap, "%s: not a huginn session (no \"messages\" array)", path);
        cJSON_Delete(j);
        return -1;
    }
    if (cJSON_GetArraySize(arr) > SS_MAX_MESSAGES) {
        snprintf(err, errcap, "%s: more than %d messages", path, SS_MAX_MESSAGES);
        cJSON_Delete(j);
        return -1;
    }
    us_session ns;
    ss_init(&ns);
    int bad_role = 0, bad_msg = 0, bad_text = 0, bad_tok = 0, bad_steps = 0;
    const cJSON *mo;
    cJSON_ArrayForEach(mo, arr) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(mo, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(mo, "content");
        if (!cJSON_IsString(role) || !cJSON_IsString(content)) { bad_msg++; continue; }
        const char *r = role->valuestring;
        int is_sys = !strcmp(r, "system"), is_sweep = !strcmp(r, "sweep"), is_reply = !strcmp(r, "Huginn") || is_sweep;
        if ((!is_sys && !is_reply && strcmp(r, "user")) || (is_sys && ns.n > 0)) { bad_role++; continue; }
        us_msg *m = ss_add(&ns, r, NULL);
        if (!m) break;
        const char *c = content->valuestring;
        size_t clen = strlen(c);
        if (!ss_utf8_valid(c, clen)) { /* the token spans no longer hold: text only */
            bad_text++;
            append_repaired(m, c, clen);
            continue;
        }
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(mo, "ids");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(mo, "steps");
        const cJSON *of = cJSON_GetObjectItemCaseSensitive(mo, "offsets");
        int nt = cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : 0;
        int tok_ok = is_reply && nt > 0 && cJSON_IsArray(st) && cJSON_IsArray(of) && cJSON_GetArraySize(st) == nt &&
                     cJSON_GetArraySize(of) == nt && clen < (size_t)INT_MAX;
        if (!is_reply && nt > 0) bad_tok++;
        if (tok_ok) { /* offsets rise within the text, ids >= 0, steps 1..max */
            const cJSON *oi = of->child;
            int prev = 0;
            for (const cJSON *ii = ids->child; ii && tok_ok; ii = ii->next, oi = oi->next) {
                int id, off = prev;
                tok_ok = json_int_in(ii, 0, INT32_MAX, &id) && json_int_in(oi, prev, (double)clen, &off) &&
                         (oi != of->child || off == 0);
                prev = off;
            }
            if (!tok_ok) bad_tok++;
        }
        if (!tok_ok) {
            ss_append_text(m, c, clen);
        } else {
            const cJSON *ii = ids->child, *si = st->child, *oi = of->child;
            for (; ii; ii = ii->next, si = si->next, oi = oi->next) {
                int a = (int)oi->valuedouble;
                int b = oi->next ? (int)oi->next->valuedouble : (int)clen;
                int steps;
                if (!json_int_in(si, 1, US_MAX_STEPS, &steps)) {
                    bad_steps++;
                    double v = cJSON_IsNumber(si) ? si->valuedouble : 1;
                    steps = !(v >= 1) ? 1 : v > US_MAX_STEPS ? US_MAX_STEPS : (int)v;
                }
                ss_append_token(m, (int32_t)ii->valuedouble, c + a, (size_t)(b - a), steps, NULL, 0);
            }
        }
        const cJSON *tps = cJSON_GetObjectItemCaseSensitive(mo, "tokens_per_s");
        if (is_reply && cJSON_IsNumber(tps) && tps->valuedouble > 0 && tps->valuedouble < 1e9)
            m->tok_per_s = tps->valuedouble;
        m->stopped = is_reply && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mo, "stopped"));
        if (tok_ok) load_traces(m, mo);
        if (is_sweep) {
            const cJSON *sw = cJSON_GetObjectItemCaseSensitive(mo, "sweep");
            const cJSON *nsj = cJSON_GetObjectItemCaseSensitive(mo, "num_steps");
            const cJSON *dv = cJSON_GetObjectItemCaseSensitive(mo, "diverge");
            m->sweep = cJSON_IsNumber(sw) && sw->valuedouble >= 1 && sw->valuedouble < 1e9 ? (int)sw->valuedouble : 1;
            m->num_steps = cJSON_IsNumber(nsj) && nsj->valuedouble >= 1 && nsj->valuedouble <= 1e6 ? (int)nsj->valuedouble : 0;
            m->diverge = cJSON_IsNumber(dv) && dv->valuedouble >= 0 && dv->valuedouble < m->n_tok ? (int)dv->valuedouble : -1;
        }
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (cJSON_IsString(model)) {
        char *t = ss_utf8_repaired(model->valuestring, strlen(model->valuestring), NULL);
        if (t) snprintf(ns.model, sizeof ns.model, "%s", t);
        free(t);
    }
    const cJSON *server = cJSON_GetObjectItemCaseSensitive(j, "server");
    if (cJSON_IsString(server)) {
        char *t = ss_utf8_repaired(server->valuestring, strlen(server->valuestring), NULL);
        if (t) snprintf(ns.server, sizeof ns.server, "%s", t);
        free(t);
    }
    cJSON_Delete(j);
    ss_free(s);
    *s = ns;
    if (!(bad_role || bad_msg || bad_text || bad_tok || bad_steps)) return 0;
    char what[400] = "";
    size_t o = 0;
#define NOTE(n, ...) \
    if (n && o < sizeof what) { \
        o += (size_t)snprintf(what + o, sizeof what - o, "%s%d ", o ? ", " : "", n); \
        if (o < sizeof what) o += (size_t)snprintf(what + o, sizeof what - o, __VA_ARGS__); \
    }
    NOTE(bad_msg, "malformed message(s) dropped");
    NOTE(bad_role, "message(s) with an unknown or misplaced role dropped");
    NOTE(bad_text, "message(s) with invalid UTF-8 repaired");
    NOTE(bad_tok, "token list(s) that did not match the text dropped");
    NOTE(bad_steps, "step count(s) outside 1..%d clamped", US_MAX_STEPS);
#undef NOTE
    snprintf(err, errcap, "%s: repaired: %s", path, what);
    return 1;
}

int ss_export_md(const us_session *s, const char *path, char *err, size_t errcap)
{
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    if (!out) return -1;
#define PUT(...) do { \
        int need = snprintf(NULL, 0, __VA_ARGS__); \
        while (n + (size_t)need + 1 > cap) { cap *= 2; char *o2 = realloc(out, cap); if (!o2) { free(out); return -1; } out = o2; } \
        n += (size_t)snprintf(out + n, cap - n, __VA_ARGS__); \
    } while (0)
    PUT("# Huginn conversation\n\n");
    if (s->model[0]) PUT("Model: `%s`\n\n", s->model);
    if (s->server[0]) PUT("Server: `%s`\n\n", s->server);
    for (int i = 0; i < s->n; i++) {
        const us_msg *m = &s->msg[i];
        const char *who = !strcmp(m->role, "user") ? "You" : !strcmp(m->role, "system") ? "System" : "Huginn";
        if (ss_is_sweep(m)) {
            PUT("### Sweep %d · steps %d\n\n", m->sweep, m->num_steps);
            if (m->tok_per_s > 0) PUT("%.1f tokens/s. ", m->tok_per_s);
            if (m->diverge >= 0) PUT("Departs from the deepest reply at token %d.", m->diverge);
            else PUT("Agrees with the deepest reply.");
            PUT("\n\n%s\n\n", m->content ? m->content : "");
        } else
            PUT("## %s\n\n%s\n\n", who, m->content ? m->content : "");
        if (m->n_tok) {
            PUT("<details><summary>%d tokens, %.2f steps/token%s</summary>\n\n", m->n_tok,
                ss_mean_steps(m), m->stopped ? ", stopped" : "");
            PUT("| # | token | steps |\n|---:|---|---:|\n");
            for (int t = 0; t < m->n_tok; t++) {
                int a = m->tok[t].start;
                int b = t + 1 < m->n_tok ? m->tok[t + 1].start : (int)m->len;
                PUT("| %d | `", t);
                for (int k = a; k < b; k++) {
                    char ch = m->content[k];
                    if (ch == '\n') PUT("\\n");
                    else if (ch == '|') PUT("\\|");
                    else if (ch == '`') PUT("'");
                    else PUT("%c", ch);
                }
                PUT("` | %d |\n", m->tok[t].steps);
            }
            PUT("\n</details>\n\n");
        }
    }
#undef PUT
    int rc = ss_write_atomic(path, out, err, errcap);
    free(out);
    return rc;
}

void ss_autosave_path(const char *state_dir, char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
    snprintf(out, cap, "%s/sessions/%s-%d.json", state_dir, ts, (int)getpid());
}

int ss_latest(const char *state_dir, char *out, size_t cap)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sessions", state_dir);
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    time_t best = 0;
    char bestname[512] = "";
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json")) continue;
        char p[4700];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb)) continue;
        if (!bestname[0] || sb.st_mtime > best || (sb.st_mtime == best && strcmp(e->d_name, bestname) > 0)) {
            best = sb.st_mtime;
            snprintf(bestname, sizeof bestname, "%s", e->d_name);
        }
    }
    closedir(d);
    if (!bestname[0]) return -1;
    snprintf(out, cap, "%s/%s", dir, bestname);
    return 0;
}
