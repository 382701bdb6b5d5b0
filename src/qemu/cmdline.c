/* cmdline.c - build a domain's QEMU command line from its configuration. */
#include "qemu/cmdline.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct argv_builder {
	char **v;
	size_t n, cap;
	bool oom;
};

static void add(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct argv_builder *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (b->oom)
		return;
	if (b->n + 2 > b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 64;
		char **nv = realloc(b->v, ncap * sizeof(char *));
		if (!nv) {
			b->oom = true;
			return;
		}
		b->v = nv;
		b->cap = ncap;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		b->oom = true;
		va_end(ap);
		return;
	}
	va_end(ap);
	b->v[b->n++] = s;
	b->v[b->n] = NULL;
}

static void add2(struct argv_builder *b, const char *opt, const char *val)
{
	add(b, "%s", opt);
	add(b, "%s", val);
}

/* QEMU option values use ',' as separator; a literal ',' is written ",,". */
static char *qemu_escape(const char *s)
{
	size_t n = 0;
	char *out, *o;

	for (const char *p = s; *p; p++)
		n += *p == ',' ? 2 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = s; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = '\0';
	return out;
}

const char *qemu_nic_model(const char *xl_model, enum dom_type type)
{
	static const struct { const char *xl, *qemu; } models[] = {
		{ "virtio", "virtio-net-pci" },   { "virtio-net", "virtio-net-pci" },
		{ "e1000", "e1000" },             { "rtl8139", "rtl8139" },
		{ "vmxnet3", "vmxnet3" },         { "ne2k_pci", "ne2k_pci" },
		{ "pcnet", "pcnet" },             { "i82559er", "i82559er" },
	};
	if (!xl_model || !*xl_model)
		return type == DOM_TYPE_HVM ? "rtl8139" : "virtio-net-pci";
	for (size_t i = 0; i < ARRAY_SIZE(models); i++)
		if (streq(models[i].xl, xl_model))
			return models[i].qemu;
	return NULL;
}

char *qemu_kernel_cmdline(const struct domcfg *cfg)
{
	_cleanup_free_ char *rest = domcfg_kernel_cmdline(cfg);

	if (!rest)
		return NULL;
	return strprintf("console=ttyS0%s%s", *rest ? " " : "", rest);
}

static void add_common(struct argv_builder *b, const struct qemu_launch *l)
{
	const struct domcfg *c = l->cfg;
	_cleanup_free_ char *log = qemu_escape(l->console_log);

	add(b, "%s", l->binary);
	add(b, "-name");
	add(b, "guest=%s,debug-threads=on", c->name);
	if (l->uuid)
		add2(b, "-uuid", l->uuid);
	add2(b, "-machine", c->type == DOM_TYPE_HVM ? "pc" : "q35");
	/* PCIe root ports hot-plug natively (their state is theirs and
	 * migrates with them): with QEMU's default ACPI hot plug, a NIC
	 * hot-plugged before a save or migration could not be unplugged
	 * after it. */
	if (c->type != DOM_TYPE_HVM)
		add2(b, "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off");
	/* TCG runs all vCPUs in one thread: with a thread per vCPU, QEMU 7.2
	 * now and then loses guest writes during a live migration and the
	 * guest oopses on the target (docs/status.md has the counts). */
	add2(b, "-accel", l->accel == ACCEL_KVM ? "kvm" : "tcg,thread=single");
	add2(b, "-cpu", l->accel == ACCEL_KVM ? "host" : "max");
	/* Memory above `memory` up to `maxmem` is held back by the balloon. */
	add(b, "-m");
	add(b, "%llu", (unsigned long long)(c->maxmem_mb > c->memory_mb ? c->maxmem_mb : c->memory_mb));
	add(b, "-smp");
	add(b, "%u,maxcpus=%u", c->vcpus, c->maxvcpus > c->vcpus ? c->maxvcpus : c->vcpus);
	add(b, "-nodefaults");
	add(b, "-no-user-config");
	add(b, "-no-shutdown");
	add2(b, "-action", "reboot=shutdown,panic=pause");
	add(b, "-S");
	add2(b, "-chardev", "socket,id=qmp,path=" QEMU_QMP_SOCK ",server=on,wait=off");
	add2(b, "-mon", "chardev=qmp,mode=control");
	add(b, "-chardev");
	add(b, "socket,id=serial0,path=" QEMU_SERIAL_SOCK ",server=on,wait=off,logfile=%s,logappend=on",
	    log ? log : "");
	add2(b, "-serial", "chardev:serial0");
	add2(b, "-device", "virtio-serial-pci,id=vser0");
	add2(b, "-chardev", "socket,id=qga0,path=" QEMU_QGA_SOCK ",server=on,wait=off");
	add2(b, "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0");
	add2(b, "-device", "virtio-balloon-pci,id=balloon0");
	add2(b, "-device", "pvpanic-pci");
	if (c->vnc) {
		add(b, "-vnc");
		add(b, "%s:%u", c->vnclisten ? c->vnclisten : "127.0.0.1", c->vncdisplay);
		add2(b, "-vga", "std");
	} else {
		add2(b, "-display", "none");
	}
}

