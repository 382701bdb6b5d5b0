/* nbd-server.h - an embeddable NBD server: exports, backends, listeners.
 *
 * A server holds named exports, each backed by a backend (a vtable over an
 * opaque handle: a file, memory, a logical volume), and serves them
 * to NBD clients over Unix or TCP listeners, or over any byte stream the
 * caller hands it. The library keeps no global state, installs no signal
 * handler, never exits and does not log: errors come back as -errno.
 * Sends use MSG_NOSIGNAL (sendfile() runs with SIGPIPE blocked), so a
 * vanished client cannot raise SIGPIPE in the embedding process.
 *
 * Typical use (the `domus nbd-serve` verb, the daemon):
 *
 *     nbd_server_new(&cfg, &srv);
 *     nbd_file_backend_open(path, readonly, &be);
 *     nbd_server_add_export(srv, "", NULL, &be, readonly);
 *     nbd_server_listen_unix(srv, "/run/x.sock");
 *     nbd_server_run(srv);          // until nbd_server_stop()
 *     nbd_server_free(srv);
 */
#ifndef DOMUS_NBD_SERVER_H
#define DOMUS_NBD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* What a backend can do, returned by its caps() op. */
enum {
	NBD_BACKEND_CAN_WRITE      = 1u << 0,
	NBD_BACKEND_CAN_FLUSH      = 1u << 1,
	NBD_BACKEND_CAN_FUA        = 1u << 2, /* honours NBD_BACKEND_FUA natively */
	NBD_BACKEND_CAN_TRIM       = 1u << 3,
	NBD_BACKEND_CAN_FAST_ZERO  = 1u << 4, /* zero() can tell "not fast" apart */
	NBD_BACKEND_CAN_EXTENTS    = 1u << 5,
	NBD_BACKEND_CAN_MULTI_CONN = 1u << 6, /* one flush covers writes completed
					       * through any connection */
	NBD_BACKEND_ROTATIONAL     = 1u << 7,
};

/* Flags of one backend operation. */
enum {
	NBD_BACKEND_FUA       = 1u << 0, /* persist before returning */
	NBD_BACKEND_MAY_TRIM  = 1u << 1, /* zero(): deallocating is fine */
	NBD_BACKEND_FAST_ZERO = 1u << 2, /* zero(): fail with -ENOTSUP unless fast */
	NBD_BACKEND_NOWAIT    = 1u << 3, /* pread()/pwrite(): -EAGAIN rather than
					  * wait for a device (a hint: a backend
					  * that cannot tell just does the I/O) */
};

/* One extent of a block-status answer; flags are NBD_STATE_HOLE|ZERO. */
struct nbd_extent {
	uint64_t length;
	uint32_t flags;
};

/* A backend: every op works on the opaque handle, returns 0 or -errno, and
 * must be safe to call from several threads at once (a connection runs
 * several requests at a time, and many connections share the backend).
 * The server checks bounds and read-only before calling; ops set to NULL
 * are not offered to clients (zero() falls back to writing zeroes, and
 * extents() to "all data"). */
struct nbd_backend_ops {
	int (*get_size)(void *h, uint64_t *ret_size);
	unsigned (*caps)(void *h);
	int (*pread)(void *h, void *buf, uint32_t len, uint64_t off, unsigned flags);
	int (*pwrite)(void *h, const void *buf, uint32_t len, uint64_t off, unsigned flags);
	int (*flush)(void *h);
	/* Discard a range (a hint). -EOPNOTSUPP is taken as "did nothing". */
	int (*trim)(void *h, uint64_t off, uint32_t len, unsigned flags);
	/* Make a range read as zeroes. -EOPNOTSUPP: cannot do it better than
	 * writing zeroes, which the server then does unless FAST_ZERO. */
	int (*zero)(void *h, uint64_t off, uint32_t len, unsigned flags);
	/* Describe consecutive extents from OFF, at most MAX of them; they may
	 * cover less or more than LEN (the server clips). At least one. */
	int (*extents)(void *h, uint64_t off, uint32_t len, struct nbd_extent *ext,
		       size_t max, size_t *ret_n);
	/* Optional: the file and offset holding [OFF, OFF+LEN) in one piece,
	 * so large reads go from the page cache to the socket with sendfile()
	 * instead of through a buffer. -EOPNOTSUPP: use pread(). The fd must
	 * stay valid until unmap_fd(FD) (if set) is called, which the server
	 * does once the data is sent (the send may wait for a slow client:
	 * hold no lock meanwhile; a backend may hand out a dup of its fd). */
	int (*map_fd)(void *h, uint64_t off, uint32_t len, int *ret_fd, uint64_t *ret_off);
	void (*unmap_fd)(void *h, int fd);
	/* Prefetch a range (NBD_CMD_CACHE); NULL means nothing to do. */
	int (*cache)(void *h, uint64_t off, uint32_t len);
	/* Release the handle; called once when the server is freed. */
	void (*close)(void *h);
};

struct nbd_backend {
	const struct nbd_backend_ops *ops;
	void *handle;
};

