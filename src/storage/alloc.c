/* alloc.c - in-memory VG operations: PVs in and out, LV create, resize,
 * rename and remove, with LVM's "normal" allocation (contiguous when
 * possible, else linear segments over the largest free areas). */
#include "storage/vg.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct area {
	unsigned pv;
	uint64_t pe, count;
};

int vg_new(const char *name, uint64_t extent_sectors, struct lvm_vg **ret)
{
	struct lvm_vg *vg;
	int r;

	if (!lvm_vg_name_valid(name))
		return -EINVAL;
	if (extent_sectors < 8 || (extent_sectors & (extent_sectors - 1)))
		return -EINVAL; /* at least 4 KiB, a power of two */
	vg = calloc(1, sizeof(*vg));
	if (!vg)
		return -ENOMEM;
	vg->name = strdup(name);
	vg->status = calloc(4, sizeof(char *));
	vg->pvs = calloc(1, sizeof(*vg->pvs));
	vg->lvs = calloc(1, sizeof(*vg->lvs));
	if (vg->status) {
		vg->status[0] = strdup("RESIZEABLE");
		vg->status[1] = strdup("READ");
		vg->status[2] = strdup("WRITE");
	}
	vg->extent_size = extent_sectors;
	r = lvm_uuid_generate(vg->id);
	if (r < 0 || !vg->name || !vg->status || !vg->status[2] || !vg->pvs || !vg->lvs) {
		vg_free(vg);
		return r < 0 ? r : -ENOMEM;
	}
	*ret = vg;
	return 0;
}

struct lvm_lv *vg_find_lv(const struct lvm_vg *vg, const char *name)
{
	for (unsigned i = 0; i < vg->nlv; i++)
		if (streq(vg->lvs[i]->name, name))
			return vg->lvs[i];
	return NULL;
}

int vg_find_pv_by_id(const struct lvm_vg *vg, const char *id)
{
	for (unsigned i = 0; i < vg->npv; i++)
		if (streq(vg->pvs[i]->id, id))
			return (int)i;
	return -ENOENT;
}

uint64_t lv_extents(const struct lvm_lv *lv)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < lv->nseg; i++)
		n += lv->segs[i].extent_count;
	return n;
}

bool lv_has_status(const struct lvm_lv *lv, const char *flag)
{
	for (char **s = lv->status; s && *s; s++)
		if (streq(*s, flag))
			return true;
	return false;
}

/* Mark the extents of PV used by any segment in USED (pe_count bytes). */
static void mark_used(const struct lvm_vg *vg, unsigned pv, uint8_t *used)
{
	for (unsigned l = 0; l < vg->nlv; l++) {
		const struct lvm_lv *lv = vg->lvs[l];
		for (unsigned s = 0; s < lv->nseg; s++) {
			const struct lvm_seg *seg = &lv->segs[s];
			for (unsigned k = 0; seg->stripes && k < seg->stripe_count; k++)
				if (seg->stripes[k].pv == pv)
					memset(used + seg->stripes[k].pe, 1,
					       seg->extent_count / seg->stripe_count);
		}
	}
}

uint64_t vg_pv_free(const struct lvm_vg *vg, unsigned pv)
{
	_cleanup_free_ uint8_t *used = calloc(vg->pvs[pv]->pe_count + 1, 1);
	uint64_t n = 0;

	if (!used)
		return 0;
	mark_used(vg, pv, used);
	for (uint64_t e = 0; e < vg->pvs[pv]->pe_count; e++)
		n += !used[e];
	return n;
}

uint64_t vg_free_extents(const struct lvm_vg *vg)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < vg->npv; i++)
		n += vg_pv_free(vg, i);
	return n;
}

uint64_t vg_total_extents(const struct lvm_vg *vg)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < vg->npv; i++)
		n += vg->pvs[i]->pe_count;
	return n;
}

bool vg_pv_in_use(const struct lvm_vg *vg, unsigned pv)
{
	return vg_pv_free(vg, pv) != vg->pvs[pv]->pe_count;
}

static bool pv_allocatable(const struct lvm_pv *pv)
{
	for (char **s = pv->status; s && *s; s++)
		if (streq(*s, "ALLOCATABLE"))
			return true;
	return false;
}

