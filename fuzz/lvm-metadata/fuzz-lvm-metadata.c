/* fuzz-lvm-metadata.c - fuzz the LVM metadata text parser and the VG
 * importer: any VG that imports must export to text that imports again to
 * the same text. */
#include "storage/vg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lvm_vg *vg = NULL, *vg2 = NULL;
	char *t1 = NULL, *t2 = NULL;
	size_t l1, l2;

	if (vg_import((const char *)data, size, &vg) < 0)
		return 0;
	if (vg_export(vg, "fuzz", "h", 0, &t1, &l1) < 0)
		abort();
	if (vg_import(t1, l1, &vg2) < 0)
		abort();
	if (vg_export(vg2, "fuzz", "h", 0, &t2, &l2) < 0 || l1 != l2 || memcmp(t1, t2, l1))
		abort();
	free(t1);
	free(t2);
	vg_free(vg);
	vg_free(vg2);
	return 0;
}
