/* qmp.c - a QEMU Machine Protocol client with a reader thread. */
#include "qemu/qmp.h"
#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/sock.h"
#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define QMP_MAX_PENDING 16

struct qmp_pending {
	uint64_t id;
	bool used, done;
	json_t *reply;
};

struct qmp {
	int fd;
	struct line_reader lr;
	pthread_t reader;
	bool reader_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t next_id;
	struct qmp_pending pending[QMP_MAX_PENDING];
	bool closed, closing;
	FILE *trace;
	qmp_event_fn on_event;
	qmp_close_fn on_close;
	void *opaque;
	unsigned qemu_version; /* from the greeting: major * 10000 + minor * 100 + micro */
};

/* QEMU's version in its GREETING ({"QMP": {"version": {"qemu": {...}}}}),
 * as qmp_qemu_version() gives it. */
static unsigned greeting_version(json_t *greeting)
{
	json_t *v = json_object_get(
		json_object_get(json_object_get(greeting, "QMP"), "version"), "qemu");

	return (unsigned)(json_integer_value(json_object_get(v, "major")) * 10000 +
			  json_integer_value(json_object_get(v, "minor")) * 100 +
			  json_integer_value(json_object_get(v, "micro")));
}

static void trace_msg(struct qmp *q, const char *dir, json_t *msg)
{
	_cleanup_free_ char *s = NULL;
	if (!q->trace)
		return;
	s = json_dumps(msg, JSON_COMPACT);
	fprintf(q->trace, "%.3f %s %s\n", wall_time(), dir, s ? s : "?");
	fflush(q->trace);
}

static void deliver_reply(struct qmp *q, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	if (!json_is_integer(id))
		return;
	pthread_mutex_lock(&q->lock);
	for (int i = 0; i < QMP_MAX_PENDING; i++) {
		struct qmp_pending *p = &q->pending[i];
		if (p->used && !p->done && p->id == (uint64_t)json_integer_value(id)) {
			p->reply = json_incref(msg);
			p->done = true;
			pthread_cond_broadcast(&q->cond);
			break;
		}
	}
	pthread_mutex_unlock(&q->lock);
}

static void *reader_main(void *arg)
{
	struct qmp *q = arg;
	bool notify;

	for (;;) {
		json_t *msg = NULL;
		int r = json_recv(&q->lr, &msg, -1);
		if (r == -EBADMSG)
			continue;
		if (r < 0)
			break;
		trace_msg(q, "<", msg);
		if (json_object_get(msg, "event")) {
			const char *ev = json_string_value(json_object_get(msg, "event"));
			if (ev && q->on_event)
				q->on_event(q->opaque, ev, json_object_get(msg, "data"));
		} else {
			deliver_reply(q, msg);
		}
		json_decref(msg);
	}
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	notify = !q->closing;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (notify && q->on_close)
		q->on_close(q->opaque);
	return NULL;
}

/* Before the reader runs: read lines until one is not an event. */
static int sync_reply(struct qmp *q, json_t **ret, int timeout_ms)
{
	for (;;) {
		json_t *msg = NULL;
		int r = json_recv(&q->lr, &msg, timeout_ms);
		if (r < 0)
			return r;
		trace_msg(q, "<", msg);
		if (!json_object_get(msg, "event")) {
			*ret = msg;
			return 0;
		}
		json_decref(msg);
	}
}

int qmp_connect(const char *path, const char *trace_path, qmp_event_fn on_event,
		qmp_close_fn on_close, void *opaque, struct qmp **ret)
{
	struct qmp *q = calloc(1, sizeof(*q));
	json_t *msg = NULL;
	int r;

	if (!q)
		return -ENOMEM;
	q->fd = -1;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->on_event = on_event;
	q->on_close = on_close;
	q->opaque = opaque;
	q->next_id = 1;
	if (trace_path)
		q->trace = fopen(trace_path, "ae");
	r = unix_connect(path);
	if (r < 0)
		goto fail;
	q->fd = r;
	line_reader_init(&q->lr, q->fd);
	r = sync_reply(q, &msg, 10000); /* greeting */
	if (r < 0)
		goto fail;
	if (!json_object_get(msg, "QMP")) {
		r = -EPROTO;
		goto fail;
	}
	q->qemu_version = greeting_version(msg);
	json_decref(msg);
	msg = json_pack("{s:s}", "execute", "qmp_capabilities");
	trace_msg(q, ">", msg);
	r = json_send(q->fd, msg);
	json_decref(msg);
	msg = NULL;
	if (r < 0)
		goto fail;
	r = sync_reply(q, &msg, 10000);
	if (r < 0)
		goto fail;
	if (!json_object_get(msg, "return")) {
		r = -EPROTO;
		goto fail;
	}
	json_decref(msg);
	msg = NULL;
	r = -pthread_create(&q->reader, NULL, reader_main, q);
	if (r < 0)
		goto fail;
	q->reader_started = true;
	*ret = q;
	return 0;
fail:
	json_decref(msg);
	qmp_free(q);
	return r;
}

