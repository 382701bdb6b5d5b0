/* bootmenu.c - the default entry of a GRUB 2, GRUB legacy or extlinux menu. */
#include "boot/bootmenu.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ENTRIES 256

struct menu {
	struct boot_entry entries[MAX_ENTRIES];
	size_t n;
	char *default_name;  /* as written: an index or a title/label */
};

static void menu_release(struct menu *m)
{
	for (size_t i = 0; i < m->n; i++)
		boot_entry_release(&m->entries[i]);
	free(m->default_name);
}

void boot_entry_release(struct boot_entry *e)
{
	free(e->title);
	free(e->kernel);
	free(e->initrd);
	free(e->args);
	memset(e, 0, sizeof(*e));
}

/* Next line of TEXT from *POS, without its newline and surrounding blanks;
 * NULL at the end. The returned string is malloc'd. */
static char *next_line(const char *text, size_t len, size_t *pos)
{
	size_t start = *pos, end;
	char *line;

	if (start >= len)
		return NULL;
	end = start;
	while (end < len && text[end] != '\n')
		end++;
	*pos = end + 1;
	while (start < end && isspace((unsigned char)text[start]))
		start++;
	while (end > start && isspace((unsigned char)text[end - 1]))
		end--;
	line = strndup(text + start, end - start);
	return line;
}

/* Split "KEYWORD rest": returns the keyword (NUL-terminated in LINE) and
 * sets *REST to the blank-skipped remainder. */
static char *keyword(char *line, char **rest)
{
	char *p = line;
	while (*p && !isspace((unsigned char)*p) && *p != '=')
		p++;
	if (*p) {
		*p++ = '\0';
		while (*p && (isspace((unsigned char)*p) || *p == '='))
			p++;
	}
	*rest = p;
	return line;
}

/* The next non-blank, non-comment line of TEXT as a keyword and the rest;
 * *LINE (to be freed) owns both. Returns false at the end. */
static bool next_statement(const char *text, size_t len, size_t *pos, char **line, char **kw,
			   char **rest)
{
	for (;;) {
		free(*line);
		*line = next_line(text, len, pos);
		if (!*line)
			return false;
		if (**line && **line != '#') {
			*kw = keyword(*line, rest);
			return true;
		}
	}
}

/* Remove one level of '...' or "..." quoting around S, in place. */
static char *unquote(char *s)
{
	size_t n = strlen(s);
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
		s[n - 1] = '\0';
		return s + 1;
	}
	return s;
}

static struct boot_entry *new_entry(struct menu *m, const char *title)
{
	struct boot_entry *e;
	if (m->n >= MAX_ENTRIES)
		return NULL;
	e = &m->entries[m->n++];
	e->title = title ? strdup(title) : NULL;
	return e;
}

/* "PATH ARGS..." -> kernel and args of E. */
static int set_kernel(struct boot_entry *e, char *rest)
{
	char *args = rest;
	while (*args && !isspace((unsigned char)*args))
		args++;
	free(e->kernel);
	free(e->args);
	e->kernel = strndup(rest, (size_t)(args - rest));
	while (*args && isspace((unsigned char)*args))
		args++;
	e->args = strdup(args);
	return e->kernel && e->args ? 0 : -ENOMEM;
}

static int set_initrd(struct boot_entry *e, char *rest)
{
	/* GRUB accepts several initrds; the first is the one that matters here. */
	size_t n = strcspn(rest, " \t");
	free(e->initrd);
	e->initrd = strndup(rest, n);
	return e->initrd ? 0 : -ENOMEM;
}

/* The title of a GRUB 2 "menuentry 'Title' ... {" line. */
static char *grub2_title(char *rest)
{
	char *t = rest;
	if (*t == '\'' || *t == '"') {
		char q = *t++;
		char *end = strchr(t, q);
		if (end)
			*end = '\0';
		return t;
	}
	t[strcspn(t, " \t{")] = '\0';
	return t;
}

