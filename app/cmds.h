/* cmds.h — the subcommands of the huginn binary.  Each gets argv[0] = its
 * own name and returns the process exit status (0 ok, 2 bad input, 1 runtime
 * failure).  Errors are one line on stderr: "huginn NAME: message". */
#ifndef HG_CMDS_H
#define HG_CMDS_H

int cmd_run(int argc, char **argv);          /* app/cmd_run.c      */
int cmd_forward(int argc, char **argv);      /* app/cmd_run.c      */
int cmd_tokenize(int argc, char **argv);     /* app/cmd_tokenize.c */
int cmd_detokenize(int argc, char **argv);   /* app/cmd_tokenize.c */
int cmd_bench(int argc, char **argv);        /* app/cmd_bench.c    */
int cmd_bench_tokenizer(int argc, char **argv); /* app/cmd_tokenize.c */
int cmd_chat(int argc, char **argv);         /* app/cmd_chat.c     */
int cmd_demo(int argc, char **argv);         /* app/cmd_chat.c     */
int cmd_mkmodel(int argc, char **argv);      /* app/cmd_mkmodel.c  */
int cmd_perplexity(int argc, char **argv);   /* app/cmd_perplexity.c */
int cmd_export(int argc, char **argv);       /* app/cmd_export.c   */
int cmd_serve(int argc, char **argv);        /* app/cmd_serve.c    */

#endif
