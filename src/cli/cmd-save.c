/* cmd-save.c - xl's save, restore and migrate verbs. */
#include "cli/client.h"
#include "cli/commands.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The daemon runs elsewhere: make PATH absolute against our directory. */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX];
	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	return strprintf("%s/%s", cwd, path);
}

/* Add config_text/config_path from the optional CFG argument. */
static int add_config(json_t *params, const char *cfg)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	if (!cfg)
		return 0;
	r = read_file(cfg, 1 << 20, &text, &len);
	if (r < 0) {
		log_err("cannot read config '%s': %s", cfg, strerror(-r));
		return r;
	}
	json_object_set_new(params, "config_text", json_stringn(text, len));
	json_object_set_new(params, "config_path", json_string(cfg));
	return 0;
}

int cmd_save(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *after = "destroy";
	_cleanup_free_ char *file = NULL;
	json_t *params;
	int c;

	while ((c = getopt(argc, argv, "cph")) != -1) {
		if (c == 'c')
			after = "running";
		else if (c == 'p')
			after = "paused";
		else
			return command_usage(command_find("save"));
	}
	if (argc - optind < 2 || argc - optind > 3)
		return command_usage(command_find("save"));
	file = absolute(argv[optind + 1]);
	if (!file)
		return 1;
	params = json_pack("{s:s,s:s,s:s}", "domain", argv[optind], "file", file, "after", after);
	if (add_config(params, argc - optind == 3 ? argv[optind + 2] : NULL) < 0) {
		json_decref(params);
		return 1;
	}
	return daemon_call_once(ctx, "save", params, NULL);
}

int cmd_restore(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_free_ char *file = NULL;
	_cleanup_json_ json_t *result = NULL;
	bool paused = false;
	json_t *params;
	int c;

	while ((c = getopt(argc, argv, "ph")) != -1) {
		if (c != 'p')
			return command_usage(command_find("restore"));
		paused = true;
	}
	if (argc - optind < 1 || argc - optind > 2)
		return command_usage(command_find("restore"));
	file = absolute(argv[optind]);
	if (!file)
		return 1;
	params = json_pack("{s:s,s:b}", "file", file, "paused", paused);
	if (add_config(params, argc - optind == 2 ? argv[optind + 1] : NULL) < 0) {
		json_decref(params);
		return 1;
	}
	if (daemon_call_once(ctx, "restore", params, &result) != 0)
		return 1;
	fprintf(stderr, "Restored domain %s (id=%d)\n",
		json_string_value(json_object_get(result, "name")),
		(int)json_integer_value(json_object_get(result, "domid")));
	return 0;
}

