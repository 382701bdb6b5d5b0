/* xlcfg.c - a parser for the xl.cfg(5) grammar (see xlcfg.h).
 *
 * A hand-written recursive-descent parser over a byte buffer. It runs inside
 * the daemon on user input, so every input is bounded (file size, nesting,
 * string length, list length, number of keys) and every error says where it
 * happened and what was expected. Growable arrays and strings have an
 * implicit power-of-two capacity so that repeated `+=` stays linear.
 */
#include "config/xlcfg.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *p, *end;
	const char *line_start;
	int line;
	unsigned depth;
	struct xlcfg_error *err;
};

static const char *const python_statements[] = {
	"import", "from", "def", "class", "if", "elif", "else", "for", "while",
	"try", "except", "finally", "with", "return", "print", "lambda",
	"global", "assert", "del", "pass", "raise", NULL,
};

static int col_of(const struct parser *ps, const char *at)
{
	return (int)(at - ps->line_start) + 1;
}

static int fail_pos(struct parser *ps, int line, int col, const char *fmt, va_list ap)
{
	ps->err->line = line;
	ps->err->col = col;
	vsnprintf(ps->err->message, sizeof(ps->err->message), fmt, ap);
	return -EINVAL;
}

/* An error at AT, which is on the current line. */
static int fail_at(struct parser *ps, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(struct parser *ps, const char *at, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = fail_pos(ps, ps->line, col_of(ps, at), fmt, ap);
	va_end(ap);
	return r;
}

/* An error at LINE:COL, an earlier point (lists span lines). */
static int fail_back(struct parser *ps, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail_back(struct parser *ps, int line, int col, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = fail_pos(ps, line, col, fmt, ap);
	va_end(ap);
	return r;
}

/* Capacity for N elements: 0, or the next power of two >= max(N, 4). */
static size_t cap_for(size_t n)
{
	size_t c = 4;

	if (n == 0)
		return 0;
	while (c < n)
		c *= 2;
	return c;
}

/* Grow *ARRAY (of ELEM-sized elements, N_NOW used) to hold N_NEW. */
static int grow(void *array, size_t elem, size_t n_now, size_t n_new)
{
	void **a = array;
	void *na;

	if (cap_for(n_new) <= cap_for(n_now))
		return 0;
	na = realloc(*a, cap_for(n_new) * elem);
	if (!na)
		return -ENOMEM;
	*a = na;
	return 0;
}

/* A copy of N bytes of S with the implicit capacity strings have here. */
static char *str_copy(const char *s, size_t n)
{
	char *c = malloc(cap_for(n + 1));

	if (c) {
		memcpy(c, s, n);
		c[n] = '\0';
	}
	return c;
}

static void value_free(struct xlcfg_value *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_items; i++)
		value_free(v->items[i]);
	free(v->items);
	free(v->str);
	free(v);
}

static void value_freep(struct xlcfg_value **v)
{
	value_free(*v);
}
#define _cleanup_value_ _cleanup_(value_freep)

static struct xlcfg_value *value_new(enum xlcfg_type type, int line, int col)
{
	struct xlcfg_value *v = calloc(1, sizeof(*v));

	if (v) {
		v->type = type;
		v->line = line;
		v->col = col;
	}
	return v;
}

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '.';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Skip blanks and a comment, not newlines. */
static void skip_blanks(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r'))
		ps->p++;
	if (ps->p < ps->end && *ps->p == '#')
		while (ps->p < ps->end && *ps->p != '\n')
			ps->p++;
}

static void newline(struct parser *ps)
{
	ps->p++;
	ps->line++;
	ps->line_start = ps->p;
}

/* Skip blanks, comments and newlines (inside lists). */
static void skip_space(struct parser *ps)
{
	for (;;) {
		skip_blanks(ps);
		if (ps->p < ps->end && *ps->p == '\n')
			newline(ps);
		else
			return;
	}
}

/* Describe the byte at P for an error message. */
static void describe(const struct parser *ps, const char *p, char *buf, size_t size)
{
	const unsigned char *u = (const unsigned char *)p;

	if (p >= ps->end)
		snprintf(buf, size, "end of file");
	else if (*p == '\n')
		snprintf(buf, size, "end of line");
	else if (*p == '\0')
		snprintf(buf, size, "a nul byte");
	else if (ps->end - p >= 3 && u[0] == 0xe2 && u[1] == 0x80 && u[2] >= 0x98 && u[2] <= 0x9d)
		snprintf(buf, size, "a typographic quote (use ASCII ' or \")");
	else if (ps->end - p >= 2 && u[0] == 0xc2 && (u[1] == 0xab || u[1] == 0xbb))
		snprintf(buf, size, "a guillemet (use ASCII ' or \")");
	else if (*u < 0x20 || *u >= 0x7f)
		snprintf(buf, size, "byte 0x%02x", *u);
	else if (is_ident_start(*p)) {
		const char *e = p;
		while (e < ps->end && e - p < 24 && is_ident_char(*e))
			e++;
		snprintf(buf, size, "'%.*s'", (int)(e - p), p);
	}
	else
		snprintf(buf, size, "'%c'", *p);
}

static int read_ident(struct parser *ps, char **ret)
{
	const char *start = ps->p;
	char *s;

	while (ps->p < ps->end && is_ident_char(*ps->p))
		ps->p++;
	if (ps->p - start > XLCFG_MAX_KEY)
		return fail_at(ps, start, "name longer than %d characters", XLCFG_MAX_KEY);
	s = strndup(start, (size_t)(ps->p - start));
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

/* Decode the escape after a backslash at ps->p; store the byte in *RET. */
static int read_escape(struct parser *ps, unsigned char *ret)
{
	static const char from[] = "ntrabfv\\'\"?";
	static const char to[] = "\n\t\r\a\b\f\v\\'\"?";
	const char *bs = ps->p - 1, *hit;
	unsigned v = 0;
	int n = 0;

	if (ps->p >= ps->end || *ps->p == '\n')
		return fail_at(ps, bs, "unterminated string: a backslash ends the line");
	hit = *ps->p ? strchr(from, *ps->p) : NULL;
	if (hit) {
		*ret = (unsigned char)to[hit - from];
		ps->p++;
		return 0;
	}
	if (*ps->p == 'x') {
		ps->p++;
		for (; n < 2 && ps->p < ps->end && hex_digit(*ps->p) >= 0; n++)
			v = v * 16 + (unsigned)hex_digit(*ps->p++);
		if (n == 0)
			return fail_at(ps, bs, "expected hex digits after '\\x'");
	} else if (*ps->p >= '0' && *ps->p <= '7') {
		for (; n < 3 && ps->p < ps->end && *ps->p >= '0' && *ps->p <= '7'; n++)
			v = v * 8 + (unsigned)(*ps->p++ - '0');
		if (v > 0xff)
			return fail_at(ps, bs, "octal escape out of range");
	} else if (*ps->p > ' ' && *ps->p < 0x7f) {
		return fail_at(ps, bs, "unknown escape '\\%c'", *ps->p);
	} else {
		return fail_at(ps, bs, "unknown escape: backslash followed by byte 0x%02x",
			       (unsigned char)*ps->p);
	}
	if (v == 0)
		return fail_at(ps, bs, "strings cannot contain a nul byte");
	*ret = (unsigned char)v;
	return 0;
}

static int read_string(struct parser *ps, struct xlcfg_value **ret)
{
	const char *start = ps->p;
	char quote = *ps->p++;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	for (;;) {
		unsigned char c;

		if (ps->p >= ps->end || *ps->p == '\n')
			return fail_at(ps, start, "unterminated string: expected a closing %c "
				       "on the same line", quote);
		c = (unsigned char)*ps->p++;
		if (c == (unsigned char)quote)
			break;
		if (c == '\0')
			return fail_at(ps, ps->p - 1, "strings cannot contain a nul byte");
		if (c == '\\') {
			r = read_escape(ps, &c);
			if (r < 0)
				return r;
		}
		if (len >= XLCFG_MAX_STRING)
			return fail_at(ps, start, "string longer than %d bytes", XLCFG_MAX_STRING);
		if (grow(&buf, 1, len, len + 1) < 0)
			return -ENOMEM;
		buf[len++] = (char)c;
	}
	if (grow(&buf, 1, len, len + 1) < 0)
		return -ENOMEM;
	buf[len] = '\0';
	*ret = value_new(XLCFG_STRING, ps->line, col_of(ps, start));
	if (!*ret)
		return -ENOMEM;
	(*ret)->str = TAKE_PTR(buf);
	return 0;
}

/* Numbers: decimal, 0x hex or 0 octal, non-negative, fitting in int64. */
static int read_number(struct parser *ps, struct xlcfg_value **ret)
{
	const char *start = ps->p;
	unsigned base = 10;
	uint64_t v = 0;
	const char *d;

	while (ps->p < ps->end && (is_ident_char(*ps->p)))
		ps->p++;
	d = start;
	if (ps->p - start > 1 && start[0] == '0' && (start[1] == 'x' || start[1] == 'X'))
		base = 16, d += 2;
	else if (ps->p - start > 1 && start[0] == '0')
		base = 8, d += 1;
	if (d == ps->p)
		return fail_at(ps, start, "invalid number '%.*s'", (int)(ps->p - start), start);
	for (; d < ps->p; d++) {
		int x = hex_digit(*d);
		if (x < 0 || (unsigned)x >= base)
			return fail_at(ps, start, "invalid number '%.*s' (decimal, 0x hex or "
				       "0 octal integers only)", (int)(ps->p - start > 40 ? 40 : ps->p - start), start);
		if (v > ((uint64_t)INT64_MAX - (uint64_t)x) / base)
			return fail_at(ps, start, "number too large");
		v = v * base + (uint64_t)x;
	}
	*ret = value_new(XLCFG_NUMBER, ps->line, col_of(ps, start));
	if (!*ret)
		return -ENOMEM;
	(*ret)->num = (int64_t)v;
	(*ret)->str = str_copy(start, (size_t)(ps->p - start));
	return (*ret)->str ? 0 : -ENOMEM;
}

static int read_value(struct parser *ps, struct xlcfg_value **ret);

static int list_add(struct xlcfg_value *list, struct xlcfg_value *item)
{
	if (list->n_items >= XLCFG_MAX_ITEMS)
		return -E2BIG;
	if (grow(&list->items, sizeof(*list->items), list->n_items, list->n_items + 1) < 0)
		return -ENOMEM;
	list->items[list->n_items++] = item;
	return 0;
}

static int read_list(struct parser *ps, struct xlcfg_value **ret)
{
	const char *start = ps->p;
	int start_line = ps->line, start_col = col_of(ps, start);
	_cleanup_value_ struct xlcfg_value *list = value_new(XLCFG_LIST, start_line, start_col);
	int r;

	if (!list)
		return -ENOMEM;
	if (++ps->depth > XLCFG_MAX_DEPTH)
		return fail_at(ps, start, "lists nested deeper than %d levels", XLCFG_MAX_DEPTH);
	ps->p++;
	for (;;) {
		struct xlcfg_value *item = NULL;
		char what[64];

		skip_space(ps);
		if (ps->p < ps->end && *ps->p == ']')
			break;
		r = read_value(ps, &item);
		if (r < 0)
			return r;
		r = list_add(list, item);
		if (r < 0) {
			value_free(item);
			if (r == -E2BIG)
				return fail_back(ps, start_line, start_col, "list longer than %d items",
						 XLCFG_MAX_ITEMS);
			return r;
		}
		skip_space(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']')
			break;
		describe(ps, ps->p, what, sizeof(what));
		return fail_at(ps, ps->p, "expected ',' or ']' in the list opened at line %d "
			       "column %d, found %s", start_line, start_col, what);
	}
	ps->p++;
	ps->depth--;
	*ret = TAKE_PTR(list);
	return 0;
}

/* A bare word where a value was expected: say what to write instead. */
static int bad_word(struct parser *ps)
{
	const char *start = ps->p;
	_cleanup_free_ char *word = NULL;

	if (read_ident(ps, &word) < 0)
		return -ENOMEM;
	if (!strcmp(word, "True") || !strcmp(word, "False") || !strcmp(word, "None"))
		return fail_at(ps, start, "xl.cfg is not Python: '%s' is not a value "
			       "(use 1 or 0, or leave the setting out)", word);
	return fail_at(ps, start, "expected a value (a quoted string, a number or a list), "
		       "found the bare word '%s' (strings need quotes)", word);
}

static int read_value(struct parser *ps, struct xlcfg_value **ret)
{
	char what[64];

	if (ps->p < ps->end) {
		char c = *ps->p;
		if (c == '\'' || c == '"')
			return read_string(ps, ret);
		if (is_digit(c))
			return read_number(ps, ret);
		if (c == '[')
			return read_list(ps, ret);
		if (is_ident_start(c))
			return bad_word(ps);
		if (c == '-')
			return fail_at(ps, ps->p, "negative numbers are not allowed");
	}
	describe(ps, ps->p, what, sizeof(what));
	return fail_at(ps, ps->p, "expected a value (a quoted string, a number or a list), "
		       "found %s", what);
}

static const char *type_name(enum xlcfg_type t)
{
	return t == XLCFG_STRING ? "a string" : t == XLCFG_NUMBER ? "a number" : "a list";
}

static struct xlcfg_setting *find(const struct xlcfg *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n_settings; i++)
		if (!strcmp(cfg->settings[i].key, key))
			return &cfg->settings[i];
	return NULL;
}

const struct xlcfg_value *xlcfg_get(const struct xlcfg *cfg, const char *key)
{
	const struct xlcfg_setting *s = find(cfg, key);

	return s ? s->value : NULL;
}

/* OLD += NEW: append list items or concatenate strings; NEW is consumed. */
static int append(struct parser *ps, struct xlcfg_setting *s, struct xlcfg_value *nv,
		  int op_line, int op_col)
{
	struct xlcfg_value *old = s->value;
	_cleanup_value_ struct xlcfg_value *v = nv;

	if (old->type != v->type || old->type == XLCFG_NUMBER)
		return fail_back(ps, op_line, op_col, "'+=' cannot add %s to '%s', which is %s",
			       type_name(v->type), s->key, type_name(old->type));
	if (old->type == XLCFG_STRING) {
		size_t lo = strlen(old->str), ln = strlen(v->str);
		if (lo + ln > XLCFG_MAX_STRING)
			return fail_back(ps, op_line, op_col, "'+=' makes '%s' longer than %d bytes",
				       s->key, XLCFG_MAX_STRING);
		if (grow(&old->str, 1, lo + 1, lo + ln + 1) < 0)
			return -ENOMEM;
		memcpy(old->str + lo, v->str, ln + 1);
		return 0;
	}
	if (old->n_items + v->n_items > XLCFG_MAX_ITEMS)
		return fail_back(ps, op_line, op_col, "'+=' makes '%s' longer than %d items",
			       s->key, XLCFG_MAX_ITEMS);
	for (; v->n_items > 0; v->n_items--) {
		/* items move one by one so that V stays freeable on failure */
		if (list_add(old, v->items[0]) < 0)
			return -ENOMEM;
		memmove(v->items, v->items + 1, (v->n_items - 1) * sizeof(*v->items));
	}
	return 0;
}

/* Record KEY = VALUE (or +=) for the statement at LINE:COL whose operator is
 * at OP_LINE:OP_COL; takes KEY and VALUE in all cases. */
static int store(struct parser *ps, struct xlcfg *cfg, char *key, struct xlcfg_value *value,
		 bool add, int line, int col, int op_line, int op_col)
{
	_cleanup_free_ char *k = key;
	_cleanup_value_ struct xlcfg_value *v = value;
	struct xlcfg_setting *s = find(cfg, k);

	if (s && add)
		return append(ps, s, TAKE_PTR(v), op_line, op_col);
	if (s) {
		value_free(s->value);
		s->value = TAKE_PTR(v);
		s->line = line;
		s->col = col;
		return 0;
	}
	if (cfg->n_settings >= XLCFG_MAX_SETTINGS)
		return fail_back(ps, op_line, op_col, "more than %d different settings",
				 XLCFG_MAX_SETTINGS);
	if (grow(&cfg->settings, sizeof(*cfg->settings), cfg->n_settings, cfg->n_settings + 1) < 0)
		return -ENOMEM;
	cfg->settings[cfg->n_settings++] = (struct xlcfg_setting){
		.key = TAKE_PTR(k), .value = TAKE_PTR(v), .line = line, .col = col,
	};
	return 0;
}

/* After KEY, something other than '=' or '+=': explain. */
static int bad_statement(struct parser *ps, const char *key, const char *key_at)
{
	char what[64];

	for (size_t i = 0; python_statements[i]; i++)
		if (!strcmp(key, python_statements[i]))
			return fail_at(ps, key_at, "xl.cfg is not Python: '%s' statements are not "
				       "supported (only KEY = VALUE settings)", key);
	if (ps->p < ps->end && *ps->p == '(')
		return fail_at(ps, key_at, "xl.cfg is not Python: '%s(...)' calls are not "
			       "supported (only KEY = VALUE settings)", key);
	describe(ps, ps->p, what, sizeof(what));
	return fail_at(ps, ps->p, "expected '=' or '+=' after '%s', found %s", key, what);
}

/* After a value: the statement must end. */
static int end_statement(struct parser *ps, const char *key)
{
	char what[64];

	skip_blanks(ps);
	if (ps->p >= ps->end || *ps->p == '\n' || *ps->p == ';')
		return 0;
	describe(ps, ps->p, what, sizeof(what));
	if (*ps->p && strchr("+-*/%(.", *ps->p))
		return fail_at(ps, ps->p, "xl.cfg has no expressions (it is not Python): "
			       "expected end of line or ';' after the value of '%s', found %s",
			       key, what);
	return fail_at(ps, ps->p, "expected end of line or ';' after the value of '%s', found %s",
		       key, what);
}

/* Parse "KEY = VALUE" or "KEY += VALUE" at ps->p (an identifier start). */
static int read_statement(struct parser *ps, struct xlcfg *cfg)
{
	const char *key_at = ps->p;
	int line = ps->line, col = col_of(ps, key_at);
	_cleanup_free_ char *key = NULL;
	_cleanup_value_ struct xlcfg_value *value = NULL;
	int op_col;
	bool add = false;
	int r;

	r = read_ident(ps, &key);
	if (r < 0)
		return r;
	skip_blanks(ps);
	op_col = col_of(ps, ps->p);
	if (ps->p < ps->end && *ps->p == '+' && ps->p + 1 < ps->end && ps->p[1] == '=')
		add = true, ps->p += 2;
	else if (ps->p < ps->end && *ps->p == '=' && !(ps->p + 1 < ps->end && ps->p[1] == '='))
		ps->p++;
	else
		return bad_statement(ps, key, key_at);
	skip_blanks(ps);
	r = read_value(ps, &value);
	if (r < 0)
		return r;
	r = end_statement(ps, key);
	if (r < 0)
		return r;
	return store(ps, cfg, TAKE_PTR(key), TAKE_PTR(value), add, line, col, line, op_col);
}

static int parse_all(struct parser *ps, struct xlcfg *cfg)
{
	for (;;) {
		char what[64];
		int r;

		skip_blanks(ps);
		if (ps->p >= ps->end)
			return 0;
		if (*ps->p == '\n') {
			newline(ps);
			continue;
		}
		if (*ps->p == ';') {
			ps->p++;
			continue;
		}
		if (!is_ident_start(*ps->p)) {
			describe(ps, ps->p, what, sizeof(what));
			return fail_at(ps, ps->p, "expected a setting (KEY = VALUE), found %s", what);
		}
		r = read_statement(ps, cfg);
		if (r < 0)
			return r;
	}
}

void xlcfg_free(struct xlcfg *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_settings; i++) {
		free(cfg->settings[i].key);
		value_free(cfg->settings[i].value);
	}
	free(cfg->settings);
	free(cfg->filename);
	free(cfg);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct xlcfg *, xlcfg_free)

