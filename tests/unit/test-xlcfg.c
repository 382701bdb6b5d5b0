/* test-xlcfg.c - unit tests for src/config/xlcfg.c, and the golden files.
 *
 * The golden test runs every tests/unit/golden/xlcfg/NAME.cfg through
 * xlcfg_parse(), the overrides in NAME.override (one per line, if present)
 * and domcfg_from_xlcfg(), and compares the result with NAME.json (the
 * pretty-printed domcfg_to_json()) or NAME.err (the formatted error).
 * DOMUS_REGEN_GOLDEN=1 rewrites the expected files instead; review the diff.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "config/domcfg.h"
#include "config/xlcfg.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *golden_dir;

static struct xlcfg *parse_ok(const char *text)
{
	struct xlcfg *cfg = NULL;
	struct xlcfg_error err;
	int r = xlcfg_parse(text, strlen(text), "t.cfg", &cfg, &err);

	if (r < 0)
		fail_msg("unexpected error %d: %d:%d: %s", r, err.line, err.col, err.message);
	return cfg;
}

/* Parse TEXT, expect failure; return the formatted message (static). */
static const char *parse_err(const char *text, size_t len)
{
	static char buf[1024];
	struct xlcfg *cfg = NULL;
	struct xlcfg_error err;

	assert_int_equal(xlcfg_parse(text, len, "t.cfg", &cfg, &err), -EINVAL);
	assert_null(cfg);
	xlcfg_error_format(NULL, "t.cfg", &err, buf, sizeof(buf));
	return buf;
}
#define PARSE_ERR(s) parse_err((s), strlen(s))

static void test_values(void **state)
{
	struct xlcfg *cfg = parse_ok("a = 'x\\ty'\nb = \"q\\\"\\x41\\102\" ; c = 0x1F\n"
				     "d = 017\ne = 0\nf = [ 1, [ 'z', [] ], ]\n");
	const struct xlcfg_value *v;

	assert_string_equal(xlcfg_get(cfg, "a")->str, "x\ty");
	assert_string_equal(xlcfg_get(cfg, "b")->str, "q\"AB");
	assert_int_equal(xlcfg_get(cfg, "c")->num, 31);
	assert_string_equal(xlcfg_get(cfg, "c")->str, "0x1F");
	assert_int_equal(xlcfg_get(cfg, "d")->num, 15);
	assert_int_equal(xlcfg_get(cfg, "e")->num, 0);
	v = xlcfg_get(cfg, "f");
	assert_int_equal(v->type, XLCFG_LIST);
	assert_int_equal(v->n_items, 2);
	assert_int_equal(v->items[1]->type, XLCFG_LIST);
	assert_string_equal(v->items[1]->items[0]->str, "z");
	assert_int_equal(v->items[1]->items[1]->n_items, 0);
	assert_int_equal(v->line, 5);
	assert_int_equal(v->col, 5);
	assert_null(xlcfg_get(cfg, "g"));
	xlcfg_free(cfg);
}

static void test_duplicates_and_append(void **state)
{
	struct xlcfg *cfg = parse_ok("m = 1\nl = ['a']\ns = 'x'\nm = 2\nl += ['b', 'c']\n"
				     "s += 'y'\nn += 'new'\n");

	assert_int_equal(cfg->n_settings, 4);
	assert_string_equal(cfg->settings[0].key, "m");
	assert_int_equal(cfg->settings[0].value->num, 2);
	assert_int_equal(cfg->settings[0].line, 4);
	assert_int_equal(xlcfg_get(cfg, "l")->n_items, 3);
	assert_string_equal(xlcfg_get(cfg, "l")->items[2]->str, "c");
	assert_string_equal(xlcfg_get(cfg, "s")->str, "xy");
	assert_string_equal(xlcfg_get(cfg, "n")->str, "new");
	xlcfg_free(cfg);
	assert_string_equal(PARSE_ERR("m = 1\nm += 2\n"),
			    "t.cfg:2:3: '+=' cannot add a number to 'm', which is a number");
	assert_string_equal(PARSE_ERR("l = []\nl += 'x'\n"),
			    "t.cfg:2:3: '+=' cannot add a string to 'l', which is a list");
	/* the error points at the operator even when the value spans lines */
	assert_string_equal(PARSE_ERR("s = 'a'\ns += [\n\n'x'\n]\n"),
			    "t.cfg:2:3: '+=' cannot add a list to 's', which is a string");
}

