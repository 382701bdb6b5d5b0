/* cmd-lvm.c - the LVM verbs: pv*, vg*, lv* with lvm2's names, options,
 * units and output formats, over the storage library (src/storage). */
#include "cli/commands.h"

#include "storage/holder.h"
#include "storage/lv.h"
#include "storage/pv.h"
#include "storage/report.h"
#include "storage/sio.h"
#include "storage/storage.h"

#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAILED 5 /* lvm2's ECMD_FAILED */

static int storage_open(struct cli_ctx *ctx, struct storage *st)
{
	int r = storage_init(st, ctx->paths.lib_dir, ctx->paths.run_dir);

	if (r < 0)
		log_err("cannot set up storage paths: %s", strerror(-r));
	sio_fault_from_env();
	return r;
}

/* "in use", naming the user when one recorded itself (a domain, nbd-serve). */
static void log_in_use(const struct storage *st, const char *vg, const struct lvm_lv *lv)
{
	_cleanup_free_ char *who = NULL;

	if (lv_holder_describe(st, lv->id, &who) == 0)
		log_err("logical volume %s/%s is in use by %s", vg, lv->name, who);
	else
		log_err("logical volume %s/%s is in use", vg, lv->name);
}

/* "6G", "500M", "1.5g", "+1G" (SIGN gets '+', '-' or 0); no suffix: MiB.
 * Units are powers of 1024 whatever their case, as in lvm2. */
static int parse_size(const char *s, uint64_t *ret_bytes, char *sign)
{
	static const char units[] = "bkmgtpe";
	char *end;
	double v;
	uint64_t mult = 1024 * 1024;

	*sign = (*s == '+' || *s == '-') ? *s++ : 0;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	v = strtod(s, &end);
	if (*end) {
		char u = (char)(*end | 0x20);
		const char *p = strchr(units, u);
		if (u == 's')
			mult = 512;
		else if (p && *p)
			mult = 1ull << (10 * (p - units));
		else
			return -EINVAL;
		if (end[1] && !((end[1] | 0x20) == 'i' && (end[2] | 0x20) == 'b' && !end[3]) &&
		    !((end[1] | 0x20) == 'b' && !end[2]))
			return -EINVAL;
	}
	if (!isfinite(v) || v < 0 || v * (double)mult > 9.2e18)
		return -ERANGE;
	*ret_bytes = (uint64_t)ceil(v * (double)mult);
	return 0;
}

static char size_units(const char *s)
{
	if (!s || strlen(s) != 1 || !strchr("hHbBsSkKmMgGtTpPeE", s[0]))
		return 0;
	return s[0];
}

static void long_size(uint64_t bytes, char *buf, size_t n)
{
	lvm_size_format(bytes, 'h', false, true, buf, n);
}

/* "vg-lv" with doubled dashes inside names, as /dev/mapper spells it. */
static int split_mapper(const char *s, char **ret_vg, char **ret_lv)
{
	_cleanup_free_ char *vg = malloc(strlen(s) + 1), *lv = malloc(strlen(s) + 1);
	char *o = vg;
	bool in_lv = false;

	if (!vg || !lv)
		return -ENOMEM;
	for (; *s; s++) {
		if (*s == '-' && s[1] == '-') {
			*o++ = *s++;
		} else if (*s == '-' && !in_lv) {
			*o = 0;
			o = lv;
			in_lv = true;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
	if (!in_lv)
		return -EINVAL;
	*ret_vg = TAKE_PTR(vg);
	*ret_lv = TAKE_PTR(lv);
	return 0;
}

/* "vg/lv", "/dev/vg/lv" or "/dev/mapper/vg-lv". */
static int split_lv(const char *arg, char **ret_vg, char **ret_lv)
{
	_cleanup_free_ char *vg = NULL, *lv = NULL;
	const char *s = arg, *slash;
	int r;

	if (startswith(s, "/dev/mapper/")) {
		r = split_mapper(s + strlen("/dev/mapper/"), &vg, &lv);
		if (r < 0)
			return r;
	} else {
		if (startswith(s, "/dev/"))
			s += strlen("/dev/");
		slash = strchr(s, '/');
		if (!slash)
			return -EINVAL;
		vg = strndup(s, slash - s);
		lv = strdup(slash + 1);
		if (!vg || !lv)
			return -ENOMEM;
	}
	if (!lvm_vg_name_valid(vg) || !lvm_lv_name_valid(lv))
		return -EINVAL;
	*ret_vg = TAKE_PTR(vg);
	*ret_lv = TAKE_PTR(lv);
	return 0;
}

/* Open VG NAME, logging why not. Returns 0 or an exit status. */
static int open_vg(const struct storage *st, const char *name, bool write, struct vg_handle *h)
{
	int r = storage_vg_open(st, name, write, h);

	if (r == -ENOENT || r == -EINVAL)
		log_err("volume group \"%s\" not found", name);
	else if (r == -ENOTUNIQ)
		log_err("volume group name \"%s\" is used by more than one volume group", name);
	else if (r < 0)
		log_err("cannot read volume group \"%s\": %s", name, strerror(-r));
	if (r == 0 && write && h->missing_pvs) {
		log_err("volume group \"%s\" is missing physical volumes; cannot change it", name);
		storage_vg_close(h);
		return EXIT_FAILED;
	}
	return r < 0 ? EXIT_FAILED : 0;
}

static int commit(struct vg_handle *h, const char *what)
{
	int r = storage_vg_commit(h, what);

	if (r == -ENOSPC)
		log_err("metadata of volume group \"%s\" does not fit in its metadata areas",
			h->vg->name);
	else if (r < 0)
		log_err("cannot write metadata of volume group \"%s\": %s", h->vg->name,
			strerror(-r));
	return r < 0 ? EXIT_FAILED : 0;
}

/* ------------------------------------------------------------------ PVs */

int cmd_pvcreate(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "metadatasize", required_argument, NULL, 'M' },
		{ "force", no_argument, NULL, 'f' },
		{ "yes", no_argument, NULL, 'y' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_(storage_release) struct storage st = { 0 };
	uint64_t mdasize = 0;
	char sign;
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, "fy", opts, NULL)) != -1) {
		if (c == 'M' && (parse_size(optarg, &mdasize, &sign) < 0 || sign)) {
			log_err("invalid metadata size \"%s\"", optarg);
			return 3;
		} else if (c == '?') {
			return command_usage(command_find(argv[0]));
		}
	}
	if (optind >= argc)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	for (int i = optind; i < argc; i++) {
		int r = storage_pvcreate(&st, argv[i], mdasize);
		if (r == -EBUSY)
			log_err("cannot initialize \"%s\": it is a physical volume of a volume group",
				argv[i]);
		else if (r == -ENOSPC)
			log_err("cannot initialize \"%s\": device too small", argv[i]);
		else if (r < 0)
			log_err("cannot initialize \"%s\": %s", argv[i], strerror(-r));
		else
			printf("  Physical volume \"%s\" successfully created.\n", argv[i]);
		if (r < 0)
			ret = EXIT_FAILED;
	}
	return ret;
}

/* Long spellings of the short options lvm2's verbs share. */
static const struct option common_long_opts[] = {
	{ "force", no_argument, NULL, 'f' },
	{ "yes", no_argument, NULL, 'y' },
	{ "autobackup", required_argument, NULL, 'A' },
	{ NULL, 0, NULL, 0 },
};

/* getopt_long with common_long_opts; "--file" only where SHORTOPTS has "f:". */
static int getopt_common(int argc, char **argv, const char *shortopts)
{
	const struct option *opts = common_long_opts;
	static const struct option file_opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	if (strstr(shortopts, "f:"))
		opts = file_opts;
	return getopt_long(argc, argv, shortopts, opts, NULL);
}

int cmd_pvremove(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	int c, ret = 0;

	while ((c = getopt_common(argc, argv, "fy")) != -1)
		if (c == '?')
			return command_usage(command_find(argv[0]));
	if (optind >= argc)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	for (int i = optind; i < argc; i++) {
		int r = storage_pvremove(&st, argv[i]);
		if (r == -EBUSY)
			log_err("physical volume \"%s\" belongs to a volume group; vgreduce it first",
				argv[i]);
		else if (r == -ENOENT)
			log_err("no physical volume label found on \"%s\"", argv[i]);
		else if (r < 0)
			log_err("cannot wipe \"%s\": %s", argv[i], strerror(-r));
		else
			printf("  Labels on physical volume \"%s\" successfully wiped.\n", argv[i]);
		if (r < 0)
			ret = EXIT_FAILED;
	}
	return ret;
}

