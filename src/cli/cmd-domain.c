/* cmd-domain.c - xl's domain verbs: create, list, console, shutdown, reboot,
 * destroy, pause, unpause, rename, domid, domname, uptime. */
#include "cli/client.h"
#include "cli/commands.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* xl looks for a config that is not found as given in its config dir. */
static char *find_config(struct cli_ctx *ctx, const char *arg)
{
	char *alt;

	if (access(arg, F_OK) == 0 || strchr(arg, '/'))
		return strdup(arg);
	alt = strprintf("%s/%s", ctx->paths.etc_dir, arg);
	if (alt && access(alt, F_OK) == 0)
		return alt;
	free(alt);
	return strdup(arg);
}

static int attach_console(struct cli_ctx *ctx, const char *dom, const char *type,
			  struct daemon_conn *ret_conn)
{
	json_t *params = json_pack("{s:s}", "domain", dom);
	int r;

	if (type)
		json_object_set_new(params, "type", json_string(type));
	r = daemon_connect(ctx, true, ret_conn);
	if (r < 0) {
		json_decref(params);
		return r;
	}
	r = daemon_call(ret_conn, "console", params, NULL);
	if (r < 0)
		daemon_disconnect(ret_conn);
	return r;
}

static int run_console(struct daemon_conn *c)
{
	char rest[65536];
	size_t n = line_reader_take_rest(&c->lr, rest, sizeof(rest));
	int r = console_session(c->fd, rest, n);
	daemon_disconnect(c);
	return r;
}

int cmd_create(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "console", no_argument, NULL, 'c' }, { "paused", no_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },   { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool console = false, paused = false, quiet = false;
	_cleanup_free_ char *path = NULL, *text = NULL;
	json_t *params, *result = NULL, *ov;
	struct daemon_conn conn, con;
	size_t len;
	int c, r;

	while ((c = getopt_long(argc, argv, "cpqh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': console = true; break;
		case 'p': paused = true; break;
		case 'q': quiet = true; break;
		default: return command_usage(command_find("create"));
		}
	}
	if (optind >= argc)
		return command_usage(command_find("create"));
	path = find_config(ctx, argv[optind]);
	if (!path)
		return 1;
	r = read_file(path, 1 << 20, &text, &len);
	if (r < 0) {
		log_err("cannot read config '%s': %s", path, strerror(-r));
		return 1;
	}
	if (!quiet)
		fprintf(stderr, "Parsing config from %s\n", path);
	ov = json_array();
	for (int i = optind + 1; i < argc; i++)
		json_array_append_new(ov, json_string(argv[i]));
	params = json_pack("{s:s%,s:s,s:o,s:b}", "config_text", text, len, "config_path", path,
			   "overrides", ov, "paused", paused || console);
	if (!params) {
		log_err("config '%s' is not valid UTF-8 text", path);
		return 1;
	}
	if (daemon_connect(ctx, true, &conn) < 0) {
		json_decref(params);
		return 1;
	}
	r = daemon_call(&conn, "create", params, &result);
	if (r < 0) {
		daemon_disconnect(&conn);
		return 1;
	}
	for (size_t i = 0; i < json_array_size(json_object_get(result, "warnings")); i++)
		log_warn("%s", json_string_value(json_array_get(json_object_get(result, "warnings"), i)));
	if (!quiet)
		fprintf(stderr, "Started domain %s (id=%d)\n",
			json_string_value(json_object_get(result, "name")),
			(int)json_integer_value(json_object_get(result, "domid")));
	if (console) {
		/* Attach before the guest runs so the console shows the whole boot. */
		char id[16];
		snprintf(id, sizeof(id), "%d", (int)json_integer_value(json_object_get(result, "domid")));
		r = attach_console(ctx, id, NULL, &con);
		if (r == 0 && !paused)
			r = daemon_call(&conn, "unpause", json_pack("{s:s}", "domain", id), NULL);
		daemon_disconnect(&conn);
		json_decref(result);
		return r < 0 ? 1 : run_console(&con);
	}
	daemon_disconnect(&conn);
	json_decref(result);
	return 0;
}

int cmd_console(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *type = NULL;
	struct daemon_conn con;
	int c;

	while ((c = getopt(argc, argv, "t:n:h")) != -1) {
		switch (c) {
		case 't':
			type = optarg;
			break;
		case 'n':
			break; /* console number: only 0 exists */
		default:
			return command_usage(command_find("console"));
		}
	}
	if (optind + 1 != argc)
		return command_usage(command_find("console"));
	if (type && !streq(type, "pv") && !streq(type, "serial")) {
		log_err("unknown console type '%s' (pv or serial)", type);
		return 2;
	}
	if (attach_console(ctx, argv[optind], type, &con) < 0)
		return 1;
	return run_console(&con);
}

static void print_list_row(json_t *d)
{
	printf("%-40s %5d %5lld %5d     %s  %8.1f\n", json_string_value(json_object_get(d, "name")),
	       (int)json_integer_value(json_object_get(d, "domid")),
	       (long long)json_integer_value(json_object_get(d, "mem_mb")),
	       (int)json_integer_value(json_object_get(d, "vcpus")),
	       json_string_value(json_object_get(d, "state_letters")),
	       json_number_value(json_object_get(d, "cpu_time")));
}

static bool wanted(json_t *d, int argc, char **argv)
{
	char id[16];
	if (argc == 0)
		return true;
	snprintf(id, sizeof(id), "%d", (int)json_integer_value(json_object_get(d, "domid")));
	for (int i = 0; i < argc; i++)
		if (streq(argv[i], id) || streq(argv[i], json_string_value(json_object_get(d, "name"))))
			return true;
	return false;
}

int cmd_list(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "long", no_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_json_ json_t *result = NULL;
	json_t *doms, *host, *d;
	bool lng = false;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "lh", opts, NULL)) != -1) {
		if (c != 'l')
			return command_usage(command_find("list"));
		lng = true;
	}
	argc -= optind;
	argv += optind;
	if (daemon_call_once(ctx, "list", NULL, &result) != 0)
		return 1;
	doms = json_object_get(result, "domains");
	host = json_object_get(result, "host");
	for (int a = 0; a < argc; a++) {
		bool found = streq(argv[a], "0") || streq(argv[a], "Domain-0");
		json_array_foreach(doms, i, d) found = found || wanted(d, 1, &argv[a]);
		if (!found) {
			log_err("domain '%s' does not exist", argv[a]);
			return 1;
		}
	}
	if (lng) {
		json_t *out = json_array();
		_cleanup_free_ char *s = NULL;
		json_array_foreach(doms, i, d) if (wanted(d, argc, argv)) json_array_append(out, d);
		s = json_dumps(out, JSON_INDENT(4));
		json_decref(out);
		printf("%s\n", s ? s : "[]");
		return 0;
	}
	printf("Name                                        ID   Mem VCPUs\tState\tTime(s)\n");
	if (wanted(host, argc, argv))
		print_list_row(host);
	json_array_foreach(doms, i, d) if (wanted(d, argc, argv)) print_list_row(d);
	return 0;
}

