/* vg.h - the volume group model: PVs, LVs and segments as LVM2's text
 * metadata describes them, with import/export and in-memory operations
 * (allocation, resize, rename, remove). No I/O here: see pv.h and storage.h.
 *
 * Sizes in the model are in 512-byte sectors (as in the metadata) or in
 * extents. Keys this model does not know are kept from the imported text
 * and written back unchanged, so a VG made by lvm2 with features Domus does
 * not use survives a round trip; LVs with segment types other than
 * "striped" are kept whole and can be listed but not changed.
 */
#ifndef DOMUS_STORAGE_VG_H
#define DOMUS_STORAGE_VG_H

#include "storage/format.h"
#include "storage/lvmcfg.h"

#include <stdbool.h>
#include <stdint.h>

#define LVM_NAME_MAX 127
#define LVM_MAX_PVS 1024
#define LVM_MAX_LVS 100000
#define LVM_MAX_SEGS 100000

struct lvm_stripe {
	unsigned pv;      /* index in vg->pvs */
	uint64_t pe;      /* first physical extent */
};

struct lvm_seg {
	uint64_t start_extent, extent_count;
	char *type;                 /* "striped", "snapshot", ... */
	uint32_t stripe_count;
	uint64_t stripe_size;       /* sectors, when stripe_count > 1 */
	struct lvm_stripe *stripes; /* stripe_count entries ("striped") */
	char *origin, *cow_store;   /* "snapshot" */
	uint64_t chunk_size;        /* "snapshot", sectors */
	const struct cfg_node *src; /* imported section (unknown keys), or NULL */
};

struct lvm_lv {
	char *name;
	char id[LVM_ID_LEN + 1];
	char **status;              /* NULL-terminated, e.g. READ WRITE VISIBLE */
	int64_t creation_time;
	char *creation_host;
	unsigned nseg;
	struct lvm_seg *segs;
	const struct cfg_node *src;
	bool opaque;                /* has segments we cannot change */
};

struct lvm_pv {
	char *name;                 /* "pv0" ... (the key in the text) */
	char id[LVM_ID_LEN + 1];
	char *device;               /* device hint stored in the text */
	char **status;              /* ALLOCATABLE ... */
	uint64_t dev_size, pe_start, pe_count; /* sectors, sectors, extents */
	const struct cfg_node *src;
	/* Runtime state (not in the text). */
	char *path;                 /* where the PV was found; NULL if missing */
	struct lvm_pv_label label;
};

struct lvm_vg {
	char *name;
	char id[LVM_ID_LEN + 1];
	uint64_t seqno;
	char **status;
	uint64_t extent_size;       /* sectors */
	int64_t max_lv, max_pv, metadata_copies;
	unsigned npv, nlv;
	unsigned nsnap;             /* hidden "snapshotN" LVs (fast paths when 0) */
	struct lvm_pv **pvs;
	struct lvm_lv **lvs;
	struct cfg_node *tree;      /* the imported text, owned */
	const struct cfg_node *src;
};

/* LVM's naming rules. vg_name_valid: [A-Za-z0-9+_.-], no leading '-', not
 * "." or "..", at most 127 chars. lv_name_valid adds LVM's reserved
 * prefixes ("snapshot", "pvmove") and suffixes ("_mlog", "_rimage"...). */
bool lvm_vg_name_valid(const char *name);
bool lvm_lv_name_valid(const char *name);

/* Parse metadata TEXT into a VG (names, references and extents checked).
 * -EINVAL for a syntax or semantic error, -ENOMEM. */
int vg_import(const char *text, size_t len, struct lvm_vg **ret);

/* Produce the metadata text (NUL-terminated; *ret_len includes the NUL).
 * DESCRIPTION and HOST go into the trailer, NOW is the creation time. */
int vg_export(const struct lvm_vg *vg, const char *description, const char *host,
	      int64_t now, char **ret_text, size_t *ret_len);