/* -------------------------------------------------------------- reports */

/* Every VG seen on the listed devices, opened for reading (sorted). */
struct vgset {
	struct storage_scan sc;
	struct vg_handle *h;
	size_t n;
};

static void vgset_release(struct vgset *s)
{
	for (size_t i = 0; i < s->n; i++)
		storage_vg_close(&s->h[i]);
	free(s->h);
	storage_scan_release(&s->sc);
}

static int vgset_open(const struct storage *st, struct vgset *s)
{
	_cleanup_strv_free_ char **names = NULL;
	size_t n = 0;
	int r;

	*s = (struct vgset){ 0 };
	r = storage_scan(st, &s->sc);
	if (r == 0)
		r = storage_vg_names(&s->sc, &names);
	if (r < 0) {
		log_err("cannot scan devices: %s", strerror(-r));
		return EXIT_FAILED;
	}
	while (names[n])
		n++;
	s->h = calloc(n + 1, sizeof(*s->h));
	if (!s->h)
		return EXIT_FAILED;
	for (size_t i = 0; i < n; i++) {
		if (open_vg(st, names[i], false, &s->h[s->n]) == 0)
			s->n++;
	}
	return 0;
}

static struct vg_handle *vgset_find(struct vgset *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->h[i].vg->name, name))
			return &s->h[i];
	return NULL;
}

/* The VG and PV index of the PV at PATH, if it is in an open VG. */
static const struct lvm_vg *vgset_pv(struct vgset *s, const char *path, unsigned *ret_pv)
{
	for (size_t i = 0; i < s->n; i++)
		for (unsigned p = 0; p < s->h[i].vg->npv; p++)
			if (s->h[i].vg->pvs[p]->path && streq(s->h[i].vg->pvs[p]->path, path)) {
				*ret_pv = p;
				return s->h[i].vg;
			}
	return NULL;
}

static bool arg_listed(char **args, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (streq(args[i], s))
			return true;
	return false;
}

static int report_pvs(struct report *rp, struct vgset *s, char **args, int nargs)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < s->sc.n; i++) {
		const struct pv_scan *d = &s->sc.devs[i];
		unsigned pv;
		const struct lvm_vg *vg = vgset_pv(s, d->path, &pv);
		if (nargs && !arg_listed(args, nargs, d->path))
			continue;
		if (vg)
			r = report_add_pv(rp, vg, pv);
		else if (d->is_pv && !d->vg_name)
			r = report_add_orphan(rp, d);
	}
	/* PVs listed in a VG but not found. */
	for (size_t i = 0; r == 0 && !nargs && i < s->n; i++)
		for (unsigned p = 0; r == 0 && p < s->h[i].vg->npv; p++)
			if (!s->h[i].vg->pvs[p]->path)
				r = report_add_pv(rp, s->h[i].vg, p);
	return r;
}

static int report_lvs(struct report *rp, struct vgset *s, char **args, int nargs)
{
	int r = 0;

	if (!nargs) {
		for (size_t i = 0; r == 0 && i < s->n; i++)
			r = report_add_vg(rp, s->h[i].vg);
		return r;
	}
	for (int i = 0; r == 0 && i < nargs; i++) {
		_cleanup_free_ char *vgname = NULL, *lvname = NULL;
		struct vg_handle *h;
		const struct lvm_lv *lv;
		if (split_lv(args[i], &vgname, &lvname) < 0) {
			vgname = strdup(args[i]);
			if (!vgname)
				return -ENOMEM;
		}
		h = vgset_find(s, vgname);
		if (!h) {
			log_err("volume group \"%s\" not found", vgname);
			return -ENOENT;
		}
		if (!lvname) {
			r = report_add_vg(rp, h->vg);
			continue;
		}
		lv = vg_find_lv(h->vg, lvname);
		if (!lv) {
			log_err("logical volume \"%s\" not found in volume group \"%s\"", lvname,
				vgname);
			return -ENOENT;
		}
		r = report_add_lv(rp, h->vg, lv);
	}
	return r;
}

static int report_vgs(struct report *rp, struct vgset *s, char **args, int nargs)
{
	int r = 0;

	for (int i = 0; i < nargs; i++)
		if (!vgset_find(s, args[i])) {
			log_err("volume group \"%s\" not found", args[i]);
			return -ENOENT;
		}
	for (size_t i = 0; r == 0 && i < s->n; i++)
		if (!nargs || arg_listed(args, nargs, s->h[i].vg->name))
			r = report_add_vg(rp, s->h[i].vg);
	return r;
}

static int run_report(struct cli_ctx *ctx, enum report_kind kind, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "units", required_argument, NULL, 'u' },
		{ "noheadings", no_argument, NULL, 'H' },
		{ "nosuffix", no_argument, NULL, 'N' },
		{ "options", required_argument, NULL, 'o' },
		{ "separator", required_argument, NULL, 'S' },
		{ "reportformat", required_argument, NULL, 'F' },
		{ "all", no_argument, NULL, 'a' },
		{ "segments", no_argument, NULL, 'G' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_(storage_release) struct storage st = { 0 };
	_cleanup_(vgset_release) struct vgset set = { 0 };
	struct report_opts o = { .units = 'h', .snap_status = lv_snapshot_status };
	struct report *rp = NULL;
	_cleanup_free_ char *bad = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:a", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o.units = size_units(optarg);
			if (!o.units) {
				log_err("invalid units \"%s\"", optarg);
				return 3;
			}
			break;
		case 'H': o.noheadings = true; break;
		case 'N': o.nosuffix = true; break;
		case 'o': o.fields = optarg; break;
		case 'S': o.separator = optarg; break;
		case 'a': o.all = true; break;
		case 'G': o.segments = true; break;
		case 'F':
			if (!streq(optarg, "json") && !streq(optarg, "basic")) {
				log_err("unknown report format \"%s\"", optarg);
				return 3;
			}
			o.json = streq(optarg, "json");
			break;
		default:
			return command_usage(command_find(argv[0]));
		}
	}
	r = report_new(kind, &o, &rp, &bad);
	if (r == -EINVAL) {
		log_err("unrecognised field \"%s\"", bad);
		return 3;
	}
	if (r < 0 || storage_open(ctx, &st) < 0) {
		report_free(rp);
		return EXIT_FAILED;
	}
	report_set_storage(rp, &st);
	r = vgset_open(&st, &set);
	if (r) {
		report_free(rp);
		return r;
	}
	if (kind == REPORT_PV)
		r = report_pvs(rp, &set, argv + optind, argc - optind);
	else if (kind == REPORT_VG)
		r = report_vgs(rp, &set, argv + optind, argc - optind);
	else
		r = report_lvs(rp, &set, argv + optind, argc - optind);
	if (r < 0) {
		report_free(rp);
		return EXIT_FAILED;
	}
	report_print(rp, stdout);
	return 0;
}

int cmd_pvs(struct cli_ctx *ctx, int argc, char **argv)
{
	return run_report(ctx, REPORT_PV, argc, argv);
}

int cmd_vgs(struct cli_ctx *ctx, int argc, char **argv)
{
	return run_report(ctx, REPORT_VG, argc, argv);
}

int cmd_lvs(struct cli_ctx *ctx, int argc, char **argv)
{
	return run_report(ctx, REPORT_LV, argc, argv);
}

/* ------------------------------------------------------ display / scan */

