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
#include <unistd.h>

#define QMP_TIMEOUT_MS 10000
#define MIGRATION_TIMEOUT_MS (10 * 60 * 1000)

/* Poll query-migrate until the migration is over. Returns 0 when it
 * completed, -EIO with QEMU's error text in ERRBUF when it failed. */
static int wait_migration(struct domain *d, const char *what, char *errbuf, size_t errsize)
{
	uint64_t deadline = now_ms() + MIGRATION_TIMEOUT_MS;

	while (now_ms() < deadline) {
		_cleanup_json_ json_t *info = NULL;
		const char *status;
		int r = qmp_command(d->qmp, "query-migrate", NULL, &info, NULL, QMP_TIMEOUT_MS);

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
		usleep(20000);
	}
	snprintf(errbuf, errsize, "%s timed out", what);
	return -ETIMEDOUT;
}

/* The config to store: CFG or D's, with generated MACs written in so the
 * restored guest keeps its NICs wherever it is restored. */
static char *config_text(struct domain *d, const struct domcfg *cfg)
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
	}
	if (!j)
		return NULL;
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

static int write_hashed(int fd, struct savefile_hash *h, const void *buf, size_t len)
{
	int r = write_all(fd, buf, len);
	return r < 0 ? r : savefile_hash_update(h, buf, len);
}

/* Copy the migration stream from PIPE_FD into FD until QEMU closes it. */
static int copy_stream(int pipe_fd, int fd, struct savefile_hash *h, uint64_t *ret_len)
{
	_cleanup_free_ char *buf = malloc(1 << 20);
	uint64_t total = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(pipe_fd, buf, 1 << 20);
		int r;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		r = write_hashed(fd, h, buf, (size_t)n);
		if (r < 0)
			return r;
		total += (size_t)n;
	}
	*ret_len = total;
	return 0;
}

/* Write the whole save file into FD (an empty temp file). */
static int write_save(struct domain *d, int fd, const char *text, char *errbuf, size_t errsize)
{
	uint8_t hdr[SAVEFILE_HEADER_SIZE], tr[SAVEFILE_TRAILER_SIZE], sha[32];
	struct savefile_hash *h = NULL;
	_cleanup_free_ char *qerr = NULL;
	uint64_t stream_len = 0;
	int p[2], r;

	r = savefile_hash_new(&h);
	if (r < 0)
		return r;
	savefile_header_encode(strlen(text), hdr);
	r = write_hashed(fd, h, hdr, sizeof(hdr));
	if (r == 0)
		r = write_hashed(fd, h, text, strlen(text));
	if (r == 0 && pipe2(p, O_CLOEXEC) < 0)
		r = -errno;
	if (r < 0) {
		savefile_hash_finish(h, sha);
		snprintf(errbuf, errsize, "cannot write the save file: %s", strerror(-r));
		return r;
	}
	/* QEMU's default migration bandwidth cap (32 MiB/s) is for networks. */
	qmp_command(d->qmp, "migrate-set-parameters",
		    json_pack("{s:I}", "max-bandwidth", (json_int_t)1 << 40), NULL, NULL, QMP_TIMEOUT_MS);
	r = qmp_command_fd(d->qmp, "getfd", json_pack("{s:s}", "fdname", "domus-save"), p[1], NULL,
			   &qerr, QMP_TIMEOUT_MS);
	close(p[1]);
	if (r == 0)
		r = qmp_command(d->qmp, "migrate", json_pack("{s:s}", "uri", "fd:domus-save"), NULL,
				&qerr, QMP_TIMEOUT_MS);
	if (r == 0)
		r = copy_stream(p[0], fd, h, &stream_len);
	close(p[0]);
	savefile_hash_finish(h, sha);
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot save: %s", qerr ? qerr : strerror(-r));
		return r;
	}
	r = wait_migration(d, "saving the domain's state", errbuf, errsize);
	if (r < 0)
		return r;
	savefile_trailer_encode(stream_len, sha, tr);
	r = write_all(fd, tr, sizeof(tr));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0)
		snprintf(errbuf, errsize, "cannot write the save file: %s", strerror(-r));
	return r;
}

int domain_save(struct domain *d, const char *path, const struct domcfg *cfg,
		enum save_after after, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *tmp = strprintf("%s.tmp", path);
	_cleanup_free_ char *text = config_text(d, cfg);
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
		return domain_destroy(d, errbuf, errsize);
	case SAVE_LEAVE_RUNNING:
		return domain_pause(d, false, errbuf, errsize);
	case SAVE_LEAVE_PAUSED:
		return domain_pause(d, true, errbuf, errsize);
	}
	return 0;
}

struct feeder {
	int src, dst;
	uint64_t off, len;
	int result;
};

static void *feeder_main(void *arg)
{
	struct feeder *f = arg;
	_cleanup_free_ char *buf = malloc(1 << 20);
	uint64_t done = 0;

	f->result = buf ? 0 : -ENOMEM;
	while (f->result == 0 && done < f->len) {
		size_t want = f->len - done > (1 << 20) ? (1 << 20) : (size_t)(f->len - done);
		ssize_t n = pread(f->src, buf, want, (off_t)(f->off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			f->result = n < 0 ? -errno : -EIO;
		else
			f->result = write_all(f->dst, buf, (size_t)n);
		done += n > 0 ? (size_t)n : 0;
	}
	close(f->dst);
	return NULL;
}

int save_receive(struct domain *d, int fd, uint64_t off, uint64_t len, char *errbuf,
		 size_t errsize)
{
	struct feeder f = { .src = fd, .off = off, .len = len };
	_cleanup_free_ char *qerr = NULL;
	pthread_t t;
	int p[2], r;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	f.dst = p[1];
	r = -pthread_create(&t, NULL, feeder_main, &f);
	if (r < 0) {
		close(p[0]);
		close(p[1]);
		return r;
	}
	r = qmp_command_fd(d->qmp, "getfd", json_pack("{s:s}", "fdname", "domus-restore"), p[0],
			   NULL, &qerr, QMP_TIMEOUT_MS);
	close(p[0]);
	if (r == 0)
		r = qmp_command(d->qmp, "migrate-incoming", json_pack("{s:s}", "uri", "fd:domus-restore"),
				NULL, &qerr, QMP_TIMEOUT_MS);
	if (r < 0)
		snprintf(errbuf, errsize, "cannot load the saved state: %s", qerr ? qerr : strerror(-r));
	else
		r = wait_migration(d, "loading the saved state", errbuf, errsize);
	/* The device model holds the pipe's read end; on failure it is gone
	 * with it (the caller kills QEMU), so the feeder always finishes. */
	if (r < 0)
		kill(d->pid, SIGKILL);
	pthread_join(t, NULL);
	return r;
}

int domain_restore(const char *path, struct domcfg *cfg, bool paused, struct domain **ret_dom,
		   char *errbuf, size_t errsize)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *config = NULL;
	_cleanup_json_ json_t *warnings = NULL;
	struct domain_create_args a = { .config_path = path, .paused = paused };
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
	a.cfg = cfg;
	a.incoming_fd = fd;
	a.incoming_off = off;
	a.incoming_len = len;
	r = domain_create(&a, ret_dom, &warnings, errbuf, errsize);
	if (r == 0)
		log_info("domain %s (%d) restored from '%s'", (*ret_dom)->name, (*ret_dom)->domid, path);
	return r;
}
