/* migdisk.c - copying a migrating domain's local LV disks (migdisk.h). */
#include "daemon/migdisk.h"
#include "daemon/daemon.h"
#include "daemon/lvdisk.h"
#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/log.h"
#include "common/sock.h"
#include "common/util.h"
#include "qemu/cmdline.h"
#include "qemu/qmp.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define QMP_TIMEOUT_MS 10000
#define ATTACH_TIMEOUT_MS 60000     /* blockdev-add: through the tunnel */
#define ACCEPT_TIMEOUT_MS 60000
#define SERVER_WAIT_MS 60000        /* target: the incoming disk server */
#define JOB_END_TIMEOUT_MS 120000
#define RELAY_BUF (256 * 1024)

/* ---- relaying a TLS connection and a Unix socket ---- */

struct relay_half {
	struct tlschan *t;
	int tfd, ufd;
};

static void relay_shutdown(const struct relay_half *h)
{
	shutdown(h->tfd, SHUT_RDWR);
	shutdown(h->ufd, SHUT_RDWR);
}

/* TLS -> Unix, in a thread of its own. */
static void *relay_down(void *arg)
{
	struct relay_half *h = arg;
	_cleanup_free_ char *buf = malloc(RELAY_BUF);

	while (buf) {
		ssize_t n = tlschan_read(h->t, buf, RELAY_BUF);
		if (n <= 0 || write_all(h->ufd, buf, (size_t)n) < 0)
			break;
	}
	relay_shutdown(h);
	return NULL;
}

/* Copy both ways between T (over TFD) and UFD until either end closes. */
static void relay(struct tlschan *t, int tfd, int ufd)
{
	struct relay_half h = { .t = t, .tfd = tfd, .ufd = ufd };
	_cleanup_free_ char *buf = malloc(RELAY_BUF);
	pthread_t th;

	if (!buf || pthread_create(&th, NULL, relay_down, &h) != 0)
		return;
	for (;;) {
		ssize_t n = read(ufd, buf, RELAY_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || tlschan_write_all(t, buf, (size_t)n) < 0)
			break;
	}
	relay_shutdown(&h);
	pthread_join(th, NULL);
}

/* ---- source ---- */

struct mirror {
	struct migdisk *m;
	char *vdev;
	char *job;            /* job id and QEMU node name: "mig-<vdev>" */
	char *sock;
	int lfd, ufd, tfd;
	struct tlschan *t;
	pthread_t thread;
	bool thread_started, node_added, job_started;
	bool stopping;        /* mirror_stop() ran: the thread must not relay */
	char err[256];
};

struct migdisk {
	pthread_mutex_t lock;     /* the sockets of the mirrors, and stopping */
	struct domain *d;
	const char *token;
	migdisk_connect_fn connect;
	void *ctx;
	struct mirror *v;
	size_t n;
};

int migdisk_describe(struct domain *d, json_t **ret, char *errbuf, size_t errsize)
{
	_cleanup_json_ json_t *arr = json_array();
	int r = arr ? 0 : -ENOMEM;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; r == 0 && i < d->n_disk_servers; i++) {
		json_t *desc = NULL;

		r = lvdisk_describe(d->disk_servers[i].vdev, d->disk_servers[i].lv, &desc);
		if (r < 0)
			snprintf(errbuf, errsize, "disk '%s': cannot read logical volume %s: %s",
				 d->disk_servers[i].vdev, d->disk_servers[i].lv, strerror(-r));
		else
			json_array_append_new(arr, desc);
	}
	pthread_mutex_unlock(&d->lock);
	if (r == 0)
		*ret = TAKE_PTR(arr);
	return r;
}

/* Publish MI's socket FD into *SLOT, unless MI is being stopped: then
 * shut FD down so that it is of no use (it is closed with MI). */
static bool publish_fd(struct mirror *mi, int *slot, int fd)
{
	bool ok;

	pthread_mutex_lock(&mi->m->lock);
	*slot = fd;
	ok = !mi->stopping;
	if (!ok && fd >= 0)
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&mi->m->lock);
	return ok;
}

