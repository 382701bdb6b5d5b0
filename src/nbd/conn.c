/* conn.c - one NBD client connection: fixed newstyle handshake, option
 * haggling, then the transmission phase.
 *
 * The connection thread reads through a buffer that can hold many requests
 * and gathers the replies of what it runs itself in an output buffer sent
 * in one go when no complete request is left (or when it grows big): at
 * queue depth 32, one recv() and one send() carry dozens of requests.
 * Small reads and writes run there, tried without waiting for a device
 * (NBD_BACKEND_NOWAIT: the page cache answers in a microsecond, far less
 * than handing the request to another thread). Everything else, and what
 * would wait, goes to a small pool of worker threads (started as needed):
 * the request is parsed into one of a fixed set of slots (a write's payload
 * received straight into the slot's buffer), a worker runs it and sends its
 * reply in one piece under the send lock, so replies never interleave.
 * Buffers grow to the largest request and are reused: no allocation per
 * request in the steady state. Streams that cannot send while another
 * thread receives (TLS) run every request in order on the connection thread.
 *
 * Ordering: the protocol lets requests in flight complete in any order. A
 * flush covers the writes completed (replied to) before it was received,
 * here and on other connections, because a reply is only sent once the
 * write is in the backend and the flush is a sync of the shared backend.
 * DISC, and any end, waits for the requests handed to workers.
 */
#include "nbd/nbd-internal.h"
#include "nbd/nbd-proto.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define IN_MIN_CAP       (256u << 10)
#define OUT_MIN_CAP      (256u << 10)
#define OUT_FLUSH_AT     (256u << 10)
#define BUF_SHRINK_AT    (4u << 20)   /* idle connections keep less */
#define OPT_MAX_LEN      (64u << 10)  /* longer options get ERR_TOO_BIG */
#define OPT_DISCARD_MAX  (16u << 20)  /* ... or a hard disconnect past this */
#define MAX_EXTENTS      64
#define SENDFILE_MIN     (64u << 10)  /* smaller reads are cheaper batched */
#define INLINE_MAX       (64u << 10)  /* larger reads and writes go to workers */
#define MAX_SLOTS        64           /* requests handed to workers at once */
#define MAX_WORKERS      8            /* worker threads per connection */
#define INFLIGHT_MAX     (64u << 20)  /* write payload bytes held by slots */
#define WORKER_STACK     (256u << 10)
#define RUN_DEFER        1            /* inline run would wait: use a worker */

/* What an option handler tells the negotiation loop. */
enum { OPT_CONTINUE, OPT_TRANSMIT, OPT_CLOSE };

struct outbuf {
	uint8_t *p;
	size_t len, cap;
};

struct request {
	uint16_t flags, type;
	uint64_t cookie, offset;
	uint32_t len;
	const uint8_t *payload;
};

/* A request handed to the workers, with room for its write payload. */
struct slot {
	struct request rq;
	uint8_t *buf;
	size_t cap;
	uint32_t bytes;             /* counted in conn.inflight */
	struct slot *next;
};

/* What a thread running requests needs: its replies and extents. */
struct runner {
	struct outbuf out;
	struct nbd_extent ext[MAX_EXTENTS];
};

struct worker {
	struct conn *c;
	pthread_t thread;
	struct runner run;
};

struct conn {
	struct nbd_server *srv;
	const struct nbd_io_ops *ops;  /* the socket, or TLS over it */
	void *io;
	struct nbd_tls *tls;
	uint8_t *in;
	size_t in_cap, in_pos, in_end;
	struct runner run;          /* the connection thread's (batched replies) */
	bool fixed, no_zeroes, structured;
	bool meta_alloc;            /* base:allocation selected ... */
	char *meta_export;          /* ... for this export name */
	struct nbd_export *exp;     /* referenced */
	uint64_t size;
	uint16_t tflags;
	unsigned caps;
	bool parallel;              /* workers may run requests */
	bool big_write;             /* the last request was a write for a worker */
	pthread_mutex_t send_lock;  /* one reply on the wire at a time */
	pthread_mutex_t lock;       /* the fields below */
	pthread_cond_t work;        /* to workers: queued requests, or quit */
	pthread_cond_t done;        /* to the reader: a slot came back */
	struct slot *free_slots, *queue, **queue_tail;
	unsigned busy, queued;      /* slots off the free list; in the queue */
	uint64_t inflight;
	unsigned nworkers, idle;
	bool quit;
	int error;                  /* a worker's failure ends the connection */
	struct worker workers[MAX_WORKERS];
	struct slot slots[MAX_SLOTS];
};

static void put16(uint8_t *p, uint16_t v) { v = htobe16(v); memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }

/* --- buffered I/O ------------------------------------------------------ */

/* Send what O holds, as one piece on the wire. */
static int out_send(struct conn *c, struct outbuf *o)
{
	struct iovec iov = { .iov_base = o->p, .iov_len = o->len };
	int r;

	if (o->len == 0)
		return 0;
	o->len = 0;
	pthread_mutex_lock(&c->send_lock);
	r = c->ops->send(c->io, &iov, 1);
	pthread_mutex_unlock(&c->send_lock);
	return r;
}

static int out_flush(struct conn *c)
{
	return out_send(c, &c->run.out);
}

/* Room for N more bytes at the end of O, or NULL. */
static uint8_t *out_reserve(struct outbuf *o, size_t n)
{
	if (o->len + n > o->cap) {
		size_t cap = o->cap * 2 > o->len + n ? o->cap * 2 : o->len + n;
		uint8_t *p = realloc(o->p, cap);

		if (!p)
			return NULL;
		o->p = p;
		o->cap = cap;
	}
	return o->p + o->len;
}

/* An empty buffer grown past BUF_SHRINK_AT goes back to CAP bytes. */
static void out_shrink(struct outbuf *o, size_t cap)
{
	uint8_t *p;

	if (o->len == 0 && o->cap > BUF_SHRINK_AT && (p = realloc(o->p, cap))) {
		o->p = p;
		o->cap = cap;
	}
}

