/* test-nbd.c - the NBD server over a socketpair with a memory backend:
 * handshake, option replies, reads and writes, protocol errors, and the
 * listener loop started and stopped as the daemon will do it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "nbd/nbd-server.h"
#include "nbd/nbd-proto.h"
#include "nbd/nbd-internal.h"
#include "common/sock.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fixture {
	struct nbd_server *srv;
	int fd;             /* the client's end */
	pthread_t thread;
	int server_fd;
	int result;
	bool joined;
};

static void *serve(void *arg)
{
	struct fixture *f = arg;

	f->result = nbd_server_serve_fd(f->srv, f->server_fd);
	close(f->server_fd);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct nbd_backend be;
	int sv[2];

	if (!f || nbd_server_new(NULL, &f->srv) < 0 || nbd_mem_backend_new(1 << 20, &be) < 0 ||
	    nbd_server_add_export(f->srv, "disk", "a disk", &be, false) < 0 ||
	    nbd_mem_backend_new(4096, &be) < 0 ||
	    nbd_server_add_export(f->srv, "ro", NULL, &be, true) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	f->fd = sv[0];
	f->server_fd = sv[1];
	if (pthread_create(&f->thread, NULL, serve, f) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->fd >= 0)
		close(f->fd);
	if (!f->joined)
		pthread_join(f->thread, NULL);
	nbd_server_free(f->srv);
	free(f);
	return 0;
}

static void xread(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = read(fd, p, n);

		assert_true(r > 0);
		p += r;
		n -= (size_t)r;
	}
}

static void xwrite(int fd, const void *buf, size_t n)
{
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
}

static void send_option(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[16];
	uint64_t magic = htobe64(NBD_OPTS_MAGIC);
	uint32_t o = htobe32(opt), l = htobe32(len);

	memcpy(h, &magic, 8);
	memcpy(h + 8, &o, 4);
	memcpy(h + 12, &l, 4);
	xwrite(fd, h, 16);
	if (len)
		xwrite(fd, data, len);
}

/* Read one option reply header; returns its type, the length in *len. */
static uint32_t read_reply(int fd, uint32_t *len, void *data, size_t max)
{
	uint8_t h[20];
	uint64_t magic;
	uint32_t type, l;

	xread(fd, h, 20);
	memcpy(&magic, h, 8);
	assert_true(be64toh(magic) == NBD_REP_MAGIC);
	memcpy(&type, h + 12, 4);
	memcpy(&l, h + 16, 4);
	*len = be32toh(l);
	assert_true(*len <= max);
	xread(fd, data, *len);
	return be32toh(type);
}

static void greet(int fd)
{
	uint8_t g[18];
	uint32_t flags = htobe32(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);

	xread(fd, g, 18);
	assert_memory_equal(g, "NBDMAGICIHAVEOPT", 16);
	assert_int_equal(g[17] & NBD_FLAG_FIXED_NEWSTYLE, NBD_FLAG_FIXED_NEWSTYLE);
	xwrite(fd, &flags, 4);
}

static void send_request(int fd, uint16_t type, uint64_t offset, uint32_t len, uint64_t cookie)
{
	uint8_t r[28];
	uint32_t magic = htobe32(NBD_REQUEST_MAGIC), l = htobe32(len);
	uint16_t fl = 0, t = htobe16(type);
	uint64_t c = htobe64(cookie), o = htobe64(offset);

	memcpy(r, &magic, 4);
	memcpy(r + 4, &fl, 2);
	memcpy(r + 6, &t, 2);
	memcpy(r + 8, &c, 8);
	memcpy(r + 16, &o, 8);
	memcpy(r + 24, &l, 4);
	xwrite(fd, r, 28);
}

/* Read a simple reply; returns the error field. */
static uint32_t read_simple(int fd, uint64_t cookie)
{
	uint8_t r[16];
	uint32_t magic, err;
	uint64_t c;

	xread(fd, r, 16);
	memcpy(&magic, r, 4);
	memcpy(&err, r + 4, 4);
	memcpy(&c, r + 8, 8);
	assert_int_equal(be32toh(magic), NBD_SIMPLE_REPLY_MAGIC);
	assert_true(be64toh(c) == cookie);
	return be32toh(err);
}

