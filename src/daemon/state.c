/* state.c - the daemon's global state and its set-up. */
#include "daemon/daemon.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct daemon daemon_state = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.changed = PTHREAD_COND_INITIALIZER,
};

int daemon_setup(const char *root, char *errbuf, size_t errsize)
{
	int r = domus_paths_init(&daemon_state.paths, root);

	if (r == 0)
		r = domus_paths_mkdirs(&daemon_state.paths);
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot set up instance root '%s': %s", root ? root : "/",
			 strerror(-r));
		return r;
	}
	daemon_state.dom_run_dir = strprintf("%s/dom", daemon_state.paths.run_dir);
	daemon_state.mac_dir = strprintf("%s/mac", daemon_state.paths.lib_dir);
	if (!daemon_state.dom_run_dir || !daemon_state.mac_dir)
		return -ENOMEM;
	mkdir_p(daemon_state.dom_run_dir, 0755);
	mkdir_p(daemon_state.mac_dir, 0755);
	return daemon_conf_load(&daemon_state, errbuf, errsize);
}
