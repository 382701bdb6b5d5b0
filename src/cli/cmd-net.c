/* cmd-net.c - managed networks (network-create, network-list,
 * network-destroy; src/net/network.c does the work in the daemon) and xl's
 * NIC hot plug (network-attach, network-detach, network-list DOMAIN). */
#include "cli/client.h"
#include "cli/commands.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int cmd_network_create(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nat", required_argument, NULL, 'n' }, { "bridge", no_argument, NULL, 'b' },
		{ "ovs", no_argument, NULL, 'o' },       { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *type = NULL, *subnet = NULL;
	json_t *params;
	int c, kinds = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': type = "nat"; subnet = optarg; kinds++; break;
		case 'b': type = "bridge"; kinds++; break;
		case 'o': type = "ovs"; kinds++; break;
		default: return command_usage(command_find("network-create"));
		}
	}
	if (optind != argc - 1 || kinds != 1)
		return command_usage(command_find("network-create"));
	params = json_pack("{s:s,s:s}", "name", argv[optind], "type", type);
	if (params && subnet)
		json_object_set_new(params, "subnet", json_string(subnet));
	return daemon_call_once(ctx, "network-create", params, NULL);
}

/* xl network-list DOMAIN...: one line per vif, xl's columns (the Xen
 * backend fields have fixed values here). */
static int list_vifs(struct cli_ctx *ctx, int argc, char **argv)
{
	int status = 0;

	printf("%-4s%-3s%-18s%-7s%-6s%-7s%-16s%s\n", "Idx", "BE", "Mac Addr.", "handle", "state",
	       "evt-ch", "tx-/rx-ring-ref", "BE-path");
	for (int a = 1; a < argc; a++) {
		json_t *result = NULL, *v;
		size_t i;
		if (daemon_call_once(ctx, "vif-list", json_pack("{s:s}", "domain", argv[a]),
				     &result) != 0) {
			status = 1;
			continue;
		}
		json_array_foreach(json_object_get(result, "vifs"), i, v) {
			int devid = (int)json_integer_value(json_object_get(v, "devid"));
			const char *mac = json_string_value(json_object_get(v, "mac"));
			printf("%-4d%-3d%-18s%-7d%-6d%-7d%-16s/local/domain/0/backend/vif/%s/%d\n",
			       devid, 0, mac ? mac : "-", devid, 4, -1, "-1/-1", argv[a], devid);
		}
		json_decref(result);
	}
	return status;
}

int cmd_network_attach(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_free_ char *spec = NULL;

	if (argc < 3)
		return command_usage(command_find("network-attach"));
	/* xl takes the vif's KEY=VALUE items as separate arguments */
	for (int i = 2; i < argc; i++) {
		char *s = strprintf("%s%s%s", spec ? spec : "", spec ? "," : "", argv[i]);
		free(spec);
		if (!(spec = s))
			return 1;
	}
	return daemon_call_once(ctx, "network-attach",
				json_pack("{s:s,s:s}", "domain", argv[1], "spec", spec), NULL);
}

int cmd_network_detach(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 3)
		return command_usage(command_find("network-detach"));
	return daemon_call_once(ctx, "network-detach",
				json_pack("{s:s,s:s}", "domain", argv[1], "device", argv[2]), NULL);
}

int cmd_network_list(struct cli_ctx *ctx, int argc, char **argv)
{
	json_t *result = NULL, *n;
	size_t i;
	int r;

	if (argc > 1)
		return list_vifs(ctx, argc, argv);
	r = daemon_call_once(ctx, "network-list", NULL, &result);
	if (r != 0)
		return r;
	printf("%-15s %-6s %-18s %-15s %s\n", "Name", "Type", "Subnet", "Gateway", "State");
	json_array_foreach(json_object_get(result, "networks"), i, n) {
		const char *subnet = json_string_value(json_object_get(n, "subnet"));
		const char *gw = json_string_value(json_object_get(n, "gateway"));
		printf("%-15s %-6s %-18s %-15s %s\n",
		       json_string_value(json_object_get(n, "name")),
		       json_string_value(json_object_get(n, "type")), subnet ? subnet : "-",
		       gw ? gw : "-", json_is_true(json_object_get(n, "up")) ? "up" : "down");
	}
	json_decref(result);
	return 0;
}

int cmd_network_destroy(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return command_usage(command_find("network-destroy"));
	return daemon_call_once(ctx, "network-destroy", json_pack("{s:s}", "name", argv[1]), NULL);
}
