/* server.c - the NBD server object: exports, listeners, connection threads.
 *
 * nbd_server_run() polls the listening sockets and a stop eventfd; each
 * accepted client gets a thread of its own that runs the protocol
 * (conn.c) to completion. Stopping shuts every client socket down so the
 * threads see end-of-stream, and waits for the last one to leave.
 */
#include "nbd/nbd-internal.h"
#include "nbd/nbd-proto.h"
#include "common/cleanup.h"
#include "common/sock.h"
#include "common/util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#define MAX_LISTENERS 16
#define CONN_STACK_SIZE (256u << 10)

struct client {
	struct nbd_server *srv;
	int fd;
	struct client *next;
};

struct nbd_server {
	struct nbd_server_config cfg;
	pthread_mutex_t lock;        /* exports, clients, n_clients */
	pthread_cond_t clients_gone;
	struct nbd_export *exports, **exports_tail;
	struct client *clients;
	unsigned n_clients;
	int listeners[MAX_LISTENERS];
	unsigned n_listeners;
	int stop_fd;                 /* eventfd */
	void *zero_buf;
	struct nbd_tls_creds *tls_creds;
};

int nbd_server_new(const struct nbd_server_config *cfg, struct nbd_server **ret)
{
	struct nbd_server *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	if (cfg)
		s->cfg = *cfg;
	if (!s->cfg.max_connections)
		s->cfg.max_connections = 1024;
	if (!s->cfg.handshake_timeout_ms)
		s->cfg.handshake_timeout_ms = 30000;
	s->cfg.tls_certificates = NULL; /* not kept: the caller owns it */
	s->exports_tail = &s->exports;
	s->zero_buf = calloc(1, NBD_ZERO_BUF_SIZE);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = !s->zero_buf ? -ENOMEM : s->stop_fd < 0 ? -errno : 0;
	if (r == 0 && s->cfg.tls != NBD_TLS_OFF)
		r = cfg->tls_certificates ? nbd_tls_creds_load(cfg->tls_certificates, &s->tls_creds) :
					    -EINVAL;
	if (r < 0) {
		free(s->zero_buf);
		if (s->stop_fd >= 0)
			close(s->stop_fd);
		free(s);
		return r;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->clients_gone, NULL);
	*ret = s;
	return 0;
}

