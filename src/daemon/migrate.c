/* migrate.c - live migration between Domus hosts.
 *
 * The source daemon connects to the target's relocation service (TCP,
 * mutual TLS, source address checked against relocation_hosts_allow) and:
 *   1. sends "begin" with the VM's config and its LV disks; the target
 *      checks them (name, disks, kernel, bridges), answers "ok" with, per
 *      disk, "shared" or "copy" (it created the LV) and a token for the
 *      disk connections, and starts the domain paused, waiting for its
 *      state, under the temporary name NAME--incoming, while the source
 *      already sends (the start of the stream waits in the connection and
 *      a pipe); a domain that cannot start there ends the connection with
 *      its reason;
 *   2. copies the "copy" disks with QEMU's mirror through extra
 *      connections ("op": "disk", migdisk.h) until they are in sync;
 *   3. has its QEMU send the memory: "direct" (over TLS channels), QEMU
 *      to QEMU with QEMU's own TLS on a second connection to the same
 *      service, which opens with STREAM_MAGIC and the token and waits
 *      for the target's STREAM_READY byte (its QEMU is up and about to
 *      take the stream) before the source's QEMU begins; else (ssh)
 *      through the channel in frames (u32 length, data) that the target
 *      feeds to its QEMU. With disks, QEMU pauses before the switch-over,
 *      the mirrors end in sync, and only then the stream completes. A
 *      zero-length frame on the channel then ends the stream;
 *   4. the target answers "complete" once its QEMU holds the whole state:
 *      the point of no return. The source sends "commit" and destroys its
 *      copy; the target resumes the domain and renames it. A target that
 *      gets no commit keeps the domain paused (the source may have
 *      resumed its own when "complete" was lost) and says so in its log.
 * Before step 4 any failure (refusal, target gone, network cut, missing
 * disk or bridge) cancels the migration, resumes the source and leaves
 * nothing on the target (the LVs it created are removed).
 */
#include "daemon/migrate.h"
#include "daemon/daemon.h"
#include "daemon/lvdisk.h"
#include "daemon/migdisk.h"
#include "daemon/save.h"
#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/log.h"
#include "common/util.h"
#include "qemu/qmp.h"
#include "relocation/tlschan.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QMP_TIMEOUT_MS 10000
#define TLS_TIMEOUT_MS 10000
#define FRAME_MAX (4u << 20)
#define UNFRAME_BUF (256u << 10)
#define REASON_TIMEOUT_MS 2000

/* A direct stream connection opens with STREAM_MAGIC and the migration's
 * token (32 hex digits); the target answers STREAM_READY; then QEMU's TLS
 * begins. */
#define STREAM_MAGIC "DOMUSMIG"
#define STREAM_HELLO_LEN (8 + 32)
/* The target's answer on that connection once its QEMU is about to read
 * the stream; the source waits at most STREAM_READY_TIMEOUT_MS for it. */
#define STREAM_READY '\x01'
#define STREAM_READY_TIMEOUT_MS 60000
#define QEMU_TLS_ID "domus-migration-tls"

static struct tlschan_creds *relocation_creds;
static pthread_mutex_t creds_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- QEMU's own TLS, for direct streams ---- */

/* RUN_DIR/migration-tls: the relocation certificate under the names QEMU's
 * tls-creds-x509 looks for; it serves as client and as server. */
static char *qemu_tls_dir(void)
{
	static const char *const names[][2] = {
		{ "ca-cert.pem", "ca-cert.pem" },    { "server-cert.pem", "cert.pem" },
		{ "server-key.pem", "key.pem" },     { "client-cert.pem", "cert.pem" },
		{ "client-key.pem", "key.pem" },
	};
	char *dir = strprintf("%s/migration-tls", daemon_state.paths.run_dir);
	int r = 0;

	if (!dir)
		return NULL;
	pthread_mutex_lock(&creds_lock);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		r = -errno;
	for (size_t i = 0; r == 0 && i < sizeof(names) / sizeof(names[0]); i++) {
		_cleanup_free_ char *link = strprintf("%s/%s", dir, names[i][0]);
		_cleanup_free_ char *tmp = strprintf("%s/.%s", dir, names[i][0]);
		_cleanup_free_ char *to = strprintf("%s/%s", daemon_state.conf.relocation_tls_dir,
						    names[i][1]);
		char cur[4096];
		ssize_t n;

		if (!link || !tmp || !to) {
			r = -ENOMEM;
			break;
		}
		n = readlink(link, cur, sizeof(cur) - 1);
		if (n >= 0 && (cur[n] = '\0', streq(cur, to)))
			continue;
		/* Replaced whole: a QEMU reading the other links is not disturbed. */
		unlink(tmp);
		if (symlink(to, tmp) < 0 || rename(tmp, link) < 0)
			r = -errno;
	}
	if (r == 0) {
		/* Without it QEMU's server generates DH parameters: a second. */
		_cleanup_free_ char *dh = strprintf("%s/dh-params.pem", dir);
		r = !dh ? -ENOMEM : access(dh, R_OK) == 0 ? 0 : tlschan_write_dh_params(dh);
	}
	pthread_mutex_unlock(&creds_lock);
	if (r < 0) {
		log_err("cannot prepare %s for QEMU's TLS: %s", dir, strerror(-r));
		free(dir);
		return NULL;
	}
	return dir;
}

/* Give D's QEMU the relocation credentials and turn TLS on for its
 * outgoing migration, checking the target's certificate against HOSTNAME.
 * (A target's QEMU starts with its server credentials.) */
static int qemu_tls_on(struct domain *d, const char *hostname, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *dir = qemu_tls_dir();
	_cleanup_free_ char *qerr = NULL;
	int r;

	if (!dir) {
		snprintf(errbuf, errsize, "cannot prepare the TLS credentials for QEMU");
		return -EIO;
	}
	/* A source may have migrated before, with older files; a domain that
	 * migrated in holds its server credentials. */
	qmp_command(d->qmp, "object-del", json_pack("{s:s}", "id", QEMU_TLS_ID), NULL, NULL,
		    QMP_TIMEOUT_MS);
	r = qmp_command(d->qmp, "object-add",
			json_pack("{s:s,s:s,s:s,s:s,s:b}", "qom-type", "tls-creds-x509", "id",
				  QEMU_TLS_ID, "endpoint", "client", "dir", dir,
				  "verify-peer", 1),
			NULL, &qerr, QMP_TIMEOUT_MS);
	if (r == 0)
		r = qmp_command(d->qmp, "migrate-set-parameters",
				json_pack("{s:s,s:s}", "tls-creds", QEMU_TLS_ID, "tls-hostname",
					  hostname),
				NULL, &qerr, QMP_TIMEOUT_MS);
	if (r < 0)
		snprintf(errbuf, errsize, "cannot give QEMU the TLS credentials: %s",
			 qerr ? qerr : strerror(-r));
	return r;
}

/* Migrations of D without TLS from now on (save, relay, ssh). */
static void qemu_tls_off(struct domain *d)
{
	qmp_command(d->qmp, "migrate-set-parameters",
		    json_pack("{s:s,s:s}", "tls-creds", "", "tls-hostname", ""), NULL, NULL,
		    QMP_TIMEOUT_MS);
}

/* A stream socket: sent as written, and a peer that vanishes without a
 * word (cut network) is noticed within about 20 s. Its buffers are
 * migration_stream_buffer_kib: what they hold when QEMU stops the guest
 * must still cross and be loaded before the target resumes it, and the
 * kernel grows them to MiBs on a fast link (tens of ms of pause). */
static void stream_socket_options(int fd)
{
	int one = 1, idle = 5, intvl = 2, cnt = 3;
	int buf = (int)daemon_state.conf.migration_stream_buffer_kib << 10;
	unsigned tmo = 20000;

	if (buf) {
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	}

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &tmo, sizeof(tmo));
}

