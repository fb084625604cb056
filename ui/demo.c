/* demo.c — scripted sessions. */
#include "demo.h"
#include "platform.h"
#include "keys.h"

#ifndef HUGINN_DATADIR
#define HUGINN_DATADIR "/usr/local/share/huginn"
#endif

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char ud_default_script[] =
    "note Huginn thinks in a loop: every token runs the core block num_steps times.\n"
    "/criterion none\n"
    "/steps 4\n"
    "note 4 steps per token: fast, coarse.\n"
    "say What is a raven?\n"
    "pause 2\n"
    "key Alt-]\n"
    "note 8 steps per token.\n"
    "say What is a raven?\n"
    "pause 2\n"
    "/steps 32\n"
    "note 32 steps per token: the gauge fills slower.\n"
    "say What is a raven?\n"
    "pause 2\n"
    "/criterion kl 5e-4\n"
    "note Adaptive compute: each token stops when its prediction settles (kl < 5e-4).\n"
    "say What is a fortune?\n"
    "pause 1\n"
    "key Alt-h\n"
    "note The heatmap: every token tinted by the steps it took.\n"
    "pause 4\n"
    "key Alt-c\n"
    "note argmax-stability: exit once the top token is stable.\n"
    "say Tell me about the sea.\n"
    "pause 4\n"
    "/greedy\n"
    "key Alt-g\n"
    "note Speculative: drafts at 4 steps appear dim, one 32-step pass checks 4 at a time.\n"
    "say What is a raven?\n"
    "pause 3\n"
    "key Alt-g\n"
    "note Diffusion: a wave of positions, 4 steps a pass, frozen as their states settle.\n"
    "say What is a raven?\n"
    "pause 4\n"
    "/gen plain\n"
    "quit\n";

int ud_key_by_name(const char *name)
{
    for (int i = 0; i < uk_table_len; i++)
        for (int k = 0; k < 3 && uk_table[i].keys[k]; k++) {
            char nm[32];
            uk_name(uk_table[i].keys[k], nm, sizeof nm);
            if (!strcmp(nm, name)) return uk_table[i].keys[k];
        }
    return 0;
}

int ud_parse(ud_script *s, const char *text, char *err, size_t errcap)
{
    memset(s, 0, sizeof *s);
    int cap = 0, lineno = 0;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[600];
        lineno++;
        if (len >= sizeof line) {
            snprintf(err, errcap, "line %d: longer than %zu bytes", lineno, sizeof line - 1);
            ud_free(s);
            return -1;
        }
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (e ? 1 : 0);
        size_t l = strlen(line);
        while (l && isspace((unsigned char)line[l - 1])) line[--l] = 0;
        char *q = line;
        while (isspace((unsigned char)*q)) q++;
        if (!*q || *q == '#') continue;
        ud_step st;
        memset(&st, 0, sizeof st);
        char word[32] = "";
        int n = 0;
        while (q[n] && !isspace((unsigned char)q[n]) && n < 31) { word[n] = q[n]; n++; }
        word[n] = 0;
        const char *arg = q + n;
        while (isspace((unsigned char)*arg)) arg++;
        const char *text = NULL; /* what st.text holds */
        if (q[0] == '/') { st.op = UD_CMD; text = q; }
        else if (!strcmp(word, "say")) st.op = UD_SAY;
        else if (!strcmp(word, "type")) st.op = UD_TYPE;
        else if (!strcmp(word, "enter")) st.op = UD_ENTER;
        else if (!strcmp(word, "wait")) st.op = UD_WAIT;
        else if (!strcmp(word, "note")) st.op = UD_NOTE;
        else if (!strcmp(word, "quit")) st.op = UD_QUIT;
        else if (!strcmp(word, "pause")) {
            st.op = UD_PAUSE;
            char *end;
            st.seconds = strtod(arg, &end);
            if (end == arg || st.seconds < 0 || st.seconds > 3600) {
                snprintf(err, errcap, "line %d: pause needs seconds", lineno);
                ud_free(s);
                return -1;
            }
        } else if (!strcmp(word, "key")) {
            st.op = UD_KEY;
            st.key = ud_key_by_name(arg);
            if (!st.key) {
                snprintf(err, errcap, "line %d: unknown key '%s'", lineno, arg);
                ud_free(s);
                return -1;
            }
        } else {
            snprintf(err, errcap, "line %d: unknown command '%s'", lineno, word);
            ud_free(s);
            return -1;
        }
        if ((st.op == UD_SAY || st.op == UD_TYPE || st.op == UD_NOTE) && !*arg) {
            snprintf(err, errcap, "line %d: %s needs text", lineno, word);
            ud_free(s);
            return -1;
        }
        if (st.op != UD_CMD && st.op != UD_PAUSE && st.op != UD_KEY) text = arg;
        if (text) {
            int tl = snprintf(st.text, sizeof st.text, "%s", text);
            if (tl < 0 || (size_t)tl >= sizeof st.text) {
                snprintf(err, errcap, "line %d: longer than %zu bytes", lineno, sizeof st.text - 1);
                ud_free(s);
                return -1;
            }
        }
        if (s->n == cap) {
            cap = cap ? cap * 2 : 32;
            ud_step *ns = realloc(s->steps, sizeof *ns * (size_t)cap);
            if (!ns) { ud_free(s); snprintf(err, errcap, "out of memory"); return -1; }
            s->steps = ns;
        }
        s->steps[s->n++] = st;
    }
    return 0;
}

void ud_free(ud_script *s)
{
    free(s->steps);
    s->steps = NULL;
    s->n = 0;
}

int ud_default_path(char *out, size_t cap)
{
    const char *env = getenv("HUGINN_DEMO");
    if (env && *env && access(env, R_OK) == 0) { snprintf(out, cap, "%s", env); return 0; }
    char exe[PATH_MAX];
    if (hg_exe_dir(exe, sizeof exe) == 0) {
        snprintf(out, cap, "%s/ui/demo/default.txt", exe);
        if (access(out, R_OK) == 0) return 0;
        snprintf(out, cap, "%s/../share/huginn/demo/default.txt", exe);
        if (access(out, R_OK) == 0) return 0;
    }
    snprintf(out, cap, "%s/demo/default.txt", HUGINN_DATADIR);
    return access(out, R_OK) == 0 ? 0 : -1;
}
