/* nbd-tls.h - TLS sessions for NBD connections (internal to src/nbd). */
#ifndef DOMUS_NBD_TLS_H
#define DOMUS_NBD_TLS_H

#include "nbd/nbd-server.h"
#include "common/cleanup.h"

struct nbd_tls_creds;
struct nbd_tls;

/* Load DIR/server-cert.pem and DIR/server-key.pem (PEM, X.509). */
int nbd_tls_creds_load(const char *dir, struct nbd_tls_creds **ret);
void nbd_tls_creds_free(struct nbd_tls_creds *c);

/* Run the server side of a TLS handshake over RAW_OPS/RAW_IO. On success
 * *RET speaks through nbd_tls_io_ops. -ECONNABORTED if the handshake fails. */
int nbd_tls_start(const struct nbd_tls_creds *creds, const struct nbd_io_ops *raw_ops,
		  void *raw_io, struct nbd_tls **ret);

/* End the session (CLEAN: send close_notify first) and free it. NULL is fine. */
void nbd_tls_end(struct nbd_tls *t, bool clean);

extern const struct nbd_io_ops nbd_tls_io_ops;

#endif
