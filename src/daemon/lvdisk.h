/* lvdisk.h - domain disks on Domus logical volumes, served over NBD.
 *
 * A disk target naming an LV of this instance ("/dev/VG/LV",
 * "/dev/mapper/VG-LV" with LVM's doubled dashes) that is not a real block
 * device is served to QEMU by a disk server: `domus nbd-serve VG/LV --unix
 * disk-<vdev>.sock [--readonly] --holder "domain NAME (id N)"`, started
 * detached (double fork, own session) so that it outlives the daemon as
 * QEMU does; QEMU's NBD client reconnects if it restarts. The server holds
 * the LV's in-use lock and a holder record (storage/holder.h), so a
 * conflicting attach, lvremove or lvreduce is refused naming the domain.
 */
#ifndef DOMUS_DAEMON_LVDISK_H
#define DOMUS_DAEMON_LVDISK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/domcfg.h"
#include "qemu/cmdline.h"

struct domain;

/* One running disk server of a domain (state.json "disk_servers"). */
struct disk_server {
	char *vdev;                   /* "xvda2" */
	char *lv;                     /* "VG/LV" */
	bool readonly;
	pid_t pid;
	unsigned long long pid_start; /* against pid reuse */
	uint64_t retry_ms;            /* a failed restart: when to try again */
	unsigned retry_delay_ms;
};

/* If disk S names an LV of this instance: 1 with *RET_LV ("VG/LV") and
 * *RET_DISK set for QEMU; 0 if it does not (a real file or device, or not
 * one of our VGs); -errno with ERRBUF filled (e.g. no such LV). */
int lvdisk_plan(const struct disk_spec *s, char **ret_lv, struct qemu_disk *ret_disk,
		char *errbuf, size_t errsize);

/* Start a disk server for every disk I with LVS[I] set (N entries), in D's
 * run directory, and wait until each listens. On failure the servers
 * already started are stopped and ERRBUF says why (the server's message,
 * e.g. "logical volume vg0/x is in use by domain web (id 3)"). */
int lvdisk_start(struct domain *d, char *const *lvs, const struct qemu_disk *disks, size_t n,
		 char *errbuf, size_t errsize);

/* Stop D's disk servers (SIGTERM, then SIGKILL) and forget them. */
void lvdisk_stop(struct domain *d);

/* D's disk servers as JSON for state.json (call with D's lock held), and
 * back (at re-attach). */
json_t *lvdisk_to_json(const struct domain *d);
int lvdisk_from_json(struct domain *d, json_t *arr);

/* Restart D's disk servers that died (at re-attach, and from the
 * monitor). Returns how many were restarted. A server that fails to
 * restart is retried later with a growing delay (up to a minute). */
int lvdisk_revive(struct domain *d);

/* Start the monitor thread: every half second it revives the dead disk
 * servers of every live domain (QEMU's NBD client reconnects meanwhile)
 * and calls ON_CHANGE(d) after restarting any of D's, to save its state. */
int lvdisk_monitor_start(void (*on_change)(struct domain *d));

/* After D was renamed: rewrite the holder records of its disk servers so
 * that refusals name it by its new name. */
void lvdisk_retitle(struct domain *d);

/* Where LV ("VG/LV") lies when it is one contiguous run on one PV: *RET_PATH
 * (malloc'd; the PV's file or device) and *RET_OFFSET (bytes). -EMEDIUMTYPE
 * if it is striped, fragmented or a snapshot, another -errno otherwise. */
int lvdisk_locate(const char *lv, char **ret_path, uint64_t *ret_offset);

/* Migration, source side: *RET {vdev: VDEV, vg, vg_uuid, lv, size (bytes)}
 * for LV NAME ("VG/LV"). -ENOENT if it does not exist. */
int lvdisk_describe(const char *vdev, const char *name, json_t **ret);

/* Migration, target side, for the array DISKS of lvdisk_describe() objects:
 * a disk whose VG here has the same UUID (both hosts see the same PVs) is
 * "shared" and its LV must exist; else the VG of that name must exist
 * without that LV and with room for it, and the LV is created ("copy").
 * On success *RET_ANSWER {vdev: "shared"|"copy"} and *RET_CREATED the
 * NULL-terminated list of created LVs ("VG/LV"). On failure nothing is
 * left created and ERRBUF says why. */
int lvdisk_prepare_incoming(json_t *disks, json_t **ret_answer, char ***ret_created,
			    char *errbuf, size_t errsize);

/* Remove the LVs of CREATED (from lvdisk_prepare_incoming; logs what
 * fails) and free the list. */
void lvdisk_remove_created(char **created);

#endif
