/* migrate.c - live migration between Domus hosts.
 *
 * The source daemon connects to the target's relocation service (TCP,
 * mutual TLS, source address checked against relocation_hosts_allow) and:
 *   1. sends "begin" with the VM's config; the target answers "ok";
 *   2. streams QEMU's migration stream in frames (u32 length, data; a zero
 *      length ends it) while the target feeds it to a paused QEMU started
 *      with -incoming under the temporary name NAME--incoming;
 *   3. the target answers "complete" once its QEMU holds the whole state:
 *      the point of no return. The source destroys its copy and sends
 *      "commit"; the target renames the domain and resumes it.
 * Before step 3 any failure (refusal, target gone, network cut, missing
 * disk or bridge) cancels the migration, resumes the source and leaves
 * nothing on the target.
 */
#include "daemon/migrate.h"
#include "daemon/daemon.h"
#include "daemon/save.h"
#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/log.h"
#include "common/util.h"
#include "qemu/qmp.h"
#include "relocation/tlschan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define QMP_TIMEOUT_MS 10000
#define TLS_TIMEOUT_MS 10000
#define FRAME_MAX (4u << 20)

static struct tlschan_creds *relocation_creds;
static pthread_mutex_t creds_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- framing of the migration stream ---- */

static int send_frame(struct tlschan *t, const void *buf, uint32_t len)
{
	uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
	int r = tlschan_write_all(t, hdr, 4);
	return r < 0 || len == 0 ? r : tlschan_write_all(t, buf, len);
}

