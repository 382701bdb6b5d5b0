/* host.c - host facts (memory, CPUs, virtualization) and domus.conf. */
#include "daemon/daemon.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "config/xlcfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Default of migration_stream_buffer_kib (the kernel doubles it): small
 * enough to cross in a few ms, large enough for a LAN's full rate. */
#define MIGRATION_STREAM_BUFFER_KIB 256
/* Default of migration_incoming_priority: nice -10, ~9 times the CPU
 * share of a guest's QEMU at nice 0. */
#define MIGRATION_INCOMING_PRIORITY 10

/* The number after KEY in /proc/meminfo (KiB for sizes, a count for
 * HugePages_*), or 0. */
static uint64_t meminfo(const char *key)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	size_t klen = strlen(key);

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			return strtoull(line + klen + 1, NULL, 10);
	return 0;
}

uint64_t host_mem_total_mb(void) { return meminfo("MemTotal") / 1024; }
uint64_t host_mem_free_mb(void) { return meminfo("MemAvailable") / 1024; }

uint64_t host_hugetlb_free_mb(void)
{
	return meminfo("Hugepagesize") == 2048 ? meminfo("HugePages_Free") * 2 : 0;
}

unsigned host_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

double host_cpu_seconds(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
	unsigned long long user = 0, nice = 0, sys = 0;

	if (!f || fscanf(f, "cpu %llu %llu %llu", &user, &nice, &sys) != 3)
		return 0;
	return (double)(user + nice + sys) / (double)sysconf(_SC_CLK_TCK);
}

/* Hardware virtualization: the CPU flags say vmx or svm. A /dev/kvm without
 * them (a paravirtual nested KVM) cannot run stock kernels. */
bool host_has_hw_virt(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
	char line[8192];

	if (!f || access("/dev/kvm", R_OK | W_OK) < 0)
		return false;
	while (fgets(line, sizeof(line), f))
		if (startswith(line, "flags") && (strstr(line, " vmx") || strstr(line, " svm")))
			return true;
	return false;
}

static int conf_string(const struct xlcfg *cfg, const char *key, const char *def, char **ret,
		       char *errbuf, size_t errsize)
{
	const struct xlcfg_value *v = cfg ? xlcfg_get(cfg, key) : NULL;
	if (v && v->type != XLCFG_STRING) {
		snprintf(errbuf, errsize, "%s: '%s' must be a string", daemon_state.paths.conf_file, key);
		return -EINVAL;
	}
	if (!v && !def) {
		*ret = NULL; /* unset, no default */
		return 0;
	}
	*ret = strdup(v ? v->str : def);
	return *ret ? 0 : -ENOMEM;
}

static int conf_seconds(const struct xlcfg *cfg, const char *key, unsigned def, unsigned *ret,
			char *errbuf, size_t errsize)
{
	const struct xlcfg_value *v = cfg ? xlcfg_get(cfg, key) : NULL;
	if (v && (v->type != XLCFG_NUMBER || v->num < 1 || v->num > 86400)) {
		snprintf(errbuf, errsize, "%s: '%s' must be a number of seconds (1-86400)",
			 daemon_state.paths.conf_file, key);
		return -EINVAL;
	}
	*ret = v ? (unsigned)v->num : def;
	return 0;
}

static int conf_relocation(const struct xlcfg *cfg, struct daemon *d, char *errbuf, size_t errsize)
{
	const struct xlcfg_value *listen = cfg ? xlcfg_get(cfg, "relocation_listen") : NULL;
	const struct xlcfg_value *allow = cfg ? xlcfg_get(cfg, "relocation_hosts_allow") : NULL;
	const struct xlcfg_value *v;
	_cleanup_free_ char *tls_default = strprintf("%s/tls", d->paths.etc_dir);
	int r;

	if (!tls_default)
		return -ENOMEM;
	if (listen && listen->type != XLCFG_STRING) {
		snprintf(errbuf, errsize, "%s: relocation_listen must be \"ADDR:PORT\"", d->paths.conf_file);
		return -EINVAL;
	}
	d->conf.relocation_listen = listen ? strdup(listen->str) : NULL;
	d->conf.relocation_hosts_allow = json_array();
	if (allow && allow->type != XLCFG_LIST) {
		snprintf(errbuf, errsize, "%s: relocation_hosts_allow must be a list of addresses",
			 d->paths.conf_file);
		return -EINVAL;
	}
	for (size_t i = 0; allow && i < allow->n_items; i++) {
		if (allow->items[i]->type != XLCFG_STRING) {
			snprintf(errbuf, errsize, "%s: relocation_hosts_allow must hold strings",
				 d->paths.conf_file);
			return -EINVAL;
		}
		json_array_append_new(d->conf.relocation_hosts_allow, json_string(allow->items[i]->str));
	}
	r = conf_string(cfg, "relocation_tls_dir", tls_default, &d->conf.relocation_tls_dir, errbuf,
			errsize);
	if (r < 0)
		return r;
	v = cfg ? xlcfg_get(cfg, "migration_max_downtime_ms") : NULL;
	d->conf.migration_max_downtime_ms = v && v->type == XLCFG_NUMBER && v->num > 0 ? (unsigned)v->num : 300;
	v = cfg ? xlcfg_get(cfg, "migration_bandwidth") : NULL;
	d->conf.migration_bandwidth_mib = v && v->type == XLCFG_NUMBER && v->num > 0 ? (unsigned)v->num : 0;
	v = cfg ? xlcfg_get(cfg, "migration_stream_buffer_kib") : NULL;
	if (v && (v->type != XLCFG_NUMBER || v->num > 1 << 20)) {
		snprintf(errbuf, errsize, "%s: migration_stream_buffer_kib must be a number of KiB "
			 "(0: the kernel sizes them)", d->paths.conf_file);
		return -EINVAL;
	}
	d->conf.migration_stream_buffer_kib = v ? (unsigned)v->num : MIGRATION_STREAM_BUFFER_KIB;
	v = cfg ? xlcfg_get(cfg, "migration_incoming_priority") : NULL;
	if (v && (v->type != XLCFG_NUMBER || v->num > 20)) {
		snprintf(errbuf, errsize, "%s: migration_incoming_priority must be a number from 0 "
			 "to 20 (nice levels above the normal)", d->paths.conf_file);
		return -EINVAL;
	}
	d->conf.migration_incoming_priority = v ? (unsigned)v->num : MIGRATION_INCOMING_PRIORITY;
	v = cfg ? xlcfg_get(cfg, "migration_stream") : NULL;
	if (v && (v->type != XLCFG_STRING || (!streq(v->str, "direct") && !streq(v->str, "relayed")))) {
		snprintf(errbuf, errsize, "%s: migration_stream must be \"direct\" or \"relayed\"",
			 d->paths.conf_file);
		return -EINVAL;
	}
	d->conf.migration_relayed = v && streq(v->str, "relayed");
	v = cfg ? xlcfg_get(cfg, "migration_disk_copy") : NULL;
	if (v && (v->type != XLCFG_STRING ||
		  (!streq(v->str, "background") && !streq(v->str, "write-blocking")))) {
		snprintf(errbuf, errsize, "%s: migration_disk_copy must be \"background\" or "
			 "\"write-blocking\"", d->paths.conf_file);
		return -EINVAL;
	}
	d->conf.migration_write_blocking = v && streq(v->str, "write-blocking");
	return 0;
}

