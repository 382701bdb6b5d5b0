/* backend-lv.c - the logical-volume NBD backend, over the LV data API.
 *
 * One lv_handle per export, shared by every connection and worker. The
 * handle is not thread-safe, but lv_map() (where an offset lies on a PV)
 * only reads its maps: under a shared lock, reads of a non-snapshot LV go
 * straight to the PV with pread (or sendfile, through map_fd, on a dup of
 * the PV's fd so that no lock is held while a slow client takes its data),
 * many at a time, and so does block status (SEEK_DATA/SEEK_HOLE on a
 * sparse PV file: its holes read as zeroes). Everything that may reload
 * the maps or must follow the snapshot protocol (writes and their
 * copy-out, trims, snapshot reads, the size, a range the map does not
 * cover in one piece) takes the lock exclusively and goes through the
 * library. Each write is complete (in the PVs' page cache, or on disk for
 * FUA) when it returns, and a flush syncs every PV the LV uses, hence
 * CAN_MULTI_CONN.
 */
#include "nbd/nbd-server.h"
#include "nbd/nbd-proto.h"
#include "storage/lv.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

struct lv_backend {
	pthread_rwlock_t lock;      /* shared: lv_map() users; exclusive: the rest */
	struct lv_handle *lv;
	bool readonly;
};

static int lvb_get_size(void *h, uint64_t *ret_size)
{
	struct lv_backend *b = h;

	pthread_rwlock_wrlock(&b->lock);
	*ret_size = lv_size(b->lv);
	pthread_rwlock_unlock(&b->lock);
	return 0;
}

static unsigned lvb_caps(void *h)
{
	struct lv_backend *b = h;
	unsigned caps = NBD_BACKEND_CAN_FLUSH | NBD_BACKEND_CAN_MULTI_CONN | NBD_BACKEND_CAN_EXTENTS;

	if (!b->readonly)
		caps |= NBD_BACKEND_CAN_WRITE | NBD_BACKEND_CAN_TRIM;
	return caps;
}

/* Read [OFF, OFF+LEN) straight from the PV if it lies there in one piece:
 * 1 if done, 0 if not possible, -errno. With the shared lock held. */
static int read_mapped(struct lv_backend *b, uint8_t *p, uint32_t len, uint64_t off,
		       unsigned flags)
{
	int fd, rwf = (flags & NBD_BACKEND_NOWAIT) ? RWF_NOWAIT : 0;
	uint64_t poff, avail;

	if (lv_map(b->lv, off, &fd, &poff, &avail) < 0 || avail < len)
		return 0;
	while (len > 0) {
		struct iovec iov = { .iov_base = p, .iov_len = len };
		ssize_t n = preadv2(fd, &iov, 1, (off_t)poff, rwf);

		if (n < 0 && errno == EOPNOTSUPP && rwf) {
			rwf = 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) { /* a sparse PV file shorter than declared */
			memset(p, 0, len);
			break;
		}
		p += n;
		poff += (uint64_t)n;
		len -= (uint32_t)n;
	}
	return 1;
}

static int lvb_pread(void *h, void *buf, uint32_t len, uint64_t off, unsigned flags)
{
	struct lv_backend *b = h;
	int r;

	pthread_rwlock_rdlock(&b->lock);
	r = read_mapped(b, buf, len, off, flags);
	pthread_rwlock_unlock(&b->lock);
	if (r != 0)
		return r < 0 ? r : 0;
	pthread_rwlock_wrlock(&b->lock);
	r = lv_pread(b->lv, buf, len, off);
	pthread_rwlock_unlock(&b->lock);
	return r;
}

/* FUA: the write, then a flush of the PVs. */
static int lvb_pwrite(void *h, const void *buf, uint32_t len, uint64_t off, unsigned flags)
{
	struct lv_backend *b = h;
	int r;

	pthread_rwlock_wrlock(&b->lock);
	r = lv_pwrite(b->lv, buf, len, off);
	if (r == 0 && (flags & NBD_BACKEND_FUA))
		r = lv_flush(b->lv);
	pthread_rwlock_unlock(&b->lock);
	return r;
}

static int lvb_flush(void *h)
{
	struct lv_backend *b = h;
	int r;

	pthread_rwlock_rdlock(&b->lock);
	r = lv_flush(b->lv);
	pthread_rwlock_unlock(&b->lock);
	return r;
}

