/* report.c - pvs/vgs/lvs reports in lvm2's formats (report.h). */
#include "storage/report.h"

#include "storage/lv.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct row {
	const struct lvm_vg *vg;
	int pv;                      /* index in vg->pvs, or -1 */
	const struct pv_scan *orphan;
	const struct lvm_lv *lv;
	int seg;                     /* segment index, or -1 */
};

struct field {
	const char *name, *head;
	enum report_kind kind;
	bool num;                    /* right-aligned */
	bool per_seg;
	char *(*get)(const struct row *r, const struct report_opts *o);
	unsigned width;              /* minimum column width, as lvm2's */
};

struct report {
	enum report_kind kind;
	struct report_opts o;
	const struct field *f[64];
	unsigned nf;
	char ***rows;                /* rows[i][k] */
	size_t nrows, cap;
	bool per_seg;
};

void lvm_size_format(uint64_t bytes, char units, bool nosuffix, bool longform, char *buf,
		     size_t size)
{
	static const char sfx[] = "bkmgtpe";
	static const char *const lsfx[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	bool si = units >= 'A' && units <= 'Z' && units != 'S' && units != 'B';
	char u = (char)(units | 0x20);
	double base = si ? 1000.0 : 1024.0, v = (double)bytes;
	int idx = 0;

	if (u == 's' || u == 'b') {
		snprintf(buf, size, "%llu%s",
			 (unsigned long long)(u == 's' ? bytes / 512 : bytes),
			 nosuffix ? "" : (u == 's' ? "S" : "B"));
		return;
	}
	if (u == 'h') {
		if (bytes == 0) {
			snprintf(buf, size, longform ? "0   " : "0 ");
			return;
		}
		while (idx < 6 && v >= base) {
			v /= base;
			idx++;
		}
		if (idx == 0) {
			snprintf(buf, size, "%llu%s", (unsigned long long)bytes,
				 nosuffix ? "" : (longform ? " B" : "B"));
			return;
		}
	} else {
		const char *p = strchr(sfx, u);
		idx = p ? (int)(p - sfx) : 2;
		for (int i = 0; i < idx; i++)
			v /= base;
	}
	/* lvm2 marks a value that rounding made larger with '<'. */
	bool less = u == 'h' && (double)(long long)(v * 100 + 0.5) / 100 > v;
	char s[2] = { si ? (char)(sfx[idx] & ~0x20) : sfx[idx], 0 };
	snprintf(buf, size, "%s%.2f%s%s", less ? "<" : "", v,
		 nosuffix ? "" : (longform ? " " : ""),
		 nosuffix ? "" : (longform ? lsfx[idx] : s));
}

static char *size_str(uint64_t bytes, const struct report_opts *o)
{
	char buf[64];

	lvm_size_format(bytes, o->units, o->nosuffix, false, buf, sizeof(buf));
	return strdup(buf);
}

static char *num_str(uint64_t v)
{
	return strprintf("%llu", (unsigned long long)v);
}

static char *uuid_str(const char *id)
{
	char s[LVM_UUID_STR_LEN + 1];

	lvm_uuid_format(id, s);
	return strdup(s);
}

static uint64_t ext_bytes(const struct lvm_vg *vg, uint64_t extents)
{
	return extents * vg->extent_size * LVM_SECTOR;
}

/* ---- PV fields ---- */
static char *pv_name(const struct row *r, const struct report_opts *o)
{
	if (r->orphan)
		return strdup(r->orphan->path);
	const struct lvm_pv *pv = r->vg->pvs[r->pv];
	return strdup(pv->path ? pv->path : "[unknown]");
}

static char *vg_name(const struct row *r, const struct report_opts *o)
{
	return strdup(r->vg ? r->vg->name : "");
}

static char *pv_fmt(const struct row *r, const struct report_opts *o)
{
	return strdup("lvm2");
}

static char *pv_attr(const struct row *r, const struct report_opts *o)
{
	if (r->orphan)
		return strdup("---");
	const struct lvm_pv *pv = r->vg->pvs[r->pv];
	bool alloc = false;
	for (char **s = pv->status; s && *s; s++)
		alloc = alloc || streq(*s, "ALLOCATABLE");
	return strprintf("%c-%c", alloc ? 'a' : '-', pv->path ? '-' : 'm');
}

static char *pv_size(const struct row *r, const struct report_opts *o)
{
	if (r->orphan)
		return size_str(r->orphan->label.device_size, o);
	return size_str(ext_bytes(r->vg, r->vg->pvs[r->pv]->pe_count), o);
}

static char *pv_free(const struct row *r, const struct report_opts *o)
{
	if (r->orphan)
		return pv_size(r, o);
	return size_str(ext_bytes(r->vg, vg_pv_free(r->vg, (unsigned)r->pv)), o);
}

static char *pv_uuid(const struct row *r, const struct report_opts *o)
{
	return uuid_str(r->orphan ? r->orphan->label.uuid : r->vg->pvs[r->pv]->id);
}

static char *pe_start(const struct row *r, const struct report_opts *o)
{
	if (r->orphan)
		return size_str(r->orphan->label.n_data ? r->orphan->label.data[0].offset : 0, o);
	return size_str(r->vg->pvs[r->pv]->pe_start * LVM_SECTOR, o);
}

static char *pv_pe_count(const struct row *r, const struct report_opts *o)
{
	return num_str(r->orphan ? 0 : r->vg->pvs[r->pv]->pe_count);
}

static char *pv_pe_alloc(const struct row *r, const struct report_opts *o)
{
	if (r->orphan)
		return num_str(0);
	return num_str(r->vg->pvs[r->pv]->pe_count - vg_pv_free(r->vg, (unsigned)r->pv));
}

static char *dev_size(const struct row *r, const struct report_opts *o)
{
	if (r->orphan)
		return size_str(r->orphan->label.device_size, o);
	return size_str(r->vg->pvs[r->pv]->dev_size * LVM_SECTOR, o);
}

/* ---- VG fields ---- */
static char *pv_count(const struct row *r, const struct report_opts *o)
{
	return num_str(r->vg->npv);
}

static unsigned visible_lvs(const struct lvm_vg *vg, bool snapshots)
{
	unsigned n = 0;

	for (unsigned i = 0; i < vg->nlv; i++) {
		const struct lvm_lv *lv = vg->lvs[i];
		if (snapshots ? vg_origin_of(vg, lv) != NULL : lv_is_visible(vg, lv))
			n++;
	}
	return n;
}

static char *lv_count(const struct row *r, const struct report_opts *o)
{
	return num_str(visible_lvs(r->vg, false));
}

static char *snap_count(const struct row *r, const struct report_opts *o)
{
	return num_str(visible_lvs(r->vg, true));
}

static char *vg_attr(const struct row *r, const struct report_opts *o)
{
	bool partial = false;

	for (unsigned i = 0; i < r->vg->npv; i++)
		partial = partial || !r->vg->pvs[i]->path;
	return strprintf("wz-%cn-", partial ? 'p' : '-');
}

static char *vg_size(const struct row *r, const struct report_opts *o)
{
	return size_str(ext_bytes(r->vg, vg_total_extents(r->vg)), o);
}

static char *f_vg_free(const struct row *r, const struct report_opts *o)
{
	return size_str(ext_bytes(r->vg, vg_free_extents(r->vg)), o);
}

static char *vg_uuid(const struct row *r, const struct report_opts *o)
{
	return uuid_str(r->vg->id);
}

static char *vg_seqno(const struct row *r, const struct report_opts *o)
{
	return num_str(r->vg->seqno);
}

static char *vg_extent_size(const struct row *r, const struct report_opts *o)
{
	return size_str(r->vg->extent_size * LVM_SECTOR, o);
}

static char *vg_extent_count(const struct row *r, const struct report_opts *o)
{
	return num_str(vg_total_extents(r->vg));
}

static char *vg_free_count(const struct row *r, const struct report_opts *o)
{
	return num_str(vg_free_extents(r->vg));
}

/* ---- LV fields ---- */
static char *lv_name(const struct row *r, const struct report_opts *o)
{
	if (!lv_is_visible(r->vg, r->lv))
		return strprintf("[%s]", r->lv->name);
	return strdup(r->lv->name);
}

void lv_attr_string(const struct lvm_vg *vg, const struct lvm_lv *lv, bool invalid,
		    bool open, char attr[11])
{
	bool snap = vg_origin_of(vg, lv) != NULL, origin = lv_is_origin(vg, lv);

	snprintf(attr, 11, "%c%ci-%c%c%c---", snap ? 's' : origin ? 'o' : '-',
		 lv_has_status(lv, "WRITE") ? 'w' : 'r', invalid ? 'I' : 'a', open ? 'o' : '-',
		 snap || origin ? 's' : '-');
}

/* Percent of snapshot COW in use, or -1 when not a snapshot / unknown. */
static double snap_percent(const struct row *r, const struct report_opts *o, bool *invalid)
{
	uint64_t used;
	bool valid;

	*invalid = false;
	if (!o->snap_status || !vg_origin_of(r->vg, r->lv) ||
	    o->snap_status(r->vg, r->lv, &used, &valid) < 0)
		return -1;
	*invalid = !valid;
	if (!valid)
		return 100.0;
	return 100.0 * (double)used /
	       (double)(lv_extents(r->lv) * r->vg->extent_size * LVM_SECTOR);
}

static char *lv_attr(const struct row *r, const struct report_opts *o)
{
	char attr[11];
	bool invalid;

	(void)snap_percent(r, o, &invalid);
	lv_attr_string(r->vg, r->lv, invalid, o->st && lv_in_use(o->st, r->lv->id), attr);
	return strdup(attr);
}

static char *data_percent(const struct row *r, const struct report_opts *o)
{
	bool invalid;
	double p = snap_percent(r, o, &invalid);

	return p < 0 ? strdup("") : strprintf("%.2f", p);
}

static char *f_lv_size(const struct row *r, const struct report_opts *o)
{
	return size_str(ext_bytes(r->vg, lv_extents(r->lv)), o);
}

static char *empty(const struct row *r, const struct report_opts *o)
{
	return strdup("");
}

static char *origin(const struct row *r, const struct report_opts *o)
{
	const struct lvm_lv *orig = vg_origin_of(r->vg, r->lv);
	return strdup(orig ? orig->name : "");
}

static char *lv_uuid(const struct row *r, const struct report_opts *o)
{
	return uuid_str(r->lv->id);
}

static char *seg_count(const struct row *r, const struct report_opts *o)
{
	return num_str(r->lv->nseg);
}

static char *lv_path(const struct row *r, const struct report_opts *o)
{
	return strprintf("/dev/%s/%s", r->vg->name, r->lv->name);
}

static const struct lvm_seg *row_seg(const struct row *r)
{
	return r->seg >= 0 ? &r->lv->segs[r->seg] : NULL;
}

static char *devices(const struct row *r, const struct report_opts *o)
{
	const struct lvm_seg *s = row_seg(r);
	char *out = strdup(""), *n;

	for (unsigned k = 0; s && s->stripes && k < s->stripe_count && out; k++) {
		const struct lvm_pv *pv = r->vg->pvs[s->stripes[k].pv];
		n = strprintf("%s%s%s(%llu)", out, k ? "," : "",
			      pv->path ? pv->path : "[unknown]",
			      (unsigned long long)s->stripes[k].pe);
		free(out);
		out = n;
	}
	return out;
}

static char *segtype(const struct row *r, const struct report_opts *o)
{
	const struct lvm_seg *s = row_seg(r);

	if (!s)
		return strdup("");
	if (streq(s->type, "striped") && s->stripe_count == 1)
		return strdup("linear");
	return strdup(s->type);
}

static char *seg_start(const struct row *r, const struct report_opts *o)
{
	const struct lvm_seg *s = row_seg(r);
	return size_str(s ? ext_bytes(r->vg, s->start_extent) : 0, o);
}

static char *seg_size(const struct row *r, const struct report_opts *o)
{
	const struct lvm_seg *s = row_seg(r);
	return size_str(s ? ext_bytes(r->vg, s->extent_count) : 0, o);
}

static char *stripes(const struct row *r, const struct report_opts *o)
{
	const struct lvm_seg *s = row_seg(r);
	return num_str(s ? s->stripe_count : 0);
}

static const struct field FIELDS[] = {
	{ "pv_name", "PV", REPORT_PV, false, false, pv_name, 0 },
	{ "vg_name", "VG", REPORT_PV, false, false, vg_name, 0 },
	{ "pv_fmt", "Fmt", REPORT_PV, false, false, pv_fmt, 0 },
	{ "pv_attr", "Attr", REPORT_PV, false, false, pv_attr, 0 },
	{ "pv_size", "PSize", REPORT_PV, true, false, pv_size, 0 },
	{ "pv_free", "PFree", REPORT_PV, true, false, pv_free, 0 },
	{ "pv_uuid", "PV UUID", REPORT_PV, false, false, pv_uuid, 0 },
	{ "pe_start", "1st PE", REPORT_PV, true, false, pe_start, 0 },
	{ "pv_pe_count", "PE", REPORT_PV, true, false, pv_pe_count, 0 },
	{ "pv_pe_alloc_count", "Alloc", REPORT_PV, true, false, pv_pe_alloc, 0 },
	{ "dev_size", "DevSize", REPORT_PV, true, false, dev_size, 0 },
	{ "vg_name", "VG", REPORT_VG, false, false, vg_name, 0 },
	{ "pv_count", "#PV", REPORT_VG, true, false, pv_count, 0 },
	{ "lv_count", "#LV", REPORT_VG, true, false, lv_count, 0 },
	{ "snap_count", "#SN", REPORT_VG, true, false, snap_count, 0 },
	{ "vg_attr", "Attr", REPORT_VG, false, false, vg_attr, 0 },
	{ "vg_size", "VSize", REPORT_VG, true, false, vg_size, 0 },
	{ "vg_free", "VFree", REPORT_VG, true, false, f_vg_free, 0 },
	{ "vg_uuid", "VG UUID", REPORT_VG, false, false, vg_uuid, 0 },
	{ "vg_seqno", "Seq", REPORT_VG, true, false, vg_seqno, 0 },
	{ "vg_extent_size", "Ext", REPORT_VG, true, false, vg_extent_size, 0 },
	{ "vg_extent_count", "#Ext", REPORT_VG, true, false, vg_extent_count, 0 },
	{ "vg_free_count", "Free", REPORT_VG, true, false, vg_free_count, 0 },
	{ "lv_name", "LV", REPORT_LV, false, false, lv_name, 0 },
	{ "vg_name", "VG", REPORT_LV, false, false, vg_name, 0 },
	{ "lv_attr", "Attr", REPORT_LV, false, false, lv_attr, 0 },
	{ "lv_size", "LSize", REPORT_LV, true, false, f_lv_size, 0 },
	{ "pool_lv", "Pool", REPORT_LV, false, false, empty, 0 },
	{ "origin", "Origin", REPORT_LV, false, false, origin, 0 },
	{ "data_percent", "Data%", REPORT_LV, true, false, data_percent, 6 },
	{ "metadata_percent", "Meta%", REPORT_LV, true, false, empty, 6 },
	{ "move_pv", "Move", REPORT_LV, false, false, empty, 0 },
	{ "mirror_log", "Log", REPORT_LV, false, false, empty, 0 },
	{ "copy_percent", "Cpy%Sync", REPORT_LV, true, false, empty, 0 },
	{ "convert_lv", "Convert", REPORT_LV, false, false, empty, 0 },
	{ "lv_uuid", "LV UUID", REPORT_LV, false, false, lv_uuid, 0 },
	{ "seg_count", "#Seg", REPORT_LV, true, false, seg_count, 0 },
	{ "lv_path", "Path", REPORT_LV, false, false, lv_path, 0 },
	{ "devices", "Devices", REPORT_LV, false, true, devices, 0 },
	{ "segtype", "Type", REPORT_LV, false, true, segtype, 0 },
	{ "seg_start", "Start", REPORT_LV, true, true, seg_start, 0 },
	{ "seg_size", "SSize", REPORT_LV, true, true, seg_size, 0 },
	{ "stripes", "#Str", REPORT_LV, true, true, stripes, 0 },
};

static const char LV_DEFAULT[] =
	"lv_name,vg_name,lv_attr,lv_size,pool_lv,origin,data_percent,"
	"metadata_percent,move_pv,mirror_log,copy_percent,convert_lv";

static const char *const DEFAULTS[] = {
	[REPORT_PV] = "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free",
	[REPORT_VG] = "vg_name,pv_count,lv_count,snap_count,vg_attr,vg_size,vg_free",
	[REPORT_LV] = LV_DEFAULT,
};

static const struct field *field_find(enum report_kind kind, const char *name)
{
	static const char *const prefix[] = { "pv_", "vg_", "lv_" };
	char alias[80];

	snprintf(alias, sizeof(alias), "%s%s", prefix[kind], name);
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < ARRAY_SIZE(FIELDS); i++) {
			const struct field *f = &FIELDS[i];
			/* PV and LV reports may show VG fields too. */
			bool kind_ok = f->kind == kind || f->kind == REPORT_VG;
			if (kind_ok && (streq(f->name, name) || streq(f->name, alias)) &&
			    (pass == 1 || f->kind == kind))
				return f;
		}
	return NULL;
}