int daemon_conf_load(struct daemon *d, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *text = NULL, *heap = NULL;
	struct xlcfg *cfg = NULL;
	struct xlcfg_error err = { 0 };
	size_t len = 0;
	int r = read_file(d->paths.conf_file, 1 << 20, &text, &len);

	if (r == 0) {
		r = xlcfg_parse(text, len, d->paths.conf_file, &cfg, &err);
		if (r < 0) {
			xlcfg_error_format(NULL, d->paths.conf_file, &err, errbuf, errsize);
			return r;
		}
	} else if (r != -ENOENT) {
		snprintf(errbuf, errsize, "%s: %s", d->paths.conf_file, strerror(-r));
		return r;
	}
	r = conf_string(cfg, "accel", "auto", &d->conf.accel_setting, errbuf, errsize);
	if (r == 0)
		r = conf_string(cfg, "qemu", "qemu-system-x86_64", &d->conf.qemu_binary, errbuf, errsize);
	if (r == 0)
		r = conf_string(cfg, "on_host_stop", "save", &d->conf.on_host_stop, errbuf, errsize);
	if (r == 0)
		r = conf_seconds(cfg, "host_stop_timeout", 300, &d->conf.host_stop_timeout, errbuf,
				 errsize);
	if (r == 0)
		r = conf_string(cfg, "host_stop_migrate_to", NULL, &d->conf.host_stop_migrate_to, errbuf,
				errsize);
	if (r == 0)
		r = conf_relocation(cfg, d, errbuf, errsize);
	if (r == 0)
		r = conf_string(cfg, "qemu_heap_hugetlb", "auto", &heap, errbuf, errsize);
	if (r == 0 && !streq(heap, "auto") && !streq(heap, "off")) {
		snprintf(errbuf, errsize, "%s: qemu_heap_hugetlb must be \"auto\" or \"off\"",
			 d->paths.conf_file);
		r = -EINVAL;
	}
	d->conf.qemu_heap_hugetlb = r == 0 && streq(heap, "auto");
	xlcfg_free(cfg);
	if (r < 0)
		return r;
	if (!streq(d->conf.on_host_stop, "save") && !streq(d->conf.on_host_stop, "shutdown") &&
	    !streq(d->conf.on_host_stop, "migrate")) {
		snprintf(errbuf, errsize,
			 "%s: on_host_stop must be \"save\", \"migrate\" or \"shutdown\", not '%s'",
			 d->paths.conf_file, d->conf.on_host_stop);
		return -EINVAL;
	}
	if (streq(d->conf.on_host_stop, "migrate") && !d->conf.host_stop_migrate_to) {
		snprintf(errbuf, errsize,
			 "%s: on_host_stop = \"migrate\" needs host_stop_migrate_to = \"HOST[:PORT]\"",
			 d->paths.conf_file);
		return -EINVAL;
	}
	if (streq(d->conf.accel_setting, "kvm")) {
		d->conf.accel = ACCEL_KVM;
	} else if (streq(d->conf.accel_setting, "tcg")) {
		d->conf.accel = ACCEL_TCG;
	} else if (streq(d->conf.accel_setting, "auto")) {
		d->conf.accel = host_has_hw_virt() ? ACCEL_KVM : ACCEL_TCG;
	} else {
		snprintf(errbuf, errsize, "%s: accel must be \"auto\", \"kvm\" or \"tcg\", not '%s'",
			 d->paths.conf_file, d->conf.accel_setting);
		return -EINVAL;
	}
	return 0;
}
