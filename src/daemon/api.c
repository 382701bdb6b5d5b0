/* api.c - the management API: one JSON request per line, dispatched by the
 * method table in api-methods.def. */
#include "daemon/console.h"
#include "daemon/daemon.h"
#include "daemon/domain.h"
#include "daemon/hotplug.h"
#include "daemon/migrate.h"
#include "daemon/save.h"
#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/log.h"
#include "common/util.h"
#include "net/net.h"
#include "net/network.h"
#include "qemu/cmdline.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

/* A handler returns a reply (result or error). It may take over the
 * connection (console): then it sets *TOOK_FD and has sent its own reply. */
typedef json_t *(*api_handler)(json_t *params, int fd, bool *took_fd);

#define METHOD(name_, fn_, params_, result_, summary_) static json_t *fn_(json_t *params, int fd, bool *took_fd);
#include "daemon/api-methods.def"
#undef METHOD

static const struct {
	const char *name;
	api_handler fn;
} methods[] = {
#define METHOD(name_, fn_, params_, result_, summary_) { name_, fn_ },
#include "daemon/api-methods.def"
#undef METHOD
};

#define ERRBUF_SIZE 1024

static json_t *errno_reply(int r, const char *msg)
{
	return json_error_reply(r, "%s", msg && *msg ? msg : strerror(-r));
}

/* Resolve params.domain; on failure *RET_ERR is the reply. */
static struct domain *param_domain(json_t *params, json_t **ret_err)
{
	const char *name = json_string_value(json_object_get(params, "domain"));
	struct domain *d;

	if (!name) {
		*ret_err = json_error_reply(-EINVAL, "missing parameter 'domain'");
		return NULL;
	}
	d = domain_lookup(name);
	if (!d)
		*ret_err = json_error_reply(-ENOENT, "domain '%s' does not exist", name);
	return d;
}

static json_t *api_ping(json_t *params, int fd, bool *took_fd)
{
	return json_result_reply(json_pack("{s:s,s:i}", "version", DOMUS_VERSION, "pid", (int)getpid()));
}

static json_t *api_create(json_t *params, int fd, bool *took_fd)
{
	const char *text = json_string_value(json_object_get(params, "config_text"));
	const char *path = json_string_value(json_object_get(params, "config_path"));
	json_t *ov = json_object_get(params, "overrides");
	_cleanup_free_ const char **overrides = NULL;
	char errbuf[ERRBUF_SIZE] = "";
	struct domain_create_args a = { 0 };
	struct domain *d = NULL;
	json_t *warnings = NULL, *reply;
	size_t i;
	int r;

	if (!text || !path)
		return json_error_reply(-EINVAL, "missing parameter 'config_text' or 'config_path'");
	overrides = calloc(json_array_size(ov) + 1, sizeof(char *));
	if (!overrides)
		return errno_reply(-ENOMEM, NULL);
	for (i = 0; i < json_array_size(ov); i++) {
		overrides[i] = json_string_value(json_array_get(ov, i));
		if (!overrides[i])
			return json_error_reply(-EINVAL, "overrides must be strings");
	}
	a.config_text = text;
	a.config_len = json_string_length(json_object_get(params, "config_text"));
	a.config_path = path;
	a.overrides = overrides;
	a.paused = json_is_true(json_object_get(params, "paused"));
	a.incoming_fd = -1;
	r = domain_create(&a, &d, &warnings, errbuf, sizeof(errbuf));
	if (r < 0) {
		log_err("create from '%s' refused: %s", path, errbuf);
		return errno_reply(r, errbuf);
	}
	reply = json_result_reply(json_pack("{s:i,s:s,s:o}", "domid", d->domid, "name", d->name,
					    "warnings", warnings));
	domain_unref(d);
	return reply;
}

