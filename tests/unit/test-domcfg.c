/* test-domcfg.c - unit tests for domcfg.c, domcfg-json.c, diskspec.c and
 * vifspec.c: key meanings and checks, disk and vif specs, the vif rate
 * syntax, and the JSON round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "config/domcfg.h"
#include "config/xlcfg.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *golden_dir;
static char errbuf[512];

static struct disk_spec disk_ok(const char *spec)
{
	struct disk_spec d;
	int r = disk_spec_parse(spec, &d, errbuf, sizeof(errbuf));

	if (r < 0)
		fail_msg("disk '%s': %s", spec, errbuf);
	return d;
}

static const char *disk_err(const char *spec)
{
	struct disk_spec d = { .vdev = (char *)"untouched" };

	assert_int_equal(disk_spec_parse(spec, &d, errbuf, sizeof(errbuf)), -EINVAL);
	assert_string_equal(d.vdev, "untouched");
	return errbuf;
}

static void check_disk(const char *spec, const char *target, const char *vdev,
		       enum disk_format format, bool readonly, bool cdrom)
{
	struct disk_spec d = disk_ok(spec);

	if (target)
		assert_string_equal(d.target, target);
	else
		assert_null(d.target);
	assert_string_equal(d.vdev, vdev);
	assert_int_equal(d.format, format);
	assert_int_equal(d.readonly, readonly);
	assert_int_equal(d.cdrom, cdrom);
	disk_spec_release(&d);
}

static void test_disk_forms(void **state)
{
	struct disk_spec d;

	/* the equivalent forms of xl-disk-configuration(5) */
	check_disk("/dev/vg/guest-volume,,hda", "/dev/vg/guest-volume", "hda", DISK_FORMAT_RAW, false, false);
	check_disk("/dev/vg/guest-volume,raw,hda,rw", "/dev/vg/guest-volume", "hda", DISK_FORMAT_RAW, false, false);
	check_disk("format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
		   "/dev/vg/guest-volume", "hda", DISK_FORMAT_RAW, false, false);
	check_disk("raw:/dev/vg/guest-volume,hda,w", "/dev/vg/guest-volume", "hda", DISK_FORMAT_RAW, false, false);
	check_disk("/root/image.iso,,hdc,cdrom", "/root/image.iso", "hdc", DISK_FORMAT_RAW, true, true);
	check_disk("/root/image.iso,,hdc,,cdrom", "/root/image.iso", "hdc", DISK_FORMAT_RAW, true, true);
	check_disk("/root/image.iso,raw,hdc,devtype=cdrom", "/root/image.iso", "hdc", DISK_FORMAT_RAW, true, true);
	check_disk("format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso",
		   "/root/image.iso", "hdc", DISK_FORMAT_RAW, true, true);
	check_disk("raw:/root/image.iso,hdc:cdrom,ro", "/root/image.iso", "hdc", DISK_FORMAT_RAW, true, true);
	/* the seeds' forms */
	check_disk("phy:/dev/vg0/dom1-disk,xvda2,w", "/dev/vg0/dom1-disk", "xvda2", DISK_FORMAT_RAW, false, false);
	check_disk("phy:/dev/sde,/dev/sda:w", "/dev/sde", "sda", DISK_FORMAT_RAW, false, false);
	check_disk("phy:/dev/mapper/mpath5,/dev/sda,w", "/dev/mapper/mpath5", "sda", DISK_FORMAT_RAW, false, false);
	check_disk("file:/path,hda,r", "/path", "hda", DISK_FORMAT_RAW, true, false);
	check_disk("/srv/a.img,xvdb,r", "/srv/a.img", "xvdb", DISK_FORMAT_RAW, true, false);
	/* prefixes and formats */
	check_disk("tap:aio:/a.img,xvda,w", "/a.img", "xvda", DISK_FORMAT_RAW, false, false);
	check_disk("tap:qcow2:/a.qcow2,xvda,w", "/a.qcow2", "xvda", DISK_FORMAT_QCOW2, false, false);
	check_disk("tap2:tapdisk:aio:/a.img,xvdaa15,w", "/a.img", "xvdaa15", DISK_FORMAT_RAW, false, false);
	check_disk("qcow2:/a.qcow2,vdb", "/a.qcow2", "vdb", DISK_FORMAT_QCOW2, false, false);
	check_disk("/a.vhd,vhd,sdc3", "/a.vhd", "sdc3", DISK_FORMAT_VHD, false, false);
	check_disk(",,hdc:cdrom", NULL, "hdc", DISK_FORMAT_EMPTY, true, true);
	check_disk("vdev=xvdc, devtype=cdrom", NULL, "xvdc", DISK_FORMAT_EMPTY, true, true);
	/* target= is greedy: commas and '=' belong to it */
	check_disk("vdev=xvda, target=/srv/a,b=c.img", "/srv/a,b=c.img", "xvda", DISK_FORMAT_RAW, false, false);

	d = disk_ok("phy:/dev/vg/lv,xvda,w");
	assert_true(d.phy);
	assert_string_equal(d.backendtype, "phy");
	disk_spec_release(&d);
	d = disk_ok("vdev=xvda,script=block-drbd,backendtype=phy,target=r0");
	assert_false(d.phy);
	assert_string_equal(d.script, "block-drbd");
	assert_string_equal(d.backendtype, "phy");
	disk_spec_release(&d);
}

