/* run.c - run a network tool (nft, ovs-vsctl, ovs-ofctl) without a shell,
 * its input through a pipe, its output collected. */
#include "net/net.h"
#include "common/cleanup.h"
#include "common/process.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct buf {
	char *data;
	size_t len;
};

static int buf_read(int fd, struct buf *b)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	char *nd;

	if (n <= 0)
		return n < 0 && errno == EINTR ? 1 : 0;
	if (b->len + (size_t)n > (1u << 24))
		return 0;
	nd = realloc(b->data, b->len + (size_t)n + 1);
	if (!nd)
		return -ENOMEM;
	memcpy(nd + b->len, chunk, (size_t)n);
	b->data = nd;
	b->len += (size_t)n;
	b->data[b->len] = '\0';
	return 1;
}

/* Feed INPUT to FD_IN, then collect both outputs until they close. */
static int pump(int fd_in, int fd_out, int fd_err, const char *input, struct buf *out,
		struct buf *err)
{
	size_t off = 0, len = input ? strlen(input) : 0;
	int r = 0;

	if (len == 0)
		close(TAKE_FD(fd_in));
	while (fd_out >= 0 || fd_err >= 0) {
		struct pollfd p[3] = { { fd_out, POLLIN, 0 }, { fd_err, POLLIN, 0 },
				       { fd_in, POLLOUT, 0 } };
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (fd_in >= 0 && p[2].revents) {
			ssize_t n = write(fd_in, input + off, len - off);
			if (n > 0)
				off += (size_t)n;
			if (n < 0 || off == len)
				close(TAKE_FD(fd_in));
		}
		for (int i = 0; i < 2; i++) {
			int *fd = i == 0 ? &fd_out : &fd_err;
			if (*fd >= 0 && p[i].revents) {
				int k = buf_read(*fd, i == 0 ? out : err);
				if (k < 0)
					r = k;
				if (k <= 0)
					close(TAKE_FD(*fd));
			}
		}
	}
	if (fd_in >= 0)
		close(fd_in);
	return r;
}

int net_run(char *const argv[], const char *input, char **ret_out, char **ret_err)
{
	int in[2], out[2], err[2], status, r;
	struct buf bo = { 0 }, be = { 0 };
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		r = -errno;
		close(in[0]), close(in[1]);
		return r;
	}
	pid = spawn_program(argv, &(struct spawn_opts){ .stdin_fd = in[0], .stdout_fd = out[1],
							.stderr_fd = err[1] });
	r = pid < 0 ? pid : 0;
	close(in[0]), close(out[1]), close(err[1]);
	if (fcntl(in[1], F_SETFL, O_NONBLOCK) < 0 && r == 0)
		r = -errno;
	if (pid > 0) {
		int pr = pump(in[1], out[0], err[0], r == 0 ? input : NULL, &bo, &be);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (r == 0)
			r = pr;
		if (r == 0)
			r = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		if (r == 127)
			r = -ENOENT;
	} else {
		close(in[1]), close(out[0]), close(err[0]);
	}
	if (r >= 0 && ret_out)
		*ret_out = bo.data ? TAKE_PTR(bo.data) : strdup("");
	if (r >= 0 && ret_err) {
		char *nl = be.data ? strchr(be.data, '\n') : NULL;
		if (nl)
			*nl = '\0';
		*ret_err = be.data ? TAKE_PTR(be.data) : strdup("");
	}
	free(bo.data);
	free(be.data);
	return r;
}
