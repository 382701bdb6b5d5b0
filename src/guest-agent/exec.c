/* guest-exec and guest-exec-status: children started for the host, their
 * captured output and exit status, kept until the host collects them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

struct output {
	int fd; /* -1 once at EOF or not captured */
	char *data;
	size_t len;
	bool truncated;
};

struct proc {
	pid_t pid; /* 0: free slot */
	bool reaped, captured;
	int status;
	struct output out, err;
};

static struct proc procs[AGENT_MAX_PROCS];

static struct proc *proc_find(pid_t pid)
{
	for (size_t i = 0; i < AGENT_MAX_PROCS; i++)
		if (procs[i].pid == pid && pid > 0)
			return &procs[i];
	return NULL;
}

static void output_close(struct output *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
}

static void proc_free(struct proc *p)
{
	output_close(&p->out);
	output_close(&p->err);
	free(p->out.data);
	free(p->err.data);
	memset(p, 0, sizeof(*p));
}

/* A NULL-terminated string vector from FIRST (may be NULL) and the JSON
 * array of strings LIST (may be NULL). */
static char **strv_from_json(const char *first, json_t *list)
{
	size_t n = json_is_array(list) ? json_array_size(list) : 0, k = 0;
	char **v = calloc(n + 2, sizeof(*v));

	if (!v)
		return NULL;
	if (first)
		v[k++] = (char *)first;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(list, i));
		if (s)
			v[k++] = (char *)s;
	}
	return v;
}

/* An fd holding the decoded input-data for the child's stdin. */
static int stdin_from_input(const char *b64, char **ret_error)
{
	unsigned char *data;
	size_t len;
	int fd, r;

	if (!b64)
		return open("/dev/null", O_RDONLY | O_CLOEXEC);
	r = base64_decode(b64, &data, &len);
	if (r < 0) {
		*ret_error = strdup("input-data is not valid base64");
		return r;
	}
	fd = memfd_create("guest-exec-input", MFD_CLOEXEC);
	if (fd >= 0 && (write(fd, data, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) < 0)) {
		close(fd);
		fd = -1;
	}
	free(data);
	if (fd < 0)
		*ret_error = strdup("cannot store input-data");
	return fd < 0 ? -errno : fd;
}

/* capture-output is a bool (QEMU < 8) or none|stdout|stderr|separated|merged. */
static void capture_mode(json_t *v, bool *ret_out, bool *ret_err, bool *ret_merged)
{
	const char *s = json_string_value(v);

	*ret_out = *ret_err = *ret_merged = false;
	if (json_is_true(v) || (s && !strcmp(s, "separated")))
		*ret_out = *ret_err = true;
	else if (s && !strcmp(s, "stdout"))
		*ret_out = true;
	else if (s && !strcmp(s, "stderr"))
		*ret_err = true;
	else if (s && !strcmp(s, "merged"))
		*ret_out = *ret_merged = true;
}