static void test_disk_errors(void **state)
{
	assert_string_equal(disk_err("/a.img"), "missing vdev (the guest device name, e.g. xvda) "
			    "in disk '/a.img'");
	assert_string_equal(disk_err(",,xvda"), "missing target in disk ',,xvda' (only a cdrom "
			    "may be empty)");
	assert_string_equal(disk_err("/a,raw,nvme0n1"), "invalid vdev 'nvme0n1' (expected xvdX, "
			    "hdX, sdX or vdX with an optional partition number)");
	assert_string_equal(disk_err("/a,vmdk,xvda"), "invalid format 'vmdk' (expected raw, qcow2, "
			    "qcow, vhd, qed or empty)");
	assert_string_equal(disk_err("/a,,xvda,x"), "invalid access 'x' (expected r, ro, w or rw)");
	assert_string_equal(disk_err("/a,,xvda,w,extra"), "unexpected extra parameter 'extra' "
			    "(target, format, vdev and access are all given)");
	assert_string_equal(disk_err("/a,,xvda,colour=red"), "unknown disk parameter 'colour' "
			    "(known: target, format, vdev, access, devtype, backendtype, script)");
	assert_string_equal(disk_err("/a,,xvda:floppy"), "invalid vdev suffix ':floppy' in "
			    "'xvda:floppy' (expected :cdrom, :r, :ro, :w or :rw)");
	assert_string_equal(disk_err("/a,,xvda,devtype=tape"), "invalid devtype 'tape' "
			    "(expected cdrom or disk)");
	assert_string_equal(disk_err("/a,,xvda,backendtype=nbd"), "invalid backendtype 'nbd' "
			    "(expected phy, qdisk or tap)");
	disk_err("/a,,hdab");
	disk_err("/a,,xvda0");
	disk_err("/a,,xvda256");
	disk_err("/a,,sd");
	disk_err("/a,,xvdA");
	disk_err("");
}

static void check_nbd(const char *uri, const char *host, unsigned port, const char *socket,
		      const char *export)
{
	struct disk_nbd n;

	if (disk_nbd_parse(uri, &n, errbuf, sizeof(errbuf)) < 0)
		fail_msg("nbd '%s': %s", uri, errbuf);
	if (host)
		assert_string_equal(n.host, host);
	else
		assert_null(n.host);
	if (socket)
		assert_string_equal(n.socket, socket);
	else
		assert_null(n.socket);
	assert_int_equal(n.port, port);
	assert_string_equal(n.export, export);
	disk_nbd_release(&n);
}

static const char *nbd_err(const char *uri)
{
	struct disk_nbd n = { .host = (char *)"untouched" };

	assert_int_equal(disk_nbd_parse(uri, &n, errbuf, sizeof(errbuf)), -EINVAL);
	assert_string_equal(n.host, "untouched");
	return errbuf;
}

