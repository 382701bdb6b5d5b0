/* save.c - save and restore domains through QEMU's migration stream.
 *
 * Save: the stream goes from QEMU into a pipe (passed with QMP getfd and
 * `migrate fd:`), and the daemon writes it after a header and the config,
 * hashing as it goes, then a trailer with the length and SHA-256. Restore:
 * the file is checked whole first; then a new paused QEMU with -incoming
 * defer reads the stream from a pipe fed by a thread.
 */
#include "daemon/save.h"
#include "daemon/daemon.h"
#include "daemon/hotplug.h"
#include "daemon/savefile.h"
#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/log.h"
#include "common/util.h"
#include "qemu/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QMP_TIMEOUT_MS 10000
#define MIGRATION_TIMEOUT_MS (10 * 60 * 1000)
#define WAIT_POLL_MS 100

/* QEMU tells of each state of the migration about to start with a
 * MIGRATION event (domain.c keeps the last in D->migration_status). */
static void migration_events_on(struct domain *d)
{
	pthread_mutex_lock(&d->lock);
	d->migration_status[0] = '\0';
	pthread_mutex_unlock(&d->lock);
	qmp_command(d->qmp, "migrate-set-capabilities",
		    json_pack("{s:[{s:s,s:b}]}", "capabilities", "capability", "events", "state", 1),
		    NULL, NULL, QMP_TIMEOUT_MS);
}

static bool migration_over(const char *status)
{
	return streq(status, "completed") || streq(status, "failed") || streq(status, "cancelled");
}

/* Wait until the migration is over (or TIMEOUT_MS, < 0: none): woken by
 * QEMU's event when it ends, and asking query-migrate then and every
 * WAIT_POLL_MS (QEMU may have died). No polling every few milliseconds:
 * that would keep QEMU's main loop busy while it migrates. Returns 0 when
 * it completed, -EIO with QEMU's error text in ERRBUF when it failed. */
static int wait_migration(struct domain *d, const char *what, int timeout_ms, char *errbuf,
			  size_t errsize)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;

	while (now_ms() < deadline) {
		_cleanup_json_ json_t *info = NULL;
		const char *status;
		struct timespec ts;
		int r;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WAIT_POLL_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&d->lock);
		if (!migration_over(d->migration_status) && !qmp_closed(d->qmp))
			pthread_cond_timedwait(&d->migration_cond, &d->lock, &ts);
		pthread_mutex_unlock(&d->lock);
		r = qmp_command(d->qmp, "query-migrate", NULL, &info, NULL, QMP_TIMEOUT_MS);

		if (r < 0) {
			snprintf(errbuf, errsize, "%s: lost the device model: %s", what, strerror(-r));
			return r;
		}
		status = json_string_value(json_object_get(info, "status"));
		if (streq(status, "completed"))
			return 0;
		if (streq(status, "failed") || streq(status, "cancelled")) {
			const char *desc = json_string_value(json_object_get(info, "error-desc"));
			snprintf(errbuf, errsize, "%s failed: %s", what, desc ? desc : status);
			return -EIO;
		}
	}
	snprintf(errbuf, errsize, "%s timed out", what);
	return -ETIMEDOUT;
}

/* The config to store: CFG or D's, with generated MACs written in so the
 * restored guest keeps its NICs wherever it is restored. */
char *save_config_text(struct domain *d, const struct domcfg *cfg)
{
	_cleanup_json_ json_t *j = NULL;
	json_t *vifs, *vif;
	size_t i;

	if (cfg) {
		j = domcfg_to_json(cfg);
	} else {
		pthread_mutex_lock(&d->lock);
		j = json_deep_copy(d->cfg_json);
		pthread_mutex_unlock(&d->lock);
		/* NICs attached or detached: as they are now (save_claim). */
		if (j && domain_nic_carry(d, j) < 0)
			return NULL;
	}
	if (!j)
		return NULL;
	/* The domain keeps its UUID wherever it is restored or migrated to
	 * (as Xen's does), unless the config given names another. */
	if (!json_is_string(json_object_get(j, "uuid")) && d->uuid && *d->uuid)
		json_object_set_new(j, "uuid", json_string(d->uuid));
	vifs = json_object_get(j, "vifs");
	json_array_foreach(vifs, i, vif) {
		if (json_is_null(json_object_get(vif, "mac")) || !json_object_get(vif, "mac")) {
			_cleanup_free_ char *mac = domain_stable_mac(
				json_string_value(json_object_get(j, "name")), i);
			if (!mac)
				return NULL;
			json_object_set_new(vif, "mac", json_string(mac));
		}
	}
	return json_dumps(j, JSON_COMPACT);
}

