/* test-cmdline.c - unit tests for src/qemu/cmdline.c: the QEMU command line
 * a VM's configuration turns into. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "config/domcfg.h"
#include "qemu/cmdline.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct domcfg *cfg_from(const char *text)
{
	struct xlcfg *xl = NULL;
	struct xlcfg_error err = { 0 };
	struct domcfg *c = NULL;

	assert_int_equal(xlcfg_parse(text, strlen(text), "t.cfg", &xl, &err), 0);
	assert_int_equal(domcfg_from_xlcfg(xl, &c, &err), 0);
	xlcfg_free(xl);
	return c;
}

/* The argument following OPT whose value contains NEEDLE, or NULL. */
static const char *find_opt(char **argv, const char *opt, const char *needle)
{
	for (size_t i = 0; argv[i] && argv[i + 1]; i++)
		if (streq(argv[i], opt) && strstr(argv[i + 1], needle))
			return argv[i + 1];
	return NULL;
}

static void test_pv_domain(void **state)
{
	struct domcfg *c = cfg_from("name='dom1'\nkernel='/k'\nramdisk='/i'\nmemory=512\nmaxmem=1024\n"
				    "vcpus=2\nroot='/dev/xvda2 ro'\nextra='console=hvc0 xencons=tty'\n");
	struct qemu_disk disks[] = {
		{ .path = "/d/swap,1", .format = "raw", .vdev = "xvda1" },
		{ .path = "/d/root", .format = "qcow2", .vdev = "xvda2", .readonly = true },
	};
	struct qemu_nic nics[] = { { .ifname = "vif1.0", .mac = "00:16:3e:73:63:b5",
				     .model = "virtio-net-pci" } };
	struct qemu_launch l = { .binary = "qemu-system-x86_64", .accel = ACCEL_TCG, .cfg = c,
				 .uuid = "u", .console_log = "/log/guest-dom1.log", .disks = disks,
				 .n_disks = 2, .nics = nics, .n_nics = 1 };
	_cleanup_strv_free_ char **argv = NULL;
	char err[256];

	assert_int_equal(qemu_build_argv(&l, &argv, err, sizeof(err)), 0);
	assert_string_equal(argv[0], "qemu-system-x86_64");
	assert_non_null(find_opt(argv, "-machine", "q35"));
	assert_non_null(find_opt(argv, "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"));
	assert_non_null(find_opt(argv, "-accel", "tcg,thread=single"));
	assert_non_null(find_opt(argv, "-m", "1024"));     /* maxmem; the balloon holds the rest */
	assert_non_null(find_opt(argv, "-smp", "2,maxcpus=2"));
	assert_non_null(find_opt(argv, "-kernel", "/k"));
	assert_non_null(find_opt(argv, "-initrd", "/i"));
	assert_string_equal(find_opt(argv, "-append", "root="),
			    "console=ttyS0 root=/dev/xvda2 ro console=hvc0 xencons=tty");
	/* commas in paths are doubled; the disk keeps its config name as serial */
	assert_non_null(find_opt(argv, "-drive", "file=/d/swap,,1,if=none,id=disk0,format=raw"));
	assert_non_null(find_opt(argv, "-drive", "file=/d/root,if=none,id=disk1,format=qcow2,readonly=on"));
	assert_non_null(find_opt(argv, "-device", "virtio-blk-pci,drive=disk1,serial=xvda2"));
	assert_non_null(find_opt(argv, "-netdev", "tap,id=net0,ifname=vif1.0,script=no"));
	assert_non_null(find_opt(argv, "-device", "virtio-net-pci,netdev=net0,mac=00:16:3e:73:63:b5"));
	assert_non_null(find_opt(argv, "-action", "reboot=shutdown,panic=pause"));
	assert_non_null(find_opt(argv, "-chardev", "logfile=/log/guest-dom1.log"));
	assert_non_null(find_opt(argv, "-device", "name=org.qemu.guest_agent.0"));
	assert_non_null(find_opt(argv, "-device", "virtconsole"));
	domcfg_free(c);
}

/* A migration target's QEMU: waits for the stream, holding the server's
 * TLS credentials from the start (no QMP round trips before it can load). */
static void test_incoming_tls(void **state)
{
	struct domcfg *c = cfg_from("name='dom1'\nkernel='/k'\nmemory=256\n");
	struct qemu_launch l = { .binary = "qemu-system-x86_64", .accel = ACCEL_TCG, .cfg = c,
				 .console_log = "/log/g.log", .incoming = true,
				 .incoming_tls_dir = "/run/tls,x", .tls_id = "mig-tls" };
	_cleanup_strv_free_ char **argv = NULL, **plain = NULL;
	char err[256];

	assert_int_equal(qemu_build_argv(&l, &argv, err, sizeof(err)), 0);
	assert_string_equal(find_opt(argv, "-object", "tls-creds-x509"),
			    "tls-creds-x509,id=mig-tls,endpoint=server,dir=/run/tls,,x,verify-peer=on");
	assert_non_null(find_opt(argv, "-global", "migration.tls-creds=mig-tls"));
	assert_non_null(find_opt(argv, "-incoming", "defer"));
	/* without a stream to wait for, no credentials */
	l.incoming = false;
	assert_int_equal(qemu_build_argv(&l, &plain, err, sizeof(err)), 0);
	assert_null(find_opt(plain, "-object", "tls-creds-x509"));
	assert_null(find_opt(plain, "-incoming", ""));
	domcfg_free(c);
}

