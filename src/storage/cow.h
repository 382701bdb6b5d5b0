/* cow.h - a classic snapshot's exception store, laid out as device-mapper's
 * persistent store (dm-snap-persistent), so lvm2 can activate it:
 *
 *   chunk 0      header: le32 magic "SnAp" (0x70416e53), valid, version 1,
 *                chunk size in sectors
 *   chunk 1      metadata area 0: chunk/16 entries {le64 old, le64 new}
 *   chunks 2..   the data chunks of area 0, then area 1's metadata chunk...
 *
 * An entry with new == 0 ends the table; a full area is followed by the next
 * one (zeroed on disk before the full one is written). Internal header.
 */
#ifndef DOMUS_STORAGE_COW_H
#define DOMUS_STORAGE_COW_H

#include "storage/lvmap.h"

#include <stdbool.h>
#include <stdint.h>

#define COW_MAGIC 0x70416e53u

struct cow_store {
	struct lvmap dev;            /* the COW LV (owned) */
	char id[LVM_ID_LEN + 1];     /* the COW LV's uuid */
	uint64_t chunk;              /* bytes */
	uint64_t per_area;           /* entries per metadata area */
	uint64_t nchunks;            /* chunks the COW LV holds */
	uint64_t area, in_area;      /* next free entry */
	uint64_t committed;          /* entries of the current area on disk */
	uint64_t next_free;          /* next data chunk to hand out */
	bool valid;
	uint8_t *area_buf;           /* the current area's metadata chunk */
	uint8_t *full_buf;           /* a filled area not yet written, or NULL: */
	uint64_t full_area;          /* one commit then writes both areas */
	uint64_t *keys, *vals;       /* open-addressing table old -> new */
	size_t cap, count;
};

/* Write a new, empty, valid store of CHUNK bytes per chunk on DEV. */
int cow_format(const struct lvmap *dev, uint64_t chunk);

/* Load the store on DEV (taken over, also on failure). CHUNK is the chunk
 * size the metadata names, used when the store was never initialised
 * (lvm2 leaves it zeroed until first activation): WRITE formats it then. */
int cow_load(struct cow_store *s, struct lvmap *dev, uint64_t chunk, bool write);
void cow_release(struct cow_store *s);

/* Pick up entries other handles committed since. */
int cow_sync(struct cow_store *s);

/* The COW chunk holding origin chunk OLD, if any. */
bool cow_lookup(const struct cow_store *s, uint64_t old, uint64_t *ret_new);

/* Reserve a COW chunk for OLD (in memory until cow_commit). -ENOSPC when
 * the store is full, -EAGAIN when pending entries fill two areas and must
 * be committed first. */
int cow_alloc(struct cow_store *s, uint64_t old, uint64_t *ret_new);

/* Write the pending entries (after their data is on disk), moving to the
 * next area when this one is full. */
int cow_commit(struct cow_store *s);

/* Mark the store invalid on disk (full or failed). */
int cow_invalidate(struct cow_store *s);

/* Chunks in use (header and metadata included): the least COW size. */
uint64_t cow_used_chunks(const struct cow_store *s);

/* Call FN for every exception (in no particular order). */
int cow_foreach(const struct cow_store *s, int (*fn)(void *ctx, uint64_t old, uint64_t new),
		void *ctx);

#endif
