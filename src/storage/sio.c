/* sio.c - pread/pwrite wrappers with write fault injection (sio.h). */
#include "storage/sio.h"

#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static long fault_left = -1;
static enum sio_fault_mode fault_mode;
static long writes;

void sio_fault_set(long n, enum sio_fault_mode mode)
{
	fault_left = n;
	fault_mode = mode;
}

void sio_fault_from_env(void)
{
	const char *e = getenv("DOMUS_STORAGE_FAULT");
	char *end;

	if (!e)
		return;
	if (strncmp(e, "fail:", 5) == 0)
		sio_fault_set(strtol(e + 5, &end, 10), SIO_FAULT_FAIL);
	else if (strncmp(e, "kill:", 5) == 0)
		sio_fault_set(strtol(e + 5, &end, 10), SIO_FAULT_KILL);
}

long sio_write_count(void)
{
	return writes;
}

int sio_pread(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int sio_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	if (fault_left == 0) {
		if (fault_mode == SIO_FAULT_KILL)
			_exit(137);
		return -EIO;
	}
	if (fault_left > 0)
		fault_left--;
	writes++;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int sio_sync(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}

int sio_dev_size(int fd, uint64_t *ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		uint64_t size;
		if (ioctl(fd, BLKGETSIZE64, &size) < 0)
			return -errno;
		*ret = size;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return -ENOTBLK;
	*ret = (uint64_t)st.st_size;
	return 0;
}
