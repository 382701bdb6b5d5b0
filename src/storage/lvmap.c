/* lvmap.c - LV extent maps and the I/O over them (lvmap.h). */
#include "storage/lvmap.h"

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

void lvmap_release(struct lvmap *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	free(m->fds);
	free(m->segs);
	*m = (struct lvmap){ 0 };
}

static int map_segment(struct lvmap *m, const struct lvm_vg *vg, const struct lvm_seg *s,
		       bool write, struct lvmap_seg *ms)
{
	uint64_t ext = vg->extent_size * LVM_SECTOR;

	if (!streq(s->type, "striped") || s->stripe_count == 0 ||
	    s->stripe_count > LVMAP_MAX_STRIPES)
		return -EPERM;
	ms->start = s->start_extent * ext;
	ms->len = s->extent_count * ext;
	ms->nstripes = s->stripe_count;
	ms->chunk = s->stripe_count > 1 ? s->stripe_size * LVM_SECTOR : ms->len;
	if (ms->chunk == 0)
		return -EPERM;
	for (unsigned k = 0; k < s->stripe_count; k++) {
		unsigned pv = s->stripes[k].pv;
		if (!vg->pvs[pv]->path)
			return -ENXIO;
		if (m->fds[pv] < 0) {
			m->fds[pv] = open(vg->pvs[pv]->path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
			if (m->fds[pv] < 0)
				return -errno;
		}
		ms->fds[k] = m->fds[pv];
		ms->pstart[k] = vg->pvs[pv]->pe_start * LVM_SECTOR + s->stripes[k].pe * ext;
	}
	return 0;
}

int lvmap_build(const struct lvm_vg *vg, const struct lvm_lv *lv, bool write, struct lvmap *ret)
{
	struct lvmap m = { 0 };
	int r = 0;

	m.fds = malloc((vg->npv + 1) * sizeof(int));
	m.segs = calloc(lv->nseg + 1, sizeof(*m.segs));
	if (!m.fds || !m.segs) {
		free(m.fds);
		free(m.segs);
		return -ENOMEM;
	}
	m.nfds = vg->npv;
	memset(m.fds, 0xff, m.nfds * sizeof(int));
	for (unsigned s = 0; r == 0 && s < lv->nseg; s++) {
		r = map_segment(&m, vg, &lv->segs[s], write, &m.segs[s]);
		m.nsegs = s + 1;
		m.size += m.segs[s].len;
	}
	if (r < 0) {
		lvmap_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

int lvmap_locate(const struct lvmap *m, uint64_t off, int *fd, uint64_t *poff, uint64_t *avail)
{
	for (size_t i = 0; i < m->nsegs; i++) {
		const struct lvmap_seg *s = &m->segs[i];
		if (off < s->start || off >= s->start + s->len)
			continue;
		uint64_t rel = off - s->start, chunk = rel / s->chunk, in = rel % s->chunk;
		unsigned k = (unsigned)(chunk % s->nstripes);
		*fd = s->fds[k];
		*poff = s->pstart[k] + (chunk / s->nstripes) * s->chunk + in;
		*avail = s->chunk - in;
		if (*avail > s->len - rel)
			*avail = s->len - rel;
		return 0;
	}
	return -EINVAL;
}

int lvmap_io(const struct lvmap *m, void *buf, size_t len, uint64_t off, bool write)
{
	uint8_t *p = buf;

	while (len) {
		int fd;
		uint64_t poff, avail;
		ssize_t n;
		int r = lvmap_locate(m, off, &fd, &poff, &avail);
		if (r < 0)
			return r;
		size_t chunk = avail < len ? (size_t)avail : len;
		n = write ? pwrite(fd, p, chunk, (off_t)poff) : pread(fd, p, chunk, (off_t)poff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			if (write)
				return -EIO;
			memset(p, 0, chunk); /* a sparse PV file shorter than declared */
			n = (ssize_t)chunk;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
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

int lvmap_discard(const struct lvmap *m, uint64_t len, uint64_t off)
{
	while (len) {
		int fd;
		uint64_t poff, avail;
		int r = lvmap_locate(m, off, &fd, &poff, &avail);
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

int lvmap_sync(const struct lvmap *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0 && fdatasync(m->fds[i]) < 0)
			return -errno;
	return 0;
}