static void test_disk_nbd(void **state)
{
	struct disk_spec d;

	check_nbd("nbd://san:10809/vg0/web-root", "san", 10809, NULL, "vg0/web-root");
	check_nbd("nbd://10.0.0.9/x", "10.0.0.9", 10809, NULL, "x");
	check_nbd("nbd+tcp://san.example.org:2000", "san.example.org", 2000, NULL, "");
	check_nbd("nbd://[fd00::9]:10810/a%20b", "fd00::9", 10810, NULL, "a b");
	check_nbd("nbd://san/", "san", 10809, NULL, "");
	check_nbd("nbd+unix:///disk?socket=/run/san.sock", NULL, 10809, "/run/san.sock", "disk");
	check_nbd("nbd+unix://?socket=/s", NULL, 10809, "/s", "");
	assert_false(disk_target_is_nbd("/dev/vg/lv"));
	assert_false(disk_target_is_nbd(NULL));
	assert_true(disk_target_is_nbd("nbds://x"));

	assert_string_equal(nbd_err("nbd://san:0/x"), "bad port '0' in 'nbd://san:0/x' "
			    "(expected 1-65535)");
	assert_string_equal(nbd_err("nbd://san:65536/x"), "bad port '65536' in "
			    "'nbd://san:65536/x' (expected 1-65535)");
	nbd_err("nbd://san:/x");
	nbd_err("nbd://san:12a/x");
	assert_string_equal(nbd_err("nbd:///x"), "missing host in 'nbd:///x' (expected "
			    "nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH)");
	assert_string_equal(nbd_err("nbd:san:10809"), "bad NBD URI 'nbd:san:10809' (expected "
			    "nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH)");
	assert_string_equal(nbd_err("nbds://san/x"), "'nbds://san/x': NBD over TLS is not "
			    "supported (expected nbd://HOST[:PORT]/EXPORT or "
			    "nbd+unix:///EXPORT?socket=PATH)");
	nbd_err("nbd+rdma://san/x");
	nbd_err("nbd://sa_n/x");
	nbd_err("nbd://[fd00::9/x");
	nbd_err("nbd://[]/x");
	nbd_err("nbd://san/x?socket=/s");
	nbd_err("nbd://san/a%2");
	nbd_err("nbd://san/a%00b");
	nbd_err("nbd://san/a%0ab");
	assert_string_equal(nbd_err("nbd+unix:///x"), "'nbd+unix:///x': missing ?socket=PATH");
	nbd_err("nbd+unix://host/x?socket=/s");
	nbd_err("nbd+unix:///x?socket=rel.sock");
	nbd_err("nbd+unix:///x?sock=/s");
	nbd_err("nbd+unix:///x?socket=/s&a=b");

	/* as disk targets: positional (with its '?socket='), target=, checked */
	check_disk("nbd://san:10809/vg0/web,raw,xvda2,w", "nbd://san:10809/vg0/web", "xvda2",
		   DISK_FORMAT_RAW, false, false);
	check_disk("nbd+unix:///web?socket=/run/s.sock,xvda,r", "nbd+unix:///web?socket=/run/s.sock",
		   "xvda", DISK_FORMAT_RAW, true, false);
	check_disk("vdev=xvdb, access=ro, target=nbd://san/data", "nbd://san/data", "xvdb",
		   DISK_FORMAT_RAW, true, false);
	d = disk_ok("format=qcow2,vdev=xvdc,target=nbd+unix:///q?socket=/s");
	assert_int_equal(d.format, DISK_FORMAT_QCOW2);
	disk_spec_release(&d);
	assert_string_equal(disk_err("nbd://san:99999/x,raw,xvda,w"), "bad port '99999' in "
			    "'nbd://san:99999/x' (expected 1-65535)");
	disk_err("vdev=xvda,target=nbd:/x");
}

static struct vif_spec vif_ok(const char *spec)
{
	struct vif_spec v;
	int r = vif_spec_parse(spec, &v, errbuf, sizeof(errbuf));

	if (r < 0)
		fail_msg("vif '%s': %s", spec, errbuf);
	return v;
}

