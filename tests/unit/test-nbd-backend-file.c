/* test-nbd-backend-file.c - the file NBD backend on a sparse temporary file:
 * reads and writes, FUA, zeroing with and without holes, trim, extents. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "nbd/nbd-server.h"
#include "nbd/nbd-proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIZE (4u << 20)

static char path[] = "/tmp/test-nbd-file-XXXXXX";

static int setup(void **state)
{
	static struct nbd_backend be;
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, SIZE) < 0)
		return -1;
	close(fd);
	if (nbd_file_backend_open(path, false, &be) < 0)
		return -1;
	*state = &be;
	return 0;
}

static int teardown(void **state)
{
	struct nbd_backend *be = *state;

	be->ops->close(be->handle);
	unlink(path);
	return 0;
}

static void test_size_and_caps(void **state)
{
	struct nbd_backend *be = *state;
	unsigned caps = be->ops->caps(be->handle);
	uint64_t size;

	assert_int_equal(be->ops->get_size(be->handle, &size), 0);
	assert_int_equal(size, SIZE);
	assert_true(caps & NBD_BACKEND_CAN_WRITE);
	assert_true(caps & NBD_BACKEND_CAN_MULTI_CONN);
	assert_true(caps & NBD_BACKEND_CAN_EXTENTS);
}

static void test_write_read_zero_extents(void **state)
{
	struct nbd_backend *be = *state;
	const struct nbd_backend_ops *ops = be->ops;
	static uint8_t buf[65536], back[65536];
	struct nbd_extent ext[8];
	size_t n;

	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(ops->pwrite(be->handle, buf, sizeof(buf), 1 << 20, NBD_BACKEND_FUA), 0);
	assert_int_equal(ops->pread(be->handle, back, sizeof(back), 1 << 20, 0), 0);
	assert_memory_equal(buf, back, sizeof(buf));
	assert_int_equal(ops->flush(be->handle), 0);

	assert_int_equal(ops->extents(be->handle, 0, SIZE, ext, 8, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ext[0].length, 1 << 20);
	assert_int_equal(ext[0].flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
	assert_int_equal(ext[1].flags, 0);
	assert_true(ext[1].length >= sizeof(buf));

	/* Zeroing without permission to trim keeps the blocks allocated. */
	assert_int_equal(ops->zero(be->handle, 1 << 20, 4096, 0), 0);
	assert_int_equal(ops->pread(be->handle, back, 4096, 1 << 20, 0), 0);
	assert_memory_equal(back, (uint8_t[4096]){ 0 }, 4096);
	assert_int_equal(ops->extents(be->handle, 1 << 20, 4096, ext, 8, &n), 0);
	assert_int_equal(ext[0].flags, 0);

	/* Trim and MAY_TRIM zeroing punch holes that read back as zeroes. */
	assert_int_equal(ops->zero(be->handle, 1 << 20, 32768, NBD_BACKEND_MAY_TRIM), 0);
	assert_int_equal(ops->trim(be->handle, (1 << 20) + 32768, 32768, 0), 0);
	assert_int_equal(ops->pread(be->handle, back, sizeof(back), 1 << 20, 0), 0);
	assert_memory_equal(back, (uint8_t[65536]){ 0 }, sizeof(back));
	assert_int_equal(ops->extents(be->handle, 1 << 20, 65536, ext, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ext[0].flags, NBD_STATE_HOLE | NBD_STATE_ZERO);
}

static void test_readonly_open(void **state)
{
	struct nbd_backend ro;

	assert_int_equal(nbd_file_backend_open(path, true, &ro), 0);
	assert_false(ro.ops->caps(ro.handle) & NBD_BACKEND_CAN_WRITE);
	ro.ops->close(ro.handle);
	assert_int_equal(nbd_file_backend_open("/nonexistent/x", true, &ro), -ENOENT);
	assert_int_equal(nbd_file_backend_open("/tmp", true, &ro), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_and_caps),
		cmocka_unit_test(test_write_read_zero_extents),
		cmocka_unit_test(test_readonly_open),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
