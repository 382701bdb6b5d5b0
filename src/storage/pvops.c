/* pvops.c - operations that change which PVs exist or belong to a VG:
 * pvcreate, pvremove, vgcreate, vgextend, vgreduce, vgremove, and
 * vgcfgbackup/vgcfgrestore (storage.h). Lock order: V_<vg> before
 * P_orphans before P_devices. */
#include "storage/storage.h"

#include "storage/pv.h"
#include "storage/sio.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BACKUP_MAX (64u * 1024 * 1024)

/* Checks on what D holds; see storage_check_free. */
static int check_scanned(const struct pv_scan *d)
{
	if (d->err < 0)
		return d->err;
	if (d->outdated)
		return 0;
	if (d->vg_name || (d->is_pv && d->mda_err == -EBADMSG) ||
	    (d->is_pv && (d->label.ext_flags & PV_EXT_USED)))
		return -EBUSY;
	return 0;
}

/* storage_check_free, also returning what PATH holds in *RET_D. */
static int check_free(const struct storage *st, const char *path, struct pv_scan *ret_d)
{
	_cleanup_(storage_scan_release) struct storage_scan sc = { 0 };
	const struct pv_scan *d;
	int r = storage_scan(st, &sc);

	if (r < 0)
		return r;
	d = storage_scan_find(&sc, path);
	if (!d) {
		r = storage_probe(path, ret_d);
		return r < 0 ? r : check_scanned(ret_d);
	}
	*ret_d = (struct pv_scan){ .path = strdup(path), .err = d->err, .is_pv = d->is_pv,
				   .label = d->label, .mda_err = d->mda_err,
				   .outdated = d->outdated };
	if (!ret_d->path)
		return -ENOMEM;
	return check_scanned(d);
}

int storage_check_free(const struct storage *st, const char *path)
{
	_cleanup_(pv_scan_release) struct pv_scan d = { 0 };

	return check_free(st, path, &d);
}

static int format_path(const char *path, uint64_t metadata_size, struct lvm_pv_label *ret)
{
	struct pv_format_opts o = { .metadata_size = metadata_size };
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return pv_format(fd, &o, ret);
}

int storage_pvcreate(const struct storage *st, const char *path, uint64_t metadata_size)
{
	_cleanup_close_ int lock = storage_lock(st, "P_orphans", true, false);
	_cleanup_(pv_scan_release) struct pv_scan d = { 0 };
	struct lvm_pv_label l;
	int r;

	if (lock < 0)
		return lock;
	r = check_free(st, path, &d);
	if (r == 0)
		r = format_path(path, metadata_size, &l);
	if (r == 0)
		r = storage_device_add(st, path);
	return r;
}

int storage_pvremove(const struct storage *st, const char *path)
{
	_cleanup_close_ int lock = storage_lock(st, "P_orphans", true, false);
	_cleanup_(pv_scan_release) struct pv_scan d = { 0 };
	_cleanup_close_ int fd = -1;
	int r;

	if (lock < 0)
		return lock;
	r = check_free(st, path, &d);
	if (r < 0)
		return r;
	if (!d.is_pv)
		return -ENOENT;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = pv_wipe(fd);
	if (r == 0)
		r = storage_device_remove(st, path);
	return r;
}

