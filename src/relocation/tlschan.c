/* tlschan.c - mutually authenticated TLS streams (GnuTLS). */
#include "relocation/tlschan.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define TLSCHAN_MAX_MESSAGE (4u << 20)

struct tlschan_creds {
	gnutls_certificate_credentials_t x509;
};

struct tlschan {
	gnutls_session_t session;  /* NULL: plain, on FD */
	int fd;
};

int tlschan_creds_load(const char *dir, struct tlschan_creds **ret)
{
	_cleanup_free_ char *ca = strprintf("%s/ca-cert.pem", dir);
	_cleanup_free_ char *cert = strprintf("%s/cert.pem", dir);
	_cleanup_free_ char *key = strprintf("%s/key.pem", dir);
	struct tlschan_creds *c;

	if (!ca || !cert || !key)
		return -ENOMEM;
	if (access(ca, R_OK) < 0 || access(cert, R_OK) < 0 || access(key, R_OK) < 0)
		return -errno;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (gnutls_certificate_allocate_credentials(&c->x509) < 0) {
		free(c);
		return -ENOMEM;
	}
	if (gnutls_certificate_set_x509_trust_file(c->x509, ca, GNUTLS_X509_FMT_PEM) <= 0 ||
	    gnutls_certificate_set_x509_key_file(c->x509, cert, key, GNUTLS_X509_FMT_PEM) < 0) {
		tlschan_creds_free(c);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

void tlschan_creds_free(struct tlschan_creds *c)
{
	if (!c)
		return;
	gnutls_certificate_free_credentials(c->x509);
	free(c);
}

int tlschan_write_dh_params(const char *path)
{
	gnutls_dh_params_t dh;
	gnutls_datum_t pem = { 0 };
	int r;

	if (gnutls_dh_params_init(&dh) < 0)
		return -ENOMEM;
	r = gnutls_dh_params_import_raw(dh, &gnutls_ffdhe_2048_group_prime,
					&gnutls_ffdhe_2048_group_generator) < 0 ||
	    gnutls_dh_params_export2_pkcs3(dh, GNUTLS_X509_FMT_PEM, &pem) < 0 ? -EINVAL : 0;
	if (r == 0)
		r = write_file_atomic(path, pem.data, pem.size, 0644);
	gnutls_free(pem.data);
	gnutls_dh_params_deinit(dh);
	return r;
}

/* Messages and frames go out as they are written, each in one piece: no
 * Nagle delay waiting for the peer's (delayed) acknowledgement. Not a
 * TCP socket (ssh's socketpair): nothing to do. */
static void nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int tlschan_open(int fd, struct tlschan_creds *c, bool server, int timeout_ms,
		 struct tlschan **ret, char *errbuf, size_t errsize)
{
	struct tlschan *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	if (gnutls_init(&t->session, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_SIGNAL) < 0) {
		free(t);
		return -ENOMEM;
	}
	gnutls_set_default_priority(t->session);
	gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, c->x509);
	if (server)
		gnutls_certificate_server_set_request(t->session, GNUTLS_CERT_REQUIRE);
	/* Verify the peer against the CA (no host name: hosts are named by
	 * address in domus.conf and checked there). */
	gnutls_session_set_verify_cert(t->session, NULL, 0);
	gnutls_transport_set_int(t->session, fd);
	t->fd = fd;
	nodelay(fd);
	gnutls_handshake_set_timeout(t->session, (unsigned)timeout_ms);
	do
		r = gnutls_handshake(t->session);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		snprintf(errbuf, errsize, "TLS handshake failed: %s", gnutls_strerror(r));
		tlschan_free(t);
		return -EACCES;
	}
	*ret = t;
	return 0;
}

int tlschan_plain(int fd, struct tlschan **ret)
{
	struct tlschan *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->fd = fd;
	*ret = t;
	return 0;
}

void tlschan_free(struct tlschan *t)
{
	if (!t)
		return;
	if (t->session)
		gnutls_deinit(t->session);
	free(t);
}

/* True if CERT matches NAME (when it is a nonempty string). */
static bool matches(gnutls_x509_crt_t cert, const char *name)
{
	return *name && gnutls_x509_crt_check_hostname(cert, name);
}

