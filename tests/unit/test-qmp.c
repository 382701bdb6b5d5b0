/* test-qmp.c - unit tests for src/qemu/qmp.c against a scripted QMP peer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/sock.h"
#include "common/util.h"
#include "qemu/qmp.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct peer {
	int lfd;
	char path[128];
	pthread_t thread;
};

static void send_line(int fd, const char *s)
{
	assert_int_equal(write_all(fd, s, strlen(s)), 0);
	assert_int_equal(write_all(fd, "\n", 1), 0);
}

/* The fake QEMU: greeting, capabilities, then answers "query-status" with
 * an event first, "bogus" with an error, and closes on "quit". */
static void *peer_main(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->lfd, NULL, NULL);
	struct line_reader lr;
	json_t *req;

	line_reader_init(&lr, fd);
	send_line(fd, "{\"QMP\":{\"version\":{},\"capabilities\":[]}}");
	while (json_recv(&lr, &req, 5000) == 0) {
		const char *cmd = json_string_value(json_object_get(req, "execute"));
		json_int_t id = json_integer_value(json_object_get(req, "id"));
		char buf[256];

		if (streq(cmd, "qmp_capabilities")) {
			send_line(fd, "{\"return\":{}}");
		} else if (streq(cmd, "query-status")) {
			send_line(fd, "{\"event\":\"STOP\",\"data\":{}}");
			snprintf(buf, sizeof(buf), "{\"return\":{\"status\":\"paused\"},\"id\":%lld}", (long long)id);
			send_line(fd, buf);
		} else if (streq(cmd, "quit")) {
			snprintf(buf, sizeof(buf), "{\"return\":{},\"id\":%lld}", (long long)id);
			send_line(fd, buf);
			json_decref(req);
			break;
		} else {
			snprintf(buf, sizeof(buf),
				 "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"no %s\"},\"id\":%lld}",
				 cmd, (long long)id);
			send_line(fd, buf);
		}
		json_decref(req);
	}
	line_reader_release(&lr);
	close(fd);
	return NULL;
}

static struct peer *peer_start(void)
{
	struct peer *p = calloc(1, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "/tmp/domus-test-qmp-%d.sock", (int)getpid());
	p->lfd = unix_listen(p->path, 1);
	assert_true(p->lfd >= 0);
	assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
	return p;
}

static void peer_stop(struct peer *p)
{
	pthread_join(p->thread, NULL);
	close(p->lfd);
	unlink(p->path);
	free(p);
}

static int events, closes;
static char last_event[32];
static void on_event(void *opaque, const char *ev, json_t *data)
{
	events++;
	snprintf(last_event, sizeof(last_event), "%s", ev);
}
static void on_close(void *opaque) { closes++; }

static void test_commands_events_errors(void **state)
{
	struct peer *p = peer_start();
	struct qmp *q = NULL;
	json_t *ret = NULL;
	_cleanup_free_ char *err = NULL;

	events = closes = 0;
	assert_int_equal(qmp_connect(p->path, NULL, on_event, on_close, NULL, &q), 0);
	assert_int_equal(qmp_command(q, "query-status", NULL, &ret, NULL, 5000), 0);
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "paused");
	json_decref(ret);
	assert_int_equal(events, 1);
	assert_string_equal(last_event, "STOP");
	assert_int_equal(qmp_command(q, "bogus", json_object(), NULL, &err, 5000), -EIO);
	assert_string_equal(err, "no bogus");
	assert_int_equal(qmp_command(q, "quit", NULL, NULL, NULL, 5000), 0);
	for (int i = 0; i < 500 && !qmp_closed(q); i++)
		usleep(2000);
	assert_true(qmp_closed(q));
	assert_int_equal(closes, 1);
	assert_int_equal(qmp_command(q, "query-status", NULL, NULL, NULL, 1000), -EPIPE);
	qmp_free(q);
	peer_stop(p);
}

static void test_connect_refused(void **state)
{
	struct qmp *q = NULL;
	assert_true(qmp_connect("/tmp/domus-no-such.sock", NULL, NULL, NULL, NULL, &q) < 0);
	assert_null(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands_events_errors),
		cmocka_unit_test(test_connect_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