/* ---- framing of the migration stream ---- */

static int frame_sink(void *ctx, const void *buf, size_t len)
{
	return tlschan_write_msg(ctx, buf, (uint32_t)len);
}

static json_t *reply_or_error(struct tlschan *t, char *errbuf, size_t errsize, const char *what)
{
	json_t *msg = NULL;
	int r = tlschan_recv_json(t, &msg);

	if (r < 0) {
		snprintf(errbuf, errsize, "%s: the target hung up (%s)", what, strerror(-r));
		return NULL;
	}
	if (json_object_get(msg, "error")) {
		snprintf(errbuf, errsize, "%s: the target refused: %s", what,
			 json_string_value(json_object_get(msg, "error")) ?: "?");
		json_decref(msg);
		return NULL;
	}
	return msg;
}

/* ---- source ---- */

static int connect_host(const char *spec, int *ret_fd, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *host = strdup(spec);
	char port[16];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char *colon;
	int fd = -1, r;

	if (!host)
		return -ENOMEM;
	colon = strrchr(host, ':');
	if (colon && !strchr(colon, ']')) {
		*colon = '\0';
		snprintf(port, sizeof(port), "%s", colon + 1);
	} else {
		snprintf(port, sizeof(port), "%d", RELOCATION_DEFAULT_PORT);
	}
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		snprintf(errbuf, errsize, "cannot resolve '%s': %s", spec, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r = fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0 ? -errno : 0;
	freeaddrinfo(res);
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot reach the relocation service at '%s': %s", spec,
			 strerror(-r));
		if (fd >= 0)
			close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* ---- progress, and the switch-over of the disks ---- */

/* An outgoing migration as it goes: a thread samples QEMU every
 * PROGRESS_MS into D->migration (shown by `list -l`) and, when QEMU pauses
 * before the switch-over (pause-before-switchover, with disks to copy),
 * ends the disk copies and lets the migration complete. */
struct progress {
	struct domain *d;
	const char *target;
	struct migdisk *md;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started, stop, switched;
	const char *phase;
	char switch_err[512];
	uint64_t t0, t_sample, t_disks, disk_ready_ms, disk_done, disk_total;
	uint64_t disk_size;       /* of the disks to copy */
	unsigned downtime_ms;     /* QEMU's downtime-limit now (downtime_step()) */
	bool one_pass;            /* migration_one_pass(): downtime-limit 0, no steps */
};

/* Sampling period; shorter while the memory is sent, so that the
 * pre-switchover pause (the guest is stopped) is seen at once. */
#define PROGRESS_MS 200
#define PROGRESS_SWITCH_MS 10

static void set_pause_before_switchover(struct domain *d, bool on)
{
	qmp_command(d->qmp, "migrate-set-capabilities",
		    json_pack("{s:[{s:s,s:b}]}", "capabilities", "capability",
			      "pause-before-switchover", "state", on),
		    NULL, NULL, QMP_TIMEOUT_MS);
}

static void progress_set_phase(struct progress *pg, const char *phase, struct migdisk *md)
{
	pthread_mutex_lock(&pg->lock);
	pg->phase = phase;
	pg->md = md;
	pthread_mutex_unlock(&pg->lock);
}

/* The guest is stopped: complete the disk copies, then the memory's. */
static void switch_over(struct progress *pg)
{
	_cleanup_free_ char *qerr = NULL;
	char err[512] = "";
	uint64_t t = now_ms();
	int r = migdisk_finish(pg->md, err, sizeof(err));

	if (r == 0)
		log_info("domain %s: disk copies complete %llu ms after the guest stopped",
			 pg->d->name, (unsigned long long)(now_ms() - t));
	if (r == 0) {
		r = qmp_command(pg->d->qmp, "migrate-continue",
				json_pack("{s:s}", "state", "pre-switchover"), NULL, &qerr,
				QMP_TIMEOUT_MS);
		if (r < 0)
			snprintf(err, sizeof(err), "cannot complete the migration: %s",
				 qerr ? qerr : strerror(-r));
	}
	pthread_mutex_lock(&pg->lock);
	pg->switched = r == 0;
	snprintf(pg->switch_err, sizeof(pg->switch_err), "%s", err);
	pthread_mutex_unlock(&pg->lock);
	if (r < 0)
		qmp_command(pg->d->qmp, "migrate_cancel", NULL, NULL, NULL, QMP_TIMEOUT_MS);
}

/* The downtime QEMU may take for the switch-over at SYNCS syncs of its
 * dirty bitmap (QEMU's dirty-sync-count: 1 during the first pass over the
 * memory, 2 when it checks whether it can switch over after it, then one
 * more per pass): DOWNTIME_FIRST_MS, doubled at each sync after the
 * second, up to migration_max_downtime_ms. A guest that dirties little
 * goes over with a short pause; one that dirties much gets the longer
 * pause it needs a few passes later (as OpenStack's downtime steps do). */
#define DOWNTIME_FIRST_MS 50
static unsigned downtime_step(int64_t syncs)
{
	unsigned max = daemon_state.conf.migration_max_downtime_ms, v = DOWNTIME_FIRST_MS;

	for (int64_t i = 2; i < syncs && v < max; i++)
		v *= 2;
	return v < max ? v : max;
}

/* QEMU's downtime-limit for PG at SYNCS syncs: downtime_step(), or 0 for a
 * one-pass migration (migration_one_pass()). */
static unsigned downtime_limit(const struct progress *pg, int64_t syncs)
{
	return pg->one_pass ? 0 : downtime_step(syncs);
}

/* One sample of the migration's progress; handles the pre-switchover pause.
 * While the memory is sent with disks, QEMU's status is looked at every
 * PROGRESS_SWITCH_MS but the rest is sampled every PROGRESS_MS. */
static void progress_sample(struct progress *pg, const char *phase, struct migdisk *md)
{
	_cleanup_json_ json_t *info = NULL;
	uint64_t done = 0, total = 0;
	unsigned limit;
	json_t *p, *ram;

	if (!streq(phase, "copying disks") &&
	    qmp_command(pg->d->qmp, "query-migrate", NULL, &info, NULL, QMP_TIMEOUT_MS) == 0 &&
	    md && streq(json_string_value(json_object_get(info, "status")), "pre-switchover")) {
		progress_set_phase(pg, phase = "switching over", md);
		switch_over(pg);
	} else if (now_ms() - pg->t_sample < PROGRESS_MS) {
		return;
	}
	pg->t_sample = now_ms();
	ram = json_object_get(info, "ram");
	limit = downtime_limit(pg, json_integer_value(json_object_get(ram, "dirty-sync-count")));
	if (info && limit != pg->downtime_ms) {
		pg->downtime_ms = limit;
		qmp_command(pg->d->qmp, "migrate-set-parameters",
			    json_pack("{s:I}", "downtime-limit", (json_int_t)pg->downtime_ms), NULL, NULL,
			    QMP_TIMEOUT_MS);
	}
	if (md)
		migdisk_progress(md, &done, &total);
	p = json_pack("{s:s,s:s,s:I}", "phase", phase, "target", pg->target, "elapsed_ms",
		      (json_int_t)(now_ms() - pg->t0));
	if (p && ram)
		json_object_set_new(p, "memory",
				    json_pack("{s:O*,s:O*,s:O*,s:O*}", "transferred",
					      json_object_get(ram, "transferred"), "remaining",
					      json_object_get(ram, "remaining"), "total",
					      json_object_get(ram, "total"), "rate_mbps",
					      json_object_get(ram, "mbps")));
	pthread_mutex_lock(&pg->lock);
	if (total) {
		pg->disk_done = done;
		pg->disk_total = total;
	}
	if (p && pg->md)
		json_object_set_new(p, "disks", json_pack("{s:I,s:I}", "copied",
							  (json_int_t)pg->disk_done, "total",
							  (json_int_t)pg->disk_total));
	pthread_mutex_unlock(&pg->lock);
	pthread_mutex_lock(&pg->d->lock);
	json_decref(pg->d->migration);
	pg->d->migration = p;
	pthread_mutex_unlock(&pg->d->lock);
}

static void *progress_main(void *arg)
{
	struct progress *pg = arg;

	pthread_mutex_lock(&pg->lock);
	while (!pg->stop) {
		const char *phase = pg->phase;
		struct migdisk *md = pg->md;
		struct timespec ts;

		pthread_mutex_unlock(&pg->lock);
		progress_sample(pg, phase, md);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (streq(phase, "copying memory") && md ? PROGRESS_SWITCH_MS : PROGRESS_MS) *
			      1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&pg->lock);
		if (!pg->stop)
			pthread_cond_timedwait(&pg->cond, &pg->lock, &ts);
	}
	pthread_mutex_unlock(&pg->lock);
	return NULL;
}

