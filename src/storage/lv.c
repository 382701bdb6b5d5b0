/* lv.c - byte-offset I/O on logical volumes, with classic snapshots:
 * copy-out on origin writes, snapshot reads and writes, merge (lv.h). */
#include "storage/lv.h"

#include "storage/cow.h"
#include "storage/lvmap.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define COPY_MAX (1024 * 1024) /* bytes copied out per I/O */

struct lv_handle {
	const struct storage *st;
	char *vg, *name;
	char id[LVM_ID_LEN + 1];        /* the LV opened */
	char origin_id[LVM_ID_LEN + 1]; /* key of the snapshot state lock */
	int flags;
	int lock_fd, snap_fd;
	uint64_t seqno, size;
	uint64_t gen[2];                /* snapshot set, exception tables */
	bool is_snapshot, loaded;
	struct lvmap base;              /* own extents, or the origin's */
	struct cow_store *snaps;        /* origin: its snapshots; snapshot: itself */
	unsigned nsnaps;
	uint8_t *buf;                   /* COPY_MAX bytes for copy-out */
};

/* ------------------------------------------------ snapshot state lock */

static int snap_open(const struct storage *st, const char *origin_id)
{
	_cleanup_free_ char *path = strprintf("%s/S_%s", st->lock_dir, origin_id);
	int fd, r;

	if (!path)
		return -ENOMEM;
	r = mkdir_p(st->lock_dir, 0700);
	if (r < 0)
		return r;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

static int snap_flock(int fd, int op)
{
	while (flock(fd, op) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static void read_gens(int fd, uint64_t gen[2])
{
	if (pread(fd, gen, 2 * sizeof(uint64_t), 0) != 2 * sizeof(uint64_t))
		gen[0] = gen[1] = 0;
}

static int bump_gen(int fd, unsigned which)
{
	uint64_t gen[2];

	read_gens(fd, gen);
	gen[which]++;
	return pwrite(fd, gen, sizeof(gen), 0) == sizeof(gen) ? 0 : -EIO;
}

int lv_snap_lock(const struct storage *st, const char *origin_id)
{
	int fd = snap_open(st, origin_id), r;

	if (fd < 0)
		return fd;
	r = snap_flock(fd, LOCK_EX);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int lv_snapshots_changed(int fd)
{
	return bump_gen(fd, 0);
}

int lv_claim(const struct storage *st, const char *lv_id)
{
	_cleanup_free_ char *name = strprintf("L_%s", lv_id);
	int fd;

	if (!name)
		return -ENOMEM;
	fd = storage_lock(st, name, true, true);
	return fd == -EWOULDBLOCK ? -EBUSY : fd;
}

bool lv_in_use(const struct storage *st, const char *lv_id)
{
	_cleanup_free_ char *path = strprintf("%s/L_%s", st->lock_dir, lv_id);
	_cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

	/* No lock file: never opened since boot (run/ is volatile). */
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	return false; /* closing FD drops the probe lock */
}

/* ------------------------------------------------------------ loading */

static void unload(struct lv_handle *h)
{
	lvmap_release(&h->base);
	for (unsigned i = 0; i < h->nsnaps; i++)
		cow_release(&h->snaps[i]);
	free(h->snaps);
	h->snaps = NULL;
	h->nsnaps = 0;
	h->loaded = false;
}

static int load_store(const struct lvm_vg *vg, const struct lvm_lv *cow, bool write,
		      struct cow_store *ret)
{
	const struct lvm_lv *s = vg_snapshot_of(vg, cow);
	struct lvmap dev;
	int r;

	if (!s)
		return -EINVAL;
	r = lvmap_build(vg, cow, write, &dev);
	if (r < 0)
		return r;
	r = cow_load(ret, &dev, s->segs[0].chunk_size * LVM_SECTOR, write);
	if (r < 0)
		cow_release(ret);
	else
		memcpy(ret->id, cow->id, sizeof(ret->id));
	return r;
}

/* An origin opened for writing needs all its snapshots' stores. */
static int load_origin(struct lv_handle *h, const struct lvm_vg *vg, const struct lvm_lv *lv)
{
	bool write = h->flags & LV_OPEN_RDWR;
	int r = lvmap_build(vg, lv, write, &h->base);

	if (r < 0 || !write)
		return r;
	h->snaps = calloc(vg->nlv + 1, sizeof(*h->snaps));
	if (!h->snaps)
		return -ENOMEM;
	for (unsigned i = 0; i < vg->nlv; i++) {
		const struct lvm_lv *s = vg->lvs[i];
		if (!lv_is_snapshot_seg(s) || !streq(s->segs[0].origin, lv->name))
			continue;
		const struct lvm_lv *cow = vg_find_lv(vg, s->segs[0].cow_store);
		if (!cow)
			return -EBADMSG;
		r = load_store(vg, cow, true, &h->snaps[h->nsnaps]);
		if (r < 0)
			return r;
		h->nsnaps++;
	}
	return 0;
}

static int load_snapshot(struct lv_handle *h, const struct lvm_vg *vg, const struct lvm_lv *cow,
			 const struct lvm_lv *origin)
{
	int r = lvmap_build(vg, origin, false, &h->base);

	if (r < 0)
		return r;
	h->snaps = calloc(1, sizeof(*h->snaps));
	if (!h->snaps)
		return -ENOMEM;
	r = load_store(vg, cow, h->flags & LV_OPEN_RDWR, &h->snaps[0]);
	if (r == 0)
		h->nsnaps = 1;
	return r;
}

/* Read the VG again and rebuild maps and stores if it changed. */
static int refresh(struct lv_handle *h)
{
	struct vg_handle vh;
	const struct lvm_lv *lv = NULL, *origin;
	int r = storage_vg_open(h->st, h->vg, false, &vh);

	if (r < 0)
		return r;
	for (unsigned i = 0; i < vh.vg->nlv && !lv; i++)
		if (h->id[0] ? streq(vh.vg->lvs[i]->id, h->id) : streq(vh.vg->lvs[i]->name, h->name))
			lv = vh.vg->lvs[i];
	r = lv ? 0 : -ENOENT;
	if (r == 0 && vh.vg->seqno == h->seqno && h->loaded) {
		storage_vg_close(&vh);
		return 0;
	}
	unload(h);
	if (r == 0) {
		memcpy(h->id, lv->id, sizeof(h->id));
		origin = vg_origin_of(vh.vg, lv);
		h->is_snapshot = origin != NULL;
		memcpy(h->origin_id, origin ? origin->id : lv->id, sizeof(h->origin_id));
		if (origin) {
			r = load_snapshot(h, vh.vg, lv, origin);
			h->size = lv_extents(vg_snapshot_of(vh.vg, lv)) * vh.vg->extent_size * LVM_SECTOR;
		} else {
			r = load_origin(h, vh.vg, lv);
			h->size = h->base.size;
		}
		h->seqno = vh.vg->seqno;
		h->loaded = r == 0;
	}
	storage_vg_close(&vh);
	return r;
}

/* Under the snapshot lock: catch up with other handles' changes. The lock
 * is dropped while the VG is re-read (lock order: V_ before S_). */
static int catch_up(struct lv_handle *h, int op)
{
	uint64_t gen[2];
	int r;

	for (int tries = 0; tries < 100; tries++) {
		read_gens(h->snap_fd, gen);
		if (gen[0] == h->gen[0] && h->loaded)
			break;
		(void)snap_flock(h->snap_fd, LOCK_UN);
		h->seqno = 0; /* force the reload */
		r = refresh(h);
		if (r < 0)
			return r;
		h->gen[0] = gen[0];
		h->gen[1] = gen[1];
		r = snap_flock(h->snap_fd, op);
		if (r < 0)
			return r;
	}
	if (gen[1] != h->gen[1]) {
		for (unsigned i = 0; i < h->nsnaps; i++) {
			r = cow_sync(&h->snaps[i]);
			if (r < 0)
				return r;
		}
		h->gen[1] = gen[1];
	}
	return 0;
}

int lv_open(const struct storage *st, const char *name, int flags, struct lv_handle **ret)
{
	_cleanup_free_ char *lockname = NULL;
	struct lv_handle *h;
	const char *slash = strchr(name, '/');
	int r;

	if (!slash || strchr(slash + 1, '/'))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	*h = (struct lv_handle){ .st = st, .flags = flags, .lock_fd = -1, .snap_fd = -1 };
	h->vg = strndup(name, slash - name);
	h->name = strdup(slash + 1);
	h->buf = malloc(COPY_MAX);
	r = h->vg && h->name && h->buf ? 0 : -ENOMEM;
	if (r == 0 && (!lvm_vg_name_valid(h->vg) || !lvm_lv_name_valid(h->name)))
		r = -EINVAL;
	if (r == 0)
		r = refresh(h);
	lockname = r == 0 ? strprintf("L_%s", h->id) : NULL;
	if (r == 0 && !(flags & LV_OPEN_CLAIMED))
		r = lockname ? storage_lock(st, lockname, false, false) : -ENOMEM;
	if (r >= 0) {
		h->lock_fd = r;
		r = h->snap_fd = snap_open(st, h->origin_id);
	}
	if (r >= 0)
		r = snap_flock(h->snap_fd, LOCK_SH);
	if (r == 0) {
		/* Reload under the locks: the LV may have changed meanwhile. */
		h->loaded = false;
		r = catch_up(h, LOCK_SH);
		(void)snap_flock(h->snap_fd, LOCK_UN);
	}
	if (r < 0) {
		lv_close(h);
		return r;
	}
	*ret = h;
	return 0;
}

void lv_close(struct lv_handle *h)
{
	if (!h)
		return;
	unload(h);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	if (h->snap_fd >= 0)
		close(h->snap_fd);
	free(h->vg);
	free(h->name);
	free(h->buf);
	free(h);
}

const char *lv_id_of(const struct lv_handle *h)
{
	return h->id;
}

uint64_t lv_size(struct lv_handle *h)
{
	(void)refresh(h);
	return h->size;
}

/* ---------------------------------------------------------------- I/O */

static int check_range(struct lv_handle *h, uint64_t len, uint64_t off)
{
	if (off + len < off)
		return -EINVAL;
	if (off + len > h->size) {
		int r = refresh(h);
		if (r < 0)
			return r;
		if (off + len > h->size)
			return -EINVAL;
	}
	return 0;
}

/* Origin chunk OLD of S into COW chunk NEW, for N consecutive chunks. */
static int copy_run(struct lv_handle *h, struct cow_store *s, uint64_t old, uint64_t new,
		    uint64_t n)
{
	while (n) {
		uint64_t k = n * s->chunk > COPY_MAX ? COPY_MAX / s->chunk : n;
		uint64_t off = old * s->chunk, len = k * s->chunk;
		uint64_t have = off >= h->base.size ? 0 : h->base.size - off;
		int r;

		memset(h->buf, 0, len);
		r = lvmap_io(&h->base, h->buf, have < len ? have : len, off, false);
		if (r == 0)
			r = lvmap_io(&s->dev, h->buf, len, new * s->chunk, true);
		if (r < 0)
			return r;
		old += k;
		new += k;
		n -= k;
	}
	return 0;
}

struct pending {
	uint64_t old, new;
};

/* Copy the pending chunks, then commit their exceptions. */
static int flush_pending(struct lv_handle *h, struct cow_store *s, struct pending *p, size_t n)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < n;) {
		size_t k = 1;
		while (i + k < n && p[i + k].old == p[i].old + k && p[i + k].new == p[i].new + k)
			k++;
		r = copy_run(h, s, p[i].old, p[i].new, k);
		i += k;
	}
	if (r == 0 && n)
		r = lvmap_sync(&s->dev);
	if (r == 0 && n)
		r = cow_commit(s);
	if (r == 0 && n)
		r = bump_gen(h->snap_fd, 1);
	return r;
}

/* Save chunks [C0, C1] of the origin in S unless already there. */
static int save_chunks(struct lv_handle *h, struct cow_store *s, uint64_t c0, uint64_t c1)
{
	_cleanup_free_ struct pending *p = calloc(c1 - c0 + 1, sizeof(*p));
	size_t n = 0;
	int r = 0;

	if (!p)
		return -ENOMEM;
	for (uint64_t c = c0; r == 0 && c <= c1 && s->valid; c++) {
		uint64_t new;
		if (cow_lookup(s, c, &new))
			continue;
		r = cow_alloc(s, c, &new);
		if (r == -EAGAIN) {
			r = flush_pending(h, s, p, n);
			n = 0;
			if (r == 0)
				r = cow_alloc(s, c, &new);
		}
		if (r == -ENOSPC) {
			/* Full: the snapshot dies, the origin goes on. */
			r = cow_invalidate(s);
			if (r == 0)
				r = bump_gen(h->snap_fd, 1);
			return r;
		}
		if (r == 0)
			p[n++] = (struct pending){ c, new };
	}
	if (r == 0)
		r = flush_pending(h, s, p, n);
	if (r < 0 && s->valid)
		(void)cow_invalidate(s); /* as dm does on an I/O error */
	return r;
}

/* Copy-out to every valid snapshot before the origin range is changed. */
static int copy_out(struct lv_handle *h, uint64_t len, uint64_t off)
{
	for (unsigned i = 0; i < h->nsnaps; i++) {
		struct cow_store *s = &h->snaps[i];
		if (!s->valid || !len)
			continue;
		int r = save_chunks(h, s, off / s->chunk, (off + len - 1) / s->chunk);
		if (r < 0)
			return r;
	}
	return 0;
}

static int origin_write(struct lv_handle *h, const void *buf, size_t len, uint64_t off)
{
	int r = snap_flock(h->snap_fd, LOCK_EX);

	if (r < 0)
		return r;
	/* The range was checked before locking: refreshing the VG under this
	 * lock could deadlock with lvcreate -s (V_ then S_). */
	r = catch_up(h, LOCK_EX);
	if (r == 0)
		r = copy_out(h, len, off);
	if (r == 0)
		r = buf ? lvmap_io(&h->base, (void *)buf, len, off, true)
			: lvmap_discard(&h->base, len, off);
	(void)snap_flock(h->snap_fd, LOCK_UN);
	return r;
}

/* Snapshot I/O chunk by chunk: from the COW store when saved there, else
 * from the origin (reads); writes first save the chunk in the store. */
static int snapshot_io(struct lv_handle *h, uint8_t *buf, size_t len, uint64_t off, bool write)
{
	struct cow_store *s = &h->snaps[0];
	int r = 0;

	while (r == 0 && len) {
		uint64_t c = off / s->chunk, in = off % s->chunk, new;
		size_t n = s->chunk - in < len ? (size_t)(s->chunk - in) : len;
		if (!s->valid)
			return -EIO;
		if (write && !cow_lookup(s, c, &new))
			r = save_chunks(h, s, c, c);
		if (r == 0 && cow_lookup(s, c, &new))
			r = lvmap_io(&s->dev, buf, n, new * s->chunk + in, write);
		else if (r == 0 && s->valid)
			r = lvmap_io(&h->base, buf, n, off, false);
		buf += n;
		off += n;
		len -= n;
	}
	return r == 0 && !s->valid ? -EIO : r;
}

static int snapshot_op(struct lv_handle *h, uint8_t *buf, size_t len, uint64_t off, bool write)
{
	int op = write ? LOCK_EX : LOCK_SH;
	int r = snap_flock(h->snap_fd, op);

	if (r < 0)
		return r;
	r = catch_up(h, op);
	if (r == 0)
		r = snapshot_io(h, buf, len, off, write);
	(void)snap_flock(h->snap_fd, LOCK_UN);
	return r;
}

int lv_pread(struct lv_handle *h, void *buf, size_t len, uint64_t off)
{
	int r = check_range(h, len, off);

	if (r < 0)
		return r;
	if (h->is_snapshot)
		return snapshot_op(h, buf, len, off, false);
	return lvmap_io(&h->base, buf, len, off, false);
}

int lv_pwrite(struct lv_handle *h, const void *buf, size_t len, uint64_t off)
{
	if (!(h->flags & LV_OPEN_RDWR))
		return -EBADF;
	if (!buf)
		return -EINVAL;
	int r = check_range(h, len, off);
	if (r < 0)
		return r;
	if (h->is_snapshot)
		return snapshot_op(h, (uint8_t *)buf, len, off, true);
	return origin_write(h, buf, len, off);
}

int lv_map(const struct lv_handle *h, uint64_t off, int *ret_fd, uint64_t *ret_pv_off,
	   uint64_t *ret_len)
{
	if (h->is_snapshot)
		return -EOPNOTSUPP;
	if (off >= h->size)
		return -EINVAL;
	return lvmap_locate(&h->base, off, ret_fd, ret_pv_off, ret_len);
}

int lv_flush(struct lv_handle *h)
{
	int r = lvmap_sync(&h->base);

	for (unsigned i = 0; r == 0 && i < h->nsnaps; i++)
		r = lvmap_sync(&h->snaps[i].dev);
	return r;
}

int lv_discard(struct lv_handle *h, uint64_t len, uint64_t off)
{
	int r;

	if (!(h->flags & LV_OPEN_RDWR))
		return -EBADF;
	r = check_range(h, len, off);
	if (r < 0 || h->is_snapshot)
		return r; /* discarding on a snapshot is advisory: ignored */
	return origin_write(h, NULL, len, off);
}

/* ----------------------------------------------------- snapshot admin */

int lv_snapshot_init(const struct lvm_vg *vg, const struct lvm_lv *cow, uint64_t chunk)
{
	struct lvmap dev;
	int r = lvmap_build(vg, cow, true, &dev);

	if (r < 0)
		return r;
	r = cow_format(&dev, chunk);
	lvmap_release(&dev);
	return r;
}

int lv_snapshot_status(const struct lvm_vg *vg, const struct lvm_lv *cow, uint64_t *ret_used,
		       bool *ret_valid)
{
	struct cow_store s;
	int r = load_store(vg, cow, false, &s);

	if (r < 0)
		return r;
	*ret_used = cow_used_chunks(&s) * s.chunk;
	*ret_valid = s.valid;
	cow_release(&s);
	return 0;
}

struct merge_ctx {
	struct lv_handle *h;
	struct cow_store *s;
	uint8_t *buf;
};

static int merge_chunk(void *ctx, uint64_t old, uint64_t new)
{
	struct merge_ctx *m = ctx;
	uint64_t off = old * m->s->chunk, len = m->s->chunk;
	int r;

	if (off >= m->h->size)
		return 0;
	if (len > m->h->size - off)
		len = m->h->size - off;
	r = lvmap_io(&m->s->dev, m->buf, len, new * m->s->chunk, false);
	return r < 0 ? r : origin_write(m->h, m->buf, len, off);
}

int lv_snapshot_merge(const struct storage *st, const char *vgname, const char *cow_name)
{
	_cleanup_free_ char *cow_spec = strprintf("%s/%s", vgname, cow_name);
	_cleanup_free_ char *origin_spec = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	struct lv_handle *snap = NULL, *h = NULL;
	struct cow_store *s = NULL;
	int r;

	if (!cow_spec)
		return -ENOMEM;
	r = lv_open(st, cow_spec, LV_OPEN_RDONLY | LV_OPEN_CLAIMED, &snap);
	if (r < 0)
		return r;
	r = snap->is_snapshot ? 0 : -EINVAL;
	if (r == 0 && !snap->snaps[0].valid)
		r = -EINVAL;
	/* Open the origin by uuid through its name in the same VG. */
	if (r == 0) {
		struct vg_handle vh;
		r = storage_vg_open(st, vgname, false, &vh);
		if (r == 0) {
			const struct lvm_lv *o = vg_origin_of(vh.vg, vg_find_lv(vh.vg, cow_name));
			origin_spec = o ? strprintf("%s/%s", vgname, o->name) : NULL;
			storage_vg_close(&vh);
			r = origin_spec ? 0 : -ENOENT;
		}
	}
	if (r == 0)
		r = lv_open(st, origin_spec, LV_OPEN_RDWR | LV_OPEN_CLAIMED, &h);
	for (unsigned i = 0; r == 0 && i < h->nsnaps; i++)
		if (streq(h->snaps[i].id, snap->id))
			s = &h->snaps[i];
	if (r == 0 && !s)
		r = -ENOENT;
	buf = r == 0 ? malloc(s->chunk) : NULL;
	if (r == 0 && !buf)
		r = -ENOMEM;
	if (r == 0) {
		struct merge_ctx m = { h, s, buf };
		r = cow_foreach(&snap->snaps[0], merge_chunk, &m);
	}
	if (r == 0)
		r = lv_flush(h);
	lv_close(h);
	lv_close(snap);
	return r;
}