static void test_syntax_errors(void **state)
{
	assert_string_equal(PARSE_ERR("a = 'abc\n"),
			    "t.cfg:1:5: unterminated string: expected a closing ' on the same line");
	assert_string_equal(PARSE_ERR("a = \"abc"),
			    "t.cfg:1:5: unterminated string: expected a closing \" on the same line");
	assert_string_equal(PARSE_ERR("a = 'a\\qb'"),
			    "t.cfg:1:7: unknown escape '\\q'");
	assert_string_equal(PARSE_ERR("a = 'a\\0b'"), "t.cfg:1:7: strings cannot contain a nul byte");
	assert_string_equal(PARSE_ERR("a = 08"),
			    "t.cfg:1:5: invalid number '08' (decimal, 0x hex or 0 octal integers only)");
	assert_string_equal(PARSE_ERR("a = 1.5"),
			    "t.cfg:1:5: invalid number '1.5' (decimal, 0x hex or 0 octal integers only)");
	assert_string_equal(PARSE_ERR("a = 99999999999999999999"), "t.cfg:1:5: number too large");
	assert_string_equal(PARSE_ERR("a = -1"), "t.cfg:1:5: negative numbers are not allowed");
	assert_string_equal(PARSE_ERR("a =\n"), "t.cfg:1:4: expected a value (a quoted string, "
			    "a number or a list), found end of line");
	assert_string_equal(PARSE_ERR("a = foo"), "t.cfg:1:5: expected a value (a quoted string, "
			    "a number or a list), found the bare word 'foo' (strings need quotes)");
	assert_string_equal(PARSE_ERR("a = [1 2]"), "t.cfg:1:8: expected ',' or ']' in the list "
			    "opened at line 1 column 5, found '2'");
	assert_string_equal(PARSE_ERR("a = [1,\n\n"), "t.cfg:3:1: expected a value (a quoted "
			    "string, a number or a list), found end of file");
	assert_string_equal(PARSE_ERR("a = 1 b = 2"), "t.cfg:1:7: expected end of line or ';' "
			    "after the value of 'a', found 'b'");
	assert_string_equal(PARSE_ERR("a == 1"), "t.cfg:1:3: expected '=' or '+=' after 'a', "
			    "found '='");
	assert_string_equal(PARSE_ERR("= 1"), "t.cfg:1:1: expected a setting (KEY = VALUE), "
			    "found '='");
	assert_string_equal(PARSE_ERR("a = 1\n\xc3\xa9t\xc3\xa9 = 1"),
			    "t.cfg:2:1: expected a setting (KEY = VALUE), found byte 0xc3");
	assert_string_equal(parse_err("a = 1\0", 6), "t.cfg:1:6: expected end of line or ';' "
			    "after the value of 'a', found a nul byte");
	assert_string_equal(parse_err("a = 1\n\0", 7), "t.cfg:2:1: expected a setting "
			    "(KEY = VALUE), found a nul byte");
	assert_string_equal(PARSE_ERR("kernel = \xe2\x80\x99/boot/x\xe2\x80\x99"),
			    "t.cfg:1:10: expected a value (a quoted string, a number or a list), "
			    "found a typographic quote (use ASCII ' or \")");
}

static void test_python(void **state)
{
	assert_string_equal(PARSE_ERR("import os\n"), "t.cfg:1:1: xl.cfg is not Python: "
			    "'import' statements are not supported (only KEY = VALUE settings)");
	assert_string_equal(PARSE_ERR("def f():\n  return 1\n"), "t.cfg:1:1: xl.cfg is not "
			    "Python: 'def' statements are not supported (only KEY = VALUE settings)");
	assert_string_equal(PARSE_ERR("if x:\n"), "t.cfg:1:1: xl.cfg is not Python: 'if' "
			    "statements are not supported (only KEY = VALUE settings)");
	assert_string_equal(PARSE_ERR("setup('x')\n"), "t.cfg:1:1: xl.cfg is not Python: "
			    "'setup(...)' calls are not supported (only KEY = VALUE settings)");
	assert_string_equal(PARSE_ERR("memory = 512 * 2\n"), "t.cfg:1:14: xl.cfg has no "
			    "expressions (it is not Python): expected end of line or ';' after the "
			    "value of 'memory', found '*'");
	assert_string_equal(PARSE_ERR("vnc = False\n"), "t.cfg:1:7: xl.cfg is not Python: "
			    "'False' is not a value (use 1 or 0, or leave the setting out)");
}