static int add_fields(struct report *rp, const char *list, char **ret_bad)
{
	_cleanup_free_ char *copy = strdup(list);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		const struct field *f = field_find(rp->kind, t);
		if (!f || rp->nf == ARRAY_SIZE(rp->f)) {
			*ret_bad = strdup(t);
			return -EINVAL;
		}
		rp->per_seg = rp->per_seg || f->per_seg;
		rp->f[rp->nf++] = f;
	}
	return 0;
}

int report_new(enum report_kind kind, const struct report_opts *o, struct report **ret,
	       char **ret_bad)
{
	struct report *rp = calloc(1, sizeof(*rp));
	int r = 0;

	if (!rp)
		return -ENOMEM;
	rp->kind = kind;
	rp->o = *o;
	if (!rp->o.units)
		rp->o.units = 'h';
	if (!o->fields || o->fields[0] == '+')
		r = add_fields(rp, kind == REPORT_LV && o->segments ?
			       "lv_name,vg_name,lv_attr,stripes,segtype,seg_size" : DEFAULTS[kind],
			       ret_bad);
	if (r == 0 && o->fields)
		r = add_fields(rp, o->fields[0] == '+' ? o->fields + 1 : o->fields, ret_bad);
	rp->per_seg = rp->per_seg || (kind == REPORT_LV && o->segments);
	if (r < 0) {
		report_free(rp);
		return r;
	}
	*ret = rp;
	return 0;
}