static void add_pv_boot(struct argv_builder *b, const struct qemu_launch *l)
{
	const struct domcfg *c = l->cfg;
	_cleanup_free_ char *cmdline = l->boot_kernel ? strprintf("console=ttyS0 %s", l->boot_cmdline)
						      : qemu_kernel_cmdline(c);
	_cleanup_free_ char *log = qemu_escape(l->console_log);
	const char *ramdisk = l->boot_kernel ? l->boot_ramdisk : c->ramdisk;

	add2(b, "-kernel", l->boot_kernel ? l->boot_kernel : c->kernel);
	if (ramdisk)
		add2(b, "-initrd", ramdisk);
	add2(b, "-append", cmdline ? cmdline : "");
	/* hvc0, for configs that say console=hvc0 (Xen's PV console). */
	add(b, "-chardev");
	add(b, "socket,id=pvcon0,path=" QEMU_PVCON_SOCK ",server=on,wait=off,logfile=%s,logappend=on",
	    log ? log : "");
	add2(b, "-device", "virtconsole,bus=vser0.0,chardev=pvcon0,name=console.0");
}

/* IDE index for an HVM vdev: hda/sda/xvda -> 0, hdb -> 1 ...; -1 if > 3. */
static int ide_index(const char *vdev)
{
	size_t skip = startswith(vdev, "xvd") ? 3 : 2;
	int idx;

	if (strlen(vdev) <= skip)
		return -1;
	idx = vdev[skip] - 'a';
	return idx >= 0 && idx < 4 ? idx : -1;
}

/* The -drive value for an export of a remote NBD server (TCP or Unix). */
static int add_remote_drive(struct argv_builder *b, const struct qemu_disk *d, size_t i)
{
	const struct disk_nbd *n = d->remote;
	_cleanup_free_ char *where = n->socket ? qemu_escape(n->socket) : qemu_escape(n->host);
	_cleanup_free_ char *export = qemu_escape(n->export ? n->export : "");

	if (!where || !export)
		return -ENOMEM;
	if (n->socket)
		add(b, "file.driver=nbd,file.server.type=unix,file.server.path=%s%s%s,"
		    "file.reconnect-delay=%d,if=none,id=disk%zu,format=%s%s%s", where,
		    *export ? ",file.export=" : "", export, QEMU_NBD_RECONNECT_DELAY_S, i, d->format,
		    d->readonly || d->cdrom ? ",readonly=on" : "", d->cdrom ? ",media=cdrom" : "");
	else
		add(b, "file.driver=nbd,file.server.type=inet,file.server.host=%s,"
		    "file.server.port=%u%s%s,file.reconnect-delay=%d,if=none,id=disk%zu,format=%s%s%s",
		    where, n->port, *export ? ",file.export=" : "", export,
		    QEMU_NBD_RECONNECT_DELAY_S, i, d->format,
		    d->readonly || d->cdrom ? ",readonly=on" : "", d->cdrom ? ",media=cdrom" : "");
	return 0;
}

