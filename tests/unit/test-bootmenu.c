/* test-bootmenu.c - unit tests for src/boot/bootmenu.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "boot/bootmenu.h"

#include <errno.h>
#include <string.h>

static struct boot_entry parse(enum bootmenu_kind kind, const char *text, int expect)
{
	struct boot_entry e = { 0 };
	assert_int_equal(bootmenu_parse(kind, text, strlen(text), &e), expect);
	return e;
}

static void test_grub2_default_index_and_title(void **state)
{
	const char *cfg =
		"set default=\"1\"\n"
		"if [ x$feature_timeout_style = xy ] ; then\n  set timeout=5\nfi\n"
		"menuentry 'Debian GNU/Linux' --class debian {\n"
		"\tinsmod ext2\n\tif [ x = y ]; then\n\t  search --no-floppy\n\tfi\n"
		"\tlinux\t/boot/vmlinuz-6.1.0-9-amd64 root=UUID=1234 ro  quiet\n"
		"\tinitrd\t/boot/initrd.img-6.1.0-9-amd64\n}\n"
		"submenu 'Advanced options' {\n"
		"menuentry \"rescue\" {\n\tlinux /boot/vmlinuz-rescue single\n}\n}\n";
	struct boot_entry e = parse(BOOTMENU_GRUB2, cfg, 0);

	assert_string_equal(e.title, "rescue");
	assert_string_equal(e.kernel, "/boot/vmlinuz-rescue");
	assert_string_equal(e.args, "single");
	assert_null(e.initrd);
	boot_entry_release(&e);

	e = parse(BOOTMENU_GRUB2, cfg + strlen("set default=\"1\"\n"), 0);
	assert_string_equal(e.kernel, "/boot/vmlinuz-6.1.0-9-amd64");
	assert_string_equal(e.args, "root=UUID=1234 ro  quiet");
	assert_string_equal(e.initrd, "/boot/initrd.img-6.1.0-9-amd64");
	boot_entry_release(&e);
}

static void test_grub_legacy(void **state)
{
	const char *lst = "default 0\ntimeout 5\n\n"
			  "title Debian GNU/Linux, kernel 2.6.32-5-xen-amd64\n"
			  "root (hd0,0)\n"
			  "kernel /boot/vmlinuz-2.6.32-5-xen-amd64 root=/dev/xvda2 ro\n"
			  "initrd /boot/initrd.img-2.6.32-5-xen-amd64\n";
	struct boot_entry e = parse(BOOTMENU_GRUB_LEGACY, lst, 0);
	assert_string_equal(e.kernel, "/boot/vmlinuz-2.6.32-5-xen-amd64");
	assert_string_equal(e.args, "root=/dev/xvda2 ro");
	assert_string_equal(e.initrd, "/boot/initrd.img-2.6.32-5-xen-amd64");
	boot_entry_release(&e);
}

static void test_extlinux(void **state)
{
	const char *conf = "DEFAULT linux\nLABEL other\n  KERNEL /x\nLABEL linux\n"
			   "  APPEND root=/dev/xvda1 initrd=/initrd.img console=hvc0\n"
			   "  KERNEL /vmlinuz\n";
	struct boot_entry e = parse(BOOTMENU_EXTLINUX, conf, 0);
	assert_string_equal(e.kernel, "/vmlinuz");
	assert_string_equal(e.initrd, "/initrd.img");
	assert_string_equal(e.args, "root=/dev/xvda1 initrd=/initrd.img console=hvc0");
	boot_entry_release(&e);
}

static void test_bad_menus(void **state)
{
	struct boot_entry e = { 0 };
	parse(BOOTMENU_GRUB2, "", -ENOENT);
	parse(BOOTMENU_GRUB2, "menuentry 'x' {\n}\n", -ENOENT);
	e = parse(BOOTMENU_GRUB_LEGACY, "default 7\ntitle a\nkernel /k\n", 0);
	assert_string_equal(e.kernel, "/k"); /* a default out of range means the first */
	boot_entry_release(&e);
	assert_int_equal(bootmenu_parse(BOOTMENU_GRUB2, "x", BOOTMENU_MAX_SIZE + 1, &e), -EFBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grub2_default_index_and_title),
		cmocka_unit_test(test_grub_legacy),
		cmocka_unit_test(test_extlinux),
		cmocka_unit_test(test_bad_menus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
