/* backend-lv.c - the logical-volume NBD backend, over the LV data API.
 *
 * One lv_handle per export. Handles are not thread-safe, so a mutex
 * serialises the operations of every connection; each write is complete
 * (in the PVs' page cache, or on disk for FUA) when it returns, and a flush
 * syncs every PV the LV uses, hence CAN_MULTI_CONN. A snapshot handle reads
 * the snapshot's view and writes copy-on-write, as the library does. There
 * is no map_fd: a metadata refresh may close PV fds under a sendfile().
 */
#include "nbd/nbd-server.h"
#include "storage/lv.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct lv_backend {
	pthread_mutex_t lock;
	struct lv_handle *lv;
	bool readonly;
};

static int lvb_get_size(void *h, uint64_t *ret_size)
{
	struct lv_backend *b = h;

	pthread_mutex_lock(&b->lock);
	*ret_size = lv_size(b->lv);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static unsigned lvb_caps(void *h)
{
	struct lv_backend *b = h;
	unsigned caps = NBD_BACKEND_CAN_FLUSH | NBD_BACKEND_CAN_MULTI_CONN;

	if (!b->readonly)
		caps |= NBD_BACKEND_CAN_WRITE | NBD_BACKEND_CAN_TRIM;
	return caps;
}

static int lvb_pread(void *h, void *buf, uint32_t len, uint64_t off, unsigned flags)
{
	struct lv_backend *b = h;
	int r;

	pthread_mutex_lock(&b->lock);
	r = lv_pread(b->lv, buf, len, off);
	pthread_mutex_unlock(&b->lock);
	return r;
}

/* FUA: the write, then a flush of the PVs, both under the lock. */
static int lvb_pwrite(void *h, const void *buf, uint32_t len, uint64_t off, unsigned flags)
{
	struct lv_backend *b = h;
	int r;

	pthread_mutex_lock(&b->lock);
	r = lv_pwrite(b->lv, buf, len, off);
	if (r == 0 && (flags & NBD_BACKEND_FUA))
		r = lv_flush(b->lv);
	pthread_mutex_unlock(&b->lock);
	return r;
}

static int lvb_flush(void *h)
{
	struct lv_backend *b = h;
	int r;

	pthread_mutex_lock(&b->lock);
	r = lv_flush(b->lv);
	pthread_mutex_unlock(&b->lock);
	return r;
}

static int lvb_trim(void *h, uint64_t off, uint32_t len, unsigned flags)
{
	struct lv_backend *b = h;
	int r;

	pthread_mutex_lock(&b->lock);
	r = lv_discard(b->lv, len, off);
	if (r == 0 && (flags & NBD_BACKEND_FUA))
		r = lv_flush(b->lv);
	pthread_mutex_unlock(&b->lock);
	return r;
}

static void lvb_close(void *h)
{
	struct lv_backend *b = h;

	lv_close(b->lv);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static const struct nbd_backend_ops lv_ops = {
	.get_size = lvb_get_size,
	.caps = lvb_caps,
	.pread = lvb_pread,
	.pwrite = lvb_pwrite,
	.flush = lvb_flush,
	.trim = lvb_trim,
	.close = lvb_close,
};

int nbd_lv_backend_new(struct lv_handle *lv, bool readonly, struct nbd_backend *ret)
{
	struct lv_backend *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	b->lv = lv;
	b->readonly = readonly;
	*ret = (struct nbd_backend){ .ops = &lv_ops, .handle = b };
	return 0;
}
