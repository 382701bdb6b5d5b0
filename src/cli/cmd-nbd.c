/* cmd-nbd.c - `domus nbd-serve`: serve a volume or a file over NBD in the
 * foreground until SIGINT/SIGTERM. */
#include "cli/commands.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "nbd/nbd-server.h"
#include "storage/holder.h"
#include "storage/lv.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct nbd_server *serving; /* for the signal handler only */

static void on_stop_signal(int sig)
{
	if (serving)
		nbd_server_stop(serving);
}

static void setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Clients that simply go away are routine; protocol errors are worth a word. */
static void log_client_done(void *userdata, int result)
{
	if (result == -EPIPE || result == -ECONNRESET)
		log_debug("client went away: %s", strerror(-result));
	else if (result < 0)
		log_warn("client connection ended: %s", strerror(-result));
}

/* "VG/LV": one slash between two non-empty names, not a path. */
static bool looks_like_volume(const char *arg)
{
	const char *slash = strchr(arg, '/');

	return slash && slash != arg && slash[1] && !strchr(slash + 1, '/') && arg[0] != '.';
}

/* What serving an LV holds besides the backend: the storage set-up and the
 * holder record naming who uses the LV (storage/holder.h). */
struct lv_serving {
	struct storage st;
	bool st_ready;
	char lv_id[LVM_ID_LEN + 1];
	int holder_fd;
};

static void lv_serving_release(struct lv_serving *s)
{
	if (s->holder_fd >= 0)
		lv_holder_remove(&s->st, s->lv_id, s->holder_fd);
	s->holder_fd = -1;
	if (s->st_ready)
		storage_release(&s->st);
	s->st_ready = false;
}

/* Open logical volume NAME ("VG/LV") and record WHO as its user; a
 * conflicting user (read-write on either side) is named in the refusal. */
static int open_lv(struct cli_ctx *ctx, const char *name, bool readonly, const char *who,
		   struct lv_serving *s, struct nbd_backend *ret)
{
	_cleanup_free_ char *conflict = NULL;
	struct lv_handle *h;
	int r = storage_init(&s->st, ctx->paths.lib_dir, ctx->paths.run_dir);

	if (r < 0) {
		log_err("cannot set up storage paths: %s", strerror(-r));
		return r;
	}
	s->st_ready = true;
	r = lv_open(&s->st, name, readonly ? LV_OPEN_RDONLY : LV_OPEN_RDWR, &h);
	if (r < 0) {
		log_err("cannot open logical volume %s: %s", name,
			r == -ENOENT ? "no such volume group or logical volume" : strerror(-r));
		return r;
	}
	snprintf(s->lv_id, sizeof(s->lv_id), "%s", lv_id_of(h));
	r = lv_holder_add(&s->st, s->lv_id, who, !readonly, &conflict);
	if (r == -EBUSY)
		log_err("logical volume %s is in use by %s", name, conflict);
	else if (r < 0)
		log_err("cannot record the use of logical volume %s: %s", name, strerror(-r));
	if (r >= 0) {
		s->holder_fd = r;
		r = nbd_lv_backend_new(h, readonly, ret);
	}
	if (r < 0)
		lv_close(h);
	return r < 0 ? r : 0;
}

/* Open what the user named: an existing file or block device, or VG/LV. */
static int open_target(struct cli_ctx *ctx, const char *arg, bool readonly, const char *who,
		       struct lv_serving *lvs, struct nbd_backend *ret)
{
	struct stat st;
	int r;

	if (stat(arg, &st) < 0 && looks_like_volume(arg))
		return open_lv(ctx, arg, readonly, who, lvs, ret);
	r = nbd_file_backend_open(arg, readonly, ret);
	if (r < 0)
		log_err("cannot open '%s': %s", arg,
			r == -EINVAL ? "not a regular file or block device" : strerror(-r));
	return r;
}

/* Listen where asked; *RET_UNIX_BOUND tells whether the socket file is ours
 * to remove at exit. */
