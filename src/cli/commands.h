/* commands.h - the domus command table.
 *
 * Every verb is one line in commands.def: its name, the function that runs
 * it, a usage line and a one-line summary. `domus help` and the docs are
 * made from the same table. Handlers live in cmd-<area>.c, one file per
 * group of related verbs, and return the process exit status.
 */
#ifndef DOMUS_CLI_COMMANDS_H
#define DOMUS_CLI_COMMANDS_H

#include "common/paths.h"

struct cli_ctx {
	struct domus_paths paths;
	const char *argv0;
};

struct command {
	const char *name;
	int (*run)(struct cli_ctx *ctx, int argc, char **argv);
	const char *usage;
	const char *summary;
};

#define COMMAND(name, fn, usage, summary) int fn(struct cli_ctx *ctx, int argc, char **argv);
#include "cli/commands.def"
#undef COMMAND

/* NULL-terminated table, in commands.def order. */
extern const struct command command_table[];

/* Look up NAME; NULL if unknown. */
const struct command *command_find(const char *name);

/* Print "usage: domus USAGE" for CMD to stderr; returns exit status 2. */
int command_usage(const struct command *cmd);

#endif
