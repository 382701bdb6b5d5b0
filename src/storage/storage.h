/* storage.h - a host's volume groups: where it looks for PVs (the devices
 * list), scanning, locking, reading and committing VGs, and the PV-level
 * operations (pvcreate, vgcreate, vgextend...).
 *
 * Devices list: ROOT/var/lib/domus/storage/devices, one absolute path per
 * line. Only those files or block devices are ever scanned (LVM's
 * devices-file idea), so guest disks are never looked into. pvcreate and
 * `pvscan PATH` add to it; pvremove takes a device out.
 * Locks: flock on ROOT/run/domus/storage/locks/V_<vg> (shared to read,
 * exclusive to change) and P_orphans for PVs outside any VG. Commands take
 * the lock before reading, so read-modify-write cycles never interleave.
 * Backups: ROOT/var/lib/domus/storage/backup/<vg>, rewritten after every
 * commit (what vgcfgrestore uses when every on-disk copy is damaged).
 */
#ifndef DOMUS_STORAGE_STORAGE_H
#define DOMUS_STORAGE_STORAGE_H

#include "storage/vg.h"

#include <stdbool.h>

struct storage {
	char *devices_file;
	char *backup_dir;
	char *lock_dir;
	char *host;
};

/* Paths under LIB_DIR (var/lib/domus) and RUN_DIR (run/domus). */
int storage_init(struct storage *st, const char *lib_dir, const char *run_dir);
void storage_release(struct storage *st);

/* The devices list (NULL-terminated, may be empty), add and remove. */
int storage_devices(const struct storage *st, char ***ret);
int storage_device_add(const struct storage *st, const char *path);
int storage_device_remove(const struct storage *st, const char *path);

/* What one listed device holds. */
struct pv_scan {
	char *path;
	int err;                   /* 0, or why it could not be read */
	bool is_pv;
	struct lvm_pv_label label;
	int mda_err;               /* 0, -ENODATA (orphan), -EBADMSG */
	char *vg_name;             /* from the newest readable metadata */
	bool outdated;             /* that VG has since moved on without this PV
				    * (vgreduce/vgremove interrupted): reusable */
	char vg_id[LVM_ID_LEN + 1];
	uint64_t seqno;
	char *text;
	size_t len;
};

struct storage_scan {
	struct pv_scan *devs;
	size_t n;
};

/* What the device at PATH holds (RET->path is a copy of PATH). RET->err
 * tells why it could not be read; the call itself fails only on -ENOMEM. */
int storage_probe(const char *path, struct pv_scan *ret);
void pv_scan_release(struct pv_scan *d);

int storage_scan(const struct storage *st, struct storage_scan *ret);
void storage_scan_release(struct storage_scan *sc);
/* The scanned device at PATH, or NULL. */
const struct pv_scan *storage_scan_find(const struct storage_scan *sc, const char *path);
/* Names of the VGs seen (NULL-terminated, sorted, no duplicates). */
int storage_vg_names(const struct storage_scan *sc, char ***ret);

/* flock NAME in the lock dir; returns the fd holding it (close to unlock).
 * NONBLOCK: -EWOULDBLOCK instead of waiting. */
int storage_lock(const struct storage *st, const char *name, bool exclusive, bool nonblock);

/* An open VG: lock held, newest metadata read, PVs matched by UUID. */
struct vg_handle {
	const struct storage *st;
	struct lvm_vg *vg;
	int lock_fd;
	unsigned ncopies, nstale;  /* metadata copies read, and how many were old or bad */
	bool missing_pvs;
};

/* Lock (shared, or exclusive for WRITE) and read VG NAME. -ENOENT if no
 * listed device holds it, -EBADMSG if no copy of its metadata is valid,
 * -ENOTUNIQ if two different VGs have that name. */
int storage_vg_open(const struct storage *st, const char *name, bool write,
		    struct vg_handle *ret);
void storage_vg_close(struct vg_handle *h);

/* Bump the seqno and write H->vg to every metadata area of its PVs (two
 * phases across PVs), then refresh the backup. -ENXIO if PVs are missing. */
int storage_vg_commit(struct vg_handle *h, const char *description);

/* 0 if PATH may become a PV of a VG (not a PV, an orphan PV, or one an
 * interrupted vgreduce left behind), -EBUSY if it belongs to a VG, another
 * -errno if it cannot be read. */
int storage_check_free(const struct storage *st, const char *path);

/* pvcreate: format PATH and add it to the devices list. -EBUSY if it is a
 * PV in a VG. */
int storage_pvcreate(const struct storage *st, const char *path, uint64_t metadata_size);
/* pvremove: wipe an orphan PV's label; -EBUSY if in a VG. */
int storage_pvremove(const struct storage *st, const char *path);

/* vgcreate NAME over PATHS (pvcreate'd on the fly when not PVs yet). */
int storage_vgcreate(const struct storage *st, const char *name, char *const *paths,
		     unsigned n, uint64_t extent_sectors);
/* Add / remove PVs of an open (for write) VG; both commit. vgreduce
 * refuses a PV in use (-EBUSY). */
int storage_vgextend(struct vg_handle *h, char *const *paths, unsigned n);
int storage_vgreduce(struct vg_handle *h, char *const *paths, unsigned n);
/* Remove an open VG (must hold no LV: -ENOTEMPTY): its PVs become orphans. */
int storage_vgremove(struct vg_handle *h);

/* Write the VG's metadata text to FILE (vgcfgbackup). */
int storage_vg_backup(struct vg_handle *h, const char *file);
/* Restore VG NAME from FILE (default: the automatic backup) onto the PVs it
 * lists, found by UUID on listed devices; the seqno continues above any
 * copy found on disk. */
int storage_vgcfgrestore(const struct storage *st, const char *name, const char *file);

#endif
