/* client.c - connect to domusd (starting it when needed) and call it. */
#include "cli/client.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/sock.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>


static int start_daemon(struct cli_ctx *ctx)
{
	_cleanup_free_ char *bin = sibling_program("domusd", "sbin");
	pid_t pid;
	int status;

	if (!bin)
		return -ENOMEM;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		const char *root = ctx->paths.root[0] ? ctx->paths.root : "/";
		execlp(bin, "domusd", "--root", root, (char *)NULL);
		fprintf(stderr, "domus: error: cannot run '%s': %s\n", bin, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

int daemon_connect(struct cli_ctx *ctx, bool autostart, struct daemon_conn *ret)
{
	int fd = unix_connect(ctx->paths.sock_path);

	if (fd < 0 && autostart && (fd == -ENOENT || fd == -ECONNREFUSED)) {
		int r = start_daemon(ctx);
		if (r < 0) {
			log_err("cannot start domusd for '%s'", ctx->paths.root[0] ? ctx->paths.root : "/");
			return r;
		}
		fd = unix_connect(ctx->paths.sock_path);
	}
	if (fd < 0) {
		if (autostart)
			log_err("cannot reach domusd at '%s': %s", ctx->paths.sock_path, strerror(-fd));
		return fd;
	}
	ret->fd = fd;
	line_reader_init(&ret->lr, fd);
	return 0;
}

void daemon_disconnect(struct daemon_conn *c)
{
	line_reader_release(&c->lr);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int daemon_call(struct daemon_conn *c, const char *method, json_t *params, json_t **ret_result)
{
	json_t *req = json_pack("{s:s,s:o}", "method", method, "params", params ? params : json_object());
	json_t *reply = NULL, *err;
	int r;

	if (!req)
		return -ENOMEM;
	r = json_send(c->fd, req);
	json_decref(req);
	if (r == 0)
		r = json_recv(&c->lr, &reply, -1);
	if (r < 0) {
		log_err("lost the connection to domusd: %s", strerror(-r));
		return r;
	}
	err = json_object_get(reply, "error");
	if (err) {
		r = (int)json_integer_value(json_object_get(err, "code"));
		log_err("%s", json_string_value(json_object_get(err, "message")) ?: "unknown error");
		json_decref(reply);
		return r < 0 ? r : -EIO;
	}
	if (ret_result)
		*ret_result = json_incref(json_object_get(reply, "result"));
	json_decref(reply);
	return 0;
}

int daemon_call_once(struct cli_ctx *ctx, const char *method, json_t *params, json_t **ret_result)
{
	struct daemon_conn c;
	int r = daemon_connect(ctx, true, &c);

	if (r < 0) {
		json_decref(params);
		return 1;
	}
	r = daemon_call(&c, method, params, ret_result);
	daemon_disconnect(&c);
	return r < 0 ? 1 : 0;
}

static struct termios saved_tio;
static bool tio_saved;

static void restore_terminal(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	tio_saved = false;
}

int console_session(int fd, const char *leftover, size_t leftover_len)
{
	bool tty = isatty(STDIN_FILENO);
	bool stdin_open = true;
	char buf[8192];

	if (leftover_len && write_all(STDOUT_FILENO, leftover, leftover_len) < 0)
		return 1;
	if (tty && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		struct termios raw = saved_tio;
		cfmakeraw(&raw);
		tio_saved = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
		atexit(restore_terminal);
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = STDIN_FILENO, .events = POLLIN } };
		ssize_t n;
		int r = poll(p, stdin_open ? 2 : 1, stdin_open ? -1 : 500);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* stdin closed and the guest went quiet */
		if (p[0].revents) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0 || write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
				break;
		}
		if (stdin_open && p[1].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				stdin_open = false;
				continue;
			}
			if (memchr(buf, 0x1d, (size_t)n)) /* Ctrl-] detaches */
				break;
			if (write_all(fd, buf, (size_t)n) < 0)
				break;
		}
	}
	restore_terminal();
	if (tty)
		fputs("\r\n", stdout);
	return 0;
}
