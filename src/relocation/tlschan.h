/* tlschan.h - mutually authenticated TLS streams between Domus hosts.
 *
 * Each host has a directory with ca-cert.pem (the CA all the hosts trust),
 * cert.pem and key.pem (its own certificate, signed by that CA). Both ends
 * present their certificate and check the other's against the CA: a host
 * without a certificate from the CA cannot talk to the relocation service.
 * A channel can also be plain, over a transport that is already
 * authenticated and encrypted (ssh, for `domus migrate -s`).
 */
#ifndef DOMUS_TLSCHAN_H
#define DOMUS_TLSCHAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tlschan_creds;
struct tlschan;

/* Load DIR/{ca-cert,cert,key}.pem. Returns 0 or -errno. */
int tlschan_creds_load(const char *dir, struct tlschan_creds **ret);
void tlschan_creds_free(struct tlschan_creds *c);

/* Write the RFC 7919 ffdhe2048 group to PATH as PKCS#3 PEM (atomically),
 * for a TLS server that would otherwise generate its own DH parameters
 * (QEMU's takes a second for it). Returns 0 or -errno. */
int tlschan_write_dh_params(const char *path);

/* TLS handshake on the connected socket FD (not taken), as SERVER or client,
 * requiring and verifying the peer's certificate. ERRBUF says why it failed. */
int tlschan_open(int fd, struct tlschan_creds *c, bool server, int timeout_ms,
		 struct tlschan **ret, char *errbuf, size_t errsize);
void tlschan_free(struct tlschan *t);

/* A channel without TLS on the connected socket FD (not taken). */
int tlschan_plain(int fd, struct tlschan **ret);

/* The name to check the peer's certificate against when another TLS
 * client (QEMU's migration) connects to the same peer: a DNS name or an
 * address from its subjectAltName, else its common name, whichever the
 * certificate matches. -ENOENT on a plain channel or without one. */
int tlschan_peer_hostname(struct tlschan *t, char *buf, size_t len);

/* Wait up to MS milliseconds (< 0: no limit) for something to read: 1
 * if there is (or the stream ended), 0 if not, -ECANCELED if STOP_FD (if
 * >= 0) became readable first, -errno. The session is not touched, so a
 * thread waiting here can be stopped while another still writes. */
int tlschan_wait(struct tlschan *t, int stop_fd, int ms);

/* Reads give up after MS milliseconds without data (0: never). */
void tlschan_set_timeout(struct tlschan *t, int ms);

/* Read up to LEN bytes (0 at end of stream) or -errno. */
ssize_t tlschan_read(struct tlschan *t, void *buf, size_t len);
/* Read exactly LEN bytes; -EPIPE at end of stream. */
int tlschan_read_full(struct tlschan *t, void *buf, size_t len);
int tlschan_write_all(struct tlschan *t, const void *buf, size_t len);

/* One message: u32 big-endian LEN, then BUF (LEN 0: the header alone),
 * in one TLS record when it is small. */
int tlschan_write_msg(struct tlschan *t, const void *buf, uint32_t len);

/* A JSON object per message: u32 big-endian length, then the text. */
int tlschan_send_json(struct tlschan *t, json_t *msg);
int tlschan_recv_json(struct tlschan *t, json_t **ret);

#endif