static struct qmp_pending *pending_alloc(struct qmp *q)
{
	for (int i = 0; i < QMP_MAX_PENDING; i++)
		if (!q->pending[i].used) {
			q->pending[i] = (struct qmp_pending){ .id = q->next_id++, .used = true };
			return &q->pending[i];
		}
	return NULL;
}

static int wait_reply(struct qmp *q, struct qmp_pending *p, int timeout_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (!p->done && !q->closed)
		if (pthread_cond_timedwait(&q->cond, &q->lock, &deadline) == ETIMEDOUT)
			return -ETIMEDOUT;
	return p->done ? 0 : -EPIPE;
}

/* Send MSG as one line with FD attached (SCM_RIGHTS) to its first byte. */
static int send_with_fd(int sock, json_t *msg, int fd)
{
	_cleanup_free_ char *s = json_dumps(msg, JSON_COMPACT);
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	size_t n;
	ssize_t sent;

	if (!s)
		return -ENOMEM;
	n = strlen(s);
	s[n] = '\n';
	iov = (struct iovec){ .iov_base = s, .iov_len = n + 1 };
	memset(&control, 0, sizeof(control));
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		sent = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return -errno;
	/* The fd went with the first byte; the rest is plain data. */
	return (size_t)sent == n + 1 ? 0 : write_all(sock, s + sent, n + 1 - (size_t)sent);
}

int qmp_command(struct qmp *q, const char *cmd, json_t *args, json_t **ret_return,
		char **ret_error, int timeout_ms)
{
	return qmp_command_fd(q, cmd, args, -1, ret_return, ret_error, timeout_ms);
}

int qmp_command_fd(struct qmp *q, const char *cmd, json_t *args, int fd, json_t **ret_return,
		   char **ret_error, int timeout_ms)
{
	struct qmp_pending *p;
	json_t *msg, *reply, *err;
	int r;

	pthread_mutex_lock(&q->lock);
	if (q->closed) {
		pthread_mutex_unlock(&q->lock);
		json_decref(args);
		return -EPIPE;
	}
	p = pending_alloc(q);
	if (!p) {
		pthread_mutex_unlock(&q->lock);
		json_decref(args);
		return -EBUSY;
	}
	msg = json_pack("{s:s,s:I}", "execute", cmd, "id", (json_int_t)p->id);
	if (args)
		json_object_set_new(msg, "arguments", args);
	trace_msg(q, ">", msg);
	r = fd >= 0 ? send_with_fd(q->fd, msg, fd) : json_send(q->fd, msg);
	json_decref(msg);
	if (r == 0)
		r = wait_reply(q, p, timeout_ms);
	reply = p->reply;
	p->used = false;
	p->reply = NULL;
	pthread_mutex_unlock(&q->lock);
	if (r < 0) {
		json_decref(reply);
		return r;
	}
	err = json_object_get(reply, "error");
	if (err) {
		if (ret_error) {
			const char *desc = json_string_value(json_object_get(err, "desc"));
			*ret_error = strdup(desc ? desc : "unknown QMP error");
		}
		json_decref(reply);
		return -EIO;
	}
	if (ret_return)
		*ret_return = json_incref(json_object_get(reply, "return"));
	json_decref(reply);
	return 0;
}

unsigned qmp_qemu_version(const struct qmp *q)
{
	return q->qemu_version;
}

bool qmp_closed(struct qmp *q)
{
	bool c;
	pthread_mutex_lock(&q->lock);
	c = q->closed;
	pthread_mutex_unlock(&q->lock);
	return c;
}

void qmp_free(struct qmp *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->closing = true;
	pthread_mutex_unlock(&q->lock);
	if (q->fd >= 0)
		shutdown(q->fd, SHUT_RDWR);
	if (q->reader_started)
		pthread_join(q->reader, NULL);
	if (q->fd >= 0)
		close(q->fd);
	for (int i = 0; i < QMP_MAX_PENDING; i++)
		json_decref(q->pending[i].reply);
	line_reader_release(&q->lr);
	if (q->trace)
		fclose(q->trace);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q);
}