void report_set_storage(struct report *rp, const struct storage *st)
{
	rp->o.st = st;
}

static int add_row(struct report *rp, const struct row *row)
{
	char **cells = calloc(rp->nf, sizeof(char *));

	if (!cells)
		return -ENOMEM;
	if (rp->nrows == rp->cap) {
		size_t cap = rp->cap ? rp->cap * 2 : 32;
		char ***rows = realloc(rp->rows, cap * sizeof(*rows));
		if (!rows) {
			free(cells);
			return -ENOMEM;
		}
		rp->rows = rows;
		rp->cap = cap;
	}
	rp->rows[rp->nrows++] = cells;
	for (unsigned k = 0; k < rp->nf; k++) {
		cells[k] = rp->f[k]->get(row, &rp->o);
		if (!cells[k])
			return -ENOMEM;
	}
	return 0;
}

static int add_lv_rows(struct report *rp, const struct lvm_vg *vg, const struct lvm_lv *lv)
{
	struct row row = { .vg = vg, .pv = -1, .lv = lv, .seg = -1 };
	int r = 0;

	if (!rp->per_seg)
		return add_row(rp, &row);
	for (unsigned s = 0; r == 0 && s < lv->nseg; s++) {
		row.seg = (int)s;
		r = add_row(rp, &row);
	}
	return r;
}

