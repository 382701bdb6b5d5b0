/* test-storage-holder.c - unit tests for the LV holder records (holder.c):
 * conflicts between read-write and read-only users in two processes, the
 * refusal naming the user, and records of a dead process not counting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "storage/holder.h"
#include "storage/storage.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LV_ID "abcdefABCDEF0123456789abcdefABCD"

struct env {
	char dir[64];
	struct storage st;
};

static void env_setup(struct env *e)
{
	_cleanup_free_ char *lib = NULL, *run = NULL;

	strcpy(e->dir, "/tmp/domus-test-holder-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	lib = strprintf("%s/lib", e->dir);
	run = strprintf("%s/run", e->dir);
	assert_int_equal(storage_init(&e->st, lib, run), 0);
}

static void env_teardown(struct env *e)
{
	storage_release(&e->st);
	rm_rf(e->dir);
}

/* A child process that records WHO (RW or not) and waits to be killed;
 * returns once the record is in place. */
static pid_t child_holder(struct env *e, const char *who, bool rw)
{
	int p[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *conflict = NULL;
		int fd = lv_holder_add(&e->st, LV_ID, who, rw, &conflict);

		c = fd >= 0 ? 'y' : 'n';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_int_equal(c, 'y');
	return pid;
}

static void kill_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_rw_conflicts_and_names_holder(void **state)
{
	struct env e;
	char *who = NULL;
	pid_t pid;
	int fd;

	env_setup(&e);
	assert_int_equal(lv_holder_describe(&e.st, LV_ID, &who), -ENOENT);
	pid = child_holder(&e, "domain web (id 3)", true);
	assert_int_equal(lv_holder_describe(&e.st, LV_ID, &who), 0);
	assert_string_equal(who, "domain web (id 3)");
	free(who);
	for (int rw = 0; rw < 2; rw++) {
		who = NULL;
		assert_int_equal(lv_holder_add(&e.st, LV_ID, "me", rw, &who), -EBUSY);
		assert_string_equal(who, "domain web (id 3)");
		free(who);
	}
	/* A killed holder leaves a record that no longer counts. */
	kill_child(pid);
	fd = lv_holder_add(&e.st, LV_ID, "me", true, &who);
	assert_true(fd >= 0);
	lv_holder_remove(&e.st, LV_ID, fd);
	env_teardown(&e);
}

static void test_readers_share(void **state)
{
	struct env e;
	char *who = NULL;
	pid_t pid;
	int fd;

	env_setup(&e);
	pid = child_holder(&e, "domain a (id 1)", false);
	fd = lv_holder_add(&e.st, LV_ID, "domain b (id 2)", false, &who);
	assert_true(fd >= 0);
	lv_holder_remove(&e.st, LV_ID, fd);
	assert_int_equal(lv_holder_add(&e.st, LV_ID, "domain c (id 3)", true, &who), -EBUSY);
	assert_string_equal(who, "domain a (id 1)");
	free(who);
	kill_child(pid);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rw_conflicts_and_names_holder),
		cmocka_unit_test(test_readers_share),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
