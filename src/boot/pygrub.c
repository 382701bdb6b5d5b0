/* pygrub.c - boot files from inside a guest's disk, read with debugfs. */
#include "boot/pygrub.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXT_MAGIC_OFFSET 1080
#define MAX_LINK_HOPS 8

static bool is_ext_at(int fd, uint64_t offset)
{
	uint8_t m[2];
	return pread(fd, m, 2, (off_t)(offset + EXT_MAGIC_OFFSET)) == 2 && m[0] == 0x53 && m[1] == 0xef;
}

/* Byte offsets of the ext filesystems on the disk at BASE in DISK: the
 * whole disk, or its MBR partitions. Returns how many were found (at most
 * MAX). */
static int find_filesystems(const char *disk, uint64_t base, uint64_t *offsets, int max)
{
	_cleanup_close_ int fd = open(disk, O_RDONLY | O_CLOEXEC);
	uint8_t mbr[512];
	int n = 0;

	if (fd < 0)
		return -errno;
	if (is_ext_at(fd, base)) {
		offsets[0] = base;
		return 1;
	}
	if (pread(fd, mbr, sizeof(mbr), (off_t)base) != sizeof(mbr) || mbr[510] != 0x55 ||
	    mbr[511] != 0xaa)
		return 0;
	for (int i = 0; i < 4 && n < max; i++) {
		const uint8_t *p = mbr + 446 + 16 * i;
		uint64_t lba = (uint64_t)p[8] | (uint64_t)p[9] << 8 | (uint64_t)p[10] << 16 |
			       (uint64_t)p[11] << 24;
		if (p[4] != 0 && lba && is_ext_at(fd, base + lba * 512))
			offsets[n++] = base + lba * 512;
	}
	return n;
}