int tlschan_peer_hostname(struct tlschan *t, char *buf, size_t len)
{
	const gnutls_datum_t *certs;
	unsigned n = 0;
	gnutls_x509_crt_t cert;
	int r = -ENOENT;

	certs = t->session ? gnutls_certificate_get_peers(t->session, &n) : NULL;
	if (!certs || n == 0 || gnutls_x509_crt_init(&cert) < 0)
		return -ENOENT;
	if (gnutls_x509_crt_import(cert, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(cert);
		return -EINVAL;
	}
	for (unsigned i = 0; r < 0; i++) {
		char san[256];
		size_t sz = sizeof(san) - 1;
		int type = gnutls_x509_crt_get_subject_alt_name(cert, i, san, &sz, NULL);

		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_SAN_DNSNAME) {
			san[sz] = '\0';
			if (matches(cert, san) && snprintf(buf, len, "%s", san) < (int)len)
				r = 0;
		} else if (type == GNUTLS_SAN_IPADDRESS && (sz == 4 || sz == 16)) {
			char ip[INET6_ADDRSTRLEN];
			if (inet_ntop(sz == 4 ? AF_INET : AF_INET6, san, ip, sizeof(ip)) &&
			    matches(cert, ip) && snprintf(buf, len, "%s", ip) < (int)len)
				r = 0;
		}
	}
	if (r < 0) {
		size_t sz = len;
		if (gnutls_x509_crt_get_dn_by_oid(cert, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &sz) == 0 &&
		    matches(cert, buf))
			r = 0;
	}
	gnutls_x509_crt_deinit(cert);
	return r;
}

int tlschan_wait(struct tlschan *t, int stop_fd, int ms)
{
	struct pollfd p[2] = { { .fd = t->fd, .events = POLLIN }, { .fd = stop_fd, .events = POLLIN } };
	int n;

	if (t->session && gnutls_record_check_pending(t->session) > 0)
		return 1;
	do
		n = poll(p, stop_fd >= 0 ? 2 : 1, ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (stop_fd >= 0 && p[1].revents)
		return -ECANCELED;
	return n > 0;
}

void tlschan_set_timeout(struct tlschan *t, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (t->session)
		gnutls_record_set_timeout(t->session, (unsigned)ms);
	else
		setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

ssize_t tlschan_read(struct tlschan *t, void *buf, size_t len)
{
	if (!t->session) {
		ssize_t n;
		do
			n = read(t->fd, buf, len);
		while (n < 0 && errno == EINTR);
		return n < 0 ? -errno : n;
	}
	for (;;) {
		ssize_t n = gnutls_record_recv(t->session, buf, len);
		if (n >= 0)
			return n;
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		return -EIO;
	}
}

int tlschan_read_full(struct tlschan *t, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = tlschan_read(t, (char *)buf + done, len - done);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

int tlschan_write_all(struct tlschan *t, const void *buf, size_t len)
{
	size_t done = 0;
	if (!t->session)
		return write_all(t->fd, buf, len);
	while (done < len) {
		ssize_t n = gnutls_record_send(t->session, (const char *)buf + done, len - done);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

/* Up to this much of a message's body goes out in the header's record. */
#define CORK_MAX (16u << 10)

int tlschan_write_msg(struct tlschan *t, const void *buf, uint32_t len)
{
	uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			   (uint8_t)len };
	int r;

	/* Plain channels are ssh's socketpair: no Nagle there. */
	if (!t->session || len > CORK_MAX) {
		r = tlschan_write_all(t, hdr, 4);
		return r < 0 ? r : tlschan_write_all(t, buf, len);
	}
	gnutls_record_cork(t->session);
	r = tlschan_write_all(t, hdr, 4);
	if (r == 0 && len)
		r = tlschan_write_all(t, buf, len);
	for (;;) {
		ssize_t e = gnutls_record_uncork(t->session, GNUTLS_RECORD_WAIT);
		if (e >= 0 || (e != GNUTLS_E_AGAIN && e != GNUTLS_E_INTERRUPTED)) {
			if (e < 0 && r == 0)
				r = -EPIPE;
			return r;
		}
	}
}

int tlschan_send_json(struct tlschan *t, json_t *msg)
{
	_cleanup_free_ char *s = json_dumps(msg, JSON_COMPACT);

	return s ? tlschan_write_msg(t, s, (uint32_t)strlen(s)) : -ENOMEM;
}

int tlschan_recv_json(struct tlschan *t, json_t **ret)
{
	uint8_t hdr[4];
	_cleanup_free_ char *buf = NULL;
	uint32_t n;
	json_t *msg;
	int r = tlschan_read_full(t, hdr, 4);

	if (r < 0)
		return r;
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > TLSCHAN_MAX_MESSAGE)
		return -EMSGSIZE;
	buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	r = tlschan_read_full(t, buf, n);
	if (r < 0)
		return r;
	msg = json_loadb(buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(msg)) {
		json_decref(msg);
		return -EBADMSG;
	}
	*ret = msg;
	return 0;
}
