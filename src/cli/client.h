/* client.h - talking to domusd from the CLI. */
#ifndef DOMUS_CLI_CLIENT_H
#define DOMUS_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "cli/commands.h"
#include "common/jsonrpc.h"

struct daemon_conn {
	int fd;
	struct line_reader lr;
};

/* Connect to the instance's daemon; with AUTOSTART, start domusd when none
 * answers. Returns 0 or -errno (after logging why). */
int daemon_connect(struct cli_ctx *ctx, bool autostart, struct daemon_conn *ret);
void daemon_disconnect(struct daemon_conn *c);

/* Call METHOD with PARAMS (stolen, may be NULL). On success *RET_RESULT (if
 * not NULL) gets the result. On failure logs the daemon's message once and
 * returns -errno. */
int daemon_call(struct daemon_conn *c, const char *method, json_t *params, json_t **ret_result);

/* Connect (autostarting) and call once. Returns the exit status (0 or 1). */
int daemon_call_once(struct cli_ctx *ctx, const char *method, json_t *params, json_t **ret_result);

/* Copy bytes between the terminal and an attached console stream until the
 * stream ends or the user types Ctrl-]. FD is the connection. */
int console_session(int fd, const char *leftover, size_t leftover_len);

#endif