static json_t *domain_row(struct domain *d)
{
	char letters[7];
	json_t *row;

	domain_state_letters(d, letters);
	row = domain_to_json(d);
	json_object_set_new(row, "mem_mb", json_integer((json_int_t)d->cfg->memory_mb));
	json_object_set_new(row, "maxmem_mb", json_integer((json_int_t)d->cfg->maxmem_mb));
	json_object_set_new(row, "vcpus", json_integer(d->cfg->vcpus));
	json_object_set_new(row, "state_letters", json_string(letters));
	json_object_set_new(row, "cpu_time", json_real(domain_cpu_seconds(d)));
	json_object_set_new(row, "generation", json_integer(d->generation));
	return row;
}

static json_t *api_list(json_t *params, int fd, bool *took_fd)
{
	struct domain **v;
	size_t n = domain_list(&v);
	json_t *doms = json_array();
	json_t *host;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(doms, domain_row(v[i]));
	domain_list_free(v, n);
	host = json_pack("{s:s,s:i,s:I,s:i,s:s,s:f}", "name", "Domain-0", "domid", 0, "mem_mb",
			 (json_int_t)host_mem_total_mb(), "vcpus", host_cpus(), "state_letters",
			 "r-----", "cpu_time", host_cpu_seconds());
	return json_result_reply(json_pack("{s:o,s:o}", "host", host, "domains", doms));
}

/* An operation on the domain named by params.domain. */
typedef int (*domain_op)(struct domain *d, json_t *params, char *errbuf, size_t errsize);

/* Run OP on params.domain. The reply carries the domain's generation from
 * before OP when WITH_GENERATION (for `wait`). */
static json_t *on_domain(json_t *params, domain_op op, bool with_generation)
{
	json_t *err = NULL;
	struct domain *d = param_domain(params, &err);
	char errbuf[ERRBUF_SIZE] = "";
	unsigned gen;
	int r;

	if (!d)
		return err;
	pthread_mutex_lock(&daemon_state.lock);
	gen = d->generation;
	pthread_mutex_unlock(&daemon_state.lock);
	r = op(d, params, errbuf, sizeof(errbuf));
	domain_unref(d);
	if (r < 0)
		return errno_reply(r, errbuf);
	return json_result_reply(with_generation ? json_pack("{s:i}", "generation", gen) : NULL);
}

static int op_destroy(struct domain *d, json_t *params, char *errbuf, size_t errsize)
{
	return domain_destroy(d, errbuf, errsize);
}

static int op_shutdown(struct domain *d, json_t *params, char *errbuf, size_t errsize)
{
	return domain_shutdown(d, errbuf, errsize);
}

static int op_reboot(struct domain *d, json_t *params, char *errbuf, size_t errsize)
{
	return domain_reboot(d, json_is_true(json_object_get(params, "force")), errbuf, errsize);
}

static int op_pause(struct domain *d, json_t *params, char *errbuf, size_t errsize)
{
	return domain_pause(d, true, errbuf, errsize);
}

static int op_unpause(struct domain *d, json_t *params, char *errbuf, size_t errsize)
{
	return domain_pause(d, false, errbuf, errsize);
}

static int op_rename(struct domain *d, json_t *params, char *errbuf, size_t errsize)
{
	const char *new_name = json_string_value(json_object_get(params, "new_name"));

	if (!new_name) {
		snprintf(errbuf, errsize, "missing parameter 'new_name'");
		return -EINVAL;
	}
	return domain_rename(d, new_name, errbuf, errsize);
}

static json_t *api_destroy(json_t *params, int fd, bool *took_fd) { return on_domain(params, op_destroy, false); }
static json_t *api_shutdown(json_t *params, int fd, bool *took_fd) { return on_domain(params, op_shutdown, true); }
static json_t *api_reboot(json_t *params, int fd, bool *took_fd) { return on_domain(params, op_reboot, true); }
static json_t *api_pause(json_t *params, int fd, bool *took_fd) { return on_domain(params, op_pause, false); }
static json_t *api_unpause(json_t *params, int fd, bool *took_fd) { return on_domain(params, op_unpause, false); }
static json_t *api_rename(json_t *params, int fd, bool *took_fd) { return on_domain(params, op_rename, false); }