/* Run debugfs -R REQUEST on DEV and capture its stdout (at most MAX bytes). */
static int debugfs(const char *dev, const char *request, size_t max, char **ret_out, size_t *ret_len)
{
	int p[2];
	pid_t pid;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int status, r = 0;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(p[1], STDOUT_FILENO);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execlp("debugfs", "debugfs", "-R", request, dev, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t n;
		if (len + 4096 + 1 > cap) {
			char *nb;
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(p[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = -EFBIG;
			break;
		}
	}
	close(p[0]);
	if (r < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		r = WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -ENOEXEC : -EIO;
	if (r < 0) {
		free(buf);
		return r;
	}
	if (!buf && !(buf = strdup("")))
		return -ENOMEM;
	buf[len] = '\0';
	*ret_out = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* Follow symlinks of PATH inside the filesystem. *RET is the regular file's
 * path; -ENOENT if it does not exist. */
static int resolve(const char *dev, const char *path, char **ret)
{
	_cleanup_free_ char *cur = strdup(path);

	if (!cur)
		return -ENOMEM;
	for (int hop = 0; hop < MAX_LINK_HOPS; hop++) {
		_cleanup_free_ char *req = strprintf("stat \"%s\"", cur);
		_cleanup_free_ char *out = NULL;
		char *link, *end, *next;
		int r;

		if (!req || strchr(cur, '"'))
			return -EINVAL;
		r = debugfs(dev, req, 1 << 16, &out, NULL);
		if (r < 0)
			return r;
		if (!strstr(out, "Inode:"))
			return -ENOENT;
		if (!strstr(out, "Type: symlink")) {
			*ret = TAKE_PTR(cur);
			return 0;
		}
		link = strstr(out, "Fast link dest: \"");
		if (!link)
			return -ENOENT; /* slow symlinks are not followed */
		link += strlen("Fast link dest: \"");
		end = strchr(link, '"');
		if (!end)
			return -EINVAL;
		*end = '\0';
		if (link[0] == '/') {
			next = strdup(link);
		} else {
			char *slash = strrchr(cur, '/');
			*slash = '\0';
			next = strprintf("%s/%s", cur, link);
		}
		if (!next)
			return -ENOMEM;
		free(cur);
		cur = next;
	}
	return -ELOOP;
}

/* Copy the guest file PATH to OUT. A menu written for a separate /boot
 * partition names "/vmlinuz-x"; on a single filesystem it lives in /boot. */
static int copy_out(const char *dev, const char *path, const char *out)
{
	_cleanup_free_ char *real = NULL, *req = NULL, *out_data = NULL;
	int r = resolve(dev, path, &real);

	if (r == -ENOENT && !startswith(path, "/boot/")) {
		_cleanup_free_ char *alt = strprintf("/boot%s%s", path[0] == '/' ? "" : "/", path);
		if (!alt)
			return -ENOMEM;
		r = resolve(dev, alt, &real);
	}
	if (r < 0)
		return r;
	unlink(out);
	req = strprintf("dump \"%s\" \"%s\"", real, out);
	if (!req)
		return -ENOMEM;
	r = debugfs(dev, req, 1 << 16, &out_data, NULL);
	if (r == 0 && access(out, R_OK) < 0)
		r = -EIO;
	return r;
}

static const struct {
	const char *path;
	enum bootmenu_kind kind;
} menus[] = {
	{ "/boot/grub/grub.cfg", BOOTMENU_GRUB2 },
	{ "/grub/grub.cfg", BOOTMENU_GRUB2 },
	{ "/boot/grub/menu.lst", BOOTMENU_GRUB_LEGACY },
	{ "/grub/menu.lst", BOOTMENU_GRUB_LEGACY },
	{ "/boot/extlinux/extlinux.conf", BOOTMENU_EXTLINUX },
	{ "/extlinux/extlinux.conf", BOOTMENU_EXTLINUX },
};

/* The boot entry of the filesystem DEV: its menu's default, or Debian's
 * /vmlinuz and /initrd.img. */
static int find_entry(const char *dev, struct boot_entry *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(menus); i++) {
		_cleanup_free_ char *real = NULL, *req = NULL, *text = NULL;
		size_t len;
		int r = resolve(dev, menus[i].path, &real);

		if (r == -ENOEXEC)
			return r;
		if (r < 0)
			continue;
		req = strprintf("cat \"%s\"", real);
		if (!req || debugfs(dev, req, BOOTMENU_MAX_SIZE, &text, &len) < 0)
			continue;
		if (bootmenu_parse(menus[i].kind, text, len, ret) == 0)
			return 0;
	}
	for (const char *const *k = (const char *const[]){ "/vmlinuz", "/boot/vmlinuz", NULL }; *k; k++) {
		_cleanup_free_ char *real = NULL;
		if (resolve(dev, *k, &real) == 0) {
			*ret = (struct boot_entry){ .kernel = strdup(*k), .args = strdup("") };
			if (resolve(dev, "/initrd.img", &real) == 0)
				ret->initrd = strdup("/initrd.img");
			else if (resolve(dev, "/boot/initrd.img", &real) == 0)
				ret->initrd = strdup("/boot/initrd.img");
			return ret->kernel && ret->args ? 0 : -ENOMEM;
		}
	}
	return -ENOENT;
}

int pygrub_extract(const char *disk, uint64_t base, const char *label, const char *out_dir,
		   struct boot_entry *ret, char *errbuf, size_t errsize)
{
	uint64_t offsets[4];
	int n = find_filesystems(disk, base, offsets, 4);

	if (n < 0) {
		snprintf(errbuf, errsize, "bootloader: cannot read '%s': %s", label, strerror(-n));
		return n;
	}
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *dev = offsets[i] ? strprintf("%s?offset=%llu", disk,
							   (unsigned long long)offsets[i]) : strdup(disk);
		_cleanup_free_ char *kernel = strprintf("%s/boot-kernel", out_dir);
		_cleanup_free_ char *initrd = strprintf("%s/boot-initrd", out_dir);
		struct boot_entry e = { 0 };
		const char *what;
		int r;

		if (!dev || !kernel || !initrd)
			return -ENOMEM;
		r = find_entry(dev, &e);
		if (r == -ENOEXEC) {
			snprintf(errbuf, errsize, "bootloader: debugfs (e2fsprogs) is not installed");
			return r;
		}
		if (r < 0)
			continue;
		what = e.kernel;
		r = copy_out(dev, e.kernel, kernel);
		if (r == 0 && e.initrd) {
			what = e.initrd;
			r = copy_out(dev, e.initrd, initrd);
		}
		if (r < 0) {
			snprintf(errbuf, errsize, "bootloader: the boot menu on '%s' names '%s', which cannot be read: %s",
				 label, what, strerror(-r));
			boot_entry_release(&e);
			return r;
		}
		free(e.kernel);
		e.kernel = TAKE_PTR(kernel);
		if (e.initrd) {
			free(e.initrd);
			e.initrd = TAKE_PTR(initrd);
		}
		*ret = e;
		return 0;
	}
	snprintf(errbuf, errsize,
		 "bootloader: no boot menu or /vmlinuz found on an ext2/3/4 filesystem of '%s'", label);
	return -ENOENT;
}
