/* plain.h — `huginn chat --plain` (and chat when stdout is not a terminal):
 * a line REPL on readline that streams replies and shows the steps of every
 * token compactly; every slash command works. */
#ifndef UI_PLAIN_H
#define UI_PLAIN_H
#include "app.h"
int plain_run(ua_app *a);
#endif