/* Run METHOD on one domain; with WAIT, wait until the domain's shutdown or
 * reboot was handled (or it is gone). */
static int act_on(struct daemon_conn *conn, const char *method, const char *dom, bool wait,
		  json_t *extra, json_int_t *ret_gen)
{
	json_t *params = json_pack("{s:s}", "domain", dom), *result = NULL;
	int r;

	if (extra)
		json_object_update(params, extra);
	r = daemon_call(conn, method, params, &result);
	if (r == 0 && ret_gen)
		*ret_gen = json_integer_value(json_object_get(result, "generation"));
	if (r == 0 && wait) {
		json_t *gen = json_object_get(result, "generation");
		r = daemon_call(conn, "wait",
				json_pack("{s:s,s:O}", "domain", dom, "generation", gen), NULL);
	}
	json_decref(result);
	return r;
}

static int all_domain_names(struct daemon_conn *conn, char ***ret)
{
	json_t *result = NULL, *d;
	char **names;
	size_t i, n;

	if (daemon_call(conn, "list", NULL, &result) < 0)
		return -EIO;
	n = json_array_size(json_object_get(result, "domains"));
	names = calloc(n + 1, sizeof(char *));
	if (!names) {
		json_decref(result);
		return -ENOMEM;
	}
	json_array_foreach(json_object_get(result, "domains"), i, d)
		names[i] = strdup(json_string_value(json_object_get(d, "name")));
	json_decref(result);
	*ret = names;
	return 0;
}

/* shutdown and reboot: [-w] [-a] [-F] DOMAIN */
static int power_verb(struct cli_ctx *ctx, int argc, char **argv, const char *method)
{
	bool wait = false, all = false, force = false;
	struct daemon_conn conn;
	_cleanup_strv_free_ char **names = NULL;
	json_t *extra = NULL;
	int c, rc = 0;

	while ((c = getopt(argc, argv, "waFh")) != -1) {
		switch (c) {
		case 'w': wait = true; break;
		case 'a': all = true; break;
		case 'F': force = true; break;
		default: return command_usage(command_find(method));
		}
	}
	if (all ? optind != argc : optind + 1 != argc)
		return command_usage(command_find(method));
	if (daemon_connect(ctx, true, &conn) < 0)
		return 1;
	if (all && all_domain_names(&conn, &names) < 0) {
		daemon_disconnect(&conn);
		return 1;
	}
	if (force && streq(method, "reboot"))
		extra = json_pack("{s:b}", "force", 1);
	if (all) {
		/* Ask everyone first, then wait: domains shut down in parallel. */
		size_t n = 0;
		while (names[n])
			n++;
		json_int_t gens[n + 1];
		for (size_t i = 0; i < n; i++)
			if (act_on(&conn, method, names[i], false, extra, &gens[i]) < 0) {
				rc = 1;
				gens[i] = -1;
			}
		for (size_t i = 0; wait && i < n; i++)
			if (gens[i] >= 0)
				daemon_call(&conn, "wait", json_pack("{s:s,s:I}", "domain", names[i],
								     "generation", gens[i]), NULL);
	} else if (act_on(&conn, method, argv[optind], wait, extra, NULL) < 0) {
		rc = 1;
	}
	json_decref(extra);
	daemon_disconnect(&conn);
	return rc;
}

