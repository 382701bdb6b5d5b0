/* bootmenu.h - read a guest's boot menu: GRUB 2 grub.cfg, GRUB legacy
 * menu.lst, or extlinux.conf, and pick its default entry.
 *
 * Only what a boot needs is read: the default entry's kernel, initrd and
 * kernel arguments. Scripting (if/for/functions) in grub.cfg is skipped.
 */
#ifndef DOMUS_BOOTMENU_H
#define DOMUS_BOOTMENU_H

#include <stddef.h>

enum bootmenu_kind { BOOTMENU_GRUB2, BOOTMENU_GRUB_LEGACY, BOOTMENU_EXTLINUX };

struct boot_entry {
	char *title;   /* may be NULL */
	char *kernel;  /* path inside the guest's filesystem */
	char *initrd;  /* or NULL */
	char *args;    /* kernel arguments, "" if none */
};

/* Largest menu accepted. */
#define BOOTMENU_MAX_SIZE (1u << 20)

/* Parse TEXT (LEN bytes) as KIND and fill RET with its default entry (the
 * first if the default cannot be resolved). Returns 0, -ENOENT if the menu
 * has no bootable entry, -EFBIG if it is too large, or -ENOMEM. */
int bootmenu_parse(enum bootmenu_kind kind, const char *text, size_t len, struct boot_entry *ret);

void boot_entry_release(struct boot_entry *e);

#endif
