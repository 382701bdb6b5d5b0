/* backend-file.c - the file NBD backend: a regular file or a block device.
 *
 * One fd shared by every connection (pread/pwrite are positionless, so this
 * is thread-safe, and one fdatasync covers writes from all connections:
 * hence CAN_MULTI_CONN). Zeroing and trimming use fallocate(); block status
 * uses SEEK_DATA/SEEK_HOLE on files that support it. NBD_BACKEND_NOWAIT
 * is RWF_NOWAIT: data in the page cache, or -EAGAIN.
 */
#include "nbd/nbd-server.h"
#include "nbd/nbd-proto.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct file_backend {
	int fd;
	bool readonly;
	bool is_block;
	bool can_seek_data;
	atomic_bool no_nowait[2];   /* the filesystem refused RWF_NOWAIT on
				     * reads [0] or writes [1] */
};

static int file_get_size(void *h, uint64_t *ret_size)
{
	struct file_backend *f = h;
	struct stat st;

	if (f->is_block) {
		uint64_t size;

		if (ioctl(f->fd, BLKGETSIZE64, &size) < 0)
			return -errno;
		*ret_size = size;
		return 0;
	}
	if (fstat(f->fd, &st) < 0)
		return -errno;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

static unsigned file_caps(void *h)
{
	struct file_backend *f = h;
	unsigned caps = NBD_BACKEND_CAN_FLUSH | NBD_BACKEND_CAN_MULTI_CONN;

	if (!f->readonly)
		caps |= NBD_BACKEND_CAN_WRITE | NBD_BACKEND_CAN_FUA | NBD_BACKEND_CAN_TRIM |
			NBD_BACKEND_CAN_FAST_ZERO;
	if (f->can_seek_data)
		caps |= NBD_BACKEND_CAN_EXTENTS;
	return caps;
}

/* RWF_NOWAIT for NBD_BACKEND_NOWAIT, unless the filesystem refused it
 * once for this direction (ext4 does for buffered writes): then the I/O
 * simply waits. */
static int nowait_rwf(struct file_backend *f, unsigned flags, bool write)
{
	return (flags & NBD_BACKEND_NOWAIT) &&
	       !atomic_load_explicit(&f->no_nowait[write], memory_order_relaxed) ? RWF_NOWAIT : 0;
}

/* One preadv2/pwritev2 with RWF flags: the count, or -errno. A refused
 * RWF_NOWAIT is remembered and the call made again without it. */
static ssize_t file_rw(struct file_backend *f, void *p, size_t len, uint64_t off, int rwf,
		       bool write)
{
	struct iovec iov = { .iov_base = p, .iov_len = len };

	for (;;) {
		ssize_t n = write ? pwritev2(f->fd, &iov, 1, (off_t)off, rwf) :
				    preadv2(f->fd, &iov, 1, (off_t)off, rwf);

		if (n >= 0)
			return n;
		if (errno == EOPNOTSUPP && (rwf & RWF_NOWAIT)) {
			atomic_store_explicit(&f->no_nowait[write], true, memory_order_relaxed);
			rwf &= ~RWF_NOWAIT;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
}

static int file_pread(void *h, void *buf, uint32_t len, uint64_t off, unsigned flags)
{
	struct file_backend *f = h;
	int rwf = nowait_rwf(f, flags, false);
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = file_rw(f, p, len, off, rwf, false);

		if (n < 0)
			return (int)n;
		if (n == 0) { /* the file shrank under us: the rest reads as zeroes */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += (uint64_t)n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int file_pwrite(void *h, const void *buf, uint32_t len, uint64_t off, unsigned flags)
{
	struct file_backend *f = h;
	const uint8_t *p = buf;
	int rwf = ((flags & NBD_BACKEND_FUA) ? RWF_DSYNC : 0) | nowait_rwf(f, flags, true);

	while (len > 0) {
		ssize_t n = file_rw(f, (void *)p, len, off, rwf, true);

		if (n < 0)
			return (int)n;
		p += n;
		off += (uint64_t)n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int file_flush(void *h)
{
	struct file_backend *f = h;

	return fdatasync(f->fd) < 0 ? -errno : 0;
}

static int fua_sync(struct file_backend *f, unsigned flags)
{
	return (flags & NBD_BACKEND_FUA) ? file_flush(f) : 0;
}

static int file_trim(void *h, uint64_t off, uint32_t len, unsigned flags)
{
	struct file_backend *f = h;

	if (f->is_block)
		return -EOPNOTSUPP;
	if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, len) < 0)
		return errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
	return fua_sync(f, flags);
}

static int file_zero(void *h, uint64_t off, uint32_t len, unsigned flags)
{
	struct file_backend *f = h;

	if (f->is_block) {
		uint64_t range[2] = { off, len };

		if (ioctl(f->fd, BLKZEROOUT, range) < 0)
			return errno == ENOTTY || errno == EINVAL ? -EOPNOTSUPP : -errno;
		return fua_sync(f, flags);
	}
	if ((flags & NBD_BACKEND_MAY_TRIM) &&
	    fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, len) == 0)
		return fua_sync(f, flags);
	if (fallocate(f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, len) == 0)
		return fua_sync(f, flags);
	if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)
		return -EOPNOTSUPP;
	return -errno;
}

/* Walk SEEK_DATA/SEEK_HOLE from OFF; data is 0, holes are HOLE|ZERO. */
static int file_extents(void *h, uint64_t off, uint32_t len, struct nbd_extent *ext,
			size_t max, size_t *ret_n)
{
	struct file_backend *f = h;
	uint64_t end = off + len, pos = off;
	size_t n = 0;

	while (pos < end && n < max) {
		off_t data = lseek(f->fd, (off_t)pos, SEEK_DATA);
		uint64_t next;
		uint32_t flags;

		if (data < 0 && errno != ENXIO)
			return -errno;
		if (data < 0 || (uint64_t)data > pos) {
			/* A hole up to the next data (ENXIO: up to the end). */
			next = data < 0 ? end : (uint64_t)data;
			flags = NBD_STATE_HOLE | NBD_STATE_ZERO;
		} else {
			off_t hole = lseek(f->fd, (off_t)pos, SEEK_HOLE);

			if (hole < 0)
				return -errno;
			next = (uint64_t)hole;
			flags = 0;
		}
		if (next > end)
			next = end;
		if (next <= pos)
			break;
		ext[n++] = (struct nbd_extent){ .length = next - pos, .flags = flags };
		pos = next;
	}
	if (n == 0) /* the file changed under us: say "data", always safe */
		ext[n++] = (struct nbd_extent){ .length = len, .flags = 0 };
	*ret_n = n;
	return 0;
}

static int file_map_fd(void *h, uint64_t off, uint32_t len, int *ret_fd, uint64_t *ret_off)
{
	struct file_backend *f = h;

	*ret_fd = f->fd;
	*ret_off = off;
	return 0;
}

static int file_cache(void *h, uint64_t off, uint32_t len)
{
	struct file_backend *f = h;
	int r = posix_fadvise(f->fd, (off_t)off, len, POSIX_FADV_WILLNEED);

	return r == 0 || r == ESPIPE ? 0 : -r;
}

static void file_close(void *h)
{
	struct file_backend *f = h;

	close(f->fd);
	free(f);
}

static const struct nbd_backend_ops file_ops = {
	.get_size = file_get_size,
	.caps = file_caps,
	.pread = file_pread,
	.pwrite = file_pwrite,
	.flush = file_flush,
	.trim = file_trim,
	.zero = file_zero,
	.extents = file_extents,
	.map_fd = file_map_fd,
	.cache = file_cache,
	.close = file_close,
};

/* Does the filesystem answer SEEK_DATA (tmpfs, ext4, xfs, btrfs do)? */
static bool probe_seek_data(int fd)
{
	return lseek(fd, 0, SEEK_DATA) >= 0 || errno == ENXIO;
}

int nbd_file_backend_open(const char *path, bool readonly, struct nbd_backend *ret)
{
	_cleanup_close_ int fd = -1;
	struct file_backend *f;
	struct stat st;

	fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->readonly = readonly;
	f->is_block = S_ISBLK(st.st_mode);
	f->can_seek_data = !f->is_block && probe_seek_data(fd);
	f->fd = TAKE_FD(fd);
	*ret = (struct nbd_backend){ .ops = &file_ops, .handle = f };
	return 0;
}
