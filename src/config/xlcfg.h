/* xlcfg.h - the xl.cfg(5) file grammar: a generic parser.
 *
 * Grammar: statements `KEY = VALUE` or `KEY += VALUE`, ended by a newline or
 * ';'; VALUE is a string ('...' or "..." with C escapes), a number (decimal,
 * 0x hex, 0 octal), or a list `[ v, v, ... ]` (nested lists allowed, trailing
 * comma and newlines allowed inside). '#' starts a comment. A repeated KEY:
 * the last one wins (`+=` appends to a list or concatenates a string).
 *
 * The parser only knows the grammar; domcfg.h gives the keys their meaning.
 */
#ifndef DOMUS_XLCFG_H
#define DOMUS_XLCFG_H

#include <stddef.h>
#include <stdint.h>

/* Limits: the parser runs in the daemon on user input; larger inputs are
 * refused with an error, never a crash or a hang. */
#define XLCFG_MAX_FILE      (1024 * 1024)  /* bytes of one file or override */
#define XLCFG_MAX_STRING    (64 * 1024)    /* bytes of one string (after +=) */
#define XLCFG_MAX_DEPTH     16             /* nesting of lists */
#define XLCFG_MAX_ITEMS     4096           /* items of one list (after +=) */
#define XLCFG_MAX_SETTINGS  512            /* different keys in one file */
#define XLCFG_MAX_KEY       64             /* characters of a key */

enum xlcfg_type { XLCFG_STRING, XLCFG_NUMBER, XLCFG_LIST };

struct xlcfg_value {
	enum xlcfg_type type;
	char *str;                   /* STRING: decoded text; NUMBER: as written */
	int64_t num;                 /* NUMBER: its value */
	struct xlcfg_value **items;  /* LIST: items */
	size_t n_items;
	int line, col;               /* where the value starts (1-based); 0 for a
	                              * value given by a command-line override */
};

struct xlcfg_setting {
	char *key;
	struct xlcfg_value *value;
	int line, col;               /* where the key starts (1-based) */
};

struct xlcfg {
	char *filename;              /* as given to xlcfg_parse(), for messages */
	struct xlcfg_setting *settings;  /* in first-seen order, keys unique */
	size_t n_settings;
};

/* A parse error: where, and a lowercase message saying what was expected.
 * LINE 0 means "no position in the file" (a missing key, or an override: the
 * message then quotes the override and its column). */
struct xlcfg_error {
	int line, col;
	char message[512];
};

/* Parse TEXT (LEN bytes, need not be NUL-terminated) read from FILENAME.
 * Returns 0 and *RET_CFG, or -EINVAL with ERR filled (file:line:col and what
 * was expected; a Python-looking file gets a message saying so), or -ENOMEM. */
int xlcfg_parse(const char *text, size_t len, const char *filename,
		struct xlcfg **ret_cfg, struct xlcfg_error *err);

/* Apply one command-line override "KEY=VALUE" (or "KEY+=VALUE"); VALUE has
 * the file grammar, and a bare word is taken as a string (as xl does).
 * Returns 0, or -EINVAL with ERR filled. */
int xlcfg_apply_override(struct xlcfg *cfg, const char *override, struct xlcfg_error *err);

/* The value of KEY, or NULL. */
const struct xlcfg_value *xlcfg_get(const struct xlcfg *cfg, const char *key);

/* Format ERR as "FILE:LINE:COL: MESSAGE" (or "FILE: MESSAGE" when LINE is 0)
 * into BUF. FILE is FILENAME, else CFG_OR_NULL's filename. */
void xlcfg_error_format(const struct xlcfg *cfg_or_null, const char *filename,
			const struct xlcfg_error *err, char *buf, size_t size);

void xlcfg_free(struct xlcfg *cfg);

#endif
