/* vg.c - volume group model: import/export of LVM2 metadata text and the
 * in-memory operations on it (see vg.h). */
#include "storage/vg.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool name_chars_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > LVM_NAME_MAX || name[0] == '-' || streq(name, ".") ||
	    streq(name, ".."))
		return false;
	for (const char *s = name; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

bool lvm_vg_name_valid(const char *name)
{
	return name_chars_ok(name);
}

bool lvm_lv_name_valid(const char *name)
{
	static const char *const reserved[] = {
		"_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_imeta", "_iorig",
		"_mimage", "_mlog", "_pmspare", "_rimage", "_rmeta", "_tdata",
		"_tmeta", "_vdata", "_vorigin", "_wcorig",
	};

	if (!name_chars_ok(name) || startswith(name, "snapshot") || startswith(name, "pvmove"))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(reserved); i++)
		if (strstr(name, reserved[i]))
			return false;
	return true;
}

static char **strv_from_array(const struct cfg_node *arr)
{
	size_t n = 0, k = 0;
	char **v;

	if (arr)
		for (const struct cfg_node *e = arr->child; e; e = e->next)
			n++;
	v = calloc(n + 1, sizeof(char *));
	if (!v || !arr)
		return v;
	for (const struct cfg_node *e = arr->child; e; e = e->next) {
		if (e->type != CFG_STR)
			continue;
		v[k] = strdup(e->str);
		if (!v[k]) {
			strv_free(v);
			return NULL;
		}
		k++;
	}
	return v;
}

void lvm_lv_free(struct lvm_lv *lv)
{
	if (!lv)
		return;
	for (unsigned i = 0; i < lv->nseg; i++) {
		free(lv->segs[i].type);
		free(lv->segs[i].stripes);
		free(lv->segs[i].origin);
		free(lv->segs[i].cow_store);
	}
	free(lv->segs);
	free(lv->name);
	strv_free(lv->status);
	free(lv->creation_host);
	free(lv);
}

void lvm_pv_free(struct lvm_pv *pv)
{
	if (!pv)
		return;
	free(pv->name);
	free(pv->device);
	strv_free(pv->status);
	free(pv->path);
	free(pv);
}

struct lvm_vg *vg_free(struct lvm_vg *vg)
{
	if (!vg)
		return NULL;
	for (unsigned i = 0; i < vg->npv; i++)
		lvm_pv_free(vg->pvs[i]);
	for (unsigned i = 0; i < vg->nlv; i++)
		lvm_lv_free(vg->lvs[i]);
	free(vg->pvs);
	free(vg->lvs);
	free(vg->name);
	strv_free(vg->status);
	cfg_free(vg->tree);
	free(vg);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct lvm_vg *, vg_free);

static int get_id(const struct cfg_node *sec, char id[LVM_ID_LEN + 1])
{
	const char *s;
	int r = cfg_get_str(sec, "id", &s);

	if (r < 0)
		return -EINVAL;
	return lvm_uuid_parse(s, id);
}

static int import_pv(struct lvm_vg *vg, const struct cfg_node *sec)
{
	struct lvm_pv *pv;
	const char *dev = "unknown device";

	if (vg->npv >= LVM_MAX_PVS || sec->type != CFG_SECTION)
		return -EINVAL;
	pv = calloc(1, sizeof(*pv));
	if (!pv)
		return -ENOMEM;
	vg->pvs[vg->npv++] = pv;
	pv->src = sec;
	(void)cfg_get_str(sec, "device", &dev);
	pv->name = strdup(sec->key);
	pv->device = strdup(dev);
	pv->status = strv_from_array(cfg_find(sec, "status", CFG_ARRAY));
	if (!pv->name || !pv->device || !pv->status)
		return -ENOMEM;
	if (get_id(sec, pv->id) < 0 || cfg_get_u64(sec, "pe_start", &pv->pe_start) < 0 ||
	    cfg_get_u64(sec, "pe_count", &pv->pe_count) < 0)
		return -EINVAL;
	(void)cfg_get_u64(sec, "dev_size", &pv->dev_size);
	/* lvm2 keeps extent counts in 32 bits. */
	if (pv->pe_count > UINT32_MAX)
		return -EINVAL;
	for (unsigned i = 0; i + 1 < vg->npv; i++)
		if (streq(vg->pvs[i]->name, pv->name) || streq(vg->pvs[i]->id, pv->id))
			return -EINVAL;
	return 0;
}

static int pv_index(const struct lvm_vg *vg, const char *name)
{
	for (unsigned i = 0; i < vg->npv; i++)
		if (streq(vg->pvs[i]->name, name))
			return (int)i;
	return -ENOENT;
}

