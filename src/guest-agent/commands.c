/* The qemu-ga commands domus-agent answers: parse one request, run it,
 * build the reply ({"return": ...} or {"error": {"class", "desc"}}). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

typedef json_t *(*command_fn)(json_t *args);

static json_t *error_reply(const char *class, const char *desc)
{
	return json_pack("{s:{s:s,s:s}}", "error", "class", class, "desc", desc);
}

static json_t *return_reply(json_t *value)
{
	return json_pack("{s:o}", "return", value ? value : json_object());
}

static json_t *cmd_sync(json_t *args)
{
	json_t *id = json_object_get(args, "id");

	if (!json_is_integer(id))
		return error_reply("GenericError", "Parameter 'id' is missing");
	return return_reply(json_incref(id));
}

static json_t *cmd_ping(json_t *args)
{
	(void)args;
	return return_reply(NULL);
}

int agent_halt(const char *action)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		setsid();
		agent_child_signals();
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execl(AGENT_HALT_SCRIPT, AGENT_HALT_SCRIPT, action, (char *)NULL);
		_exit(127);
	}
	return 0;
}

/* Like qemu-ga, a successful guest-shutdown sends no reply. */
static json_t *cmd_shutdown(json_t *args)
{
	const char *mode = json_string_value(json_object_get(args, "mode"));
	const char *action;

	if (!mode || !strcmp(mode, "powerdown"))
		action = "poweroff";
	else if (!strcmp(mode, "halt"))
		action = "halt";
	else if (!strcmp(mode, "reboot"))
		action = "reboot";
	else
		return error_reply("GenericError", "Invalid parameter 'mode'");
	if (agent_halt(action) < 0)
		return error_reply("GenericError", "cannot start the halt script");
	return NULL;
}

static json_t *cmd_exec(json_t *args)
{
	char *error = NULL;
	json_t *reply;
	pid_t pid;

	pid = exec_start(args, &error);
	if (pid < 0)
		reply = error_reply("GenericError", error ? error : strerror((int)-pid));
	else
		reply = return_reply(json_pack("{s:I}", "pid", (json_int_t)pid));
	free(error);
	return reply;
}

static json_t *cmd_exec_status(json_t *args)
{
	json_t *pid = json_object_get(args, "pid");
	json_t *status;

	if (!json_is_integer(pid))
		return error_reply("GenericError", "Parameter 'pid' is missing");
	status = exec_status((pid_t)json_integer_value(pid));
	if (!status)
		return error_reply("GenericError", "Invalid parameter 'pid'");
	return return_reply(status);
}

static json_t *cmd_info(json_t *args);

static const struct command {
	const char *name;
	command_fn fn;
	bool success_response;
} commands[] = {
	{ "guest-sync", cmd_sync, true },
	{ "guest-sync-delimited", cmd_sync, true },
	{ "guest-ping", cmd_ping, true },
	{ "guest-info", cmd_info, true },
	{ "guest-shutdown", cmd_shutdown, false },
	{ "guest-exec", cmd_exec, true },
	{ "guest-exec-status", cmd_exec_status, true },
	{ "guest-file-open", cmd_file_open, true },
	{ "guest-file-close", cmd_file_close, true },
	{ "guest-file-read", cmd_file_read, true },
	{ "guest-file-write", cmd_file_write, true },
	{ "guest-file-seek", cmd_file_seek, true },
	{ "guest-file-flush", cmd_file_flush, true },
};

static json_t *cmd_info(json_t *args)
{
	json_t *list = json_array();

	(void)args;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		json_array_append_new(list, json_pack("{s:s,s:b,s:b}", "name", commands[i].name,
						      "enabled", 1, "success-response",
						      commands[i].success_response));
	return return_reply(json_pack("{s:s,s:o}", "version", AGENT_VERSION,
				      "supported_commands", list));
}

json_t *agent_dispatch(const char *req, size_t len, bool *ret_delimit)
{
	json_t *msg, *reply = NULL, *args;
	const char *name;
	json_error_t jerr;

	*ret_delimit = false;
	msg = json_loadb(req, len, 0, &jerr);
	if (!json_is_object(msg)) {
		json_decref(msg);
		return error_reply("GenericError", "Invalid JSON syntax");
	}
	name = json_string_value(json_object_get(msg, "execute"));
	args = json_object_get(msg, "arguments");
	if (!name) {
		reply = error_reply("GenericError", "Expected 'execute' in QMP input");
	} else {
		size_t i;

		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (!strcmp(commands[i].name, name))
				break;
		if (i == sizeof(commands) / sizeof(commands[0]))
			reply = json_pack("{s:{s:s,s:s++}}", "error", "class", "CommandNotFound",
					  "desc", "The command ", name, " has not been found");
		else
			reply = commands[i].fn(json_is_object(args) ? args : NULL);
		*ret_delimit = !strcmp(name, "guest-sync-delimited");
	}
	if (reply && json_object_get(msg, "id"))
		json_object_set(reply, "id", json_object_get(msg, "id"));
	json_decref(msg);
	return reply;
}
