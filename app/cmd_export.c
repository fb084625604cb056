/* cmd_export.c — `huginn export SESSION.json FILE`: a saved conversation as
 * Markdown or as one self-contained HTML page tinted by steps. */
#include "cli.h"
#include "cmds.h"
#include "export.h"
#include "session.h"
#include "theme.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: huginn export SESSION.json FILE.html|FILE.md [--theme NAME]\n"
    "\n"
    "Export a saved chat session (/save, or the autosaves in $XDG_STATE_HOME/huginn/sessions).\n"
    "FILE.html (or .htm): one self-contained page, no network needed: the conversation with\n"
    "every reply token tinted by its recurrence steps (the theme's heat palette) and a legend;\n"
    "hovering a token shows its steps and convergence trace; sweep runs side by side.\n"
    "Any other name: Markdown with the steps of every token.\n"
    "  --theme NAME           the palette: default, light, mono or themes/NAME.json (default: default)\n"
    "\n"
    "Exit status: 0 ok, 2 bad input (options, an unreadable session, an unwritable FILE), 1 failure.\n";

int cmd_export(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *theme = "default";
    cli c;
    cli_init(&c, argv[0], argc, argv);
    while (cli_next(&c)) {
        const char *a = c.argv[c.i];
        if (cli_is(&c, "--help") || cli_is(&c, "-h")) { fputs(usage, stdout); return 0; }
        else if (cli_is(&c, "--theme")) { if (!(theme = cli_str(&c))) return EXIT_BAD_INPUT; }
        else if (a[0] == '-' && a[1]) return cli_unknown(&c);
        else if (!in) in = a;
        else if (!out) out = a;
        else return cli_error(argv[0], "too many arguments ('%s'): give SESSION.json and FILE", a);
    }
    if (!in || !out) return cli_error(argv[0], "give SESSION.json and FILE.html or FILE.md (see --help)");
    char err[1024];
    if (ux_check_output(out, err, sizeof err)) return cli_error(argv[0], "%s", err);
    ut_theme th;
    if (ut_load(&th, theme, err, sizeof err)) return cli_error(argv[0], "--theme: %s", err);
    us_session s;
    ss_init(&s);
    if (ss_load(&s, in, err, sizeof err)) {
        ss_free(&s);
        return cli_error(argv[0], "%s", err);
    }
    int rc = 0;
    if (ux_export(&s, &th, out, err, sizeof err)) {
        fprintf(stderr, "huginn %s: %s\n", argv[0], err);
        rc = EXIT_RUNTIME;
    }
    ss_free(&s);
    return rc;
}
