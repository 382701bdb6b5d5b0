/* fuzz-domcfg-json.c - a VM config as JSON, as a save file or a migrating
 * host sends it (untrusted: another host, a file on disk). */
#include "config/domcfg.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	struct domcfg *c = NULL;

	if (j && domcfg_from_json(j, &c) == 0) {
		json_t *back = domcfg_to_json(c);
		if (!back)
			abort();
		json_decref(back);
		domcfg_free(c);
	}
	json_decref(j);
	return 0;
}