/* Buffers grown for large requests return to their usual size when the
 * connection waits for its client, so that idle connections stay small. */
static void shrink_buffers(struct conn *c)
{
	size_t avail = c->in_end - c->in_pos;
	uint8_t *p;

	out_shrink(&c->run.out, OUT_MIN_CAP);
	if (c->in_cap > BUF_SHRINK_AT && avail <= IN_MIN_CAP) {
		memmove(c->in, c->in + c->in_pos, avail);
		c->in_pos = 0;
		c->in_end = avail;
		p = realloc(c->in, IN_MIN_CAP);
		if (p) {
			c->in = p;
			c->in_cap = IN_MIN_CAP;
		}
	}
}

/* Receive exactly LEN bytes into BUF; end of stream is -ECONNRESET. */
static int recv_all(struct conn *c, uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t got = c->ops->recv(c->io, buf, len);

		if (got < 0)
			return (int)got;
		if (got == 0)
			return -ECONNRESET;
		buf += got;
		len -= (size_t)got;
	}
	return 0;
}

/* Make N bytes available at c->in + c->in_pos. Pending output is sent
 * before waiting for the client. End of stream is -ECONNRESET. */
static int in_fill(struct conn *c, size_t n)
{
	size_t avail = c->in_end - c->in_pos;
	int r;

	if (avail >= n)
		return 0;
	r = out_flush(c);
	if (r < 0)
		return r;
	if (n <= IN_MIN_CAP)
		shrink_buffers(c);
	if (c->in_pos + n > c->in_cap) {
		memmove(c->in, c->in + c->in_pos, avail);
		c->in_pos = 0;
		c->in_end = avail;
		if (n > c->in_cap) {
			uint8_t *p = realloc(c->in, n);

			if (!p)
				return -ENOMEM;
			c->in = p;
			c->in_cap = n;
		}
	}
	while (c->in_end - c->in_pos < n) {
		/* After a large write, read no more than asked: the next payload
		 * is likely large too, and goes straight into a slot. */
		size_t want = c->big_write ? n - (c->in_end - c->in_pos) : c->in_cap - c->in_end;
		ssize_t got = c->ops->recv(c->io, c->in + c->in_end, want);

		if (got < 0)
			return (int)got;
		if (got == 0)
			return -ECONNRESET;
		c->in_end += (size_t)got;
	}
	return 0;
}

/* Take N available bytes off the input. */
static const uint8_t *in_take(struct conn *c, size_t n)
{
	const uint8_t *p = c->in + c->in_pos;

	c->in_pos += n;
	return p;
}

/* Read and drop N bytes (a payload we refuse). */
static int in_discard(struct conn *c, uint64_t n)
{
	while (n > 0) {
		size_t chunk = n < IN_MIN_CAP ? (size_t)n : IN_MIN_CAP;
		int r = in_fill(c, chunk);

		if (r < 0)
			return r;
		in_take(c, chunk);
		n -= chunk;
	}
	return 0;
}

/* --- handshake and options --------------------------------------------- */

static int opt_reply(struct conn *c, uint32_t opt, uint32_t type, const void *data, size_t len)
{
	uint8_t *p = out_reserve(&c->run.out, 20 + len);

	if (!p)
		return -ENOMEM;
	put64(p, NBD_REP_MAGIC);
	put32(p + 8, opt);
	put32(p + 12, type);
	put32(p + 16, (uint32_t)len);
	if (len)
		memcpy(p + 20, data, len);
	c->run.out.len += 20 + len;
	return 0;
}

/* An error reply with a message for humans; the loop goes on. */
static int opt_error(struct conn *c, uint32_t opt, uint32_t type, const char *msg)
{
	int r = opt_reply(c, opt, type, msg, strlen(msg));

	return r < 0 ? r : OPT_CONTINUE;
}

/* Look NAME (LEN bytes, not NUL-terminated) up and reference it. NULL if it
 * is not a valid string or no such export exists. */
static struct nbd_export *get_export(struct conn *c, const uint8_t *name, uint32_t len)
{
	char buf[NBD_MAX_STRING + 1];

	if (len > NBD_MAX_STRING || memchr(name, 0, len))
		return NULL;
	memcpy(buf, name, len);
	buf[len] = 0;
	return nbd_server_get_export(c->srv, buf);
}

/* Make E the export of this connection (taking over the reference on
 * success): size and transmission flags. */
static int use_export(struct conn *c, struct nbd_export *e)
{
	const struct nbd_backend_ops *ops = e->backend.ops;
	void *h = e->backend.handle;
	unsigned caps = ops->caps ? ops->caps(h) : 0;
	uint16_t fl = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_CACHE;
	int r = ops->get_size(h, &c->size);

	if (r < 0)
		return r;
	if (c->structured)
		fl |= NBD_FLAG_SEND_DF;
	if (ops->flush && (caps & NBD_BACKEND_CAN_FLUSH))
		fl |= NBD_FLAG_SEND_FLUSH;
	if (e->readonly) {
		fl |= NBD_FLAG_READ_ONLY;
	} else {
		fl |= NBD_FLAG_SEND_WRITE_ZEROES;
		if ((caps & NBD_BACKEND_CAN_FUA) || (fl & NBD_FLAG_SEND_FLUSH))
			fl |= NBD_FLAG_SEND_FUA;
		if (ops->trim && (caps & NBD_BACKEND_CAN_TRIM))
			fl |= NBD_FLAG_SEND_TRIM;
		if (ops->zero && (caps & NBD_BACKEND_CAN_FAST_ZERO))
			fl |= NBD_FLAG_SEND_FAST_ZERO;
	}
	if (caps & NBD_BACKEND_CAN_MULTI_CONN)
		fl |= NBD_FLAG_CAN_MULTI_CONN;
	if (caps & NBD_BACKEND_ROTATIONAL)
		fl |= NBD_FLAG_ROTATIONAL;
	nbd_server_put_export(c->srv, c->exp);
	c->exp = e;
	c->caps = caps;
	c->tflags = fl;
	/* Meta contexts were chosen for one export name; another drops them. */
	if (c->meta_export && !streq(c->meta_export, e->name))
		c->meta_alloc = false;
	return 0;
}