static int import_stripes(const struct lvm_vg *vg, struct lvm_seg *seg,
			  const struct cfg_node *arr)
{
	const struct cfg_node *e = arr ? arr->child : NULL;
	uint64_t per_stripe;

	if (seg->stripe_count == 0 || seg->stripe_count > LVM_MAX_PVS ||
	    seg->extent_count % seg->stripe_count)
		return -EINVAL;
	per_stripe = seg->extent_count / seg->stripe_count;
	seg->stripes = calloc(seg->stripe_count, sizeof(*seg->stripes));
	if (!seg->stripes)
		return -ENOMEM;
	for (unsigned i = 0; i < seg->stripe_count; i++) {
		if (!e || e->type != CFG_STR || !e->next || e->next->type != CFG_INT)
			return -EINVAL;
		int pv = pv_index(vg, e->str);
		int64_t pe = e->next->num;
		if (pv < 0 || pe < 0 || (uint64_t)pe > vg->pvs[pv]->pe_count ||
		    per_stripe > vg->pvs[pv]->pe_count - (uint64_t)pe)
			return -EINVAL;
		seg->stripes[i].pv = (unsigned)pv;
		seg->stripes[i].pe = (uint64_t)pe;
		e = e->next->next;
	}
	return e ? -EINVAL : 0;
}

static int import_seg(const struct lvm_vg *vg, struct lvm_lv *lv, struct lvm_seg *seg,
		      const struct cfg_node *sec)
{
	const char *type, *s;
	uint64_t v;

	seg->src = sec;
	if (cfg_get_u64(sec, "start_extent", &seg->start_extent) < 0 ||
	    cfg_get_u64(sec, "extent_count", &seg->extent_count) < 0 ||
	    cfg_get_str(sec, "type", &type) < 0 || seg->extent_count == 0 ||
	    seg->extent_count > UINT32_MAX)
		return -EINVAL;
	seg->type = strdup(type);
	if (!seg->type)
		return -ENOMEM;
	if (streq(type, "striped")) {
		if (cfg_get_u64(sec, "stripe_count", &v) < 0 || v > LVM_MAX_PVS)
			return -EINVAL;
		seg->stripe_count = (uint32_t)v;
		(void)cfg_get_u64(sec, "stripe_size", &seg->stripe_size);
		return import_stripes(vg, seg, cfg_find(sec, "stripes", CFG_ARRAY));
	}
	if (streq(type, "snapshot")) {
		if (cfg_get_str(sec, "origin", &s) < 0 || !(seg->origin = strdup(s)) ||
		    cfg_get_str(sec, "cow_store", &s) < 0 || !(seg->cow_store = strdup(s)) ||
		    cfg_get_u64(sec, "chunk_size", &seg->chunk_size) < 0)
			return -EINVAL;
	}
	lv->opaque = true;
	return 0;
}

static int import_lv(struct lvm_vg *vg, const struct cfg_node *sec)
{
	struct lvm_lv *lv;
	uint64_t count, next = 0;
	const char *host = "";

	if (vg->nlv >= LVM_MAX_LVS || sec->type != CFG_SECTION)
		return -EINVAL;
	lv = calloc(1, sizeof(*lv));
	if (!lv)
		return -ENOMEM;
	vg->lvs[vg->nlv++] = lv;
	lv->src = sec;
	(void)cfg_get_str(sec, "creation_host", &host);
	(void)cfg_get_int(sec, "creation_time", &lv->creation_time);
	lv->name = strdup(sec->key);
	lv->creation_host = strdup(host);
	lv->status = strv_from_array(cfg_find(sec, "status", CFG_ARRAY));
	if (!lv->name || !lv->creation_host || !lv->status)
		return -ENOMEM;
	if (!name_chars_ok(lv->name) || get_id(sec, lv->id) < 0 ||
	    cfg_get_u64(sec, "segment_count", &count) < 0 || count > LVM_MAX_SEGS)
		return -EINVAL;
	lv->segs = calloc(count ? count : 1, sizeof(*lv->segs));
	if (!lv->segs)
		return -ENOMEM;
	for (uint64_t i = 0; i < count; i++) {
		char key[32];
		snprintf(key, sizeof(key), "segment%llu", (unsigned long long)i + 1);
		const struct cfg_node *s = cfg_find(sec, key, CFG_SECTION);
		if (!s)
			return -EINVAL;
		lv->nseg++;
		int r = import_seg(vg, lv, &lv->segs[i], s);
		if (r < 0)
			return r;
		if (lv->segs[i].start_extent != next)
			return -EINVAL;
		next += lv->segs[i].extent_count;
	}
	return 0;
}

static int cmp_lv_name(const void *a, const void *b)
{
	return strcmp((*(struct lvm_lv *const *)a)->name, (*(struct lvm_lv *const *)b)->name);
}