static int add_disks(struct argv_builder *b, const struct qemu_launch *l, char *errbuf,
		     size_t errsize)
{
	for (size_t i = 0; i < l->n_disks; i++) {
		const struct qemu_disk *d = &l->disks[i];
		_cleanup_free_ char *path = d->path ? qemu_escape(d->path) : NULL;

		if (d->path && !path)
			return -ENOMEM;
		add(b, "-drive");
		if (d->remote) {
			if (add_remote_drive(b, d, i) < 0)
				return -ENOMEM;
		} else if (d->nbd)
			add(b, "file.driver=nbd,file.server.type=unix,file.server.path=" QEMU_DISK_SOCK_FMT
			    ",file.reconnect-delay=%d,if=none,id=disk%zu,format=raw%s", d->vdev,
			    QEMU_NBD_RECONNECT_DELAY_S, i, d->readonly ? ",readonly=on" : "");
		else if (path)
			add(b, "file=%s,if=none,id=disk%zu,format=%s%s%s", path, i, d->format,
			    d->readonly || d->cdrom ? ",readonly=on" : "", d->cdrom ? ",media=cdrom" : "");
		else
			add(b, "if=none,id=disk%zu,media=cdrom", i);
		if (l->cfg->type == DOM_TYPE_HVM) {
			int idx = ide_index(d->vdev);
			if (idx < 0) {
				snprintf(errbuf, errsize,
					 "disk '%s': HVM domains have 4 IDE disks (hda..hdd)", d->vdev);
				return -EINVAL;
			}
			add(b, "-device");
			add(b, "%s,drive=disk%zu,bus=ide.%d,unit=%d", d->cdrom ? "ide-cd" : "ide-hd",
			    i, idx / 2, idx % 2);
		} else if (d->cdrom) {
			add(b, "-device");
			add(b, "ide-cd,drive=disk%zu", i);
		} else {
			add(b, "-device");
			add(b, "virtio-blk-pci,drive=disk%zu,serial=%s,addr=0x%zx", i, d->vdev,
			    0x08 + i);
		}
	}
	return 0;
}

/* Boot-time NICs: on the pc machine (HVM) in slots 0x18 on; on q35 each
 * behind a PCIe root port (functions of slot 0x18, one per boot-time NIC,
 * or the hot-plug port a restored NIC was attached to), where it can be
 * hot-unplugged. */
static void add_nics(struct argv_builder *b, const struct qemu_launch *l)
{
	bool q35 = l->cfg->type != DOM_TYPE_HVM;
	size_t ports = l->n_nic_ports > l->n_nics ? l->n_nic_ports : l->n_nics;

	for (size_t i = 0; q35 && i < ports; i++) {
		add(b, "-device");
		add(b, "pcie-root-port,id=" QEMU_NIC_PORT_PREFIX "%zu,chassis=%zu,addr=0x18.%zu%s", i,
		    20 + i, i, i == 0 ? ",multifunction=on" : "");
	}
	for (size_t i = 0; i < l->n_nics; i++) {
		const struct qemu_nic *n = &l->nics[i];
		const char *opts = n->all_vlans && streq(n->model, "virtio-net-pci") ? ",ctrl_vlan=off" : "";
		const char *csum = n->no_offload && streq(n->model, "virtio-net-pci") ? ",csum=off" : "";

		add(b, "-netdev");
		add(b, "tap,id=net%u,ifname=%s,script=no,downscript=no", n->devid, n->ifname);
		add(b, "-device");
		/* PV domains boot their kernel directly: no NIC boot ROM. */
		if (q35 && n->port)
			add(b, "%s,netdev=net%u,mac=%s,id=nic%u,bus=%s,romfile=%s%s", n->model, n->devid,
			    n->mac, n->devid, n->port, opts, csum);
		else if (q35)
			add(b, "%s,netdev=net%u,mac=%s,id=nic%u,bus=" QEMU_NIC_PORT_PREFIX "%zu,"
			    "romfile=%s%s", n->model, n->devid, n->mac, n->devid, i, opts, csum);
		else
			add(b, "%s,netdev=net%u,mac=%s,id=nic%u,addr=0x%zx%s%s", n->model, n->devid,
			    n->mac, n->devid, 0x18 + i, opts, csum);
	}
}