static json_t *api_wait(json_t *params, int fd, bool *took_fd)
{
	json_t *err = NULL;
	struct domain *d = param_domain(params, &err);
	json_t *t = json_object_get(params, "timeout_ms");
	unsigned gen = (unsigned)json_integer_value(json_object_get(params, "generation"));
	json_t *reply;
	int r;

	if (!d) { /* already gone */
		json_decref(err);
		return json_result_reply(json_pack("{s:b}", "gone", 1));
	}
	r = domain_wait_change(d, gen, t ? (int)json_integer_value(t) : -1);
	reply = r < 0 ? errno_reply(r, "timed out waiting for the domain")
		      : json_result_reply(json_pack("{s:b,s:i}", "gone", d->gone, "generation",
						    d->generation));
	domain_unref(d);
	return reply;
}

/* xl's default console is the one the guest uses as /dev/console: the last
 * console= on its kernel line (hvc0 is the PV console). */
static const char *default_console(const struct domcfg *cfg)
{
	_cleanup_free_ char *cmdline = NULL;
	const char *last = NULL;

	if (cfg->type == DOM_TYPE_HVM)
		return "serial";
	cmdline = qemu_kernel_cmdline(cfg);
	for (const char *p = cmdline; p && (p = strstr(p, "console=")); p += 8)
		if (p == cmdline || p[-1] == ' ')
			last = p + 8;
	return last && startswith(last, "hvc") ? "pv" : "serial";
}

static json_t *api_console(json_t *params, int fd, bool *took_fd)
{
	json_t *err = NULL;
	struct domain *d = param_domain(params, &err);
	const char *type = json_string_value(json_object_get(params, "type"));
	struct console_mux *m;
	json_t *ok;
	int cfd, r;

	if (!d)
		return err;
	if (!type)
		type = default_console(d->cfg);
	m = streq(type, "pv") ? d->pvcon : streq(type, "serial") ? d->serial : NULL;
	if (!m) {
		domain_unref(d);
		return json_error_reply(-EINVAL, "domain %s has no %s console", d->name, type);
	}
	ok = json_result_reply(NULL);
	r = json_send(fd, ok);
	json_decref(ok);
	cfd = r == 0 ? dup(fd) : -1;
	if (cfd >= 0 && console_mux_attach(m, cfd) < 0)
		close(cfd);
	domain_unref(d);
	*took_fd = true;
	return NULL;
}

/* An optional replacement config from params (config_text, config_path). */
static int param_config(json_t *params, struct domcfg **ret, char *errbuf, size_t errsize)
{
	const char *text = json_string_value(json_object_get(params, "config_text"));
	const char *path = json_string_value(json_object_get(params, "config_path"));

	*ret = NULL;
	if (!text)
		return 0;
	return domain_config_parse(text, strlen(text), path ? path : "(config)", NULL, ret, errbuf,
				   errsize);
}

static json_t *api_save(json_t *params, int fd, bool *took_fd)
{
	json_t *err = NULL;
	struct domain *d = param_domain(params, &err);
	const char *file = json_string_value(json_object_get(params, "file"));
	const char *after = json_string_value(json_object_get(params, "after"));
	enum save_after how = SAVE_DESTROY;
	struct domcfg *cfg = NULL;
	char errbuf[ERRBUF_SIZE] = "";
	int r;

	if (!d)
		return err;
	if (streq(after, "running"))
		how = SAVE_LEAVE_RUNNING;
	else if (streq(after, "paused"))
		how = SAVE_LEAVE_PAUSED;
	r = file && file[0] == '/' ? 0 : -EINVAL;
	if (r < 0)
		snprintf(errbuf, sizeof(errbuf), "parameter 'file' must be an absolute path");
	if (r == 0)
		r = param_config(params, &cfg, errbuf, sizeof(errbuf));
	if (r == 0)
		r = domain_save(d, file, cfg, how, errbuf, sizeof(errbuf));
	if (r < 0)
		log_err("save of domain %s to '%s' failed: %s", d->name, file ? file : "", errbuf);
	domcfg_free(cfg);
	domain_unref(d);
	return r < 0 ? errno_reply(r, errbuf) : json_result_reply(NULL);
}

