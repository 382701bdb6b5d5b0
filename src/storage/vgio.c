/* vgio.c - scanning listed devices, opening a VG (newest valid copy of its
 * metadata) and committing it to every PV (storage.h). */
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

void pv_scan_release(struct pv_scan *d)
{
	free(d->path);
	free(d->vg_name);
	free(d->text);
}

void storage_scan_release(struct storage_scan *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		pv_scan_release(&sc->devs[i]);
	free(sc->devs);
	*sc = (struct storage_scan){ 0 };
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '+' || c == '-';
}

/* Fast path: name, id and seqno lead the text lvm2 and Domus write
 * ("NAME {", then "id = ..." and "seqno = N" before any section), so a scan
 * needs no full parse. -ENOENT when the head looks otherwise. */
static int head_summary(const char *text, size_t len, struct pv_scan *d)
{
	const char *p = text, *end = text + len, *name;
	char id[LVM_UUID_STR_LEN + 1] = "";
	uint64_t seqno = 0;
	bool got_seqno = false;

	while (p < end && (*p == ' ' || *p == '\n' || *p == '\t'))
		p++;
	for (name = p; p < end && name_char(*p); p++)
		;
	size_t nlen = (size_t)(p - name);
	while (p < end && *p == ' ')
		p++;
	if (!nlen || nlen > LVM_NAME_MAX || p >= end || *p != '{')
		return -ENOENT;
	/* Lines of the VG section up to its first subsection. */
	p = memchr(p, '\n', (size_t)(end - p));
	for (int lines = 0; p && lines < 32; lines++) {
		const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol || memchr(line, '{', (size_t)(eol - line)))
			break;
		size_t n = (size_t)(eol - line);
		if (n == 6 + LVM_UUID_STR_LEN + 1 && memcmp(line, "id = \"", 6) == 0 &&
		    line[n - 1] == '"') {
			memcpy(id, line + 6, LVM_UUID_STR_LEN);
		} else if (n > 8 && memcmp(line, "seqno = ", 8) == 0) {
			char *e;
			seqno = strtoull(line + 8, &e, 10);
			got_seqno = e == eol;
		}
		p = eol;
	}
	if (!id[0] || !got_seqno || lvm_uuid_parse(id, d->vg_id) < 0)
		return -ENOENT;
	d->seqno = seqno;
	d->vg_name = strndup(name, nlen);
	return d->vg_name ? 0 : -ENOMEM;
}

/* Name, id and seqno of the VG described by TEXT. */
static int text_summary(const char *text, size_t len, struct pv_scan *d)
{
	if (head_summary(text, len, d) == 0)
		return 0;
	struct cfg_node *root = NULL;
	const struct cfg_node *vg = NULL;
	int r = cfg_parse(text, len, &root, NULL);

	if (r < 0)
		return -EBADMSG;
	for (const struct cfg_node *c = root->child; c; c = c->next)
		if (c->type == CFG_SECTION)
			vg = c;
	r = -EBADMSG;
	const char *id;
	if (vg && cfg_get_str(vg, "id", &id) == 0 && lvm_uuid_parse(id, d->vg_id) == 0 &&
	    cfg_get_u64(vg, "seqno", &d->seqno) == 0) {
		d->vg_name = strdup(vg->key);
		r = d->vg_name ? 0 : -ENOMEM;
	}
	cfg_free(root);
	return r;
}

static void scan_one(struct pv_scan *d)
{
	_cleanup_close_ int fd = open(d->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		d->err = -errno;
		return;
	}
	d->err = pv_read_label(fd, &d->label);
	if (d->err == -ENOENT) {
		d->err = 0;
		return;
	}
	if (d->err < 0)
		return;
	d->is_pv = true;
	d->mda_err = -ENODATA;
	for (unsigned i = 0; i < d->label.n_mda; i++) {
		struct pv_scan cand = { 0 };
		int r = pv_read_metadata(fd, &d->label, i, &cand.text, &cand.len);
		if (r == 0)
			r = text_summary(cand.text, cand.len, &cand);
		if (r < 0) {
			if (d->mda_err == -ENODATA)
				d->mda_err = r;
			pv_scan_release(&cand);
			continue;
		}
		if (!d->text || cand.seqno > d->seqno) {
			free(d->text);
			free(d->vg_name);
			d->text = TAKE_PTR(cand.text);
			d->len = cand.len;
			d->vg_name = TAKE_PTR(cand.vg_name);
			memcpy(d->vg_id, cand.vg_id, sizeof(d->vg_id));
			d->seqno = cand.seqno;
			d->mda_err = 0;
		}
		pv_scan_release(&cand);
	}
}