int report_add_lv(struct report *rp, const struct lvm_vg *vg, const struct lvm_lv *lv)
{
	return add_lv_rows(rp, vg, lv);
}

int report_add_pv(struct report *rp, const struct lvm_vg *vg, unsigned pv)
{
	struct row row = { .vg = vg, .pv = (int)pv, .seg = -1 };

	return add_row(rp, &row);
}

static int cmp_lv(const void *a, const void *b)
{
	return strcmp((*(struct lvm_lv *const *)a)->name, (*(struct lvm_lv *const *)b)->name);
}

static int add_lvs(struct report *rp, const struct lvm_vg *vg)
{
	_cleanup_free_ const struct lvm_lv **lvs = calloc(vg->nlv + 1, sizeof(*lvs));
	int r = 0;

	if (!lvs)
		return -ENOMEM;
	memcpy(lvs, vg->lvs, vg->nlv * sizeof(*lvs));
	qsort(lvs, vg->nlv, sizeof(*lvs), cmp_lv);
	for (unsigned i = 0; r == 0 && i < vg->nlv; i++)
		if ((rp->o.all || lv_is_visible(vg, lvs[i])) && !lv_is_snapshot_seg(lvs[i]))
			r = add_lv_rows(rp, vg, lvs[i]);
	return r;
}