static json_t *api_restore(json_t *params, int fd, bool *took_fd)
{
	const char *file = json_string_value(json_object_get(params, "file"));
	struct domcfg *cfg = NULL;
	struct domain *d = NULL;
	char errbuf[ERRBUF_SIZE] = "";
	json_t *reply;
	int r;

	if (!file || file[0] != '/')
		return json_error_reply(-EINVAL, "parameter 'file' must be an absolute path");
	r = param_config(params, &cfg, errbuf, sizeof(errbuf));
	if (r == 0)
		r = domain_restore(file, cfg, json_is_true(json_object_get(params, "paused")), &d, errbuf,
				   sizeof(errbuf));
	if (r < 0) {
		log_err("restore from '%s' refused: %s", file, errbuf);
		return errno_reply(r, errbuf);
	}
	reply = json_result_reply(json_pack("{s:i,s:s}", "domid", d->domid, "name", d->name));
	domain_unref(d);
	return reply;
}

static json_t *api_migrate(json_t *params, int fd, bool *took_fd)
{
	json_t *err = NULL, *report = NULL;
	struct domain *d = param_domain(params, &err);
	const char *host = json_string_value(json_object_get(params, "host"));
	struct domcfg *cfg = NULL;
	char errbuf[ERRBUF_SIZE] = "";
	int r;

	if (!d)
		return err;
	r = host ? param_config(params, &cfg, errbuf, sizeof(errbuf)) : -EINVAL;
	if (!host)
		snprintf(errbuf, sizeof(errbuf), "missing parameter 'host'");
	if (r == 0)
		r = domain_migrate(d, host, json_string_value(json_object_get(params, "ssh")),
				   json_is_true(json_object_get(params, "live")), cfg, &report, errbuf,
				   sizeof(errbuf));
	domcfg_free(cfg);
	domain_unref(d);
	return r < 0 ? errno_reply(r, errbuf) : json_result_reply(report);
}

static json_t *api_migrate_receive(json_t *params, int fd, bool *took_fd)
{
	json_t *ok = json_result_reply(NULL);
	int r = json_send(fd, ok);

	json_decref(ok);
	if (r == 0)
		relocation_serve_local(fd);
	*took_fd = true;
	return NULL;
}

static json_t *api_host_stop(json_t *params, int fd, bool *took_fd)
{
	int failed = host_stop_domains();
	if (failed < 0)
		return errno_reply(failed, NULL);
	return json_result_reply(json_pack("{s:i}", "failed", failed));
}

static json_t *api_info(json_t *params, int fd, bool *took_fd)
{
	struct utsname u;
	uname(&u);
	return json_result_reply(json_pack(
		"{s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:s,s:s,s:s,s:f}", "host", u.nodename, "release",
		u.release, "version", u.version, "machine", u.machine, "nr_cpus", host_cpus(),
		"total_memory", (json_int_t)host_mem_total_mb(), "free_memory",
		(json_int_t)host_mem_free_mb(), "accel",
		daemon_state.conf.accel == ACCEL_KVM ? "kvm" : "tcg", "accel_setting",
		daemon_state.conf.accel_setting, "domus_version", DOMUS_VERSION, "daemon_start_time",
		daemon_state.start_time));
}

static json_t *api_dmesg(json_t *params, int fd, bool *took_fd)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = read_file(daemon_state.paths.daemon_log, 64u << 20, &text, &len);
	json_t *reply;

	if (r < 0)
		return errno_reply(r, "cannot read the daemon log");
	reply = json_result_reply(json_pack("{s:s%}", "text", text, len));
	if (json_is_true(json_object_get(params, "clear")) &&
	    truncate(daemon_state.paths.daemon_log, 0) < 0)
		log_warn("cannot clear %s: %s", daemon_state.paths.daemon_log, strerror(errno));
	return reply;
}

