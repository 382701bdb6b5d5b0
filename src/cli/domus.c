/* domus.c - the domus command-line entry point: global options, then one
 * verb from the command table (commands.def). */
#include "cli/commands.h"
#include "common/log.h"
#include "common/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct command command_table[] = {
#define COMMAND(name, fn, usage, summary) { #name, fn, usage, summary },
#include "cli/commands.def"
#undef COMMAND
	{ NULL, NULL, NULL, NULL },
};

const struct command *command_find(const char *name)
{
	for (const struct command *c = command_table; c->name; c++) {
		if (streq(c->name, name))
			return c;
		/* LVM and xl spell some verbs with dashes or underscores. */
	}
	return NULL;
}

int command_usage(const struct command *cmd)
{
	fprintf(stderr, "usage: domus %s\n", cmd->usage);
	return 2;
}

int cmd_help(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc > 1) {
		const struct command *c = command_find(argv[1]);
		if (!c) {
			log_err("unknown command '%s'", argv[1]);
			return 2;
		}
		printf("usage: domus %s\n%s\n", c->usage, c->summary);
		return 0;
	}
	printf("usage: domus [--root DIR] COMMAND [ARGS...]\n\ncommands:\n");
	for (const struct command *c = command_table; c->name; c++)
		printf("  %-16s %s\n", c->name, c->summary);
	return 0;
}

static void main_usage(void)
{
	fprintf(stderr, "usage: domus [--root DIR] [--version] COMMAND [ARGS...]\n"
			"Run 'domus help' for the list of commands.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'R' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_ctx ctx = { .argv0 = argv[0] };
	const char *root = NULL;
	const struct command *cmd;
	int c, r;

	log_set_program("domus");
	/* '+': stop at the verb so its own options are left for it. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'R':
			root = optarg;
			break;
		case 'V':
			printf("domus %s\n", DOMUS_VERSION);
			return 0;
		case 'h':
			return cmd_help(&ctx, 0, NULL);
		default:
			main_usage();
			return 2;
		}
	}
	if (optind >= argc) {
		main_usage();
		return 2;
	}
	cmd = command_find(argv[optind]);
	if (!cmd) {
		log_err("unknown command '%s'; try 'domus help'", argv[optind]);
		return 2;
	}
	r = domus_paths_init(&ctx.paths, root);
	if (r < 0) {
		log_err("cannot use instance root '%s': %s", root ? root : "/", strerror(-r));
		return 1;
	}
	argc -= optind;
	argv += optind;
	optind = 0; /* reset getopt for the verb (0 also reinitializes GNU getopt) */
	r = cmd->run(&ctx, argc, argv);
	domus_paths_release(&ctx.paths);
	return r;
}