/* The migrate call, run in a thread while the main one shows progress. */
struct migrate_call {
	struct cli_ctx *ctx;
	json_t *params;
	json_t *result;
	int status;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void *migrate_thread(void *arg)
{
	struct migrate_call *mc = arg;
	int status = daemon_call_once(mc->ctx, "migrate", mc->params, &mc->result);

	pthread_mutex_lock(&mc->lock);
	mc->status = status;
	mc->done = true;
	pthread_cond_signal(&mc->cond);
	pthread_mutex_unlock(&mc->lock);
	return NULL;
}

/* One line of progress from the "migration" object of `list -l`. */
static void format_progress(json_t *m, char *buf, size_t size)
{
	json_t *mem = json_object_get(m, "memory"), *disks = json_object_get(m, "disks");
	size_t n = (size_t)snprintf(buf, size, "%s, %.1f s", json_string_value(json_object_get(m, "phase")) ?: "?",
				    (double)json_integer_value(json_object_get(m, "elapsed_ms")) / 1000);
	if (disks && n < size) {
		json_int_t c = json_integer_value(json_object_get(disks, "copied"));
		json_int_t t = json_integer_value(json_object_get(disks, "total"));
		n += (size_t)snprintf(buf + n, size - n, "; disks %lld/%lld MiB (%d%%)", c >> 20,
				      t >> 20, t ? (int)(c * 100 / t) : 0);
	}
	if (mem && n < size)
		snprintf(buf + n, size - n, "; memory %lld MiB sent, %lld MiB left, %.0f Mbit/s",
			 json_integer_value(json_object_get(mem, "transferred")) >> 20,
			 json_integer_value(json_object_get(mem, "remaining")) >> 20,
			 json_number_value(json_object_get(mem, "rate_mbps")));
}

/* Show DOM's migration progress on stderr until MC is done: one line kept
 * up to date on a terminal, else a line every few seconds. */
static void show_progress(struct migrate_call *mc, const char *dom)
{
	bool tty = isatty(STDERR_FILENO);
	struct daemon_conn conn;
	bool shown = false;

	if (daemon_connect(mc->ctx, false, &conn) < 0)
		return;
	pthread_mutex_lock(&mc->lock);
	while (!mc->done) {
		struct timespec ts;
		_cleanup_json_ json_t *res = NULL;
		json_t *d, *m = NULL;
		size_t i;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += tty ? 1 : 3;
		pthread_cond_timedwait(&mc->cond, &mc->lock, &ts);
		if (mc->done)
			break;
		pthread_mutex_unlock(&mc->lock);
		if (daemon_call(&conn, "list", NULL, &res) == 0)
			json_array_foreach(json_object_get(res, "domains"), i, d)
				if (streq(json_string_value(json_object_get(d, "name")), dom))
					m = json_object_get(d, "migration");
		if (m) {
			char line[256];
			format_progress(m, line, sizeof(line));
			fprintf(stderr, tty ? "\r\033[Kmigrating %s: %s" : "migrating %s: %s\n", dom, line);
			shown = true;
		}
		pthread_mutex_lock(&mc->lock);
	}
	pthread_mutex_unlock(&mc->lock);
	if (tty && shown)
		fputs("\r\033[K", stderr);
	daemon_disconnect(&conn);
}

int cmd_migrate(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "live", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_json_ json_t *result = NULL;
	const char *cfg = NULL, *ssh = NULL;
	bool live = false;
	struct migrate_call mc = { .ctx = ctx, .lock = PTHREAD_MUTEX_INITIALIZER,
				   .cond = PTHREAD_COND_INITIALIZER };
	json_t *params, *qemu, *disks;
	pthread_t th;
	int c;

	while ((c = getopt_long(argc, argv, "lC:s:h", opts, NULL)) != -1) {
		if (c == 'l')
			live = true;
		else if (c == 'C')
			cfg = optarg;
		else if (c == 's')
			ssh = optarg;
		else
			return command_usage(command_find("migrate"));
	}
	if (argc - optind != 2)
		return command_usage(command_find("migrate"));
	params = json_pack("{s:s,s:s,s:b,s:s?}", "domain", argv[optind], "host", argv[optind + 1],
			   "live", live, "ssh", ssh);
	if (add_config(params, cfg) < 0) {
		json_decref(params);
		return 1;
	}
	mc.params = params;
	if (pthread_create(&th, NULL, migrate_thread, &mc) != 0) {
		json_decref(params);
		return 1;
	}
	show_progress(&mc, argv[optind]);
	pthread_join(th, NULL);
	result = mc.result;
	if (mc.status != 0)
		return 1;
	qemu = json_object_get(result, "qemu");
	disks = json_object_get(result, "disks");
	fprintf(stderr, "migration to %s completed in %lld ms (downtime %lld ms, switch-over %lld ms; "
		"memory stream %s, %s)\n",
		argv[optind + 1], (long long)json_integer_value(json_object_get(result, "total_ms")),
		(long long)json_integer_value(json_object_get(result, "downtime_ms")),
		(long long)json_integer_value(json_object_get(result, "switchover_ms")),
		json_string_value(json_object_get(result, "stream")) ?: "?",
		json_string_value(json_object_get(result, "precopy")) ?: "?");
	if (disks)
		fprintf(stderr, "disks: %lld MiB copied (%lld MiB sent), in sync after %lld ms; memory: %lld MiB sent, QEMU downtime %lld ms\n",
			(long long)json_integer_value(json_object_get(disks, "size")) >> 20,
			(long long)json_integer_value(json_object_get(disks, "copied")) >> 20,
			(long long)json_integer_value(json_object_get(disks, "sync_ms")),
			(long long)json_integer_value(json_object_get(json_object_get(qemu, "ram"), "transferred")) >> 20,
			(long long)json_integer_value(json_object_get(qemu, "qemu_downtime_ms")));
	return 0;
}

/* Copy stdin to FD and FD to stdout until FD ends. */
static int pump(int fd)
{
	struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
	char buf[65536];

	for (;;) {
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[0].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(fd, SHUT_WR);
				p[0].fd = -1;
			} else if (write_all(fd, buf, (size_t)n) < 0) {
				return -EPIPE;
			}
		}
		if (p[1].revents) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				return n < 0 ? -errno : 0;
			if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
				return -EPIPE;
		}
	}
}

/* The target end of `migrate -s`: the source's daemon runs this through
 * ssh; stdin and stdout carry the migration protocol to this host's
 * daemon, which takes over the connection. */
int cmd_migrate_receive(struct cli_ctx *ctx, int argc, char **argv)
{
	struct daemon_conn conn;
	char rest[65536];
	size_t n;
	int r;

	if (argc != 1)
		return command_usage(command_find("migrate-receive"));
	r = daemon_connect(ctx, true, &conn);
	if (r < 0)
		return 1;
	r = daemon_call(&conn, "migrate-receive", NULL, NULL);
	if (r == 0) {
		n = line_reader_take_rest(&conn.lr, rest, sizeof(rest));
		r = n ? write_all(STDOUT_FILENO, rest, n) : 0;
	}
	if (r == 0)
		r = pump(conn.fd);
	daemon_disconnect(&conn);
	return r < 0 ? 1 : 0;
}
