/* tls.c - TLS for NBD connections (NBD_OPT_STARTTLS) with GnuTLS.
 *
 * The server loads an X.509 certificate and key once; each connection that
 * upgrades gets a GnuTLS session whose records travel over the connection's
 * original stream, and then speaks through nbd_tls_io_ops like any stream.
 */
#include "nbd/nbd-tls.h"
#include "common/util.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <unistd.h>

struct nbd_tls_creds {
	gnutls_certificate_credentials_t x509;
};

struct nbd_tls {
	gnutls_session_t session;
	const struct nbd_io_ops *raw_ops;
	void *raw_io;
};

int nbd_tls_creds_load(const char *dir, struct nbd_tls_creds **ret)
{
	_cleanup_free_ char *cert = strprintf("%s/server-cert.pem", dir);
	_cleanup_free_ char *key = strprintf("%s/server-key.pem", dir);
	struct nbd_tls_creds *c;

	if (!cert || !key)
		return -ENOMEM;
	if (access(cert, R_OK) < 0 || access(key, R_OK) < 0)
		return -errno;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (gnutls_certificate_allocate_credentials(&c->x509) < 0) {
		free(c);
		return -ENOMEM;
	}
	if (gnutls_certificate_set_x509_key_file(c->x509, cert, key, GNUTLS_X509_FMT_PEM) < 0) {
		nbd_tls_creds_free(c);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

void nbd_tls_creds_free(struct nbd_tls_creds *c)
{
	if (!c)
		return;
	gnutls_certificate_free_credentials(c->x509);
	free(c);
}

static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct nbd_tls *t = p;
	ssize_t n = t->raw_ops->recv(t->raw_io, buf, len);

	if (n < 0) {
		gnutls_transport_set_errno(t->session, (int)-n);
		return -1;
	}
	return n;
}

static ssize_t vec_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	struct nbd_tls *t = p;
	ssize_t total = 0;

	/* giovec_t has the layout of struct iovec; send at most 8 at once. */
	for (int i = 0; i < iovcnt; i += 8) {
		int n = iovcnt - i < 8 ? iovcnt - i : 8;
		int r = t->raw_ops->send(t->raw_io, (const struct iovec *)iov + i, n);

		if (r < 0) {
			gnutls_transport_set_errno(t->session, -r);
			return -1;
		}
		for (int j = i; j < i + n; j++)
			total += (ssize_t)iov[j].iov_len;
	}
	return total;
}

int nbd_tls_start(const struct nbd_tls_creds *creds, const struct nbd_io_ops *raw_ops,
		  void *raw_io, struct nbd_tls **ret)
{
	struct nbd_tls *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->raw_ops = raw_ops;
	t->raw_io = raw_io;
	if (gnutls_init(&t->session, GNUTLS_SERVER | GNUTLS_NO_SIGNAL) < 0) {
		free(t);
		return -ENOMEM;
	}
	gnutls_set_default_priority(t->session);
	gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, creds->x509);
	gnutls_certificate_server_set_request(t->session, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_ptr(t->session, t);
	gnutls_transport_set_pull_function(t->session, pull);
	gnutls_transport_set_vec_push_function(t->session, vec_push);
	do
		r = gnutls_handshake(t->session);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		nbd_tls_end(t, false);
		return -ECONNABORTED;
	}
	*ret = t;
	return 0;
}

void nbd_tls_end(struct nbd_tls *t, bool clean)
{
	if (!t)
		return;
	if (clean)
		gnutls_bye(t->session, GNUTLS_SHUT_WR);
	gnutls_deinit(t->session);
	free(t);
}

static ssize_t tls_recv(void *io, void *buf, size_t len)
{
	struct nbd_tls *t = io;

	for (;;) {
		ssize_t n = gnutls_record_recv(t->session, buf, len);

		if (n >= 0)
			return n;
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		if (n != GNUTLS_E_INTERRUPTED && n != GNUTLS_E_AGAIN)
			return -ECONNRESET;
	}
}

static int tls_send(void *io, const struct iovec *iov, int iovcnt)
{
	struct nbd_tls *t = io;

	gnutls_record_cork(t->session);
	for (int i = 0; i < iovcnt; i++) {
		if (gnutls_record_send(t->session, iov[i].iov_base, iov[i].iov_len) < 0)
			return -EIO;
	}
	return gnutls_record_uncork(t->session, GNUTLS_RECORD_WAIT) < 0 ? -EIO : 0;
}

static void tls_handshake_done(void *io)
{
	struct nbd_tls *t = io;

	if (t->raw_ops->handshake_done)
		t->raw_ops->handshake_done(t->raw_io);
}

const struct nbd_io_ops nbd_tls_io_ops = {
	.recv = tls_recv,
	.send = tls_send,
	.handshake_done = tls_handshake_done,
};
