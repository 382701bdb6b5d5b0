/* cmd-save.c - xl's save, restore and migrate verbs. */
#include "cli/client.h"
#include "cli/commands.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int cmd_migrate(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "live", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_json_ json_t *result = NULL;
	const char *cfg = NULL;
	bool live = false;
	json_t *params, *qemu;
	int c;

	while ((c = getopt_long(argc, argv, "lC:h", opts, NULL)) != -1) {
		if (c == 'l')
			live = true;
		else if (c == 'C')
			cfg = optarg;
		else
			return command_usage(command_find("migrate"));
	}
	if (argc - optind != 2)
		return command_usage(command_find("migrate"));
	params = json_pack("{s:s,s:s,s:b}", "domain", argv[optind], "host", argv[optind + 1], "live",
			   live);
	if (add_config(params, cfg) < 0) {
		json_decref(params);
		return 1;
	}
	if (daemon_call_once(ctx, "migrate", params, &result) != 0)
		return 1;
	qemu = json_object_get(result, "qemu");
	fprintf(stderr, "migration to %s completed in %lld ms (downtime %lld ms, switch-over %lld ms)\n",
		argv[optind + 1], (long long)json_integer_value(json_object_get(result, "total_ms")),
		(long long)json_integer_value(json_object_get(qemu, "qemu_downtime_ms")),
		(long long)json_integer_value(json_object_get(result, "switchover_ms")));
	return 0;
}