int report_add_vg(struct report *rp, const struct lvm_vg *vg)
{
	struct row row = { .vg = vg, .pv = -1, .seg = -1 };
	int r = 0;

	switch (rp->kind) {
	case REPORT_VG:
		return add_row(rp, &row);
	case REPORT_PV:
		for (unsigned i = 0; r == 0 && i < vg->npv; i++) {
			row.pv = (int)i;
			r = add_row(rp, &row);
		}
		return r;
	case REPORT_LV:
		return add_lvs(rp, vg);
	}
	return -EINVAL;
}

int report_add_orphan(struct report *rp, const struct pv_scan *d)
{
	struct row row = { .pv = -1, .orphan = d, .seg = -1 };

	return add_row(rp, &row);
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void print_json(struct report *rp, FILE *f)
{
	static const char *const kinds[] = { "pv", "vg", "lv" };

	fprintf(f, "  {\n      \"report\": [\n          {\n              \"%s\": [\n",
		kinds[rp->kind]);
	for (size_t i = 0; i < rp->nrows; i++) {
		fputs("                  {", f);
		for (unsigned k = 0; k < rp->nf; k++) {
			fprintf(f, "%s\"%s\":", k ? ", " : "", rp->f[k]->name);
			json_string(f, rp->rows[i][k]);
		}
		fprintf(f, "}%s\n", i + 1 < rp->nrows ? "," : "");
	}
	fputs("              ]\n          }\n      ]\n  }\n", f);
}

static void print_cell(FILE *f, const char *s, size_t w, bool right)
{
	fprintf(f, right ? "%*s" : "%-*s", (int)w, s);
}

void report_print(struct report *rp, FILE *f)
{
	size_t w[64];

	if (rp->o.json) {
		print_json(rp, f);
		report_free(rp);
		return;
	}
	for (unsigned k = 0; k < rp->nf; k++) {
		w[k] = rp->o.noheadings ? 0 : strlen(rp->f[k]->head);
		if (w[k] < rp->f[k]->width)
			w[k] = rp->f[k]->width;
		for (size_t i = 0; i < rp->nrows; i++)
			if (strlen(rp->rows[i][k]) > w[k])
				w[k] = strlen(rp->rows[i][k]);
	}
	for (size_t i = rp->o.noheadings ? 1 : 0; i <= rp->nrows; i++) {
		fputs("  ", f);
		for (unsigned k = 0; k < rp->nf; k++) {
			const char *s = i ? rp->rows[i - 1][k] : rp->f[k]->head;
			if (k)
				fputs(rp->o.separator ? rp->o.separator : " ", f);
			if (rp->o.separator)
				fputs(s, f);
			else
				print_cell(f, s, w[k], i && rp->f[k]->num);
		}
		fputc('\n', f);
	}
	report_free(rp);
}

void report_free(struct report *rp)
{
	if (!rp)
		return;
	for (size_t i = 0; i < rp->nrows; i++) {
		for (unsigned k = 0; k < rp->nf; k++)
			free(rp->rows[i][k]);
		free(rp->rows[i]);
	}
	free(rp->rows);
	free(rp);
}