static void line(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("  %-22s", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static uint64_t ext_bytes(const struct lvm_vg *vg, uint64_t n)
{
	return n * vg->extent_size * LVM_SECTOR;
}

static void display_pv(const struct lvm_vg *vg, unsigned p)
{
	const struct lvm_pv *pv = vg->pvs[p];
	uint64_t free_pe = vg_pv_free(vg, p), dev = pv->dev_size * LVM_SECTOR;
	char a[64], b[64], uuid[LVM_UUID_STR_LEN + 1];

	long_size(dev, a, sizeof(a));
	long_size(dev - ext_bytes(vg, pv->pe_count), b, sizeof(b));
	lvm_uuid_format(pv->id, uuid);
	printf("  --- Physical volume ---\n");
	line("PV Name", "%s", pv->path ? pv->path : "[unknown]");
	line("VG Name", "%s", vg->name);
	line("PV Size", "%s / not usable %s", a, b);
	line("Allocatable", "yes %s", free_pe ? "" : "(but full)");
	long_size(ext_bytes(vg, 1), a, sizeof(a));
	line("PE Size", "%s", a);
	line("Total PE", "%llu", (unsigned long long)pv->pe_count);
	line("Free PE", "%llu", (unsigned long long)free_pe);
	line("Allocated PE", "%llu", (unsigned long long)(pv->pe_count - free_pe));
	line("PV UUID", "%s", uuid);
	printf("   \n");
}

static void display_orphan(const struct pv_scan *d)
{
	char a[64], uuid[LVM_UUID_STR_LEN + 1];

	long_size(d->label.device_size, a, sizeof(a));
	lvm_uuid_format(d->label.uuid, uuid);
	printf("  \"%s\" is a new physical volume of \"%s\"\n", d->path, a);
	printf("  --- NEW Physical volume ---\n");
	line("PV Name", "%s", d->path);
	line("VG Name", "%s", "");
	line("PV Size", "%s", a);
	line("Allocatable", "NO");
	line("PE Size", "0   ");
	line("Total PE", "0");
	line("Free PE", "0");
	line("Allocated PE", "0");
	line("PV UUID", "%s", uuid);
	printf("   \n");
}

int cmd_pvdisplay(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	_cleanup_(vgset_release) struct vgset set = { 0 };
	char **args;
	int c, nargs, r;

	while ((c = getopt(argc, argv, "")) != -1)
		return command_usage(command_find(argv[0]));
	args = argv + optind;
	nargs = argc - optind;
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = vgset_open(&st, &set);
	if (r)
		return r;
	for (int i = 0; i < nargs; i++)
		if (!storage_scan_find(&set.sc, args[i])) {
			log_err("physical volume \"%s\" not found (not in the devices list)", args[i]);
			return EXIT_FAILED;
		}
	for (size_t i = 0; i < set.sc.n; i++) {
		const struct pv_scan *d = &set.sc.devs[i];
		unsigned pv;
		const struct lvm_vg *vg = vgset_pv(&set, d->path, &pv);
		if (nargs && !arg_listed(args, nargs, d->path))
			continue;
		if (vg)
			display_pv(vg, pv);
		else if (d->is_pv && !d->vg_name)
			display_orphan(d);
	}
	return 0;
}

static void display_vg(const struct vg_handle *h)
{
	const struct lvm_vg *vg = h->vg;
	uint64_t total = vg_total_extents(vg), free_pe = vg_free_extents(vg);
	unsigned act = 0;
	char a[64], b[64], c[64], d[64], uuid[LVM_UUID_STR_LEN + 1];

	for (unsigned i = 0; i < vg->npv; i++)
		act += vg->pvs[i]->path != NULL;
	long_size(ext_bytes(vg, total), a, sizeof(a));
	long_size(ext_bytes(vg, 1), b, sizeof(b));
	long_size(ext_bytes(vg, total - free_pe), c, sizeof(c));
	long_size(ext_bytes(vg, free_pe), d, sizeof(d));
	lvm_uuid_format(vg->id, uuid);
	printf("  --- Volume group ---\n");
	line("VG Name", "%s", vg->name);
	line("System ID", "%s", "");
	line("Format", "lvm2");
	line("Metadata Areas", "%u", h->ncopies);
	line("Metadata Sequence No", "%llu", (unsigned long long)vg->seqno);
	line("VG Access", "read/write");
	line("VG Status", "resizable");
	line("MAX LV", "%lld", (long long)vg->max_lv);
	unsigned nopen = 0, nvisible = 0;
	for (unsigned i = 0; i < vg->nlv; i++) {
		nvisible += lv_is_visible(vg, vg->lvs[i]);
		nopen += lv_in_use(h->st, vg->lvs[i]->id);
	}
	line("Cur LV", "%u", nvisible);
	line("Open LV", "%u", nopen);
	line("Max PV", "%lld", (long long)vg->max_pv);
	line("Cur PV", "%u", vg->npv);
	line("Act PV", "%u", act);
	line("VG Size", "%s", a);
	line("PE Size", "%s", b);
	line("Total PE", "%llu", (unsigned long long)total);
	line("Alloc PE / Size", "%llu / %s", (unsigned long long)(total - free_pe), c);
	line("Free  PE / Size", "%llu / %s", (unsigned long long)free_pe, d);
	line("VG UUID", "%s", uuid);
	printf("   \n");
}

int cmd_vgdisplay(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	_cleanup_(vgset_release) struct vgset set = { 0 };
	int c, r;

	while ((c = getopt(argc, argv, "")) != -1)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = vgset_open(&st, &set);
	if (r)
		return r;
	for (int i = optind; i < argc; i++)
		if (!vgset_find(&set, argv[i])) {
			log_err("volume group \"%s\" not found", argv[i]);
			return EXIT_FAILED;
		}
	for (size_t i = 0; i < set.n; i++)
		if (optind == argc || arg_listed(argv + optind, argc - optind, set.h[i].vg->name))
			display_vg(&set.h[i]);
	return 0;
}

static void lv_line(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lv_line(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("  %-23s", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void display_lv(const struct lvm_vg *vg, const struct lvm_lv *lv)
{
	char a[64], uuid[LVM_UUID_STR_LEN + 1], when[64] = "";
	time_t t = (time_t)lv->creation_time;
	struct tm tm;

	lvm_uuid_format(lv->id, uuid);
	long_size(ext_bytes(vg, lv_extents(lv)), a, sizeof(a));
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", localtime_r(&t, &tm));
	printf("  --- Logical volume ---\n");
	lv_line("LV Path", "/dev/%s/%s", vg->name, lv->name);
	lv_line("LV Name", "%s", lv->name);
	lv_line("VG Name", "%s", vg->name);
	lv_line("LV UUID", "%s", uuid);
	lv_line("LV Write Access", "%s", lv_has_status(lv, "WRITE") ? "read/write" : "read only");
	lv_line("LV Creation host, time", "%s, %s", lv->creation_host, when);
	lv_line("LV Status", "available");
	lv_line("LV Size", "%s", a);
	lv_line("Current LE", "%llu", (unsigned long long)lv_extents(lv));
	lv_line("Segments", "%u", lv->nseg);
	lv_line("Allocation", "inherit");
	lv_line("Read ahead sectors", "auto");
	printf("   \n");
}

/* Call FN for each LV named by ARGS ("VG" or "VG/LV"), or every LV. */
static int each_lv(struct vgset *set, char **args, int nargs,
		   void (*fn)(const struct lvm_vg *vg, const struct lvm_lv *lv))
{
	for (int i = 0; i < nargs; i++) {
		_cleanup_free_ char *vgname = NULL, *lvname = NULL;
		struct vg_handle *h;
		if (split_lv(args[i], &vgname, &lvname) < 0 && !(vgname = strdup(args[i])))
			return EXIT_FAILED;
		h = vgset_find(set, vgname);
		if (!h) {
			log_err("volume group \"%s\" not found", vgname);
			return EXIT_FAILED;
		}
		if (lvname && !vg_find_lv(h->vg, lvname)) {
			log_err("logical volume \"%s\" not found in volume group \"%s\"",
				lvname, vgname);
			return EXIT_FAILED;
		}
	}
	for (size_t i = 0; i < set->n; i++) {
		const struct lvm_vg *vg = set->h[i].vg;
		for (unsigned l = 0; l < vg->nlv; l++) {
			_cleanup_free_ char *full = strprintf("%s/%s", vg->name, vg->lvs[l]->name);
			if (!lv_is_visible(vg, vg->lvs[l]))
				continue;
			if (!nargs || arg_listed(args, nargs, vg->name) ||
			    (full && arg_listed(args, nargs, full)))
				fn(vg, vg->lvs[l]);
		}
	}
	return 0;
}

int cmd_lvdisplay(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	_cleanup_(vgset_release) struct vgset set = { 0 };
	int c, r;

	while ((c = getopt(argc, argv, "")) != -1)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = vgset_open(&st, &set);
	return r ? r : each_lv(&set, argv + optind, argc - optind, display_lv);
}

static void scan_lv(const struct lvm_vg *vg, const struct lvm_lv *lv)
{
	char a[64];

	long_size(ext_bytes(vg, lv_extents(lv)), a, sizeof(a));
	printf("  %-18s'/dev/%s/%s' [%s] inherit\n", "ACTIVE", vg->name, lv->name, a);
}

int cmd_lvscan(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	_cleanup_(vgset_release) struct vgset set = { 0 };
	int r;

	if (argc > 1)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = vgset_open(&st, &set);
	return r ? r : each_lv(&set, NULL, 0, scan_lv);
}

int cmd_vgscan(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	_cleanup_(vgset_release) struct vgset set = { 0 };
	int r;

	if (argc > 1)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = vgset_open(&st, &set);
	for (size_t i = 0; r == 0 && i < set.n; i++)
		printf("  Found volume group \"%s\" using metadata type lvm2\n", set.h[i].vg->name);
	return r;
}

/* pvscan PATH...: remember PVs made elsewhere (e.g. by lvm2 on another
 * host) so this host's scans see them. */
static int pvscan_add(struct cli_ctx *ctx, char **paths, int n)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	int ret = 0;

	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	for (int i = 0; i < n; i++) {
		_cleanup_(pv_scan_release) struct pv_scan d = { 0 };
		int r = storage_probe(paths[i], &d);
		if (r == 0 && d.err < 0)
			r = d.err;
		if (r == 0 && !d.is_pv)
			r = -ENOENT;
		if (r == 0)
			r = storage_device_add(&st, paths[i]);
		if (r == -ENOENT)
			log_err("no physical volume label found on \"%s\"", paths[i]);
		else if (r < 0)
			log_err("cannot scan \"%s\": %s", paths[i], strerror(-r));
		else
			printf("  PV %s %s%s%sadded to the devices list\n", paths[i],
			       d.vg_name ? "of VG " : "", d.vg_name ? d.vg_name : "",
			       d.vg_name ? " " : "");
		if (r < 0)
			ret = EXIT_FAILED;
	}
	return ret;
}

int cmd_pvscan(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	_cleanup_(vgset_release) struct vgset set = { 0 };
	uint64_t total = 0, used = 0, orphan = 0;
	unsigned nused = 0, norphan = 0;
	size_t pw = 0, vw = 15;
	char a[64], b[64], c[64];
	int r;

	if (argc > 1)
		return pvscan_add(ctx, argv + 1, argc - 1);
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = vgset_open(&st, &set);
	if (r)
		return r;
	for (size_t i = 0; i < set.sc.n; i++) {
		pw = strlen(set.sc.devs[i].path) + 2 > pw ? strlen(set.sc.devs[i].path) + 2 : pw;
		if (set.sc.devs[i].vg_name && strlen(set.sc.devs[i].vg_name) + 2 > vw)
			vw = strlen(set.sc.devs[i].vg_name) + 2;
	}
	for (size_t i = 0; i < set.sc.n; i++) {
		const struct pv_scan *d = &set.sc.devs[i];
		unsigned p;
		const struct lvm_vg *vg = vgset_pv(&set, d->path, &p);
		if (vg) {
			uint64_t size = ext_bytes(vg, vg->pvs[p]->pe_count);
			long_size(size, a, sizeof(a));
			long_size(ext_bytes(vg, vg_pv_free(vg, p)), b, sizeof(b));
			printf("  PV %-*s VG %-*s lvm2 [%s / %s free]\n", (int)pw, d->path, (int)vw,
			       vg->name, a, b);
			used += size;
			nused++;
		} else if (d->is_pv && !d->vg_name) {
			long_size(d->label.device_size, a, sizeof(a));
			printf("  PV %-*s %-*s lvm2 [%s]\n", (int)pw, d->path, (int)vw + 3, "", a);
			orphan += d->label.device_size;
			norphan++;
		}
	}
	total = used + orphan;
	long_size(total, a, sizeof(a));
	long_size(used, b, sizeof(b));
	long_size(orphan, c, sizeof(c));
	printf("  Total: %u [%s] / in use: %u [%s] / in no VG: %u [%s]\n", nused + norphan, a,
	       nused, b, norphan, c);
	return 0;
}

/* ------------------------------------------------------------------ VGs */

static void log_pv_error(const char *path, int r)
{
	if (r == -EBUSY)
		log_err("physical volume \"%s\" is already in a volume group", path);
	else if (r == -ENOSPC)
		log_err("device \"%s\" is too small", path);
	else if (r == -EEXIST)
		log_err("physical volume \"%s\" is listed twice", path);
	else
		log_err("cannot use \"%s\": %s", path, strerror(-r));
}

/* The first of PATHS that cannot join a VG, with the reason. */
static int check_new_pvs(const struct storage *st, char **paths, int n)
{
	for (int i = 0; i < n; i++) {
		int r = storage_check_free(st, paths[i]);
		for (int k = 0; r == 0 && k < i; k++)
			if (streq(paths[k], paths[i]))
				r = -EEXIST;
		if (r < 0) {
			log_pv_error(paths[i], r);
			return EXIT_FAILED;
		}
	}
	return 0;
}

int cmd_vgcreate(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "physicalextentsize", required_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'f' },
		{ "yes", no_argument, NULL, 'y' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_(storage_release) struct storage st = { 0 };
	uint64_t ext = 4 << 20;
	char sign;
	int c, r;

	while ((c = getopt_long(argc, argv, "s:fy", opts, NULL)) != -1) {
		if (c == 's' && (parse_size(optarg, &ext, &sign) < 0 || sign || ext < 4096 ||
				 (ext & (ext - 1)) || ext > (1ull << 40))) {
			log_err("invalid physical extent size \"%s\" (a power of 2, 4KiB or more)",
				optarg);
			return 3;
		} else if (c == '?') {
			return command_usage(command_find(argv[0]));
		}
	}
	if (argc - optind < 2)
		return command_usage(command_find(argv[0]));
	if (!lvm_vg_name_valid(argv[optind])) {
		log_err("invalid volume group name \"%s\"", argv[optind]);
		return 3;
	}
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = check_new_pvs(&st, argv + optind + 1, argc - optind - 1);
	if (r)
		return r;
	r = storage_vgcreate(&st, argv[optind], argv + optind + 1, (unsigned)(argc - optind - 1),
			     ext / LVM_SECTOR);
	if (r == -EEXIST)
		log_err("volume group \"%s\" already exists", argv[optind]);
	else if (r < 0)
		log_err("cannot create volume group \"%s\": %s", argv[optind], strerror(-r));
	else
		printf("  Volume group \"%s\" successfully created\n", argv[optind]);
	return r < 0 ? EXIT_FAILED : 0;
}

int cmd_vgextend(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	struct vg_handle h;
	int r;

	if (argc < 3)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = open_vg(&st, argv[1], true, &h);
	if (r)
		return r;
	r = check_new_pvs(&st, argv + 2, argc - 2);
	if (r == 0) {
		r = storage_vgextend(&h, argv + 2, (unsigned)(argc - 2));
		if (r < 0)
			log_err("cannot extend volume group \"%s\": %s", argv[1], strerror(-r));
		else
			printf("  Volume group \"%s\" successfully extended\n", argv[1]);
		r = r < 0 ? EXIT_FAILED : 0;
	}
	storage_vg_close(&h);
	return r;
}

int cmd_vgreduce(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	struct vg_handle h;
	int r;

	if (argc < 3)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = open_vg(&st, argv[1], true, &h);
	if (r)
		return r;
	r = storage_vgreduce(&h, argv + 2, (unsigned)(argc - 2));
	if (r == -EBUSY)
		log_err("physical volume is still in use in volume group \"%s\"; move or remove "
			"its logical volumes first", argv[1]);
	else if (r == -ENOENT)
		log_err("physical volume not in volume group \"%s\"", argv[1]);
	else if (r == -EINVAL)
		log_err("cannot remove the last physical volume of \"%s\"; use vgremove", argv[1]);
	else if (r < 0)
		log_err("cannot reduce volume group \"%s\": %s", argv[1], strerror(-r));
	for (int i = 2; r == 0 && i < argc; i++)
		printf("  Removed \"%s\" from volume group \"%s\"\n", argv[i], argv[1]);
	storage_vg_close(&h);
	return r < 0 ? EXIT_FAILED : 0;
}

/* Claim every LV of VG (refusing if one is open), for removal. */
static int claim_all(const struct storage *st, const struct lvm_vg *vg, int *fds)
{
	for (unsigned i = 0; i < vg->nlv; i++) {
		fds[i] = lv_claim(st, vg->lvs[i]->id);
		if (fds[i] == -EBUSY) {
			log_in_use(st, vg->name, vg->lvs[i]);
			return EXIT_FAILED;
		}
	}
	return 0;
}

int cmd_vgremove(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	bool force = false;
	int c, ret = 0;

	while ((c = getopt_common(argc, argv, "fyA:")) != -1) {
		if (c == '?')
			return command_usage(command_find(argv[0]));
		force = force || c == 'f';
	}
	if (optind >= argc)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	for (int i = optind; i < argc; i++) {
		struct vg_handle h;
		int r = open_vg(&st, argv[i], true, &h);
		if (r) {
			ret = r;
			continue;
		}
		unsigned nlv = h.vg->nlv;
		_cleanup_free_ int *fds = calloc(nlv + 1, sizeof(int));
		r = fds ? 0 : EXIT_FAILED;
		if (r == 0 && h.vg->nlv && !force) {
			log_err("volume group \"%s\" still contains %u logical volume(s); remove them "
				"first or use -f", argv[i], h.vg->nlv);
			r = EXIT_FAILED;
		}
		if (r == 0)
			r = claim_all(&st, h.vg, fds);
		while (r == 0 && h.vg->nlv) {
			if (!lv_is_snapshot_seg(h.vg->lvs[0]))
				printf("  Logical volume \"%s\" successfully removed.\n",
				       h.vg->lvs[0]->name);
			vg_remove_lv(h.vg, h.vg->lvs[0]);
		}
		if (r == 0 && (r = storage_vgremove(&h)) < 0) {
			log_err("cannot remove volume group \"%s\": %s", argv[i], strerror(-r));
			r = EXIT_FAILED;
		} else if (r == 0) {
			printf("  Volume group \"%s\" successfully removed\n", argv[i]);
		}
		for (unsigned k = 0; fds && k < nlv; k++)
			if (fds[k] > 0)
				close(fds[k]);
		storage_vg_close(&h);
		if (r)
			ret = r;
	}
	return ret;
}

int cmd_vgrename(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	_cleanup_(storage_scan_release) struct storage_scan sc = { 0 };
	_cleanup_strv_free_ char **names = NULL;
	_cleanup_free_ char *lockname = NULL, *old_backup = NULL;
	_cleanup_close_ int lock = -1;
	struct vg_handle h;
	char *newname;
	int r;

	if (argc != 3)
		return command_usage(command_find(argv[0]));
	if (!lvm_vg_name_valid(argv[2])) {
		log_err("invalid volume group name \"%s\"", argv[2]);
		return 3;
	}
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = open_vg(&st, argv[1], true, &h);
	if (r)
		return r;
	lockname = strprintf("V_%s", argv[2]);
	lock = lockname ? storage_lock(&st, lockname, true, false) : -ENOMEM;
	r = lock < 0 ? lock : storage_scan(&st, &sc);
	if (r == 0)
		r = storage_vg_names(&sc, &names);
	for (char **s = names; r == 0 && *s; s++)
		if (streq(*s, argv[2]))
			r = -EEXIST;
	newname = r == 0 ? strdup(argv[2]) : NULL;
	if (r == 0 && !newname)
		r = -ENOMEM;
	if (r == 0) {
		free(h.vg->name);
		h.vg->name = newname;
		r = commit(&h, "Write from vgrename.") ? -EIO : 0;
	}
	if (r == -EEXIST)
		log_err("volume group \"%s\" already exists", argv[2]);
	else if (r < 0 && r != -EIO)
		log_err("cannot rename volume group \"%s\": %s", argv[1], strerror(-r));
	if (r == 0) {
		old_backup = strprintf("%s/%s", st.backup_dir, argv[1]);
		if (old_backup)
			(void)unlink(old_backup);
		printf("  Volume group \"%s\" successfully renamed to \"%s\"\n", argv[1], argv[2]);
	}
	storage_vg_close(&h);
	return r < 0 ? EXIT_FAILED : 0;
}

int cmd_vgck(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "updatemetadata", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_(storage_release) struct storage st = { 0 };
	_cleanup_(storage_scan_release) struct storage_scan sc = { 0 };
	_cleanup_strv_free_ char **names = NULL;
	bool update = false;
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'U')
			return command_usage(command_find(argv[0]));
		update = true;
	}
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	if (optind == argc && (storage_scan(&st, &sc) < 0 || storage_vg_names(&sc, &names) < 0))
		return EXIT_FAILED;
	char **list = optind < argc ? argv + optind : names;
	for (; *list; list++) {
		struct vg_handle h;
		int r = open_vg(&st, *list, update, &h);
		if (r) {
			ret = r;
			continue;
		}
		if (h.missing_pvs) {
			log_err("volume group \"%s\" is missing physical volumes", *list);
			ret = EXIT_FAILED;
		} else if (h.nstale && update) {
			ret = commit(&h, "Write from vgck --updatemetadata.") ? EXIT_FAILED : ret;
		} else if (h.nstale) {
			log_err("%u of %u metadata areas of volume group \"%s\" are old or damaged; "
				"run vgck --updatemetadata", h.nstale, h.ncopies, *list);
			ret = EXIT_FAILED;
		}
		storage_vg_close(&h);
	}
	return ret;
}

int cmd_vgcfgbackup(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	_cleanup_(storage_scan_release) struct storage_scan sc = { 0 };
	_cleanup_strv_free_ char **names = NULL;
	const char *file = NULL;
	int c, ret = 0;

	while ((c = getopt_common(argc, argv, "f:")) != -1) {
		if (c != 'f')
			return command_usage(command_find(argv[0]));
		file = optarg;
	}
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	if (optind == argc && (storage_scan(&st, &sc) < 0 || storage_vg_names(&sc, &names) < 0))
		return EXIT_FAILED;
	char **list = optind < argc ? argv + optind : names;
	for (; *list; list++) {
		_cleanup_free_ char *path = NULL;
		struct vg_handle h;
		int r = open_vg(&st, *list, false, &h);
		if (r) {
			ret = r;
			continue;
		}
		if (file && strstr(file, "%s"))
			path = strprintf("%.*s%s%s", (int)(strstr(file, "%s") - file), file, *list,
					 strstr(file, "%s") + 2);
		else if (file)
			path = strdup(file);
		else
			path = strprintf("%s/%s", st.backup_dir, *list);
		r = path ? (file ? 0 : mkdir_p(st.backup_dir, 0700)) : -ENOMEM;
		if (r == 0)
			r = storage_vg_backup(&h, path);
		if (r < 0) {
			log_err("cannot back up volume group \"%s\": %s", *list, strerror(-r));
			ret = EXIT_FAILED;
		} else {
			printf("  Volume group \"%s\" successfully backed up.\n", *list);
		}
		storage_vg_close(&h);
	}
	return ret;
}

int cmd_vgcfgrestore(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	const char *file = NULL;
	int c, r;

	while ((c = getopt_common(argc, argv, "f:")) != -1) {
		if (c != 'f')
			return command_usage(command_find(argv[0]));
		file = optarg;
	}
	if (optind + 1 != argc)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = storage_vgcfgrestore(&st, argv[optind], file);
	if (r == -ENOENT)
		log_err("no backup of volume group \"%s\" found%s%s", argv[optind],
			file ? " in " : "", file ? file : "");
	else if (r == -ENXIO)
		log_err("cannot restore volume group \"%s\": a physical volume it lists is not "
			"in the devices list", argv[optind]);
	else if (r == -EINVAL || r == -EBADMSG)
		log_err("cannot restore volume group \"%s\": the backup is invalid or names "
			"another volume group", argv[optind]);
	else if (r < 0)
		log_err("cannot restore volume group \"%s\": %s", argv[optind], strerror(-r));
	else
		printf("  Restored volume group %s.\n", argv[optind]);
	return r < 0 ? EXIT_FAILED : 0;
}

/* ------------------------------------------------------------------ LVs */

enum ext_base { BASE_NONE, BASE_FREE, BASE_VG, BASE_LV };

struct size_arg {
	bool set, is_extents;
	char sign;                 /* '+', '-' or 0 */
	uint64_t bytes;            /* -L */
	uint64_t count;            /* -l: extents, or percent with BASE */
	enum ext_base base;
};

static int parse_extents(const char *s, struct size_arg *a)
{
	const char *pct;
	_cleanup_free_ char *num = NULL;

	a->sign = (*s == '+' || *s == '-') ? *s++ : 0;
	pct = strchr(s, '%');
	num = pct ? strndup(s, pct - s) : strdup(s);
	if (!num || parse_u64(num, &a->count) < 0)
		return -EINVAL;
	a->base = BASE_NONE;
	if (pct) {
		if (streq(pct, "%FREE") || streq(pct, "%PVS"))
			a->base = BASE_FREE;
		else if (streq(pct, "%VG"))
			a->base = BASE_VG;
		else if (streq(pct, "%LV") || streq(pct, "%ORIGIN"))
			a->base = BASE_LV;
		else
			return -EINVAL;
		if (a->count > 100 && a->base != BASE_LV)
			return -EINVAL;
	}
	a->set = a->is_extents = true;
	return 0;
}

static int parse_size_arg(const char *s, struct size_arg *a)
{
	int r = parse_size(s, &a->bytes, &a->sign);

	if (r == 0)
		a->set = true;
	return r;
}

/* Extents A asks for (before applying its sign) in VG for LV (or NULL). */
static uint64_t wanted_extents(const struct lvm_vg *vg, const struct lvm_lv *lv,
			       const struct size_arg *a, bool *rounded)
{
	uint64_t ext = vg->extent_size * LVM_SECTOR;

	*rounded = false;
	if (!a->is_extents) {
		*rounded = a->bytes % ext != 0;
		return (a->bytes + ext - 1) / ext;
	}
	switch (a->base) {
	case BASE_FREE:
		return vg_free_extents(vg) * a->count / 100;
	case BASE_VG:
		return vg_total_extents(vg) * a->count / 100;
	case BASE_LV:
		return (lv ? lv_extents(lv) : 0) * a->count / 100;
	case BASE_NONE:
		break;
	}
	return a->count;
}

static void log_nospace(const struct lvm_vg *vg, uint64_t need)
{
	log_err("volume group \"%s\" has insufficient free space (%llu extents): %llu required",
		vg->name, (unsigned long long)vg_free_extents(vg), (unsigned long long)need);
}

static const char *default_lv_name(const struct lvm_vg *vg, char *buf, size_t n)
{
	for (unsigned i = 0;; i++) {
		snprintf(buf, n, "lvol%u", i);
		if (!vg_find_lv(vg, buf))
			return buf;
	}
}

static int do_lvcreate(const struct storage *st, const char *vgname, const char *name,
		       const struct size_arg *a)
{
	struct vg_handle h;
	char auto_name[32], sz[64];
	bool rounded;
	int r = open_vg(st, vgname, true, &h);

	if (r)
		return r;
	if (!name)
		name = default_lv_name(h.vg, auto_name, sizeof(auto_name));
	uint64_t n = wanted_extents(h.vg, NULL, a, &rounded);
	if (rounded) {
		long_size(n * h.vg->extent_size * LVM_SECTOR, sz, sizeof(sz));
		printf("  Rounding up size to full physical extent %s\n", sz);
	}
	r = vg_create_lv(h.vg, name, n, st->host, (int64_t)time(NULL), NULL);
	if (r == -ENOSPC)
		log_nospace(h.vg, n);
	else if (r == -EEXIST)
		log_err("logical volume \"%s\" already exists in volume group \"%s\"", name, vgname);
	else if (r == -EINVAL && n == 0)
		log_err("cannot create a logical volume of zero extents");
	else if (r == -EINVAL)
		log_err("invalid logical volume name \"%s\"", name);
	else if (r < 0)
		log_err("cannot create logical volume \"%s\": %s", name, strerror(-r));
	if (r == 0 && (r = commit(&h, "Write from lvcreate.")) == 0)
		printf("  Logical volume \"%s\" created.\n", name);
	storage_vg_close(&h);
	return r < 0 ? EXIT_FAILED : r;
}

static int do_snapshot(const struct storage *st, const char *arg, const char *name,
		       const struct size_arg *a, uint64_t chunk)
{
	_cleanup_free_ char *vgname = NULL, *oname = NULL;
	_cleanup_close_ int snap_fd = -1;
	struct vg_handle h;
	struct lvm_lv *origin, *cow = NULL;
	char auto_name[32];
	bool rounded;
	int r;

	if (split_lv(arg, &vgname, &oname) < 0) {
		log_err("invalid origin \"%s\" (expected VG/LV)", arg);
		return 3;
	}
	r = open_vg(st, vgname, true, &h);
	if (r)
		return r;
	origin = vg_find_lv(h.vg, oname);
	if (!name)
		name = default_lv_name(h.vg, auto_name, sizeof(auto_name));
	uint64_t n = origin ? wanted_extents(h.vg, origin, a, &rounded) : 0;
	if (!origin) {
		log_err("logical volume \"%s\" not found in volume group \"%s\"", oname, vgname);
		r = EXIT_FAILED;
	} else if ((snap_fd = lv_snap_lock(st, origin->id)) < 0) {
		log_err("cannot lock the snapshots of %s: %s", arg, strerror(-snap_fd));
		r = EXIT_FAILED;
	} else if ((r = vg_create_snapshot(h.vg, origin, name, n, chunk / LVM_SECTOR, st->host,
					   (int64_t)time(NULL), &cow)) < 0) {
		if (r == -ENOSPC)
			log_nospace(h.vg, n);
		else if (r == -EEXIST)
			log_err("logical volume \"%s\" already exists in volume group \"%s\"",
				name, vgname);
		else if (r == -EPERM)
			log_err("cannot snapshot %s: it is a snapshot or of an unsupported type", arg);
		else
			log_err("cannot create snapshot \"%s\": %s", name, strerror(-r));
		r = EXIT_FAILED;
	} else if ((r = lv_snapshot_init(h.vg, cow, chunk)) < 0) {
		log_err("cannot initialise the snapshot store of \"%s\": %s", name,
			r == -ENOSPC ? "too small" : strerror(-r));
		r = EXIT_FAILED;
	} else if ((r = commit(&h, "Write from lvcreate --snapshot.")) == 0) {
		(void)lv_snapshots_changed(snap_fd);
		printf("  Logical volume \"%s\" created.\n", name);
	}
	storage_vg_close(&h);
	return r;
}

int cmd_lvcreate(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 'L' },
		{ "extents", required_argument, NULL, 'l' },
		{ "name", required_argument, NULL, 'n' },
		{ "snapshot", no_argument, NULL, 's' },
		{ "chunksize", required_argument, NULL, 'c' },
		{ "activate", required_argument, NULL, 'a' },
		{ "zero", required_argument, NULL, 'Z' },
		{ "wipesignatures", required_argument, NULL, 'W' },
		{ "yes", no_argument, NULL, 'y' },
		{ "driverloaded", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_(storage_release) struct storage st = { 0 };
	struct size_arg a = { 0 };
	const char *name = NULL;
	bool snapshot = false;
	uint64_t chunk = 4096;
	char sign;
	int c;

	while ((c = getopt_long(argc, argv, "L:l:n:sc:a:Z:W:y", opts, NULL)) != -1) {
		switch (c) {
		case 'L':
			if (parse_size_arg(optarg, &a) < 0 || a.sign) {
				log_err("invalid size \"%s\"", optarg);
				return 3;
			}
			break;
		case 'l':
			if (parse_extents(optarg, &a) < 0 || a.sign) {
				log_err("invalid number of extents \"%s\"", optarg);
				return 3;
			}
			break;
		case 'n': name = optarg; break;
		case 's': snapshot = true; break;
		case 'c':
			if (parse_size(optarg, &chunk, &sign) < 0 || sign || chunk < 4096 ||
			    chunk > 512 * 1024 || (chunk & (chunk - 1))) {
				log_err("invalid chunk size \"%s\" (a power of 2, 4k to 512k)",
					optarg);
				return 3;
			}
			break;
		case 'a': case 'Z': case 'W': case 'y': case 'D': break;
		default: return command_usage(command_find(argv[0]));
		}
	}
	if (optind >= argc || !a.set)
		return command_usage(command_find(argv[0]));
	if (name && !lvm_lv_name_valid(name)) {
		log_err("invalid logical volume name \"%s\"", name);
		return 3;
	}
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	if (snapshot)
		return do_snapshot(&st, argv[optind], name, &a, chunk);
	return do_lvcreate(&st, argv[optind], name, &a);
}

/* Open VG/LV named by ARG for writing; *RET_LV is the LV. */
static int open_lv(const struct storage *st, const char *arg, struct vg_handle *h,
		   struct lvm_lv **ret_lv)
{
	_cleanup_free_ char *vg = NULL, *lv = NULL;
	int r = split_lv(arg, &vg, &lv);

	if (r < 0) {
		log_err("invalid logical volume name \"%s\" (expected VG/LV)", arg);
		return 3;
	}
	r = open_vg(st, vg, true, h);
	if (r)
		return r;
	*ret_lv = vg_find_lv(h->vg, lv);
	if (!*ret_lv) {
		log_err("logical volume \"%s\" not found in volume group \"%s\"", lv, vg);
		storage_vg_close(h);
		return EXIT_FAILED;
	}
	return 0;
}

static bool has_snapshots(const struct lvm_vg *vg, const struct lvm_lv *lv)
{
	for (unsigned i = 0; i < vg->nlv; i++)
		if (vg->lvs[i]->nseg && vg->lvs[i]->segs[0].origin &&
		    streq(vg->lvs[i]->segs[0].origin, lv->name))
			return true;
	return false;
}

static int remove_one(const struct storage *st, struct vg_handle *h, struct lvm_lv *lv)
{
	_cleanup_close_ int claim = lv_claim(st, lv->id);
	_cleanup_free_ char *name = strdup(lv->name);

	if (claim == -EBUSY) {
		log_in_use(st, h->vg->name, lv);
		return EXIT_FAILED;
	}
	if (has_snapshots(h->vg, lv)) {
		log_err("logical volume %s/%s has snapshots; remove them first", h->vg->name,
			lv->name);
		return EXIT_FAILED;
	}
	const struct lvm_lv *origin = vg_origin_of(h->vg, lv);
	_cleanup_close_ int snap_fd = origin ? lv_snap_lock(st, origin->id) : -1;
	if (origin) {
		vg_remove_snapshot(h->vg, lv);
	} else {
		vg_remove_lv(h->vg, lv);
	}
	if (commit(h, "Write from lvremove."))
		return EXIT_FAILED;
	if (snap_fd >= 0)
		(void)lv_snapshots_changed(snap_fd);
	printf("  Logical volume \"%s\" successfully removed.\n", name ? name : "");
	return 0;
}

/* Snapshots first, then the others; never the hidden snapshotN LVs. */
static struct lvm_lv *next_to_remove(const struct lvm_vg *vg)
{
	struct lvm_lv *last = NULL;

	for (unsigned i = 0; i < vg->nlv; i++) {
		if (vg_origin_of(vg, vg->lvs[i]))
			return vg->lvs[i];
		if (!lv_is_snapshot_seg(vg->lvs[i]))
			last = vg->lvs[i];
	}
	return last;
}

int cmd_lvremove(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	int c, ret = 0;

	while ((c = getopt_common(argc, argv, "fyA:")) != -1)
		if (c == '?')
			return command_usage(command_find(argv[0]));
	if (optind >= argc)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	for (int i = optind; i < argc; i++) {
		struct vg_handle h;
		struct lvm_lv *lv;
		int r;
		if (!strchr(argv[i], '/')) {
			/* A VG: every LV in it. */
			r = open_vg(&st, argv[i], true, &h);
			if (r == 0) {
				struct lvm_lv *next;
				while (r == 0 && (next = next_to_remove(h.vg)))
					r = remove_one(&st, &h, next);
				storage_vg_close(&h);
			}
		} else {
			r = open_lv(&st, argv[i], &h, &lv);
			if (r == 0) {
				r = remove_one(&st, &h, lv);
				storage_vg_close(&h);
			}
		}
		if (r)
			ret = r;
	}
	return ret;
}

enum resize_mode { RESIZE_ANY, RESIZE_EXTEND, RESIZE_REDUCE };

static int new_extents(const struct lvm_vg *vg, const struct lvm_lv *lv,
		       const struct size_arg *a, uint64_t *ret)
{
	bool rounded;
	uint64_t cur = lv_extents(lv), n = wanted_extents(vg, lv, a, &rounded);
	char sz[64];

	if (rounded) {
		long_size(n * vg->extent_size * LVM_SECTOR, sz, sizeof(sz));
		printf("  Rounding size to boundary between physical extents: %s.\n", sz);
	}
	if (a->sign == '+')
		n = cur + n;
	else if (a->sign == '-')
		n = n >= cur ? 0 : cur - n;
	if (n == 0) {
		log_err("cannot resize %s/%s to zero extents", vg->name, lv->name);
		return EXIT_FAILED;
	}
	*ret = n;
	return 0;
}

static int check_mode(enum resize_mode mode, uint64_t cur, uint64_t n)
{
	if (mode == RESIZE_EXTEND && n <= cur) {
		log_err("new size given (%llu extents) not larger than existing size (%llu extents)",
			(unsigned long long)n, (unsigned long long)cur);
		return EXIT_FAILED;
	}
	if (mode == RESIZE_REDUCE && n >= cur) {
		log_err("new size given (%llu extents) not less than existing size (%llu extents)",
			(unsigned long long)n, (unsigned long long)cur);
		return EXIT_FAILED;
	}
	if (n == cur) {
		log_err("new size (%llu extents) matches existing size (%llu extents)",
			(unsigned long long)n, (unsigned long long)cur);
		return EXIT_FAILED;
	}
	return 0;
}

/* A snapshot cannot shrink below the chunks its store already uses. */
static int check_snapshot_shrink(const struct lvm_vg *vg, const struct lvm_lv *cow, uint64_t n)
{
	uint64_t used, ext = vg->extent_size * LVM_SECTOR;
	bool valid;
	char a[64];
	int r = lv_snapshot_status(vg, cow, &used, &valid);

	if (r < 0) {
		log_err("cannot read snapshot %s/%s: %s", vg->name, cow->name, strerror(-r));
		return EXIT_FAILED;
	}
	if (valid && n * ext < used) {
		long_size(used, a, sizeof(a));
		log_err("cannot shrink snapshot %s/%s below what it holds (%s)", vg->name,
			cow->name, a);
		return EXIT_FAILED;
	}
	return 0;
}

static int do_resize(const struct storage *st, const char *arg, const struct size_arg *a,
		     enum resize_mode mode)
{
	_cleanup_close_ int claim = -1, snap_fd = -1;
	struct vg_handle h;
	struct lvm_lv *lv;
	uint64_t cur, n;
	char from[64], to[64];
	int r = open_lv(st, arg, &h, &lv);

	if (r)
		return r;
	cur = lv_extents(lv);
	r = new_extents(h.vg, lv, a, &n);
	if (r == 0)
		r = check_mode(mode, cur, n);
	if (r == 0 && n < cur && (claim = lv_claim(st, lv->id)) == -EBUSY) {
		log_in_use(st, h.vg->name, lv);
		r = EXIT_FAILED;
	}
	const struct lvm_lv *origin = vg_origin_of(h.vg, lv);
	if (r == 0 && origin && n < cur)
		r = check_snapshot_shrink(h.vg, lv, n);
	if (r == 0 && origin && (snap_fd = lv_snap_lock(st, origin->id)) < 0)
		r = EXIT_FAILED;
	if (r == 0) {
		r = vg_resize_lv(h.vg, lv, n);
		if (r == -ENOSPC)
			log_nospace(h.vg, n - cur);
		else if (r == -EPERM && lv_is_origin(h.vg, lv))
			log_err("cannot resize %s/%s: it has snapshots", h.vg->name, lv->name);
		else if (r == -EPERM)
			log_err("cannot resize %s/%s: its segment type is not supported",
				h.vg->name, lv->name);
		else if (r < 0)
			log_err("cannot resize %s/%s: %s", h.vg->name, lv->name, strerror(-r));
		r = r < 0 ? EXIT_FAILED : commit(&h, "Write from lvresize.");
	}
	if (r == 0) {
		uint64_t ext = h.vg->extent_size * LVM_SECTOR;
		long_size(cur * ext, from, sizeof(from));
		long_size(n * ext, to, sizeof(to));
		printf("  Size of logical volume %s/%s changed from %s (%llu extents) to %s "
		       "(%llu extents).\n", h.vg->name, lv->name, from, (unsigned long long)cur, to,
		       (unsigned long long)n);
		printf("  Logical volume %s/%s successfully resized.\n", h.vg->name, lv->name);
		if (snap_fd >= 0)
			(void)lv_snapshots_changed(snap_fd);
	}
	storage_vg_close(&h);
	return r;
}

static int run_resize(struct cli_ctx *ctx, int argc, char **argv, enum resize_mode mode)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 'L' },
		{ "extents", required_argument, NULL, 'l' },
		{ "resizefs", no_argument, NULL, 'r' },
		{ "force", no_argument, NULL, 'f' },
		{ "yes", no_argument, NULL, 'y' },
		{ "nofsck", no_argument, NULL, 'n' },
		{ "driverloaded", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_(storage_release) struct storage st = { 0 };
	struct size_arg a = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "L:l:rfyn", opts, NULL)) != -1) {
		switch (c) {
		case 'L':
			if (parse_size_arg(optarg, &a) < 0) {
				log_err("invalid size \"%s\"", optarg);
				return 3;
			}
			break;
		case 'l':
			if (parse_extents(optarg, &a) < 0) {
				log_err("invalid number of extents \"%s\"", optarg);
				return 3;
			}
			break;
		case 'r':
			log_err("resizing the file system (-r) is not supported; resize it in the guest");
			return 3;
		case 'f': case 'y': case 'n': case 'D': break;
		default: return command_usage(command_find(argv[0]));
		}
	}
	if (optind >= argc || !a.set)
		return command_usage(command_find(argv[0]));
	if ((mode == RESIZE_EXTEND && a.sign == '-') || (mode == RESIZE_REDUCE && a.sign == '+')) {
		log_err("invalid sign in size \"%s\"", a.is_extents ? "-l" : "-L");
		return 3;
	}
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	return do_resize(&st, argv[optind], &a, mode);
}