static int progress_start(struct progress *pg)
{
	pthread_mutex_init(&pg->lock, NULL);
	pthread_cond_init(&pg->cond, NULL);
	pg->t0 = now_ms();
	pg->phase = "preparing";
	pg->started = pthread_create(&pg->thread, NULL, progress_main, pg) == 0;
	return pg->started ? 0 : -ENOMEM;
}

/* Stop sampling, end the disk copies (cancelled if unfinished) and clear
 * the domain's progress. */
static void progress_stop(struct progress *pg)
{
	if (!pg->started)
		return;
	pthread_mutex_lock(&pg->lock);
	pg->stop = true;
	pthread_cond_signal(&pg->cond);
	pthread_mutex_unlock(&pg->lock);
	pthread_join(pg->thread, NULL);
	pg->started = false;
	migdisk_free(pg->md);
	pthread_mutex_lock(&pg->d->lock);
	json_decref(pg->d->migration);
	pg->d->migration = NULL;
	pthread_mutex_unlock(&pg->d->lock);
	pthread_mutex_destroy(&pg->lock);
	pthread_cond_destroy(&pg->cond);
}

static void set_migration_parameters(struct progress *pg, bool copying_disks)
{
	struct domain *d = pg->d;
	json_t *p;

	pg->downtime_ms = downtime_limit(pg, 1);
	p = json_pack("{s:s,s:I,s:I}", "tls-creds", "", "downtime-limit", (json_int_t)pg->downtime_ms,
		      "max-bandwidth",
			      (json_int_t)(daemon_state.conf.migration_bandwidth_mib
						   ? (uint64_t)daemon_state.conf.migration_bandwidth_mib << 20
						   : (uint64_t)1 << 40));
	qmp_command(d->qmp, "migrate-set-parameters", p, NULL, NULL, QMP_TIMEOUT_MS);
	set_pause_before_switchover(d, copying_disks);
}

static json_t *migration_stats(struct domain *d)
{
	json_t *info = NULL, *out;
	if (qmp_command(d->qmp, "query-migrate", NULL, &info, NULL, QMP_TIMEOUT_MS) < 0)
		return json_object();
	out = json_pack("{s:O*,s:O*,s:O*}", "qemu_total_ms", json_object_get(info, "total-time"),
			"qemu_downtime_ms", json_object_get(info, "downtime"), "ram",
			json_object_get(info, "ram"));
	json_decref(info);
	return out ? out : json_object();
}

/* Where a migration goes: the relocation service of HOST[:PORT] over TLS,
 * or, with SSHCMD (xl's -s), `domus migrate-receive` on HOST run through
 * it: "SSHCMD HOST domus migrate-receive", or just HOST when SSHCMD is "". */
struct target {
	const char *host;
	const char *sshcmd;
};

static void *reap_main(void *arg)
{
	waitpid((pid_t)(intptr_t)arg, NULL, 0);
	return NULL;
}

/* Run the ssh command with a socket as its stdin and stdout: a plain
 * channel (ssh authenticates and encrypts). Its stderr goes to
 * RUN_DIR/migrate-ssh.log. */
static int connect_ssh(const struct target *tg, int *ret_fd, struct tlschan **ret, char *errbuf,
		       size_t errsize)
{
	_cleanup_free_ char *cmd = *tg->sshcmd
		? strprintf("%s %s domus migrate-receive", tg->sshcmd, tg->host) : strdup(tg->host);
	_cleanup_free_ char *log = strprintf("%s/migrate-ssh.log", daemon_state.paths.run_dir);
	pthread_t th;
	int sv[2], r;
	pid_t pid;

	if (!cmd || !log)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		int err = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		dup2(sv[1], STDIN_FILENO);
		dup2(sv[1], STDOUT_FILENO);
		if (err >= 0)
			dup2(err, STDERR_FILENO);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	r = pid < 0 ? -errno : 0;
	close(sv[1]);
	if (r == 0 && pthread_create(&th, NULL, reap_main, (void *)(intptr_t)pid) == 0)
		pthread_detach(th);
	if (r == 0)
		r = tlschan_plain(sv[0], ret);
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot run '%s': %s", cmd, strerror(-r));
		close(sv[0]);
		return r;
	}
	*ret_fd = sv[0];
	return 0;
}

/* Open a new channel to the migration's target (CTX: a struct target). */
static int connect_target(void *ctx, int *ret_fd, struct tlschan **ret, char *errbuf,
			  size_t errsize)
{
	const struct target *tg = ctx;
	int fd = -1, r;

	if (tg->sshcmd)
		return connect_ssh(tg, ret_fd, ret, errbuf, errsize);
	r = connect_host(tg->host, &fd, errbuf, errsize);

	if (r == 0)
		r = tlschan_open(fd, relocation_creds, false, TLS_TIMEOUT_MS, ret, errbuf, errsize);
	if (r < 0 && fd >= 0)
		close(fd);
	if (r == 0)
		*ret_fd = fd;
	return r;
}

/* Send "begin" (with D's LV disks) and read the target's answer; adds the
 * size of the disks to copy to *RET_COPY_SIZE. */
static int begin_migration(struct domain *d, struct tlschan *t, const struct target *tg, bool live,
			   const struct domcfg *cfg, json_t **ret_reply, uint64_t *ret_copy_size,
			   char *errbuf, size_t errsize)
{
	_cleanup_free_ char *text = save_config_text(d, cfg);
	_cleanup_json_ json_t *config = text ? json_loads(text, 0, NULL) : NULL;
	_cleanup_json_ json_t *disks = NULL;
	json_t *begin, *desc;
	size_t i;
	int r;

	if (!config)
		return -ENOMEM;
	r = migdisk_describe(d, &disks, errbuf, errsize);
	if (r < 0)
		return r;
	/* "direct": QEMU may send the memory itself, with its own TLS, over a
	 * connection of its own (not through ssh); "stream_ready": we wait
	 * for STREAM_READY on it (a target that does not answer "stream_ready"
	 * sends none). */
	begin = json_pack("{s:s,s:s,s:O,s:b,s:O,s:b,s:b}", "op", "begin", "name", d->name, "config",
			  config, "live", live, "disks", disks, "direct",
			  !tg->sshcmd && !daemon_state.conf.migration_relayed, "stream_ready", 1);
	r = begin ? tlschan_send_json(t, begin) : -ENOMEM;
	json_decref(begin);
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot talk to the target: %s", strerror(-r));
		return r;
	}
	*ret_reply = reply_or_error(t, errbuf, errsize, "migration refused");
	if (!*ret_reply)
		return -ECONNREFUSED;
	json_array_foreach(disks, i, desc) {
		json_t *how = json_object_get(json_object_get(*ret_reply, "disks"),
					      json_string_value(json_object_get(desc, "vdev")) ?: "");
		if (streq(json_string_value(how), "copy"))
			*ret_copy_size += (uint64_t)json_integer_value(json_object_get(desc, "size"));
	}
	return 0;
}

