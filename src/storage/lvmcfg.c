/* lvmcfg.c - parser and writer for LVM's configuration text (lvmcfg.h). */
#include "storage/lvmcfg.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *p, *end;
	unsigned line;
	unsigned nodes;
};

struct cfg_node *cfg_free(struct cfg_node *n)
{
	while (n) {
		struct cfg_node *next = n->next;
		cfg_free(n->child);
		free(n->key);
		free(n->str);
		free(n);
		n = next;
	}
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct cfg_node *, cfg_free);

static void skip_space(struct parser *ps)
{
	while (ps->p < ps->end) {
		char c = *ps->p;
		if (c == '#') {
			while (ps->p < ps->end && *ps->p != '\n')
				ps->p++;
		} else if (c == '\n') {
			ps->line++;
			ps->p++;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			ps->p++;
		} else {
			break;
		}
	}
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '+' || c == '-';
}

static struct cfg_node *node_new(struct parser *ps, enum cfg_type type)
{
	struct cfg_node *n;

	if (++ps->nodes > CFG_MAX_NODES)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (n)
		n->type = type;
	return n;
}

static int parse_name(struct parser *ps, char **ret)
{
	const char *s = ps->p;

	while (ps->p < ps->end && name_char(*ps->p))
		ps->p++;
	if (ps->p == s)
		return -EINVAL;
	*ret = strndup(s, ps->p - s);
	return *ret ? 0 : -ENOMEM;
}

static int parse_string(struct parser *ps, struct cfg_node *n)
{
	const char *s = ++ps->p;
	size_t k = 0;
	char *out;

	while (ps->p < ps->end && *ps->p != '"') {
		if (*ps->p == '\\' && ps->p + 1 < ps->end)
			ps->p++;
		if (*ps->p == '\n')
			ps->line++;
		ps->p++;
	}
	if (ps->p >= ps->end)
		return -EINVAL;
	out = malloc(ps->p - s + 1);
	if (!out)
		return -ENOMEM;
	for (const char *q = s; q < ps->p; q++) {
		if (*q == '\\')
			q++;
		out[k++] = *q;
	}
	out[k] = 0;
	ps->p++;
	n->type = CFG_STR;
	n->str = out;
	return 0;
}

static int parse_number(struct parser *ps, struct cfg_node *n)
{
	const char *s = ps->p;
	bool neg = false, isfloat = false;
	uint64_t v = 0;

	if (*ps->p == '-' || *ps->p == '+')
		neg = *ps->p++ == '-';
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
		return -EINVAL;
	for (; ps->p < ps->end && ((*ps->p >= '0' && *ps->p <= '9') || *ps->p == '.'); ps->p++) {
		if (*ps->p == '.') {
			isfloat = true;
			continue;
		}
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*ps->p - '0');
	}
	if (isfloat) {
		n->type = CFG_FLOAT;
		n->str = strndup(s, ps->p - s);
		return n->str ? 0 : -ENOMEM;
	}
	if (v > (uint64_t)INT64_MAX)
		return -EINVAL;
	n->type = CFG_INT;
	n->num = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static int parse_scalar(struct parser *ps, struct cfg_node *n)
{
	if (ps->p >= ps->end)
		return -EINVAL;
	if (*ps->p == '"')
		return parse_string(ps, n);
	return parse_number(ps, n);
}

static int parse_array(struct parser *ps, struct cfg_node *n)
{
	struct cfg_node **tail = &n->child;
	int r;

	n->type = CFG_ARRAY;
	ps->p++;
	skip_space(ps);
	while (ps->p < ps->end && *ps->p != ']') {
		struct cfg_node *e = node_new(ps, CFG_INT);
		if (!e)
			return ps->nodes > CFG_MAX_NODES ? -E2BIG : -ENOMEM;
		*tail = e;
		tail = &e->next;
		r = parse_scalar(ps, e);
		if (r < 0)
			return r;
		skip_space(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			skip_space(ps);
		} else if (ps->p < ps->end && *ps->p != ']') {
			return -EINVAL;
		}
	}
	if (ps->p >= ps->end)
		return -EINVAL;
	ps->p++;
	return 0;
}

static int parse_items(struct parser *ps, struct cfg_node **tail, unsigned depth);