/* The first QEMU whose TCG marks pages dirty after a bitmap sync. */
#define QEMU_TCG_DIRTY_SYNC_FIXED 90000

bool migration_one_pass(struct domain *d)
{
	return daemon_state.conf.accel == ACCEL_TCG &&
	       qmp_qemu_version(d->qmp) < QEMU_TCG_DIRTY_SYNC_FIXED;
}

int save_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	return 0;
}

static int write_hashed(int fd, struct savefile_hash *h, const void *buf, size_t len)
{
	int r = write_all(fd, buf, len);
	return r < 0 ? r : savefile_hash_update(h, buf, len);
}

/* QEMU's names for the stream fds it is given. */
#define FD_OUT "domus-out"
#define FD_IN "domus-incoming"

static int give_fd(struct domain *d, int fd, bool incoming, char **qerr)
{
	migration_events_on(d);
	return qmp_command_fd(d->qmp, "getfd", json_pack("{s:s}", "fdname", incoming ? FD_IN : FD_OUT),
			      fd, NULL, qerr, QMP_TIMEOUT_MS);
}

int save_give_fd(struct domain *d, int fd, bool incoming, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *qerr = NULL;
	int r = give_fd(d, fd, incoming, &qerr);

	if (r < 0)
		snprintf(errbuf, errsize, "cannot give QEMU the migration stream: %s",
			 qerr ? qerr : strerror(-r));
	return r;
}

void save_drop_fd(struct domain *d)
{
	qmp_command(d->qmp, "closefd", json_pack("{s:s}", "fdname", FD_OUT), NULL, NULL,
		    QMP_TIMEOUT_MS);
}

/* Hand FD to D's QEMU (FD < 0: already given) and start its migration
 * into it. */
static int start_migration(struct domain *d, int fd, char **qerr)
{
	int r = fd >= 0 ? give_fd(d, fd, false, qerr) : 0;

	if (r == 0)
		r = qmp_command(d->qmp, "migrate", json_pack("{s:s}", "uri", "fd:" FD_OUT), NULL,
				qerr, QMP_TIMEOUT_MS);
	return r;
}

int save_stream_fd(struct domain *d, int fd, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *qerr = NULL;
	int r = start_migration(d, fd, &qerr);

	if (r < 0) {
		snprintf(errbuf, errsize, "cannot send the domain's state: %s",
			 qerr ? qerr : strerror(-r));
		return r;
	}
	r = wait_migration(d, "sending the domain's state", MIGRATION_TIMEOUT_MS, errbuf, errsize);
	if (r < 0)
		qmp_command(d->qmp, "migrate_cancel", NULL, NULL, NULL, QMP_TIMEOUT_MS);
	return r;
}

int save_stream(struct domain *d, int (*write)(void *ctx, const void *buf, size_t len),
		void *ctx, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *qerr = NULL;
	_cleanup_free_ char *buf = malloc(1 << 20);
	int p[2], r;

	if (!buf)
		return -ENOMEM;
	r = save_pipe(p);
	if (r < 0)
		return r;
	r = start_migration(d, p[1], &qerr);
	close(p[1]);
	/* Copy until QEMU closes its end: the stream is complete, or failed. */
	while (r == 0) {
		ssize_t n = read(p[0], buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		r = write(ctx, buf, (size_t)n);
	}
	close(p[0]);
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot send the domain's state: %s",
			 qerr ? qerr : strerror(-r));
		qmp_command(d->qmp, "migrate_cancel", NULL, NULL, NULL, QMP_TIMEOUT_MS);
		return r;
	}
	return wait_migration(d, "sending the domain's state", MIGRATION_TIMEOUT_MS, errbuf, errsize);
}

struct file_sink {
	int fd;
	struct savefile_hash *h;
	uint64_t len;
};

