/* lvmap.h - an LV's extents as byte ranges on PV files or devices: the
 * mapping used by the LV data API and the snapshot store (internal). */
#ifndef DOMUS_STORAGE_LVMAP_H
#define DOMUS_STORAGE_LVMAP_H

#include "storage/vg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LVMAP_MAX_STRIPES 16

struct lvmap_seg {
	uint64_t start, len;         /* logical bytes */
	uint64_t chunk;              /* stripe size (== len for linear) */
	unsigned nstripes;
	int fds[LVMAP_MAX_STRIPES];
	uint64_t pstart[LVMAP_MAX_STRIPES];
};

struct lvmap {
	struct lvmap_seg *segs;
	size_t nsegs;
	uint64_t size;
	int *fds;                    /* one per PV of the VG, -1 if unused (owned) */
	unsigned nfds;
};

/* Map LV of VG, opening its PVs (read-write if WRITE). -EPERM for segment
 * types other than striped, -ENXIO if a PV is missing. */
int lvmap_build(const struct lvm_vg *vg, const struct lvm_lv *lv, bool write, struct lvmap *ret);
void lvmap_release(struct lvmap *m);

/* Where logical byte OFF lives (fd, byte offset on the PV) and how many
 * bytes follow it there; -EINVAL outside the map. */
int lvmap_locate(const struct lvmap *m, uint64_t off, int *fd, uint64_t *poff, uint64_t *avail);

/* Exact-length I/O inside the map (the caller checks the range). */
int lvmap_io(const struct lvmap *m, void *buf, size_t len, uint64_t off, bool write);
int lvmap_discard(const struct lvmap *m, uint64_t len, uint64_t off);
int lvmap_sync(const struct lvmap *m);

#endif
