/* pygrub.h - what Xen's pygrub does, for Domus: find the kernel, initrd and
 * arguments a guest's own boot menu names, inside its disk, and copy them
 * out for a direct kernel boot.
 *
 * Reads ext2/3/4 filesystems with e2fsprogs' debugfs (no mounting), on a
 * whole-disk filesystem or on the partitions of an MBR-partitioned disk.
 * Menus: /boot/grub/grub.cfg, /boot/grub/menu.lst, /boot/extlinux/extlinux.conf
 * (or the same without /boot/ for a separate boot partition); without one,
 * Debian's /vmlinuz and /initrd.img links.
 */
#ifndef DOMUS_PYGRUB_H
#define DOMUS_PYGRUB_H

#include <stddef.h>
#include <stdint.h>

#include "boot/bootmenu.h"

/* Extract from the raw disk that starts BASE bytes into the file or block
 * device DISK (0 for a disk image; the extents of a logical volume
 * otherwise) into OUT_DIR. LABEL names the disk in messages. On success
 * RET holds the copied kernel (and initrd) paths in OUT_DIR and the menu's
 * kernel arguments. On failure ERRBUF says why. Returns 0 or -errno. */
int pygrub_extract(const char *disk, uint64_t base, const char *label, const char *out_dir,
		   struct boot_entry *ret, char *errbuf, size_t errsize);

#endif