static json_t *api_daemon_stop(json_t *params, int fd, bool *took_fd)
{
	if (json_is_true(json_object_get(params, "destroy_all"))) {
		struct domain **v;
		size_t n = domain_list(&v);
		char errbuf[ERRBUF_SIZE];
		for (size_t i = 0; i < n; i++)
			domain_destroy(v[i], errbuf, sizeof(errbuf));
		domain_list_free(v, n);
	}
	log_info("daemon stopping on request");
	pthread_mutex_lock(&daemon_state.lock);
	daemon_state.stopping = true;
	pthread_mutex_unlock(&daemon_state.lock);
	kill(getpid(), SIGTERM);
	return json_result_reply(NULL);
}

json_t *api_handle_request(json_t *req, int fd, bool *took_fd)
{
	const char *method = json_string_value(json_object_get(req, "method"));
	json_t *params = json_object_get(req, "params");
	_cleanup_json_ json_t *empty = json_object();

	*took_fd = false;
	if (params && !json_is_object(params))
		return json_error_reply(-EINVAL, "'params' must be an object");
	for (size_t i = 0; method && i < ARRAY_SIZE(methods); i++)
		if (streq(methods[i].name, method))
			return methods[i].fn(params ? params : empty, fd, took_fd);
	return json_error_reply(-ENOSYS, "unknown method '%s'", method ? method : "");
}

void api_serve_client(int fd)
{
	struct line_reader lr;

	line_reader_init(&lr, fd);
	for (;;) {
		json_t *req = NULL, *reply;
		bool took_fd = false;
		int r = json_recv(&lr, &req, -1);

		if (r == -EBADMSG) {
			reply = json_error_reply(-EBADMSG, "request is not a JSON object");
		} else if (r < 0) {
			break;
		} else {
			reply = api_handle_request(req, fd, &took_fd);
			json_decref(req);
		}
		if (took_fd)
			break;
		r = json_send(fd, reply);
		json_decref(reply);
		if (r < 0)
			break;
	}
	line_reader_release(&lr);
	close(fd);
}

void api_describe(FILE *out)
{
	json_t *all = json_array();
	char *s;
#define METHOD(name_, fn_, params_, result_, summary_) \
	json_array_append_new(all, json_pack("{s:s,s:s,s:s,s:s}", "method", name_, "params", params_, "result", result_, "summary", summary_));
#include "daemon/api-methods.def"
#undef METHOD
	s = json_dumps(all, JSON_INDENT(2));
	fprintf(out, "%s\n", s ? s : "[]");
	free(s);
	json_decref(all);
}

/* ---- managed networks (src/net/network.c) ---- */

/* Fill E for this instance; the strings live in the caller's buffers. */
static int net_env_get(struct net_env *e, char owner[9], char **state, char **run)
{
	net_owner_id(daemon_state.paths.root, owner);
	*state = strprintf("%s/net", daemon_state.paths.lib_dir);
	*run = strprintf("%s/net", daemon_state.paths.run_dir);
	*e = (struct net_env){ .owner = owner, .state_dir = *state, .run_dir = *run };
	return *state && *run ? 0 : -ENOMEM;
}

static pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;

static json_t *api_network_create(json_t *params, int fd, bool *took_fd)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	const char *type = json_string_value(json_object_get(params, "type"));
	const char *subnet = json_string_value(json_object_get(params, "subnet"));
	_cleanup_free_ char *state = NULL, *run = NULL;
	char owner[9], errbuf[ERRBUF_SIZE] = "";
	struct net_env e;
	int r;

	if (!name || !type)
		return json_error_reply(-EINVAL, "missing parameter 'name' or 'type'");
	r = net_env_get(&e, owner, &state, &run);
	pthread_mutex_lock(&net_lock);
	if (r == 0)
		r = net_network_create(&e, name, type, subnet, errbuf, sizeof(errbuf));
	pthread_mutex_unlock(&net_lock);
	if (r < 0)
		return errno_reply(r, errbuf);
	log_info("network %s (%s%s%s) created", name, type, subnet ? " " : "", subnet ? subnet : "");
	return json_result_reply(NULL);
}

