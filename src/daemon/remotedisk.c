/* remotedisk.c - disks on a storage host over NBD: the export is checked
 * with a short NBD handshake before QEMU is asked to open it (remotedisk.h).
 * The client side of the fixed newstyle handshake, just enough for
 * NBD_OPT_INFO: greeting, client flags, one option, its replies, abort. */
#include "daemon/remotedisk.h"
#include "common/cleanup.h"
#include "common/sock.h"
#include "common/util.h"
#include "nbd/nbd-proto.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROBE_TIMEOUT_MS 5000

/* Wait until FD is ready for EVENTS or DEADLINE (monotonic ms) passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left = deadline - (int64_t)now_ms();
	int r;

	if (left <= 0)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)left);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

static int io_all(int fd, void *buf, size_t len, bool out, int64_t deadline)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = out ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			int r;
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			if ((r = wait_fd(fd, out ? POLLOUT : POLLIN, deadline)) < 0)
				return r;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* A non-blocking TCP connection to HOST:PORT within DEADLINE. */
static int tcp_connect(const char *host, unsigned port, int64_t deadline)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char service[8];
	int fd = -1, r;

	snprintf(service, sizeof(service), "%u", port);
	r = getaddrinfo(host, service, &hints, &res);
	if (r != 0)
		return r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	r = -EHOSTUNREACH;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		int err = 0;
		socklen_t elen = sizeof(err);

		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS)
			r = -errno;
		else if ((r = wait_fd(fd, POLLOUT, deadline)) == 0 &&
			 getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)
			break;
		else if (r == 0)
			r = -err;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : r;
}

/* Send option OPT with DATA (LEN bytes). */
static int send_option(int fd, uint32_t opt, const void *data, size_t len, int64_t deadline)
{
	uint8_t hdr[16];
	int r;

	put_be(hdr, NBD_OPTS_MAGIC, 8);
	put_be(hdr + 8, opt, 4);
	put_be(hdr + 12, len, 4);
	r = io_all(fd, hdr, sizeof(hdr), true, deadline);
	return r < 0 || len == 0 ? r : io_all(fd, (void *)data, len, true, deadline);
}

/* The replies to NBD_OPT_INFO: 0 with *RET_FLAGS (transmission
 * flags), or an NBD_REP_ERR_* (> 0), or -errno. */
static int info_replies(int fd, uint16_t *ret_flags, int64_t deadline)
{
	for (;;) {
		uint8_t hdr[20];
		uint32_t type, len;
		int r = io_all(fd, hdr, sizeof(hdr), false, deadline);

		if (r < 0)
			return r;
		if (get_be(hdr, 8) != NBD_REP_MAGIC || get_be(hdr + 8, 4) != NBD_OPT_INFO)
			return -EPROTO;
		type = (uint32_t)get_be(hdr + 12, 4);
		len = (uint32_t)get_be(hdr + 16, 4);
		if (type == NBD_REP_ACK)
			return 0;
		if (len > 65536)
			return -EPROTO;
		if (len > 0) {
			_cleanup_free_ uint8_t *body = malloc(len);
			if (!body)
				return -ENOMEM;
			if ((r = io_all(fd, body, len, false, deadline)) < 0)
				return r;
			if (type == NBD_REP_INFO && len >= 12 && get_be(body, 2) == NBD_INFO_EXPORT)
				*ret_flags = (uint16_t)get_be(body + 10, 2);
		}
		if (type & (1u << 31))
			return (int)(type & 0x7fffffff);
	}
}

/* Greeting, flags, NBD_OPT_INFO, NBD_OPT_ABORT. 0 with *RET_FLAGS, an
 * NBD_REP_ERR_* number (> 0), or -errno. */