static int opt_export_name(struct conn *c, const uint8_t *data, uint32_t len)
{
	struct nbd_export *e = get_export(c, data, len);
	uint8_t *p;
	size_t n = c->no_zeroes ? 10 : 134;

	/* This option cannot fail politely: the only answer is to hang up. */
	if (!e)
		return OPT_CLOSE;
	if (use_export(c, e) < 0) {
		nbd_server_put_export(c->srv, e);
		return OPT_CLOSE;
	}
	p = out_reserve(&c->run.out, n);
	if (!p)
		return -ENOMEM;
	memset(p, 0, n);
	put64(p, c->size);
	put16(p + 8, c->tflags);
	c->run.out.len += n;
	return OPT_TRANSMIT;
}

static int list_one(const struct nbd_export *e, void *userdata)
{
	struct conn *c = userdata;
	size_t nlen = strlen(e->name), dlen = e->description ? strlen(e->description) : 0;
	uint8_t buf[4 + 2 * NBD_MAX_STRING];

	put32(buf, (uint32_t)nlen);
	memcpy(buf + 4, e->name, nlen);
	if (dlen)
		memcpy(buf + 4 + nlen, e->description, dlen);
	return opt_reply(c, NBD_OPT_LIST, NBD_REP_SERVER, buf, 4 + nlen + dlen);
}