static json_t *api_network_list(json_t *params, int fd, bool *took_fd)
{
	_cleanup_free_ char *state = NULL, *run = NULL;
	char owner[9];
	struct net_env e;
	json_t *list = NULL;
	int r = net_env_get(&e, owner, &state, &run);

	if (r == 0)
		r = net_network_list(&e, &list);
	if (r < 0)
		return errno_reply(r, NULL);
	return json_result_reply(json_pack("{s:o}", "networks", list));
}

static json_t *api_network_destroy(json_t *params, int fd, bool *took_fd)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	_cleanup_free_ char *state = NULL, *run = NULL;
	char owner[9], errbuf[ERRBUF_SIZE] = "";
	struct net_env e;
	int r;

	if (!name)
		return json_error_reply(-EINVAL, "missing parameter 'name'");
	r = net_env_get(&e, owner, &state, &run);
	pthread_mutex_lock(&net_lock);
	if (r == 0)
		r = net_network_destroy(&e, name, errbuf, sizeof(errbuf));
	pthread_mutex_unlock(&net_lock);
	if (r < 0)
		return errno_reply(r, errbuf);
	log_info("network %s destroyed", name);
	return json_result_reply(NULL);
}

void api_networks_restore(void)
{
	_cleanup_free_ char *state = NULL, *run = NULL;
	char owner[9];
	struct net_env e;
	int failed;

	if (net_env_get(&e, owner, &state, &run) < 0)
		return;
	failed = net_networks_restore(&e);
	if (failed > 0)
		log_err("%d managed network(s) could not be brought up", failed);
}

/* ---- hot plug (hotplug.c) ---- */

static json_t *api_network_attach(json_t *params, int fd, bool *took_fd)
{
	const char *spec = json_string_value(json_object_get(params, "spec"));
	json_t *err = NULL;
	struct domain *d = spec ? param_domain(params, &err) : NULL;
	char errbuf[ERRBUF_SIZE] = "";
	int devid = -1, r;

	if (!spec)
		return json_error_reply(-EINVAL, "missing parameter 'spec'");
	if (!d)
		return err;
	r = domain_nic_attach(d, spec, &devid, errbuf, sizeof(errbuf));
	if (r == 0)
		log_info("domain %s (%d): vif %d attached (%s)", d->name, d->domid, devid, spec);
	domain_unref(d);
	return r < 0 ? errno_reply(r, errbuf) : json_result_reply(json_pack("{s:i}", "devid", devid));
}

static json_t *api_network_detach(json_t *params, int fd, bool *took_fd)
{
	const char *dev = json_string_value(json_object_get(params, "device"));
	json_t *err = NULL;
	struct domain *d = dev ? param_domain(params, &err) : NULL;
	char errbuf[ERRBUF_SIZE] = "";
	int r;

	if (!dev)
		return json_error_reply(-EINVAL, "missing parameter 'device'");
	if (!d)
		return err;
	r = domain_nic_detach(d, dev, errbuf, sizeof(errbuf));
	if (r == 0)
		log_info("domain %s (%d): vif %s detached", d->name, d->domid, dev);
	domain_unref(d);
	return r < 0 ? errno_reply(r, errbuf) : json_result_reply(NULL);
}

static json_t *api_vif_list(json_t *params, int fd, bool *took_fd)
{
	json_t *err = NULL, *vifs;
	struct domain *d = param_domain(params, &err);

	if (!d)
		return err;
	vifs = domain_nic_list(d);
	domain_unref(d);
	return vifs ? json_result_reply(json_pack("{s:o}", "vifs", vifs)) : errno_reply(-ENOMEM, NULL);
}