static void test_list_and_unknown_option(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256];
	uint32_t len;

	greet(f->fd);
	send_option(f->fd, 77, NULL, 0);
	assert_int_equal(read_reply(f->fd, &len, buf, sizeof(buf)), NBD_REP_ERR_UNSUP);
	send_option(f->fd, NBD_OPT_LIST, NULL, 0);
	assert_int_equal(read_reply(f->fd, &len, buf, sizeof(buf)), NBD_REP_SERVER);
	assert_int_equal(len, 4 + 4 + 6);
	assert_memory_equal(buf + 4, "diska disk", 10);
	assert_int_equal(read_reply(f->fd, &len, buf, sizeof(buf)), NBD_REP_SERVER);
	assert_int_equal(read_reply(f->fd, &len, buf, sizeof(buf)), NBD_REP_ACK);
	send_option(f->fd, NBD_OPT_ABORT, NULL, 0);
	assert_int_equal(read_reply(f->fd, &len, buf, sizeof(buf)), NBD_REP_ACK);
	assert_int_equal(read(f->fd, buf, 1), 0);
}

static void go(int fd, const char *name)
{
	uint8_t data[64], buf[256];
	uint32_t nlen = (uint32_t)strlen(name), be_nlen = htobe32(nlen), len, type;

	memcpy(data, &be_nlen, 4);
	memcpy(data + 4, name, nlen);
	memset(data + 4 + nlen, 0, 2);
	send_option(fd, NBD_OPT_GO, data, 6 + nlen);
	do
		type = read_reply(fd, &len, buf, sizeof(buf));
	while (type == NBD_REP_INFO);
	assert_int_equal(type, NBD_REP_ACK);
}

static void test_write_read_and_errors(void **state)
{
	struct fixture *f = *state;
	uint8_t data[512], back[512];

	greet(f->fd);
	go(f->fd, "disk");
	memset(data, 0x5a, sizeof(data));
	send_request(f->fd, NBD_CMD_WRITE, 4096, sizeof(data), 1);
	xwrite(f->fd, data, sizeof(data));
	assert_int_equal(read_simple(f->fd, 1), 0);
	send_request(f->fd, NBD_CMD_READ, 4096, sizeof(back), 2);
	assert_int_equal(read_simple(f->fd, 2), 0);
	xread(f->fd, back, sizeof(back));
	assert_memory_equal(data, back, sizeof(back));
	send_request(f->fd, NBD_CMD_READ, (1 << 20) - 1, 2, 3);
	assert_int_equal(read_simple(f->fd, 3), NBD_EINVAL);
	send_request(f->fd, 99, 0, 0, 4);
	assert_int_equal(read_simple(f->fd, 4), NBD_EINVAL);
	send_request(f->fd, NBD_CMD_FLUSH, 0, 0, 5);
	assert_int_equal(read_simple(f->fd, 5), 0);
	send_request(f->fd, NBD_CMD_DISC, 0, 0, 6);
	assert_int_equal(read(f->fd, back, 1), 0);
	close(f->fd);
	f->fd = -1;
	pthread_join(f->thread, NULL);
	f->joined = true;
	assert_int_equal(f->result, 0);
}

/* Read simple replies to N requests in any order (requests in flight may
 * complete in any order): READ_LEN[cookie] bytes of data follow each (0
 * for non-reads), stored at DATA + cookie * STRIDE. */
static void read_replies_any_order(int fd, unsigned n, const uint32_t *read_len, uint8_t *data,
				   size_t stride)
{
	bool seen[64] = { false };

	for (unsigned i = 0; i < n; i++) {
		uint8_t r[16];
		uint32_t magic, err;
		uint64_t c;

		xread(fd, r, 16);
		memcpy(&magic, r, 4);
		memcpy(&err, r + 4, 4);
		memcpy(&c, r + 8, 8);
		c = be64toh(c);
		assert_int_equal(be32toh(magic), NBD_SIMPLE_REPLY_MAGIC);
		assert_int_equal(be32toh(err), 0);
		assert_true(c < 64 && !seen[c]);
		seen[c] = true;
		if (read_len[c])
			xread(fd, data + c * stride, read_len[c]);
	}
}

/* Large requests (run by workers) and small ones (on the connection
 * thread) pipelined, a flush among them, then reads followed at once by
 * DISC: every request is answered before the server hangs up. */
