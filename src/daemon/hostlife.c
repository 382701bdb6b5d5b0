/* hostlife.c - what xendomains does: domains across host reboots.
 *
 * host-stop saves every running domain into var/lib/domus/save/NAME.save,
 * or migrates it live to host_stop_migrate_to (saving it if that fails),
 * or shuts it down (domus.conf on_host_stop). At the first daemon start
 * after the host booted (run/ is cleared at boot, so run/domus/host-started
 * is missing), saved domains are restored, each save file deleted only once
 * its domain runs again, and the VMs linked in etc/domus/auto/ start.
 */
#include "daemon/daemon.h"
#include "daemon/domain.h"
#include "daemon/migrate.h"
#include "daemon/save.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *save_dir(void)
{
	return strprintf("%s/save", daemon_state.paths.lib_dir);
}

static void restore_saved(void)
{
	_cleanup_free_ char *dir = save_dir();
	_cleanup_closedir_ DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		struct domain *dom = NULL;
		char errbuf[1024] = "";

		if (!endswith(de->d_name, ".save"))
			continue;
		path = strprintf("%s/%s", dir, de->d_name);
		if (!path)
			return;
		if (domain_restore(path, NULL, false, &dom, errbuf, sizeof(errbuf)) < 0) {
			log_err("host start: cannot restore '%s' (kept): %s", path, errbuf);
			continue;
		}
		domain_unref(dom);
		if (unlink(path) < 0)
			log_warn("host start: cannot remove '%s': %s", path, strerror(errno));
	}
}

static void start_auto(void)
{
	_cleanup_closedir_ DIR *d = opendir(daemon_state.paths.auto_dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL, *text = NULL;
		struct domain_create_args a = { .incoming_fd = -1 };
		struct domain *dom = NULL;
		json_t *warnings = NULL;
		char errbuf[1024] = "";
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		path = strprintf("%s/%s", daemon_state.paths.auto_dir, de->d_name);
		if (!path || read_file(path, 1 << 20, &text, &len) < 0)
			continue;
		a.config_text = text;
		a.config_len = len;
		a.config_path = path;
		if (domain_create(&a, &dom, &warnings, errbuf, sizeof(errbuf)) < 0) {
			/* A domain restored above is already running: not an error. */
			if (!strstr(errbuf, "already exists"))
				log_err("host start: cannot start '%s': %s", path, errbuf);
			continue;
		}
		log_info("host start: started %s from '%s'", dom->name, path);
		json_decref(warnings);
		domain_unref(dom);
	}
}

void host_start_domains(void)
{
	_cleanup_free_ char *marker = strprintf("%s/host-started", daemon_state.paths.run_dir);

	if (!marker || access(marker, F_OK) == 0)
		return; /* a daemon restart, not a host start */
	log_info("first start since the host booted: restoring saved domains, starting auto/");
	restore_saved();
	start_auto();
	if (write_file_atomic(marker, "", 0, 0644) < 0)
		log_warn("cannot write '%s'", marker);
}

static int stop_one(struct domain *d, const char *dir)
{
	char errbuf[1024] = "";
	unsigned gen = d->generation;
	int r;

	if (streq(daemon_state.conf.on_host_stop, "migrate")) {
		json_t *report = NULL;
		r = domain_migrate(d, daemon_state.conf.host_stop_migrate_to, NULL, true, NULL, &report,
				   errbuf, sizeof(errbuf));
		json_decref(report);
		if (r == 0)
			return 0;
		log_err("host stop: cannot migrate %s to %s (%s); saving it", d->name,
			daemon_state.conf.host_stop_migrate_to, errbuf);
	}
	if (!streq(daemon_state.conf.on_host_stop, "shutdown")) {
		_cleanup_free_ char *path = strprintf("%s/%s.save", dir, d->name);
		if (!path)
			return -ENOMEM;
		r = domain_save(d, path, NULL, SAVE_DESTROY, errbuf, sizeof(errbuf));
		if (r == 0)
			return 0;
		log_err("host stop: cannot save %s (%s); shutting it down", d->name, errbuf);
	}
	r = domain_shutdown(d, errbuf, sizeof(errbuf));
	if (r == 0)
		r = domain_wait_change(d, gen, (int)daemon_state.conf.host_stop_timeout * 1000);
	if (r == 0 && d->gone)
		return 0;
	log_err("host stop: %s did not shut down in %u s; destroying it", d->name,
		daemon_state.conf.host_stop_timeout);
	domain_destroy(d, errbuf, sizeof(errbuf));
	return -ETIMEDOUT;
}

int host_stop_domains(void)
{
	_cleanup_free_ char *dir = save_dir();
	struct domain **v;
	size_t n;
	int failed = 0;

	if (!dir || mkdir_p(dir, 0700) < 0)
		return -ENOMEM;
	n = domain_list(&v);
	log_info("host stop: %zu domain(s), action %s", n, daemon_state.conf.on_host_stop);
	for (size_t i = 0; i < n; i++)
		if (stop_one(v[i], dir) < 0)
			failed++;
	domain_list_free(v, n);
	return failed;
}
