/* jsonrpc.h - newline-delimited JSON messages over a stream socket.
 *
 * The management protocol between domus and domusd (and the QMP client) is
 * one JSON object per line. A request is {"method": M, "params": {...}}; a
 * reply is {"result": ...} or {"error": {"code": -errno, "message": "..."}}.
 * docs/api.md lists the methods.
 */
#ifndef DOMUS_JSONRPC_H
#define DOMUS_JSONRPC_H

#include <jansson.h>
#include <stddef.h>

/* Largest message accepted from a peer; anything longer is an error. */
#define JSONRPC_MAX_LINE (4u << 20)

struct line_reader {
	int fd;
	char *buf;
	size_t len;   /* bytes buffered */
	size_t start; /* first unconsumed byte */
	size_t cap;
};

void line_reader_init(struct line_reader *lr, int fd);
void line_reader_release(struct line_reader *lr);

/* Read one line (without its '\n') into *RET_LINE, a pointer into the
 * reader's buffer valid until the next call. TIMEOUT_MS < 0 waits forever.
 * Returns the line length, -EPIPE at end of stream, -ETIMEDOUT, -EMSGSIZE
 * for an overlong line, or -errno. */
int line_reader_next(struct line_reader *lr, char **ret_line, int timeout_ms);

/* Bytes already buffered past the last returned line (and take them). */
size_t line_reader_take_rest(struct line_reader *lr, char *dst, size_t max);

/* Write MSG as one line. Does not steal the reference. */
int json_send(int fd, json_t *msg);

/* Read one JSON object. *RET_MSG is a new reference. -EBADMSG if the line
 * is not a JSON object. */
int json_recv(struct line_reader *lr, json_t **ret_msg, int timeout_ms);

/* Build an error reply for -errno CODE with a formatted message. */
json_t *json_error_reply(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Build a result reply; steals RESULT (NULL means {}). */
json_t *json_result_reply(json_t *result);

#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

#endif