/* NICs placed by a save or migration after hot plug: boot NIC 0 was
 * detached (its port stays, empty), NIC 2 sits on hot-plug port 0. */
static void test_carried_nic_placement(void **state)
{
	struct domcfg *c = cfg_from("name='dom1'\nkernel='/k'\n");
	struct qemu_nic nics[] = {
		{ .ifname = "vif3.1", .mac = "00:16:3e:00:00:02", .model = "virtio-net-pci",
		  .devid = 1, .port = "np1" },
		{ .ifname = "vif3.2", .mac = "00:16:3e:00:00:03", .model = "virtio-net-pci",
		  .devid = 2, .port = "hp0" },
	};
	struct qemu_launch l = { .binary = "qemu-system-x86_64", .accel = ACCEL_TCG, .cfg = c,
				 .uuid = "u", .console_log = "/log/g.log", .nics = nics, .n_nics = 2,
				 .n_nic_ports = 2 };
	_cleanup_strv_free_ char **argv = NULL;
	char err[256];

	assert_int_equal(qemu_build_argv(&l, &argv, err, sizeof(err)), 0);
	assert_non_null(find_opt(argv, "-device", "pcie-root-port,id=np0,chassis=20,addr=0x18.0,"
				 "multifunction=on"));
	assert_non_null(find_opt(argv, "-device", "pcie-root-port,id=np1,chassis=21,addr=0x18.1"));
	assert_null(find_opt(argv, "-device", "id=np2"));
	assert_non_null(find_opt(argv, "-device", "pcie-root-port,id=hp0,chassis=10,addr=0x6.0"));
	assert_non_null(find_opt(argv, "-netdev", "tap,id=net1,ifname=vif3.1,"));
	assert_non_null(find_opt(argv, "-netdev", "tap,id=net2,ifname=vif3.2,"));
	assert_null(find_opt(argv, "-netdev", "id=net0"));
	assert_non_null(find_opt(argv, "-device", "virtio-net-pci,netdev=net1,mac=00:16:3e:00:00:02,"
				 "id=nic1,bus=np1,"));
	assert_non_null(find_opt(argv, "-device", "virtio-net-pci,netdev=net2,mac=00:16:3e:00:00:03,"
				 "id=nic2,bus=hp0,"));
	domcfg_free(c);
}

/* A disk on an LV: an NBD client on the disk server's socket that waits
 * for the server to come back instead of failing guest I/O. */
static void test_nbd_disk(void **state)
{
	struct domcfg *c = cfg_from("name='dom1'\nkernel='/k'\nmemory=128\n");
	struct qemu_disk disks[] = {
		{ .format = "raw", .vdev = "xvda2", .nbd = true },
		{ .format = "raw", .vdev = "xvdb", .nbd = true, .readonly = true },
	};
	struct qemu_launch l = { .binary = "qemu", .cfg = c, .console_log = "/l", .disks = disks,
				 .n_disks = 2 };
	_cleanup_strv_free_ char **argv = NULL;
	char err[256];

	assert_int_equal(qemu_build_argv(&l, &argv, err, sizeof(err)), 0);
	assert_non_null(find_opt(argv, "-drive", "file.driver=nbd,file.server.type=unix,"
				 "file.server.path=disk-xvda2.sock,file.reconnect-delay=60,"
				 "if=none,id=disk0,format=raw"));
	assert_non_null(find_opt(argv, "-drive", "file.server.path=disk-xvdb.sock,"
				 "file.reconnect-delay=60,if=none,id=disk1,format=raw,readonly=on"));
	assert_non_null(find_opt(argv, "-device", "virtio-blk-pci,drive=disk1,serial=xvdb"));
	domcfg_free(c);
}

/* Disks on a storage host: QEMU's NBD client on TCP or a Unix socket, with
 * the export name, read-only honoured, reconnecting after a hiccup. */