/* Shut every client down and wait until their threads have left. */
static void close_clients(struct nbd_server *s)
{
	pthread_mutex_lock(&s->lock);
	for (struct client *c = s->clients; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	while (s->n_clients > 0)
		pthread_cond_wait(&s->clients_gone, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

/* Free E but not its backend (which may still belong to the caller). */
static void export_free_shell(struct nbd_export *e)
{
	free(e->name);
	free(e->description);
	free(e);
}

static void export_free(struct nbd_export *e)
{
	if (e->backend.ops->close)
		e->backend.ops->close(e->backend.handle);
	export_free_shell(e);
}

struct nbd_server *nbd_server_free(struct nbd_server *s)
{
	struct nbd_export *e, *next;

	if (!s)
		return NULL;
	close_clients(s);
	for (unsigned i = 0; i < s->n_listeners; i++)
		close(s->listeners[i]);
	for (e = s->exports; e; e = next) {
		next = e->next;
		nbd_server_put_export(s, e);
	}
	close(s->stop_fd);
	free(s->zero_buf);
	nbd_tls_creds_free(s->tls_creds);
	pthread_cond_destroy(&s->clients_gone);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

/* The link pointing at export NAME, or NULL; with the lock held. */
static struct nbd_export **find_link_locked(struct nbd_server *s, const char *name)
{
	for (struct nbd_export **p = &s->exports; *p; p = &(*p)->next)
		if (streq((*p)->name, name))
			return p;
	return NULL;
}

static struct nbd_export *export_new(const char *name, const char *description,
				     const struct nbd_backend *backend, bool readonly)
{
	struct nbd_export *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->name = strdup(name);
	e->description = description ? strdup(description) : NULL;
	if (!e->name || (description && !e->description)) {
		export_free_shell(e);
		return NULL;
	}
	e->backend = *backend;
	e->readonly = readonly || !backend->ops->caps || !backend->ops->pwrite ||
		      !(backend->ops->caps(backend->handle) & NBD_BACKEND_CAN_WRITE);
	e->refs = 1;
	return e;
}

int nbd_server_add_export(struct nbd_server *s, const char *name, const char *description,
			  struct nbd_backend *backend, bool readonly)
{
	struct nbd_export *e;

	if (!name || strlen(name) > NBD_MAX_STRING || !backend->ops || !backend->ops->get_size ||
	    !backend->ops->pread)
		return -EINVAL;
	if (description && strlen(description) > NBD_MAX_STRING)
		return -EINVAL;
	e = export_new(name, description, backend, readonly);
	if (!e)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	if (find_link_locked(s, name)) {
		pthread_mutex_unlock(&s->lock);
		export_free_shell(e);
		return -EEXIST;
	}
	*s->exports_tail = e;
	s->exports_tail = &e->next;
	pthread_mutex_unlock(&s->lock);
	*backend = (struct nbd_backend){ 0 };
	return 0;
}

int nbd_server_remove_export(struct nbd_server *s, const char *name)
{
	struct nbd_export **p, *e;

	pthread_mutex_lock(&s->lock);
	p = find_link_locked(s, name);
	if (!p) {
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	e = *p;
	*p = e->next;
	if (s->exports_tail == &e->next)
		s->exports_tail = p;
	pthread_mutex_unlock(&s->lock);
	nbd_server_put_export(s, e);
	return 0;
}

struct nbd_export *nbd_server_get_export(struct nbd_server *s, const char *name)
{
	struct nbd_export **p, *e;

	pthread_mutex_lock(&s->lock);
	p = find_link_locked(s, name);
	/* "" is the default export: the first one unless one is named "". */
	e = p ? *p : name[0] == 0 ? s->exports : NULL;
	if (e)
		e->refs++;
	pthread_mutex_unlock(&s->lock);
	return e;
}

void nbd_server_put_export(struct nbd_server *s, struct nbd_export *e)
{
	bool last;

	if (!e)
		return;
	pthread_mutex_lock(&s->lock);
	last = --e->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (last)
		export_free(e);
}

int nbd_server_foreach_export(struct nbd_server *s,
			      int (*fn)(const struct nbd_export *e, void *userdata),
			      void *userdata)
{
	int r = 0;

	pthread_mutex_lock(&s->lock);
	for (const struct nbd_export *e = s->exports; e && r >= 0; e = e->next)
		r = fn(e, userdata);
	pthread_mutex_unlock(&s->lock);
	return r < 0 ? r : 0;
}

enum nbd_tls_mode nbd_server_tls_mode(struct nbd_server *s)
{
	return s->cfg.tls;
}

const struct nbd_tls_creds *nbd_server_tls_creds(struct nbd_server *s)
{
	return s->tls_creds;
}

const void *nbd_server_zero_buf(struct nbd_server *s)
{
	return s->zero_buf;
}

static int add_listener(struct nbd_server *s, int fd)
{
	if (s->n_listeners >= MAX_LISTENERS) {
		close(fd);
		return -EMFILE;
	}
	s->listeners[s->n_listeners++] = fd;
	return 0;
}

int nbd_server_listen_unix(struct nbd_server *s, const char *path)
{
	int fd = unix_listen(path, 128);

	if (fd < 0)
		return fd;
	return add_listener(s, fd);
}

/* Split "HOST:PORT" / "[HOST]:PORT" / ":PORT" into RET_HOST (NULL for "any")
 * and RET_PORT. */
static int split_hostport(const char *hostport, char **ret_host, char **ret_port)
{
	const char *colon = strrchr(hostport, ':');
	_cleanup_free_ char *host = NULL;
	char *port;

	if (!colon || !colon[1])
		return -EINVAL;
	if (hostport[0] == '[') {
		if (colon == hostport || colon[-1] != ']')
			return -EINVAL;
		host = strndup(hostport + 1, (size_t)(colon - hostport - 2));
	} else if (colon > hostport) {
		host = strndup(hostport, (size_t)(colon - hostport));
	}
	if (colon > hostport && !host)
		return -ENOMEM;
	port = strdup(colon + 1);
	if (!port)
		return -ENOMEM;
	*ret_host = TAKE_PTR(host);
	*ret_port = port;
	return 0;
}

static int bound_port(int fd, uint16_t *ret_port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		*ret_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else
		*ret_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

int nbd_server_listen_tcp(struct nbd_server *s, const char *hostport, uint16_t *ret_port)
{
	_cleanup_free_ char *host = NULL, *port = NULL;
	_cleanup_close_ int fd = -1;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	int one = 1, r;

	r = split_hostport(hostport, &host, &port);
	if (r < 0)
		return r;
	r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0)
		return r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	if (ret_port) {
		r = bound_port(fd, ret_port);
		if (r < 0)
			return r;
	}
	return add_listener(s, TAKE_FD(fd));
}

/* A client socket. Until the handshake is done, every recv() waits at most
 * until the deadline, so a client dripping one byte at a time cannot hold
 * its slot for longer than the handshake timeout either. */
struct sock_io {
	int fd;
	uint64_t deadline_ms; /* 0: none */
};

static int wait_readable(const struct sock_io *sio)
{
	uint64_t now = now_ms();
	struct pollfd pfd = { .fd = sio->fd, .events = POLLIN };
	int r;

	if (now >= sio->deadline_ms)
		return -ETIMEDOUT;
	r = poll(&pfd, 1, (int)(sio->deadline_ms - now));
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

/* Reads and writes on a socket; MSG_NOSIGNAL keeps SIGPIPE away. */
static ssize_t fd_recv(void *io, void *buf, size_t len)
{
	struct sock_io *sio = io;

	for (;;) {
		ssize_t n;

		if (sio->deadline_ms) {
			int r = wait_readable(sio);

			if (r < 0)
				return r;
		}
		n = recv(sio->fd, buf, len, sio->deadline_ms ? MSG_DONTWAIT : 0);
		if (n >= 0)
			return n;
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
}

static int fd_send(void *io, const struct iovec *iov, int iovcnt)
{
	struct iovec v[8];
	struct msghdr msg = { .msg_iov = v };
	struct sock_io *sio = io;

	if (iovcnt > (int)ARRAY_SIZE(v))
		return -EINVAL;
	memcpy(v, iov, sizeof(*iov) * (size_t)iovcnt);
	msg.msg_iovlen = (size_t)iovcnt;
	while (msg.msg_iovlen > 0) {
		ssize_t n = sendmsg(sio->fd, &msg, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		while (msg.msg_iovlen > 0 && (size_t)n >= msg.msg_iov->iov_len) {
			n -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen > 0) {
			msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + n;
			msg.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* sendfile() cannot take MSG_NOSIGNAL: block SIGPIPE in this thread around
 * it and swallow the one a vanished client raised, so that the embedding
 * program never sees it. */
static ssize_t sendfile_nosignal(int sock, int fd, off_t *off, size_t len)
{
	sigset_t pipe_set, old, pending;
	const struct timespec zero = { 0 };
	bool was_pending;
	ssize_t n;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	n = sendfile(sock, fd, off, len);
	saved = errno;
	if (n < 0 && saved == EPIPE && !was_pending)
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

static int fd_send_file(void *io, const void *hdr, size_t hdr_len, int fd, uint64_t off,
			size_t len)
{
	struct sock_io *sio = io;
	off_t pos = (off_t)off;

	while (hdr_len > 0) {
		ssize_t n = send(sio->fd, hdr, hdr_len, MSG_NOSIGNAL | MSG_MORE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		hdr = (const uint8_t *)hdr + n;
		hdr_len -= (size_t)n;
	}
	while (len > 0) {
		ssize_t n = sendfile_nosignal(sio->fd, fd, &pos, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) /* the file is shorter than the export: cannot pad */
			return -EIO;
		len -= (size_t)n;
	}
	return 0;
}

/* In transmission, idle clients may stay as long as they like. */
static void fd_handshake_done(void *io)
{
	struct sock_io *sio = io;

	sio->deadline_ms = 0;
}

static const struct nbd_io_ops fd_io_ops = {
	.recv = fd_recv,
	.send = fd_send,
	.handshake_done = fd_handshake_done,
	.send_file = fd_send_file,
	.concurrent = true,
};

int nbd_server_serve_fd(struct nbd_server *s, int fd)
{
	struct sock_io sio = { .fd = fd, .deadline_ms = now_ms() + s->cfg.handshake_timeout_ms };
	int one = 1;

	/* Harmless on Unix sockets (the error is ignored). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return nbd_conn_serve(s, &fd_io_ops, &sio);
}

int nbd_server_serve_io(struct nbd_server *s, const struct nbd_io_ops *ops, void *io)
{
	return nbd_conn_serve(s, ops, io);
}

static void *client_thread(void *arg)
{
	struct client *c = arg;
	struct nbd_server *s = c->srv;
	int r = nbd_server_serve_fd(s, c->fd);

	if (s->cfg.client_done)
		s->cfg.client_done(s->cfg.userdata, r);
	pthread_mutex_lock(&s->lock);
	for (struct client **p = &s->clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	close(c->fd);
	free(c);
	if (--s->n_clients == 0)
		pthread_cond_broadcast(&s->clients_gone);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Start a thread for the accepted client FD; over the limit, close it. */
static void start_client(struct nbd_server *s, int fd)
{
	pthread_attr_t attr;
	struct client *c;
	pthread_t t;
	int r;

	pthread_mutex_lock(&s->lock);
	if (s->n_clients >= s->cfg.max_connections || !(c = calloc(1, sizeof(*c)))) {
		pthread_mutex_unlock(&s->lock);
		close(fd);
		return;
	}
	*c = (struct client){ .srv = s, .fd = fd, .next = s->clients };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, CONN_STACK_SIZE);
	r = pthread_create(&t, &attr, client_thread, c);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		pthread_mutex_unlock(&s->lock);
		close(fd);
		free(c);
		return;
	}
	s->clients = c;
	s->n_clients++;
	pthread_mutex_unlock(&s->lock);
}

int nbd_server_run(struct nbd_server *s)
{
	struct pollfd pfd[MAX_LISTENERS + 1];
	uint64_t v;
	int r = 0;

	pfd[0] = (struct pollfd){ .fd = s->stop_fd, .events = POLLIN };
	for (unsigned i = 0; i < s->n_listeners; i++)
		pfd[i + 1] = (struct pollfd){ .fd = s->listeners[i], .events = POLLIN };
	for (;;) {
		if (poll(pfd, s->n_listeners + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (pfd[0].revents)
			break;
		for (unsigned i = 1; i <= s->n_listeners; i++) {
			int fd;

			if (!pfd[i].revents)
				continue;
			fd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				start_client(s, fd);
		}
	}
	(void)!read(s->stop_fd, &v, sizeof(v));
	close_clients(s);
	return r;
}

void nbd_server_stop(struct nbd_server *s)
{
	uint64_t one = 1;

	(void)!write(s->stop_fd, &one, sizeof(one));
}