/* Set or clear the "used" flag in the labels of the VG's PVs. */
static int mark_pvs(struct lvm_vg *vg, bool used)
{
	for (unsigned p = 0; p < vg->npv; p++) {
		struct lvm_pv *pv = vg->pvs[p];
		uint32_t flags = used ? (pv->label.ext_flags | PV_EXT_USED)
				      : (pv->label.ext_flags & ~PV_EXT_USED);
		if (flags == pv->label.ext_flags || pv->label.ext_version < 2)
			continue;
		_cleanup_close_ int fd = open(pv->path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		pv->label.ext_flags = flags;
		int r = pv_write_label(fd, &pv->label);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Make each of PATHS a PV of VG (formatting those that are not PVs yet). */
static int add_paths(const struct storage *st, struct lvm_vg *vg, char *const *paths,
		     unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		_cleanup_(pv_scan_release) struct pv_scan d = { 0 };
		struct lvm_pv_label l;
		int r = check_free(st, paths[i], &d);
		if (r < 0)
			return r;
		if (d.is_pv) {
			l = d.label;
		} else {
			r = format_path(paths[i], 0, &l);
			if (r < 0)
				return r;
		}
		r = storage_device_add(st, paths[i]);
		if (r < 0)
			return r;
		if (l.n_data == 0)
			return -EINVAL;
		r = vg_add_pv(vg, &l, paths[i], l.data[0].offset / LVM_SECTOR);
		if (r < 0)
			return r;
	}
	return 0;
}

int storage_vgcreate(const struct storage *st, const char *name, char *const *paths,
		     unsigned n, uint64_t extent_sectors)
{
	_cleanup_free_ char *lockname = strprintf("V_%s", name);
	_cleanup_(storage_scan_release) struct storage_scan sc = { 0 };
	_cleanup_close_ int orphans = -1;
	_cleanup_strv_free_ char **names = NULL;
	struct vg_handle h = { .st = st, .lock_fd = -1 };
	int r;

	if (!lockname)
		return -ENOMEM;
	if (n == 0)
		return -EINVAL;
	r = vg_new(name, extent_sectors, &h.vg);
	if (r < 0)
		return r;
	h.lock_fd = storage_lock(st, lockname, true, false);
	orphans = storage_lock(st, "P_orphans", true, false);
	r = h.lock_fd < 0 ? h.lock_fd : orphans < 0 ? orphans : 0;
	if (r == 0)
		r = storage_scan(st, &sc);
	if (r == 0)
		r = storage_vg_names(&sc, &names);
	for (char **s = names; r == 0 && *s; s++)
		if (streq(*s, name))
			r = -EEXIST;
	if (r == 0)
		r = add_paths(st, h.vg, paths, n);
	if (r == 0)
		r = storage_vg_commit(&h, "Write from vgcreate.");
	if (r == 0)
		r = mark_pvs(h.vg, true);
	storage_vg_close(&h);
	return r;
}

int storage_vgextend(struct vg_handle *h, char *const *paths, unsigned n)
{
	_cleanup_close_ int orphans = storage_lock(h->st, "P_orphans", true, false);
	int r;

	if (orphans < 0)
		return orphans;
	if (h->missing_pvs)
		return -ENXIO;
	r = add_paths(h->st, h->vg, paths, n);
	if (r == 0)
		r = storage_vg_commit(h, "Write from vgextend.");
	if (r == 0)
		r = mark_pvs(h->vg, true);
	return r;
}

/* Clear the used flag of the PV at PATH, then empty its metadata areas.
 * In this order an interruption leaves either a used PV with metadata the
 * VG has moved past (seen as outdated, so free), or an orphan. */
static int release_pv(const char *path, struct lvm_pv_label *label)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (label->ext_flags & PV_EXT_USED) {
		label->ext_flags &= ~PV_EXT_USED;
		r = pv_write_label(fd, label);
	}
	for (unsigned m = 0; r == 0 && m < label->n_mda; m++)
		r = pv_mda_clear(fd, label, m);
	return r;
}

int storage_vgreduce(struct vg_handle *h, char *const *paths, unsigned n)
{
	_cleanup_close_ int orphans = storage_lock(h->st, "P_orphans", true, false);
	_cleanup_free_ struct lvm_pv_label *labels = calloc(n + 1, sizeof(*labels));
	int r;

	if (orphans < 0)
		return orphans;
	if (!labels)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		int idx = -1;
		for (unsigned p = 0; p < h->vg->npv; p++)
			if (h->vg->pvs[p]->path && streq(h->vg->pvs[p]->path, paths[i]))
				idx = (int)p;
		if (idx < 0)
			return -ENOENT;
		if (h->vg->npv == 1)
			return -EINVAL; /* the last PV: that is vgremove */
		labels[i] = h->vg->pvs[idx]->label;
		r = vg_remove_pv(h->vg, (unsigned)idx);
		if (r < 0)
			return r;
	}
	r = storage_vg_commit(h, "Write from vgreduce.");
	for (unsigned i = 0; r == 0 && i < n; i++)
		r = release_pv(paths[i], &labels[i]);
	return r;
}