static int lvb_trim(void *h, uint64_t off, uint32_t len, unsigned flags)
{
	struct lv_backend *b = h;
	int r;

	pthread_rwlock_wrlock(&b->lock);
	r = lv_discard(b->lv, len, off);
	if (r == 0 && (flags & NBD_BACKEND_FUA))
		r = lv_flush(b->lv);
	pthread_rwlock_unlock(&b->lock);
	return r;
}

/* One extent from POFF on a PV fd, at most LEN bytes: data, or (on a
 * sparse file) a hole, which reads as zeroes. */
static struct nbd_extent pv_extent(int fd, uint64_t poff, uint64_t len)
{
	off_t data = lseek(fd, (off_t)poff, SEEK_DATA), hole;

	if (data < 0 && errno == ENXIO) /* a hole up to the end of the file */
		return (struct nbd_extent){ .length = len, .flags = NBD_STATE_HOLE | NBD_STATE_ZERO };
	if (data < 0) /* no SEEK_DATA (a device, a filesystem without): data */
		return (struct nbd_extent){ .length = len, .flags = 0 };
	if ((uint64_t)data > poff) {
		uint64_t n = (uint64_t)data - poff;

		return (struct nbd_extent){ .length = n < len ? n : len,
					    .flags = NBD_STATE_HOLE | NBD_STATE_ZERO };
	}
	hole = lseek(fd, (off_t)poff, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole <= poff || (uint64_t)hole - poff > len)
		return (struct nbd_extent){ .length = len, .flags = 0 };
	return (struct nbd_extent){ .length = (uint64_t)hole - poff, .flags = 0 };
}

/* Walk the PV pieces of [OFF, OFF+LEN); a snapshot is all data (the
 * server's answer when this fails). */
static int lvb_extents(void *h, uint64_t off, uint32_t len, struct nbd_extent *ext, size_t max,
		       size_t *ret_n)
{
	struct lv_backend *b = h;
	uint64_t end = off + len;
	size_t n = 0;
	int r = 0;

	pthread_rwlock_rdlock(&b->lock);
	while (off < end && n < max) {
		uint64_t poff, avail;
		int fd;

		r = lv_map(b->lv, off, &fd, &poff, &avail);
		if (r < 0)
			break;
		ext[n] = pv_extent(fd, poff, avail < end - off ? avail : end - off);
		off += ext[n++].length;
	}
	pthread_rwlock_unlock(&b->lock);
	if (n == 0)
		return r < 0 ? r : -EIO;
	*ret_n = n;
	return 0;
}

/* A dup of the PV's fd: it stays valid if the maps are reloaded while a
 * slow client takes the data, and no lock is held meanwhile. */
static int lvb_map_fd(void *h, uint64_t off, uint32_t len, int *ret_fd, uint64_t *ret_off)
{
	struct lv_backend *b = h;
	uint64_t poff, avail;
	int fd, r;

	pthread_rwlock_rdlock(&b->lock);
	r = lv_map(b->lv, off, &fd, &poff, &avail);
	if (r == 0 && avail < len)
		r = -EOPNOTSUPP;
	if (r == 0 && (fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
		r = -errno;
	pthread_rwlock_unlock(&b->lock);
	if (r < 0)
		return r;
	*ret_fd = fd;
	*ret_off = poff;
	return 0;
}

static void lvb_unmap_fd(void *h, int fd)
{
	close(fd);
}

static void lvb_close(void *h)
{
	struct lv_backend *b = h;

	lv_close(b->lv);
	pthread_rwlock_destroy(&b->lock);
	free(b);
}

static const struct nbd_backend_ops lv_ops = {
	.get_size = lvb_get_size,
	.caps = lvb_caps,
	.pread = lvb_pread,
	.pwrite = lvb_pwrite,
	.flush = lvb_flush,
	.trim = lvb_trim,
	.extents = lvb_extents,
	.map_fd = lvb_map_fd,
	.unmap_fd = lvb_unmap_fd,
	.close = lvb_close,
};

int nbd_lv_backend_new(struct lv_handle *lv, bool readonly, struct nbd_backend *ret)
{
	struct lv_backend *b = calloc(1, sizeof(*b));
	pthread_rwlockattr_t attr;

	if (!b)
		return -ENOMEM;
	/* Writers first: a stream of reads must not starve them. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&b->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	b->lv = lv;
	b->readonly = readonly;
	*ret = (struct nbd_backend){ .ops = &lv_ops, .handle = b };
	return 0;
}
