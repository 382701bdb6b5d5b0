/* nbd-internal.h - what server.c (exports, listeners, threads) shares with
 * conn.c (the per-connection protocol state machine). */
#ifndef DOMUS_NBD_INTERNAL_H
#define DOMUS_NBD_INTERNAL_H

#include "nbd/nbd-server.h"
#include "nbd/nbd-tls.h"

#include <pthread.h>

struct nbd_export {
	char *name;
	char *description;
	struct nbd_backend backend;
	bool readonly;
	unsigned refs;              /* the server's list + each connection */
	struct nbd_export *next;
};

/* Find the export NAME (NULL if none; "" falls back to the first export)
 * and take a reference on it, dropped with nbd_server_put_export(). */
struct nbd_export *nbd_server_get_export(struct nbd_server *s, const char *name);
void nbd_server_put_export(struct nbd_server *s, struct nbd_export *e);

/* Call FN for each export in the order they were added, under the server's
 * lock (FN must not block); stops at the first negative return and passes
 * it on. */
int nbd_server_foreach_export(struct nbd_server *s,
			      int (*fn)(const struct nbd_export *e, void *userdata),
			      void *userdata);

/* A zero-filled buffer of NBD_ZERO_BUF_SIZE bytes, shared read-only. */
#define NBD_ZERO_BUF_SIZE (1u << 20)
const void *nbd_server_zero_buf(struct nbd_server *s);

/* The TLS mode and credentials (NULL when TLS is off). */
enum nbd_tls_mode nbd_server_tls_mode(struct nbd_server *s);
const struct nbd_tls_creds *nbd_server_tls_creds(struct nbd_server *s);

/* Run the whole protocol for one client over IO/OPS: handshake, options,
 * transmission. Returns 0 on a clean end, -errno otherwise. */
int nbd_conn_serve(struct nbd_server *s, const struct nbd_io_ops *ops, void *io);

#endif