static void test_workers_and_disc(void **state)
{
	enum { BIG = 256 << 10, SMALL = 4096, NSMALL = 16 };
	struct fixture *f = *state;
	uint32_t lens[64] = { 0 };
	uint8_t *data = malloc(BIG), *back = malloc((size_t)64 * BIG);

	assert_non_null(data);
	assert_non_null(back);
	greet(f->fd);
	go(f->fd, "disk");
	for (unsigned i = 0; i < 3; i++) {
		memset(data, 'a' + i, BIG);
		send_request(f->fd, NBD_CMD_WRITE, (uint64_t)i * BIG, BIG, i);
		xwrite(f->fd, data, BIG);
	}
	for (unsigned i = 0; i < NSMALL; i++) {
		memset(data, 'A' + i, SMALL);
		send_request(f->fd, NBD_CMD_WRITE, 3 * BIG + i * SMALL, SMALL, 3 + i);
		xwrite(f->fd, data, SMALL);
	}
	send_request(f->fd, NBD_CMD_FLUSH, 0, 0, 3 + NSMALL);
	read_replies_any_order(f->fd, 4 + NSMALL, lens, back, BIG);
	for (unsigned i = 0; i < 3; i++) {
		send_request(f->fd, NBD_CMD_READ, (uint64_t)i * BIG, BIG, i);
		lens[i] = BIG;
	}
	for (unsigned i = 0; i < NSMALL; i++) {
		send_request(f->fd, NBD_CMD_READ, 3 * BIG + i * SMALL, SMALL, 3 + i);
		lens[3 + i] = SMALL;
	}
	send_request(f->fd, NBD_CMD_DISC, 0, 0, 63);
	read_replies_any_order(f->fd, 3 + NSMALL, lens, back, BIG);
	for (unsigned i = 0; i < 3 + NSMALL; i++) {
		memset(data, i < 3 ? 'a' + (int)i : 'A' + (int)i - 3, lens[i]);
		assert_memory_equal(back + (size_t)i * BIG, data, lens[i]);
	}
	assert_int_equal(read(f->fd, data, 1), 0);
	pthread_join(f->thread, NULL);
	f->joined = true;
	assert_int_equal(f->result, 0);
	free(data);
	free(back);
}

static void test_readonly_export(void **state)
{
	struct fixture *f = *state;
	uint8_t data[16] = { 0 };

	greet(f->fd);
	go(f->fd, "ro");
	send_request(f->fd, NBD_CMD_WRITE, 0, sizeof(data), 1);
	xwrite(f->fd, data, sizeof(data));
	assert_int_equal(read_simple(f->fd, 1), NBD_EPERM);
	send_request(f->fd, NBD_CMD_TRIM, 0, 16, 2);
	assert_int_equal(read_simple(f->fd, 2), NBD_EPERM);
}

/* A removed export disappears for new clients but stays with the connected
 * one until it leaves (ASan checks the backend is freed once, at the end). */
static void test_remove_export_while_connected(void **state)
{
	struct fixture *f = *state;
	uint8_t back[16];

	greet(f->fd);
	go(f->fd, "disk");
	assert_int_equal(nbd_server_remove_export(f->srv, "disk"), 0);
	assert_int_equal(nbd_server_remove_export(f->srv, "disk"), -ENOENT);
	assert_null(nbd_server_get_export(f->srv, "disk"));
	send_request(f->fd, NBD_CMD_READ, 0, sizeof(back), 1);
	assert_int_equal(read_simple(f->fd, 1), 0);
	xread(f->fd, back, sizeof(back));
	/* "" now falls back to the remaining export. */
	nbd_server_put_export(f->srv, nbd_server_get_export(f->srv, ""));
	assert_int_equal(nbd_server_remove_export(f->srv, "ro"), 0);
	assert_null(nbd_server_get_export(f->srv, ""));
}

static void test_bad_magic_closes(void **state)
{
	struct fixture *f = *state;
	uint8_t junk[16] = "GARBAGEGARBAGE!!", c;

	greet(f->fd);
	xwrite(f->fd, junk, sizeof(junk));
	assert_int_equal(read(f->fd, &c, 1), 0);
}

static void *run_server(void *arg)
{
	return (void *)(intptr_t)nbd_server_run(arg);
}