static int file_sink_write(void *ctx, const void *buf, size_t len)
{
	struct file_sink *s = ctx;
	s->len += len;
	return write_hashed(s->fd, s->h, buf, len);
}

/* Write the whole save file into FD (an empty temp file). */
static int write_save(struct domain *d, int fd, const char *text, char *errbuf, size_t errsize)
{
	uint8_t hdr[SAVEFILE_HEADER_SIZE], tr[SAVEFILE_TRAILER_SIZE], sha[32];
	struct file_sink sink = { .fd = fd };
	int r;

	r = savefile_hash_new(&sink.h);
	if (r < 0)
		return r;
	savefile_header_encode(strlen(text), hdr);
	r = write_hashed(fd, sink.h, hdr, sizeof(hdr));
	if (r == 0)
		r = write_hashed(fd, sink.h, text, strlen(text));
	if (r < 0)
		snprintf(errbuf, errsize, "cannot write the save file: %s", strerror(-r));
	/* QEMU's default migration bandwidth cap (32 MiB/s) is for networks;
	 * a file is not encrypted (a failed migration may have left TLS on);
	 * QEMU's default downtime, or one pass (migration_one_pass()). */
	if (r == 0)
		qmp_command(d->qmp, "migrate-set-parameters",
			    json_pack("{s:I,s:s,s:I}", "max-bandwidth", (json_int_t)1 << 40, "tls-creds", "",
				      "downtime-limit", (json_int_t)(migration_one_pass(d) ? 0 : 300)),
			    NULL, NULL, QMP_TIMEOUT_MS);
	if (r == 0)
		r = save_stream(d, file_sink_write, &sink, errbuf, errsize);
	savefile_hash_finish(sink.h, sha);
	if (r < 0)
		return r;
	savefile_trailer_encode(sink.len, sha, tr);
	r = write_all(fd, tr, sizeof(tr));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0)
		snprintf(errbuf, errsize, "cannot write the save file: %s", strerror(-r));
	return r;
}

int save_claim(struct domain *d, const char *what, const struct domcfg *cfg, char *errbuf,
	       size_t errsize)
{
	int r;

	if (domain_nics_changed(d) && (cfg || d->cfg->type == DOM_TYPE_HVM)) {
		snprintf(errbuf, errsize, "domain %s had NICs attached or detached since it started; "
			 "its %s %s", d->name, what,
			 cfg ? "carries them as they are, and cannot take another config"
			     : "cannot carry them on an HVM domain (put its NICs back as its config "
			       "has them)");
		return -EOPNOTSUPP;
	}
	pthread_mutex_lock(&d->lock);
	r = d->migrating ? -EBUSY : 0;
	d->migrating = true;
	pthread_mutex_unlock(&d->lock);
	if (r < 0)
		snprintf(errbuf, errsize, "domain %s is already being saved or migrated", d->name);
	return r;
}

void save_release(struct domain *d)
{
	pthread_mutex_lock(&d->lock);
	d->migrating = false;
	pthread_mutex_unlock(&d->lock);
}

static int save_claimed(struct domain *d, const char *path, const struct domcfg *cfg,
			enum save_after after, char *errbuf, size_t errsize);

int domain_save(struct domain *d, const char *path, const struct domcfg *cfg,
		enum save_after after, char *errbuf, size_t errsize)
{
	int r = save_claim(d, "save", cfg, errbuf, errsize);

	if (r < 0)
		return r;
	r = save_claimed(d, path, cfg, after, errbuf, errsize);
	save_release(d);
	return r;
}

static int save_claimed(struct domain *d, const char *path, const struct domcfg *cfg,
			enum save_after after, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *tmp = strprintf("%s.tmp", path);
	_cleanup_free_ char *text = save_config_text(d, cfg);
	_cleanup_close_ int fd = -1;
	int r;

	if (!tmp || !text)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errsize, "cannot create '%s': %s", tmp, strerror(-r));
		return r;
	}
	r = write_save(d, fd, text, errbuf, errsize);
	if (r == 0 && rename(tmp, path) < 0) {
		r = -errno;
		snprintf(errbuf, errsize, "cannot rename '%s' to '%s': %s", tmp, path, strerror(-r));
	}
	if (r < 0) {
		unlink(tmp);
		/* The migration stopped the guest; a failed save leaves it as it was. */
		qmp_command(d->qmp, "cont", NULL, NULL, NULL, QMP_TIMEOUT_MS);
		return r;
	}
	log_info("domain %s (%d) saved to '%s'", d->name, d->domid, path);
	switch (after) {
	case SAVE_DESTROY:
		return domain_destroy_stopped(d, errbuf, errsize);
	case SAVE_LEAVE_RUNNING:
		return domain_pause(d, false, errbuf, errsize);
	case SAVE_LEAVE_PAUSED:
		return domain_pause(d, true, errbuf, errsize);
	}
	return 0;
}

