/* test-util.c - unit tests for src/common/util.c and jsonrpc.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_parse_u64(void **state)
{
	uint64_t v = 7;
	assert_int_equal(parse_u64("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_u64("", &v), -EINVAL);
	assert_int_equal(parse_u64("-1", &v), -EINVAL);
	assert_int_equal(parse_u64("12x", &v), -EINVAL);
	assert_int_equal(parse_u64("99999999999999999999999", &v), -ERANGE);
	assert_int_equal(v, 42);
}

static void test_strings(void **state)
{
	assert_true(startswith("phy:/dev/x", "phy:"));
	assert_false(startswith("ph", "phy:"));
	assert_true(endswith("a.cfg", ".cfg"));
	assert_false(endswith("g", ".cfg"));
	assert_true(streq("a", "a"));
	assert_false(streq("a", NULL));
}

static void test_files(void **state)
{
	char dir[] = "/tmp/domus-test-util-XXXXXX";
	_cleanup_free_ char *sub = NULL, *file = NULL, *data = NULL;
	size_t len;

	assert_non_null(mkdtemp(dir));
	sub = strprintf("%s/a/b/c", dir);
	assert_int_equal(mkdir_p(sub, 0755), 0);
	file = strprintf("%s/f", sub);
	assert_int_equal(write_file_atomic(file, "hello", 5, 0644), 0);
	assert_int_equal(read_file(file, 100, &data, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(data, "hello");
	free(TAKE_PTR(data));
	assert_int_equal(read_file(file, 3, &data, &len), -EFBIG);
	assert_int_equal(rm_rf(dir), 0);
	assert_int_equal(access(dir, F_OK), -1);
}

static void test_json_lines(void **state)
{
	int sv[2];
	struct line_reader lr;
	json_t *msg = NULL;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	line_reader_init(&lr, sv[1]);
	assert_int_equal(write_all(sv[0], "{\"a\":1}\n[1]\n{\"b\"", 16), 0);
	assert_int_equal(json_recv(&lr, &msg, 1000), 0);
	assert_int_equal(json_integer_value(json_object_get(msg, "a")), 1);
	json_decref(msg);
	assert_int_equal(json_recv(&lr, &msg, 1000), -EBADMSG);
	assert_int_equal(json_recv(&lr, &msg, 50), -ETIMEDOUT);
	close(sv[0]);
	assert_int_equal(json_recv(&lr, &msg, 1000), -EPIPE);
	line_reader_release(&lr);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_json_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
