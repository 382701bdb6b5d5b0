/* backend-mem.c - a memory NBD backend: a zero-filled buffer of fixed size.
 *
 * Used by the unit tests and the fuzzer. Concurrent requests on overlapping
 * ranges race like they would on a disk; nothing here can crash on them.
 */
#include "nbd/nbd-server.h"
#include "nbd/nbd-proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mem_backend {
	uint8_t *data;
	uint64_t size;
};

static int mem_get_size(void *h, uint64_t *ret_size)
{
	struct mem_backend *m = h;

	*ret_size = m->size;
	return 0;
}

static unsigned mem_caps(void *h)
{
	return NBD_BACKEND_CAN_WRITE | NBD_BACKEND_CAN_FLUSH | NBD_BACKEND_CAN_FUA |
	       NBD_BACKEND_CAN_TRIM | NBD_BACKEND_CAN_FAST_ZERO | NBD_BACKEND_CAN_EXTENTS |
	       NBD_BACKEND_CAN_MULTI_CONN;
}

static int mem_pread(void *h, void *buf, uint32_t len, uint64_t off, unsigned flags)
{
	struct mem_backend *m = h;

	memcpy(buf, m->data + off, len);
	return 0;
}

static int mem_pwrite(void *h, const void *buf, uint32_t len, uint64_t off, unsigned flags)
{
	struct mem_backend *m = h;

	memcpy(m->data + off, buf, len);
	return 0;
}

static int mem_flush(void *h)
{
	return 0;
}

static int mem_zero(void *h, uint64_t off, uint32_t len, unsigned flags)
{
	struct mem_backend *m = h;

	memset(m->data + off, 0, len);
	return 0;
}

static int mem_trim(void *h, uint64_t off, uint32_t len, unsigned flags)
{
	return mem_zero(h, off, len, flags);
}

/* Report 4 KiB-aligned blocks of zeroes as holes, so tests see extents. */
static int mem_extents(void *h, uint64_t off, uint32_t len, struct nbd_extent *ext,
		       size_t max, size_t *ret_n)
{
	static const uint8_t zero_block[4096];
	struct mem_backend *m = h;
	uint64_t end = off + len, pos = off;
	size_t n = 0;

	while (pos < end && n < max) {
		uint64_t next = (pos / 4096 + 1) * 4096;
		uint32_t flags;

		if (next > m->size)
			next = m->size;
		flags = memcmp(m->data + pos, zero_block, next - pos) == 0 ?
			NBD_STATE_HOLE | NBD_STATE_ZERO : 0;
		if (n > 0 && ext[n - 1].flags == flags)
			ext[n - 1].length += next - pos;
		else
			ext[n++] = (struct nbd_extent){ .length = next - pos, .flags = flags };
		pos = next;
	}
	*ret_n = n;
	return 0;
}

static void mem_close(void *h)
{
	struct mem_backend *m = h;

	free(m->data);
	free(m);
}

static const struct nbd_backend_ops mem_ops = {
	.get_size = mem_get_size,
	.caps = mem_caps,
	.pread = mem_pread,
	.pwrite = mem_pwrite,
	.flush = mem_flush,
	.trim = mem_trim,
	.zero = mem_zero,
	.extents = mem_extents,
	.close = mem_close,
};

int nbd_mem_backend_new(uint64_t size, struct nbd_backend *ret)
{
	struct mem_backend *m;

	if (size > SIZE_MAX / 2)
		return -EFBIG;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->data = calloc(1, size ? size : 1);
	if (!m->data) {
		free(m);
		return -ENOMEM;
	}
	m->size = size;
	*ret = (struct nbd_backend){ .ops = &mem_ops, .handle = m };
	return 0;
}
