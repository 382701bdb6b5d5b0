/* fuzz-xlcfg.c - libFuzzer target for the xl.cfg parser and domcfg.
 *
 * The input is parsed as a file. If it contains the marker "\n%%\n", the
 * part after it is split into lines, each applied as a command-line
 * override. Then the domcfg is built, turned into JSON, read back and
 * turned into JSON again, which must give the same text.
 */
#include "config/domcfg.h"
#include "config/xlcfg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char marker[] = "\n%%\n";

static void apply_overrides(struct xlcfg *cfg, const char *text, size_t len)
{
	char *copy = malloc(len + 1), *save = NULL;
	struct xlcfg_error err;

	if (!copy)
		return;
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		xlcfg_apply_override(cfg, l, &err);
	free(copy);
}

static void round_trip(const struct domcfg *c)
{
	json_t *j = domcfg_to_json(c), *j2;
	struct domcfg *back = NULL;
	char *s1, *s2;

	if (!j)
		return;
	s1 = json_dumps(j, JSON_PRESERVE_ORDER);
	if (domcfg_from_json(j, &back) != 0)
		abort();  /* what to_json writes, from_json must read */
	j2 = domcfg_to_json(back);
	s2 = j2 ? json_dumps(j2, JSON_PRESERVE_ORDER) : NULL;
	if (!s1 || !s2 || strcmp(s1, s2) != 0)
		abort();
	free(s1);
	free(s2);
	json_decref(j);
	json_decref(j2);
	domcfg_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *m = memmem(text, size, marker, sizeof(marker) - 1);
	size_t file_len = m ? (size_t)(m - text) : size;
	struct xlcfg *cfg = NULL;
	struct domcfg *c = NULL;
	struct xlcfg_error err;
	char msg[1024];

	if (xlcfg_parse(text, file_len, "fuzz.cfg", &cfg, &err) < 0) {
		xlcfg_error_format(NULL, "fuzz.cfg", &err, msg, sizeof(msg));
		return 0;
	}
	if (m)
		apply_overrides(cfg, m + sizeof(marker) - 1,
				size - file_len - (sizeof(marker) - 1));
	if (domcfg_from_xlcfg(cfg, &c, &err) == 0) {
		round_trip(c);
		domcfg_free(c);
	} else {
		xlcfg_error_format(cfg, NULL, &err, msg, sizeof(msg));
	}
	xlcfg_free(cfg);
	return 0;
}