/* All free runs of allocatable PVs, in PV then extent order. */
static int free_areas(const struct lvm_vg *vg, struct area **ret, size_t *ret_n)
{
	struct area *a = NULL;
	size_t n = 0, cap = 0;

	for (unsigned p = 0; p < vg->npv; p++) {
		uint64_t count = vg->pvs[p]->pe_count;
		_cleanup_free_ uint8_t *used = calloc(count + 1, 1);
		if (!used) {
			free(a);
			return -ENOMEM;
		}
		if (!pv_allocatable(vg->pvs[p]) || !vg->pvs[p]->path)
			continue;
		mark_used(vg, p, used);
		used[count] = 1; /* sentinel */
		for (uint64_t e = 0; e < count;) {
			if (used[e]) {
				e++;
				continue;
			}
			uint64_t start = e;
			while (!used[e])
				e++;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				struct area *na = realloc(a, cap * sizeof(*a));
				if (!na) {
					free(a);
					return -ENOMEM;
				}
				a = na;
			}
			a[n++] = (struct area){ p, start, e - start };
		}
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

/* Append COUNT extents at PV:PE to LV, merging with a contiguous tail. */
static int lv_append(struct lvm_lv *lv, unsigned pv, uint64_t pe, uint64_t count)
{
	struct lvm_seg *last = lv->nseg ? &lv->segs[lv->nseg - 1] : NULL, *segs;

	if (last && streq(last->type, "striped") && last->stripe_count == 1 &&
	    last->stripes[0].pv == pv && last->stripes[0].pe + last->extent_count == pe) {
		last->extent_count += count;
		return 0;
	}
	if (lv->nseg >= LVM_MAX_SEGS)
		return -E2BIG;
	segs = realloc(lv->segs, (lv->nseg + 1) * sizeof(*segs));
	if (!segs)
		return -ENOMEM;
	lv->segs = segs;
	struct lvm_seg *s = &segs[lv->nseg];
	*s = (struct lvm_seg){ .start_extent = lv_extents(lv), .extent_count = count,
			       .stripe_count = 1 };
	s->type = strdup("striped");
	s->stripes = calloc(1, sizeof(*s->stripes));
	if (!s->type || !s->stripes) {
		free(s->type);
		free(s->stripes);
		return -ENOMEM;
	}
	s->stripes[0] = (struct lvm_stripe){ pv, pe };
	lv->nseg++;
	return 0;
}

static int cmp_area_size_desc(const void *a, const void *b)
{
	const struct area *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->pv != y->pv ? (x->pv < y->pv ? -1 : 1) : (x->pe < y->pe ? -1 : 1);
}

/* Give LV NEED more extents: first right after its last extent, then one
 * free area that holds all of it, then the largest areas first. */
static int lv_grow(struct lvm_vg *vg, struct lvm_lv *lv, uint64_t need)
{
	_cleanup_free_ struct area *a = NULL;
	size_t n, total = 0;
	int r = free_areas(vg, &a, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		total += a[i].count;
	if (total < need)
		return -ENOSPC;
	const struct lvm_seg *last = lv->nseg ? &lv->segs[lv->nseg - 1] : NULL;
	for (size_t i = 0; last && last->stripes && last->stripe_count == 1 && i < n; i++) {
		if (a[i].pv != last->stripes[0].pv ||
		    a[i].pe != last->stripes[0].pe + last->extent_count)
			continue;
		uint64_t take = a[i].count < need ? a[i].count : need;
		r = lv_append(lv, a[i].pv, a[i].pe, take);
		if (r < 0)
			return r;
		need -= take;
		a[i].count -= take;
		a[i].pe += take;
		break;
	}
	for (size_t i = 0; need && i < n; i++)
		if (a[i].count >= need)
			return lv_append(lv, a[i].pv, a[i].pe, need);
	qsort(a, n, sizeof(*a), cmp_area_size_desc);
	for (size_t i = 0; need && i < n; i++) {
		uint64_t take = a[i].count < need ? a[i].count : need;
		if (!take)
			continue;
		r = lv_append(lv, a[i].pv, a[i].pe, take);
		if (r < 0)
			return r;
		need -= take;
	}
	return 0;
}

static void lv_shrink(struct lvm_lv *lv, uint64_t extents)
{
	while (lv->nseg) {
		struct lvm_seg *s = &lv->segs[lv->nseg - 1];
		if (s->start_extent >= extents) {
			free(s->type);
			free(s->stripes);
			lv->nseg--;
			continue;
		}
		s->extent_count = extents - s->start_extent;
		break;
	}
}

int vg_create_lv(struct lvm_vg *vg, const char *name, uint64_t extents, const char *host,
		 int64_t now, struct lvm_lv **ret)
{
	struct lvm_lv *lv, **lvs;
	int r;

	if (!lvm_lv_name_valid(name))
		return -EINVAL;
	if (vg_find_lv(vg, name))
		return -EEXIST;
	if (extents == 0 || extents > UINT32_MAX)
		return -EINVAL;
	if (vg->nlv >= LVM_MAX_LVS || (vg->max_lv > 0 && vg->nlv >= (uint64_t)vg->max_lv))
		return -EMLINK;
	if (extents > vg_free_extents(vg))
		return -ENOSPC;
	lvs = realloc(vg->lvs, (vg->nlv + 1) * sizeof(*lvs));
	if (!lvs)
		return -ENOMEM;
	vg->lvs = lvs;
	lv = calloc(1, sizeof(*lv));
	if (!lv)
		return -ENOMEM;
	lv->name = strdup(name);
	lv->creation_host = strdup(host);
	lv->status = calloc(4, sizeof(char *));
	lv->creation_time = now;
	r = lvm_uuid_generate(lv->id);
	if (lv->status) {
		lv->status[0] = strdup("READ");
		lv->status[1] = strdup("WRITE");
		lv->status[2] = strdup("VISIBLE");
	}
	vg->lvs[vg->nlv++] = lv;
	if (r == 0 && (!lv->name || !lv->creation_host || !lv->status || !lv->status[2]))
		r = -ENOMEM;
	if (r == 0)
		r = lv_grow(vg, lv, extents);
	if (r < 0) {
		vg_remove_lv(vg, lv);
		return r;
	}
	if (ret)
		*ret = lv;
	return 0;
}

int vg_resize_lv(struct lvm_vg *vg, struct lvm_lv *lv, uint64_t extents)
{
	uint64_t cur = lv_extents(lv);

	if (lv->opaque || lv_is_origin(vg, lv))
		return -EPERM;
	if (extents == 0 || extents > UINT32_MAX)
		return -EINVAL;
	if (extents < cur) {
		lv_shrink(lv, extents);
		return 0;
	}
	if (extents - cur > vg_free_extents(vg))
		return -ENOSPC;
	return extents > cur ? lv_grow(vg, lv, extents - cur) : 0;
}

/* Replace *FIELD by a copy of NAME if it equals OLD. */
static int rename_ref(char **field, const char *old, const char *name)
{
	char *n;

	if (!*field || !streq(*field, old))
		return 0;
	n = strdup(name);
	if (!n)
		return -ENOMEM;
	free(*field);
	*field = n;
	return 0;
}

int vg_rename_lv(struct lvm_vg *vg, struct lvm_lv *lv, const char *name)
{
	_cleanup_free_ char *old = NULL;
	int r = 0;

	if (!lvm_lv_name_valid(name))
		return -EINVAL;
	if (vg_find_lv(vg, name))
		return -EEXIST;
	old = lv->name;
	lv->name = strdup(name);
	if (!lv->name) {
		lv->name = TAKE_PTR(old);
		return -ENOMEM;
	}
	for (unsigned i = 0; r == 0 && i < vg->nlv; i++) {
		struct lvm_lv *s = vg->lvs[i];
		if (!lv_is_snapshot_seg(s))
			continue;
		r = rename_ref(&s->segs[0].origin, old, name);
		if (r == 0)
			r = rename_ref(&s->segs[0].cow_store, old, name);
	}
	return r;
}

bool lv_is_snapshot_seg(const struct lvm_lv *lv)
{
	/* origin and cow_store are only set on "snapshot" segments; this is
	 * called for every LV pair in reports, so no string compare here. */
	return lv->nseg == 1 && lv->segs[0].origin && lv->segs[0].cow_store;
}

struct lvm_lv *vg_snapshot_of(const struct lvm_vg *vg, const struct lvm_lv *cow)
{
	if (!vg->nsnap)
		return NULL;
	for (unsigned i = 0; i < vg->nlv; i++)
		if (lv_is_snapshot_seg(vg->lvs[i]) && streq(vg->lvs[i]->segs[0].cow_store, cow->name))
			return vg->lvs[i];
	return NULL;
}

struct lvm_lv *vg_origin_of(const struct lvm_vg *vg, const struct lvm_lv *cow)
{
	const struct lvm_lv *s = vg_snapshot_of(vg, cow);

	return s ? vg_find_lv(vg, s->segs[0].origin) : NULL;
}

bool lv_is_origin(const struct lvm_vg *vg, const struct lvm_lv *lv)
{
	if (!vg->nsnap)
		return false;
	for (unsigned i = 0; i < vg->nlv; i++)
		if (lv_is_snapshot_seg(vg->lvs[i]) && streq(vg->lvs[i]->segs[0].origin, lv->name))
			return true;
	return false;
}

bool lv_is_visible(const struct lvm_vg *vg, const struct lvm_lv *lv)
{
	return lv_has_status(lv, "VISIBLE") || vg_origin_of(vg, lv) != NULL;
}

void vg_remove_snapshot(struct lvm_vg *vg, struct lvm_lv *cow)
{
	struct lvm_lv *s = vg_snapshot_of(vg, cow);

	if (s)
		vg_remove_lv(vg, s);
	vg_remove_lv(vg, cow);
}

/* The hidden LV of a snapshot: "snapshotN" with one "snapshot" segment. */
static int new_snapshot_seg_lv(struct lvm_vg *vg, const struct lvm_lv *origin,
			       const struct lvm_lv *cow, uint64_t chunk, struct lvm_lv *lv)
{
	char name[32];
	unsigned k = 0;

	do
		snprintf(name, sizeof(name), "snapshot%u", k++);
	while (vg_find_lv(vg, name));
	lv->name = strdup(name);
	lv->creation_host = strdup(cow->creation_host);
	lv->creation_time = cow->creation_time;
	lv->status = calloc(3, sizeof(char *));
	lv->segs = calloc(1, sizeof(*lv->segs));
	if (!lv->name || !lv->creation_host || !lv->status || !lv->segs)
		return -ENOMEM;
	lv->status[0] = strdup("READ");
	lv->status[1] = strdup("WRITE");
	lv->nseg = 1;
	lv->opaque = true;
	lv->segs[0] = (struct lvm_seg){ .extent_count = lv_extents(origin), .chunk_size = chunk };
	lv->segs[0].type = strdup("snapshot");
	lv->segs[0].origin = strdup(origin->name);
	lv->segs[0].cow_store = strdup(cow->name);
	if (!lv->status[0] || !lv->status[1] || !lv->segs[0].type || !lv->segs[0].origin ||
	    !lv->segs[0].cow_store)
		return -ENOMEM;
	return lvm_uuid_generate(lv->id);
}

int vg_create_snapshot(struct lvm_vg *vg, struct lvm_lv *origin, const char *name,
		       uint64_t cow_extents, uint64_t chunk_sectors, const char *host,
		       int64_t now, struct lvm_lv **ret_cow)
{
	struct lvm_lv *cow, *s, **lvs;
	int r;

	if (origin->opaque || vg_origin_of(vg, origin))
		return -EPERM; /* no snapshot of a snapshot or of an odd LV */
	if (chunk_sectors < 8 || chunk_sectors > 1024 || (chunk_sectors & (chunk_sectors - 1)))
		return -EINVAL;
	r = vg_create_lv(vg, name, cow_extents, host, now, &cow);
	if (r < 0)
		return r;
	/* As lvm2: the COW LV is not VISIBLE itself; lvs shows it as the
	 * snapshot through the hidden snapshotN LV. */
	free(cow->status[2]);
	cow->status[2] = NULL;
	lvs = realloc(vg->lvs, (vg->nlv + 1) * sizeof(*lvs));
	s = calloc(1, sizeof(*s));
	if (lvs)
		vg->lvs = lvs;
	if (!lvs || !s) {
		free(s);
		vg_remove_lv(vg, cow);
		return -ENOMEM;
	}
	vg->lvs[vg->nlv++] = s;
	r = new_snapshot_seg_lv(vg, origin, cow, chunk_sectors, s);
	vg->nsnap += lv_is_snapshot_seg(s); /* vg_remove_lv undoes it */
	if (r < 0) {
		vg_remove_lv(vg, s);
		vg_remove_lv(vg, cow);
		return r;
	}
	if (ret_cow)
		*ret_cow = cow;
	return 0;
}

void vg_remove_lv(struct lvm_vg *vg, struct lvm_lv *lv)
{
	for (unsigned i = 0; i < vg->nlv; i++) {
		if (vg->lvs[i] != lv)
			continue;
		memmove(&vg->lvs[i], &vg->lvs[i + 1], (vg->nlv - i - 1) * sizeof(*vg->lvs));
		vg->nlv--;
		vg->nsnap -= lv_is_snapshot_seg(lv);
		lvm_lv_free(lv);
		return;
	}
}

static bool pv_name_used(const struct lvm_vg *vg, const char *name)
{
	for (unsigned i = 0; i < vg->npv; i++)
		if (streq(vg->pvs[i]->name, name))
			return true;
	return false;
}

int vg_add_pv(struct lvm_vg *vg, const struct lvm_pv_label *label, const char *path,
	      uint64_t pe_start)
{
	struct lvm_pv *pv, **pvs;
	uint64_t dev_size = label->device_size / LVM_SECTOR;
	unsigned k = 0;
	char name[32];

	if (vg_find_pv_by_id(vg, label->uuid) >= 0)
		return -EEXIST;
	if (vg->npv >= LVM_MAX_PVS)
		return -EMLINK;
	if (dev_size <= pe_start || (dev_size - pe_start) / vg->extent_size == 0)
		return -ENOSPC;
	do
		snprintf(name, sizeof(name), "pv%u", k++);
	while (pv_name_used(vg, name));
	pvs = realloc(vg->pvs, (vg->npv + 1) * sizeof(*pvs));
	if (!pvs)
		return -ENOMEM;
	vg->pvs = pvs;
	pv = calloc(1, sizeof(*pv));
	if (!pv)
		return -ENOMEM;
	memcpy(pv->id, label->uuid, sizeof(pv->id));
	pv->label = *label;
	pv->name = strdup(name);
	pv->device = strdup(path);
	pv->path = strdup(path);
	pv->status = calloc(2, sizeof(char *));
	if (pv->status)
		pv->status[0] = strdup("ALLOCATABLE");
	pv->dev_size = dev_size;
	pv->pe_start = pe_start;
	pv->pe_count = (dev_size - pe_start) / vg->extent_size;
	vg->pvs[vg->npv++] = pv;
	if (!pv->name || !pv->device || !pv->path || !pv->status || !pv->status[0]) {
		vg_remove_pv(vg, vg->npv - 1);
		return -ENOMEM;
	}
	return 0;
}

int vg_remove_pv(struct lvm_vg *vg, unsigned pv)
{
	struct lvm_pv *p = vg->pvs[pv];

	if (p->pe_count && vg_pv_in_use(vg, pv))
		return -EBUSY;
	for (unsigned l = 0; l < vg->nlv; l++)
		for (unsigned s = 0; s < vg->lvs[l]->nseg; s++) {
			struct lvm_seg *seg = &vg->lvs[l]->segs[s];
			for (unsigned k = 0; seg->stripes && k < seg->stripe_count; k++)
				if (seg->stripes[k].pv > pv)
					seg->stripes[k].pv--;
		}
	memmove(&vg->pvs[pv], &vg->pvs[pv + 1], (vg->npv - pv - 1) * sizeof(*vg->pvs));
	vg->npv--;
	lvm_pv_free(p);
	return 0;
}
