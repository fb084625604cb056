/* cli.h — small helpers shared by the subcommands: option parsing with
 * one-line errors, number lists, JSON output. */
#ifndef HG_CLI_H
#define HG_CLI_H

#include <stdint.h>
#include <stdio.h>

#define EXIT_BAD_INPUT 2
#define EXIT_RUNTIME 1

/* A cursor over a subcommand's argv.  Options are "--name value" or
 * "--name=value". */
typedef struct cli {
    const char *cmd;   /* "run", "forward", … for error messages */
    int argc;
    char **argv;
    int i;             /* current index */
    const char *eq;    /* value after '=' of the current option, if any */
    int bad;           /* an error was reported */
} cli;

void cli_init(cli *c, const char *cmd, int argc, char **argv);
/* Advance to the next argument; returns it or NULL at the end. */
const char *cli_next(cli *c);
/* Is the current argument the flag `name` (with or without =value)? */
int cli_is(cli *c, const char *name);
/* The value of the current option (consumes it); NULL after reporting. */
const char *cli_str(cli *c);
int cli_int(cli *c, long lo, long hi, int *out);
int cli_u64(cli *c, uint64_t *out);
int cli_float(cli *c, double lo, double hi, float *out);
int cli_double(cli *c, double lo, double hi, double *out);
/* Report a bad-input error: "huginn CMD: message" on stderr; returns 2. */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report an unknown option. */
int cli_unknown(cli *c);

/* Parse "1,2,3" (or with spaces) into a malloc'd array. Returns 0 on error. */
int cli_parse_ids(const char *s, int32_t **ids, int *n);

/* Print a JSON number the way Python's json does for floats (shortest
 * round-trip repr), NaN/inf as null. */
void json_print_float(FILE *f, double v);



/* Exit status for a failed library call: 2 for bad input (arguments, files,
 * lengths), 1 for runtime failures. */
#include "huginn.h"
int cli_status_exit(hg_status s);
/* The bundled default model (<repo>/tests/fixtures/demo-huginn next to the
 * executable), or NULL when it is not there. */
const char *cli_default_model(void);
/* A progress bar on stderr (when it is a terminal); user is the label. */
int cli_progress(double frac, const char *what, void *user);
#endif
