/* domcfg.h - a VM's configuration: the meaning of xl.cfg keys.
 *
 * domcfg_from_xlcfg() turns a parsed file into a struct domcfg, checking
 * every known key's type and range and the disk and vif specs; unknown keys
 * become warnings, never silent mis-reads. The daemon keeps and ships a VM's
 * config as JSON (domcfg_to_json / domcfg_from_json round-trip exactly).
 */
#ifndef DOMUS_DOMCFG_H
#define DOMUS_DOMCFG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/xlcfg.h"

#define DOMCFG_NAME_MAX 64
#define DOMCFG_DEFAULT_MEMORY_MB 128
#define DOMCFG_MEMORY_MIN_MB 16
#define DOMCFG_MEMORY_MAX_MB (1024 * 1024)  /* 1 TiB */
#define DOMCFG_VCPUS_MAX 128
#define DOMCFG_VIF_DEVID_MAX 255  /* device ids and port numbers carried in vifs */

enum dom_type { DOM_TYPE_PV, DOM_TYPE_PVH, DOM_TYPE_HVM };

/* on_poweroff / on_reboot / on_crash (xl.cfg(5) names). */
enum dom_action {
	DOM_ACTION_DESTROY,
	DOM_ACTION_RESTART,
	DOM_ACTION_RENAME_RESTART,
	DOM_ACTION_PRESERVE,
	DOM_ACTION_COREDUMP_DESTROY,
	DOM_ACTION_COREDUMP_RESTART,
	DOM_ACTION_SOFT_RESET,
};

enum disk_format { DISK_FORMAT_RAW, DISK_FORMAT_QCOW2, DISK_FORMAT_QCOW, DISK_FORMAT_VHD,
		   DISK_FORMAT_QED, DISK_FORMAT_EMPTY };

/* One `disk = [...]` entry (xl-disk-configuration). */
struct disk_spec {
	char *target;        /* path as written after prefixes are stripped; NULL for empty cdrom */
	char *vdev;          /* guest name without "/dev/": "xvda2", "hda", "sda" */
	enum disk_format format;
	bool readonly;       /* access r/ro */
	bool cdrom;          /* devtype=cdrom or vdev ":cdrom" suffix */
	char *backendtype;   /* "phy", "qdisk", "tap" or NULL */
	char *script;        /* script= or NULL */
	bool phy;            /* legacy "phy:" prefix (target is a device or LV path) */
};

/* A disk target naming a remote NBD export (nbduri.c). */
#define DISK_NBD_DEFAULT_PORT 10809
struct disk_nbd {
	char *host;          /* TCP: host name or address (IPv6 without brackets); NULL for Unix */
	unsigned port;       /* TCP port (default 10809) */
	char *socket;        /* Unix: absolute socket path; NULL for TCP */
	char *export;        /* export name, percent-decoded; "" = the server's default */
};

/* One `vif = [...]` entry (xl-network-configuration). */
struct vif_spec {
	char *mac;           /* "00:16:3e:xx:xx:xx" lowercase, or NULL = generate */
	char *bridge;        /* bridge name or NULL */
	char *ip;            /* space-separated addresses as written, or NULL */
	char *vifname;       /* host-side name or NULL */
	char *model;         /* "virtio" default for pv/pvh, "rtl8139" for hvm, or as given */
	char *rate;          /* as written ("10MB/s@20ms"), or NULL */
	char *script;
	char *type;          /* "vif" or "ioemu", or NULL */
	char *gatewaydev;
	/* Where the NIC sits in a running domain, carried by save and
	 * migration so that the domain brought back has the same devices
	 * after NICs were attached or detached: its device id and PCIe root
	 * port, "npN" (the port of boot-time NIC N) or "hpN" (hot-plug port
	 * N). Configs users write leave port NULL: vif I is device I on
	 * "npI". */
	unsigned devid;
	char *port;
};

struct domcfg {
	char *name;
	char *uuid;              /* canonical lowercase, or NULL (daemon generates) */
	enum dom_type type;
	uint64_t memory_mb;      /* default 128 */
	uint64_t maxmem_mb;      /* default = memory */
	unsigned vcpus;          /* default 1 */
	unsigned maxvcpus;       /* default = vcpus */
	char *kernel, *ramdisk;
	char *cmdline;           /* `cmdline` if given, else NULL */
	char *root;              /* `root` (becomes root=... on the kernel line) */
	char *extra;             /* `extra` */
	char *bootloader;        /* accepted and reported as unsupported if set */
	struct disk_spec *disks;
	size_t n_disks;
	struct vif_spec *vifs;
	size_t n_vifs;
	unsigned nic_ports;      /* boot-time NIC ports to create (carried, with vif
				  * ports); 0: n_vifs */
	enum dom_action on_poweroff;  /* default destroy */
	enum dom_action on_reboot;    /* default restart */
	enum dom_action on_crash;     /* default destroy */
	char *serial;            /* "pty" etc., or NULL */
	unsigned cpu_weight;     /* default 256 */
	unsigned cap;            /* percent, 0 = none */
	char *boot;              /* HVM boot order, e.g. "c", "dc"; default "c" */
	bool vnc;
	char *vnclisten;         /* NULL = 127.0.0.1 */
	unsigned vncdisplay;
	char **warnings;         /* NULL (none) or a NULL-terminated list of messages */
	json_t *raw;             /* every setting as parsed (for `list -l`), owned */
};