json_t *qemu_nic_device(const struct qemu_nic *n, const char *netdev)
{
	_cleanup_free_ char *id = strprintf("nic%u", n->devid);
	json_t *dev = id ? json_pack("{s:s,s:s,s:s,s:s}", "driver", n->model, "id", id, "netdev",
				     netdev, "mac", n->mac)
			 : NULL;

	if (dev && n->port)
		json_object_set_new(dev, "bus", json_string(n->port));
	if (dev && streq(n->model, "virtio-net-pci")) {
		json_object_set_new(dev, "romfile", json_string(""));
		if (n->no_offload)
			json_object_set_new(dev, "csum", json_false());
		if (n->all_vlans)
			json_object_set_new(dev, "ctrl_vlan", json_false());
	}
	return dev;
}

/* q35 hot-plugs PCIe devices only into root ports: a few empty ones
 * (network-attach), on slot 6. The pc machine hot-plugs on its root bus. */
static void add_hotplug_ports(struct argv_builder *b, const struct qemu_launch *l)
{
	if (l->cfg->type == DOM_TYPE_HVM)
		return;
	for (int i = 0; i < QEMU_HOTPLUG_PORTS; i++) {
		add(b, "-device");
		add(b, "pcie-root-port,id=" QEMU_HOTPLUG_PORT_PREFIX "%d,chassis=%d,addr=0x6.%d%s", i,
		    10 + i, i, i == 0 ? ",multifunction=on" : "");
	}
}

int qemu_build_argv(const struct qemu_launch *l, char ***ret_argv, char *errbuf, size_t errsize)
{
	struct argv_builder b = { 0 };
	int r;

	if (l->n_disks > 16 || l->n_nics > 8 || l->n_nic_ports > 8) {
		snprintf(errbuf, errsize, "too many devices (at most 16 disks and 8 vifs)");
		return -EINVAL;
	}
	add_common(&b, l);
	if (l->cfg->type == DOM_TYPE_HVM) {
		add(&b, "-boot");
		add(&b, "order=%s", l->cfg->boot ? l->cfg->boot : "c");
	} else {
		add_pv_boot(&b, l);
	}
	r = add_disks(&b, l, errbuf, errsize);
	add_hotplug_ports(&b, l);  /* first: a restored NIC may sit on one */
	add_nics(&b, l);
	if (l->incoming && l->incoming_tls_dir) {
		_cleanup_free_ char *dir = qemu_escape(l->incoming_tls_dir);
		_cleanup_free_ char *id = qemu_escape(l->tls_id);

		if (!dir || !id)
			b.oom = true;
		add(&b, "-object");
		add(&b, "tls-creds-x509,id=%s,endpoint=server,dir=%s,verify-peer=on", id, dir);
		add(&b, "-global");
		add(&b, "migration.tls-creds=%s", id);
	}
	if (l->incoming)
		add2(&b, "-incoming", "defer");
	if (r == 0 && (b.oom || !b.v))
		r = -ENOMEM;
	if (r < 0) {
		strv_free(b.v);
		return r;
	}
	*ret_argv = b.v;
	return 0;
}