/* Accept QEMU's connection on MI's socket, open the tunnel, relay. */
static void *mirror_main(void *arg)
{
	struct mirror *mi = arg;
	struct pollfd p = { .fd = mi->lfd, .events = POLLIN };
	json_t *req, *reply = NULL;
	int fd = -1, r;

	r = poll(&p, 1, ACCEPT_TIMEOUT_MS) > 0 ? 0 : -ETIMEDOUT;
	if (r == 0) {
		fd = accept4(mi->lfd, NULL, NULL, SOCK_CLOEXEC);
		r = fd < 0 ? -errno : publish_fd(mi, &mi->ufd, fd) ? 0 : -ECANCELED;
	}
	if (r == 0)
		r = mi->m->connect(mi->m->ctx, &fd, &mi->t, mi->err, sizeof(mi->err));
	if (r == 0)
		r = publish_fd(mi, &mi->tfd, fd) ? 0 : -ECANCELED;
	if (r < 0) {
		if (!mi->err[0])
			snprintf(mi->err, sizeof(mi->err), "no connection from the device model");
		return NULL;
	}
	req = json_pack("{s:s,s:s,s:s}", "op", "disk", "token", mi->m->token, "vdev", mi->vdev);
	r = tlschan_send_json(mi->t, req);
	json_decref(req);
	if (r == 0)
		r = tlschan_recv_json(mi->t, &reply);
	if (r < 0 || !json_is_true(json_object_get(reply, "ok"))) {
		snprintf(mi->err, sizeof(mi->err), "the target refused the disk: %s",
			 json_string_value(json_object_get(reply, "error")) ?: strerror(-r));
		json_decref(reply);
		return NULL;
	}
	json_decref(reply);
	relay(mi->t, mi->tfd, mi->ufd);
	return NULL;
}

/* The QEMU drive id of vdev VDEV: "disk<index in the config>". */
static int drive_index(struct domain *d, const char *vdev)
{
	for (size_t i = 0; i < d->cfg->n_disks; i++)
		if (streq(d->cfg->disks[i].vdev, vdev))
			return (int)i;
	return -ENOENT;
}

static int mirror_start(struct mirror *mi, char *errbuf, size_t errsize)
{
	struct domain *d = mi->m->d;
	_cleanup_free_ char *qerr = NULL;
	char drive[32];
	int idx = drive_index(d, mi->vdev), r;

	mi->lfd = idx < 0 ? idx : unix_listen(mi->sock, 1);
	if (mi->lfd < 0) {
		snprintf(errbuf, errsize, "disk '%s': cannot listen on '%s': %s", mi->vdev, mi->sock,
			 strerror(-mi->lfd));
		return mi->lfd;
	}
	r = -pthread_create(&mi->thread, NULL, mirror_main, mi);
	if (r < 0)
		return r;
	mi->thread_started = true;
	r = qmp_command(d->qmp, "blockdev-add",
			json_pack("{s:s,s:s,s:{s:s,s:s}}", "driver", "nbd", "node-name", mi->job,
				  "server", "type", "unix", "path", mi->sock),
			NULL, &qerr, ATTACH_TIMEOUT_MS);
	mi->node_added = r == 0;
	snprintf(drive, sizeof(drive), "disk%d", idx);
	/* migration_bandwidth caps each disk's copy as it caps the memory's.
	 * write-blocking: guest writes go to both sides before they complete,
	 * so a guest that writes faster than the copy runs cannot keep the
	 * mirror from getting in sync. */
	if (r == 0)
		r = qmp_command(d->qmp, "blockdev-mirror",
				json_pack("{s:s,s:s,s:s,s:s,s:b,s:I,s:s}", "job-id", mi->job, "device",
					  drive, "target", mi->job, "sync", "full", "auto-dismiss", 0,
					  "speed",
					  (json_int_t)daemon_state.conf.migration_bandwidth_mib << 20,
					  "copy-mode",
					  daemon_state.conf.migration_write_blocking ? "write-blocking"
										   : "background"),
				NULL, &qerr, QMP_TIMEOUT_MS);
	mi->job_started = r == 0;
	if (r < 0)
		snprintf(errbuf, errsize, "disk '%s': cannot start copying it: %s", mi->vdev,
			 mi->err[0] ? mi->err : qerr ? qerr : strerror(-r));
	return r;
}

