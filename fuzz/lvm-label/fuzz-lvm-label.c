/* fuzz-lvm-label.c - fuzz the LVM2 label / PV header and metadata area
 * header decoders: the first 2 KiB are label sectors, the next 512 bytes a
 * metadata area header. Whatever decodes must encode back to bytes that
 * decode to the same values. */
#include "storage/format.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lvm_pv_label l, l2;
	struct lvm_mda_header h, h2;
	uint8_t sec[LVM_SECTOR], buf[LVM_MDA_HEADER_SIZE];
	size_t lsize = size < 2048 ? size : 2048;

	if (lvm_label_decode(data, lsize, &l) == 0 && lvm_label_encode(&l, sec) == 0) {
		uint8_t dev[LVM_LABEL_SCAN_SECTORS * LVM_SECTOR] = { 0 };
		memcpy(dev + l.sector * LVM_SECTOR, sec, sizeof(sec));
		if (lvm_label_decode(dev, sizeof(dev), &l2) != 0 || strcmp(l.uuid, l2.uuid) ||
		    l.n_mda != l2.n_mda || l.n_data != l2.n_data)
			abort();
	}
	if (size > 2048 &&
	    lvm_mda_header_decode(data + 2048, size - 2048, &h) == 0) {
		lvm_mda_header_encode(&h, buf);
		if (lvm_mda_header_decode(buf, sizeof(buf), &h2) != 0 ||
		    h.committed.offset != h2.committed.offset || h.size != h2.size)
			abort();
	}
	return 0;
}