static const char *vif_err(const char *spec)
{
	struct vif_spec v = { .mac = (char *)"untouched" };

	assert_int_equal(vif_spec_parse(spec, &v, errbuf, sizeof(errbuf)), -EINVAL);
	assert_string_equal(v.mac, "untouched");
	return errbuf;
}

static void test_vif(void **state)
{
	struct vif_spec v = vif_ok("mac=AA:73:65:63:6F:75, bridge=xenbr0");

	assert_string_equal(v.mac, "aa:73:65:63:6f:75");
	assert_string_equal(v.bridge, "xenbr0");
	assert_null(v.ip);
	vif_spec_release(&v);
	v = vif_ok(" ip=139.124.7.164 ,mac=00:16:3E:78:20:21,vifname=web0,model=e1000,"
		   "rate=10MB/s@20ms,script=vif-bridge,type=ioemu,gatewaydev=eth0, ");
	assert_string_equal(v.ip, "139.124.7.164");
	assert_string_equal(v.vifname, "web0");
	assert_string_equal(v.model, "e1000");
	assert_string_equal(v.rate, "10MB/s@20ms");
	assert_string_equal(v.script, "vif-bridge");
	assert_string_equal(v.type, "ioemu");
	assert_string_equal(v.gatewaydev, "eth0");
	vif_spec_release(&v);
	v = vif_ok("");
	assert_null(v.mac);
	vif_spec_release(&v);

	assert_string_equal(vif_err("mac=01:16:3e:00:00:01"), "invalid mac '01:16:3e:00:00:01' "
			    "(expected six hex octets like 00:16:3e:12:34:56, not multicast)");
	vif_err("mac=00:16:3e:00:00");
	vif_err("mac=00:16:3e:00:00:1");
	vif_err("mac=00-16-3e-00-00-01");
	vif_err("mac=00:00:00:00:00:00");
	assert_string_equal(vif_err("bridge=br0, colour=red"), "unknown vif parameter 'colour' "
			    "(known: mac, bridge, ip, vifname, model, rate, script, type, gatewaydev)");
	assert_string_equal(vif_err("bridge=br0,bridge=br1"), "vif parameter 'bridge' given twice");
	assert_string_equal(vif_err("xenbr0"), "expected KEY=VALUE, found 'xenbr0'");
	assert_string_equal(vif_err("rate=fast"), "invalid rate 'fast' (expected RATE/s[@INTERVAL] "
			    "like 10Mb/s or 1MB/s@20ms)");
	assert_string_equal(vif_err("ip=1.2.3.400"), "invalid ip '1.2.3.400'");
	assert_string_equal(vif_err("bridge=averyveryverylongbridge"),
			    "invalid bridge 'averyveryverylongbridge'");
	assert_string_equal(vif_err("type=tap"), "invalid type 'tap' (expected vif or ioemu)");
	vif_err("model=E1000");
	vif_err("vifname=a/b");
}

static void test_rate(void **state)
{
	uint64_t bps = 7, us = 7;

	assert_int_equal(vif_rate_parse("10Mb/s", &bps, &us), 0);
	assert_int_equal(bps, 1250000);
	assert_int_equal(us, 50000);
	assert_int_equal(vif_rate_parse("1MB/s@20ms", &bps, &us), 0);
	assert_int_equal(bps, 1000000);
	assert_int_equal(us, 20000);
	assert_int_equal(vif_rate_parse("100KB/s@1s", &bps, &us), 0);
	assert_int_equal(us, 1000000);
	assert_int_equal(vif_rate_parse("1Gb/s@500us", &bps, &us), 0);
	assert_int_equal(bps, 125000000);
	assert_int_equal(us, 500);
	assert_int_equal(vif_rate_parse("2GB/s", &bps, &us), 0);
	assert_int_equal(vif_rate_parse("800b/s@1s", &bps, &us), 0);
	assert_int_equal(bps, 100);
	bps = us = 7;
	assert_int_equal(vif_rate_parse("10Mb", &bps, &us), -EINVAL);
	assert_int_equal(vif_rate_parse("10/s", &bps, &us), -EINVAL);
	assert_int_equal(vif_rate_parse("10MB/s@", &bps, &us), -EINVAL);
	assert_int_equal(vif_rate_parse("10MB/s@20", &bps, &us), -EINVAL);
	assert_int_equal(vif_rate_parse("10MB/s@20ns", &bps, &us), -EINVAL);
	assert_int_equal(vif_rate_parse("0MB/s", &bps, &us), -EINVAL);
	assert_int_equal(vif_rate_parse("1b/s", &bps, &us), -EINVAL);       /* 0 bytes */
	assert_int_equal(vif_rate_parse("1B/s@1us", &bps, &us), -EINVAL);   /* < 1 byte per interval */
	assert_int_equal(vif_rate_parse("10MB/s@0ms", &bps, &us), -EINVAL);
	assert_int_equal(vif_rate_parse("100GB/s@1s", &bps, &us), -EINVAL); /* > 2^32 per interval */
	assert_int_equal(vif_rate_parse("99999999999999999999GB/s", &bps, &us), -EINVAL);
	assert_int_equal(vif_rate_parse("-1MB/s", &bps, &us), -EINVAL);
	assert_int_equal(vif_rate_parse("", &bps, &us), -EINVAL);
	assert_int_equal(bps, 7);
	assert_int_equal(us, 7);
}