/* Copy the disks the target asked for (REPLY's "disks") until in sync. */
static int copy_disks(struct progress *pg, json_t *reply, struct target *tg, char *errbuf,
		      size_t errsize)
{
	const char *token = json_string_value(json_object_get(reply, "token"));
	struct migdisk *md = NULL;
	int r;

	r = migdisk_start(pg->d, json_object_get(reply, "disks"), token ? token : "",
			  connect_target, tg, &md, errbuf, errsize);
	if (r < 0 || !md)
		return r;
	progress_set_phase(pg, "copying disks", md);
	pg->t_disks = now_ms();
	r = migdisk_wait_ready(md, errbuf, errsize);
	pg->disk_ready_ms = now_ms() - pg->t_disks;
	return r;
}

/* Wait on the stream connection FD for the target's STREAM_READY. QEMU
 * runs the TLS handshake in its main loop, holding its big lock, and makes
 * the sockets it is given blocking: begun before the target's QEMU reads,
 * the handshake would wait there and freeze the guest meanwhile (~200 ms
 * while the target starts its QEMU). */
static int stream_wait_ready(int fd, char *errbuf, size_t errsize)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c = 0;
	int n;

	do
		n = poll(&pfd, 1, STREAM_READY_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		snprintf(errbuf, errsize, "the target did not take the stream within %d s",
			 STREAM_READY_TIMEOUT_MS / 1000);
		return -ETIMEDOUT;
	}
	n = n < 0 ? -1 : (int)recv(fd, &c, 1, 0);
	if (n == 1 && c == STREAM_READY)
		return 0;
	snprintf(errbuf, errsize, "the target closed the stream");
	return -EPIPE;
}

/* QEMU sends its stream itself, with its own TLS, on a new connection to
 * the target's relocation service that opens with the migration's TOKEN;
 * WAIT_READY: the target answers it with STREAM_READY first. */
static int send_direct(struct domain *d, struct tlschan *t, const struct target *tg,
		       const char *token, bool wait_ready, char *errbuf, size_t errsize)
{
	char hello[STREAM_HELLO_LEN + 1], name[256];
	int fd = -1, r;

	if (tlschan_peer_hostname(t, name, sizeof(name)) < 0) {
		snprintf(errbuf, errsize, "the target's certificate names no host QEMU could check");
		return -EACCES;
	}
	if (strlen(token) != STREAM_HELLO_LEN - strlen(STREAM_MAGIC)) {
		snprintf(errbuf, errsize, "the target sent a malformed token");
		return -EPROTO;
	}
	snprintf(hello, sizeof(hello), "%s%s", STREAM_MAGIC, token);
	r = connect_host(tg->host, &fd, errbuf, errsize);
	if (r < 0)
		return r;
	stream_socket_options(fd);
	r = write_all(fd, hello, STREAM_HELLO_LEN);
	if (r < 0)
		snprintf(errbuf, errsize, "cannot open the stream to the target: %s", strerror(-r));
	if (r == 0)  /* while the target's QEMU starts */
		r = qemu_tls_on(d, name, errbuf, errsize);
	if (r == 0)
		r = save_give_fd(d, fd, false, errbuf, errsize);
	/* QEMU has made the socket blocking; poll() still tells when to read. */
	if (r == 0 && wait_ready && (r = stream_wait_ready(fd, errbuf, errsize)) < 0)
		save_drop_fd(d);
	if (r == 0)
		r = save_stream_fd(d, -1, errbuf, errsize);
	close(fd);
	return r;
}

/* Run the memory stream (DIRECT: QEMU to QEMU, else through T in frames);
 * with disks, the progress thread ends their copy at the pre-switchover
 * pause. 0 once QEMU completed it. */
static int send_memory(struct progress *pg, struct tlschan *t, const struct target *tg,
		       json_t *reply, char *errbuf, size_t errsize)
{
	bool direct = json_is_true(json_object_get(reply, "direct"));
	int r;

	progress_set_phase(pg, "copying memory", pg->md);
	if (direct)
		r = send_direct(pg->d, t, tg, json_string_value(json_object_get(reply, "token")) ?: "",
				json_is_true(json_object_get(reply, "stream_ready")), errbuf, errsize);
	else
		r = save_stream(pg->d, frame_sink, t, errbuf, errsize);
	if (r == -EPIPE || r == -ECONNRESET || (r < 0 && direct)) {
		/* The target cut the stream: it says why before it hangs up. */
		_cleanup_json_ json_t *why = NULL;
		tlschan_set_timeout(t, REASON_TIMEOUT_MS);
		if (tlschan_wait(t, -1, REASON_TIMEOUT_MS) > 0 && tlschan_recv_json(t, &why) == 0 &&
		    json_object_get(why, "error"))
			snprintf(errbuf, errsize, "the target gave up: %s",
				 json_string_value(json_object_get(why, "error")) ?: "?");
	}
	pthread_mutex_lock(&pg->lock);
	if (pg->md && (r < 0 || !pg->switched) && pg->switch_err[0]) {
		snprintf(errbuf, errsize, "%s", pg->switch_err);
		r = r < 0 ? r : -EIO;
	} else if (r == 0 && pg->md && !pg->switched) {
		snprintf(errbuf, errsize, "the disks were not switched over");
		r = -EIO;
	}
	pthread_mutex_unlock(&pg->lock);
	return r;
}

static json_t *final_report(struct progress *pg, json_t *stats, uint64_t t0, uint64_t t_stream_end,
			    uint64_t t_resumed)
{
	json_int_t switchover = (json_int_t)(t_resumed - t_stream_end);
	json_int_t qemu_down = json_integer_value(json_object_get(stats, "qemu_downtime_ms"));
	uint64_t done;
	json_t *rep;

	pthread_mutex_lock(&pg->lock);
	done = pg->disk_done;
	pthread_mutex_unlock(&pg->lock);
	rep = json_pack("{s:I,s:I,s:I,s:O}", "total_ms", (json_int_t)(now_ms() - t0),
			"switchover_ms", switchover, "downtime_ms", qemu_down + switchover, "qemu",
			stats);
	if (rep && pg->md)
		json_object_set_new(rep, "disks",
				    json_pack("{s:I,s:I,s:I}", "size", (json_int_t)pg->disk_size,
					      "copied", (json_int_t)done, "sync_ms",
					      (json_int_t)pg->disk_ready_ms));
	return rep;
}