static int add_listeners(struct nbd_server *srv, const char *unix_path, const char *tcp,
			 bool *ret_unix_bound)
{
	uint16_t port;
	int r;

	if (unix_path) {
		r = nbd_server_listen_unix(srv, unix_path);
		if (r < 0) {
			log_err("cannot listen on '%s': %s", unix_path, strerror(-r));
			return r;
		}
		*ret_unix_bound = true;
		log_info("listening on unix:%s", unix_path);
	}
	if (tcp) {
		r = nbd_server_listen_tcp(srv, tcp, &port);
		if (r < 0) {
			log_err("cannot listen on '%s': %s", tcp, strerror(-r));
			return r;
		}
		log_info("listening on tcp:%s (port %u)", tcp, port);
	}
	return 0;
}

static int parse_tls_mode(const char *s, enum nbd_tls_mode *ret)
{
	if (streq(s, "off"))
		*ret = NBD_TLS_OFF;
	else if (streq(s, "on"))
		*ret = NBD_TLS_ON;
	else if (streq(s, "require"))
		*ret = NBD_TLS_REQUIRE;
	else {
		log_err("unknown TLS mode '%s' (off, on, require)", s);
		return -EINVAL;
	}
	return 0;
}

/* A server exporting TARGET under NAME; errors are logged here. */
static int make_server(struct cli_ctx *ctx, const struct nbd_server_config *cfg,
		       const char *target, const char *name, bool readonly, const char *who,
		       struct lv_serving *lvs, struct nbd_server **ret)
{
	struct nbd_backend be = { 0 };
	struct nbd_server *srv;
	int r;

	r = open_target(ctx, target, readonly, who, lvs, &be);
	if (r < 0)
		return r;
	r = nbd_server_new(cfg, &srv);
	if (r < 0) {
		if (cfg->tls != NBD_TLS_OFF)
			log_err("cannot load TLS certificates from '%s': %s", cfg->tls_certificates,
				r == -EINVAL ? "invalid certificate or key" : strerror(-r));
		else
			log_err("cannot create the NBD server: %s", strerror(-r));
		be.ops->close(be.handle);
		return r;
	}
	r = nbd_server_add_export(srv, name, target, &be, readonly);
	if (r < 0) {
		log_err("cannot export '%s' as '%s': %s", target, name, strerror(-r));
		be.ops->close(be.handle);
		nbd_server_free(srv);
		return r;
	}
	*ret = srv;
	return 0;
}

int cmd_nbd_serve(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "unix", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 't' },
		{ "readonly", no_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ "tls", required_argument, NULL, 'T' },
		{ "tls-certificates", required_argument, NULL, 'C' },
		{ "holder", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	const char *unix_path = NULL, *tcp = NULL, *name = "", *who = NULL;
	_cleanup_free_ char *default_who = strprintf("domus nbd-serve (pid %d)", (int)getpid());
	struct lv_serving lvs = { .holder_fd = -1 };
	const struct command *cmd = command_find(argv[0]);
	struct nbd_server_config cfg = { .client_done = log_client_done };
	bool readonly = false, unix_bound = false;
	struct nbd_server *srv;
	int c, r;

	while ((c = getopt_long(argc, argv, "u:t:rn:", opts, NULL)) != -1) {
		switch (c) {
		case 'u': unix_path = optarg; break;
		case 't': tcp = optarg; break;
		case 'r': readonly = true; break;
		case 'n': name = optarg; break;
		case 'C': cfg.tls_certificates = optarg; break;
		case 'H': who = optarg; break;
		case 'T':
			if (parse_tls_mode(optarg, &cfg.tls) < 0)
				return command_usage(cmd);
			break;
		default: return command_usage(cmd);
		}
	}
	if (optind != argc - 1 || (!unix_path && !tcp) ||
	    (cfg.tls != NBD_TLS_OFF && !cfg.tls_certificates))
		return command_usage(cmd);
	if (!default_who)
		return 1;
	if (make_server(ctx, &cfg, argv[optind], name, readonly, who ? who : default_who, &lvs,
			&srv) < 0) {
		lv_serving_release(&lvs);
		return 1;
	}
	r = add_listeners(srv, unix_path, tcp, &unix_bound);
	if (r >= 0) {
		serving = srv;
		setup_signals();
		r = nbd_server_run(srv);
		serving = NULL;
		if (r < 0)
			log_err("serving '%s' failed: %s", argv[optind], strerror(-r));
	}
	nbd_server_free(srv);
	lv_serving_release(&lvs);
	if (unix_bound)
		unlink(unix_path);
	return r < 0 ? 1 : 0;
}