/* Build a string of N copies of UNIT between PREFIX and SUFFIX. */
static char *repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
	size_t lp = strlen(prefix), lu = strlen(unit), ls = strlen(suffix);
	char *s = malloc(lp + lu * n + ls + 1);

	assert_non_null(s);
	memcpy(s, prefix, lp);
	for (size_t i = 0; i < n; i++)
		memcpy(s + lp + i * lu, unit, lu);
	memcpy(s + lp + lu * n, suffix, ls + 1);
	return s;
}

static void test_limits(void **state)
{
	_cleanup_free_ char *deep = repeat("a = ", "[", XLCFG_MAX_DEPTH + 1, "");
	_cleanup_free_ char *ok_deep = repeat("a = ", "[", XLCFG_MAX_DEPTH, "");
	_cleanup_free_ char *long_str = repeat("a = '", "x", XLCFG_MAX_STRING + 1, "'");
	_cleanup_free_ char *long_list = repeat("a = [", "1,\n", XLCFG_MAX_ITEMS + 1, "]");
	_cleanup_free_ char *appends = repeat("a = ''\n", "a += 'xxxxxxxxxxxxxxx'\n",
					      XLCFG_MAX_STRING / 15 + 1, "");
	_cleanup_free_ char *big = repeat("", "#", XLCFG_MAX_FILE + 1, "");
	char key[200];

	assert_string_equal(PARSE_ERR(deep), "t.cfg:1:21: lists nested deeper than 16 levels");
	/* one level less is fine as far as depth goes: it fails at end of file */
	assert_non_null(strstr(PARSE_ERR(ok_deep), "found end of file"));
	assert_string_equal(PARSE_ERR(long_str), "t.cfg:1:5: string longer than 65536 bytes");
	assert_string_equal(PARSE_ERR(long_list), "t.cfg:1:5: list longer than 4096 items");
	assert_non_null(strstr(PARSE_ERR(appends), "'+=' makes 'a' longer than 65536 bytes"));
	assert_string_equal(PARSE_ERR(big), "t.cfg:1:1: file larger than 1048576 bytes");
	memset(key, 'k', sizeof(key));
	strcpy(key + 100, " = 1");
	assert_string_equal(PARSE_ERR(key), "t.cfg:1:1: name longer than 64 characters");
}

static void test_too_many_settings(void **state)
{
	size_t size = (XLCFG_MAX_SETTINGS + 1) * 16;
	_cleanup_free_ char *text = malloc(size);
	size_t len = 0;

	assert_non_null(text);
	for (int i = 0; i <= XLCFG_MAX_SETTINGS; i++)
		len += (size_t)snprintf(text + len, size - len, "k%d = %d\n", i, i);
	assert_string_equal(parse_err(text, len), "t.cfg:513:6: more than 512 different settings");
}

static void test_overrides(void **state)
{
	struct xlcfg *cfg = parse_ok("name = 'a'\nmemory = 256\ndisk = ['x']\n");
	struct xlcfg_error err;
	char buf[600];

	assert_int_equal(xlcfg_apply_override(cfg, "memory=512", &err), 0);
	assert_int_equal(xlcfg_get(cfg, "memory")->num, 512);
	assert_int_equal(xlcfg_get(cfg, "memory")->line, 0);
	assert_int_equal(xlcfg_apply_override(cfg, "name=bare word", &err), 0);
	assert_string_equal(xlcfg_get(cfg, "name")->str, "bare word");
	assert_int_equal(xlcfg_apply_override(cfg, "kernel=/boot/vmlinuz", &err), 0);
	assert_string_equal(xlcfg_get(cfg, "kernel")->str, "/boot/vmlinuz");
	assert_int_equal(xlcfg_apply_override(cfg, "disk += [ 'y' ]", &err), 0);
	assert_int_equal(xlcfg_get(cfg, "disk")->n_items, 2);
	assert_int_equal(xlcfg_apply_override(cfg, "extra='a\\tb'", &err), 0);
	assert_string_equal(xlcfg_get(cfg, "extra")->str, "a\tb");
	assert_int_equal(xlcfg_apply_override(cfg, "root=", &err), 0);
	assert_string_equal(xlcfg_get(cfg, "root")->str, "");
	assert_int_equal(cfg->n_settings, 6);
	assert_string_equal(cfg->settings[5].key, "root");

	assert_int_equal(xlcfg_apply_override(cfg, "disk=['z'", &err), -EINVAL);
	xlcfg_error_format(cfg, NULL, &err, buf, sizeof(buf));
	assert_string_equal(buf, "t.cfg: override 'disk=['z'': expected ',' or ']' in the list "
			    "opened at line 1 column 6, found end of file (at column 10)");
	assert_int_equal(xlcfg_apply_override(cfg, "novalue", &err), -EINVAL);
	assert_string_equal(err.message, "override 'novalue': expected '=' or '+=' after "
			    "'novalue' (at column 8)");
	assert_int_equal(xlcfg_apply_override(cfg, "a=1\nb=2", &err), -EINVAL);
	assert_int_equal(xlcfg_apply_override(cfg, "memory+='x'", &err), -EINVAL);
	assert_int_equal(xlcfg_get(cfg, "memory")->num, 512);
	xlcfg_free(cfg);
}