static int migrate_over(struct domain *d, struct tlschan *t, struct target *tg, bool live,
			const struct domcfg *cfg, json_t **ret_report, char *errbuf, size_t errsize)
{
	_cleanup_json_ json_t *reply = NULL, *stats = NULL;
	struct progress pg = { .d = d, .target = tg->host, .one_pass = migration_one_pass(d) };
	uint64_t t0 = now_ms(), t_stream_end, t_resumed;
	bool was_running = d->state == DOM_RUNNING, direct;
	char ignore[256];
	int r;

	r = begin_migration(d, t, tg, live, cfg, &reply, &pg.disk_size, errbuf, errsize);
	if (r < 0)
		return r;
	direct = json_is_true(json_object_get(reply, "direct"));
	r = progress_start(&pg);
	if (r == 0)
		r = copy_disks(&pg, reply, tg, errbuf, errsize);
	if (r == 0) {
		set_migration_parameters(&pg, pg.md != NULL);
		if (!live && was_running)
			domain_pause(d, true, ignore, sizeof(ignore));
		r = send_memory(&pg, t, tg, reply, errbuf, errsize);
	}
	/* The stream's end frame only once the disks are complete too. */
	if (r == 0)
		r = tlschan_write_msg(t, NULL, 0);
	t_stream_end = now_ms();
	json_decref(reply);
	reply = NULL;
	if (r == 0 && !(reply = reply_or_error(t, errbuf, errsize, "the target did not take the domain")))
		r = -EIO;
	if (r < 0) {
		/* Before the point of no return: the source carries on. */
		progress_stop(&pg);
		qmp_command(d->qmp, "migrate_cancel", NULL, NULL, NULL, QMP_TIMEOUT_MS);
		set_pause_before_switchover(d, false);
		qemu_tls_off(d);
		if (was_running)
			qmp_command(d->qmp, "cont", NULL, NULL, NULL, QMP_TIMEOUT_MS);
		return r;
	}
	/* The target holds a complete copy: it owns the domain from now on.
	 * Our QEMU is stopped (post-migrate), so commit first (the guest's
	 * downtime ends when the target resumes) and clean up after. */
	json_t *commit = json_pack("{s:s}", "op", "commit");
	if (tlschan_send_json(t, commit) == 0) {
		json_decref(reply);
		reply = reply_or_error(t, ignore, sizeof(ignore), "commit");
	}
	json_decref(commit);
	t_resumed = now_ms();
	if (reply) {
		uint64_t ago = (uint64_t)json_integer_value(json_object_get(reply, "resumed_ms_ago"));
		if (ago < t_resumed - t_stream_end)
			t_resumed -= ago;
	}
	stats = migration_stats(d);
	progress_stop(&pg);
	*ret_report = final_report(&pg, stats, t0, t_stream_end, t_resumed);
	if (*ret_report) {
		json_object_set_new(*ret_report, "stream", json_string(direct ? "direct" : "relayed"));
		json_object_set_new(*ret_report, "precopy",
				    json_string(pg.one_pass ? "one pass" : "iterative"));
	}
	domain_destroy_stopped(d, ignore, sizeof(ignore));
	return 0;
}

int domain_migrate(struct domain *d, const char *host, const char *sshcmd, bool live,
		   const struct domcfg *cfg, json_t **ret_report, char *errbuf, size_t errsize)
{
	struct target tg = { .host = host, .sshcmd = sshcmd };
	struct tlschan *t = NULL;
	int fd = -1;
	int r = 0;

	pthread_mutex_lock(&creds_lock);
	if (!sshcmd && !relocation_creds)
		r = tlschan_creds_load(daemon_state.conf.relocation_tls_dir, &relocation_creds);
	pthread_mutex_unlock(&creds_lock);
	if (r < 0) {
		snprintf(errbuf, errsize, "no TLS credentials in '%s' (ca-cert.pem, cert.pem, key.pem)",
			 daemon_state.conf.relocation_tls_dir);
		return r;
	}
	r = save_claim(d, "migration", cfg, errbuf, errsize);
	if (r < 0)
		return r;
	r = connect_target(&tg, &fd, &t, errbuf, errsize);
	if (r == 0)
		r = migrate_over(d, t, &tg, live, cfg, ret_report, errbuf, errsize);
	if (r < 0 && sshcmd) {
		size_t len = strlen(errbuf);
		snprintf(errbuf + len, errsize - len, " (what the ssh command said is in %s/migrate-ssh.log)",
			 daemon_state.paths.run_dir);
	}
	tlschan_free(t);
	if (fd >= 0)
		close(fd);
	save_release(d);
	if (r == 0)
		log_info("domain %s migrated to %s", d->name, host);
	else
		log_err("migration of %s to %s failed: %s", d->name, host, errbuf);
	return r;
}

/* ---- target ---- */

/* Incoming migrations under way, for their disk and stream connections:
 * each has a random token (sent to the source in the "ok" answer) that
 * such a connection must present, the incoming domain's name, and which
 * disks to copy. */
struct incoming {
	char token[33];
	char *name;               /* "NAME--incoming" */
	json_t *answer;           /* {vdev: "copy"|"shared"} */
	int stream_fd;            /* its direct stream's connection, once it came */
	bool ended;               /* the source sent its end frame, or went away */
	struct incoming *next;
};

static struct incoming *incomings;
static pthread_mutex_t incomings_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t incomings_cond = PTHREAD_COND_INITIALIZER;


struct unframer {
	struct tlschan *t;
	struct incoming *in;
	bool direct;              /* QEMU receives the stream: only the end frame comes */
	bool ready;               /* direct, and the source waits for STREAM_READY */
	int stop;                 /* an eventfd: stop reading (the channel is kept) */
	int dst;
	int result;
	pthread_t thread;
	const char *peer;
	uint64_t t0, t_shown, received;
	pthread_mutex_t lock;
	struct domain *d;         /* once started: its progress is shown */
};

/* Count N more bytes received and show the incoming domain's progress
 * (`list -l` on the target), every PROGRESS_MS at most or at once with
 * FORCE. */
static void unframer_progress(struct unframer *u, size_t n, bool force)
{
	json_t *p = NULL;

	pthread_mutex_lock(&u->lock);
	u->received += n;
	if (u->d && (force || now_ms() - u->t_shown >= PROGRESS_MS)) {
		u->t_shown = now_ms();
		p = json_pack("{s:s,s:s,s:I,s:{s:I}}", "phase", "receiving", "source", u->peer,
			      "elapsed_ms", (json_int_t)(now_ms() - u->t0), "memory", "received",
			      (json_int_t)u->received);
	}
	if (p) {
		pthread_mutex_lock(&u->d->lock);
		json_decref(u->d->migration);
		u->d->migration = p;
		pthread_mutex_unlock(&u->d->lock);
	}
	pthread_mutex_unlock(&u->lock);
}

/* Show progress on D from now on (NULL: no longer, and clear it). */
static void unframer_set_domain(struct unframer *u, struct domain *d)
{
	pthread_mutex_lock(&u->lock);
	if (!d && u->d) {
		pthread_mutex_lock(&u->d->lock);
		json_decref(u->d->migration);
		u->d->migration = NULL;
		pthread_mutex_unlock(&u->d->lock);
	}
	u->d = d;
	pthread_mutex_unlock(&u->lock);
	if (d)
		unframer_progress(u, 0, true);
}