int cmd_lvextend(struct cli_ctx *ctx, int argc, char **argv)
{
	return run_resize(ctx, argc, argv, RESIZE_EXTEND);
}

int cmd_lvreduce(struct cli_ctx *ctx, int argc, char **argv)
{
	return run_resize(ctx, argc, argv, RESIZE_REDUCE);
}

int cmd_lvresize(struct cli_ctx *ctx, int argc, char **argv)
{
	return run_resize(ctx, argc, argv, RESIZE_ANY);
}

int cmd_lvrename(struct cli_ctx *ctx, int argc, char **argv)
{
	_cleanup_(storage_release) struct storage st = { 0 };
	_cleanup_free_ char *from = NULL, *to = NULL, *tovg = NULL;
	struct vg_handle h;
	struct lvm_lv *lv;
	int r;

	/* lvrename VG OLD NEW | VG/OLD NEW | VG/OLD VG/NEW */
	if (argc == 4)
		from = strprintf("%s/%s", argv[1], argv[2]);
	else if (argc == 3)
		from = strdup(argv[1]);
	else
		return command_usage(command_find(argv[0]));
	const char *newarg = argv[argc - 1];
	if (!from || storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	if (strchr(newarg, '/') && split_lv(newarg, &tovg, &to) < 0) {
		log_err("invalid logical volume name \"%s\"", newarg);
		return 3;
	}
	if (!to && !(to = strdup(newarg)))
		return EXIT_FAILED;
	r = open_lv(&st, from, &h, &lv);
	if (r)
		return r;
	if (tovg && !streq(tovg, h.vg->name)) {
		log_err("cannot move a logical volume to another volume group (\"%s\")", tovg);
		r = 3;
	} else {
		_cleanup_free_ char *old = strdup(lv->name);
		r = vg_rename_lv(h.vg, lv, to);
		if (r == -EEXIST)
			log_err("logical volume \"%s\" already exists in volume group \"%s\"", to,
				h.vg->name);
		else if (r == -EINVAL)
			log_err("invalid logical volume name \"%s\"", to);
		r = r < 0 ? EXIT_FAILED : commit(&h, "Write from lvrename.");
		if (r == 0)
			printf("  Renamed \"%s\" to \"%s\" in volume group \"%s\"\n", old ? old : "",
			       to, h.vg->name);
	}
	storage_vg_close(&h);
	return r;
}

/* ----------------------------------------------------------- lvconvert */

/* Claims on a snapshot and its origin, and their names, for a merge. */
struct merge_plan {
	int claims[2];
	char *vg, *cow, *origin_id;
};

static int plan_merge(const struct storage *st, const char *arg, struct merge_plan *m)
{
	_cleanup_free_ char *lvname = NULL;
	struct vg_handle h;
	int r = split_lv(arg, &m->vg, &lvname);

	if (r < 0) {
		log_err("invalid snapshot name \"%s\" (expected VG/LV)", arg);
		return 3;
	}
	r = open_vg(st, m->vg, true, &h);
	if (r)
		return r;
	struct lvm_lv *cow = vg_find_lv(h.vg, lvname), *origin = cow ? vg_origin_of(h.vg, cow) : NULL;
	if (!origin) {
		log_err("%s is not a snapshot", arg);
		r = EXIT_FAILED;
	}
	for (int i = 0; r == 0 && i < 2; i++) {
		const struct lvm_lv *lv = i ? origin : cow;
		m->claims[i] = lv_claim(st, lv->id);
		if (m->claims[i] < 0) {
			log_in_use(st, m->vg, lv);
			r = EXIT_FAILED;
		}
	}
	if (r == 0) {
		m->cow = strdup(cow->name);
		m->origin_id = strdup(origin->id);
		r = m->cow && m->origin_id ? 0 : EXIT_FAILED;
	}
	storage_vg_close(&h);
	return r;
}

static int finish_merge(const struct storage *st, struct merge_plan *m)
{
	_cleanup_close_ int snap_fd = -1;
	struct vg_handle h;
	struct lvm_lv *cow;
	int r = open_vg(st, m->vg, true, &h); /* V_ before S_ */

	if (r)
		return r;
	snap_fd = lv_snap_lock(st, m->origin_id);
	cow = vg_find_lv(h.vg, m->cow);
	if (cow && vg_origin_of(h.vg, cow)) {
		vg_remove_snapshot(h.vg, cow);
		r = commit(&h, "Write from lvconvert --merge.");
		if (r == 0 && snap_fd >= 0)
			(void)lv_snapshots_changed(snap_fd);
	}
	storage_vg_close(&h);
	return r;
}

int cmd_lvconvert(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "merge", no_argument, NULL, 'M' },
		{ "yes", no_argument, NULL, 'y' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_(storage_release) struct storage st = { 0 };
	struct merge_plan m = { .claims = { -1, -1 } };
	bool merge = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "y", opts, NULL)) != -1) {
		if (c == '?')
			return command_usage(command_find(argv[0]));
		merge = merge || c == 'M';
	}
	if (!merge || optind + 1 != argc)
		return command_usage(command_find(argv[0]));
	if (storage_open(ctx, &st) < 0)
		return EXIT_FAILED;
	r = plan_merge(&st, argv[optind], &m);
	if (r == 0) {
		printf("  Merging of volume %s started.\n", argv[optind]);
		r = lv_snapshot_merge(&st, m.vg, m.cow);
		if (r == -EINVAL)
			log_err("cannot merge %s: the snapshot is invalid", argv[optind]);
		else if (r < 0)
			log_err("cannot merge %s: %s", argv[optind], strerror(-r));
		r = r < 0 ? EXIT_FAILED : finish_merge(&st, &m);
	}
	if (r == 0)
		printf("  Merged %s into its origin.\n", argv[optind]);
	for (int i = 0; i < 2; i++)
		if (m.claims[i] >= 0)
			close(m.claims[i]);
	free(m.vg);
	free(m.cow);
	free(m.origin_id);
	return r;
}
