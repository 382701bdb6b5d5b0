/* guest-file-open/close/read/write/seek/flush: files the host reads and
 * writes through numbered handles, like qemu-ga. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define MAX_FILES 32
/* Largest guest-file-read count accepted (base64 grows it by a third). */
#define MAX_READ (16u << 20)

static struct {
	json_int_t handle; /* 0: free slot */
	FILE *f;
} files[MAX_FILES];
static json_int_t next_handle = 1000;

static json_t *error_reply(const char *desc)
{
	return json_pack("{s:{s:s,s:s}}", "error", "class", "GenericError", "desc", desc);
}

static json_t *errno_reply(const char *what, int err)
{
	return json_pack("{s:{s:s,s:s++}}", "error", "class", "GenericError", "desc", what,
			 ": ", strerror(err));
}

/* The slot of the "handle" argument, or -1. */
static int file_slot(json_t *args)
{
	json_t *h = json_object_get(args, "handle");

	for (int i = 0; json_is_integer(h) && i < MAX_FILES; i++)
		if (files[i].handle && files[i].handle == json_integer_value(h))
			return i;
	return -1;
}

static bool mode_valid(const char *mode)
{
	static const char *const modes[] = { "r", "rb", "r+", "rb+", "r+b", "w", "wb", "w+",
					     "wb+", "w+b", "a", "ab", "a+", "ab+", "a+b" };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(mode, modes[i]))
			return true;
	return false;
}

json_t *cmd_file_open(json_t *args)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	const char *mode = json_string_value(json_object_get(args, "mode"));
	char fmode[8];
	int i;
	FILE *f;

	if (!path)
		return error_reply("Parameter 'path' is missing");
	if (!mode)
		mode = "r";
	if (!mode_valid(mode))
		return error_reply("Invalid parameter 'mode'");
	for (i = 0; i < MAX_FILES && files[i].handle; i++)
		;
	if (i == MAX_FILES)
		return error_reply("too many open guest files");
	snprintf(fmode, sizeof(fmode), "%se", mode); /* e: O_CLOEXEC */
	f = fopen(path, fmode);
	if (!f)
		return errno_reply(path, errno);
	files[i].handle = next_handle++;
	files[i].f = f;
	return json_pack("{s:I}", "return", files[i].handle);
}

json_t *cmd_file_close(json_t *args)
{
	int i = file_slot(args);
	int r;

	if (i < 0)
		return error_reply("Invalid parameter 'handle'");
	r = fclose(files[i].f);
	files[i].handle = 0;
	files[i].f = NULL;
	if (r != 0)
		return errno_reply("close", errno);
	return json_pack("{s:{}}", "return");
}

json_t *cmd_file_read(json_t *args)
{
	json_t *count_arg = json_object_get(args, "count");
	json_int_t count = count_arg ? json_integer_value(count_arg) : 4096;
	int i = file_slot(args);
	unsigned char *buf;
	json_t *reply;
	char *text;
	size_t n;

	if (i < 0)
		return error_reply("Invalid parameter 'handle'");
	if (count < 0 || count > MAX_READ)
		return error_reply("Invalid parameter 'count'");
	buf = malloc((size_t)count + 1);
	if (!buf)
		return errno_reply("read", ENOMEM);
	n = fread(buf, 1, (size_t)count, files[i].f);
	if (ferror(files[i].f)) {
		clearerr(files[i].f);
		free(buf);
		return errno_reply("read", EIO);
	}
	text = base64_encode(buf, n);
	free(buf);
	if (!text)
		return errno_reply("read", ENOMEM);
	reply = json_pack("{s:{s:I,s:s,s:b}}", "return", "count", (json_int_t)n, "buf-b64", text,
			  "eof", feof(files[i].f) != 0);
	free(text);
	return reply;
}

json_t *cmd_file_write(json_t *args)
{
	const char *b64 = json_string_value(json_object_get(args, "buf-b64"));
	json_t *count_arg = json_object_get(args, "count");
	int i = file_slot(args);
	unsigned char *data;
	size_t len, n;
	int r;

	if (i < 0)
		return error_reply("Invalid parameter 'handle'");
	if (!b64)
		return error_reply("Parameter 'buf-b64' is missing");
	r = base64_decode(b64, &data, &len);
	if (r < 0)
		return error_reply("buf-b64 is not valid base64");
	if (count_arg) {
		json_int_t count = json_integer_value(count_arg);
		if (count < 0 || (size_t)count > len) {
			free(data);
			return error_reply("Invalid parameter 'count'");
		}
		len = (size_t)count;
	}
	n = fwrite(data, 1, len, files[i].f);
	free(data);
	if (n < len) {
		clearerr(files[i].f);
		return errno_reply("write", EIO);
	}
	return json_pack("{s:{s:I,s:b}}", "return", "count", (json_int_t)n, "eof",
			 feof(files[i].f) != 0);
}

json_t *cmd_file_seek(json_t *args)
{
	json_t *w = json_object_get(args, "whence");
	const char *ws = json_string_value(w);
	json_int_t offset = json_integer_value(json_object_get(args, "offset"));
	int i = file_slot(args), whence;
	long pos;

	if (i < 0)
		return error_reply("Invalid parameter 'handle'");
	if (ws)
		whence = !strcmp(ws, "set") ? SEEK_SET : !strcmp(ws, "cur") ? SEEK_CUR :
			 !strcmp(ws, "end") ? SEEK_END : -1;
	else
		whence = json_is_integer(w) ? (int)json_integer_value(w) : -1;
	if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
		return error_reply("Invalid parameter 'whence'");
	if (fseek(files[i].f, (long)offset, whence) != 0 || (pos = ftell(files[i].f)) < 0)
		return errno_reply("seek", errno);
	return json_pack("{s:{s:I,s:b}}", "return", "position", (json_int_t)pos, "eof",
			 feof(files[i].f) != 0);
}

json_t *cmd_file_flush(json_t *args)
{
	int i = file_slot(args);

	if (i < 0)
		return error_reply("Invalid parameter 'handle'");
	if (fflush(files[i].f) != 0)
		return errno_reply("flush", errno);
	return json_pack("{s:{}}", "return");
}