int storage_probe(const char *path, struct pv_scan *ret)
{
	struct pv_scan d = { .path = strdup(path) };

	if (!d.path)
		return -ENOMEM;
	scan_one(&d);
	*ret = d;
	return 0;
}

static const struct pv_scan *newest_of_id(const struct storage_scan *sc, const char *id);

/* Devices whose VG metadata is older than the VG's newest copy and no longer
 * lists them left the VG (interrupted vgreduce): they count as orphans. */
static void mark_outdated(struct storage_scan *sc)
{
	for (size_t i = 0; i < sc->n; i++) {
		struct pv_scan *d = &sc->devs[i];
		const struct pv_scan *newest;
		char uuid[LVM_UUID_STR_LEN + 1];
		if (!d->vg_name)
			continue;
		newest = newest_of_id(sc, d->vg_id);
		if (newest->seqno == d->seqno)
			continue;
		lvm_uuid_format(d->label.uuid, uuid);
		if (strstr(newest->text, uuid))
			continue;
		d->outdated = true;
		free(d->vg_name);
		d->vg_name = NULL;
	}
}

int storage_scan(const struct storage *st, struct storage_scan *ret)
{
	_cleanup_strv_free_ char **devs = NULL;
	struct storage_scan sc = { 0 };
	size_t n = 0;
	int r = storage_devices(st, &devs);

	if (r < 0)
		return r;
	while (devs[n])
		n++;
	sc.devs = calloc(n + 1, sizeof(*sc.devs));
	if (!sc.devs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		sc.devs[i].path = TAKE_PTR(devs[i]);
		sc.n++;
		scan_one(&sc.devs[i]);
	}
	mark_outdated(&sc);
	*ret = sc;
	return 0;
}

const struct pv_scan *storage_scan_find(const struct storage_scan *sc, const char *path)
{
	for (size_t i = 0; i < sc->n; i++)
		if (streq(sc->devs[i].path, path))
			return &sc->devs[i];
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The newest copy of VG ID on the scanned devices: it decides the VG's name
 * (an older copy may still carry the old name after an interrupted
 * vgrename). */
static const struct pv_scan *newest_of_id(const struct storage_scan *sc, const char *id)
{
	const struct pv_scan *best = NULL;

	for (size_t i = 0; i < sc->n; i++) {
		const struct pv_scan *d = &sc->devs[i];
		if (d->vg_name && streq(d->vg_id, id) && (!best || d->seqno > best->seqno))
			best = d;
	}
	return best;
}

int storage_vg_names(const struct storage_scan *sc, char ***ret)
{
	char **v = calloc(sc->n + 1, sizeof(char *));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < sc->n; i++) {
		bool dup = false;
		if (!sc->devs[i].vg_name)
			continue;
		const char *name = newest_of_id(sc, sc->devs[i].vg_id)->vg_name;
		for (size_t k = 0; k < n; k++)
			dup = dup || streq(v[k], name);
		if (dup)
			continue;
		v[n] = strdup(name);
		if (!v[n++]) {
			strv_free(v);
			return -ENOMEM;
		}
	}
	qsort(v, n, sizeof(char *), cmp_str);
	*ret = v;
	return 0;
}

/* Newest copy of VG NAME in SC; -ENOENT, -ENOTUNIQ. */
static int best_copy(const struct storage_scan *sc, const char *name, const struct pv_scan **ret)
{
	const struct pv_scan *best = NULL;

	for (size_t i = 0; i < sc->n; i++) {
		const struct pv_scan *d = &sc->devs[i];
		if (!d->vg_name)
			continue;
		d = newest_of_id(sc, d->vg_id);
		if (!streq(d->vg_name, name))
			continue;
		if (best && !streq(best->vg_id, d->vg_id))
			return -ENOTUNIQ;
		best = d;
	}
	if (!best)
		return -ENOENT;
	*ret = best;
	return 0;
}

