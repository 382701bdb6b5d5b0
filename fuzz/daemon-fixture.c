/* daemon-fixture.c - see daemon-fixture.h. */
#include "daemon-fixture.h"
#include "daemon/daemon.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_daemon_setup(const char *name)
{
	static int done;
	char root[256], errbuf[512];

	if (done)
		return;
	done = 1;
	unshare(CLONE_NEWNET);
	signal(SIGTERM, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	snprintf(root, sizeof(root), "/tmp/domus-fuzz-%s-XXXXXX", name);
	if (!mkdtemp(root) || daemon_setup(root, errbuf, sizeof(errbuf)) < 0)
		abort();
	free(daemon_state.conf.qemu_binary);
	daemon_state.conf.qemu_binary = strdup("/nonexistent/qemu-system-x86_64");
}
