/* paths.c - the instance root layout. */
#include "common/paths.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int domus_paths_init(struct domus_paths *p, const char *root)
{
	char buf[PATH_MAX];
	size_t n;

	memset(p, 0, sizeof(*p));
	if (!root)
		root = getenv("DOMUS_ROOT");
	if (!root || !*root)
		root = "/";
	if (root[0] != '/') {
		if (!getcwd(buf, sizeof(buf)))
			return -errno;
		n = strlen(buf);
		if (n + 1 + strlen(root) >= sizeof(buf))
			return -ENAMETOOLONG;
		buf[n] = '/';
		strcpy(buf + n + 1, root);
	} else {
		if (strlen(root) >= sizeof(buf))
			return -ENAMETOOLONG;
		strcpy(buf, root);
	}
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';

	p->root = strdup(buf);
	p->etc_dir = strprintf("%s/etc/domus", buf);
	p->conf_file = strprintf("%s/etc/domus/domus.conf", buf);
	p->auto_dir = strprintf("%s/etc/domus/auto", buf);
	p->lib_dir = strprintf("%s/var/lib/domus", buf);
	p->run_dir = strprintf("%s/run/domus", buf);
	p->sock_path = strprintf("%s/run/domus/domusd.sock", buf);
	p->log_dir = strprintf("%s/var/log/domus", buf);
	p->daemon_log = strprintf("%s/var/log/domus/domusd.log", buf);
	p->console_dir = strprintf("%s/var/log/domus/console", buf);
	if (!p->root || !p->etc_dir || !p->conf_file || !p->auto_dir || !p->lib_dir ||
	    !p->run_dir || !p->sock_path || !p->log_dir || !p->daemon_log || !p->console_dir) {
		domus_paths_release(p);
		return -ENOMEM;
	}
	return 0;
}

void domus_paths_release(struct domus_paths *p)
{
	free(p->root);
	free(p->etc_dir);
	free(p->conf_file);
	free(p->auto_dir);
	free(p->lib_dir);
	free(p->run_dir);
	free(p->sock_path);
	free(p->log_dir);
	free(p->daemon_log);
	free(p->console_dir);
	memset(p, 0, sizeof(*p));
}

int domus_paths_mkdirs(const struct domus_paths *p)
{
	const char *dirs[] = { p->etc_dir, p->auto_dir, p->lib_dir, p->run_dir,
			       p->log_dir, p->console_dir };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		int r = mkdir_p(dirs[i], 0755);
		if (r < 0)
			return r;
	}
	return 0;
}
