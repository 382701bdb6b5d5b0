/* lv.h - the LV data API: read, write, flush and discard a logical volume
 * by byte offset, for the NBD server, domains and backups.
 *
 *   struct lv_handle *h;
 *   int r = lv_open(&st, "vg0/dom1-disk", LV_OPEN_RDWR, &h);
 *   r = lv_pwrite(h, buf, len, offset);   // 0 or -errno, all or nothing
 *   r = lv_pread(h, buf, len, offset);
 *   r = lv_flush(h);                      // fdatasync of every PV used
 *   r = lv_discard(h, len, offset);       // punch holes / BLKDISCARD
 *   uint64_t size = lv_size(h);           // re-reads metadata if it changed
 *   lv_close(h);
 *
 * An LV maps to extents on PVs (regular files or block devices, opened by
 * the library). While a handle is open the LV holds a shared "in use" lock
 * (flock on run/domus/storage/locks/L_<lv uuid>): lvremove, lvreduce and
 * lvrename take it exclusively without waiting and refuse an LV in use.
 * Growing an LV is visible to open handles: an access past the known end
 * re-reads the metadata (lv_size() does too). Handles are not thread-safe;
 * use one per thread or serialise.
 *
 * Classic snapshots: writing an origin first copies each chunk not yet saved
 * to every valid snapshot (data, then the exception table, each synced,
 * then the origin write); reading a snapshot takes a chunk from its COW
 * store or else from the origin. A snapshot whose store is full becomes
 * invalid (reads and writes fail with -EIO); the origin keeps working.
 * Handles on the same origin, in any process, stay coherent through
 * run/domus/storage/locks/S_<origin uuid>: an flock (exclusive around a
 * copy-out and origin write, shared around a snapshot read) and two
 * generation counters (snapshot set, exception tables) in the file.
 */
#ifndef DOMUS_STORAGE_LV_H
#define DOMUS_STORAGE_LV_H

#include "storage/storage.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LV_OPEN_RDONLY 0
#define LV_OPEN_RDWR 1
#define LV_OPEN_CLAIMED 2 /* the caller holds lv_claim(): take no in-use lock */

struct lv_handle;

/* Open NAME ("VG/LV"). -ENOENT (no such VG or LV), -EINVAL (bad name),
 * -ENXIO (a PV is missing), -EPERM (segment types Domus cannot serve). */
int lv_open(const struct storage *st, const char *name, int flags, struct lv_handle **ret);
void lv_close(struct lv_handle *h);

/* The id of the opened LV (its UUID as the lock names use it), valid while H is open. */
const char *lv_id_of(const struct lv_handle *h);

/* Size in bytes (refreshed from metadata when it changed). */
uint64_t lv_size(struct lv_handle *h);

/* Byte-offset I/O; -EINVAL past the end, -EBADF writing a read-only handle. */
int lv_pread(struct lv_handle *h, void *buf, size_t len, uint64_t off);
int lv_pwrite(struct lv_handle *h, const void *buf, size_t len, uint64_t off);
int lv_flush(struct lv_handle *h);

/* For reading a non-snapshot LV without the library: where byte OFF lies
 * (the PV's fd and the byte offset there) and how many bytes follow it in
 * that piece (up to the end of the extent run or stripe chunk, and of the
 * LV as last seen). Re-reads nothing and changes nothing, so it may run
 * in several threads at once, and alongside lv_flush(), but not alongside
 * the other calls, which may reload the maps and close the fd. -EINVAL
 * past the known end, -EOPNOTSUPP for a snapshot (its data is spread
 * over two LVs). Writes must go through lv_pwrite() (copy-out). */
int lv_map(const struct lv_handle *h, uint64_t off, int *ret_fd, uint64_t *ret_pv_off,
	   uint64_t *ret_len);
int lv_discard(struct lv_handle *h, uint64_t len, uint64_t off);

/* Claim LV (uuid LV_ID) exclusively, without waiting: the fd holding the
 * claim, or -EBUSY if a handle has it open. */
int lv_claim(const struct storage *st, const char *lv_id);

/* True if a handle has LV (uuid LV_ID) open, in any process. */
bool lv_in_use(const struct storage *st, const char *lv_id);

/* Lock the snapshot state of origin ORIGIN_ID exclusively (waits): the fd.
 * After changing that origin's snapshots (create, remove, resize, merge),
 * call lv_snapshots_changed(fd) so open handles reload, then close fd. */
int lv_snap_lock(const struct storage *st, const char *origin_id);
int lv_snapshots_changed(int fd);

/* Write an empty exception store on the (new) COW LV of VG, CHUNK bytes per
 * chunk. Used by lvcreate -s before committing the metadata. */
int lv_snapshot_init(const struct lvm_vg *vg, const struct lvm_lv *cow, uint64_t chunk);

/* State of snapshot COW of VG: bytes of its store in use (the least size
 * it can shrink to), and whether it is still valid. */
int lv_snapshot_status(const struct lvm_vg *vg, const struct lvm_lv *cow, uint64_t *ret_used,
		       bool *ret_valid);

/* Copy every chunk snapshot COW (in VG VGNAME) saved back to its origin,
 * through the origin's write path (its other snapshots keep their data).
 * The caller holds claims on both and then removes the snapshot.
 * -EINVAL if the snapshot is invalid. Idempotent, so a crash is redone. */
int lv_snapshot_merge(const struct storage *st, const char *vgname, const char *cow_name);

#endif
