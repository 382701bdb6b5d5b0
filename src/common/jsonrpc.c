/* jsonrpc.c - newline-delimited JSON messages over a stream socket. */
#include "common/jsonrpc.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void line_reader_init(struct line_reader *lr, int fd)
{
	memset(lr, 0, sizeof(*lr));
	lr->fd = fd;
}

void line_reader_release(struct line_reader *lr)
{
	free(lr->buf);
	lr->buf = NULL;
	lr->len = lr->start = lr->cap = 0;
}

static int wait_readable(int fd, int timeout_ms, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r, t = -1;

	if (timeout_ms >= 0) {
		uint64_t now = now_ms();
		t = now >= deadline ? 0 : (int)(deadline - now);
	}
	do
		r = poll(&pfd, 1, t);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

int line_reader_next(struct line_reader *lr, char **ret_line, int timeout_ms)
{
	uint64_t deadline = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;

	for (;;) {
		char *nl = lr->len > lr->start ? memchr(lr->buf + lr->start, '\n', lr->len - lr->start) : NULL;
		ssize_t n;
		int r;

		if (nl) {
			char *line = lr->buf + lr->start;
			size_t linelen = (size_t)(nl - line);
			*nl = '\0';
			lr->start += linelen + 1;
			*ret_line = line;
			return (int)linelen;
		}
		if (lr->start > 0) {
			memmove(lr->buf, lr->buf + lr->start, lr->len - lr->start);
			lr->len -= lr->start;
			lr->start = 0;
		}
		if (lr->len >= JSONRPC_MAX_LINE)
			return -EMSGSIZE;
		if (lr->cap - lr->len < 4096) {
			size_t ncap = lr->cap ? lr->cap * 2 : 8192;
			char *nbuf = realloc(lr->buf, ncap + 1);
			if (!nbuf)
				return -ENOMEM;
			lr->buf = nbuf;
			lr->cap = ncap;
		}
		r = wait_readable(lr->fd, timeout_ms, deadline);
		if (r < 0)
			return r;
		n = read(lr->fd, lr->buf + lr->len, lr->cap - lr->len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		lr->len += (size_t)n;
	}
}

size_t line_reader_take_rest(struct line_reader *lr, char *dst, size_t max)
{
	size_t n = lr->len - lr->start;
	if (n > max)
		n = max;
	memcpy(dst, lr->buf + lr->start, n);
	lr->start += n;
	return n;
}

int json_send(int fd, json_t *msg)
{
	_cleanup_free_ char *s = json_dumps(msg, JSON_COMPACT);
	size_t n;
	int r;

	if (!s)
		return -ENOMEM;
	n = strlen(s);
	s[n] = '\n'; /* overwrite the NUL; the length is known */
	r = write_all(fd, s, n + 1);
	s[n] = '\0';
	return r;
}

int json_recv(struct line_reader *lr, json_t **ret_msg, int timeout_ms)
{
	char *line;
	json_error_t jerr;
	json_t *msg;
	int r = line_reader_next(lr, &line, timeout_ms);

	if (r < 0)
		return r;
	msg = json_loadb(line, (size_t)r, JSON_REJECT_DUPLICATES, &jerr);
	if (!msg)
		return -EBADMSG;
	if (!json_is_object(msg)) {
		json_decref(msg);
		return -EBADMSG;
	}
	*ret_msg = msg;
	return 0;
}

json_t *json_error_reply(int code, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	return json_pack("{s:{s:i,s:s}}", "error", "code", code, "message",
			 msg ? msg : strerror(-code));
}

json_t *json_result_reply(json_t *result)
{
	return json_pack("{s:o}", "result", result ? result : json_object());
}
