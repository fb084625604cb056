/* theme.h — semantic colour roles and themes (themes/NAME.json, cJSON).
 * Drawing code names a role; the theme maps it to colours and attributes;
 * crt.c turns those into curses pairs for the terminal's colour depth.
 * Curses-free. */
#ifndef UI_THEME_H
#define UI_THEME_H
#include <stddef.h>

typedef enum ut_role {
    R_NORMAL = 0,
    R_USER_HDR, R_USER, R_BOT_HDR, R_BOT, R_SYSTEM,
    R_NOTICE, R_ERROR, R_DIM,
    R_STATUS, R_STATUS_KEY,
    R_GAUGE_LABEL, R_GAUGE_FILL, R_GAUGE_EMPTY, R_GAUGE_EXIT,
    R_SPARK, R_HIST,
    R_PROMPT, R_INPUT,
    R_HELP, R_HELP_KEY, R_SELECT, R_BORDER,
    R_HEAT0, R_HEAT1, R_HEAT2, R_HEAT3, R_HEAT4, R_HEAT5, R_HEAT6, R_HEAT7,
    R_DIVERGE,          /* a sweep reply's first token that departs from the deepest */
    R_COUNT
} ut_role;
#define UT_HEAT_LEVELS 8

/* Attributes (combined with |). */
enum { UT_BOLD = 1, UT_DIM = 2, UT_UNDERLINE = 4, UT_REVERSE = 8, UT_ITALIC = 16 };

/* A colour: -1 = the terminal's default, else 24-bit 0xRRGGBB; `idx` >= 0
 * when the theme named a palette index (0..255) instead. */
typedef struct ut_color {
    int rgb;
    int idx;
} ut_color;

typedef struct ut_style {
    ut_color fg, bg;
    int attrs;
} ut_style;

typedef struct ut_theme {
    char name[64];
    ut_style role[R_COUNT];
    int mono;               /* the theme uses no colour at all */
} ut_theme;

const char *ut_role_name(int role);          /* "user.header", …  */
int ut_role_parse(const char *name);         /* -1 when unknown   */

/* The built-in themes "default" (dark) and "mono". */
void ut_builtin(ut_theme *t, const char *name);
/* Parse a theme's JSON text; roles it leaves out (or gets wrong) keep the
 * values of the built-in default (or mono, with "base": "mono").  Returns 0,
 * or -1 with a one-line message in err for unusable JSON. */
int ut_parse(ut_theme *t, const char *json, char *err, size_t errcap);
/* Find and load theme NAME: $HUGINN_THEMES/NAME.json, <exe dir>/themes,
 * /usr/local/share/huginn/themes; else a built-in one.  Returns 0 when found
 * (or built in), -1 with a message when there is no such theme (t then
 * holds the built-in default). */
int ut_load(ut_theme *t, const char *name, char *err, size_t errcap);
/* Theme names available (files found plus built-ins), comma separated. */
void ut_list(char *out, size_t cap);

/* Colour depth: 24 (truecolor), 256, 16, 8 or 0 (monochrome), from
 * NO_COLOR, COLORTERM, and the terminal's colour count. */
int ut_color_depth(const char *no_color, const char *colorterm, int ncolors);
/* A colour for a depth: a palette index (0..255, or 0..15), or -1 for the
 * default; for depth 24 returns the rgb value. */
int ut_color_for_depth(ut_color c, int depth);
/* Nearest xterm-256 index and nearest of the 16 ANSI colours. */
int ut_rgb_to_256(int rgb);
int ut_rgb_to_16(int rgb);
/* Parse "#rrggbb", "default", a number 0..255, or a name (black, red, …,
 * bright-white); 0 ok, -1 unknown. */
int ut_color_parse(const char *s, ut_color *out);
/* A small text file (under 1 MB) as a malloc'd string, NULL if unreadable. */
char *ui_read_file(const char *path);

#endif
