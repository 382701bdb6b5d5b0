/* fuzz-nbd-server.c - drive an NBD server connection from the first byte of
 * the handshake.
 *
 * The input is everything a client sends; the server answers into a sink
 * that reads every byte (so sanitizers see what was sent). One server with
 * a writable and a read-only memory export lives across inputs. Inputs of
 * odd length run with the worker pool (the stream says it can send while
 * receiving), even ones with every request on the connection thread.
 */
#include "nbd/nbd-server.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct feed {
	const uint8_t *data;
	size_t size, pos;
	pthread_mutex_t lock;       /* workers send while the reader receives */
	uint8_t sum;
};

/* Hand the input out in pieces of varying size, as a socket would. */
static ssize_t feed_recv(void *io, void *buf, size_t len)
{
	struct feed *f = io;
	size_t n = f->size - f->pos;

	if (n > len)
		n = len;
	if (n > 4096 + f->pos % 7)
		n = 4096 + f->pos % 7;
	memcpy(buf, f->data + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

static int feed_send(void *io, const struct iovec *iov, int iovcnt)
{
	struct feed *f = io;

	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;

		for (size_t j = 0; j < iov[i].iov_len; j++)
			f->sum ^= p[j];
	}
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static const struct nbd_io_ops feed_ops = { .recv = feed_recv, .send = feed_send };
static const struct nbd_io_ops feed_ops_parallel = {
	.recv = feed_recv, .send = feed_send, .concurrent = true,
};

static struct nbd_server *fuzz_server(void)
{
	static struct nbd_server *srv;
	struct nbd_backend be;

	if (srv)
		return srv;
	if (nbd_server_new(NULL, &srv) < 0)
		abort();
	if (nbd_mem_backend_new(1 << 20, &be) < 0 ||
	    nbd_server_add_export(srv, "", "fuzz", &be, false) < 0)
		abort();
	if (nbd_mem_backend_new(64 << 10, &be) < 0 ||
	    nbd_server_add_export(srv, "ro", NULL, &be, true) < 0)
		abort();
	return srv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed f = { .data = data, .size = size, .lock = PTHREAD_MUTEX_INITIALIZER };

	nbd_server_serve_io(fuzz_server(), (size & 1) ? &feed_ops_parallel : &feed_ops, &f);
	return 0;
}
