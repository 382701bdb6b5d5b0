/* lv.c - byte-offset I/O on logical volumes (lv.h). */
#include "storage/lv.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* One segment, in bytes. */
struct lv_map {
	uint64_t start, len;         /* logical */
	uint64_t chunk;              /* stripe size (== len for linear) */
	unsigned nstripes;
	int fds[16];
	uint64_t pstart[16];         /* physical start on each stripe's PV */
};

struct lv_handle {
	const struct storage *st;
	char *vg, *name;
	char id[LVM_ID_LEN + 1];
	int flags;
	int lock_fd;
	uint64_t seqno, size;
	struct lv_map *map;
	size_t nmap;
	int *fds;                    /* one per PV of the VG, -1 if unused */
	unsigned nfds;
};

static void close_fds(struct lv_handle *h)
{
	for (unsigned i = 0; i < h->nfds; i++)
		if (h->fds[i] >= 0)
			close(h->fds[i]);
	free(h->fds);
	free(h->map);
	h->fds = NULL;
	h->map = NULL;
	h->nfds = 0;
	h->nmap = 0;
}

static int map_segment(struct lv_handle *h, const struct lvm_vg *vg, const struct lvm_seg *s,
		       struct lv_map *m)
{
	uint64_t ext = vg->extent_size * LVM_SECTOR;

	if (!streq(s->type, "striped") || s->stripe_count == 0 ||
	    s->stripe_count > ARRAY_SIZE(m->fds))
		return -EPERM;
	m->start = s->start_extent * ext;
	m->len = s->extent_count * ext;
	m->nstripes = s->stripe_count;
	m->chunk = s->stripe_count > 1 ? s->stripe_size * LVM_SECTOR : m->len;
	if (m->chunk == 0)
		return -EPERM;
	for (unsigned k = 0; k < s->stripe_count; k++) {
		unsigned pv = s->stripes[k].pv;
		if (!vg->pvs[pv]->path)
			return -ENXIO;
		if (h->fds[pv] < 0) {
			int mode = (h->flags & LV_OPEN_RDWR) ? O_RDWR : O_RDONLY;
			h->fds[pv] = open(vg->pvs[pv]->path, mode | O_CLOEXEC);
			if (h->fds[pv] < 0)
				return -errno;
		}
		m->fds[k] = h->fds[pv];
		m->pstart[k] = vg->pvs[pv]->pe_start * LVM_SECTOR + s->stripes[k].pe * ext;
	}
	return 0;
}

/* Read the VG again and rebuild the extent map. */
static int refresh(struct lv_handle *h)
{
	struct vg_handle vh;
	const struct lvm_lv *lv = NULL;
	int r = storage_vg_open(h->st, h->vg, false, &vh);

	if (r < 0)
		return r;
	for (unsigned i = 0; i < vh.vg->nlv && !lv; i++)
		if (h->id[0] ? streq(vh.vg->lvs[i]->id, h->id) : streq(vh.vg->lvs[i]->name, h->name))
			lv = vh.vg->lvs[i];
	r = lv ? 0 : -ENOENT;
	if (r == 0 && vh.vg->seqno == h->seqno && h->map) {
		storage_vg_close(&vh);
		return 0;
	}
	close_fds(h);
	if (r == 0) {
		h->fds = malloc((vh.vg->npv + 1) * sizeof(int));
		h->map = calloc(lv->nseg + 1, sizeof(*h->map));
		r = h->fds && h->map ? 0 : -ENOMEM;
	}
	if (r == 0) {
		h->nfds = vh.vg->npv;
		memset(h->fds, 0xff, h->nfds * sizeof(int));
		memcpy(h->id, lv->id, sizeof(h->id));
		h->size = 0;
		for (unsigned s = 0; r == 0 && s < lv->nseg; s++) {
			r = map_segment(h, vh.vg, &lv->segs[s], &h->map[s]);
			h->nmap = s + 1;
			h->size += h->map[s].len;
		}
		h->seqno = vh.vg->seqno;
	}
	storage_vg_close(&vh);
	return r;
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
	h->st = st;
	h->flags = flags;
	h->lock_fd = -1;
	h->vg = strndup(name, slash - name);
	h->name = strdup(slash + 1);
	if (!h->vg || !h->name) {
		lv_close(h);
		return -ENOMEM;
	}
	if (!lvm_vg_name_valid(h->vg) || !lvm_lv_name_valid(h->name)) {
		lv_close(h);
		return -EINVAL;
	}
	r = refresh(h);
	lockname = strprintf("L_%s", h->id);
	if (r == 0)
		r = lockname ? storage_lock(st, lockname, false, false) : -ENOMEM;
	if (r < 0) {
		lv_close(h);
		return r;
	}
	h->lock_fd = r;
	/* The LV may have been removed between the read and the lock. */
	h->seqno = 0;
	r = refresh(h);
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
	close_fds(h);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	free(h->vg);
	free(h->name);
	free(h);
}