/* Bytes come so far on IN's direct stream (the kernel counts them). */
static uint64_t stream_received(struct incoming *in)
{
	struct tcp_info ti = { 0 };
	socklen_t len = sizeof(ti);
	uint64_t n = 0;

	pthread_mutex_lock(&incomings_lock);
	if (in->stream_fd >= 0 && getsockopt(in->stream_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
		n = ti.tcpi_bytes_received;
	pthread_mutex_unlock(&incomings_lock);
	return n;
}

/* Shut IN's direct stream down, if it came: QEMU's load fails at once, and
 * so does the source's sending. */
static void stream_cut(struct incoming *in)
{
	pthread_mutex_lock(&incomings_lock);
	if (in->stream_fd >= 0)
		shutdown(in->stream_fd, SHUT_RDWR);
	pthread_mutex_unlock(&incomings_lock);
}

/* A direct stream: the channel carries only the end frame. Wait for it,
 * showing the stream's progress meanwhile. */
static int watch_direct(struct unframer *u)
{
	uint64_t shown = 0;
	uint8_t hdr[4];
	int r;

	while ((r = tlschan_wait(u->t, u->stop, PROGRESS_MS)) == 0) {
		uint64_t n = stream_received(u->in);
		if (n > shown)
			unframer_progress(u, (size_t)(n - shown), false);
		shown = n > shown ? n : shown;
	}
	if (r > 0)
		r = tlschan_read_full(u->t, hdr, 4);
	if (r == 0 && (hdr[0] | hdr[1] | hdr[2] | hdr[3]))
		r = -EPROTO;
	return r;
}

/* Copy frames from the source into the pipe QEMU reads, until the empty
 * frame; each piece goes on as soon as it arrives. With a direct stream,
 * only wait for the end frame; if the source goes away instead, cut the
 * stream. Either way, say that the source is done. */
static void *unframer_main(void *arg)
{
	struct unframer *u = arg;
	_cleanup_free_ char *buf = u->direct ? NULL : malloc(UNFRAME_BUF);

	u->result = u->direct ? watch_direct(u) : buf ? 0 : -ENOMEM;
	while (!u->direct && u->result == 0) {
		uint8_t hdr[4];
		uint32_t len;
		u->result = tlschan_wait(u->t, u->stop, -1);
		if (u->result >= 0)
			u->result = tlschan_read_full(u->t, hdr, 4);
		if (u->result < 0)
			break;
		len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
		if (len == 0)
			break;
		if (len > FRAME_MAX) {
			u->result = -EMSGSIZE;
			break;
		}
		while (len > 0 && u->result == 0) {
			ssize_t n = tlschan_wait(u->t, u->stop, -1);
			if (n >= 0)
				n = tlschan_read(u->t, buf, len < UNFRAME_BUF ? len : UNFRAME_BUF);
			if (n <= 0) {
				u->result = n < 0 ? (int)n : -EPIPE;
				break;
			}
			u->result = write_all(u->dst, buf, (size_t)n);
			len -= (uint32_t)n;
			unframer_progress(u, (size_t)n, false);
		}
	}
	if (u->dst >= 0)
		close(u->dst);
	if (u->result < 0)
		stream_cut(u->in);
	pthread_mutex_lock(&incomings_lock);
	u->in->ended = true;
	pthread_cond_broadcast(&incomings_cond);
	pthread_mutex_unlock(&incomings_lock);
	return NULL;
}

/* Wait for IN's direct stream to come, or for its source to give up. */
static int stream_wait(struct incoming *in, int *ret_fd, char *errbuf, size_t errsize)
{
	pthread_mutex_lock(&incomings_lock);
	while (in->stream_fd < 0 && !in->ended)
		pthread_cond_wait(&incomings_cond, &incomings_lock);
	*ret_fd = in->stream_fd;
	pthread_mutex_unlock(&incomings_lock);
	if (*ret_fd >= 0)
		return 0;
	snprintf(errbuf, errsize, "the source went away before it sent the memory");
	return -EPIPE;
}

/* A connection that opens with STREAM_MAGIC carries the direct stream of
 * the incoming migration whose token follows: hand it over. Returns false
 * if FD is not such a connection (nothing read from it); true if it was
 * (FD taken, or closed when it names no migration waiting for one). */
static bool stream_take(int fd, const char *peer)
{
	struct timeval tv = { .tv_sec = TLS_TIMEOUT_MS / 1000 }, none = { 0 };
	char hello[STREAM_HELLO_LEN + 1];
	bool taken = false;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (recv(fd, hello, 1, MSG_PEEK) != 1 || hello[0] != STREAM_MAGIC[0]) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
		return false;  /* TLS: a handshake record begins with 0x16 */
	}
	if (recv(fd, hello, STREAM_HELLO_LEN, MSG_WAITALL) == STREAM_HELLO_LEN &&
	    !memcmp(hello, STREAM_MAGIC, strlen(STREAM_MAGIC))) {
		hello[STREAM_HELLO_LEN] = '\0';
		pthread_mutex_lock(&incomings_lock);
		for (struct incoming *in = incomings; in && !taken; in = in->next)
			if (streq(in->token, hello + strlen(STREAM_MAGIC)) && in->stream_fd < 0 &&
			    !in->ended) {
				setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
				stream_socket_options(fd);
				in->stream_fd = fd;
				taken = true;
				pthread_cond_broadcast(&incomings_cond);
			}
		pthread_mutex_unlock(&incomings_lock);
	}
	if (!taken) {
		log_err("relocation from %s: a stream for no migration waiting for one", peer);
		close(fd);
	}
	return true;
}

static void send_error(struct tlschan *t, const char *msg)
{
	json_t *e = json_pack("{s:s}", "error", msg);
	tlschan_send_json(t, e);
	json_decref(e);
}

static struct incoming *incoming_add(const char *name, json_t *answer)
{
	struct incoming *in = calloc(1, sizeof(*in));
	uint8_t b[16];

	if (!in || getrandom(b, sizeof(b), 0) != sizeof(b) || !(in->name = strdup(name))) {
		free(in);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(in->token + 2 * i, 3, "%02x", b[i]);
	in->answer = json_incref(answer);
	in->stream_fd = -1;
	pthread_mutex_lock(&incomings_lock);
	in->next = incomings;
	incomings = in;
	pthread_mutex_unlock(&incomings_lock);
	return in;
}

static void incoming_remove(struct incoming *in)
{
	if (!in)
		return;
	pthread_mutex_lock(&incomings_lock);
	for (struct incoming **p = &incomings; *p; p = &(*p)->next)
		if (*p == in) {
			*p = in->next;
			break;
		}
	pthread_mutex_unlock(&incomings_lock);
	if (in->stream_fd >= 0)
		close(in->stream_fd);
	free(in->name);
	json_decref(in->answer);
	free(in);
}

/* The incoming domain's name if TOKEN names a migration that copies VDEV. */
static char *incoming_disk(const char *token, const char *vdev)
{
	char *name = NULL;

	pthread_mutex_lock(&incomings_lock);
	for (struct incoming *in = incomings; in && token && vdev; in = in->next)
		if (streq(in->token, token) &&
		    streq(json_string_value(json_object_get(in->answer, vdev)), "copy"))
			name = strdup(in->name);
	pthread_mutex_unlock(&incomings_lock);
	return name;
}

/* The LVs an incoming migration created, journaled in
 * LIB_DIR/migrate-in-NAME.json until it succeeds or they are removed, so
 * that a daemon killed mid-copy removes them when it starts again. */
static char *journal_path(const char *name)
{
	return strprintf("%s/migrate-in-%s.json", daemon_state.paths.lib_dir, name);
}

static int journal_write(const char *name, char **created)
{
	_cleanup_free_ char *path = journal_path(name);
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_t *j = json_array();

	for (size_t i = 0; j && created && created[i]; i++)
		json_array_append_new(j, json_string(created[i]));
	if (!path || !j)
		return -ENOMEM;
	if (json_array_size(j) == 0)
		return 0;
	text = json_dumps(j, JSON_COMPACT);
	return text ? write_file_atomic(path, text, strlen(text), 0600) : -ENOMEM;
}

static void journal_remove(const char *name)
{
	_cleanup_free_ char *path = journal_path(name);
	if (path)
		unlink(path);
}

static bool domain_exists(const char *name)
{
	struct domain *d = domain_lookup(name);
	if (d)
		domain_unref(d);
	return d != NULL;
}

/* At start: remove the LVs of incoming migrations that did not finish (no
 * domain NAME nor NAME--incoming runs here). */
static void recover_incoming(void)
{
	_cleanup_closedir_ DIR *dir = opendir(daemon_state.paths.lib_dir);
	struct dirent *de;

	while (dir && (de = readdir(dir))) {
		_cleanup_free_ char *name = NULL, *tmp = NULL, *path = NULL, *text = NULL;
		_cleanup_json_ json_t *j = NULL;
		char **lvs;
		size_t len = strlen(de->d_name), i;
		json_t *e;

		if (!startswith(de->d_name, "migrate-in-") || len < 17 ||
		    !streq(de->d_name + len - 5, ".json"))
			continue;
		name = strndup(de->d_name + 11, len - 16);
		tmp = name ? strprintf("%s--incoming", name) : NULL;
		path = name ? journal_path(name) : NULL;
		if (!tmp || !path || domain_exists(name) || domain_exists(tmp))
			continue;
		if (read_file(path, 1 << 20, &text, NULL) == 0)
			j = json_loads(text, 0, NULL);
		lvs = calloc(json_array_size(j) + 1, sizeof(char *));
		json_array_foreach(j, i, e)
			if (lvs)
				lvs[i] = strdup(json_string_value(e) ?: "");
		log_info("unfinished incoming migration of %s: removing its logical volumes", name);
		lvdisk_remove_created(lvs);
		unlink(path);
	}
}

/* An incoming migration as the target sees it. */
struct receive {
	struct domain *d;
	char **created;           /* LVs created for it, removed if it fails */
	struct incoming *in;
};

/* Refuse before the source starts sending: name taken, disks (creating
 * the LVs to copy into), kernel, bridges. On success *RET_CFG is the
 * incoming config under its temporary name. */
static int receive_check(struct receive *rc, json_t *begin, struct domcfg **ret_cfg,
			 json_t **ret_answer, char *errbuf, size_t errsize)
{
	const char *name = json_string_value(json_object_get(begin, "name"));
	struct domcfg *cfg = NULL;
	struct domain *existing;
	int r;

	if (!name || !*name || strchr(name, '/') || name[0] == '.' ||
	    domcfg_from_json(json_object_get(begin, "config"), &cfg) < 0) {
		snprintf(errbuf, errsize, "malformed migration request");
		return -EINVAL;
	}
	existing = domain_lookup(name);
	if (existing) {
		domain_unref(existing);
		domcfg_free(cfg);
		snprintf(errbuf, errsize, "a domain called '%s' already exists here", name);
		return -EEXIST;
	}
	r = lvdisk_prepare_incoming(json_object_get(begin, "disks"), ret_answer, &rc->created,
				    errbuf, errsize);
	if (r == 0)
		r = journal_write(name, rc->created);
	if (r == 0)
		r = domain_check(cfg, errbuf, errsize);
	free(cfg->name);
	cfg->name = r == 0 ? strprintf("%s--incoming", name) : NULL;
	if (r == 0 && !cfg->name)
		r = -ENOMEM;
	if (r < 0) {
		domcfg_free(cfg);
		return r;
	}
	*ret_cfg = cfg;
	return 0;
}

/* Answer "ok" (the source starts sending: disks first, if any, then the
 * memory), start the incoming domain into RC->d, paused, while the first
 * of the stream waits in the connection, then load the stream: relayed
 * through T into a pipe, or DIRECT (the source asked for it and T is TLS)
 * on a connection of its own that the source's QEMU opens to ours, with
 * QEMU's TLS. If the domain cannot start, the unframer stops (a direct
 * stream is cut) and the caller sends the reason and closes: the source's
 * sending fails at once and it reads why. */
static int receive_domain(struct tlschan *t, const char *peer, bool tls, json_t *begin,
			  struct receive *rc, char *errbuf, size_t errsize)
{
	struct domcfg *cfg = NULL;
	struct domain_create_args a = { .config_path = "(migration)", .paused = true,
					.incoming_fd = -1, .incoming_later = true };
	struct unframer u = { .t = t, .peer = peer, .t0 = now_ms(), .dst = -1,
			      .direct = tls && json_is_true(json_object_get(begin, "direct")),
			      .lock = PTHREAD_MUTEX_INITIALIZER };
	_cleanup_json_ json_t *answer = NULL;
	json_t *warnings = NULL, *ok;
	_cleanup_free_ char *tls_dir = NULL;
	char ignore[256];
	int p[2] = { -1, -1 }, r, sfd;

	u.ready = u.direct && json_is_true(json_object_get(begin, "stream_ready"));
	r = receive_check(rc, begin, &cfg, &answer, errbuf, errsize);
	if (r < 0)
		return r;
	rc->in = u.in = incoming_add(cfg->name, answer);
	u.stop = eventfd(0, EFD_CLOEXEC);
	/* A direct stream's QEMU starts holding its TLS credentials. */
	tls_dir = u.direct ? qemu_tls_dir() : NULL;
	r = !rc->in || u.stop < 0 ? -ENOMEM : u.direct ? (tls_dir ? 0 : -EIO) : save_pipe(p);
	ok = r == 0 ? json_pack("{s:b,s:O,s:s,s:b,s:b}", "ok", 1, "disks", answer, "token",
				rc->in->token, "direct", u.direct, "stream_ready", u.ready)
		    : NULL;
	if (ok)
		r = tlschan_send_json(t, ok);
	json_decref(ok);
	u.dst = p[1];
	if (r == 0)
		r = -pthread_create(&u.thread, NULL, unframer_main, &u);
	if (r < 0) {
		if (p[0] >= 0) {
			close(p[0]);
			close(p[1]);
		}
		if (u.stop >= 0)
			close(u.stop);
		domcfg_free(cfg);
		snprintf(errbuf, errsize, "cannot start receiving: %s",
			 r == -EIO ? "cannot prepare QEMU's TLS credentials" : strerror(-r));
		return r;
	}
	a.cfg = cfg;
	a.incoming_tls_dir = tls_dir;
	a.incoming_tls_id = QEMU_TLS_ID;
	/* QEMU's start-up (~75 ms of CPU) is on the migration's critical path:
	 * this host's running guests should not delay it. */
	a.nice = -(int)daemon_state.conf.migration_incoming_priority;
	r = domain_create(&a, &rc->d, &warnings, errbuf, errsize);
	json_decref(warnings);
	if (r == 0)
		unframer_set_domain(&u, rc->d);
	if (r == 0 && u.direct) {
		r = stream_wait(rc->in, &sfd, errbuf, errsize);
		/* QEMU holds the connection before the source's QEMU is told to
		 * go: its TLS handshake then finds ours answering. */
		if (r == 0)
			r = save_give_fd(rc->d, sfd, true, errbuf, errsize);
		if (r == 0 && u.ready && send(sfd, &(char){ STREAM_READY }, 1, MSG_NOSIGNAL) != 1) {
			snprintf(errbuf, errsize, "the source's stream connection broke: %s",
				 strerror(errno));
			r = -EPIPE;
		}
		if (r == 0)
			r = save_receive(rc->d, -1, errbuf, errsize);
	} else if (r == 0) {
		r = save_receive(rc->d, p[0], errbuf, errsize);
	}
	/* Its vifs went on their bridges meanwhile: done before we say we hold
	 * a complete domain. */
	if (r == 0)
		r = domain_wait_vifs(rc->d, errbuf, errsize);
	if (r < 0) {
		eventfd_write(u.stop, 1);  /* the unframer stops reading */
		stream_cut(rc->in);
	}
	if (p[0] >= 0)
		close(p[0]);               /* and stops writing */
	pthread_join(u.thread, NULL);
	close(u.stop);
	unframer_set_domain(&u, NULL);
	pthread_mutex_destroy(&u.lock);
	if (r == 0 && u.result < 0) {
		/* QEMU loaded a complete stream but the end marker never came. */
		snprintf(errbuf, errsize, "the migration stream was cut");
		r = -EPIPE;
	}
	if (r < 0 && rc->d) {
		domain_destroy(rc->d, ignore, sizeof(ignore));
		domain_unref(TAKE_PTR(rc->d));
	}
	return r;
}

struct disk_req {
	const char *token, *vdev;
};

static bool disk_wanted(void *ctx)
{
	struct disk_req *q = ctx;
	_cleanup_free_ char *name = incoming_disk(q->token, q->vdev);
	return name != NULL;
}

/* "op": "disk": a copy of a disk of an incoming migration. */
static void serve_disk(struct tlschan *t, int fd, json_t *req, const char *peer)
{
	const char *vdev = json_string_value(json_object_get(req, "vdev"));
	_cleanup_free_ char *name = incoming_disk(json_string_value(json_object_get(req, "token")),
						  vdev);

	if (!name) {
		log_err("relocation from %s: disk request for no migration under way", peer);
		send_error(t, "no such migration or disk");
		return;
	}
	migdisk_bridge(t, fd, name, vdev, disk_wanted,
		       &(struct disk_req){ json_string_value(json_object_get(req, "token")), vdev });
}

/* One request of the relocation protocol on channel T (over FD). */
static void relocation_serve_chan(struct tlschan *t, int fd, const char *peer, bool tls)
{
	_cleanup_json_ json_t *begin = NULL, *commit = NULL;
	struct receive rc = { 0 };
	char errbuf[1024] = "", ignore[256];
	_cleanup_free_ char *final_name = NULL;
	const char *op;
	json_t *msg;
	int r;

	op = tlschan_recv_json(t, &begin) < 0 ? NULL : json_string_value(json_object_get(begin, "op"));
	if (streq(op, "disk")) {
		serve_disk(t, fd, begin, peer);
		return;
	}
	if (!streq(op, "begin")) {
		log_err("relocation from %s: no begin request", peer);
		return;
	}
	final_name = strdup(json_string_value(json_object_get(begin, "name")) ?: "");
	log_info("incoming migration of %s from %s", final_name, peer);
	r = receive_domain(t, peer, tls, begin, &rc, errbuf, sizeof(errbuf));
	incoming_remove(rc.in);
	if (r < 0) {
		log_err("incoming migration of %s from %s failed: %s", final_name, peer, errbuf);
		lvdisk_remove_created(rc.created);
		journal_remove(final_name);
		send_error(t, errbuf);
		return;
	}
	strv_free(rc.created);
	msg = json_pack("{s:b,s:i}", "complete", 1, "domid", rc.d->domid);
	r = tlschan_send_json(t, msg);
	json_decref(msg);
	journal_remove(final_name);
	/* The domain is ours now, but it runs only once the source confirms
	 * it let its copy go: without that word (the connection cut just
	 * now), the source may have resumed its own, so ours stays paused for
	 * the administrator rather than run twice on the same disks. */
	if (r == 0)
		r = tlschan_recv_json(t, &commit);
	if (r == 0 && !streq(json_string_value(json_object_get(commit, "op")), "commit"))
		r = -EPROTO;
	if (r == 0)
		r = domain_pause(rc.d, false, errbuf, sizeof(errbuf));
	else
		snprintf(errbuf, sizeof(errbuf), "no commit from %s: left paused; check that the "
			 "source no longer runs it, then unpause or destroy it here", peer);
	if (domain_rename(rc.d, final_name, ignore, sizeof(ignore)) < 0)
		log_err("incoming migration of %s: cannot rename it: %s", final_name, ignore);
	if (r < 0)
		log_err("incoming migration of %s: %s", final_name, errbuf);
	else
		log_info("domain %s (%d) migrated in from %s", final_name, rc.d->domid, peer);
	/* How long the guest has run again: the rename and the state saved
	 * since are not part of its pause (the source's downtime figure). */
	pthread_mutex_lock(&rc.d->lock);
	msg = json_pack("{s:b,s:I}", "ok", r == 0, "resumed_ms_ago",
			(json_int_t)(r == 0 && rc.d->resumed_at_ms ? now_ms() - rc.d->resumed_at_ms : 0));
	pthread_mutex_unlock(&rc.d->lock);
	tlschan_send_json(t, msg);
	json_decref(msg);
	/* Its later saves and migrations start without TLS (not in the pause). */
	qemu_tls_off(rc.d);
	domain_unref(rc.d);
}

static void relocation_serve(int fd, const char *peer)
{
	struct tlschan *t = NULL;
	char errbuf[256];

	if (tlschan_open(fd, relocation_creds, true, TLS_TIMEOUT_MS, &t, errbuf, sizeof(errbuf)) < 0) {
		log_err("relocation from %s refused: %s", peer, errbuf);
		return;
	}
	relocation_serve_chan(t, fd, peer, true);
	tlschan_free(t);
}

void relocation_serve_local(int fd)
{
	struct tlschan *t = NULL;

	if (tlschan_plain(fd, &t) == 0)
		relocation_serve_chan(t, fd, "ssh", false);
	tlschan_free(t);
}

/* True if ADDR is covered by one of relocation_hosts_allow ("A.B.C.D" or
 * "A.B.C.D/N"; IPv4). */
static bool host_allowed(const struct sockaddr_in *sin)
{
	json_t *entry;
	size_t i;

	json_array_foreach(daemon_state.conf.relocation_hosts_allow, i, entry) {
		_cleanup_free_ char *s = strdup(json_string_value(entry) ?: "");
		char *slash = s ? strchr(s, '/') : NULL;
		unsigned prefix = 32;
		struct in_addr net;
		uint32_t mask;

		if (!s)
			return false;
		if (slash) {
			*slash = '\0';
			prefix = (unsigned)atoi(slash + 1);
		}
		if (prefix > 32 || inet_pton(AF_INET, s, &net) != 1)
			continue;
		mask = prefix == 0 ? 0 : htonl(~0u << (32 - prefix));
		if ((sin->sin_addr.s_addr & mask) == (net.s_addr & mask))
			return true;
	}
	return false;
}

struct relocation_client {
	int fd;
	struct sockaddr_in peer;
};

static void *client_main(void *arg)
{
	struct relocation_client *c = arg;
	char peer[INET_ADDRSTRLEN] = "?";

	inet_ntop(AF_INET, &c->peer.sin_addr, peer, sizeof(peer));
	if (!host_allowed(&c->peer)) {
		log_err("relocation from %s refused: not in relocation_hosts_allow", peer);
		close(c->fd);
	} else if (!stream_take(c->fd, peer)) {
		relocation_serve(c->fd, peer);
		close(c->fd);
	}
	free(c);
	return NULL;
}

static void *listener_main(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		struct relocation_client *c = calloc(1, sizeof(*c));
		socklen_t len = sizeof(c->peer);
		pthread_t th;

		if (!c)
			break;
		c->fd = accept4(lfd, (struct sockaddr *)&c->peer, &len, SOCK_CLOEXEC);
		if (c->fd < 0 || pthread_create(&th, &attr, client_main, c) != 0) {
			if (c->fd >= 0)
				close(c->fd);
			free(c);
			usleep(10000);
		}
	}
	return NULL;
}

int relocation_start(char *errbuf, size_t errsize)
{
	const char *spec = daemon_state.conf.relocation_listen;
	_cleanup_free_ char *host = NULL;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char *colon;
	pthread_t th;
	int fd, one = 1, r;

	recover_incoming();
	if (!spec)
		return 0;
	r = tlschan_creds_load(daemon_state.conf.relocation_tls_dir, &relocation_creds);
	if (r < 0) {
		snprintf(errbuf, errsize, "relocation: no TLS credentials in '%s' (ca-cert.pem, cert.pem, key.pem)",
			 daemon_state.conf.relocation_tls_dir);
		return r;
	}
	host = strdup(spec);
	colon = host ? strrchr(host, ':') : NULL;
	if (!colon) {
		snprintf(errbuf, errsize, "relocation_listen must be \"ADDR:PORT\", not '%s'", spec);
		return -EINVAL;
	}
	*colon = '\0';
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		snprintf(errbuf, errsize, "relocation_listen: '%s' is not an IPv4 address", host);
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 16) < 0) {
		r = -errno;
		close(fd);
		snprintf(errbuf, errsize, "relocation: cannot listen on %s: %s", spec, strerror(-r));
		return r;
	}
	r = -pthread_create(&th, NULL, listener_main, (void *)(intptr_t)fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	pthread_detach(th);
	log_info("relocation service listening on %s", spec);
	return 0;
}