int migdisk_start(struct domain *d, json_t *answer, const char *token, migdisk_connect_fn connect,
		  void *ctx, struct migdisk **ret, char *errbuf, size_t errsize)
{
	struct migdisk *m;
	const char *vdev;
	json_t *how;
	int r = 0;

	*ret = NULL;
	m = calloc(1, sizeof(*m));
	if (!m || !(m->v = calloc(json_object_size(answer) + 1, sizeof(*m->v)))) {
		free(m);
		return -ENOMEM;
	}
	*m = (struct migdisk){ .d = d, .token = token, .connect = connect, .ctx = ctx, .v = m->v };
	pthread_mutex_init(&m->lock, NULL);
	json_object_foreach(answer, vdev, how) {
		struct mirror *mi = &m->v[m->n];

		if (!streq(json_string_value(how), "copy"))
			continue;
		*mi = (struct mirror){ .m = m, .lfd = -1, .ufd = -1, .tfd = -1 };
		m->n++;
		mi->vdev = strdup(vdev);
		mi->job = strprintf("mig-%s", vdev);
		mi->sock = strprintf("%s/mig-%s.sock", d->run_dir, vdev);
		r = mi->vdev && mi->job && mi->sock ? mirror_start(mi, errbuf, errsize) : -ENOMEM;
		if (r < 0)
			break;
	}
	if (r < 0 || m->n == 0) {
		migdisk_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

/* QEMU's job MI as in query-jobs (a new reference), or NULL if it is gone. */
static json_t *job_info(struct mirror *mi, json_t *jobs)
{
	json_t *j;
	size_t i;

	json_array_foreach(jobs, i, j)
		if (streq(json_string_value(json_object_get(j, "id")), mi->job))
			return json_incref(j);
	return NULL;
}

static json_t *query_jobs(struct migdisk *m)
{
	json_t *jobs = NULL;
	if (qmp_command(m->d->qmp, "query-jobs", NULL, &jobs, NULL, QMP_TIMEOUT_MS) < 0)
		return NULL;
	return jobs;
}

/* Wait until every job's status is WANT ("ready" or "concluded"), looking
 * every POLL_US. A job that concludes with an error (or vanishes) while
 * waiting fails it. */
static int wait_jobs(struct migdisk *m, const char *want, int timeout_ms, useconds_t poll_us,
		     char *errbuf, size_t errsize)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;

	while (now_ms() < deadline) {
		_cleanup_json_ json_t *jobs = query_jobs(m);
		size_t done = 0;

		if (!jobs) {
			snprintf(errbuf, errsize, "lost the device model");
			return -EPIPE;
		}
		for (size_t i = 0; i < m->n; i++) {
			_cleanup_json_ json_t *j = job_info(&m->v[i], jobs);
			const char *st = json_string_value(json_object_get(j, "status"));
			const char *err = json_string_value(json_object_get(j, "error"));

			if (!j || err || (streq(st, "concluded") && !streq(want, "concluded"))) {
				snprintf(errbuf, errsize, "disk '%s': copy failed: %s", m->v[i].vdev,
					 m->v[i].err[0] ? m->v[i].err : err ? err : "job ended");
				return -EIO;
			}
			done += streq(st, want);
		}
		if (done == m->n)
			return 0;
		usleep(poll_us);
	}
	snprintf(errbuf, errsize, "disk copy timed out");
	return -ETIMEDOUT;
}

int migdisk_wait_ready(struct migdisk *m, char *errbuf, size_t errsize)
{
	return m ? wait_jobs(m, "ready", -1, 50000, errbuf, errsize) : 0;
}

void migdisk_progress(struct migdisk *m, uint64_t *ret_done, uint64_t *ret_total)
{
	_cleanup_json_ json_t *jobs = m ? query_jobs(m) : NULL;

	*ret_done = *ret_total = 0;
	for (size_t i = 0; jobs && i < m->n; i++) {
		_cleanup_json_ json_t *j = job_info(&m->v[i], jobs);
		*ret_done += (uint64_t)json_integer_value(json_object_get(j, "current-progress"));
		*ret_total += (uint64_t)json_integer_value(json_object_get(j, "total-progress"));
	}
}

int migdisk_finish(struct migdisk *m, char *errbuf, size_t errsize)
{
	int r = 0;

	if (!m)
		return 0;
	for (size_t i = 0; r == 0 && i < m->n; i++) {
		_cleanup_free_ char *qerr = NULL;
		r = qmp_command(m->d->qmp, "block-job-cancel", json_pack("{s:s}", "device", m->v[i].job),
				NULL, &qerr, QMP_TIMEOUT_MS);
		if (r < 0)
			snprintf(errbuf, errsize, "disk '%s': cannot end its copy: %s", m->v[i].vdev,
				 qerr ? qerr : strerror(-r));
	}
	return r < 0 ? r : wait_jobs(m, "concluded", JOB_END_TIMEOUT_MS, 2000, errbuf, errsize);
}

/* Stop MI's job (forcibly if it still runs), its node and its relay. */
static void mirror_stop(struct mirror *mi)
{
	struct qmp *q = mi->m->d->qmp;

	if (mi->job_started) {
		qmp_command(q, "block-job-cancel", json_pack("{s:s,s:b}", "device", mi->job, "force", 1),
			    NULL, NULL, QMP_TIMEOUT_MS);
		for (int i = 0; i < 200; i++) {
			_cleanup_json_ json_t *jobs = query_jobs(mi->m);
			_cleanup_json_ json_t *j = jobs ? job_info(mi, jobs) : NULL;
			if (!j || streq(json_string_value(json_object_get(j, "status")), "concluded"))
				break;
			usleep(50000);
		}
		qmp_command(q, "job-dismiss", json_pack("{s:s}", "id", mi->job), NULL, NULL,
			    QMP_TIMEOUT_MS);
	}
	if (mi->node_added)
		qmp_command(q, "blockdev-del", json_pack("{s:s}", "node-name", mi->job), NULL, NULL,
			    QMP_TIMEOUT_MS);
	pthread_mutex_lock(&mi->m->lock);
	mi->stopping = true;
	if (mi->lfd >= 0)
		shutdown(mi->lfd, SHUT_RDWR);
	if (mi->ufd >= 0)
		shutdown(mi->ufd, SHUT_RDWR);
	if (mi->tfd >= 0)
		shutdown(mi->tfd, SHUT_RDWR);
	pthread_mutex_unlock(&mi->m->lock);
	if (mi->thread_started)
		pthread_join(mi->thread, NULL);
}

void migdisk_free(struct migdisk *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		struct mirror *mi = &m->v[i];

		mirror_stop(mi);
		tlschan_free(mi->t);
		if (mi->ufd >= 0)
			close(mi->ufd);
		if (mi->tfd >= 0)
			close(mi->tfd);
		if (mi->lfd >= 0)
			close(mi->lfd);
		if (mi->sock)
			unlink(mi->sock);
		free(mi->vdev);
		free(mi->job);
		free(mi->sock);
	}
	pthread_mutex_destroy(&m->lock);
	free(m->v);
	free(m);
}