/* Attach scanned paths and labels to the VG's PVs (matched by UUID). */
static int match_pvs(struct vg_handle *h, const struct storage_scan *sc, uint64_t seqno)
{
	for (unsigned p = 0; p < h->vg->npv; p++) {
		struct lvm_pv *pv = h->vg->pvs[p];
		for (size_t i = 0; i < sc->n && !pv->path; i++) {
			const struct pv_scan *d = &sc->devs[i];
			if (!d->is_pv || !streq(d->label.uuid, pv->id))
				continue;
			pv->path = strdup(d->path);
			if (!pv->path)
				return -ENOMEM;
			pv->label = d->label;
			h->ncopies += d->label.n_mda;
			if (d->mda_err || d->seqno != seqno || !streq(d->vg_id, h->vg->id))
				h->nstale += d->label.n_mda;
		}
		if (!pv->path)
			h->missing_pvs = true;
	}
	return 0;
}

int storage_vg_open(const struct storage *st, const char *name, bool write,
		    struct vg_handle *ret)
{
	_cleanup_free_ char *lockname = strprintf("V_%s", name);
	_cleanup_(storage_scan_release) struct storage_scan sc = { 0 };
	struct vg_handle h = { .st = st, .lock_fd = -1 };
	const struct pv_scan *best;
	int r;

	if (!lockname)
		return -ENOMEM;
	if (!lvm_vg_name_valid(name))
		return -EINVAL;
	h.lock_fd = storage_lock(st, lockname, write, false);
	if (h.lock_fd < 0)
		return h.lock_fd;
	r = storage_scan(st, &sc);
	if (r == 0)
		r = best_copy(&sc, name, &best);
	if (r == 0)
		r = vg_import(best->text, best->len, &h.vg);
	if (r == 0)
		r = match_pvs(&h, &sc, best->seqno);
	if (r < 0) {
		storage_vg_close(&h);
		return r == -EINVAL ? -EBADMSG : r;
	}
	*ret = h;
	return 0;
}

void storage_vg_close(struct vg_handle *h)
{
	h->vg = vg_free(h->vg);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	h->lock_fd = -1;
}

struct mda_txn {
	int fd;
	unsigned pv, mda;
	struct lvm_mda_header hdr;
};

static int backup_write(const struct storage *st, const char *name, const char *text,
			size_t len)
{
	_cleanup_free_ char *path = strprintf("%s/%s", st->backup_dir, name);
	int r = mkdir_p(st->backup_dir, 0700);

	if (r < 0)
		return r;
	return path ? write_file_atomic(path, text, len - 1, 0600) : -ENOMEM;
}

static int commit_txns(struct vg_handle *h, const char *text, size_t len,
		       struct mda_txn *t, size_t *nt)
{
	const struct lvm_vg *vg = h->vg;
	int r;

	for (unsigned p = 0; p < vg->npv; p++) {
		const struct lvm_pv *pv = vg->pvs[p];
		int fd = open(pv->path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		for (unsigned m = 0; m < pv->label.n_mda; m++) {
			t[*nt] = (struct mda_txn){ fd, p, m, { 0 } };
			(*nt)++;
			r = pv_mda_precommit(fd, &pv->label, m, text, len, &t[*nt - 1].hdr);
			if (r < 0)
				return r;
		}
		if (pv->label.n_mda == 0)
			close(fd);
	}
	if (*nt == 0)
		return -ENOSPC; /* no metadata area at all */
	for (size_t i = 0; i < *nt; i++) {
		r = pv_mda_commit(t[i].fd, &vg->pvs[t[i].pv]->label, t[i].mda, &t[i].hdr);
		if (r < 0)
			return r;
	}
	return 0;
}

int storage_vg_commit(struct vg_handle *h, const char *description)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ struct mda_txn *t = NULL;
	size_t len, nt = 0, cap = 0;
	int r;

	if (h->missing_pvs)
		return -ENXIO;
	for (unsigned p = 0; p < h->vg->npv; p++)
		cap += h->vg->pvs[p]->label.n_mda;
	t = calloc(cap + 1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	h->vg->seqno++;
	r = vg_export(h->vg, description, h->st->host, (int64_t)time(NULL), &text, &len);
	if (r < 0)
		return r;
	r = commit_txns(h, text, len, t, &nt);
	for (size_t i = 0; i < nt; i++)
		if (i == 0 || t[i].fd != t[i - 1].fd)
			close(t[i].fd);
	if (r < 0)
		return r;
	h->nstale = 0;
	(void)backup_write(h->st, h->vg->name, text, len);
	return 0;
}