static void test_remote_nbd_disk(void **state)
{
	struct domcfg *c = cfg_from("name='dom1'\nkernel='/k'\nmemory=128\n");
	struct disk_nbd tcp = { .host = (char *)"fd00::10", .port = 2000, .export = (char *)"vg0/a,b" };
	struct disk_nbd unx = { .socket = (char *)"/run/san.sock", .export = (char *)"" };
	struct qemu_disk disks[] = {
		{ .format = "raw", .vdev = "xvda2", .remote = &tcp },
		{ .format = "qcow2", .vdev = "xvdb", .remote = &unx, .readonly = true },
	};
	struct qemu_launch l = { .binary = "qemu", .cfg = c, .console_log = "/l", .disks = disks,
				 .n_disks = 2 };
	_cleanup_strv_free_ char **argv = NULL;
	char err[256];

	assert_int_equal(qemu_build_argv(&l, &argv, err, sizeof(err)), 0);
	assert_non_null(find_opt(argv, "-drive", "file.driver=nbd,file.server.type=inet,"
				 "file.server.host=fd00::10,file.server.port=2000,"
				 "file.export=vg0/a,,b,file.reconnect-delay=60,if=none,id=disk0,"
				 "format=raw"));
	assert_null(find_opt(argv, "-drive", "format=raw,readonly"));
	assert_non_null(find_opt(argv, "-drive", "file.driver=nbd,file.server.type=unix,"
				 "file.server.path=/run/san.sock,file.reconnect-delay=60,if=none,"
				 "id=disk1,format=qcow2,readonly=on"));
	assert_non_null(find_opt(argv, "-device", "virtio-blk-pci,drive=disk0,serial=xvda2"));
	domcfg_free(c);
}

static void test_hvm_domain(void **state)
{
	struct domcfg *c = cfg_from("builder='hvm'\nname='w'\nmemory=256\nboot='dc'\nvnc=1\n"
				    "vncdisplay=3\n");
	struct qemu_disk disks[] = {
		{ .path = "/d/hd", .format = "raw", .vdev = "hda" },
		{ .path = NULL, .format = "raw", .vdev = "hdc", .cdrom = true },
	};
	struct qemu_nic nics[] = { { .ifname = "vif2.0", .mac = "00:16:3e:00:00:01",
				     .model = qemu_nic_model(NULL, DOM_TYPE_HVM) } };
	struct qemu_launch l = { .binary = "q", .accel = ACCEL_KVM, .cfg = c, .console_log = "/l",
				 .disks = disks, .n_disks = 2, .nics = nics, .n_nics = 1 };
	_cleanup_strv_free_ char **argv = NULL;
	char err[256];

	assert_int_equal(qemu_build_argv(&l, &argv, err, sizeof(err)), 0);
	assert_non_null(find_opt(argv, "-machine", "pc"));
	assert_non_null(find_opt(argv, "-accel", "kvm"));
	assert_non_null(find_opt(argv, "-cpu", "host"));
	assert_non_null(find_opt(argv, "-boot", "order=dc"));
	assert_non_null(find_opt(argv, "-device", "ide-hd,drive=disk0,bus=ide.0,unit=0"));
	assert_non_null(find_opt(argv, "-device", "ide-cd,drive=disk1,bus=ide.1,unit=0"));
	assert_non_null(find_opt(argv, "-drive", "if=none,id=disk1,media=cdrom"));
	assert_non_null(find_opt(argv, "-device", "rtl8139,netdev=net0"));
	assert_non_null(find_opt(argv, "-vnc", "127.0.0.1:3"));
	assert_null(find_opt(argv, "-kernel", ""));
	domcfg_free(c);
}

static void test_hvm_too_many_ide(void **state)
{
	struct domcfg *c = cfg_from("builder='hvm'\nname='w'\n");
	struct qemu_disk disks[] = { { .path = "/d", .format = "raw", .vdev = "hde" } };
	struct qemu_launch l = { .binary = "q", .cfg = c, .console_log = "/l", .disks = disks,
				 .n_disks = 1 };
	char **argv = NULL;
	char err[256] = "";

	assert_int_equal(qemu_build_argv(&l, &argv, err, sizeof(err)), -EINVAL);
	assert_null(argv);
	assert_non_null(strstr(err, "hde"));
	domcfg_free(c);
}

static void test_nic_models(void **state)
{
	assert_string_equal(qemu_nic_model(NULL, DOM_TYPE_PV), "virtio-net-pci");
	assert_string_equal(qemu_nic_model("e1000", DOM_TYPE_HVM), "e1000");
	assert_null(qemu_nic_model("bogus", DOM_TYPE_HVM));
}

static void test_cmdline_override(void **state)
{
	struct domcfg *c = cfg_from("name='x'\nkernel='/k'\nroot='/dev/xvda1'\ncmdline='quiet'\n");
	_cleanup_free_ char *s = qemu_kernel_cmdline(c);
	/* xl: cmdline replaces root and extra */
	assert_string_equal(s, "console=ttyS0 quiet");
	domcfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pv_domain),
		cmocka_unit_test(test_carried_nic_placement),
		cmocka_unit_test(test_incoming_tls),
		cmocka_unit_test(test_nbd_disk),
		cmocka_unit_test(test_remote_nbd_disk),
		cmocka_unit_test(test_hvm_domain),
		cmocka_unit_test(test_hvm_too_many_ide),
		cmocka_unit_test(test_nic_models),
		cmocka_unit_test(test_cmdline_override),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