/* Open PATH (a regular file or a block device) as a backend: pread/pwrite,
 * fdatasync, fallocate(PUNCH_HOLE/ZERO_RANGE), SEEK_DATA/SEEK_HOLE. */
int nbd_file_backend_open(const char *path, bool readonly, struct nbd_backend *ret);

struct lv_handle;

/* A logical volume (storage/lv.h) as a backend; takes ownership of LV (an
 * lv_open() handle, read-only or not as READONLY says) on success. A
 * snapshot's handle serves the snapshot's view, writes copy-on-write. */
int nbd_lv_backend_new(struct lv_handle *lv, bool readonly, struct nbd_backend *ret);

/* A zero-filled memory backend of SIZE bytes (tests, fuzzing). */
int nbd_mem_backend_new(uint64_t size, struct nbd_backend *ret);

/* A byte stream a connection runs over. recv() returns the count read, 0 at
 * end of stream or -errno; send() sends every byte of IOV (at most 8
 * entries) or returns -errno. handshake_done() (optional) is called when the
 * client enters transmission, e.g. to lift a handshake timeout.
 * send_file() (optional) sends HDR then LEN bytes of FD from OFF; any
 * failure, a short file included, is -errno and ends the connection.
 * CONCURRENT: send() and send_file() may run in one thread while another
 * is in recv() (a socket: yes; a TLS session: no). Only then does a
 * connection run requests in parallel; sends never overlap each other. */
struct nbd_io_ops {
	ssize_t (*recv)(void *io, void *buf, size_t len);
	int (*send)(void *io, const struct iovec *iov, int iovcnt);
	void (*handshake_done)(void *io);
	int (*send_file)(void *io, const void *hdr, size_t hdr_len, int fd, uint64_t off,
			 size_t len);
	bool concurrent;
};

enum nbd_tls_mode {
	NBD_TLS_OFF,     /* STARTTLS gets ERR_UNSUP */
	NBD_TLS_ON,      /* clients may upgrade with STARTTLS */
	NBD_TLS_REQUIRE, /* nothing but STARTTLS/ABORT before TLS (FORCEDTLS) */
};

struct nbd_server_config {
	unsigned max_connections;      /* 0: 1024; more are closed at once */
	unsigned handshake_timeout_ms; /* 0: 30 s, in all, for a client to
					* reach transmission (sockets only) */
	enum nbd_tls_mode tls;
	/* With TLS: a directory holding server-cert.pem and server-key.pem
	 * (the layout nbdkit and QEMU use). */
	const char *tls_certificates;
	/* Optional: told how each accepted client's connection ended (0, or
	 * -errno such as -EPROTO for a protocol violation), from that client's
	 * thread. The library does not log; this is where the caller can. */
	void (*client_done)(void *userdata, int result);
	void *userdata;
};

struct nbd_server;

/* Create a server (CFG may be NULL for the defaults). With TLS, fails with
 * -errno if the certificate or key cannot be read (-EINVAL: not valid). */
int nbd_server_new(const struct nbd_server_config *cfg, struct nbd_server **ret);

/* Stop listening, close every connection, wait for their threads, and free
 * the server with its exports (each backend's close() is called). Call it
 * once nbd_server_run() has returned (or was never called). NULL is fine.
 * Returns NULL. */
struct nbd_server *nbd_server_free(struct nbd_server *s);

/* Add an export named NAME (at most 4096 bytes; "" is the default export a
 * client gets when it asks for no name) with an optional DESCRIPTION. The
 * server takes ownership of *BACKEND on success (and zeroes it). Exports may
 * be added and removed while the server runs. -EEXIST if NAME is taken. */
int nbd_server_add_export(struct nbd_server *s, const char *name, const char *description,
			  struct nbd_backend *backend, bool readonly);

/* Remove the export NAME: new clients no longer find it, connected clients
 * keep it until they leave, and the last one out closes its backend.
 * -ENOENT if there is no such export. */
int nbd_server_remove_export(struct nbd_server *s, const char *name);

/* Listen on a Unix socket at PATH (a stale socket is replaced). */
int nbd_server_listen_unix(struct nbd_server *s, const char *path);

/* Listen on TCP "HOST:PORT" ("[::1]:10809", "127.0.0.1:0", ":10809" for all
 * addresses). RET_PORT (may be NULL) gets the bound port. */
int nbd_server_listen_tcp(struct nbd_server *s, const char *hostport, uint16_t *ret_port);

/* Accept and serve connections, one thread each, until nbd_server_stop();
 * then close them all and return 0 (or -errno if polling fails). */
int nbd_server_run(struct nbd_server *s);

/* Make nbd_server_run() return. Async-signal-safe (one write(2)). */
void nbd_server_stop(struct nbd_server *s);

/* Serve one client on the connected socket FD in the calling thread until it
 * disconnects; FD is not closed. Returns 0 on a clean end or -errno. */
int nbd_server_serve_fd(struct nbd_server *s, int fd);

/* Serve one client over a caller-provided stream (IO/OPS). */
int nbd_server_serve_io(struct nbd_server *s, const struct nbd_io_ops *ops, void *io);

#endif
