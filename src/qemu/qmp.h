/* qmp.h - a QEMU Machine Protocol client.
 *
 * One reader thread per connection owns the socket's read side: it matches
 * replies to waiting callers by "id" and hands asynchronous events to the
 * owner's callback. The event callback runs on the reader thread and must
 * not call qmp_command() (queue the work instead).
 */
#ifndef DOMUS_QMP_H
#define DOMUS_QMP_H

#include <jansson.h>
#include <stdbool.h>

struct qmp;

typedef void (*qmp_event_fn)(void *opaque, const char *event, json_t *data);
typedef void (*qmp_close_fn)(void *opaque);

/* Connect to the QMP socket at PATH, negotiate capabilities, and start the
 * reader. TRACE_PATH, if not NULL, receives every message in both
 * directions (the per-domain QMP log). Returns 0 or -errno. */
int qmp_connect(const char *path, const char *trace_path, qmp_event_fn on_event,
		qmp_close_fn on_close, void *opaque, struct qmp **ret);

/* Run CMD with ARGS (stolen; may be NULL). On success *RET_RETURN (if not
 * NULL) gets a new reference to "return". A QMP error returns -EIO with the
 * error's description in *RET_ERROR (malloc'd, if RET_ERROR is not NULL);
 * a closed connection -EPIPE; no reply within TIMEOUT_MS -ETIMEDOUT. */
int qmp_command(struct qmp *q, const char *cmd, json_t *args, json_t **ret_return,
		char **ret_error, int timeout_ms);

/* As qmp_command(), with FD passed to QEMU along with the command
 * (SCM_RIGHTS), as `getfd` wants. FD stays open on our side. */
int qmp_command_fd(struct qmp *q, const char *cmd, json_t *args, int fd, json_t **ret_return,
		   char **ret_error, int timeout_ms);

/* True once the peer closed the connection. */
bool qmp_closed(struct qmp *q);

/* QEMU's version as its greeting gave it: major * 10000 + minor * 100 +
 * micro (70222 for 7.2.22); 0 if it did not say. */
unsigned qmp_qemu_version(const struct qmp *q);

/* Close the connection, join the reader (the close callback does not run)
 * and free. NULL is fine. */
void qmp_free(struct qmp *q);

#endif