int storage_vgremove(struct vg_handle *h)
{
	_cleanup_close_ int orphans = storage_lock(h->st, "P_orphans", true, false);
	_cleanup_free_ char *backup = NULL;
	int r = 0;

	if (orphans < 0)
		return orphans;
	if (h->vg->nlv)
		return -ENOTEMPTY;
	for (unsigned p = 0; r == 0 && p < h->vg->npv; p++)
		if (h->vg->pvs[p]->path)
			r = release_pv(h->vg->pvs[p]->path, &h->vg->pvs[p]->label);
	backup = strprintf("%s/%s", h->st->backup_dir, h->vg->name);
	if (r == 0 && backup)
		(void)unlink(backup);
	return r;
}

int storage_vg_backup(struct vg_handle *h, const char *file)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = vg_export(h->vg, "Created by vgcfgbackup.", h->st->host, (int64_t)time(NULL),
			  &text, &len);

	if (r < 0)
		return r;
	return write_file_atomic(file, text, len - 1, 0600);
}

/* Attach listed devices to the PVs of VG by UUID; the highest seqno of any
 * copy of this VG on them goes to *SEQNO. -ENXIO if a PV is missing. */
static int restore_match(const struct storage_scan *sc, struct lvm_vg *vg, uint64_t *seqno)
{
	for (unsigned p = 0; p < vg->npv; p++) {
		struct lvm_pv *pv = vg->pvs[p];
		for (size_t i = 0; i < sc->n && !pv->path; i++) {
			const struct pv_scan *d = &sc->devs[i];
			if (!d->is_pv || !streq(d->label.uuid, pv->id))
				continue;
			pv->path = strdup(d->path);
			if (!pv->path)
				return -ENOMEM;
			pv->label = d->label;
			if (d->vg_name && streq(d->vg_id, vg->id) && d->seqno > *seqno)
				*seqno = d->seqno;
		}
		if (!pv->path)
			return -ENXIO;
	}
	return 0;
}

int storage_vgcfgrestore(const struct storage *st, const char *name, const char *file)
{
	_cleanup_free_ char *lockname = strprintf("V_%s", name);
	_cleanup_free_ char *deflt = strprintf("%s/%s", st->backup_dir, name);
	_cleanup_free_ char *text = NULL;
	_cleanup_(storage_scan_release) struct storage_scan sc = { 0 };
	struct vg_handle h = { .st = st, .lock_fd = -1 };
	size_t len;
	int r;

	if (!lockname || !deflt)
		return -ENOMEM;
	r = read_file(file ? file : deflt, BACKUP_MAX, &text, &len);
	if (r < 0)
		return r;
	r = vg_import(text, len, &h.vg);
	if (r < 0)
		return r;
	if (!streq(h.vg->name, name)) {
		storage_vg_close(&h);
		return -EINVAL;
	}
	h.lock_fd = storage_lock(st, lockname, true, false);
	r = h.lock_fd < 0 ? h.lock_fd : storage_scan(st, &sc);
	if (r == 0)
		r = restore_match(&sc, h.vg, &h.vg->seqno);
	if (r == 0)
		r = storage_vg_commit(&h, "Restore from vgcfgrestore.");
	if (r == 0)
		r = mark_pvs(h.vg, true);
	storage_vg_close(&h);
	return r;
}