/* LV names are unique (sorted copy, neighbours compared). */
static int check_lv_names(const struct lvm_vg *vg)
{
	_cleanup_free_ struct lvm_lv **v = calloc(vg->nlv + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	memcpy(v, vg->lvs, vg->nlv * sizeof(*v));
	qsort(v, vg->nlv, sizeof(*v), cmp_lv_name);
	for (unsigned i = 1; i < vg->nlv; i++)
		if (streq(v[i - 1]->name, v[i]->name))
			return -EINVAL;
	return 0;
}

static unsigned count_children(const struct cfg_node *sec)
{
	unsigned n = 0;

	for (const struct cfg_node *c = sec ? sec->child : NULL; c; c = c->next)
		n++;
	return n;
}

struct run {
	unsigned pv;
	uint64_t pe, count;
};

static int cmp_run(const void *a, const void *b)
{
	const struct run *x = a, *y = b;

	if (x->pv != y->pv)
		return x->pv < y->pv ? -1 : 1;
	return x->pe < y->pe ? -1 : x->pe > y->pe;
}

/* Every extent is used by at most one segment: sort the allocated runs and
 * compare neighbours (no per-extent map, so huge PVs cost nothing). */
static int check_overlaps(const struct lvm_vg *vg)
{
	_cleanup_free_ struct run *runs = NULL;
	size_t n = 0, cap = 0;

	for (unsigned l = 0; l < vg->nlv; l++)
		for (unsigned s = 0; s < vg->lvs[l]->nseg; s++) {
			const struct lvm_seg *seg = &vg->lvs[l]->segs[s];
			for (unsigned k = 0; seg->stripes && k < seg->stripe_count; k++) {
				if (n == cap) {
					cap = cap ? cap * 2 : 64;
					struct run *nr = realloc(runs, cap * sizeof(*runs));
					if (!nr)
						return -ENOMEM;
					runs = nr;
				}
				runs[n++] = (struct run){ seg->stripes[k].pv, seg->stripes[k].pe,
							  seg->extent_count / seg->stripe_count };
			}
		}
	if (n)
		qsort(runs, n, sizeof(*runs), cmp_run);
	for (size_t i = 1; i < n; i++)
		if (runs[i].pv == runs[i - 1].pv && runs[i - 1].pe + runs[i - 1].count > runs[i].pe)
			return -EINVAL;
	return 0;
}

static int import_vg(struct lvm_vg *vg, const struct cfg_node *sec)
{
	const struct cfg_node *pvs, *lvs;
	int r;

	vg->src = sec;
	vg->name = strdup(sec->key);
	vg->status = strv_from_array(cfg_find(sec, "status", CFG_ARRAY));
	if (!vg->name || !vg->status)
		return -ENOMEM;
	if (!lvm_vg_name_valid(vg->name) || get_id(sec, vg->id) < 0 ||
	    cfg_get_u64(sec, "seqno", &vg->seqno) < 0 ||
	    cfg_get_u64(sec, "extent_size", &vg->extent_size) < 0 || vg->extent_size == 0 ||
	    vg->extent_size > (1u << 30))
		return -EINVAL;
	(void)cfg_get_int(sec, "max_lv", &vg->max_lv);
	(void)cfg_get_int(sec, "max_pv", &vg->max_pv);
	(void)cfg_get_int(sec, "metadata_copies", &vg->metadata_copies);
	pvs = cfg_find(sec, "physical_volumes", CFG_SECTION);
	lvs = cfg_find(sec, "logical_volumes", CFG_SECTION);
	vg->pvs = calloc(count_children(pvs) + 1, sizeof(*vg->pvs));
	vg->lvs = calloc(count_children(lvs) + 1, sizeof(*vg->lvs));
	if (!vg->pvs || !vg->lvs)
		return -ENOMEM;
	for (const struct cfg_node *c = pvs ? pvs->child : NULL; c; c = c->next)
		if ((r = import_pv(vg, c)) < 0)
			return r;
	for (const struct cfg_node *c = lvs ? lvs->child : NULL; c; c = c->next)
		if ((r = import_lv(vg, c)) < 0)
			return r;
	for (unsigned i = 0; i < vg->nlv; i++)
		vg->nsnap += lv_is_snapshot_seg(vg->lvs[i]);
	r = check_lv_names(vg);
	return r < 0 ? r : check_overlaps(vg);
}

int vg_import(const char *text, size_t len, struct lvm_vg **ret)
{
	_cleanup_(vg_freep) struct lvm_vg *vg = calloc(1, sizeof(*vg));
	const struct cfg_node *sec = NULL;
	int r;

	if (!vg)
		return -ENOMEM;
	r = cfg_parse(text, len, &vg->tree, NULL);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	/* The VG is the one section at top level; the rest is the trailer. */
	for (const struct cfg_node *c = vg->tree->child; c; c = c->next) {
		if (c->type != CFG_SECTION)
			continue;
		if (sec)
			return -EINVAL;
		sec = c;
	}
	if (!sec)
		return -EINVAL;
	r = import_vg(vg, sec);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(vg);
	return 0;
}