/* Parse TEXT and build a domcfg; on error return the formatted message. */
static int build(const char *text, struct domcfg **ret, char *msg, size_t size)
{
	struct xlcfg *cfg = NULL;
	struct xlcfg_error err;
	int r = xlcfg_parse(text, strlen(text), "t.cfg", &cfg, &err);

	if (r == 0)
		r = domcfg_from_xlcfg(cfg, ret, &err);
	if (r < 0)
		xlcfg_error_format(cfg, "t.cfg", &err, msg, size);
	xlcfg_free(cfg);
	return r;
}

static struct domcfg *build_ok(const char *text)
{
	struct domcfg *c = NULL;
	char msg[600];

	if (build(text, &c, msg, sizeof(msg)) < 0)
		fail_msg("%s", msg);
	return c;
}

static const char *build_err(const char *text)
{
	static char msg[600];
	struct domcfg *c = NULL;

	assert_int_equal(build(text, &c, msg, sizeof(msg)), -EINVAL);
	assert_null(c);
	return msg;
}

static void test_defaults(void **state)
{
	struct domcfg *c = build_ok("name = 'a'\n");
	_cleanup_free_ char *cmdline = NULL;

	assert_string_equal(c->name, "a");
	assert_null(c->uuid);
	assert_int_equal(c->type, DOM_TYPE_PV);
	assert_int_equal(c->memory_mb, 128);
	assert_int_equal(c->maxmem_mb, 128);
	assert_int_equal(c->vcpus, 1);
	assert_int_equal(c->maxvcpus, 1);
	assert_int_equal(c->on_poweroff, DOM_ACTION_DESTROY);
	assert_int_equal(c->on_reboot, DOM_ACTION_RESTART);
	assert_int_equal(c->on_crash, DOM_ACTION_DESTROY);
	assert_int_equal(c->cpu_weight, 256);
	assert_int_equal(c->cap, 0);
	assert_string_equal(c->boot, "c");
	assert_false(c->vnc);
	assert_null(c->warnings);
	cmdline = domcfg_kernel_cmdline(c);
	assert_string_equal(cmdline, "");
	domcfg_free(c);
}

static void test_types(void **state)
{
	struct domcfg *c = build_ok("name='a'\nbuilder='hvm'\n");
	assert_int_equal(c->type, DOM_TYPE_HVM);
	domcfg_free(c);
	c = build_ok("name='a'\nbuilder='linux'\n");
	assert_int_equal(c->type, DOM_TYPE_PV);
	domcfg_free(c);
	c = build_ok("name='a'\nkernel='/usr/lib/xen/boot/hvmloader'\nvif=['']\n");
	assert_int_equal(c->type, DOM_TYPE_HVM);
	assert_null(c->kernel);
	assert_string_equal(c->vifs[0].model, "rtl8139");
	domcfg_free(c);
	c = build_ok("name='a'\ntype='pvh'\nbuilder='hvm'\n");
	assert_int_equal(c->type, DOM_TYPE_PVH);
	assert_string_equal(c->warnings[0], "t.cfg:3:1: builder ignored: type = 'pvh' decides");
	domcfg_free(c);
	assert_string_equal(build_err("name='a'\ntype='xen'\n"),
			    "t.cfg:2:6: key 'type': invalid type 'xen' (expected pv, pvh or hvm)");
	assert_string_equal(build_err("name='a'\nbuilder='bsd'\n"),
			    "t.cfg:2:9: key 'builder': invalid builder 'bsd' (expected hvm or linux)");
}