/* A thread copying a byte range of a file into a pipe QEMU reads. */
struct feeder {
	int src, dst, pipe_rd;
	uint64_t off, len;
	pthread_t thread;
};

static void *feeder_main(void *arg)
{
	struct feeder *f = arg;
	_cleanup_free_ char *buf = malloc(1 << 20);
	uint64_t done = 0;
	int r = buf ? 0 : -ENOMEM;

	while (r == 0 && done < f->len) {
		size_t want = f->len - done > (1 << 20) ? (1 << 20) : (size_t)(f->len - done);
		ssize_t n = pread(f->src, buf, want, (off_t)(f->off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		r = write_all(f->dst, buf, (size_t)n);
		done += (size_t)n;
	}
	close(f->dst);
	return NULL;
}

static int feeder_start(struct feeder *f, int src, uint64_t off, uint64_t len)
{
	int p[2], r;

	r = save_pipe(p);
	if (r < 0)
		return r;
	*f = (struct feeder){ .src = src, .dst = p[1], .pipe_rd = p[0], .off = off, .len = len };
	r = -pthread_create(&f->thread, NULL, feeder_main, f);
	if (r < 0) {
		close(p[0]);
		close(p[1]);
	}
	return r;
}

/* Close our read end (so a feeder whose reader is gone gets EPIPE) and
 * wait for the thread. */
static void feeder_finish(struct feeder *f)
{
	close(f->pipe_rd);
	pthread_join(f->thread, NULL);
}

int save_receive(struct domain *d, int fd, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *qerr = NULL;
	int r;

	r = fd >= 0 ? give_fd(d, fd, true, &qerr) : 0;
	if (r == 0)
		r = qmp_command(d->qmp, "migrate-incoming", json_pack("{s:s}", "uri", "fd:" FD_IN),
				NULL, &qerr, QMP_TIMEOUT_MS);
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot load the saved state: %s", qerr ? qerr : strerror(-r));
		return r;
	}
	/* No time limit: the stream's writer ends it (a migration's source may
	 * copy its disks for long before sending the memory), and a cut stream
	 * fails it. */
	return wait_migration(d, "loading the domain's state", -1, errbuf, errsize);
}

int domain_restore(const char *path, struct domcfg *cfg, bool paused, struct domain **ret_dom,
		   char *errbuf, size_t errsize)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *config = NULL;
	_cleanup_json_ json_t *warnings = NULL;
	struct domain_create_args a = { .config_path = path, .paused = paused };
	struct feeder f;
	uint64_t off, len;
	int r;

	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errsize, "cannot open '%s': %s", path, strerror(-r));
		domcfg_free(cfg);
		return r;
	}
	r = savefile_verify(fd, &config, &off, &len, errbuf, errsize);
	if (r == 0 && !cfg) {
		_cleanup_json_ json_t *j = json_loads(config, 0, NULL);
		if (!j || domcfg_from_json(j, &cfg) < 0) {
			snprintf(errbuf, errsize, "save file '%s' holds an unreadable configuration", path);
			r = -EINVAL;
		}
	}
	if (r < 0) {
		domcfg_free(cfg);
		return r;
	}
	r = feeder_start(&f, fd, off, len);
	if (r < 0) {
		domcfg_free(cfg);
		return r;
	}
	a.cfg = cfg;
	a.incoming_fd = f.pipe_rd;
	r = domain_create(&a, ret_dom, &warnings, errbuf, errsize);
	feeder_finish(&f);
	if (r == 0)
		log_info("domain %s (%d) restored from '%s'", (*ret_dom)->name, (*ret_dom)->domid, path);
	return r;
}