static _Noreturn void child_exec(const char *path, char **argv, char **envp, int in,
				 int out, int err, int status_fd)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	int e;

	setsid();
	agent_child_signals();
	if (out < 0)
		out = null;
	if (err < 0)
		err = null;
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(127);
	if (envp)
		execvpe(path, argv, envp);
	else
		execvp(path, argv);
	e = errno;
	if (write(status_fd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/* Fork and exec; returns the pid, or -errno when exec failed (reported by
 * the child through the close-on-exec STATUS pipe). */
static pid_t spawn(const char *path, char **argv, char **envp, int in, int out, int err)
{
	int status[2], e = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(status, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(status[0]);
		close(status[1]);
		return -e;
	}
	if (pid == 0)
		child_exec(path, argv, envp, in, out, err, status[1]);
	close(status[1]);
	do
		n = read(status[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(status[0]);
	if (n == sizeof(e)) {
		waitpid(pid, NULL, 0);
		return -e;
	}
	return pid;
}

pid_t exec_start(json_t *args, char **ret_error)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	bool cap_out, cap_err, merged;
	int in, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	char **argv = NULL, **envp = NULL;
	struct proc *p = NULL;
	pid_t pid;

	if (!path) {
		*ret_error = strdup("Parameter 'path' is missing");
		return -EINVAL;
	}
	for (size_t i = 0; !p && i < AGENT_MAX_PROCS; i++)
		if (procs[i].pid == 0)
			p = &procs[i];
	if (!p) {
		*ret_error = strdup("too many guest-exec processes not yet collected");
		return -EBUSY;
	}
	in = stdin_from_input(json_string_value(json_object_get(args, "input-data")), ret_error);
	if (in < 0)
		return in;
	capture_mode(json_object_get(args, "capture-output"), &cap_out, &cap_err, &merged);
	argv = strv_from_json(path, json_object_get(args, "arg"));
	if (json_is_array(json_object_get(args, "env")))
		envp = strv_from_json(NULL, json_object_get(args, "env"));
	if (!argv || (json_is_array(json_object_get(args, "env")) && !envp) ||
	    (cap_out && pipe2(out, O_CLOEXEC) < 0) || (cap_err && pipe2(err, O_CLOEXEC) < 0))
		pid = -ENOMEM;
	else
		pid = spawn(path, argv, envp, in, out[1], merged ? out[1] : err[1]);
	free(argv);
	free(envp);
	close(in);
	if (out[1] >= 0)
		close(out[1]);
	if (err[1] >= 0)
		close(err[1]);
	if (pid < 0) {
		if (out[0] >= 0)
			close(out[0]);
		if (err[0] >= 0)
			close(err[0]);
		if (asprintf(ret_error, "Failed to execute child process \"%s\" (%s)", path,
			     strerror((int)-pid)) < 0)
			*ret_error = NULL;
		return pid;
	}
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->captured = cap_out || cap_err;
	p->out.fd = out[0];
	p->err.fd = err[0];
	return pid;
}

/* Set KEY of R to the base64 of O's data, when there is any. */
static void set_base64(json_t *r, const char *key, const struct output *o)
{
	char *text;

	if (o->len == 0)
		return;
	text = base64_encode(o->data, o->len);
	if (text)
		json_object_set_new(r, key, json_string(text));
	free(text);
}

json_t *exec_status(pid_t pid)
{
	struct proc *p = proc_find(pid);
	json_t *r;

	if (!p)
		return NULL;
	r = json_object();
	if (!p->reaped || p->out.fd >= 0 || p->err.fd >= 0) {
		json_object_set_new(r, "exited", json_false());
		return r;
	}
	json_object_set_new(r, "exited", json_true());
	if (WIFEXITED(p->status))
		json_object_set_new(r, "exitcode", json_integer(WEXITSTATUS(p->status)));
	else if (WIFSIGNALED(p->status))
		json_object_set_new(r, "signal", json_integer(WTERMSIG(p->status)));
	set_base64(r, "out-data", &p->out);
	set_base64(r, "err-data", &p->err);
	if (p->out.truncated)
		json_object_set_new(r, "out-truncated", json_true());
	if (p->err.truncated)
		json_object_set_new(r, "err-truncated", json_true());
	proc_free(p);
	return r;
}

size_t exec_poll_fds(struct pollfd *fds, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < AGENT_MAX_PROCS; i++) {
		struct output *o[2] = { &procs[i].out, &procs[i].err };

		for (int k = 0; k < 2; k++) {
			if (procs[i].pid == 0 || o[k]->fd < 0 || n == max)
				continue;
			fds[n].fd = o[k]->fd;
			fds[n].events = POLLIN;
			fds[n].revents = 0;
			n++;
		}
	}
	return n;
}

/* Append what FD has to O, keeping at most AGENT_MAX_OUTPUT bytes. */
static void output_read(struct output *o)
{
	char chunk[65536];
	ssize_t n = read(o->fd, chunk, sizeof(chunk));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		output_close(o);
		return;
	}
	if (o->len + (size_t)n > AGENT_MAX_OUTPUT) {
		o->truncated = true;
		n = (ssize_t)(AGENT_MAX_OUTPUT - o->len);
	}
	if (n > 0) {
		char *d = realloc(o->data, o->len + (size_t)n);
		if (!d) {
			o->truncated = true;
			return;
		}
		memcpy(d + o->len, chunk, (size_t)n);
		o->data = d;
		o->len += (size_t)n;
	}
}

void exec_handle_fds(const struct pollfd *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!fds[i].revents)
			continue;
		for (size_t k = 0; k < AGENT_MAX_PROCS; k++) {
			if (procs[k].pid && procs[k].out.fd == fds[i].fd)
				output_read(&procs[k].out);
			else if (procs[k].pid && procs[k].err.fd == fds[i].fd)
				output_read(&procs[k].err);
		}
	}
}

void exec_reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct proc *p = proc_find(pid);
		if (p) {
			p->reaped = true;
			p->status = status;
		}
	}
}