static int parse_item(struct parser *ps, struct cfg_node *n, unsigned depth)
{
	int r = parse_name(ps, &n->key);

	if (r < 0)
		return r;
	skip_space(ps);
	if (ps->p >= ps->end)
		return -EINVAL;
	if (*ps->p == '{') {
		if (depth >= CFG_MAX_DEPTH)
			return -E2BIG;
		ps->p++;
		n->type = CFG_SECTION;
		r = parse_items(ps, &n->child, depth + 1);
		if (r < 0)
			return r;
		if (ps->p >= ps->end || *ps->p != '}')
			return -EINVAL;
		ps->p++;
		return 0;
	}
	if (*ps->p != '=')
		return -EINVAL;
	ps->p++;
	skip_space(ps);
	if (ps->p < ps->end && *ps->p == '[')
		return parse_array(ps, n);
	return parse_scalar(ps, n);
}

/* Items until '}' or the end of input. */
static int parse_items(struct parser *ps, struct cfg_node **tail, unsigned depth)
{
	for (;;) {
		struct cfg_node *n;
		int r;

		skip_space(ps);
		if (ps->p >= ps->end || *ps->p == '}')
			return 0;
		n = node_new(ps, CFG_SECTION);
		if (!n)
			return ps->nodes > CFG_MAX_NODES ? -E2BIG : -ENOMEM;
		*tail = n;
		tail = &n->next;
		r = parse_item(ps, n, depth);
		if (r < 0)
			return r;
	}
}

int cfg_parse(const char *text, size_t len, struct cfg_node **ret_root, unsigned *ret_line)
{
	struct parser ps = { .p = text, .end = text + len, .line = 1 };
	_cleanup_(cfg_freep) struct cfg_node *root = calloc(1, sizeof(*root));
	int r;

	if (!root)
		return -ENOMEM;
	root->type = CFG_SECTION;
	/* LVM stops at the first NUL: the metadata text is NUL-terminated. */
	const char *nul = memchr(text, 0, len);
	if (nul)
		ps.end = nul;
	r = parse_items(&ps, &root->child, 0);
	if (r == 0 && ps.p < ps.end)
		r = -EINVAL; /* a stray '}' */
	if (r < 0) {
		if (ret_line)
			*ret_line = ps.line;
		return r;
	}
	*ret_root = TAKE_PTR(root);
	return 0;
}

const struct cfg_node *cfg_find(const struct cfg_node *sec, const char *key, int type)
{
	if (!sec || sec->type != CFG_SECTION)
		return NULL;
	for (const struct cfg_node *n = sec->child; n; n = n->next)
		if (n->key && strcmp(n->key, key) == 0)
			return type < 0 || (int)n->type == type ? n : NULL;
	return NULL;
}

int cfg_get_int(const struct cfg_node *sec, const char *key, int64_t *ret)
{
	const struct cfg_node *n = cfg_find(sec, key, -1);

	if (!n)
		return -ENOENT;
	if (n->type != CFG_INT)
		return -EINVAL;
	*ret = n->num;
	return 0;
}

int cfg_get_u64(const struct cfg_node *sec, const char *key, uint64_t *ret)
{
	int64_t v;
	int r = cfg_get_int(sec, key, &v);

	if (r < 0)
		return r;
	if (v < 0)
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

int cfg_get_str(const struct cfg_node *sec, const char *key, const char **ret)
{
	const struct cfg_node *n = cfg_find(sec, key, -1);

	if (!n)
		return -ENOENT;
	if (n->type != CFG_STR)
		return -EINVAL;
	*ret = n->str;
	return 0;
}

void cfg_write_string(FILE *f, const char *str)
{
	fputc('"', f);
	for (const char *s = str; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void write_scalar(FILE *f, const struct cfg_node *n)
{
	if (n->type == CFG_INT)
		fprintf(f, "%lld", (long long)n->num);
	else if (n->type == CFG_FLOAT)
		fputs(n->str, f);
	else if (n->type == CFG_STR)
		cfg_write_string(f, n->str);
}

void cfg_write_item(FILE *f, const struct cfg_node *n)
{
	if (n->type == CFG_SECTION) {
		fprintf(f, "%s {\n", n->key);
		cfg_write_all(f, n->child);
		fputs("}\n", f);
		return;
	}
	fprintf(f, "%s = ", n->key);
	if (n->type != CFG_ARRAY) {
		write_scalar(f, n);
	} else {
		fputc('[', f);
		for (const struct cfg_node *e = n->child; e; e = e->next) {
			write_scalar(f, e);
			if (e->next)
				fputs(", ", f);
		}
		fputc(']', f);
	}
	fputc('\n', f);
}

void cfg_write_all(FILE *f, const struct cfg_node *n)
{
	for (; n; n = n->next)
		cfg_write_item(f, n);
}
