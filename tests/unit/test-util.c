/* test-util.c - unit tests for src/common/util.c, jsonrpc.c and process.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/process.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* The nice value of every thread of PID (the 19th field of its stat, after
 * the command in parentheses) must be NICE; the number of threads. */
static int check_threads_nice(pid_t pid, int nice)
{
	char path[300], buf[512];
	struct dirent *de;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	assert_non_null(dir);
	while ((de = readdir(dir))) {
		const char *p;
		int field = 3, v;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, de->d_name);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_non_null(fgets(buf, sizeof(buf), f));
		fclose(f);
		p = strrchr(buf, ')');
		assert_non_null(p);
		for (p += 2; field < 19; field++) {
			p = strchr(p, ' ');
			assert_non_null(p);
			p++;
		}
		assert_int_equal(sscanf(p, "%d", &v), 1);
		assert_int_equal(v, nice);
		n++;
	}
	closedir(dir);
	return n;
}

static void check_autogroup_nice(pid_t pid, int nice)
{
	char path[64], line[128], want[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/autogroup", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return;  /* a kernel without sched_autogroup */
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	snprintf(want, sizeof(want), " nice %d\n", nice);
	assert_non_null(strstr(line, want));
}

/* A program with threads in its own session (as domusd starts QEMU) gets
 * the priority in each thread and in its session's group, and back. Needs
 * CAP_SYS_NICE (make check runs as root). */
static void test_process_nice(void **state)
{
	char *argv[] = { "python3", "-c",
			 "import threading, time\n"
			 "for _ in range(3): threading.Thread(target=time.sleep, args=(30,)).start()\n"
			 "time.sleep(30)\n", NULL };
	struct spawn_opts o = { .new_session = true };
	char path[64];
	pid_t pid;
	int n = 0;

	pid = spawn_program(argv, &o);
	assert_true(pid > 0);
	for (int i = 0; i < 500 && n < 6; i++) {  /* the 3 threads are there */
		struct dirent *de;
		DIR *dir;

		usleep(10000);
		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		dir = opendir(path);
		assert_non_null(dir);
		for (n = 0; (de = readdir(dir));)
			n++;
		closedir(dir);
	}
	assert_int_equal(process_set_nice(pid, -7), 0);
	assert_true(check_threads_nice(pid, -7) >= 4);
	check_autogroup_nice(pid, -7);
	assert_int_equal(process_set_nice(pid, 0), 0);
	assert_true(check_threads_nice(pid, 0) >= 4);
	check_autogroup_nice(pid, 0);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(process_set_nice(pid, 0), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_json_lines),
		cmocka_unit_test(test_process_nice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