int cmd_shutdown(struct cli_ctx *ctx, int argc, char **argv) { return power_verb(ctx, argc, argv, "shutdown"); }
int cmd_reboot(struct cli_ctx *ctx, int argc, char **argv) { return power_verb(ctx, argc, argv, "reboot"); }

static int one_domain_verb(struct cli_ctx *ctx, int argc, char **argv, const char *method)
{
	if (argc != 2 || argv[1][0] == '-')
		return command_usage(command_find(argv[0]));
	return daemon_call_once(ctx, method, json_pack("{s:s}", "domain", argv[1]), NULL);
}

int cmd_destroy(struct cli_ctx *ctx, int argc, char **argv) { return one_domain_verb(ctx, argc, argv, "destroy"); }
int cmd_pause(struct cli_ctx *ctx, int argc, char **argv) { return one_domain_verb(ctx, argc, argv, "pause"); }
int cmd_unpause(struct cli_ctx *ctx, int argc, char **argv) { return one_domain_verb(ctx, argc, argv, "unpause"); }

int cmd_rename(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 3)
		return command_usage(command_find("rename"));
	return daemon_call_once(ctx, "rename",
				json_pack("{s:s,s:s}", "domain", argv[1], "new_name", argv[2]), NULL);
}

/* Find one domain (or the host) in a list reply. */
static json_t *find_in_list(json_t *result, const char *dom)
{
	json_t *host = json_object_get(result, "host"), *d;
	size_t i;

	if (wanted(host, 1, (char **)&dom))
		return host;
	json_array_foreach(json_object_get(result, "domains"), i, d) if (wanted(d, 1, (char **)&dom)) return d;
	return NULL;
}

static int id_or_name(struct cli_ctx *ctx, int argc, char **argv, bool want_id)
{
	_cleanup_json_ json_t *result = NULL;
	json_t *d;

	if (argc != 2)
		return command_usage(command_find(argv[0]));
	if (daemon_call_once(ctx, "list", NULL, &result) != 0)
		return 1;
	d = find_in_list(result, argv[1]);
	if (!d) {
		log_err("domain '%s' does not exist", argv[1]);
		return 1;
	}
	if (want_id)
		printf("%d\n", (int)json_integer_value(json_object_get(d, "domid")));
	else
		printf("%s\n", json_string_value(json_object_get(d, "name")));
	return 0;
}

int cmd_domid(struct cli_ctx *ctx, int argc, char **argv) { return id_or_name(ctx, argc, argv, true); }
int cmd_domname(struct cli_ctx *ctx, int argc, char **argv) { return id_or_name(ctx, argc, argv, false); }

static void format_uptime(double secs, char *buf, size_t size)
{
	unsigned long s = secs > 0 ? (unsigned long)secs : 0;
	unsigned long days = s / 86400;

	if (days)
		snprintf(buf, size, "%lu day%s, %2lu:%02lu:%02lu", days, days == 1 ? "" : "s",
			 (s / 3600) % 24, (s / 60) % 60, s % 60);
	else
		snprintf(buf, size, "%2lu:%02lu:%02lu", (s / 3600) % 24, (s / 60) % 60, s % 60);
}

static double host_uptime(void)
{
	_cleanup_free_ char *data = NULL;
	return read_file("/proc/uptime", 256, &data, NULL) == 0 ? strtod(data, NULL) : 0;
}

int cmd_uptime(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *result = NULL;
	json_t *d;
	char buf[64];
	size_t i;
	double now = (double)time(NULL);

	argc--;
	argv++;
	if (daemon_call_once(ctx, "list", NULL, &result) != 0)
		return 1;
	printf("%-33s %4s %s\n", "Name", "ID", "Uptime");
	if (wanted(json_object_get(result, "host"), argc, argv)) {
		format_uptime(host_uptime(), buf, sizeof(buf));
		printf("%-33s %4d %s\n", "Domain-0", 0, buf);
	}
	json_array_foreach(json_object_get(result, "domains"), i, d) {
		if (!wanted(d, argc, argv))
			continue;
		format_uptime(now - json_number_value(json_object_get(d, "start_time")), buf, sizeof(buf));
		printf("%-33s %4d %s\n", json_string_value(json_object_get(d, "name")),
		       (int)json_integer_value(json_object_get(d, "domid")), buf);
	}
	return 0;
}
