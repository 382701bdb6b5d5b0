/* cmd-host.c - host verbs: info, dmesg, and daemon start|stop|status. */
#include "cli/client.h"
#include "cli/commands.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int cmd_info(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *result = NULL;
	const char *key;
	json_t *v;

	if (argc != 1)
		return command_usage(command_find("info"));
	if (daemon_call_once(ctx, "info", NULL, &result) != 0)
		return 1;
	json_object_foreach(result, key, v) {
		if (json_is_string(v))
			printf("%-23s: %s\n", key, json_string_value(v));
		else if (json_is_integer(v))
			printf("%-23s: %lld\n", key, (long long)json_integer_value(v));
		else
			printf("%-23s: %.3f\n", key, json_number_value(v));
	}
	return 0;
}

int cmd_dmesg(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *result = NULL;
	bool clear = false;
	int c;

	while ((c = getopt(argc, argv, "ch")) != -1) {
		if (c != 'c')
			return command_usage(command_find("dmesg"));
		clear = true;
	}
	if (daemon_call_once(ctx, "dmesg", json_pack("{s:b}", "clear", clear), &result) != 0)
		return 1;
	fputs(json_string_value(json_object_get(result, "text")) ?: "", stdout);
	return 0;
}

int cmd_daemon(struct cli_ctx *ctx, int argc, char **argv)
{
	struct daemon_conn conn;
	_cleanup_json_ json_t *result = NULL;
	bool destroy_all = argc == 3 && streq(argv[2], "--destroy-all");
	int r;

	if (argc < 2 || (argc > 2 && !destroy_all))
		return command_usage(command_find("daemon"));
	if (streq(argv[1], "start"))
		return daemon_call_once(ctx, "ping", NULL, NULL);
	if (streq(argv[1], "status")) {
		if (daemon_connect(ctx, false, &conn) < 0) {
			printf("domusd is not running\n");
			return 3;
		}
		r = daemon_call(&conn, "ping", NULL, &result);
		daemon_disconnect(&conn);
		if (r < 0)
			return 1;
		printf("domusd %s is running (pid %d)\n",
		       json_string_value(json_object_get(result, "version")),
		       (int)json_integer_value(json_object_get(result, "pid")));
		return 0;
	}
	if (streq(argv[1], "stop")) {
		if (daemon_connect(ctx, false, &conn) < 0)
			return 0; /* not running: nothing to stop */
		r = daemon_call(&conn, "daemon-stop", json_pack("{s:b}", "destroy_all", destroy_all), NULL);
		if (r == 0) {
			/* Wait until it closed its socket. */
			json_t *reply = NULL;
			while (json_recv(&conn.lr, &reply, 10000) == 0)
				json_decref(reply);
		}
		daemon_disconnect(&conn);
		return r < 0 ? 1 : 0;
	}
	return command_usage(command_find("daemon"));
}

int cmd_host_stop(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_json_ json_t *result = NULL;
	int failed;

	if (argc != 1)
		return command_usage(command_find("host-stop"));
	if (daemon_call_once(ctx, "host-stop", NULL, &result) != 0)
		return 1;
	failed = (int)json_integer_value(json_object_get(result, "failed"));
	if (failed)
		log_err("%d domain(s) could not be saved or shut down (see 'domus dmesg')", failed);
	return failed ? 1 : 0;
}
