/* vgexport.c - write a VG model as LVM2 metadata text, in the order and
 * spelling lvm2 uses; keys the model does not know are copied from the
 * imported text. */
#include "storage/vg.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool key_in(const char *key, const char *const *keys)
{
	for (; *keys; keys++)
		if (streq(key, *keys))
			return true;
	return false;
}

/* Copy the items of SRC whose key is not in KNOWN (nor "segmentN"). */
static void write_extras(FILE *f, const struct cfg_node *src, const char *const *known,
			 bool skip_segments)
{
	if (!src)
		return;
	for (const struct cfg_node *c = src->child; c; c = c->next) {
		if (key_in(c->key, known) || (skip_segments && startswith(c->key, "segment")))
			continue;
		cfg_write_item(f, c);
	}
}

static void write_strv(FILE *f, const char *key, char **v)
{
	fprintf(f, "%s = [", key);
	for (char **s = v; s && *s; s++) {
		cfg_write_string(f, *s);
		if (s[1])
			fputs(", ", f);
	}
	fputs("]\n", f);
}

static void write_id(FILE *f, const char *id)
{
	char uuid[LVM_UUID_STR_LEN + 1];

	lvm_uuid_format(id, uuid);
	fprintf(f, "id = \"%s\"\n", uuid);
}

static void write_pv(FILE *f, const struct lvm_pv *pv)
{
	static const char *const known[] = { "id", "device", "status", "flags", "dev_size",
					     "pe_start", "pe_count", NULL };

	fprintf(f, "\n%s {\n", pv->name);
	write_id(f, pv->id);
	fputs("device = ", f);
	cfg_write_string(f, pv->device);
	fputs("\n\n", f);
	write_strv(f, "status", pv->status);
	fputs("flags = []\n", f);
	fprintf(f, "dev_size = %llu\npe_start = %llu\npe_count = %llu\n",
		(unsigned long long)pv->dev_size, (unsigned long long)pv->pe_start,
		(unsigned long long)pv->pe_count);
	write_extras(f, pv->src, known, false);
	fputs("}\n", f);
}

static void write_seg(FILE *f, const struct lvm_vg *vg, const struct lvm_seg *seg, unsigned i)
{
	static const char *const known_striped[] = { "start_extent", "extent_count", "type",
						     "stripe_count", "stripe_size", "stripes",
						     NULL };
	static const char *const known_other[] = { "start_extent", "extent_count", "type",
						   NULL };
	static const char *const known_snapshot[] = { "start_extent", "extent_count", "type",
						      "chunk_size", "origin", "cow_store", NULL };

	fprintf(f, "segment%u {\nstart_extent = %llu\nextent_count = %llu\n\ntype = ", i + 1,
		(unsigned long long)seg->start_extent, (unsigned long long)seg->extent_count);
	cfg_write_string(f, seg->type);
	fputc('\n', f);
	if (streq(seg->type, "snapshot") && seg->origin && seg->cow_store) {
		fprintf(f, "chunk_size = %llu\norigin = ", (unsigned long long)seg->chunk_size);
		cfg_write_string(f, seg->origin);
		fputs("\ncow_store = ", f);
		cfg_write_string(f, seg->cow_store);
		fputc('\n', f);
		write_extras(f, seg->src, known_snapshot, false);
		fputs("}\n", f);
		return;
	}
	if (!streq(seg->type, "striped")) {
		write_extras(f, seg->src, known_other, false);
		fputs("}\n", f);
		return;
	}
	fprintf(f, "stripe_count = %u\n", seg->stripe_count);
	if (seg->stripe_count > 1)
		fprintf(f, "stripe_size = %llu\n", (unsigned long long)seg->stripe_size);
	fputs("\nstripes = [\n", f);
	for (unsigned k = 0; k < seg->stripe_count; k++)
		fprintf(f, "\"%s\", %llu%s\n", vg->pvs[seg->stripes[k].pv]->name,
			(unsigned long long)seg->stripes[k].pe,
			k + 1 < seg->stripe_count ? "," : "");
	fputs("]\n", f);
	write_extras(f, seg->src, known_striped, false);
	fputs("}\n", f);
}

static void write_lv(FILE *f, const struct lvm_vg *vg, const struct lvm_lv *lv)
{
	static const char *const known[] = { "id", "status", "flags", "creation_time",
					     "creation_host", "segment_count", NULL };

	fprintf(f, "\n%s {\n", lv->name);
	write_id(f, lv->id);
	write_strv(f, "status", lv->status);
	fputs("flags = []\n", f);
	write_extras(f, lv->src, known, true);
	fprintf(f, "creation_time = %lld\ncreation_host = ", (long long)lv->creation_time);
	cfg_write_string(f, lv->creation_host);
	fprintf(f, "\nsegment_count = %u\n\n", lv->nseg);
	for (unsigned i = 0; i < lv->nseg; i++)
		write_seg(f, vg, &lv->segs[i], i);
	fputs("}\n", f);
}

static void write_vg(FILE *f, const struct lvm_vg *vg)
{
	static const char *const known[] = { "id", "seqno", "format", "status", "flags",
					     "extent_size", "max_lv", "max_pv",
					     "metadata_copies", "physical_volumes",
					     "logical_volumes", NULL };

	fprintf(f, "%s {\n", vg->name);
	write_id(f, vg->id);
	fprintf(f, "seqno = %llu\nformat = \"lvm2\"\n", (unsigned long long)vg->seqno);
	write_strv(f, "status", vg->status);
	fputs("flags = []\n", f);
	write_extras(f, vg->src, known, false);
	fprintf(f, "extent_size = %llu\nmax_lv = %lld\nmax_pv = %lld\nmetadata_copies = %lld\n",
		(unsigned long long)vg->extent_size, (long long)vg->max_lv,
		(long long)vg->max_pv, (long long)vg->metadata_copies);
	fputs("\nphysical_volumes {\n", f);
	for (unsigned i = 0; i < vg->npv; i++)
		write_pv(f, vg->pvs[i]);
	fputs("}\n", f);
	if (vg->nlv) {
		fputs("\nlogical_volumes {\n", f);
		for (unsigned i = 0; i < vg->nlv; i++)
			write_lv(f, vg, vg->lvs[i]);
		fputs("}\n", f);
	}
	fputs("\n}\n", f);
}

int vg_export(const struct lvm_vg *vg, const char *description, const char *host,
	      int64_t now, char **ret_text, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	time_t t = (time_t)now;
	char date[64] = "";
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", gmtime(&t));
	write_vg(f, vg);
	fprintf(f, "# Generated by Domus version %s: %s\n\n", DOMUS_VERSION, date);
	fputs("contents = \"Text Format Volume Group\"\nversion = 1\n\ndescription = ", f);
	cfg_write_string(f, description);
	fputs("\n\ncreation_host = ", f);
	cfg_write_string(f, host);
	fprintf(f, "\ncreation_time = %lld\n\n", (long long)now);
	if (fflush(f) != 0 || ferror(f)) {
		fclose(f);
		return -ENOMEM;
	}
	fclose(f);
	*ret_len = len + 1; /* with the NUL, as lvm2 stores it */
	*ret_text = TAKE_PTR(buf);
	return 0;
}