/* The daemon's way: run() in a thread, clients come and go, stop(). */
static void test_run_and_stop(void **state)
{
	char path[] = "/tmp/test-nbd-XXXXXX";
	char sock[64];
	struct nbd_server *srv;
	struct nbd_backend be;
	pthread_t t;
	uint16_t port;
	void *ret;
	int fd;

	assert_non_null(mkdtemp(path));
	snprintf(sock, sizeof(sock), "%s/s", path);
	assert_int_equal(nbd_server_new(NULL, &srv), 0);
	assert_int_equal(nbd_mem_backend_new(4096, &be), 0);
	assert_int_equal(nbd_server_add_export(srv, "", NULL, &be, false), 0);
	assert_int_equal(nbd_mem_backend_new(4096, &be), 0);
	assert_int_equal(nbd_server_add_export(srv, "", NULL, &be, false), -EEXIST);
	be.ops->close(be.handle);
	assert_int_equal(nbd_server_listen_unix(srv, sock), 0);
	assert_int_equal(nbd_server_listen_tcp(srv, "127.0.0.1:0", &port), 0);
	assert_true(port > 0);
	assert_int_equal(nbd_server_listen_tcp(srv, "nocolon", NULL), -EINVAL);
	assert_int_equal(pthread_create(&t, NULL, run_server, srv), 0);
	fd = unix_connect(sock);
	assert_true(fd >= 0);
	greet(fd);
	go(fd, "");
	/* An idle client in transmission must not keep stop() waiting. */
	nbd_server_stop(srv);
	pthread_join(t, &ret);
	assert_int_equal((intptr_t)ret, 0);
	close(fd);
	nbd_server_free(srv);
	unlink(sock);
	rmdir(path);
}

/* A client dripping a byte at a time still meets the handshake deadline. */
static void test_handshake_deadline(void **state)
{
	struct nbd_server_config cfg = { .handshake_timeout_ms = 200 };
	struct fixture f = { 0 };
	uint8_t greeting[18], c = 0;
	int sv[2];

	assert_int_equal(nbd_server_new(&cfg, &f.srv), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f.fd = sv[0];
	f.server_fd = sv[1];
	assert_int_equal(pthread_create(&f.thread, NULL, serve, &f), 0);
	xread(f.fd, greeting, sizeof(greeting));
	for (int i = 0; i < 10; i++) {
		send(f.fd, &c, 1, MSG_NOSIGNAL);
		usleep(60 * 1000);
	}
	assert_int_equal(read(f.fd, &c, 1), 0);
	pthread_join(f.thread, NULL);
	assert_int_equal(f.result, -ETIMEDOUT);
	close(f.fd);
	nbd_server_free(f.srv);
}

/* Large reads from a file go out by sendfile(), which cannot say
 * MSG_NOSIGNAL: a client leaving must still not raise SIGPIPE in the
 * embedding process (this test process keeps SIGPIPE's default action). */
static void test_sendfile_reader_vanishes(void **state)
{
	char path[] = "/tmp/test-nbd-sendfile-XXXXXX";
	struct fixture f = { 0 };
	struct nbd_backend be;
	int sv[2], tmp = mkstemp(path);

	assert_true(tmp >= 0);
	assert_int_equal(ftruncate(tmp, 16 << 20), 0);
	close(tmp);
	assert_int_equal(nbd_server_new(NULL, &f.srv), 0);
	assert_int_equal(nbd_file_backend_open(path, true, &be), 0);
	assert_int_equal(nbd_server_add_export(f.srv, "", NULL, &be, true), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f.fd = sv[0];
	f.server_fd = sv[1];
	assert_int_equal(pthread_create(&f.thread, NULL, serve, &f), 0);
	greet(f.fd);
	go(f.fd, "");
	for (int i = 0; i < 16; i++)
		send_request(f.fd, NBD_CMD_READ, (uint64_t)i << 20, 1 << 20, (uint64_t)i);
	usleep(100 * 1000);
	close(f.fd);
	pthread_join(f.thread, NULL);
	assert_true(f.result == -EPIPE || f.result == -ECONNRESET);
	nbd_server_free(f.srv);
	unlink(path);
}

static void test_tls_config_errors(void **state)
{
	struct nbd_server_config cfg = { .tls = NBD_TLS_REQUIRE };
	struct nbd_server *srv = NULL;

	assert_int_equal(nbd_server_new(&cfg, &srv), -EINVAL);
	cfg.tls_certificates = "/nonexistent-dir";
	assert_int_equal(nbd_server_new(&cfg, &srv), -ENOENT);
	assert_null(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_and_unknown_option, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_read_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workers_and_disc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_export_while_connected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_magic_closes, setup, teardown),
		cmocka_unit_test(test_run_and_stop),
		cmocka_unit_test(test_handshake_deadline),
		cmocka_unit_test(test_sendfile_reader_vanishes),
		cmocka_unit_test(test_tls_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
