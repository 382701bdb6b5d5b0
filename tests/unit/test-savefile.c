/* test-savefile.c - unit tests for src/daemon/savefile.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/savefile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A save file with CONFIG and a STREAM of N bytes, in a memfd. */
static int make_file(const char *config, const uint8_t *stream, size_t n, uint8_t **ret_bytes,
		     size_t *ret_len)
{
	uint8_t hdr[SAVEFILE_HEADER_SIZE], tr[SAVEFILE_TRAILER_SIZE], sha[32];
	struct savefile_hash *h;
	size_t len = sizeof(hdr) + strlen(config) + n + sizeof(tr);
	uint8_t *buf = malloc(len), *p = buf;
	int fd = memfd_create("t", 0);

	savefile_header_encode(strlen(config), hdr);
	memcpy(p, hdr, sizeof(hdr));
	p += sizeof(hdr);
	memcpy(p, config, strlen(config));
	p += strlen(config);
	memcpy(p, stream, n);
	p += n;
	assert_int_equal(savefile_hash_new(&h), 0);
	savefile_hash_update(h, buf, (size_t)(p - buf));
	savefile_hash_finish(h, sha);
	savefile_trailer_encode(n, sha, tr);
	memcpy(p, tr, sizeof(tr));
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	*ret_bytes = buf;
	*ret_len = len;
	return fd;
}

static int verify_bytes(const uint8_t *b, size_t len, char *err)
{
	int fd = memfd_create("t", 0);
	char *config = NULL;
	uint64_t off, slen;
	int r;

	assert_int_equal(write(fd, b, len), (ssize_t)len);
	r = savefile_verify(fd, &config, &off, &slen, err, 256);
	free(config);
	close(fd);
	return r;
}

static void test_round_trip_and_damage(void **state)
{
	const uint8_t stream[] = "QEVM-stream-bytes";
	uint8_t *bytes;
	size_t len;
	int fd = make_file("{\"name\":\"x\"}", stream, sizeof(stream), &bytes, &len);
	char *config = NULL, err[256];
	uint64_t off, slen;

	assert_int_equal(savefile_verify(fd, &config, &off, &slen, err, sizeof(err)), 0);
	assert_string_equal(config, "{\"name\":\"x\"}");
	assert_int_equal(off, SAVEFILE_HEADER_SIZE + 12);
	assert_int_equal(slen, sizeof(stream));
	free(config);
	close(fd);

	assert_int_equal(verify_bytes(bytes, len - 1, err), -EINVAL);
	assert_non_null(strstr(err, "truncated"));
	bytes[40] ^= 1;
	assert_int_equal(verify_bytes(bytes, len, err), -EINVAL);
	assert_non_null(strstr(err, "corrupted"));
	bytes[40] ^= 1;
	bytes[8] = 9; /* version */
	assert_int_equal(verify_bytes(bytes, len, err), -EINVAL);
	assert_non_null(strstr(err, "version 9"));
	assert_int_equal(verify_bytes((const uint8_t *)"hello", 5, err), -EINVAL);
	assert_string_equal(err, "not a Domus save file");
	free(bytes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
