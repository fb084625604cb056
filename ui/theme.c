/* theme.c — roles, built-in themes, JSON themes, colour depth. */
#include "theme.h"
#include "huginn.h"
#include "platform.h"

#ifndef HUGINN_DATADIR
#define HUGINN_DATADIR "/usr/local/share/huginn"
#endif

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <unistd.h>

static const char *role_names[R_COUNT] = {
    "normal", "user.header", "user", "huginn.header", "huginn", "system",
    "notice", "error", "dim",
    "status", "status.key",
    "gauge.label", "gauge.fill", "gauge.empty", "gauge.exit",
    "spark", "histogram",
    "prompt", "input",
    "help", "help.key", "select", "border",
    "heat.0", "heat.1", "heat.2", "heat.3", "heat.4", "heat.5", "heat.6", "heat.7",
    "sweep.diverge",
};

const char *ut_role_name(int role)
{
    return role >= 0 && role < R_COUNT ? role_names[role] : "?";
}

int ut_role_parse(const char *name)
{
    for (int i = 0; i < R_COUNT; i++)
        if (!strcmp(role_names[i], name)) return i;
    return -1;
}

static const char *ansi_names[16] = {
    "black", "red", "green", "yellow", "blue", "magenta", "cyan", "white",
    "bright-black", "bright-red", "bright-green", "bright-yellow", "bright-blue",
    "bright-magenta", "bright-cyan", "bright-white",
};
static const int ansi_rgb[16] = {
    0x000000, 0xcd0000, 0x00cd00, 0xcdcd00, 0x0000ee, 0xcd00cd, 0x00cdcd, 0xe5e5e5,
    0x7f7f7f, 0xff0000, 0x00ff00, 0xffff00, 0x5c5cff, 0xff00ff, 0x00ffff, 0xffffff,
};

static int idx_to_rgb(int i)
{
    if (i < 16) return ansi_rgb[i];
    if (i < 232) {
        i -= 16;
        static const int lv[6] = {0, 95, 135, 175, 215, 255};
        return lv[i / 36] << 16 | lv[(i / 6) % 6] << 8 | lv[i % 6];
    }
    int g = 8 + (i - 232) * 10;
    return g << 16 | g << 8 | g;
}

int ut_color_parse(const char *s, ut_color *out)
{
    if (!s) return -1;
    if (!strcasecmp(s, "default") || !*s) { out->rgb = -1; out->idx = -1; return 0; }
    if (s[0] == '#' && strlen(s) == 7) {
        char *end;
        long v = strtol(s + 1, &end, 16);
        if (*end) return -1;
        out->rgb = (int)v; out->idx = -1;
        return 0;
    }
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end) {
        if (v < 0 || v > 255) return -1;
        out->idx = (int)v; out->rgb = idx_to_rgb((int)v);
        return 0;
    }
    for (int i = 0; i < 16; i++)
        if (!strcasecmp(s, ansi_names[i])) { out->idx = i; out->rgb = ansi_rgb[i]; return 0; }
    return -1;
}

static int dist2(int a, int b)
{
    int dr = ((a >> 16) & 255) - ((b >> 16) & 255);
    int dg = ((a >> 8) & 255) - ((b >> 8) & 255);
    int db = (a & 255) - (b & 255);
    return dr * dr * 3 + dg * dg * 4 + db * db * 2;
}

int ut_rgb_to_256(int rgb)
{
    int best = 16, bd = INT_MAX;
    for (int i = 16; i < 256; i++) {
        int d = dist2(rgb, idx_to_rgb(i));
        if (d < bd) { bd = d; best = i; }
    }
    return best;
}

int ut_rgb_to_16(int rgb)
{
    int best = 0, bd = INT_MAX;
    for (int i = 0; i < 16; i++) {
        int d = dist2(rgb, ansi_rgb[i]);
        if (d < bd) { bd = d; best = i; }
    }
    return best;
}