static int opt_list(struct conn *c, uint32_t len)
{
	int r;

	if (len != 0)
		return opt_error(c, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
	r = nbd_server_foreach_export(c->srv, list_one, c);
	if (r < 0)
		return r;
	return opt_reply(c, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

/* The NBD_REP_INFO replies of INFO/GO: EXPORT always, BLOCK_SIZE always
 * (our minimum is 1, so it never constrains a client that ignores it),
 * NAME and DESCRIPTION when asked. */
static int send_infos(struct conn *c, uint32_t opt, const uint8_t *reqs, uint16_t nreqs)
{
	const struct nbd_export *e = c->exp;
	uint8_t buf[2 + NBD_MAX_STRING];
	int r;

	put16(buf, NBD_INFO_EXPORT);
	put64(buf + 2, c->size);
	put16(buf + 10, c->tflags);
	r = opt_reply(c, opt, NBD_REP_INFO, buf, 12);
	put16(buf, NBD_INFO_BLOCK_SIZE);
	put32(buf + 2, NBD_MIN_BLOCK);
	put32(buf + 6, NBD_PREFERRED_BLOCK);
	put32(buf + 10, NBD_MAX_BLOCK);
	if (r >= 0)
		r = opt_reply(c, opt, NBD_REP_INFO, buf, 14);
	for (uint16_t i = 0; r >= 0 && i < nreqs; i++) {
		uint16_t type = get16(reqs + 2 * i);
		const char *s = type == NBD_INFO_NAME ? e->name :
				type == NBD_INFO_DESCRIPTION ? e->description : NULL;

		if (!s)
			continue;
		put16(buf, type);
		memcpy(buf + 2, s, strlen(s));
		r = opt_reply(c, opt, NBD_REP_INFO, buf, 2 + strlen(s));
	}
	return r;
}

static int opt_info_go(struct conn *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
	struct nbd_export *e;
	uint32_t nlen;
	uint16_t nreqs;
	int r;

	if (len < 6 || (nlen = get32(data)) > len - 6)
		return opt_error(c, opt, NBD_REP_ERR_INVALID, "malformed info request");
	nreqs = get16(data + 4 + nlen);
	if (len != 6 + nlen + 2u * nreqs)
		return opt_error(c, opt, NBD_REP_ERR_INVALID, "malformed info request");
	if (nlen > NBD_MAX_STRING)
		return opt_error(c, opt, NBD_REP_ERR_TOO_BIG, "export name too long");
	e = get_export(c, data + 4, nlen);
	if (!e)
		return opt_error(c, opt, NBD_REP_ERR_UNKNOWN, "no such export");
	if (use_export(c, e) < 0) {
		nbd_server_put_export(c->srv, e);
		return opt_error(c, opt, NBD_REP_ERR_PLATFORM, "cannot open the export");
	}
	r = send_infos(c, opt, data + 6 + nlen, nreqs);
	if (r >= 0)
		r = opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
	if (r < 0)
		return r;
	if (opt == NBD_OPT_INFO) {
		nbd_server_put_export(c->srv, TAKE_PTR(c->exp));
		return OPT_CONTINUE;
	}
	return OPT_TRANSMIT;
}

static int opt_structured(struct conn *c, uint32_t len)
{
	if (len != 0)
		return opt_error(c, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID,
				 "NBD_OPT_STRUCTURED_REPLY takes no data");
	if (c->structured)
		return opt_error(c, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID,
				 "structured replies already negotiated");
	c->structured = true;
	return opt_reply(c, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
}

/* Does QUERY (LIST or SET) name base:allocation? LIST also takes "base:". */
static bool query_matches(const uint8_t *q, uint32_t qlen, bool list)
{
	const char *ctx = NBD_META_BASE_ALLOCATION;

	if (qlen == strlen(ctx) && memcmp(q, ctx, qlen) == 0)
		return true;
	return list && qlen == 5 && memcmp(q, "base:", 5) == 0;
}

/* Walk the queries of a meta context request; true if one matches. */
static int parse_meta_queries(const uint8_t *p, uint32_t left, uint32_t nq, bool list,
			      bool *ret_match)
{
	bool match = list && nq == 0;

	for (uint32_t i = 0; i < nq; i++) {
		uint32_t qlen;

		if (left < 4 || (qlen = get32(p)) > left - 4)
			return -EINVAL;
		if (qlen > NBD_MAX_STRING)
			return -E2BIG;
		match |= query_matches(p + 4, qlen, list);
		p += 4 + qlen;
		left -= 4 + qlen;
	}
	if (left != 0)
		return -EINVAL;
	*ret_match = match;
	return 0;
}

static int opt_meta(struct conn *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
	bool list = opt == NBD_OPT_LIST_META_CONTEXT, match;
	struct nbd_export *e;
	uint8_t buf[4 + sizeof(NBD_META_BASE_ALLOCATION)];
	uint32_t nlen;
	int r;

	if (!list && !c->structured)
		return opt_error(c, opt, NBD_REP_ERR_INVALID, "structured replies not negotiated");
	if (len < 8 || (nlen = get32(data)) > len - 8)
		return opt_error(c, opt, NBD_REP_ERR_INVALID, "malformed meta context request");
	r = parse_meta_queries(data + 8 + nlen, len - 8 - nlen, get32(data + 4 + nlen), list,
			       &match);
	if (r < 0 || nlen > NBD_MAX_STRING)
		return opt_error(c, opt, r == -EINVAL ? NBD_REP_ERR_INVALID : NBD_REP_ERR_TOO_BIG,
				 "malformed meta context request");
	e = get_export(c, data + 4, nlen);
	if (!e)
		return opt_error(c, opt, NBD_REP_ERR_UNKNOWN, "no such export");
	if (!list) {
		char *name = strdup(e->name);

		nbd_server_put_export(c->srv, e);
		if (!name)
			return -ENOMEM;
		free(c->meta_export);
		c->meta_export = name;
		c->meta_alloc = match;
	} else {
		nbd_server_put_export(c->srv, e);
	}
	if (match) {
		put32(buf, NBD_META_ID_BASE_ALLOCATION);
		memcpy(buf + 4, NBD_META_BASE_ALLOCATION, strlen(NBD_META_BASE_ALLOCATION));
		r = opt_reply(c, opt, NBD_REP_META_CONTEXT, buf,
			      4 + strlen(NBD_META_BASE_ALLOCATION));
		if (r < 0)
			return r;
	}
	return opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
}

/* Upgrade to TLS: ACK in clear, then the TLS handshake on the stream. */
static int opt_starttls(struct conn *c, uint32_t len)
{
	const struct nbd_tls_creds *creds = nbd_server_tls_creds(c->srv);
	int r;

	if (!creds)
		return opt_error(c, NBD_OPT_STARTTLS, NBD_REP_ERR_UNSUP, "TLS is not enabled");
	if (len != 0)
		return opt_error(c, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
				 "NBD_OPT_STARTTLS takes no data");
	if (c->tls)
		return opt_error(c, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "TLS already started");
	r = opt_reply(c, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0);
	if (r >= 0)
		r = out_flush(c);
	if (r < 0)
		return r;
	/* Bytes sent before our ACK cannot be TLS: someone is injecting. */
	if (c->in_end != c->in_pos)
		return -EPROTO;
	r = nbd_tls_start(creds, c->ops, c->io, &c->tls);
	if (r < 0)
		return r;
	c->ops = &nbd_tls_io_ops;
	c->io = c->tls;
	return OPT_CONTINUE;
}

static int handle_option(struct conn *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
	/* Without fixed newstyle the client cannot take error replies. */
	if (!c->fixed && opt != NBD_OPT_EXPORT_NAME)
		return OPT_CLOSE;
	if (nbd_server_tls_mode(c->srv) == NBD_TLS_REQUIRE && !c->tls &&
	    opt != NBD_OPT_STARTTLS && opt != NBD_OPT_ABORT) {
		if (opt == NBD_OPT_EXPORT_NAME) /* cannot be refused politely */
			return OPT_CLOSE;
		return opt_error(c, opt, NBD_REP_ERR_TLS_REQD, "TLS is required");
	}
	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		return opt_export_name(c, data, len);
	case NBD_OPT_ABORT:
		opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
		out_flush(c);
		return OPT_CLOSE;
	case NBD_OPT_LIST:
		return opt_list(c, len);
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return opt_info_go(c, opt, data, len);
	case NBD_OPT_STRUCTURED_REPLY:
		return opt_structured(c, len);
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return opt_meta(c, opt, data, len);
	case NBD_OPT_STARTTLS:
		return opt_starttls(c, len);
	default:
		return opt_error(c, opt, NBD_REP_ERR_UNSUP, "unknown option");
	}
}

/* Greeting, client flags, then options until one enters transmission.
 * Returns OPT_TRANSMIT, OPT_CLOSE or -errno. */
static int negotiate(struct conn *c)
{
	uint8_t *p = out_reserve(&c->run.out, 18);
	uint32_t cflags;
	int r;

	if (!p)
		return -ENOMEM;
	put64(p, NBD_MAGIC);
	put64(p + 8, NBD_OPTS_MAGIC);
	put16(p + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	c->run.out.len += 18;
	r = in_fill(c, 4);
	if (r < 0)
		return r;
	cflags = get32(in_take(c, 4));
	if (cflags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
		return -EPROTO;
	c->fixed = cflags & NBD_FLAG_C_FIXED_NEWSTYLE;
	c->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;
	for (;;) {
		const uint8_t *h;
		uint32_t opt, len;

		r = in_fill(c, 16);
		if (r < 0)
			return r;
		h = in_take(c, 16);
		if (get64(h) != NBD_OPTS_MAGIC)
			return -EPROTO;
		opt = get32(h + 8);
		len = get32(h + 12);
		if (len > OPT_MAX_LEN) {
			if (!c->fixed || len > OPT_DISCARD_MAX)
				return -EPROTO;
			r = in_discard(c, len);
			if (r >= 0)
				r = opt_error(c, opt, NBD_REP_ERR_TOO_BIG, "option too long");
		} else {
			r = in_fill(c, len);
			if (r >= 0)
				r = handle_option(c, opt, in_take(c, len), len);
		}
		if (r != OPT_CONTINUE)
			return r;
	}
}

/* --- transmission -------------------------------------------------------- */

/* The wire's error value for a -errno from a backend. */
static uint32_t wire_error(int r)
{
	switch (-r) {
	case EPERM:
	case EROFS:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case EOPNOTSUPP:
		return NBD_ENOTSUP;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}

static int reply_simple(struct outbuf *o, const struct request *rq, uint32_t err)
{
	uint8_t *p = out_reserve(o, NBD_SIMPLE_REPLY_SIZE);

	if (!p)
		return -ENOMEM;
	put32(p, NBD_SIMPLE_REPLY_MAGIC);
	put32(p + 4, err);
	put64(p + 8, rq->cookie);
	o->len += NBD_SIMPLE_REPLY_SIZE;
	return 0;
}

static void put_chunk_header(uint8_t *p, const struct request *rq, uint16_t type, uint32_t len)
{
	put32(p, NBD_STRUCTURED_REPLY_MAGIC);
	put16(p + 4, NBD_REPLY_FLAG_DONE);
	put16(p + 6, type);
	put64(p + 8, rq->cookie);
	put32(p + 16, len);
}

/* Reply ERR (a wire error value, 0 for success) with MSG for humans. */
static int reply_status(struct conn *c, struct outbuf *o, const struct request *rq, uint32_t err,
			const char *msg)
{
	size_t mlen = strlen(msg);
	uint8_t *p;

	if (err == 0 || !c->structured)
		return reply_simple(o, rq, err);
	p = out_reserve(o, NBD_CHUNK_HEADER_SIZE + 6 + mlen);
	if (!p)
		return -ENOMEM;
	put_chunk_header(p, rq, NBD_REPLY_TYPE_ERROR, (uint32_t)(6 + mlen));
	put32(p + 20, err);
	put16(p + 24, (uint16_t)mlen);
	memcpy(p + 26, msg, mlen);
	o->len += NBD_CHUNK_HEADER_SIZE + 6 + mlen;
	return 0;
}

static int reply_errno(struct conn *c, struct outbuf *o, const struct request *rq, int r)
{
	return reply_status(c, o, rq, r < 0 ? wire_error(r) : 0, strerror(-r));
}

/* The header of a successful read reply: HDR_LEN bytes at P. */
static void put_read_header(struct conn *c, uint8_t *p, const struct request *rq)
{
	if (c->structured) {
		put_chunk_header(p, rq, NBD_REPLY_TYPE_OFFSET_DATA, 8 + rq->len);
		put64(p + NBD_CHUNK_HEADER_SIZE, rq->offset);
	} else {
		put32(p, NBD_SIMPLE_REPLY_MAGIC);
		put32(p + 4, 0);
		put64(p + 8, rq->cookie);
	}
}

/* A large read whose data lies in one file goes from the page cache to the
 * socket by sendfile(): no copy through the server at all. What O holds
 * goes first, under the same lock. 1 if done, 0 if this read cannot go
 * that way. */
static int read_by_sendfile(struct conn *c, struct outbuf *o, const struct request *rq,
			    size_t hdr_len)
{
	const struct nbd_backend_ops *ops = c->exp->backend.ops;
	void *h = c->exp->backend.handle;
	uint8_t hdr[NBD_CHUNK_HEADER_SIZE + 8];
	struct iovec iov = { .iov_base = o->p, .iov_len = o->len };
	uint64_t off;
	int fd, r = 0;

	if (rq->len < SENDFILE_MIN || !c->ops->send_file || !ops->map_fd ||
	    ops->map_fd(h, rq->offset, rq->len, &fd, &off) < 0)
		return 0;
	put_read_header(c, hdr, rq);
	pthread_mutex_lock(&c->send_lock);
	if (o->len)
		r = c->ops->send(c->io, &iov, 1);
	o->len = 0;
	if (r >= 0)
		r = c->ops->send_file(c->io, hdr, hdr_len, fd, off, rq->len);
	pthread_mutex_unlock(&c->send_lock);
	if (ops->unmap_fd)
		ops->unmap_fd(h, fd);
	return r < 0 ? r : 1;
}

/* Read straight into the output buffer behind the reply header. */
static int do_read(struct conn *c, struct outbuf *o, const struct request *rq, unsigned nowait)
{
	size_t hdr = c->structured ? NBD_CHUNK_HEADER_SIZE + 8 : NBD_SIMPLE_REPLY_SIZE;
	uint8_t *p;
	int r = read_by_sendfile(c, o, rq, hdr);

	if (r != 0)
		return r < 0 ? r : 0;
	p = out_reserve(o, hdr + rq->len);
	if (!p)
		return reply_errno(c, o, rq, -ENOMEM);
	r = c->exp->backend.ops->pread(c->exp->backend.handle, p + hdr, rq->len, rq->offset,
				       nowait);
	if (r == -EAGAIN && nowait)
		return RUN_DEFER;
	if (r < 0)
		return reply_errno(c, o, rq, r);
	put_read_header(c, p, rq);
	o->len += hdr + rq->len;
	return 0;
}

/* FUA the backend cannot do itself is a flush after the write. */
static unsigned fua_flags(struct conn *c, const struct request *rq)
{
	return (rq->flags & NBD_CMD_FLAG_FUA) && (c->caps & NBD_BACKEND_CAN_FUA) ?
	       NBD_BACKEND_FUA : 0;
}

static int after_write(struct conn *c, struct outbuf *o, const struct request *rq, int r)
{
	const struct nbd_backend_ops *ops = c->exp->backend.ops;

	if (r >= 0 && (rq->flags & NBD_CMD_FLAG_FUA) && !(c->caps & NBD_BACKEND_CAN_FUA) &&
	    ops->flush)
		r = ops->flush(c->exp->backend.handle);
	return reply_errno(c, o, rq, r);
}

static int do_write(struct conn *c, struct outbuf *o, const struct request *rq, unsigned nowait)
{
	int r = c->exp->backend.ops->pwrite(c->exp->backend.handle, rq->payload, rq->len,
					    rq->offset, fua_flags(c, rq) | nowait);

	if (r == -EAGAIN && nowait)
		return RUN_DEFER;
	return after_write(c, o, rq, r);
}

static int write_zeroes_slowly(struct conn *c, const struct request *rq, unsigned flags)
{
	const void *zero = nbd_server_zero_buf(c->srv);
	uint64_t off = rq->offset;
	uint32_t left = rq->len;

	while (left > 0) {
		uint32_t n = left < NBD_ZERO_BUF_SIZE ? left : NBD_ZERO_BUF_SIZE;
		int r = c->exp->backend.ops->pwrite(c->exp->backend.handle, zero, n, off, flags);

		if (r < 0)
			return r;
		off += n;
		left -= n;
	}
	return 0;
}

static int do_write_zeroes(struct conn *c, struct outbuf *o, const struct request *rq)
{
	const struct nbd_backend_ops *ops = c->exp->backend.ops;
	unsigned flags = fua_flags(c, rq);
	int r;

	if (!(rq->flags & NBD_CMD_FLAG_NO_HOLE))
		flags |= NBD_BACKEND_MAY_TRIM;
	if (rq->flags & NBD_CMD_FLAG_FAST_ZERO)
		flags |= NBD_BACKEND_FAST_ZERO;
	r = ops->zero ? ops->zero(c->exp->backend.handle, rq->offset, rq->len, flags) :
			-EOPNOTSUPP;
	if (r == -EOPNOTSUPP && !(flags & NBD_BACKEND_FAST_ZERO))
		r = write_zeroes_slowly(c, rq, flags & NBD_BACKEND_FUA);
	return after_write(c, o, rq, r);
}

/* Extents clipped to the request, merged when their flags agree. */
static size_t clip_extents(struct nbd_extent *ext, size_t n, uint32_t len)
{
	uint64_t sum = 0;
	size_t out = 0;

	for (size_t i = 0; i < n && sum < len; i++) {
		uint64_t l = ext[i].length;

		if (l == 0)
			continue;
		if (l > len - sum)
			l = len - sum;
		if (out > 0 && ext[out - 1].flags == ext[i].flags) {
			ext[out - 1].length += l;
		} else {
			ext[out] = (struct nbd_extent){ .length = l, .flags = ext[i].flags };
			out++;
		}
		sum += l;
	}
	return out;
}

static int do_block_status(struct conn *c, struct runner *run, const struct request *rq)
{
	const struct nbd_backend_ops *ops = c->exp->backend.ops;
	size_t max = (rq->flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : MAX_EXTENTS, n = 0;
	struct nbd_extent *ext = run->ext;
	uint8_t *p;
	int r = -EOPNOTSUPP;

	if (ops->extents && (c->caps & NBD_BACKEND_CAN_EXTENTS))
		r = ops->extents(c->exp->backend.handle, rq->offset, rq->len, ext, max, &n);
	n = r < 0 ? 0 : clip_extents(ext, n > max ? max : n, rq->len);
	if (n == 0) { /* status 0 ("data") is always a correct answer */
		ext[0] = (struct nbd_extent){ .length = rq->len, .flags = 0 };
		n = 1;
	}
	p = out_reserve(&run->out, NBD_CHUNK_HEADER_SIZE + 4 + 8 * n);
	if (!p)
		return reply_errno(c, &run->out, rq, -ENOMEM);
	put_chunk_header(p, rq, NBD_REPLY_TYPE_BLOCK_STATUS, (uint32_t)(4 + 8 * n));
	put32(p + 20, NBD_META_ID_BASE_ALLOCATION);
	for (size_t i = 0; i < n; i++) {
		put32(p + 24 + 8 * i, (uint32_t)ext[i].length);
		put32(p + 28 + 8 * i, ext[i].flags);
	}
	run->out.len += NBD_CHUNK_HEADER_SIZE + 4 + 8 * n;
	return 0;
}

/* The command flags each command takes on this connection; 0xffff marks
 * an unknown command. */
static uint16_t allowed_flags(struct conn *c, uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ:
		return NBD_CMD_FLAG_FUA | (c->structured ? NBD_CMD_FLAG_DF : 0);
	case NBD_CMD_WRITE:
	case NBD_CMD_FLUSH:
	case NBD_CMD_TRIM:
	case NBD_CMD_CACHE:
		return NBD_CMD_FLAG_FUA;
	case NBD_CMD_WRITE_ZEROES:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |
		       ((c->tflags & NBD_FLAG_SEND_FAST_ZERO) ? NBD_CMD_FLAG_FAST_ZERO : 0);
	case NBD_CMD_BLOCK_STATUS:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
	default:
		return 0xffff;
	}
}

/* Everything the protocol says to refuse; returns a wire error and MSG. */
static uint32_t check_request(struct conn *c, const struct request *rq, const char **msg)
{
	uint16_t allowed = allowed_flags(c, rq->type);
	bool writes = rq->type == NBD_CMD_WRITE || rq->type == NBD_CMD_WRITE_ZEROES;

	*msg = "invalid request";
	if (allowed == 0xffff)
		return *msg = "unknown command", NBD_EINVAL;
	if (rq->flags & ~allowed)
		return *msg = "unknown or invalid flags", NBD_EINVAL;
	if ((writes || rq->type == NBD_CMD_TRIM) && (c->tflags & NBD_FLAG_READ_ONLY))
		return *msg = "read-only export", NBD_EPERM;
	if (rq->type == NBD_CMD_TRIM && !(c->tflags & NBD_FLAG_SEND_TRIM))
		return *msg = "trim not supported", NBD_EINVAL;
	if (rq->type == NBD_CMD_FLUSH)
		return rq->offset || rq->len ? NBD_EINVAL : 0;
	if (rq->type == NBD_CMD_BLOCK_STATUS && !c->meta_alloc)
		return *msg = "no meta context negotiated", NBD_EINVAL;
	if (rq->len == 0)
		return *msg = "zero length", NBD_EINVAL;
	if (rq->offset > c->size || rq->len > c->size - rq->offset)
		return *msg = "request beyond the end of the export", writes ? NBD_ENOSPC : NBD_EINVAL;
	if ((rq->type == NBD_CMD_READ || rq->type == NBD_CMD_WRITE) && rq->len > NBD_MAX_BLOCK)
		return *msg = "request too large", c->structured ? NBD_EOVERFLOW : NBD_EINVAL;
	return 0;
}

/* Run RQ, its reply going to RUN's buffer. With NOWAIT (the connection
 * thread), a read or write the backend cannot do without waiting is not
 * run: RUN_DEFER. */
static int handle_request(struct conn *c, struct runner *run, const struct request *rq,
			  unsigned nowait)
{
	const struct nbd_backend_ops *ops = c->exp->backend.ops;
	void *h = c->exp->backend.handle;
	struct outbuf *o = &run->out;
	const char *msg;
	uint32_t err = check_request(c, rq, &msg);
	int r;

	if (err)
		return reply_status(c, o, rq, err, msg);
	switch (rq->type) {
	case NBD_CMD_READ:
		return do_read(c, o, rq, nowait);
	case NBD_CMD_WRITE:
		return do_write(c, o, rq, nowait);
	case NBD_CMD_FLUSH:
		return reply_errno(c, o, rq, ops->flush ? ops->flush(h) : 0);
	case NBD_CMD_TRIM:
		r = ops->trim(h, rq->offset, rq->len, fua_flags(c, rq));
		return after_write(c, o, rq, r == -EOPNOTSUPP ? 0 : r);
	case NBD_CMD_WRITE_ZEROES:
		return do_write_zeroes(c, o, rq);
	case NBD_CMD_CACHE:
		return reply_errno(c, o, rq, ops->cache ? ops->cache(h, rq->offset, rq->len) : 0);
	default: /* NBD_CMD_BLOCK_STATUS; check_request() refused the rest */
		return do_block_status(c, run, rq);
	}
}

/* --- workers ------------------------------------------------------------- */

/* Does RQ run on the connection thread? Refusals, small reads and writes
 * (tried without waiting) and block status do; the rest goes to workers
 * when the stream allows them. */
static bool runs_inline(struct conn *c, const struct request *rq)
{
	const char *msg;

	if (!c->parallel || check_request(c, rq, &msg))
		return true;
	switch (rq->type) {
	case NBD_CMD_READ:
		return rq->len <= INLINE_MAX;
	case NBD_CMD_WRITE:
		return rq->len <= INLINE_MAX && !(rq->flags & NBD_CMD_FLAG_FUA);
	case NBD_CMD_BLOCK_STATUS:
		return true;
	default: /* flush, trim, zeroes, cache may take a while */
		return false;
	}
}

/* Give slot S back; with c->lock held. Buffers grown past BUF_SHRINK_AT
 * are dropped, so a burst of huge writes does not stay allocated. */
static void put_slot_locked(struct conn *c, struct slot *s)
{
	if (s->cap > BUF_SHRINK_AT) {
		free(s->buf);
		s->buf = NULL;
		s->cap = 0;
	}
	c->busy--;
	c->inflight -= s->bytes;
	s->next = c->free_slots;
	c->free_slots = s;
	pthread_cond_broadcast(&c->done);
}

static void put_slot(struct conn *c, struct slot *s)
{
	pthread_mutex_lock(&c->lock);
	put_slot_locked(c, s);
	pthread_mutex_unlock(&c->lock);
}

/* Take a free slot with room for a BYTES payload, waiting (after sending
 * the replies gathered so far) while every slot is out or too many bytes
 * are held. Fails with a worker's error. */
static int get_slot(struct conn *c, uint32_t bytes, struct slot **ret)
{
	bool flushed = false;
	struct slot *s = NULL;
	int r = 0;

	pthread_mutex_lock(&c->lock);
	while (!c->error && (!c->free_slots || (c->busy && c->inflight + bytes > INFLIGHT_MAX))) {
		if (flushed) {
			pthread_cond_wait(&c->done, &c->lock);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		r = out_flush(c);
		flushed = true;
		pthread_mutex_lock(&c->lock);
		if (r < 0)
			break;
	}
	if (r == 0)
		r = c->error;
	if (r == 0) {
		s = c->free_slots;
		c->free_slots = s->next;
		c->busy++;
		c->inflight += bytes;
		s->bytes = bytes;
	}
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;
	if (bytes > s->cap) {
		uint8_t *p = realloc(s->buf, bytes);

		if (!p) {
			put_slot(c, s);
			return -ENOMEM;
		}
		s->buf = p;
		s->cap = bytes;
	}
	*ret = s;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct conn *c = w->c;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct slot *s;
		int r;

		while (!c->queue && !c->quit) {
			out_shrink(&w->run.out, OUT_MIN_CAP);
			c->idle++;
			pthread_cond_wait(&c->work, &c->lock);
			c->idle--;
		}
		if (!c->queue)
			break;
		s = c->queue;
		c->queue = s->next;
		if (!c->queue)
			c->queue_tail = &c->queue;
		c->queued--;
		pthread_mutex_unlock(&c->lock);
		r = handle_request(c, &w->run, &s->rq, 0);
		if (r >= 0)
			r = out_send(c, &w->run.out);
		w->run.out.len = 0;
		pthread_mutex_lock(&c->lock);
		if (r < 0 && !c->error)
			c->error = r;
		put_slot_locked(c, s);
	}
	pthread_mutex_unlock(&c->lock);
	free(w->run.out.p);
	return NULL;
}

/* Start one more worker; with c->lock held. */
static void start_worker_locked(struct conn *c)
{
	struct worker *w = &c->workers[c->nworkers];
	pthread_attr_t attr;

	*w = (struct worker){ .c = c };
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	if (pthread_create(&w->thread, &attr, worker_main, w) == 0)
		c->nworkers++;
	pthread_attr_destroy(&attr);
}

/* Queue slot S for the workers, starting one if none is free. Without any
 * worker (none could start) the connection thread runs it itself. */
static int dispatch(struct conn *c, struct slot *s)
{
	int r;

	pthread_mutex_lock(&c->lock);
	if (c->queued >= c->idle && c->nworkers < MAX_WORKERS)
		start_worker_locked(c);
	if (c->nworkers > 0) {
		s->next = NULL;
		*c->queue_tail = s;
		c->queue_tail = &s->next;
		c->queued++;
		pthread_cond_signal(&c->work);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	pthread_mutex_unlock(&c->lock);
	r = handle_request(c, &c->run, &s->rq, 0);
	put_slot(c, s);
	return r;
}

/* Wait for every request handed to the workers, then stop them. */
static void stop_workers(struct conn *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->busy)
		pthread_cond_wait(&c->done, &c->lock);
	c->quit = true;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (unsigned i = 0; i < c->nworkers; i++)
		pthread_join(c->workers[i].thread, NULL);
	c->nworkers = 0;
}

/* A worker's failure, if any (only the connection thread starts workers,
 * so it reads nworkers without the lock). */
static int worker_error(struct conn *c)
{
	int r;

	if (c->nworkers == 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	r = c->error;
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* --- the request loop ------------------------------------------------------ */

/* Run RQ on the connection thread; a read or write that would wait goes
 * to a worker (a write's payload copied out of the input buffer). */
static int run_inline(struct conn *c, const struct request *rq)
{
	bool write = rq->type == NBD_CMD_WRITE;
	struct slot *s;
	int r = handle_request(c, &c->run, rq, c->parallel ? NBD_BACKEND_NOWAIT : 0);

	if (r != RUN_DEFER)
		return r;
	r = get_slot(c, write ? rq->len : 0, &s);
	if (r < 0)
		return r;
	s->rq = *rq;
	if (write) {
		memcpy(s->buf, rq->payload, rq->len);
		s->rq.payload = s->buf;
	}
	return dispatch(c, s);
}

/* A worker's write: its payload received straight into a slot (what the
 * input buffer already holds is copied, the rest is read in one go). */
static int read_payload_to_slot(struct conn *c, struct request *rq, struct slot **ret)
{
	size_t have = c->in_end - c->in_pos;
	struct slot *s;
	int r = get_slot(c, rq->len, &s);

	if (r < 0)
		return r;
	if (have > rq->len)
		have = rq->len;
	memcpy(s->buf, in_take(c, have), have);
	if (have < rq->len) {
		r = out_flush(c);
		if (r >= 0)
			r = recv_all(c, s->buf + have, rq->len - have);
		if (r < 0) {
			put_slot(c, s);
			return r;
		}
	}
	rq->payload = s->buf;
	s->rq = *rq;
	*ret = s;
	return 0;
}

/* Read one request and its payload. *RET_SLOT is set when it is for the
 * workers. A write payload too large to take is read and dropped
 * (rq->payload stays NULL; check_request() refuses it). */
static int read_request(struct conn *c, struct request *rq, struct slot **ret_slot)
{
	const uint8_t *h;
	bool inl;
	int r = in_fill(c, NBD_REQUEST_SIZE);

	*ret_slot = NULL;
	if (r < 0)
		return r;
	h = in_take(c, NBD_REQUEST_SIZE);
	if (get32(h) != NBD_REQUEST_MAGIC)
		return -EPROTO;
	*rq = (struct request){
		.flags = get16(h + 4),
		.type = get16(h + 6),
		.cookie = get64(h + 8),
		.offset = get64(h + 16),
		.len = get32(h + 24),
	};
	if (rq->type == NBD_CMD_DISC)
		return 0;
	inl = runs_inline(c, rq);
	c->big_write = rq->type == NBD_CMD_WRITE && !inl;
	if (rq->type == NBD_CMD_WRITE && rq->len > NBD_MAX_BLOCK)
		return in_discard(c, rq->len);
	if (rq->type == NBD_CMD_WRITE && !inl)
		return read_payload_to_slot(c, rq, ret_slot);
	if (rq->type == NBD_CMD_WRITE) {
		r = in_fill(c, rq->len);
		if (r < 0)
			return r;
		rq->payload = in_take(c, rq->len);
	}
	if (inl)
		return 0;
	r = get_slot(c, 0, ret_slot);
	if (r >= 0)
		(*ret_slot)->rq = *rq;
	return r;
}

static int transmission(struct conn *c)
{
	int r;

	if (c->ops->handshake_done)
		c->ops->handshake_done(c->io);
	c->parallel = c->ops->concurrent;
	for (;;) {
		struct request rq;
		struct slot *s;

		r = read_request(c, &rq, &s);
		if (r < 0 || rq.type == NBD_CMD_DISC)
			break;
		r = s ? dispatch(c, s) : run_inline(c, &rq);
		if (r >= 0 && c->run.out.len >= OUT_FLUSH_AT)
			r = out_flush(c);
		if (r >= 0)
			r = worker_error(c);
		if (r < 0)
			break;
	}
	if (r == -ECONNRESET) /* the client hung up between requests */
		r = 0;
	/* DISC (and any end) waits for the requests in flight. */
	if (r >= 0)
		r = out_flush(c);
	stop_workers(c);
	return r < 0 ? r : c->error;
}

int nbd_conn_serve(struct nbd_server *s, const struct nbd_io_ops *ops, void *io)
{
	struct conn *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->srv = s;
	c->ops = ops;
	c->io = io;
	pthread_mutex_init(&c->send_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work, NULL);
	pthread_cond_init(&c->done, NULL);
	c->queue_tail = &c->queue;
	for (unsigned i = 0; i < MAX_SLOTS; i++) {
		c->slots[i].next = c->free_slots;
		c->free_slots = &c->slots[i];
	}
	c->in = malloc(IN_MIN_CAP);
	c->run.out.p = malloc(OUT_MIN_CAP);
	if (!c->in || !c->run.out.p) {
		r = -ENOMEM;
		goto out;
	}
	c->in_cap = IN_MIN_CAP;
	c->run.out.cap = OUT_MIN_CAP;
	r = negotiate(c);
	if (r == OPT_TRANSMIT)
		r = transmission(c);
	else if (r == OPT_CLOSE)
		r = out_flush(c);
	else if (r == -ECONNRESET) /* the client left during the handshake */
		r = 0;
out:
	nbd_tls_end(c->tls, r == 0);
	nbd_server_put_export(s, c->exp);
	for (unsigned i = 0; i < MAX_SLOTS; i++)
		free(c->slots[i].buf);
	pthread_cond_destroy(&c->done);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->send_lock);
	free(c->meta_export);
	free(c->in);
	free(c->run.out.p);
	free(c);
	return r;
}