uint64_t lv_size(struct lv_handle *h)
{
	(void)refresh(h);
	return h->size;
}

/* Where logical byte OFF lives: fd, physical offset, bytes until the next
 * chunk or segment boundary. */
static int locate(struct lv_handle *h, uint64_t off, int *fd, uint64_t *poff, uint64_t *avail)
{
	for (size_t i = 0; i < h->nmap; i++) {
		const struct lv_map *m = &h->map[i];
		if (off < m->start || off >= m->start + m->len)
			continue;
		uint64_t rel = off - m->start, chunk = rel / m->chunk, in = rel % m->chunk;
		unsigned k = (unsigned)(chunk % m->nstripes);
		*fd = m->fds[k];
		*poff = m->pstart[k] + (chunk / m->nstripes) * m->chunk + in;
		*avail = m->chunk - in;
		if (*avail > m->len - rel)
			*avail = m->len - rel;
		return 0;
	}
	return -EINVAL;
}

static int check_range(struct lv_handle *h, size_t len, uint64_t off)
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

static int do_io(struct lv_handle *h, uint8_t *buf, size_t len, uint64_t off, bool write)
{
	int r = check_range(h, len, off);

	if (r < 0)
		return r;
	if (write && !(h->flags & LV_OPEN_RDWR))
		return -EBADF;
	while (len) {
		int fd;
		uint64_t poff, avail;
		ssize_t n;
		r = locate(h, off, &fd, &poff, &avail);
		if (r < 0)
			return r;
		size_t chunk = avail < len ? (size_t)avail : len;
		n = write ? pwrite(fd, buf, chunk, (off_t)poff) : pread(fd, buf, chunk, (off_t)poff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			if (write)
				return -EIO;
			memset(buf, 0, chunk); /* a sparse PV file shorter than declared */
			n = (ssize_t)chunk;
		}
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int lv_pread(struct lv_handle *h, void *buf, size_t len, uint64_t off)
{
	return do_io(h, buf, len, off, false);
}

int lv_pwrite(struct lv_handle *h, const void *buf, size_t len, uint64_t off)
{
	return do_io(h, (uint8_t *)buf, len, off, true);
}

int lv_flush(struct lv_handle *h)
{
	for (unsigned i = 0; i < h->nfds; i++)
		if (h->fds[i] >= 0 && fdatasync(h->fds[i]) < 0)
			return -errno;
	return 0;
}

static int discard_range(int fd, uint64_t off, uint64_t len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		uint64_t range[2] = { off, len };
		if (ioctl(fd, BLKDISCARD, range) < 0 && errno != EOPNOTSUPP)
			return -errno;
		return 0;
	}
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0 &&
	    errno != EOPNOTSUPP)
		return -errno;
	return 0;
}

int lv_discard(struct lv_handle *h, uint64_t len, uint64_t off)
{
	int r = check_range(h, len, off);

	if (r < 0)
		return r;
	if (!(h->flags & LV_OPEN_RDWR))
		return -EBADF;
	while (len) {
		int fd;
		uint64_t poff, avail;
		r = locate(h, off, &fd, &poff, &avail);
		if (r < 0)
			return r;
		uint64_t chunk = avail < len ? avail : len;
		r = discard_range(fd, poff, chunk);
		if (r < 0)
			return r;
		len -= chunk;
		off += chunk;
	}
	return 0;
}