int xlcfg_parse(const char *text, size_t len, const char *filename,
		struct xlcfg **ret_cfg, struct xlcfg_error *err)
{
	_cleanup_(xlcfg_freep) struct xlcfg *cfg = calloc(1, sizeof(*cfg));
	struct parser ps = { .p = text, .end = text + len, .line_start = text, .line = 1, .err = err };
	int r;

	*err = (struct xlcfg_error){ 0 };
	if (!cfg)
		return -ENOMEM;
	cfg->filename = strdup(filename ? filename : "<config>");
	if (!cfg->filename)
		return -ENOMEM;
	if (len > XLCFG_MAX_FILE)
		return fail_at(&ps, text, "file larger than %d bytes", XLCFG_MAX_FILE);
	r = parse_all(&ps, cfg);
	if (r < 0)
		return r;
	*ret_cfg = TAKE_PTR(cfg);
	return 0;
}

/* Values from the command line have no position in the file. */
static void clear_position(struct xlcfg_value *v)
{
	v->line = v->col = 0;
	for (size_t i = 0; i < v->n_items; i++)
		clear_position(v->items[i]);
}

/* Parse the VALUE of an override; a bare word becomes a string. */
static int override_value(struct parser *ps, struct xlcfg_value **ret)
{
	const char *start = ps->p;
	struct xlcfg_error saved = *ps->err;
	struct xlcfg_value *v = NULL;
	int r;

	r = read_value(ps, &v);
	if (r == 0) {
		skip_blanks(ps);
		if (ps->p >= ps->end) {
			*ret = v;
			return 0;
		}
		value_free(v);
		r = fail_at(ps, ps->p, "unexpected text after the value");
	}
	if (r != -EINVAL || (start < ps->end && *start && strchr("'\"[", *start)))
		return r;
	*ps->err = saved;
	if (ps->end - start > XLCFG_MAX_STRING)
		return fail_at(ps, start, "string longer than %d bytes", XLCFG_MAX_STRING);
	v = value_new(XLCFG_STRING, 0, 0);
	if (!v || !(v->str = str_copy(start, (size_t)(ps->end - start)))) {
		value_free(v);
		return -ENOMEM;
	}
	*ret = v;
	return 0;
}

