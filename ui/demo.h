/* demo.h — `huginn demo` scripts: one command a line.
 *   # comment            (ignored)
 *   say TEXT             type TEXT, send it, wait for the reply
 *   type TEXT            type TEXT without sending
 *   enter                send what was typed
 *   wait                 wait until the reply has finished
 *   pause SECONDS        do nothing for a while
 *   key NAME             press a hotkey by its help name (Alt-=, F2, Alt-c …)
 *   note TEXT            show TEXT in the notice line
 *   /COMMAND …           run a slash command (/steps 8, /criterion kl 5e-4)
 *   quit                 end the demo
 * Curses-free. */
#ifndef UI_DEMO_H
#define UI_DEMO_H
#include <stddef.h>

typedef enum ud_op { UD_SAY = 1, UD_TYPE, UD_ENTER, UD_WAIT, UD_PAUSE, UD_KEY, UD_NOTE, UD_CMD, UD_QUIT } ud_op;

typedef struct ud_step {
    ud_op op;
    char text[512];
    double seconds;
    int key;
} ud_step;

typedef struct ud_script {
    ud_step *steps;
    int n;
} ud_script;

/* Parse a script; 0 ok, -1 with "line N: …" in err. */
int ud_parse(ud_script *s, const char *text, char *err, size_t errcap);
void ud_free(ud_script *s);
/* The key code of a help name ("Alt-=", "F2"), 0 if none. */
int ud_key_by_name(const char *name);
/* The built-in default script (used when no file is found). */
extern const char ud_default_script[];
/* Find the default script file: $HUGINN_DEMO, <exe dir>/ui/demo/default.txt,
 * /usr/local/share/huginn/demo/default.txt; 0 when found. */
int ud_default_path(char *out, size_t cap);
#endif
