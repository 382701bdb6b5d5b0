/* Framing of the agent's input: the host sends JSON objects back to back
 * (qemu-ga does not need newlines); a 0xFF byte discards any partial object
 * (guest-sync-delimited resynchronisation). */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

void frame_reset(struct frame *f)
{
	f->len = 0;
	f->depth = 0;
	f->in_string = f->escaped = f->overflow = false;
}

void frame_release(struct frame *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

static void frame_append(struct frame *f, unsigned char c)
{
	if (f->overflow)
		return;
	if (f->len == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4096;
		char *buf;

		if (cap > AGENT_MAX_REQUEST)
			cap = AGENT_MAX_REQUEST;
		buf = f->len < cap ? realloc(f->buf, cap) : NULL;
		if (!buf) {
			f->overflow = true;
			return;
		}
		f->buf = buf;
		f->cap = cap;
	}
	f->buf[f->len++] = (char)c;
}

bool frame_feed(struct frame *f, unsigned char c)
{
	if (c == 0xff) {
		frame_reset(f);
		return false;
	}
	if (f->depth == 0) {
		if (c != '{')
			return false;
		frame_reset(f);
	}
	frame_append(f, c);
	if (f->in_string) {
		if (f->escaped)
			f->escaped = false;
		else if (c == '\\')
			f->escaped = true;
		else if (c == '"')
			f->in_string = false;
		return false;
	}
	if (c == '"')
		f->in_string = true;
	else if (c == '{' || c == '[')
		f->depth++;
	else if (c == '}' || c == ']')
		f->depth--;
	return f->depth == 0;
}
