/* report.h - LVM2-style reports (pvs, vgs, lvs) and size formatting.
 *
 * Fields have lvm2's names (pv_name, vg_size, lv_attr, devices...) and
 * headings; the default columns, alignment (headings left, numbers right,
 * columns one space apart, lines indented by two) and units follow lvm2's
 * output, so scripts written for lvm2 read ours.
 */
#ifndef DOMUS_STORAGE_REPORT_H
#define DOMUS_STORAGE_REPORT_H

#include "storage/storage.h"

#include <stdbool.h>
#include <stdio.h>

enum report_kind { REPORT_PV, REPORT_VG, REPORT_LV };

struct report_opts {
	char units;        /* 'h' (default), 'H', b k m g t p e s and capitals */
	bool nosuffix;
	bool noheadings;
	bool json;
	bool all;          /* lvs -a: hidden LVs too */
	bool segments;     /* lvs --segments: one row per segment */
	const char *separator; /* NULL: aligned columns */
	const char *fields;    /* -o: "a,b" replaces, "+a,b" appends */
	/* Optional: where "in use" locks live, for the 'o' attribute. */
	const struct storage *st;
	/* Optional: bytes in use and validity of snapshot COW (Data%, attr). */
	int (*snap_status)(const struct lvm_vg *vg, const struct lvm_lv *cow, uint64_t *used,
			   bool *valid);
};

/* Format BYTES in lvm2's style for UNITS ("1020.00m", "<10.00g", "0 ",
 * "12288.00k", "24576S"); LONG uses "MiB"-style suffixes with a space, as
 * the display commands do. */
void lvm_size_format(uint64_t bytes, char units, bool nosuffix, bool longform,
		     char *buf, size_t size);

/* A report being built. */
struct report;

/* Start a report of KIND with O (the fields are checked: -EINVAL and
 * *RET_BAD names the unknown field). */
int report_new(enum report_kind kind, const struct report_opts *o, struct report **ret,
	       char **ret_bad);
/* Use ST to show which LVs are open (attribute 'o'). */
void report_set_storage(struct report *rp, const struct storage *st);
/* Add the rows of VG (its PVs, itself, or its LVs, by kind). */
int report_add_vg(struct report *rp, const struct lvm_vg *vg);
/* Add one PV (index PV of VG) or one LV of VG. */
int report_add_pv(struct report *rp, const struct lvm_vg *vg, unsigned pv);
int report_add_lv(struct report *rp, const struct lvm_vg *vg, const struct lvm_lv *lv);
/* Add an orphan PV (pvs lists PVs outside any VG too). */
int report_add_orphan(struct report *rp, const struct pv_scan *d);
/* Print and free the report. */
void report_print(struct report *rp, FILE *f);
void report_free(struct report *rp);

/* Attribute string as lvm2 prints it ("-wi-a-----", "-wi-ao----" when
 * open, "owi-a-s---", "swi-I-s---" for an invalid snapshot). */
void lv_attr_string(const struct lvm_vg *vg, const struct lvm_lv *lv, bool invalid,
		    bool open, char attr[11]);

#endif