/* A new empty VG (default status, extent size EXTENT_SECTORS). */
int vg_new(const char *name, uint64_t extent_sectors, struct lvm_vg **ret);
struct lvm_vg *vg_free(struct lvm_vg *vg);
/* Free one LV or PV that is not (or no longer) in a VG's arrays. */
void lvm_lv_free(struct lvm_lv *lv);
void lvm_pv_free(struct lvm_pv *pv);

/* Find by name; NULL if absent. */
struct lvm_lv *vg_find_lv(const struct lvm_vg *vg, const char *name);
int vg_find_pv_by_id(const struct lvm_vg *vg, const char *id);

/* Extents of LV (sum of segments), free extents of one PV and of the VG. */
uint64_t lv_extents(const struct lvm_lv *lv);
uint64_t vg_pv_free(const struct lvm_vg *vg, unsigned pv);
uint64_t vg_free_extents(const struct lvm_vg *vg);
uint64_t vg_total_extents(const struct lvm_vg *vg);
bool vg_pv_in_use(const struct lvm_vg *vg, unsigned pv);
bool lv_has_status(const struct lvm_lv *lv, const char *flag);

/* Add a PV described by LABEL (found at PATH) with its data area starting
 * at PE_START sectors. -ENOSPC if it holds no extent. */
int vg_add_pv(struct lvm_vg *vg, const struct lvm_pv_label *label, const char *path,
	      uint64_t pe_start);
/* Remove PV; -EBUSY if extents are allocated on it. */
int vg_remove_pv(struct lvm_vg *vg, unsigned pv);

/* Create LV NAME of EXTENTS extents: contiguous when possible, else linear
 * segments across free areas and PVs. -EEXIST, -EINVAL (name), -ENOSPC. */
int vg_create_lv(struct lvm_vg *vg, const char *name, uint64_t extents, const char *host,
		 int64_t now, struct lvm_lv **ret);
/* Grow or shrink LV to EXTENTS (> 0). -ENOSPC, -EPERM for an opaque LV. */
int vg_resize_lv(struct lvm_vg *vg, struct lvm_lv *lv, uint64_t extents);
/* Rename LV, keeping snapshot references (origin, cow_store) pointing to it. */
int vg_rename_lv(struct lvm_vg *vg, struct lvm_lv *lv, const char *name);
void vg_remove_lv(struct lvm_vg *vg, struct lvm_lv *lv);

/* Classic snapshots, as lvm2 stores them: the COW store is a visible linear
 * LV carrying the user's name; a hidden LV "snapshotN" has one segment of
 * type "snapshot" (origin, cow_store, chunk_size; extent_count = the origin's
 * size then). Create NAME (COW_EXTENTS extents) as a snapshot of ORIGIN. */
int vg_create_snapshot(struct lvm_vg *vg, struct lvm_lv *origin, const char *name,
		       uint64_t cow_extents, uint64_t chunk_sectors, const char *host,
		       int64_t now, struct lvm_lv **ret_cow);
/* The hidden "snapshotN" LV whose COW store is COW, or NULL. */
struct lvm_lv *vg_snapshot_of(const struct lvm_vg *vg, const struct lvm_lv *cow);
/* The origin of snapshot COW, or NULL if COW is not a snapshot. */
struct lvm_lv *vg_origin_of(const struct lvm_vg *vg, const struct lvm_lv *cow);
/* True if LV has snapshots. */
bool lv_is_origin(const struct lvm_vg *vg, const struct lvm_lv *lv);
/* True for the hidden snapshotN LVs (reports skip them). */
bool lv_is_snapshot_seg(const struct lvm_lv *lv);
/* Shown by lvs and counted as an LV: VISIBLE, or a snapshot's COW store
 * (lvm2 writes COW LVs without VISIBLE). */
bool lv_is_visible(const struct lvm_vg *vg, const struct lvm_lv *lv);
/* Remove snapshot COW and its hidden snapshotN LV. */
void vg_remove_snapshot(struct lvm_vg *vg, struct lvm_lv *cow);

#endif