int ut_color_depth(const char *no_color, const char *colorterm, int ncolors)
{
    if (no_color && *no_color) return 0;
    if (ncolors < 8) return 0;
    if (colorterm && (!strcasecmp(colorterm, "truecolor") || !strcasecmp(colorterm, "24bit")))
        return 24;
    if (ncolors >= 256) return 256;
    if (ncolors >= 16) return 16;
    return 8;
}

int ut_color_for_depth(ut_color c, int depth)
{
    if (c.rgb < 0 && c.idx < 0) return -1;
    switch (depth) {
    case 24: return c.rgb;
    case 256: return c.idx >= 0 ? c.idx : ut_rgb_to_256(c.rgb);
    case 16: return c.idx >= 0 && c.idx < 16 ? c.idx : ut_rgb_to_16(c.rgb);
    case 8: return (c.idx >= 0 && c.idx < 16 ? c.idx : ut_rgb_to_16(c.rgb)) & 7;
    default: return -1;
    }
}

/* ------------------------------------------------------------- built-ins */

typedef struct { int role; int fg, bg, attrs; } spec;  /* rgb, -1 = default */

static const spec dark_spec[] = {
    {R_USER_HDR, 0x5fafff, -1, UT_BOLD},  {R_USER, 0xd0d0d0, -1, 0},
    {R_BOT_HDR, 0xffaf5f, -1, UT_BOLD},   {R_BOT, -1, -1, 0},
    {R_SYSTEM, 0x8a8a8a, -1, UT_ITALIC},  {R_NOTICE, 0xffd75f, -1, 0},
    {R_ERROR, 0xff5f5f, -1, UT_BOLD},     {R_DIM, 0x808080, -1, 0},
    {R_STATUS, 0xeeeeee, 0x303a4a, 0},    {R_STATUS_KEY, 0xffd75f, 0x303a4a, UT_BOLD},
    {R_GAUGE_LABEL, 0x87afd7, -1, 0},     {R_GAUGE_FILL, 0x5fd75f, -1, UT_BOLD},
    {R_GAUGE_EMPTY, 0x4e4e4e, -1, 0},     {R_GAUGE_EXIT, 0xff875f, -1, UT_BOLD},
    {R_SPARK, 0x5fafd7, -1, 0},           {R_HIST, 0xaf87ff, -1, 0},
    {R_PROMPT, 0x5fafff, -1, UT_BOLD},    {R_INPUT, -1, -1, 0},
    {R_HELP, 0xeeeeee, 0x262626, 0},      {R_HELP_KEY, 0xffd75f, 0x262626, UT_BOLD},
    {R_SELECT, 0x000000, 0xffd75f, 0},    {R_BORDER, 0x5f5f87, -1, 0},
    {R_HEAT0, 0xd0d0d0, 0x1c2b4a, 0},     {R_HEAT1, 0xd0d0d0, 0x23436e, 0},
    {R_HEAT2, 0xffffff, 0x1f6f6f, 0},     {R_HEAT3, 0x000000, 0x3a9a4a, 0},
    {R_HEAT4, 0x000000, 0x9ac53a, 0},     {R_HEAT5, 0x000000, 0xe0c020, 0},
    {R_HEAT6, 0x000000, 0xf08030, 0},     {R_HEAT7, 0xffffff, 0xd03030, UT_BOLD},
    {R_DIVERGE, 0xffffff, 0xaf00ff, UT_BOLD | UT_UNDERLINE},
};