/* --- golden files --- */

static char *golden_path(const char *name, const char *ext)
{
	char *p = strprintf("%s/%s%s", golden_dir, name, ext);

	assert_non_null(p);
	return p;
}

static void apply_overrides(struct xlcfg *cfg, const char *name, struct xlcfg_error *err,
			    int *r)
{
	_cleanup_free_ char *path = golden_path(name, ".override");
	_cleanup_free_ char *text = NULL;
	char *save = NULL;
	size_t len;

	if (read_file(path, 1 << 20, &text, &len) < 0)
		return;
	for (char *l = strtok_r(text, "\n", &save); l && *r == 0; l = strtok_r(NULL, "\n", &save))
		*r = xlcfg_apply_override(cfg, l, err);
}

/* The text a golden NAME.cfg produces: JSON or an error line. */
static char *golden_output(const char *name, bool *is_error)
{
	_cleanup_free_ char *path = golden_path(name, ".cfg"), *text = NULL, *cfgname = NULL;
	struct xlcfg *cfg = NULL;
	struct domcfg *dc = NULL;
	struct xlcfg_error err;
	char msg[1024], *out;
	size_t len;
	int r;

	assert_int_equal(read_file(path, 1 << 21, &text, &len), 0);
	cfgname = strprintf("%s.cfg", name);
	r = xlcfg_parse(text, len, cfgname, &cfg, &err);
	if (r == 0)
		apply_overrides(cfg, name, &err, &r);
	if (r == 0)
		r = domcfg_from_xlcfg(cfg, &dc, &err);
	assert_true(r == 0 || r == -EINVAL);
	*is_error = r < 0;
	if (r < 0) {
		xlcfg_error_format(cfg, cfgname, &err, msg, sizeof(msg));
		out = strprintf("%s\n", msg);
	} else {
		json_t *j = domcfg_to_json(dc);
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		out = strprintf("%s\n", s);
		free(s);
		json_decref(j);
	}
	domcfg_free(dc);
	xlcfg_free(cfg);
	assert_non_null(out);
	return out;
}

static void check_golden(const char *name, unsigned *mismatches)
{
	bool is_error;
	_cleanup_free_ char *out = golden_output(name, &is_error);
	_cleanup_free_ char *want_path = golden_path(name, is_error ? ".err" : ".json");
	_cleanup_free_ char *other_path = golden_path(name, is_error ? ".json" : ".err");
	_cleanup_free_ char *want = NULL;
	size_t len;

	if (getenv("DOMUS_REGEN_GOLDEN")) {
		assert_int_equal(write_file_atomic(want_path, out, strlen(out), 0644), 0);
		unlink(other_path);
		return;
	}
	if (read_file(want_path, 1 << 21, &want, &len) < 0 || strcmp(want, out) != 0) {
		fprintf(stderr, "golden mismatch for %s (want %s):\n%s", name, want_path, out);
		(*mismatches)++;
	}
}

static void test_golden(void **state)
{
	DIR *d = opendir(golden_dir);
	struct dirent *de;
	unsigned n = 0, mismatches = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 4 && !strcmp(de->d_name + l - 4, ".cfg")) {
			_cleanup_free_ char *name = strndup(de->d_name, l - 4);
			check_golden(name, &mismatches);
			n++;
		}
	}
	closedir(d);
	assert_true(n >= 20);
	assert_int_equal(mismatches, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_duplicates_and_append),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_python),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_too_many_settings),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_golden),
	};

	golden_dir = argc > 1 ? argv[1] : "tests/unit/golden/xlcfg";
	return cmocka_run_group_tests(tests, NULL, NULL);
}
