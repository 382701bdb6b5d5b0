/* remotedisk.c - disks on a storage host over NBD: the export is checked
 * with a short NBD handshake before QEMU is asked to open it (remotedisk.h).
 * The client is libnbd, in option mode, driven with a deadline. */
#include "daemon/remotedisk.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <libnbd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_TIMEOUT_MS 5000

/* Completion of NBD_OPT_INFO: 1 on success, -errno on a server error. */
static int info_done(void *user_data, int *error)
{
	*(int *)user_data = *error ? -*error : 1;
	return 1;
}

/* Run libnbd's state machine until DONE() holds or the deadline passes. */
static int poll_until(struct nbd_handle *h, int (*done)(struct nbd_handle *, const int *),
		      const int *arg, uint64_t deadline)
{
	while (!done(h, arg)) {
		int64_t left = (int64_t)(deadline - now_ms());
		int r;

		if (nbd_aio_is_dead(h) || nbd_aio_is_closed(h))
			return nbd_get_errno() ? -nbd_get_errno() : -ECONNRESET;
		if (left <= 0)
			return -ETIMEDOUT;
		r = nbd_poll(h, (int)left);
		if (r < 0)
			return nbd_get_errno() ? -nbd_get_errno() : -EPROTO;
	}
	return 0;
}

static int connected(struct nbd_handle *h, const int *unused)
{
	(void)unused;
	return !nbd_aio_is_connecting(h);
}

static int answered(struct nbd_handle *h, const int *result)
{
	(void)h;
	return *result != 0;
}

/* Connect, ask about the export (NBD_OPT_INFO), hang up (NBD_OPT_ABORT):
 * 0 with *RET_READONLY, or -errno (-ENOENT: the server has no such
 * export). */
static int ask_export(struct nbd_handle *h, const struct disk_nbd *n, bool *ret_readonly)
{
	uint64_t deadline = now_ms() + PROBE_TIMEOUT_MS;
	char port[8];
	int result = 0, r;

	snprintf(port, sizeof(port), "%u", n->port);
	if (nbd_set_opt_mode(h, true) < 0 || nbd_set_export_name(h, n->export) < 0 ||
	    (n->socket ? nbd_aio_connect_unix(h, n->socket) : nbd_aio_connect_tcp(h, n->host, port)) < 0)
		return nbd_get_errno() ? -nbd_get_errno() : -EINVAL;
	r = poll_until(h, connected, NULL, deadline);
	if (r == 0 && !nbd_aio_is_negotiating(h))
		r = -EPROTO;
	if (r == 0 && nbd_aio_opt_info(h, (nbd_completion_callback){ .callback = info_done,
								   .user_data = &result }) < 0)
		r = -EPROTO;
	if (r == 0)
		r = poll_until(h, answered, &result, deadline);
	if (r == 0 && result < 0)
		r = result;
	if (r == 0) {
		*ret_readonly = nbd_is_read_only(h) == 1;
		nbd_aio_opt_abort(h);
		poll_until(h, connected, NULL, now_ms() + 100); /* best effort */
	}
	return r;
}

static int probe(const struct disk_nbd *n, const char *vdev, bool readonly, char *errbuf,
		 size_t errsize)
{
	_cleanup_free_ char *where = n->socket ? strdup(n->socket) :
		strprintf(strchr(n->host, ':') ? "[%s]:%u" : "%s:%u", n->host, n->port);
	struct nbd_handle *h = nbd_create();
	bool export_ro = false;
	int r;

	if (!where || !h) {
		if (h)
			nbd_close(h);
		return -ENOMEM;
	}
	r = ask_export(h, n, &export_ro);
	nbd_close(h);
	if (r == -ENOENT) {
		snprintf(errbuf, errsize, "disk '%s': NBD server %s: no export named '%s'", vdev,
			 where, n->export);
		return r;
	}
	if (r < 0) {
		snprintf(errbuf, errsize, "disk '%s': NBD server %s: %s", vdev, where,
			 r == -EPROTO ? "not an NBD server (or a protocol error)" :
			 r == -ETIMEDOUT ? "no answer within 5 s" : strerror(-r));
		return r == -ENOMEM ? r : -EHOSTUNREACH;
	}
	if (!readonly && export_ro) {
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