static const spec mono_spec[] = {
    {R_USER_HDR, -1, -1, UT_BOLD | UT_UNDERLINE}, {R_BOT_HDR, -1, -1, UT_BOLD},
    {R_SYSTEM, -1, -1, UT_DIM},   {R_NOTICE, -1, -1, UT_BOLD}, {R_ERROR, -1, -1, UT_BOLD | UT_REVERSE},
    {R_DIM, -1, -1, UT_DIM},
    {R_STATUS, -1, -1, UT_REVERSE}, {R_STATUS_KEY, -1, -1, UT_REVERSE | UT_BOLD},
    {R_GAUGE_FILL, -1, -1, UT_BOLD}, {R_GAUGE_EMPTY, -1, -1, UT_DIM}, {R_GAUGE_EXIT, -1, -1, UT_BOLD},
    {R_PROMPT, -1, -1, UT_BOLD},
    {R_HELP, -1, -1, UT_REVERSE}, {R_HELP_KEY, -1, -1, UT_REVERSE | UT_BOLD},
    {R_SELECT, -1, -1, UT_REVERSE | UT_BOLD},
    {R_HEAT0, -1, -1, UT_DIM}, {R_HEAT1, -1, -1, UT_DIM}, {R_HEAT2, -1, -1, 0}, {R_HEAT3, -1, -1, 0},
    {R_HEAT4, -1, -1, UT_UNDERLINE}, {R_HEAT5, -1, -1, UT_BOLD}, {R_HEAT6, -1, -1, UT_BOLD | UT_UNDERLINE},
    {R_HEAT7, -1, -1, UT_REVERSE},
    {R_DIVERGE, -1, -1, UT_BOLD | UT_UNDERLINE | UT_REVERSE},
};

static void apply(ut_theme *t, const spec *s, size_t n)
{
    for (int i = 0; i < R_COUNT; i++) {
        t->role[i].fg.rgb = t->role[i].bg.rgb = -1;
        t->role[i].fg.idx = t->role[i].bg.idx = -1;
        t->role[i].attrs = 0;
    }
    for (size_t i = 0; i < n; i++) {
        ut_style *st = &t->role[s[i].role];
        st->fg.rgb = s[i].fg;
        st->bg.rgb = s[i].bg;
        st->attrs = s[i].attrs;
    }
}

void ut_builtin(ut_theme *t, const char *name)
{
    memset(t, 0, sizeof *t);
    if (name && !strcmp(name, "mono")) {
        apply(t, mono_spec, sizeof mono_spec / sizeof mono_spec[0]);
        t->mono = 1;
        snprintf(t->name, sizeof t->name, "mono");
    } else {
        apply(t, dark_spec, sizeof dark_spec / sizeof dark_spec[0]);
        snprintf(t->name, sizeof t->name, "default");
    }
}

static int parse_attrs(const cJSON *a)
{
    int r = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it)) continue;
        const char *s = it->valuestring;
        if (!strcmp(s, "bold")) r |= UT_BOLD;
        else if (!strcmp(s, "dim")) r |= UT_DIM;
        else if (!strcmp(s, "underline")) r |= UT_UNDERLINE;
        else if (!strcmp(s, "reverse")) r |= UT_REVERSE;
        else if (!strcmp(s, "italic")) r |= UT_ITALIC;
    }
    return r;
}