static int frame_sink(void *ctx, const void *buf, size_t len)
{
	return send_frame(ctx, buf, (uint32_t)len);
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

static void set_migration_parameters(struct domain *d)
{
	json_t *p = json_pack("{s:I,s:I}", "downtime-limit",
			      (json_int_t)daemon_state.conf.migration_max_downtime_ms, "max-bandwidth",
			      (json_int_t)(daemon_state.conf.migration_bandwidth_mib
						   ? (uint64_t)daemon_state.conf.migration_bandwidth_mib << 20
						   : (uint64_t)1 << 40));
	qmp_command(d->qmp, "migrate-set-parameters", p, NULL, NULL, QMP_TIMEOUT_MS);
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

static int migrate_over(struct domain *d, struct tlschan *t, bool live, const struct domcfg *cfg,
			json_t **ret_report, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *text = save_config_text(d, cfg);
	_cleanup_json_ json_t *config = text ? json_loads(text, 0, NULL) : NULL;
	_cleanup_json_ json_t *reply = NULL, *stats = NULL;
	uint64_t t0 = now_ms(), t_stream_end, t_resumed;
	bool was_running = d->state == DOM_RUNNING;
	char ignore[256];
	int r;

	if (!config)
		return -ENOMEM;
	json_t *begin = json_pack("{s:s,s:s,s:O,s:b}", "op", "begin", "name", d->name, "config",
				  config, "live", live);
	r = tlschan_send_json(t, begin);
	json_decref(begin);
	if (r < 0 || !(reply = reply_or_error(t, errbuf, errsize, "migration refused"))) {
		if (r < 0)
			snprintf(errbuf, errsize, "cannot talk to the target: %s", strerror(-r));
		return -ECONNREFUSED;
	}
	set_migration_parameters(d);
	if (!live && was_running)
		domain_pause(d, true, ignore, sizeof(ignore));
	r = save_stream(d, frame_sink, t, errbuf, errsize);
	if (r == 0)
		r = send_frame(t, NULL, 0);
	t_stream_end = now_ms();
	json_decref(reply);
	reply = NULL;
	if (r == 0 && !(reply = reply_or_error(t, errbuf, errsize, "the target did not take the domain")))
		r = -EIO;
	if (r < 0) {
		/* Before the point of no return: the source carries on. */
		qmp_command(d->qmp, "migrate_cancel", NULL, NULL, NULL, QMP_TIMEOUT_MS);
		if (was_running)
			qmp_command(d->qmp, "cont", NULL, NULL, NULL, QMP_TIMEOUT_MS);
		return r;
	}
	/* The target holds a complete copy: it owns the domain from now on.
	 * Our QEMU is stopped (post-migrate), so commit first (the guest's
	 * downtime ends when the target resumes) and clean up after. */
	stats = migration_stats(d);
	json_t *commit = json_pack("{s:s}", "op", "commit");
	if (tlschan_send_json(t, commit) == 0) {
		json_decref(reply);
		reply = reply_or_error(t, ignore, sizeof(ignore), "commit");
	}
	json_decref(commit);
	t_resumed = now_ms();
	domain_destroy(d, ignore, sizeof(ignore));
	*ret_report = json_pack("{s:I,s:I,s:O}", "total_ms", (json_int_t)(now_ms() - t0),
				"switchover_ms", (json_int_t)(t_resumed - t_stream_end), "qemu", stats);
	return 0;
}

int domain_migrate(struct domain *d, const char *host, bool live, const struct domcfg *cfg,
		   json_t **ret_report, char *errbuf, size_t errsize)
{
	struct tlschan *t = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	pthread_mutex_lock(&creds_lock);
	r = relocation_creds ? 0 : tlschan_creds_load(daemon_state.conf.relocation_tls_dir, &relocation_creds);
	pthread_mutex_unlock(&creds_lock);
	if (r < 0) {
		snprintf(errbuf, errsize, "no TLS credentials in '%s' (ca-cert.pem, cert.pem, key.pem)",
			 daemon_state.conf.relocation_tls_dir);
		return r;
	}
	pthread_mutex_lock(&d->lock);
	r = d->migrating ? -EBUSY : 0;
	d->migrating = true;
	pthread_mutex_unlock(&d->lock);
	if (r < 0) {
		snprintf(errbuf, errsize, "domain %s is already being migrated", d->name);
		return r;
	}
	r = connect_host(host, &fd, errbuf, errsize);
	if (r == 0)
		r = tlschan_open(fd, relocation_creds, false, TLS_TIMEOUT_MS, &t, errbuf, errsize);
	if (r == 0)
		r = migrate_over(d, t, live, cfg, ret_report, errbuf, errsize);
	tlschan_free(t);
	pthread_mutex_lock(&d->lock);
	d->migrating = false;
	pthread_mutex_unlock(&d->lock);
	if (r == 0)
		log_info("domain %s migrated to %s", d->name, host);
	else
		log_err("migration of %s to %s failed: %s", d->name, host, errbuf);
	return r;
}

/* ---- target ---- */

struct unframer {
	struct tlschan *t;
	int dst;
	int result;
	pthread_t thread;
};

/* Copy frames from the source into the pipe QEMU reads, until the empty
 * frame. */
static void *unframer_main(void *arg)
{
	struct unframer *u = arg;
	_cleanup_free_ char *buf = malloc(FRAME_MAX);

	u->result = buf ? 0 : -ENOMEM;
	while (u->result == 0) {
		uint8_t hdr[4];
		uint32_t len;
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
		u->result = tlschan_read_full(u->t, buf, len);
		if (u->result == 0)
			u->result = write_all(u->dst, buf, len);
	}
	close(u->dst);
	return NULL;
}

static void send_error(struct tlschan *t, const char *msg)
{
	json_t *e = json_pack("{s:s}", "error", msg);
	tlschan_send_json(t, e);
	json_decref(e);
}

/* Create the incoming domain from the stream; on success *RET_DOM. */
static int receive_domain(struct tlschan *t, json_t *begin, struct domain **ret_dom, char *errbuf,
			  size_t errsize)
{
	const char *name = json_string_value(json_object_get(begin, "name"));
	struct domcfg *cfg = NULL;
	struct domain_create_args a = { .config_path = "(migration)", .paused = true };
	struct unframer u = { .t = t };
	json_t *warnings = NULL, *ok;
	struct domain *existing;
	int p[2], r;

	if (!name || domcfg_from_json(json_object_get(begin, "config"), &cfg) < 0) {
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
	/* Refuse before the source starts sending. */
	r = domain_check(cfg, errbuf, errsize);
	if (r < 0) {
		domcfg_free(cfg);
		return r;
	}
	free(cfg->name);
	cfg->name = strprintf("%s--incoming", name);
	if (!cfg->name || pipe2(p, O_CLOEXEC) < 0) {
		domcfg_free(cfg);
		return -ENOMEM;
	}
	ok = json_pack("{s:b}", "ok", 1);
	r = tlschan_send_json(t, ok);
	json_decref(ok);
	u.dst = p[1];
	if (r == 0)
		r = -pthread_create(&u.thread, NULL, unframer_main, &u);
	if (r < 0) {
		close(p[0]);
		close(p[1]);
		domcfg_free(cfg);
		return r;
	}
	a.cfg = cfg;
	a.incoming_fd = p[0];
	r = domain_create(&a, ret_dom, &warnings, errbuf, errsize);
	json_decref(warnings);
	close(p[0]);
	pthread_join(u.thread, NULL);
	if (r == 0 && u.result < 0) {
		/* QEMU loaded a complete stream but the end marker never came. */
		domain_destroy(*ret_dom, errbuf, errsize);
		domain_unref(*ret_dom);
		snprintf(errbuf, errsize, "the migration stream was cut");
		return -EPIPE;
	}
	return r;
}

static void relocation_serve(int fd, const char *peer)
{
	struct tlschan *t = NULL;
	_cleanup_json_ json_t *begin = NULL, *commit = NULL;
	struct domain *d = NULL;
	char errbuf[1024] = "";
	_cleanup_free_ char *final_name = NULL;
	json_t *msg;
	int r;

	r = tlschan_open(fd, relocation_creds, true, TLS_TIMEOUT_MS, &t, errbuf, sizeof(errbuf));
	if (r < 0) {
		log_err("relocation from %s refused: %s", peer, errbuf);
		return;
	}
	if (tlschan_recv_json(t, &begin) < 0 || !streq(json_string_value(json_object_get(begin, "op")), "begin")) {
		log_err("relocation from %s: no begin request", peer);
		goto out;
	}
	final_name = strdup(json_string_value(json_object_get(begin, "name")) ?: "");
	log_info("incoming migration of %s from %s", final_name, peer);
	r = receive_domain(t, begin, &d, errbuf, sizeof(errbuf));
	if (r < 0) {
		log_err("incoming migration of %s from %s failed: %s", final_name, peer, errbuf);
		send_error(t, errbuf);
		goto out;
	}
	msg = json_pack("{s:b,s:i}", "complete", 1, "domid", d->domid);
	r = tlschan_send_json(t, msg);
	json_decref(msg);
	/* Past this point the domain is ours, whatever the source says next. */
	if (r == 0)
		r = tlschan_recv_json(t, &commit);
	if (r < 0)
		log_warn("incoming migration of %s: no commit from %s; taking the domain", final_name, peer);
	r = domain_rename(d, final_name, errbuf, sizeof(errbuf));
	if (r == 0)
		r = domain_pause(d, false, errbuf, sizeof(errbuf));
	if (r < 0)
		log_err("incoming migration of %s: cannot resume it: %s", final_name, errbuf);
	else
		log_info("domain %s (%d) migrated in from %s", final_name, d->domid, peer);
	msg = json_pack("{s:b}", "ok", r == 0);
	tlschan_send_json(t, msg);
	json_decref(msg);
	domain_unref(d);
out:
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
	if (!host_allowed(&c->peer))
		log_err("relocation from %s refused: not in relocation_hosts_allow", peer);
	else
		relocation_serve(c->fd, peer);
	close(c->fd);
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
