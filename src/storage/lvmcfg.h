/* lvmcfg.h - LVM's configuration text grammar (the metadata text format).
 *
 *   file    := item*
 *   item    := NAME '=' value | NAME '{' item* '}'
 *   value   := NUMBER | STRING | '[' [scalar (',' scalar)*] ']'
 *   NAME    := [A-Za-z0-9_.+-]+   STRING := '"' (char | '\' char)* '"'
 *   '#' starts a comment that runs to the end of the line.
 * Numbers are 64-bit signed integers (LVM also allows floats in lvm.conf;
 * they are kept as their text). The parser bounds nesting depth and item
 * count so hostile input cannot exhaust the stack or memory.
 */
#ifndef DOMUS_STORAGE_LVMCFG_H
#define DOMUS_STORAGE_LVMCFG_H

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

enum cfg_type { CFG_SECTION, CFG_INT, CFG_STR, CFG_FLOAT, CFG_ARRAY };

struct cfg_node {
	char *key;               /* NULL for array elements */
	enum cfg_type type;
	int64_t num;             /* CFG_INT */
	char *str;               /* CFG_STR (unescaped), CFG_FLOAT (text) */
	struct cfg_node *child;  /* CFG_SECTION items / CFG_ARRAY elements */
	struct cfg_node *next;
};

#define CFG_MAX_DEPTH 32
#define CFG_MAX_NODES 1000000

/* Parse TEXT (LEN bytes, need not be NUL-terminated) into a root section.
 * Returns 0, -EINVAL on a syntax error (with *ret_line set to the line, if
 * RET_LINE is not NULL), -E2BIG past the limits, -ENOMEM. */
int cfg_parse(const char *text, size_t len, struct cfg_node **ret_root, unsigned *ret_line);

/* Free a tree (NULL is fine); returns NULL. */
struct cfg_node *cfg_free(struct cfg_node *n);

/* The first item KEY in section SEC, of TYPE (any type if TYPE < 0); NULL if
 * missing or of another type. */
const struct cfg_node *cfg_find(const struct cfg_node *sec, const char *key, int type);

/* Typed getters: 0, -ENOENT when missing, -EINVAL when of another type. */
int cfg_get_int(const struct cfg_node *sec, const char *key, int64_t *ret);
int cfg_get_u64(const struct cfg_node *sec, const char *key, uint64_t *ret);
int cfg_get_str(const struct cfg_node *sec, const char *key, const char **ret);

/* Write item N as text to F, as lvm2 writes metadata: "key = value" or
 * "name {" ... "}", one item per line, no indentation. cfg_write_all writes
 * N and all its following siblings. */
void cfg_write_item(FILE *f, const struct cfg_node *n);
void cfg_write_all(FILE *f, const struct cfg_node *n);

/* Write STR as a quoted, escaped config string. */
void cfg_write_string(FILE *f, const char *str);

#endif