static int ask_export(int fd, const char *export, uint16_t *ret_flags, int64_t deadline)
{
	size_t nlen = strlen(export);
	_cleanup_free_ uint8_t *req = malloc(nlen + 6);
	uint8_t greet[18], cflags[4];
	int r;

	if (!req)
		return -ENOMEM;
	r = io_all(fd, greet, sizeof(greet), false, deadline);
	if (r < 0)
		return r;
	if (get_be(greet, 8) != NBD_MAGIC || get_be(greet + 8, 8) != NBD_OPTS_MAGIC ||
	    !(get_be(greet + 16, 2) & NBD_FLAG_FIXED_NEWSTYLE))
		return -EPROTO;
	put_be(cflags, NBD_FLAG_C_FIXED_NEWSTYLE |
	       (get_be(greet + 16, 2) & NBD_FLAG_NO_ZEROES ? NBD_FLAG_C_NO_ZEROES : 0), 4);
	put_be(req, nlen, 4);
	memcpy(req + 4, export, nlen);
	put_be(req + 4 + nlen, 0, 2);  /* no information requests: INFO_EXPORT comes anyway */
	if ((r = io_all(fd, cflags, sizeof(cflags), true, deadline)) < 0 ||
	    (r = send_option(fd, NBD_OPT_INFO, req, nlen + 6, deadline)) < 0)
		return r;
	r = info_replies(fd, ret_flags, deadline);
	if (r >= 0)
		send_option(fd, NBD_OPT_ABORT, NULL, 0, deadline);
	return r;
}

static int probe(const struct disk_nbd *n, const char *vdev, bool readonly, char *errbuf,
		 size_t errsize)
{
	int64_t deadline = (int64_t)now_ms() + PROBE_TIMEOUT_MS;
	_cleanup_free_ char *where = n->socket ? strdup(n->socket) :
		strprintf(strchr(n->host, ':') ? "[%s]:%u" : "%s:%u", n->host, n->port);
	_cleanup_close_ int fd = -1;
	uint16_t flags = 0;
	int r;

	if (!where)
		return -ENOMEM;
	fd = n->socket ? unix_connect(n->socket) : tcp_connect(n->host, n->port, deadline);
	if (fd >= 0 && n->socket && fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		fd = -errno;
	r = fd < 0 ? fd : ask_export(fd, n->export, &flags, deadline);
	if (r < 0) {
		snprintf(errbuf, errsize, "disk '%s': NBD server %s: %s", vdev, where,
			 r == -EPROTO ? "not an NBD server (or a protocol error)" :
			 r == -ETIMEDOUT ? "no answer within 5 s" : strerror(-r));
		return r == -ENOMEM ? r : -EHOSTUNREACH;
	}
	if (r > 0) {
		snprintf(errbuf, errsize, "disk '%s': NBD server %s: %s '%s'", vdev, where,
			 r == (NBD_REP_ERR_UNKNOWN & 0x7fffffff) ? "no export named" :
			 r == (NBD_REP_ERR_TLS_REQD & 0x7fffffff) ? "requires TLS for export" :
			 "refuses export", n->export);
		return -ENOENT;
	}
	if (!readonly && (flags & NBD_FLAG_READ_ONLY)) {
		snprintf(errbuf, errsize, "disk '%s': NBD export '%s' on %s is read-only (attach "
			 "it with access=ro)", vdev, n->export, where);
		return -EROFS;
	}
	return 0;
}

int remotedisk_plan(const struct disk_spec *s, struct disk_nbd *ret_nbd,
		    struct qemu_disk *ret_disk, char *errbuf, size_t errsize)
{
	struct disk_nbd n;
	char msg[512];
	int r;

	if (!disk_target_is_nbd(s->target))
		return 0;
	r = disk_nbd_parse(s->target, &n, msg, sizeof(msg));
	if (r < 0) {
		snprintf(errbuf, errsize, "disk '%s': %s", s->vdev, msg);
		return r;
	}
	r = probe(&n, s->vdev, s->readonly || s->cdrom, errbuf, errsize);
	if (r < 0) {
		disk_nbd_release(&n);
		return r;
	}
	*ret_nbd = n;
	*ret_disk = (struct qemu_disk){
		.format = disk_format_name(s->format),
		.vdev = s->vdev,
		.readonly = s->readonly,
		.cdrom = s->cdrom,
		.remote = ret_nbd,
	};
	return 1;
}