static void test_checks(void **state)
{
	struct domcfg *c = build_ok("name='a'; memory='0x100'; maxmem=1024; vcpus='2'; maxvcpus=8\n"
				    "root='/dev/xvda1 ro'; extra='quiet'\n");
	_cleanup_free_ char *cmdline = domcfg_kernel_cmdline(c);

	assert_int_equal(c->memory_mb, 256);
	assert_int_equal(c->maxmem_mb, 1024);
	assert_int_equal(c->vcpus, 2);
	assert_int_equal(c->maxvcpus, 8);
	assert_string_equal(cmdline, "root=/dev/xvda1 ro quiet");
	domcfg_free(c);

	assert_string_equal(build_err("memory = 512\n"), "t.cfg: missing required key 'name'");
	assert_string_equal(build_err("name='a'\nmemory=2000000\n"), "t.cfg:2:8: key 'memory': "
			    "2000000 MiB is out of range (16 to 1048576 MiB)");
	assert_string_equal(build_err("name='a'\nmemory=[]\n"), "t.cfg:2:8: key 'memory': "
			    "expected a number, found a list");
	assert_string_equal(build_err("name='a'\nmemory=' 512'\n"), "t.cfg:2:8: key 'memory': "
			    "expected a number, found ' 512'");
	assert_string_equal(build_err("name='a'\nvcpus=129\n"), "t.cfg:2:7: key 'vcpus': "
			    "129 is out of range (1 to 128)");
	assert_string_equal(build_err("name='a'\nvcpus=0\n"), "t.cfg:2:7: key 'vcpus': "
			    "0 is out of range (1 to 128)");
	assert_string_equal(build_err("name='a'\nvcpus=4\nmaxvcpus=2\n"), "t.cfg:3:10: key "
			    "'maxvcpus': 2 is less than vcpus (4)");
	assert_string_equal(build_err("name=5\n"), "t.cfg:1:6: key 'name': expected a string, "
			    "found a number");
	assert_string_equal(build_err("name='12'\n"), "t.cfg:1:6: key 'name': invalid name '12' "
			    "(1-64 letters, digits, '.', '-' or '_', not starting with '-' or '.', "
			    "not all digits)");
	assert_string_equal(build_err("name='a'\nuuid='123'\n"), "t.cfg:2:6: key 'uuid': invalid "
			    "uuid '123' (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
	assert_string_equal(build_err("name='a'\nvnc=2\n"), "t.cfg:2:5: key 'vnc': 2 is out of "
			    "range (0 to 1)");
	assert_string_equal(build_err("name='a'\nboot='z'\n"), "t.cfg:2:6: key 'boot': invalid "
			    "boot order 'z' (letters a, c, d, n)");
	assert_string_equal(build_err("name='a'\ndisk='phy:/x,xvda,w'\n"), "t.cfg:2:6: key 'disk': "
			    "expected a list of strings, found a string");
	assert_string_equal(build_err("name='a'\ndisk=['/a,,xvda', 5]\n"), "t.cfg:2:19: key "
			    "'disk': item 2: expected a string, found a number");
	assert_string_equal(build_err("name='a'\ndisk=['/a,,xvda', '/b,,/dev/xvda']\n"),
			    "t.cfg:2:19: key 'disk': disk 2: vdev 'xvda' is already used by disk 1");
	assert_string_equal(build_err("name='a'\nvif=['mac=00:16:3e:00:00:01',"
				      "'mac=00:16:3E:00:00:01']\n"), "t.cfg:2:30: key 'vif': vif 2: "
			    "mac 00:16:3e:00:00:01 is already used by vif 1");
	assert_string_equal(build_err("name='a'\nserial=['pty','pty']\n"), "t.cfg:2:8: key "
			    "'serial': expected a string or a list of one string");
}

static void test_warnings(void **state)
{
	struct domcfg *c = build_ok("name='a'\nfoo=1\nsdl=0\nusb=1\npae=1\ncmdline='x'\nroot='y'\n"
				    "bootloader='/usr/lib/xen/bin/pygrub'\n");

	assert_string_equal(c->warnings[0], "t.cfg:2:1: unknown key 'foo' ignored");
	assert_string_equal(c->warnings[1], "t.cfg:4:1: 'usb' ignored: no USB devices");
	assert_string_equal(c->warnings[2], "root and extra ignored: cmdline is set");
	assert_null(c->warnings[3]); /* pygrub is supported */
	domcfg_free(c);
	c = build_ok("name='a'\nbootloader='/usr/bin/grub-xen'\n");
	assert_non_null(strstr(c->warnings[0], "bootloader '/usr/bin/grub-xen' is not supported"));
	domcfg_free(c);
}

static void test_override_errors(void **state)
{
	struct xlcfg *cfg = NULL;
	struct domcfg *c = NULL;
	struct xlcfg_error err;
	char msg[600];

	assert_int_equal(xlcfg_parse("name='a'\n", 9, "t.cfg", &cfg, &err), 0);
	assert_int_equal(xlcfg_apply_override(cfg, "memory=8", &err), 0);
	assert_int_equal(domcfg_from_xlcfg(cfg, &c, &err), -EINVAL);
	xlcfg_error_format(cfg, NULL, &err, msg, sizeof(msg));
	assert_string_equal(msg, "t.cfg: key 'memory' (command-line override): 8 MiB is out of "
			    "range (16 to 1048576 MiB)");
	assert_int_equal(xlcfg_apply_override(cfg, "memory=64", &err), 0);
	assert_int_equal(xlcfg_apply_override(cfg, "bogus=1", &err), 0);
	assert_int_equal(domcfg_from_xlcfg(cfg, &c, &err), 0);
	assert_string_equal(c->warnings[0], "command-line override: unknown key 'bogus' ignored");
	domcfg_free(c);
	xlcfg_free(cfg);
}

static char *dump(const struct domcfg *c)
{
	json_t *j = domcfg_to_json(c);
	char *s;

	assert_non_null(j);
	s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	assert_non_null(s);
	return s;
}

static void round_trip(const struct domcfg *c)
{
	_cleanup_free_ char *first = dump(c), *second = NULL;
	json_t *j = json_loads(first, 0, NULL);
	struct domcfg *back = NULL;

	assert_non_null(j);
	assert_int_equal(domcfg_from_json(j, &back), 0);
	json_decref(j);
	second = dump(back);
	assert_string_equal(first, second);
	domcfg_free(back);
}

/* Every golden config that builds round-trips exactly through JSON. */
static void test_json_round_trip(void **state)
{
	DIR *d = opendir(golden_dir);
	struct dirent *de;
	unsigned n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		_cleanup_free_ char *path = NULL, *text = NULL;
		struct domcfg *c = NULL;
		char msg[600];
		size_t len;

		if (!endswith(de->d_name, ".cfg"))
			continue;
		path = strprintf("%s/%s", golden_dir, de->d_name);
		assert_int_equal(read_file(path, 1 << 21, &text, &len), 0);
		if (build(text, &c, msg, sizeof(msg)) < 0)
			continue;
		round_trip(c);
		domcfg_free(c);
		n++;
	}
	closedir(d);
	assert_true(n >= 8);
}

