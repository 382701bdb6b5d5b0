/* cmdline.h - the QEMU command line of a domain (the device model).
 *
 * PV/PVH domains: q35, direct kernel boot, virtio disks and NICs, serial and
 * virtio consoles. HVM domains: i440fx ("pc"), SeaBIOS boot, IDE disks and
 * emulated NICs. Sockets are relative to the domain's run directory, which
 * is QEMU's working directory (keeps them under the sun_path limit).
 */
#ifndef DOMUS_QEMU_CMDLINE_H
#define DOMUS_QEMU_CMDLINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/domcfg.h"

/* Socket names inside the domain run directory. */
#define QEMU_QMP_SOCK "qmp.sock"
#define QEMU_SERIAL_SOCK "serial.sock"
#define QEMU_PVCON_SOCK "pvcon.sock"
#define QEMU_QGA_SOCK "qga.sock"
#define QEMU_DISK_SOCK_FMT "disk-%s.sock"  /* a disk server's, by vdev */

/* How long QEMU's NBD client holds guest I/O while it reconnects to a
 * disk server that restarted (or a storage host that had a hiccup),
 * before failing it. */
#define QEMU_NBD_RECONNECT_DELAY_S 60

enum accel { ACCEL_TCG, ACCEL_KVM };

/* Empty PCIe root ports "hp0".."hp3" of q35 (PV/PVH) domains, where
 * network-attach plugs NICs; boot-time NICs have the QOM id "nic<devid>"
 * and, on q35, a root port each ("np<devid>", slot 0x18, one function per
 * NIC), so that network-detach can unplug them too. */
#define QEMU_HOTPLUG_PORTS 4
#define QEMU_HOTPLUG_PORT_PREFIX "hp"
#define QEMU_NIC_PORT_PREFIX "np"

/* A disk after its target was resolved to a host path. */
struct qemu_disk {
	const char *path;     /* file, block device, or nbd: URI; NULL = empty cdrom */
	const char *format;   /* "raw", "qcow2"... */
	const char *vdev;     /* guest name: "xvda2" */
	bool readonly, cdrom;
	bool nbd;             /* served on QEMU_DISK_SOCK_FMT (path unused) */
	const struct disk_nbd *remote; /* an export of a remote NBD server (path unused) */
};

struct qemu_nic {
	const char *ifname;   /* host tap name */
	const char *mac;
	const char *model;    /* "virtio-net-pci", "e1000", "rtl8139"... */
	bool all_vlans;       /* a trunk: no VLAN filter in a virtio NIC (ctrl_vlan=off) */
	bool no_offload;      /* virtio: the guest checksums and segments (csum=off), for
			       * switches that read the tap frame by frame (OVS userspace) */
	unsigned devid;       /* netdev "netN" and device "nicN" */
	const char *port;     /* q35: its root port ("npN", "hpN"); NULL: "np<index>" */
};

struct qemu_launch {
	const char *binary;       /* qemu-system-x86_64 */
	enum accel accel;
	const struct domcfg *cfg;
	const char *uuid;
	const char *console_log;  /* absolute path of the console log */
	const struct qemu_disk *disks;
	size_t n_disks;
	const struct qemu_nic *nics;
	size_t n_nics;
	size_t n_nic_ports;       /* q35: boot-time NIC root ports "npN" (at least n_nics) */
	bool incoming;            /* wait for a migration stream (-incoming defer) */
	/* With incoming: the stream comes over QEMU's own TLS, as the server,
	 * with the tls-creds-x509 files in this directory (object TLS_ID). */
	const char *incoming_tls_dir, *tls_id;
	/* Set when a bootloader found the kernel inside the guest's disk:
	 * they replace cfg's kernel, ramdisk and kernel arguments. */
	const char *boot_kernel, *boot_ramdisk, *boot_cmdline;
};

/* Build the argv (NULL-terminated, malloc'd strings) for L. Returns 0 or
 * -errno (-EINVAL with ERRBUF filled for a config QEMU cannot express). */
int qemu_build_argv(const struct qemu_launch *l, char ***ret_argv, char *errbuf, size_t errsize);

/* device_add arguments for NIC N (hot plug; q35: N->port is set) whose
 * netdev is NETDEV (new reference, or NULL). */
json_t *qemu_nic_device(const struct qemu_nic *n, const char *netdev);

/* The QEMU device model name for an xl vif model ("virtio", "e1000",
 * "rtl8139"...); NULL if unknown. */
const char *qemu_nic_model(const char *xl_model, enum dom_type type);

/* The kernel command line for a PV/PVH domain: console=ttyS0, root=, extra,
 * cmdline, in that order. */
char *qemu_kernel_cmdline(const struct domcfg *cfg);

#endif