int ut_parse(ut_theme *t, const char *json, char *err, size_t errcap)
{
    cJSON *j = cJSON_Parse(json);
    if (!j || !cJSON_IsObject(j)) {
        if (err) snprintf(err, errcap, "theme is not a JSON object");
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(j, "base");
    ut_builtin(t, cJSON_IsString(base) ? base->valuestring : "default");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (cJSON_IsString(name)) snprintf(t->name, sizeof t->name, "%s", name->valuestring);
    const cJSON *mono = cJSON_GetObjectItemCaseSensitive(j, "mono");
    if (cJSON_IsBool(mono)) t->mono = cJSON_IsTrue(mono);
    const cJSON *roles = cJSON_GetObjectItemCaseSensitive(j, "roles");
    const cJSON *r;
    cJSON_ArrayForEach(r, roles) {
        int role = r->string ? ut_role_parse(r->string) : -1;
        if (role < 0 || !cJSON_IsObject(r)) continue;   /* unknown role: ignored */
        ut_style st = t->role[role];
        const cJSON *fg = cJSON_GetObjectItemCaseSensitive(r, "fg");
        const cJSON *bg = cJSON_GetObjectItemCaseSensitive(r, "bg");
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(r, "attrs");
        ut_color c;
        if (cJSON_IsString(fg) && ut_color_parse(fg->valuestring, &c) == 0) st.fg = c;
        if (cJSON_IsString(bg) && ut_color_parse(bg->valuestring, &c) == 0) st.bg = c;
        if (cJSON_IsNumber(fg) && fg->valuedouble >= 0 && fg->valuedouble < 256) { st.fg.idx = fg->valueint; st.fg.rgb = idx_to_rgb(fg->valueint); }
        if (cJSON_IsNumber(bg) && bg->valuedouble >= 0 && bg->valuedouble < 256) { st.bg.idx = bg->valueint; st.bg.rgb = idx_to_rgb(bg->valueint); }
        if (cJSON_IsArray(at)) st.attrs = parse_attrs(at);
        t->role[role] = st;
    }
    cJSON_Delete(j);
    return 0;
}

static int theme_dir(int i, char *out, size_t cap)
{
    char exe[PATH_MAX - 128];
    if (i == 0) {
        const char *e = getenv("HUGINN_THEMES");
        if (!e || !*e) return -1;
        snprintf(out, cap, "%s", e);
        return 0;
    }
    if (i == 1) {
        if (hg_exe_dir(exe, sizeof exe)) return -1;
        snprintf(out, cap, "%s/themes", exe);
        return 0;
    }
    if (i == 2) { /* an installed tree: <prefix>/bin/huginn, <prefix>/share/huginn/themes */
        if (hg_exe_dir(exe, sizeof exe)) return -1;
        snprintf(out, cap, "%s/../share/huginn/themes", exe);
        return 0;
    }
    if (i == 3) { snprintf(out, cap, "%s/themes", HUGINN_DATADIR); return 0; }
    return -1;
}

/* A small text file (under 1 MB) as a malloc'd string, NULL if unreadable. */
char *ui_read_file(const char *path)
{
    char *b;
    return hg_file_read(path, 1 << 20, &b, NULL, NULL) == HG_OK ? b : NULL;
}

int ut_load(ut_theme *t, const char *name, char *err, size_t errcap)
{
    if (!name || !*name) name = "default";
    if (strchr(name, '/')) {
        ut_builtin(t, "default");
        if (err) snprintf(err, errcap, "bad theme name '%s'", name);
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        char dir[PATH_MAX - 64], path[PATH_MAX + 80];
        if (theme_dir(i, dir, sizeof dir)) continue;
        snprintf(path, sizeof path, "%s/%s.json", dir, name);
        char *s = ui_read_file(path);
        if (!s) continue;
        char e2[256];
        int rc = ut_parse(t, s, e2, sizeof e2);
        free(s);
        if (rc == 0) return 0;
        if (err) snprintf(err, errcap, "%s: %s", path, e2);
        ut_builtin(t, name);
        return -1;
    }
    if (!strcmp(name, "default") || !strcmp(name, "mono")) { ut_builtin(t, name); return 0; }
    ut_builtin(t, "default");
    if (err) snprintf(err, errcap, "no theme '%s' (have: default, mono and themes/*.json)", name);
    return -1;
}

void ut_list(char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    char seen[2048] = ",default,mono,";
    n += (size_t)snprintf(out, cap, "default, mono");
    for (int i = 0; i < 4; i++) {
        char dir[PATH_MAX - 64];
        if (theme_dir(i, dir, sizeof dir)) continue;
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l < 6 || strcmp(e->d_name + l - 5, ".json")) continue;
            char nm[256];
            snprintf(nm, sizeof nm, ",%.*s,", (int)(l - 5), e->d_name);
            if (strstr(seen, nm)) continue;
            if (strlen(seen) + strlen(nm) < sizeof seen) strcat(seen, nm + 1);
            if (n < cap) n += (size_t)snprintf(out + n, cap - n, ", %.*s", (int)(l - 5), e->d_name);
        }
        closedir(d);
    }
}
