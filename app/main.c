/* main.c — the huginn binary: dispatch to a subcommand. */
#include "cmds.h"
#include "cli.h"
#include "huginn.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#ifndef HUGINN_VERSION
#define HUGINN_VERSION "0.1"
#endif
#include <unistd.h>

static const char usage[] =
    "usage: huginn [COMMAND] [OPTIONS]\n"
    "\n"
    "Native CPU inference and terminal chat for Huginn-0125, a recurrent-depth model.\n"
    "\n"
    "commands:\n"
    "  chat         the chat TUI (the default on a terminal); --server URL: over a server\n"
    "  run          generate from a prompt (ids, text or one chat turn)\n"
    "  serve        an OpenAI-compatible HTTP server (chat and completions, streamed)\n"
    "  forward      one forward pass: argmax per position and the last logits\n"
    "  tokenize     text to ids (JSON array of strings on stdin with --json)\n"
    "  detokenize   ids to text (JSON array of id arrays on stdin with --json)\n"
    "  perplexity   perplexity of the model on a text file, against recurrence steps\n"
    "  bench        benchmarks (bench tokenizer …)\n"
    "  demo         a scripted chat session for presentations\n"
    "  mkmodel      write a random checkpoint of a named shape (for load/convert timing)\n"
    "  export       a saved chat session as an HTML page (tinted by steps) or Markdown\n"
    "\n"
    "options:\n"
    "  --help       this text\n"
    "  --version    the version and the kernels chosen for this CPU\n"
    "\n"
    "'huginn COMMAND --help' describes each; 'man huginn' has the whole story.\n";

static int dispatch(int argc, char **argv);

/* Every command's output is checked before success is reported: a full disk
 * or a closed pipe is exit 1 with a message, never a silent exit 0. */
int main(int argc, char **argv)
{
    int rc = dispatch(argc, argv);
    errno = 0;
    int bad = fflush(stdout) != 0;
    int e = errno;
    if (bad || ferror(stdout)) {
        fprintf(stderr, "huginn: writing the output failed%s%s\n", e ? ": " : "", e ? strerror(e) : "");
        if (rc == 0) rc = EXIT_RUNTIME;
    }
    return rc;
}

static int dispatch(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    if (argc < 2) {
        if (isatty(0) && isatty(1)) {
            char *args[] = {"chat", NULL};
            return cmd_chat(1, args);
        }
        fputs(usage, stderr);
        return EXIT_BAD_INPUT;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V") || !strcmp(cmd, "version")) {
        printf("huginn %s\nkernels: %s%s\n", HUGINN_VERSION, hg_kernels_name(), hg_kernels_amx() ? " + AMX" : "");
        return 0;
    }
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"run", cmd_run},           {"forward", cmd_forward},       {"tokenize", cmd_tokenize},
        {"detokenize", cmd_detokenize}, {"bench", cmd_bench},       {"chat", cmd_chat},
        {"demo", cmd_demo},         {"mkmodel", cmd_mkmodel},       {"export", cmd_export},
        {"perplexity", cmd_perplexity}, {"serve", cmd_serve},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    if (cmd[0] == '-') { /* options without a command: the chat */
        argv[0] = "chat";
        return cmd_chat(argc, argv);
    }
    fprintf(stderr, "huginn: unknown command '%s' (see 'huginn --help')\n", cmd);
    return EXIT_BAD_INPUT;
}