static int parse_grub2(struct menu *m, const char *text, size_t len)
{
	struct boot_entry *cur = NULL;
	size_t pos = 0;
	int depth = 0; /* braces of the current menuentry */
	_cleanup_free_ char *line = NULL;
	char *rest, *kw;

	while (next_statement(text, len, &pos, &line, &kw, &rest)) {
		int r = 0;

		if (!cur && streq(kw, "set") && startswith(rest, "default")) {
			char *v = rest + strlen("default");
			while (*v == '=' || isspace((unsigned char)*v))
				v++;
			free(m->default_name);
			m->default_name = strdup(unquote(v));
		} else if (!cur && streq(kw, "menuentry")) {
			cur = new_entry(m, grub2_title(rest));
			depth = 1;
		} else if (cur && (streq(kw, "linux") || streq(kw, "linux16") || streq(kw, "linuxefi"))) {
			r = set_kernel(cur, rest);
		} else if (cur && (streq(kw, "initrd") || streq(kw, "initrd16") || streq(kw, "initrdefi"))) {
			r = set_initrd(cur, rest);
		} else if (cur && streq(kw, "}")) {
			if (--depth == 0)
				cur = NULL;
		} else if (cur && strchr(rest, '{')) {
			depth++;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_legacy(struct menu *m, const char *text, size_t len, bool extlinux)
{
	struct boot_entry *cur = NULL;
	size_t pos = 0;
	_cleanup_free_ char *line = NULL;
	char *rest, *kw;

	while (next_statement(text, len, &pos, &line, &kw, &rest)) {
		int r = 0;

		if (strcasecmp(kw, "default") == 0 && !cur) {
			free(m->default_name);
			m->default_name = strdup(rest);
		} else if (strcasecmp(kw, extlinux ? "label" : "title") == 0) {
			cur = new_entry(m, rest);
		} else if (cur && (strcasecmp(kw, "kernel") == 0 || strcasecmp(kw, "linux") == 0)) {
			if (extlinux) {
				/* extlinux: KERNEL path, arguments on APPEND */
				char *args = cur->args;
				cur->args = NULL;
				r = set_kernel(cur, rest);
				if (r == 0 && args) {
					free(cur->args);
					cur->args = args;
				} else {
					free(args);
				}
			} else {
				r = set_kernel(cur, rest);
			}
		} else if (cur && strcasecmp(kw, "append") == 0) {
			_cleanup_free_ char *initrd = NULL;
			char *p = strstr(rest, "initrd=");
			if (p && (p == rest || isspace((unsigned char)p[-1]))) {
				initrd = strndup(p + 7, strcspn(p + 7, " \t,"));
				if (initrd)
					r = set_initrd(cur, initrd);
			}
			free(cur->args);
			cur->args = strdup(rest);
			if (!cur->args)
				r = -ENOMEM;
		} else if (cur && (strcasecmp(kw, "initrd") == 0)) {
			r = set_initrd(cur, rest);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static const struct boot_entry *pick_default(const struct menu *m)
{
	const struct boot_entry *first = NULL;
	uint64_t idx;

	for (size_t i = 0; i < m->n && !first; i++)
		if (m->entries[i].kernel && *m->entries[i].kernel)
			first = &m->entries[i];
	if (!m->default_name)
		return first;
	if (parse_u64(m->default_name, &idx) == 0)
		return idx < m->n && m->entries[idx].kernel ? &m->entries[idx] : first;
	for (size_t i = 0; i < m->n; i++)
		if (m->entries[i].kernel && streq(m->entries[i].title, m->default_name))
			return &m->entries[i];
	return first;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int bootmenu_parse(enum bootmenu_kind kind, const char *text, size_t len, struct boot_entry *ret)
{
	struct menu *m;
	const struct boot_entry *e;
	struct boot_entry out = { 0 };
	int r;

	if (len > BOOTMENU_MAX_SIZE)
		return -EFBIG;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = kind == BOOTMENU_GRUB2 ? parse_grub2(m, text, len)
				   : parse_legacy(m, text, len, kind == BOOTMENU_EXTLINUX);
	e = r == 0 ? pick_default(m) : NULL;
	if (r == 0 && !e)
		r = -ENOENT;
	if (r == 0) {
		out.title = dup_or_null(e->title);
		out.kernel = strdup(e->kernel);
		out.initrd = dup_or_null(e->initrd);
		out.args = strdup(e->args ? e->args : "");
		if (!out.kernel || !out.args || (e->title && !out.title) || (e->initrd && !out.initrd)) {
			boot_entry_release(&out);
			r = -ENOMEM;
		}
	}
	menu_release(m);
	free(m);
	if (r == 0)
		*ret = out;
	return r;
}