/* Build a domcfg from a parsed file. Returns 0, or -EINVAL with a message
 * naming the key in ERR (whose line and column are those of the offending
 * value; format it with xlcfg_error_format()), or -ENOMEM. */
int domcfg_from_xlcfg(const struct xlcfg *cfg, struct domcfg **ret, struct xlcfg_error *err);

/* Parse one disk spec string. Returns 0 or -EINVAL with ERRBUF filled. */
int disk_spec_parse(const char *spec, struct disk_spec *ret, char *errbuf, size_t errsize);
void disk_spec_release(struct disk_spec *d);

/* Whether disk TARGET is meant as an NBD URI (starts with an nbd scheme:
 * "nbd:", "nbd+", "nbds:", "nbds+"), well-formed or not. */
bool disk_target_is_nbd(const char *target);

/* Parse an NBD disk target: nbd://HOST[:PORT][/EXPORT], nbd+tcp://...,
 * [IPv6] hosts, nbd+unix:///[EXPORT]?socket=/ABS/PATH. Returns 0, or
 * -EINVAL with ERRBUF filled (quoting URI), or -ENOMEM. */
int disk_nbd_parse(const char *uri, struct disk_nbd *ret, char *errbuf, size_t errsize);
void disk_nbd_release(struct disk_nbd *n);

/* A guest disk name domus accepts: xvdX, hdX, sdX or vdX (X: 1-3 letters,
 * one for hd) with an optional partition number 1-255, no "/dev/". */
bool disk_vdev_valid(const char *vdev);

/* Parse one vif spec string. Returns 0 or -EINVAL with ERRBUF filled. */
int vif_spec_parse(const char *spec, struct vif_spec *ret, char *errbuf, size_t errsize);
void vif_spec_release(struct vif_spec *v);

/* Parse a vif rate "RATE/s[@INTERVAL]": RATE is an integer with a unit B, KB,
 * MB, GB (bytes) or b, Kb, Mb, Gb (bits), multiples of 1000; INTERVAL is an
 * integer with s, ms or us (default 50ms). Returns 0, or -EINVAL if malformed
 * or out of range (at least 1 byte and at most 2^32-1 bytes per interval). */
#define VIF_RATE_DEFAULT_INTERVAL_US 50000
int vif_rate_parse(const char *rate, uint64_t *ret_bytes_per_sec, uint64_t *ret_interval_us);

json_t *domcfg_to_json(const struct domcfg *c);
int domcfg_from_json(json_t *j, struct domcfg **ret);

/* One vif as domcfg_to_json writes it in "vifs" (new reference, or NULL). */
json_t *domcfg_vif_to_json(const struct vif_spec *v);

const char *dom_type_name(enum dom_type t);           /* "pv", "pvh", "hvm" */
const char *dom_action_name(enum dom_action a);       /* "destroy", "rename-restart"... */
const char *disk_format_name(enum disk_format f);     /* "raw", "qcow2"... */

/* The reverse of the above: the enum value, or -EINVAL. */
int dom_type_from_name(const char *s);
int dom_action_from_name(const char *s);
int disk_format_from_name(const char *s);

/* A valid domain name: 1-64 letters, digits, '.', '-', '_'; not starting
 * with '-' or '.', not all digits (that would read as a domain id). */
bool domcfg_name_valid(const char *name);

/* True if BOOTLOADER is pygrub (any path): Domus reads the guest's boot
 * menu itself (src/boot). */
bool domcfg_bootloader_is_pygrub(const char *bootloader);

/* A UUID in the 8-4-4-4-12 hex form (either case). */
bool domcfg_uuid_valid(const char *uuid);

/* The guest kernel command line: cmdline if set, else "root=ROOT EXTRA"
 * from what is set. Returns a new string, or NULL on allocation failure. */
char *domcfg_kernel_cmdline(const struct domcfg *c);

void domcfg_free(struct domcfg *c);

#endif