/* Vif placements carried by a save or migration (device id, root port,
 * boot ports): they round-trip; malformed or clashing ones are refused. */
static void test_json_vif_placement(void **state)
{
	struct domcfg *c = build_ok("name='a'\nvif=['bridge=br0','bridge=br1']\n");
	json_t *j = domcfg_to_json(c), *v0, *v1;
	struct domcfg *back = NULL;

	assert_null(json_object_get(json_array_get(json_object_get(j, "vifs"), 0), "port"));
	assert_null(json_object_get(j, "nic_ports"));
	c->nic_ports = 3;
	c->vifs[0].port = strdup("np1");
	c->vifs[0].devid = 1;
	c->vifs[1].port = strdup("hp0");
	c->vifs[1].devid = 4;
	round_trip(c);
	json_decref(j);
	j = domcfg_to_json(c);
	assert_int_equal(json_integer_value(json_object_get(j, "nic_ports")), 3);
	v0 = json_array_get(json_object_get(j, "vifs"), 0);
	v1 = json_array_get(json_object_get(j, "vifs"), 1);
	assert_string_equal(json_string_value(json_object_get(v1, "port")), "hp0");
	assert_int_equal(json_integer_value(json_object_get(v1, "devid")), 4);
	static const struct {
		const char *key, *value;
		int devid;
	} bad[] = {
		{ "port", "np1", 4 },   /* same port as vif 0 */
		{ "port", "hp1", 1 },   /* same device id as vif 0 */
		{ "port", "xp1", 4 },
		{ "port", "hp1x", 4 },
		{ "port", "hp", 4 },
		{ "port", "hp1", 256 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *b = json_deep_copy(j), *bv = json_array_get(json_object_get(b, "vifs"), 1);
		json_object_set_new(bv, bad[i].key, json_string(bad[i].value));
		json_object_set_new(bv, "devid", json_integer(bad[i].devid));
		assert_int_equal(domcfg_from_json(b, &back), -EINVAL);
		json_decref(b);
	}
	json_object_del(v1, "port");  /* placed and unplaced vifs do not mix */
	assert_int_equal(domcfg_from_json(j, &back), -EINVAL);
	json_object_set_new(v1, "port", json_string("hp0"));
	json_object_del(v0, "devid");  /* a port needs a device id */
	assert_int_equal(domcfg_from_json(j, &back), -EINVAL);
	json_decref(j);
	domcfg_free(c);
}

static void test_json_rejects(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{}",
		"{\"name\": \"a\"}",
		"{\"name\": \"-a\", \"raw\": {}}",
	};
	struct domcfg *c = build_ok("name='a'\ndisk=['/a,,xvda']\n");
	json_t *j = domcfg_to_json(c);
	struct domcfg *back = (struct domcfg *)0x1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *b = json_loads(bad[i], 0, NULL);
		assert_int_equal(domcfg_from_json(b, &back), -EINVAL);
		json_decref(b);
	}
	json_object_set_new(j, "type", json_string("xen"));
	assert_int_equal(domcfg_from_json(j, &back), -EINVAL);
	json_object_set_new(j, "type", json_string("hvm"));
	json_object_set_new(j, "memory", json_string("512"));
	assert_int_equal(domcfg_from_json(j, &back), -EINVAL);
	json_object_set_new(j, "memory", json_integer(512));
	assert_int_equal(domcfg_from_json(j, &back), -EINVAL);  /* maxmem 128 < memory */
	json_object_set_new(j, "maxmem", json_integer(512));
	json_object_set_new(json_array_get(json_object_get(j, "disks"), 0), "access",
			    json_string("rwx"));
	assert_int_equal(domcfg_from_json(j, &back), -EINVAL);
	assert_ptr_equal(back, (struct domcfg *)0x1);
	json_object_set_new(json_array_get(json_object_get(j, "disks"), 0), "access",
			    json_string("ro"));
	assert_int_equal(domcfg_from_json(j, &back), 0);
	assert_int_equal(back->type, DOM_TYPE_HVM);
	assert_true(back->disks[0].readonly);
	domcfg_free(back);
	json_decref(j);
	domcfg_free(c);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disk_forms),
		cmocka_unit_test(test_disk_errors),
		cmocka_unit_test(test_disk_nbd),
		cmocka_unit_test(test_vif),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_override_errors),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_vif_placement),
		cmocka_unit_test(test_json_rejects),
	};

	golden_dir = argc > 1 ? argv[1] : "tests/unit/golden/xlcfg";
	return cmocka_run_group_tests(tests, NULL, NULL);
}