static int override_parse(struct parser *ps, struct xlcfg *cfg)
{
	_cleanup_free_ char *key = NULL;
	_cleanup_value_ struct xlcfg_value *value = NULL;
	int op_col;
	bool add = false;
	int r;

	skip_blanks(ps);
	if (ps->p >= ps->end || !is_ident_start(*ps->p))
		return fail_at(ps, ps->p, "expected KEY=VALUE");
	r = read_ident(ps, &key);
	if (r < 0)
		return r;
	skip_blanks(ps);
	op_col = col_of(ps, ps->p);
	if (ps->end - ps->p >= 2 && ps->p[0] == '+' && ps->p[1] == '=')
		add = true, ps->p += 2;
	else if (ps->p < ps->end && *ps->p == '=')
		ps->p++;
	else
		return fail_at(ps, ps->p, "expected '=' or '+=' after '%s'", key);
	skip_blanks(ps);
	r = override_value(ps, &value);
	if (r < 0)
		return r;
	clear_position(value);
	return store(ps, cfg, TAKE_PTR(key), TAKE_PTR(value), add, 0, 0, ps->line, op_col);
}

int xlcfg_apply_override(struct xlcfg *cfg, const char *override, struct xlcfg_error *err)
{
	size_t len = strlen(override);
	struct parser ps = { .p = override, .end = override + len, .line_start = override,
			     .line = 1, .err = err };
	char msg[sizeof(err->message)];
	int r;

	*err = (struct xlcfg_error){ 0 };
	if (len > XLCFG_MAX_FILE)
		r = fail_at(&ps, override, "override longer than %d bytes", XLCFG_MAX_FILE);
	else if (memchr(override, '\n', len))
		r = fail_at(&ps, memchr(override, '\n', len), "an override is a single line");
	else
		r = override_parse(&ps, cfg);
	if (r != -EINVAL)
		return r;
	memcpy(msg, err->message, sizeof(msg));
	snprintf(err->message, sizeof(err->message), "override '%.60s%s': %.380s (at column %d)",
		 override, len > 60 ? "..." : "", msg, err->col);
	err->line = err->col = 0;
	return r;
}

void xlcfg_error_format(const struct xlcfg *cfg_or_null, const char *filename,
			const struct xlcfg_error *err, char *buf, size_t size)
{
	const char *f = filename ? filename : cfg_or_null ? cfg_or_null->filename : "<config>";

	if (err->line > 0)
		snprintf(buf, size, "%s:%d:%d: %s", f, err->line, err->col, err->message);
	else
		snprintf(buf, size, "%s: %s", f, err->message);
}