/* ---- target ---- */

/* Connect to disk VDEV's server of the incoming domain NAME, waiting for
 * the domain and its server to come up while WANTED(CTX). */
static int connect_incoming(const char *name, const char *vdev, bool (*wanted)(void *ctx),
			    void *ctx, char *errbuf, size_t errsize)
{
	uint64_t deadline = now_ms() + SERVER_WAIT_MS;

	while (now_ms() < deadline && wanted(ctx)) {
		struct domain *d = domain_lookup(name);
		_cleanup_free_ char *sock = d ? strprintf("%s/" QEMU_DISK_SOCK_FMT, d->run_dir, vdev)
					      : NULL;
		int fd = sock ? unix_connect(sock) : -ENOENT;

		if (d)
			domain_unref(d);
		if (fd >= 0)
			return fd;
		usleep(5000);
	}
	snprintf(errbuf, errsize, "disk '%s' of %s is not served here", vdev, name);
	return -ETIMEDOUT;
}

void migdisk_bridge(struct tlschan *t, int fd, const char *name, const char *vdev,
		    bool (*wanted)(void *ctx), void *ctx)
{
	char errbuf[256];
	int ufd = connect_incoming(name, vdev, wanted, ctx, errbuf, sizeof(errbuf));
	json_t *reply = ufd >= 0 ? json_pack("{s:b}", "ok", 1) : json_pack("{s:s}", "error", errbuf);

	if (tlschan_send_json(t, reply) == 0 && ufd >= 0)
		relay(t, fd, ufd);
	json_decref(reply);
	if (ufd >= 0)
		close(ufd);
	else
		log_err("incoming migration: %s", errbuf);
}
