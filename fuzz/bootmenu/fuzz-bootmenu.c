/* fuzz-bootmenu.c - boot menu parsing (grub.cfg, menu.lst, extlinux.conf
 * come from inside guest disks: guest-controlled input). The first byte
 * picks the menu kind. */
#include "boot/bootmenu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct boot_entry e;

	if (size < 1)
		return 0;
	if (bootmenu_parse((enum bootmenu_kind)(data[0] % 3), (const char *)data + 1, size - 1, &e) == 0) {
		if (!e.kernel || !e.args)
			abort();
		boot_entry_release(&e);
	}
	return 0;
}
