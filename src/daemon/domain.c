/* domain.c - create, supervise, re-attach and tear down domains.
 *
 * A domain is a QEMU process started detached (double fork, own session) so
 * it outlives the daemon. QEMU starts paused with -no-shutdown and
 * reboot=shutdown/panic=pause actions: whatever the guest does, QEMU stops
 * and tells us over QMP, and the supervisor thread applies the VM's
 * on_poweroff / on_reboot / on_crash action. The domain ends when QEMU's QMP
 * connection closes.
 */
#include "daemon/domain.h"
#include "daemon/console.h"
#include "daemon/daemon.h"
#include "daemon/lvdisk.h"
#include "daemon/remotedisk.h"
#include "daemon/netdev.h"
#include "daemon/save.h"
#include "net/net.h"
#include "boot/pygrub.h"
#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/log.h"
#include "common/sock.h"
#include "common/process.h"
#include "common/util.h"
#include "qemu/cmdline.h"
#include "qemu/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QMP_TIMEOUT_MS 10000
#define QEMU_START_TIMEOUT_MS 30000

static void domain_free(struct domain *d)
{
	if (!d)
		return;
	qmp_free(d->qmp);
	console_mux_free(d->serial);
	console_mux_free(d->pvcon);
	domcfg_free(d->cfg);
	json_decref(d->cfg_json);
	json_decref(d->migration);
	free(d->name);
	for (size_t i = 0; i < d->n_old_names; i++)
		free(d->old_names[i]);
	free(d->old_names);
	free(d->uuid);
	free(d->run_dir);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->event_cond);
	pthread_cond_destroy(&d->migration_cond);
	free(d);
}

void domain_unref(struct domain *d)
{
	bool last;
	if (!d)
		return;
	pthread_mutex_lock(&daemon_state.lock);
	last = --d->refs == 0;
	pthread_mutex_unlock(&daemon_state.lock);
	if (last)
		domain_free(d);
}

static struct domain *domain_ref_locked(struct domain *d)
{
	d->refs++;
	return d;
}

struct domain *domain_lookup(const char *name_or_id)
{
	struct domain *found = NULL;
	uint64_t id;
	bool numeric = parse_u64(name_or_id, &id) == 0;

	pthread_mutex_lock(&daemon_state.lock);
	for (size_t i = 0; i < daemon_state.n_domains && !found; i++) {
		struct domain *d = daemon_state.domains[i];
		if ((numeric && (uint64_t)d->domid == id) || streq(d->name, name_or_id))
			found = domain_ref_locked(d);
	}
	pthread_mutex_unlock(&daemon_state.lock);
	return found;
}

size_t domain_list(struct domain ***ret)
{
	struct domain **v;
	size_t n;

	pthread_mutex_lock(&daemon_state.lock);
	n = daemon_state.n_domains;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		n = 0;
	for (size_t i = 0; i < n; i++)
		v[i] = domain_ref_locked(daemon_state.domains[i]);
	pthread_mutex_unlock(&daemon_state.lock);
	*ret = v;
	return n;
}

void domain_list_free(struct domain **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		domain_unref(v[i]);
	free(v);
}

/* Insert D unless its name is taken; sorted by domid. */
static int list_insert(struct domain *d)
{
	struct domain **nv;

	pthread_mutex_lock(&daemon_state.lock);
	for (size_t i = 0; i < daemon_state.n_domains; i++)
		if (streq(daemon_state.domains[i]->name, d->name)) {
			pthread_mutex_unlock(&daemon_state.lock);
			return -EEXIST;
		}
	nv = realloc(daemon_state.domains, (daemon_state.n_domains + 1) * sizeof(*nv));
	if (!nv) {
		pthread_mutex_unlock(&daemon_state.lock);
		return -ENOMEM;
	}
	daemon_state.domains = nv;
	nv[daemon_state.n_domains++] = domain_ref_locked(d);
	for (size_t i = daemon_state.n_domains - 1; i > 0 && nv[i - 1]->domid > nv[i]->domid; i--) {
		struct domain *t = nv[i];
		nv[i] = nv[i - 1];
		nv[i - 1] = t;
	}
	pthread_cond_broadcast(&daemon_state.changed);
	pthread_mutex_unlock(&daemon_state.lock);
	return 0;
}

static void list_remove(struct domain *d)
{
	bool found = false;

	pthread_mutex_lock(&daemon_state.lock);
	for (size_t i = 0; i < daemon_state.n_domains; i++)
		if (daemon_state.domains[i] == d) {
			memmove(&daemon_state.domains[i], &daemon_state.domains[i + 1],
				(daemon_state.n_domains - i - 1) * sizeof(d));
			daemon_state.n_domains--;
			found = true;
			break;
		}
	d->gone = true;
	pthread_cond_broadcast(&daemon_state.changed);
	pthread_mutex_unlock(&daemon_state.lock);
	if (found)
		domain_unref(d);
}

/* Domain IDs grow from 1 and are never reused while the host is up: the
 * counter lives in run/ (cleared at boot, as Xen's are). */
static int next_domid(void)
{
	_cleanup_free_ char *path = strprintf("%s/next-domid", daemon_state.paths.run_dir);
	_cleanup_free_ char *data = NULL;
	char buf[32];
	uint64_t id = 1;
	int n;

	if (!path)
		return -ENOMEM;
	if (read_file(path, 64, &data, NULL) == 0) {
		data[strcspn(data, "\n")] = '\0';
		if (parse_u64(data, &id) < 0 || id < 1 || id > 0x7ff0)
			id = 1;
	}
	for (size_t i = 0; i < daemon_state.n_domains; i++)
		if ((uint64_t)daemon_state.domains[i]->domid >= id)
			id = (uint64_t)daemon_state.domains[i]->domid + 1;
	n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)id + 1);
	write_file_atomic(path, buf, (size_t)n, 0644);
	return (int)id;
}

static char *uuid_generate(void)
{
	uint8_t b[16];
	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		return NULL;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	return strprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
			 b[12], b[13], b[14], b[15]);
}

/* ---- state.json: what a restarted daemon needs to re-attach ---- */

static int state_save(struct domain *d)
{
	_cleanup_free_ char *path = strprintf("%s/state.json", d->run_dir);
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_t *j = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	/* Under the domain's lock: two saves must not share the temp file. */
	pthread_mutex_lock(&d->lock);
	j = json_pack("{s:i,s:s,s:s,s:I,s:I,s:f,s:b,s:O}", "domid", d->domid, "name", d->name,
		      "uuid", d->uuid, "pid", (json_int_t)d->pid, "pid_start",
		      (json_int_t)d->pid_start, "start_time", d->start_time, "user_paused",
		      d->user_paused, "config", d->cfg_json);
	if (j)
		json_object_set_new(j, "disk_servers", lvdisk_to_json(d));
	text = j ? json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
	r = text ? write_file_atomic(path, text, strlen(text), 0644) : -ENOMEM;
	pthread_mutex_unlock(&d->lock);
	return r;
}

void domain_persist(struct domain *d)
{
	int r = state_save(d);
	if (r < 0)
		log_err("domain %s (%d): cannot save its state: %s", d->name, d->domid, strerror(-r));
}

/* Fields of /proc/PID/stat: state (3), utime and stime (14, 15), start time
 * in ticks (22). Returns 0 or -errno. */
struct proc_stat {
	char state;
	unsigned long long utime, stime, start;
};

static int proc_stat_read(pid_t pid, struct proc_stat *ret)
{
	_cleanup_free_ char *path = strprintf("/proc/%d/stat", (int)pid);
	_cleanup_free_ char *data = NULL;
	char *p;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_file(path, 4096, &data, NULL);
	if (r < 0)
		return r;
	/* The command name may contain anything; the fields follow its ')'. */
	p = strrchr(data, ')');
	if (!p || sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
			 "%*d %*d %*d %llu", &ret->state, &ret->utime, &ret->stime, &ret->start) != 4)
		return -EINVAL;
	return 0;
}

unsigned long long proc_start_time(pid_t pid)
{
	struct proc_stat st;
	if (proc_stat_read(pid, &st) < 0 || st.state == 'Z' || st.state == 'X')
		return 0;
	return st.start;
}

double domain_cpu_seconds(struct domain *d)
{
	struct proc_stat st;
	if (proc_stat_read(d->pid, &st) < 0)
		return 0;
	return (double)(st.utime + st.stime) / (double)sysconf(_SC_CLK_TCK);
}

/* True if a vCPU thread of the domain is on a CPU right now. */
static bool vcpu_running(struct domain *d)
{
	_cleanup_free_ char *dir = strprintf("/proc/%d/task", (int)d->pid);
	_cleanup_closedir_ DIR *dp = dir ? opendir(dir) : NULL;
	struct dirent *de;

	if (!dp)
		return false;
	while ((de = readdir(dp))) {
		_cleanup_free_ char *stat = NULL, *data = NULL;
		char *p;
		if (de->d_name[0] == '.')
			continue;
		stat = strprintf("%s/%s/stat", dir, de->d_name);
		if (!stat || read_file(stat, 4096, &data, NULL) < 0)
			continue;
		p = strrchr(data, ')');
		if (p && p[2] == 'R' && strstr(data, "(CPU "))
			return true;
	}
	return false;
}

void domain_state_letters(struct domain *d, char buf[7])
{
	enum dom_run_state s;

	pthread_mutex_lock(&d->lock);
	s = d->state;
	pthread_mutex_unlock(&d->lock);
	memcpy(buf, "------", 7);
	switch (s) {
	case DOM_RUNNING:
		if (vcpu_running(d))
			buf[0] = 'r';
		else
			buf[1] = 'b';
		break;
	case DOM_PAUSED:
		buf[2] = 'p';
		break;
	case DOM_SHUTDOWN:
		buf[3] = 's';
		break;
	case DOM_CRASHED:
		buf[4] = 'c';
		break;
	case DOM_DYING:
		buf[5] = 'd';
		break;
	}
}

static const char *run_state_name(enum dom_run_state s)
{
	static const char *const names[] = { "running", "paused", "shutdown", "crashed", "dying" };
	return names[s];
}

json_t *domain_to_json(struct domain *d)
{
	json_t *j;

	pthread_mutex_lock(&d->lock);
	/* A copy: a rename may change cfg_json while the reply is sent. */
	j = json_pack("{s:i,s:s,s:s,s:s,s:I,s:f,s:o}", "domid", d->domid, "name", d->name, "uuid",
		      d->uuid, "state", run_state_name(d->state), "pid", (json_int_t)d->pid,
		      "start_time", d->start_time, "config", json_deep_copy(d->cfg_json));
	if (j && d->migration)
		json_object_set_new(j, "migration", json_deep_copy(d->migration));
	pthread_mutex_unlock(&d->lock);
	return j;
}

/* ---- creation ---- */

/* The owner id of this instance's network objects (src/net). */
static void net_owner(char ret[9])
{
	net_owner_id(daemon_state.paths.root, ret);
}

struct launch_plan {
	struct qemu_disk disks[16];
	char *lvs[16];            /* "VG/LV" of disks on Domus LVs, else NULL */
	struct disk_nbd remotes[16]; /* disks on a storage host (remotedisk.h) */
	size_t n_disks;
	struct qemu_nic nics[8];
	char *ifnames[8];
	char *macs[8];
	const char *bridges[8];
	struct net_bridge_spec bridge_specs[8];
	enum net_bridge_kind bridge_kinds[8];
	size_t n_nics;
};

static void launch_plan_release(struct launch_plan *p)
{
	for (size_t i = 0; i < p->n_disks; i++) {
		free(p->lvs[i]);
		disk_nbd_release(&p->remotes[i]);
	}
	for (size_t i = 0; i < p->n_nics; i++) {
		free(p->ifnames[i]);
		free(p->macs[i]);
	}
}

static int check_readable_file(const char *what, const char *path, char *errbuf, size_t errsize)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(errbuf, errsize, "%s '%s': %s", what, path, strerror(errno));
		return -ENOENT;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(errbuf, errsize, "%s '%s' is not a regular file", what, path);
		return -EINVAL;
	}
	if (access(path, R_OK) < 0) {
		snprintf(errbuf, errsize, "%s '%s': %s", what, path, strerror(errno));
		return -EACCES;
	}
	return 0;
}

static int plan_disks(const struct domcfg *c, struct launch_plan *p, char *errbuf, size_t errsize)
{
	if (c->n_disks > ARRAY_SIZE(p->disks)) {
		snprintf(errbuf, errsize, "too many disks (%zu, at most %zu)", c->n_disks,
			 ARRAY_SIZE(p->disks));
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_disks; i++) {
		const struct disk_spec *s = &c->disks[i];
		struct stat st;
		int r;

		for (size_t j = 0; j < i; j++)
			if (streq(c->disks[j].vdev, s->vdev)) {
				snprintf(errbuf, errsize, "disk '%s' is configured twice", s->vdev);
				return -EINVAL;
			}
		r = remotedisk_plan(s, &p->remotes[p->n_disks], &p->disks[p->n_disks], errbuf,
				    errsize);
		if (r == 0)
			r = lvdisk_plan(s, &p->lvs[p->n_disks], &p->disks[p->n_disks], errbuf, errsize);
		if (r < 0)
			return r;
		if (r > 0) {
			p->n_disks++;
			continue;
		}
		if (s->target && *s->target) {
			if (stat(s->target, &st) < 0) {
				snprintf(errbuf, errsize, "disk '%s': '%s': %s", s->vdev, s->target,
					 strerror(errno));
				return -ENOENT;
			}
			if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
				snprintf(errbuf, errsize,
					 "disk '%s': '%s' is neither a file nor a block device", s->vdev,
					 s->target);
				return -EINVAL;
			}
			if (access(s->target, s->readonly || s->cdrom ? R_OK : R_OK | W_OK) < 0) {
				snprintf(errbuf, errsize, "disk '%s': '%s': %s", s->vdev, s->target,
					 strerror(errno));
				return -EACCES;
			}
		} else if (!s->cdrom) {
			snprintf(errbuf, errsize, "disk '%s' has no target", s->vdev);
			return -EINVAL;
		}
		p->disks[p->n_disks++] = (struct qemu_disk){
			.path = s->target && *s->target ? s->target : NULL,
			.format = disk_format_name(s->format),
			.vdev = s->vdev,
			.readonly = s->readonly,
			.cdrom = s->cdrom,
		};
	}
	return 0;
}

/* The MACs generated for a VM's vifs without mac=, kept per VM name so the
 * guest sees the same NICs across reboots and re-creations. */
char *domain_stable_mac(const char *vm, size_t devid)
{
	_cleanup_free_ char *path = strprintf("%s/%s", daemon_state.mac_dir, vm);
	_cleanup_free_ char *data = NULL;
	_cleanup_free_ char *newdata = NULL;
	uint8_t b[3];
	char *mac;

	if (!path)
		return NULL;
	if (read_file(path, 65536, &data, NULL) == 0) {
		char *save = NULL;
		for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			unsigned long id;
			char m[18];
			if (sscanf(line, "%lu %17s", &id, m) == 2 && id == devid)
				return strdup(m);
		}
		/* strtok_r wrote NULs into data: read it again for the rewrite */
		free(TAKE_PTR(data));
		read_file(path, 65536, &data, NULL);
	}
	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		return NULL;
	b[0] &= 0x7f; /* Xen's convention: 00:16:3e:00-7f:xx:xx */
	mac = strprintf("00:16:3e:%02x:%02x:%02x", b[0], b[1], b[2]);
	if (!mac)
		return NULL;
	newdata = strprintf("%s%zu %s\n", data ? data : "", devid, mac);
	if (newdata)
		write_file_atomic(path, newdata, strlen(newdata), 0644);
	return mac;
}

static bool ifname_in_use(const char *ifname, const struct launch_plan *p, size_t upto)
{
	for (size_t i = 0; i < upto; i++)
		if (streq(p->ifnames[i], ifname))
			return true;
	return netdev_exists(ifname);
}

/* True if MAC is one of the first UPTO planned vifs or a vif mac= of
 * another domain than the one of SELF. */
static bool mac_in_use(const char *mac, const struct domcfg *self, const struct launch_plan *p,
		       size_t upto)
{
	bool used = false;

	for (size_t i = 0; i < upto; i++)
		if (streq(p->macs[i], mac))
			return true;
	pthread_mutex_lock(&daemon_state.lock);
	for (size_t i = 0; !used && i < daemon_state.n_domains; i++) {
		const struct domcfg *c = daemon_state.domains[i]->cfg;
		for (size_t j = 0; c && c != self && !used && j < c->n_vifs; j++)
			used = c->vifs[j].mac && streq(c->vifs[j].mac, mac);
	}
	pthread_mutex_unlock(&daemon_state.lock);
	return used;
}

static int plan_nics(const struct domcfg *c, int domid, struct launch_plan *p, char *errbuf,
		     size_t errsize)
{
	if (c->n_vifs > ARRAY_SIZE(p->nics)) {
		snprintf(errbuf, errsize, "too many vifs (%zu, at most %zu)", c->n_vifs,
			 ARRAY_SIZE(p->nics));
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_vifs; i++) {
		const struct vif_spec *v = &c->vifs[i];
		const char *model = qemu_nic_model(v->model, c->type);
		unsigned devid = v->port ? v->devid : (unsigned)i, n;

		if (v->port && (c->type == DOM_TYPE_HVM ||
				!(sscanf(v->port, QEMU_NIC_PORT_PREFIX "%u", &n) == 1
					  ? n < (c->nic_ports ? c->nic_ports : c->n_vifs)
					  : sscanf(v->port, QEMU_HOTPLUG_PORT_PREFIX "%u", &n) == 1 &&
						    n < QEMU_HOTPLUG_PORTS))) {
			snprintf(errbuf, errsize, "vif %zu: no port '%s' in this domain", i, v->port);
			return -EINVAL;
		}
		if (!model) {
			snprintf(errbuf, errsize, "vif %zu: unknown model '%s'", i, v->model);
			return -EINVAL;
		}
		if (v->bridge) {
			char nerr[200];
			int r = net_bridge_resolve(v->bridge, &p->bridge_specs[i], &p->bridge_kinds[i],
						   nerr, sizeof(nerr));
			if (r < 0) {
				snprintf(errbuf, errsize, "vif %zu: %s", i, nerr);
				return r;
			}
		}
		p->ifnames[i] = v->vifname ? strdup(v->vifname) : strprintf("vif%d.%u", domid, devid);
		p->macs[i] = v->mac ? strdup(v->mac) : domain_stable_mac(c->name, devid);
		p->n_nics = i + 1;
		if (!p->ifnames[i] || !p->macs[i])
			return -ENOMEM;
		if (!netdev_name_valid(p->ifnames[i])) {
			snprintf(errbuf, errsize, "vif %zu: invalid interface name '%s'", i, p->ifnames[i]);
			return -EINVAL;
		}
		if (mac_in_use(p->macs[i], c, p, i)) {
			snprintf(errbuf, errsize, "vif %zu: mac %s is already used by another vif "
				 "on this host", i, p->macs[i]);
			return -EEXIST;
		}
		if (ifname_in_use(p->ifnames[i], p, i)) {
			snprintf(errbuf, errsize, "vif %zu: interface '%s' already exists on the host",
				 i, p->ifnames[i]);
			return -EEXIST;
		}
		p->bridges[i] = v->bridge;
		p->nics[i] = (struct qemu_nic){ .ifname = p->ifnames[i], .mac = p->macs[i],
						.model = model,
						.all_vlans = v->bridge && p->bridge_specs[i].n_trunks,
						.no_offload = v->bridge &&
							p->bridge_kinds[i] == NET_BRIDGE_OVS,
						.devid = devid, .port = v->port };
	}
	return 0;
}

static int plan_check(const struct domcfg *c, char *errbuf, size_t errsize)
{
	uint64_t host_mb = host_mem_total_mb();
	uint64_t want = c->maxmem_mb > c->memory_mb ? c->maxmem_mb : c->memory_mb;
	int r;

	if (host_mb && want > host_mb) {
		snprintf(errbuf, errsize, "memory %llu MiB is more than the host has (%llu MiB)",
			 (unsigned long long)want, (unsigned long long)host_mb);
		return -ENOMEM;
	}
	if (c->type == DOM_TYPE_HVM)
		return 0;
	if (c->bootloader && !domcfg_bootloader_is_pygrub(c->bootloader)) {
		snprintf(errbuf, errsize, "bootloader '%s' is not supported (pygrub is)", c->bootloader);
		return -EOPNOTSUPP;
	}
	if (c->bootloader)
		return 0; /* the kernel comes from the guest's disk */
	if (!c->kernel) {
		snprintf(errbuf, errsize, "a %s domain needs a kernel (kernel = \"/path/to/vmlinuz\")",
			 dom_type_name(c->type));
		return -EINVAL;
	}
	r = check_readable_file("kernel", c->kernel, errbuf, errsize);
	if (r == 0 && c->ramdisk)
		r = check_readable_file("ramdisk", c->ramdisk, errbuf, errsize);
	return r;
}

int domain_check(const struct domcfg *cfg, char *errbuf, size_t errsize)
{
	struct launch_plan plan = { 0 };
	int r = plan_check(cfg, errbuf, errsize);

	if (r == 0)
		r = plan_disks(cfg, &plan, errbuf, errsize);
	if (r == 0)
		r = plan_nics(cfg, 0, &plan, errbuf, errsize);
	launch_plan_release(&plan);
	return r;
}

/* pygrub: the kernel, initrd and arguments named by the boot menu on the
 * domain's first disk, copied into its run directory. */
static int run_bootloader(struct domain *d, const struct launch_plan *p, struct boot_entry *ret,
			  char *errbuf, size_t errsize)
{
	_cleanup_free_ char *base = NULL, *args = NULL, *pv = NULL, *label = NULL;
	const struct qemu_disk *disk = NULL;
	const char *lv = NULL;
	uint64_t offset = 0;
	int r;

	for (size_t i = 0; i < p->n_disks && !disk; i++)
		if (!p->disks[i].cdrom && (p->disks[i].path || p->lvs[i] || p->disks[i].remote)) {
			disk = &p->disks[i];
			lv = p->lvs[i];
		}
	if (!disk) {
		snprintf(errbuf, errsize, "bootloader: the domain has no disk to boot from");
		return -EINVAL;
	}
	if (disk->remote) {
		snprintf(errbuf, errsize, "bootloader: disk '%s' is on an NBD server; pygrub reads "
			 "disk files and logical volumes of this host only (use kernel=)", disk->vdev);
		return -EOPNOTSUPP;
	}
	if (!streq(disk->format, "raw")) {
		snprintf(errbuf, errsize, "bootloader: disk '%s' must be raw, not %s", disk->vdev,
			 disk->format);
		return -EOPNOTSUPP;
	}
	if (lv) {
		/* Read the LV's extents in place on its PV (read-only). */
		r = lvdisk_locate(lv, &pv, &offset);
		if (r < 0) {
			snprintf(errbuf, errsize, "bootloader: cannot read logical volume %s: %s", lv,
				 r == -EMEDIUMTYPE ? "it is not one contiguous run on one PV"
						   : strerror(-r));
			return r;
		}
	}
	label = lv ? strprintf("/dev/%s", lv) : strdup(disk->path);
	if (!label)
		return -ENOMEM;
	r = pygrub_extract(lv ? pv : disk->path, offset, label, d->run_dir, ret, errbuf, errsize);
	if (r < 0)
		return r;
	/* As pygrub --args: the config's root/extra follow the menu's own. */
	base = domcfg_kernel_cmdline(d->cfg);
	args = base ? strprintf("%s%s%s", ret->args, *ret->args && *base ? " " : "", base) : NULL;
	if (!args) {
		boot_entry_release(ret);
		return -ENOMEM;
	}
	free(ret->args);
	ret->args = TAKE_PTR(args);
	log_info("domain %s (%d): bootloader found kernel '%s' in '%s'", d->name, d->domid,
		 ret->title ? ret->title : "(default)", label);
	return 0;
}

/* QEMU and disk servers, in their own session (domain.h). */
pid_t spawn_detached(char **argv, char **envp, const char *run_dir, const char *log_name)
{
	struct spawn_opts o = { .envp = envp, .dir = run_dir, .new_session = true,
				.stdin_path = "/dev/null", .stdout_path = log_name,
				.stderr_to_stdout = true };

	return spawn_program(argv, &o);
}

#define MALLOC_HUGETLB "glibc.malloc.hugetlb"

/* What one QEMU's heap takes from a hugetlb pool: ~44 MiB at start-up
 * (measured, whatever the guest's memory size), with some room. */
#define QEMU_HEAP_HUGETLB_MB 48

/* QEMU's environment: the daemon's, plus glibc.malloc.hugetlb in
 * GLIBC_TUNABLES unless that tunable is already set there. QEMU's start-up
 * spends ~40% of its time faulting in its heap and big buffers (the -kernel
 * image is read into one), 4 KiB at a time without huge pages.
 *  - 1: glibc asks for transparent huge pages on them (where THP is
 *    "madvise" or "always"): ~155 -> ~80 ms here, for ~2% more memory.
 *    But each is fresh memory, zeroed at first touch; where the host is
 *    itself a VM that returns freed memory to its hypervisor (virtio-balloon
 *    free page reporting), first touches are slow and a QEMU started a few
 *    seconds after the last one ended takes ~145 ms.
 *  - 2, with qemu_heap_hugetlb = "auto" when the host's hugetlb pool has
 *    room: glibc maps them from that pool, whose pages stay with the host's
 *    kernel once freed: ~75 ms either way, and on the critical path of a
 *    migration the target's QEMU also loads the last pass sooner. */
static char **qemu_environ(void)
{
	const char *malloc_hugetlb = daemon_state.conf.qemu_heap_hugetlb &&
				     host_hugetlb_free_mb() >= QEMU_HEAP_HUGETLB_MB
				     ? MALLOC_HUGETLB "=2" : MALLOC_HUGETLB "=1";
	size_t n = 0, o = 0;
	char **env;
	bool seen = false;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(char *));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *v = environ[i];

		if (startswith(v, "GLIBC_TUNABLES=")) {
			seen = true;
			env[o] = strstr(v, MALLOC_HUGETLB "=") ? strdup(v)
				 : strprintf("%s%s%s", v, v[strlen("GLIBC_TUNABLES=")] ? ":" : "",
					     malloc_hugetlb);
		} else {
			env[o] = strdup(v);
		}
		if (!env[o++]) {
			strv_free(env);
			return NULL;
		}
	}
	if (!seen && !(env[o] = strprintf("GLIBC_TUNABLES=%s", malloc_hugetlb))) {
		strv_free(env);
		return NULL;
	}
	return env;
}

/* QEMU's own error text from qemu.log (last non-empty lines, joined). */
static char *qemu_error_text(const char *run_dir)
{
	_cleanup_free_ char *path = strprintf("%s/qemu.log", run_dir);
	_cleanup_free_ char *data = NULL;
	size_t len;

	if (!path || read_file(path, 1 << 20, &data, &len) < 0)
		return strdup("(no output)");
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' '))
		data[--len] = '\0';
	for (char *p = data; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return strdup(len > 600 ? data + len - 600 : data);
}

/* ---- supervision ---- */

static void queue_event(struct domain *d, const char *ev, const char *reason)
{
	pthread_mutex_lock(&d->lock);
	/* A pending "closed" is final; later events cannot matter. */
	if (!streq(d->pending_event, "closed")) {
		snprintf(d->pending_event, sizeof(d->pending_event), "%s", ev);
		snprintf(d->pending_reason, sizeof(d->pending_reason), "%s", reason ? reason : "");
	}
	pthread_cond_signal(&d->event_cond);
	pthread_mutex_unlock(&d->lock);
}

static void on_qmp_event(void *opaque, const char *event, json_t *data)
{
	struct domain *d = opaque;

	if (streq(event, "SHUTDOWN")) {
		queue_event(d, "shutdown", json_string_value(json_object_get(data, "reason")));
	} else if (streq(event, "GUEST_PANICKED")) {
		queue_event(d, "panic", NULL);
	} else if (streq(event, "MIGRATION")) {
		pthread_mutex_lock(&d->lock);
		snprintf(d->migration_status, sizeof(d->migration_status), "%s",
			 json_string_value(json_object_get(data, "status")) ?: "");
		pthread_cond_broadcast(&d->migration_cond);
		pthread_mutex_unlock(&d->lock);
	} else if (streq(event, "STOP") || streq(event, "RESUME")) {
		pthread_mutex_lock(&d->lock);
		if (d->state == DOM_RUNNING || d->state == DOM_PAUSED)
			d->state = streq(event, "STOP") ? DOM_PAUSED : DOM_RUNNING;
		if (streq(event, "RESUME"))
			d->resumed_at_ms = now_ms();
		pthread_mutex_unlock(&d->lock);
		pthread_mutex_lock(&daemon_state.lock);
		pthread_cond_broadcast(&daemon_state.changed);
		pthread_mutex_unlock(&daemon_state.lock);
	}
}

static void on_qmp_close(void *opaque)
{
	struct domain *d = opaque;

	queue_event(d, "closed", NULL);
	pthread_mutex_lock(&d->lock);
	pthread_cond_broadcast(&d->migration_cond);  /* a waiter looks again */
	pthread_mutex_unlock(&d->lock);
}

static void bump_generation(struct domain *d)
{
	pthread_mutex_lock(&daemon_state.lock);
	d->generation++;
	pthread_cond_broadcast(&daemon_state.changed);
	pthread_mutex_unlock(&daemon_state.lock);
}

static int qmp_simple(struct domain *d, const char *cmd, json_t *args)
{
	_cleanup_free_ char *err = NULL;
	int r = qmp_command(d->qmp, cmd, args, NULL, &err, QMP_TIMEOUT_MS);
	if (r < 0)
		log_err("domain %s (%d): QMP %s failed: %s", d->name, d->domid, cmd,
			err ? err : strerror(-r));
	return r;
}

static void kill_qemu(struct domain *d)
{
	if (d->pid > 0 && proc_start_time(d->pid) == d->pid_start) {
		kill(d->pid, SIGKILL);
		for (int i = 0; i < 500 && proc_start_time(d->pid); i++)
			usleep(2000);
	}
}

static void do_coredump(struct domain *d)
{
	_cleanup_free_ char *dir = strprintf("%s/dump", daemon_state.paths.lib_dir);
	_cleanup_free_ char *proto = NULL;

	if (!dir || mkdir_p(dir, 0700) < 0)
		return;
	proto = strprintf("file:%s/%s-%d-%ld.core", dir, d->name, d->domid, (long)time(NULL));
	if (proto && qmp_simple(d, "dump-guest-memory",
				json_pack("{s:b,s:s}", "paging", 0, "protocol", proto)) == 0)
		log_info("domain %s (%d): core dumped to %s", d->name, d->domid, proto + 5);
}

/* system_reset only requests a reset; cont is refused until QEMU's main
 * loop has done it, so retry for a short while. */
static int cont_after_reset(struct domain *d)
{
	for (int i = 0; i < 200; i++) {
		_cleanup_free_ char *err = NULL;
		int r = qmp_command(d->qmp, "cont", NULL, NULL, &err, QMP_TIMEOUT_MS);
		if (r != -EIO || !err || !strstr(err, "Resetting"))
			return r;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/* QEMU runs with reboot=shutdown so that guest reboots reach us; a reset we
 * ask for must be a real one, so switch the action around it. */
static void restart_in_place(struct domain *d)
{
	int r = qmp_simple(d, "set-action", json_pack("{s:s}", "reboot", "reset"));

	if (r == 0)
		r = qmp_simple(d, "system_reset", NULL);
	if (r == 0)
		r = cont_after_reset(d);
	if (r == 0)
		r = qmp_simple(d, "set-action", json_pack("{s:s}", "reboot", "shutdown"));
	if (r < 0) {
		log_err("domain %s (%d): restart failed; destroying it", d->name, d->domid);
		qmp_simple(d, "quit", NULL);
		return;
	}
	pthread_mutex_lock(&d->lock);
	d->state = DOM_RUNNING;
	d->start_time = wall_time();
	d->restarted_ms = now_ms();
	pthread_mutex_unlock(&d->lock);
	state_save(d);
}

/* Apply the VM's action for what the guest did. */
static void apply_action(struct domain *d, enum dom_action action, enum dom_run_state stopped,
			 const char *what)
{
	pthread_mutex_lock(&d->lock);
	if (d->state == DOM_DYING) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	d->state = stopped;
	pthread_mutex_unlock(&d->lock);
	log_info("domain %s (%d): %s; action %s", d->name, d->domid, what, dom_action_name(action));
	switch (action) {
	case DOM_ACTION_COREDUMP_DESTROY:
		do_coredump(d);
		/* fall through */
	case DOM_ACTION_DESTROY:
		pthread_mutex_lock(&d->lock);
		d->state = DOM_DYING;
		pthread_mutex_unlock(&d->lock);
		/* Waiters wake when the domain is gone, not before. */
		if (qmp_simple(d, "quit", NULL) < 0)
			kill_qemu(d);
		return;
	case DOM_ACTION_COREDUMP_RESTART:
		do_coredump(d);
		/* fall through */
	case DOM_ACTION_RESTART:
	case DOM_ACTION_RENAME_RESTART:
	case DOM_ACTION_SOFT_RESET:
		restart_in_place(d);
		break;
	case DOM_ACTION_PRESERVE:
		break;
	}
	bump_generation(d);
}

/* Take away the ports, flows and rules of D's vifs. */
static void release_ports(struct domain *d)
{
	char owner[9];

	net_owner(owner);
	net_port_release(owner, d->domid, -1);
}

static void finalize(struct domain *d)
{
	int status, pidfd;
	bool expected, ports_done;

	pthread_mutex_lock(&d->lock);
	expected = d->state == DOM_DYING;
	pthread_mutex_unlock(&d->lock);
	if (expected) {
		log_info("domain %s (%d): device model exited", d->name, d->domid);
	} else {
		_cleanup_free_ char *msg = qemu_error_text(d->run_dir);
		log_err("domain %s (%d): device model exited unexpectedly: %s", d->name, d->domid,
			msg ? msg : "");
	}
	/* The daemon is a child subreaper: QEMUs it started are its children and
	 * must be reaped (a QEMU from an earlier daemon is not: ECHILD). QEMU
	 * closes QMP a little before it exits: wait for its end (5 s at most). */
	pidfd = proc_start_time(d->pid) == d->pid_start ? pidfd_open(d->pid, 0) : -1;
	if (pidfd >= 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		while (poll(&p, 1, 5000) < 0 && errno == EINTR)
			;
		close(pidfd);
	}
	for (int i = 0; i < 500; i++) {
		pid_t w = waitpid(d->pid, &status, WNOHANG);
		if (w == d->pid || (w < 0 && errno != EINTR))
			break;
		usleep(10000);
	}
	console_mux_free(TAKE_PTR(d->serial));
	console_mux_free(TAKE_PTR(d->pvcon));
	lvdisk_stop(d);
	domain_wait_vifs(d, NULL, 0);
	pthread_mutex_lock(&d->lock);
	ports_done = d->ports_released;
	pthread_mutex_unlock(&d->lock);
	if (!ports_done)
		release_ports(d);
	rm_rf(d->run_dir);
	list_remove(d);
}

static void *supervisor_main(void *arg)
{
	struct domain *d = arg;

	for (;;) {
		char ev[32], reason[32];
		enum dom_action action;

		pthread_mutex_lock(&d->lock);
		while (!d->pending_event[0])
			pthread_cond_wait(&d->event_cond, &d->lock);
		memcpy(ev, d->pending_event, sizeof(ev));
		memcpy(reason, d->pending_reason, sizeof(reason));
		if (!streq(ev, "closed"))
			d->pending_event[0] = '\0';
		pthread_mutex_unlock(&d->lock);

		if (streq(ev, "closed")) {
			finalize(d);
			break;
		}
		if (streq(ev, "panic")) {
			apply_action(d, d->cfg->on_crash, DOM_CRASHED, "guest crashed");
		} else if (streq(reason, "guest-reset") && now_ms() - d->restarted_ms < 2000) {
			/* The firmware resets once more early in a restart after a
			 * poweroff: part of our restart, not a guest reboot. */
			restart_in_place(d);
		} else if (streq(reason, "guest-reset") || streq(reason, "host-qmp-system-reset")) {
			apply_action(d, d->cfg->on_reboot, DOM_SHUTDOWN, "guest rebooted");
		} else if (streq(reason, "guest-shutdown") || streq(reason, "guest-panic") ||
			   streq(reason, "unknown")) {
			action = streq(reason, "guest-panic") ? d->cfg->on_crash : d->cfg->on_poweroff;
			apply_action(d, action, DOM_SHUTDOWN, "guest powered off");
		}
		/* host-qmp-quit, host-signal...: the "closed" event follows. */
	}
	domain_unref(d);
	return NULL;
}

static int start_supervisor(struct domain *d)
{
	pthread_attr_t attr;
	int r;

	pthread_mutex_lock(&daemon_state.lock);
	domain_ref_locked(d); /* the supervisor's reference */
	pthread_mutex_unlock(&daemon_state.lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&d->supervisor, &attr, supervisor_main, d);
	pthread_attr_destroy(&attr);
	if (r < 0)
		domain_unref(d);
	return r;
}

static struct domain *domain_alloc(void)
{
	struct domain *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->refs = 1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->event_cond, NULL);
	pthread_cond_init(&d->migration_cond, NULL);
	return d;
}

static int open_consoles(struct domain *d)
{
	_cleanup_free_ char *ser = strprintf("%s/" QEMU_SERIAL_SOCK, d->run_dir);
	_cleanup_free_ char *pv = strprintf("%s/" QEMU_PVCON_SOCK, d->run_dir);

	if (!ser || !pv)
		return -ENOMEM;
	d->serial = console_mux_new(ser);
	if (d->cfg->type != DOM_TYPE_HVM)
		d->pvcon = console_mux_new(pv);
	return d->serial && (d->pvcon || d->cfg->type == DOM_TYPE_HVM) ? 0 : -ENOMEM;
}

/* 0 while D's just-started QEMU lives and DEADLINE (for it to do WHAT)
 * is not past; else says why not. */
static int new_qemu_check(struct domain *d, uint64_t deadline, const char *what, char *errbuf,
			  size_t errsize)
{
	if (!proc_start_time(d->pid)) {
		_cleanup_free_ char *qerr = qemu_error_text(d->run_dir);
		snprintf(errbuf, errsize, "device model failed to start: %s", qerr ? qerr : "");
		return -ECHILD;
	}
	if (now_ms() > deadline) {
		snprintf(errbuf, errsize, "device model did not %s within %d s", what,
			 QEMU_START_TIMEOUT_MS / 1000);
		return -ETIMEDOUT;
	}
	return 0;
}

/* Connect to a just-started QEMU's QMP socket, waiting while QEMU sets up. */
static int connect_new_qemu(struct domain *d, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *sock = strprintf("%s/" QEMU_QMP_SOCK, d->run_dir);
	_cleanup_free_ char *trace = strprintf("%s/qmp.log", d->run_dir);
	uint64_t deadline = now_ms() + QEMU_START_TIMEOUT_MS;
	int r;

	if (!sock || !trace)
		return -ENOMEM;
	for (;;) {
		r = qmp_connect(sock, trace, on_qmp_event, on_qmp_close, d, &d->qmp);
		if (r == 0)
			return 0;
		r = new_qemu_check(d, deadline, "answer on QMP", errbuf, errsize);
		if (r < 0)
			return r;
		usleep(5000);
	}
}

/* Wait until D's just-started QEMU has created its tap IFNAME: early in
 * its start-up, well before it answers on QMP. */
static int wait_new_tap(struct domain *d, const char *ifname, char *errbuf, size_t errsize)
{
	uint64_t deadline = now_ms() + QEMU_START_TIMEOUT_MS;

	while (if_nametoindex(ifname) == 0) {
		int r = new_qemu_check(d, deadline, "create its tap", errbuf, errsize);
		if (r < 0)
			return r;
		usleep(2000);
	}
	return 0;
}

static int attach_port(struct domain *d, const struct launch_plan *plan, size_t i, char *errbuf,
		       size_t errsize)
{
	const struct vif_spec *v = &d->cfg->vifs[i];
	char owner[9], nerr[300];
	struct net_port port = { .owner = owner, .domid = d->domid,
				 .devid = v->port ? v->devid : (unsigned)i,
				 .ifname = plan->ifnames[i], .mac = plan->macs[i], .ip = v->ip };
	int r;

	net_owner(owner);
	if (v->rate)  /* checked by the config parser; unlimited if not */
		vif_rate_parse(v->rate, &port.rate, &port.rate_interval_us);
	r = net_port_attach(&port, &plan->bridge_specs[i], plan->bridge_kinds[i], nerr, sizeof(nerr));
	if (r < 0)
		snprintf(errbuf, errsize, "vif %zu: %s", i, nerr);
	return r;
}

/* D's vifs going on their bridges in a thread of their own. */
struct vif_attach {
	struct domain *d;
	struct launch_plan plan;  /* its NICs only, moved from launch()'s */
	pthread_t thread;
	int result;
	char err[512];
};

static int attach_vifs(struct domain *d, const struct launch_plan *plan, char *errbuf,
		       size_t errsize)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < plan->n_nics; i++) {
		if (!plan->bridges[i])
			continue;
		r = wait_new_tap(d, plan->ifnames[i], errbuf, errsize);
		if (r == 0)
			r = attach_port(d, plan, i, errbuf, errsize);
	}
	return r;
}

static void *vif_attach_main(void *arg)
{
	struct vif_attach *va = arg;

	va->result = attach_vifs(va->d, &va->plan, va->err, sizeof(va->err));
	return NULL;
}

/* Start attaching PLAN's NICs in the background (they move out of PLAN). */
static int vif_attach_start(struct domain *d, struct launch_plan *plan)
{
	struct vif_attach *va = calloc(1, sizeof(*va));
	int r;

	if (!va)
		return -ENOMEM;
	va->d = d;
	memcpy(va->plan.nics, plan->nics, sizeof(plan->nics));
	memcpy(va->plan.ifnames, plan->ifnames, sizeof(plan->ifnames));
	memcpy(va->plan.macs, plan->macs, sizeof(plan->macs));
	memcpy(va->plan.bridges, plan->bridges, sizeof(plan->bridges));
	memcpy(va->plan.bridge_specs, plan->bridge_specs, sizeof(plan->bridge_specs));
	memcpy(va->plan.bridge_kinds, plan->bridge_kinds, sizeof(plan->bridge_kinds));
	va->plan.n_nics = plan->n_nics;
	r = -pthread_create(&va->thread, NULL, vif_attach_main, va);
	if (r < 0) {
		free(va);
		return r;
	}
	for (size_t i = 0; i < plan->n_nics; i++)
		plan->ifnames[i] = plan->macs[i] = NULL;
	pthread_mutex_lock(&d->lock);
	d->vif_attach = va;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* 0 as well when no attach is under way, or another thread joins it;
 * finalize() and a failed create call it too, to reap the thread. */
int domain_wait_vifs(struct domain *d, char *errbuf, size_t errsize)
{
	struct vif_attach *va;
	int r;

	pthread_mutex_lock(&d->lock);
	va = TAKE_PTR(d->vif_attach);
	pthread_mutex_unlock(&d->lock);
	if (!va)
		return 0;
	pthread_join(va->thread, NULL);
	r = va->result;
	if (r < 0)
		snprintf(errbuf, errsize, "%s", va->err);
	launch_plan_release(&va->plan);
	free(va);
	return r;
}

static void set_nice(struct domain *d, int nice)
{
	int r = process_set_nice(d->pid, nice);

	if (r < 0 && r != -ESRCH)
		log_warn("%s: cannot set its device model's priority: %s", d->name, strerror(-r));
}

static int launch(struct domain *d, const struct domain_create_args *a, char *errbuf,
		  size_t errsize)
{
	struct launch_plan plan = { 0 };
	struct boot_entry boot = { 0 };
	_cleanup_strv_free_ char **argv = NULL, **env = NULL;
	_cleanup_free_ char *console_log = strprintf("%s/guest-%s.log",
						     daemon_state.paths.console_dir, d->name);
	pid_t pid;
	int r;

	if (!console_log)
		return -ENOMEM;
	r = plan_check(d->cfg, errbuf, errsize);
	if (r == 0)
		r = plan_disks(d->cfg, &plan, errbuf, errsize);
	if (r == 0)
		r = plan_nics(d->cfg, d->domid, &plan, errbuf, errsize);
	if (r == 0) {
		r = mkdir_p(d->run_dir, 0750);
		if (r < 0)
			snprintf(errbuf, errsize, "cannot create '%s': %s", d->run_dir, strerror(-r));
	}
	if (r == 0)
		r = lvdisk_start(d, plan.lvs, plan.disks, plan.n_disks, errbuf, errsize);
	if (r == 0 && d->cfg->bootloader && d->cfg->type != DOM_TYPE_HVM)
		r = run_bootloader(d, &plan, &boot, errbuf, errsize);
	if (r == 0) {
		struct qemu_launch l = {
			.binary = daemon_state.conf.qemu_binary,
			.accel = daemon_state.conf.accel,
			.cfg = d->cfg,
			.uuid = d->uuid,
			.console_log = console_log,
			.disks = plan.disks,
			.n_disks = plan.n_disks,
			.nics = plan.nics,
			.n_nics = plan.n_nics,
			.n_nic_ports = d->cfg->nic_ports ? d->cfg->nic_ports : d->cfg->n_vifs,
			.incoming = a->incoming_fd >= 0 || a->incoming_later,
			.incoming_tls_dir = a->incoming_later ? a->incoming_tls_dir : NULL,
			.tls_id = a->incoming_tls_id,
			.boot_kernel = boot.kernel,
			.boot_ramdisk = boot.initrd,
			.boot_cmdline = boot.args,
		};
		r = qemu_build_argv(&l, &argv, errbuf, errsize);
	}
	if (r < 0)
		goto out;
	env = qemu_environ();
	pid = env ? spawn_detached(argv, env, d->run_dir, "qemu.log") : -ENOMEM;
	if (pid < 0) {
		r = pid;
		snprintf(errbuf, errsize, "cannot start the device model: %s", strerror(-r));
		goto out;
	}
	d->pid = pid;
	d->pid_start = proc_start_time(pid);
	if (a->nice)
		set_nice(d, a->nice);
	/* The taps go on their bridges (antispoofing rules: an nft run each)
	 * while QEMU still builds the machine: it creates them first. A
	 * migration's target does it in the background once its QEMU is up,
	 * while it loads the stream (domain_wait_vifs()): a paused guest
	 * sends nothing, and the nft runs neither hold up the source nor take
	 * CPU from QEMU's start-up. */
	if (!a->incoming_later)
		r = attach_vifs(d, &plan, errbuf, errsize);
	if (r == 0)
		r = connect_new_qemu(d, errbuf, errsize);
	if (a->nice)
		set_nice(d, 0);
	if (r == 0 && a->incoming_later) {
		r = vif_attach_start(d, &plan);
		if (r < 0)
			snprintf(errbuf, errsize, "cannot attach the vifs: %s", strerror(-r));
	}
	/* Loading a migration takes long: a daemon killed meanwhile must find
	 * the half-made domain (and its disk servers) to clean up. */
	if (r == 0 && (a->incoming_fd >= 0 || a->incoming_later))
		r = state_save(d);
	if (r == 0 && a->incoming_fd >= 0)
		r = save_receive(d, a->incoming_fd, errbuf, errsize);
	else if (r == 0 && !a->incoming_later && d->cfg->maxmem_mb > d->cfg->memory_mb)
		qmp_simple(d, "balloon", json_pack("{s:I}", "value",
						  (json_int_t)(d->cfg->memory_mb << 20)));
	if (r == 0 && !a->paused) {
		_cleanup_free_ char *qerr = NULL;
		r = qmp_command(d->qmp, "cont", NULL, NULL, &qerr, QMP_TIMEOUT_MS);
		if (r < 0)
			snprintf(errbuf, errsize, "cannot start the domain: %s", qerr ? qerr : strerror(-r));
	}
	if (r == 0)
		r = open_consoles(d);
out:
	boot_entry_release(&boot);
	launch_plan_release(&plan);
	return r;
}

int domain_config_parse(const char *text, size_t len, const char *path,
			const char *const *overrides, struct domcfg **ret, char *errbuf, size_t errsize)
{
	struct xlcfg *xl = NULL;
	struct xlcfg_error xerr = { 0 };
	int r = xlcfg_parse(text, len, path, &xl, &xerr);

	for (size_t i = 0; r == 0 && overrides && overrides[i]; i++)
		r = xlcfg_apply_override(xl, overrides[i], &xerr);
	if (r == 0)
		r = domcfg_from_xlcfg(xl, ret, &xerr);
	if (r == -ENOMEM)
		snprintf(errbuf, errsize, "out of memory");
	else if (r < 0)
		xlcfg_error_format(xl, path, &xerr, errbuf, errsize);
	xlcfg_free(xl);
	return r;
}

int domain_create(const struct domain_create_args *a, struct domain **ret_dom,
		  json_t **ret_warnings, char *errbuf, size_t errsize)
{
	struct domain *d = domain_alloc();
	bool listed = false;
	int r;

	if (!d) {
		domcfg_free(a->cfg);
		return -ENOMEM;
	}
	if (a->cfg) {
		d->cfg = a->cfg;
		r = 0;
	} else {
		r = domain_config_parse(a->config_text, a->config_len, a->config_path, a->overrides,
					&d->cfg, errbuf, errsize);
	}
	if (r < 0)
		goto fail;
	if (streq(d->cfg->name, "Domain-0")) {
		snprintf(errbuf, errsize, "the name 'Domain-0' is reserved for the host");
		r = -EINVAL;
		goto fail;
	}
	d->name = strdup(d->cfg->name);
	d->uuid = d->cfg->uuid ? strdup(d->cfg->uuid) : uuid_generate();
	d->cfg_json = domcfg_to_json(d->cfg);
	d->state = DOM_PAUSED;
	d->user_paused = a->paused;
	if (!d->name || !d->uuid || !d->cfg_json) {
		r = -ENOMEM;
		snprintf(errbuf, errsize, "out of memory");
		goto fail;
	}
	pthread_mutex_lock(&daemon_state.lock);
	d->domid = next_domid();
	pthread_mutex_unlock(&daemon_state.lock);
	d->run_dir = strprintf("%s/%d", daemon_state.dom_run_dir, d->domid);
	if (!d->run_dir || d->domid < 0) {
		r = -ENOMEM;
		goto fail;
	}
	/* Listing the domain reserves its name while QEMU starts. */
	r = list_insert(d);
	if (r == -EEXIST) {
		snprintf(errbuf, errsize, "a domain called '%s' already exists", d->name);
		goto fail;
	}
	if (r < 0)
		goto fail;
	listed = true;
	r = launch(d, a, errbuf, errsize);
	if (r < 0)
		goto fail;
	d->start_time = wall_time();
	d->state = a->paused ? DOM_PAUSED : DOM_RUNNING;
	r = state_save(d);
	if (r == 0)
		r = start_supervisor(d);
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot record the domain's state: %s", strerror(-r));
		goto fail;
	}
	log_info("domain %s (%d) created from '%s' (pid %d)", d->name, d->domid, a->config_path,
		 (int)d->pid);
	*ret_warnings = json_array();
	for (char **w = d->cfg->warnings; w && *w; w++)
		json_array_append_new(*ret_warnings, json_string(*w));
	*ret_dom = d;
	return 0;
fail:
	if (d->qmp) {
		qmp_free(TAKE_PTR(d->qmp));
	}
	kill_qemu(d);
	domain_wait_vifs(d, NULL, 0);
	lvdisk_stop(d);
	if (d->run_dir && d->domid > 0) {
		release_ports(d);
		rm_rf(d->run_dir);
	}
	if (listed)
		list_remove(d);
	domain_unref(d);
	return r < 0 ? r : -EIO;
}

/* ---- operations ---- */

int domain_wait_change(struct domain *d, unsigned gen, int timeout_ms)
{
	struct timespec deadline;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	if (timeout_ms >= 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&daemon_state.lock);
	while (!d->gone && d->generation == gen && r == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&daemon_state.changed, &daemon_state.lock);
		else if (pthread_cond_timedwait(&daemon_state.changed, &daemon_state.lock,
						&deadline) == ETIMEDOUT)
			r = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&daemon_state.lock);
	return r;
}

static bool domain_gone(struct domain *d)
{
	bool g;
	pthread_mutex_lock(&daemon_state.lock);
	g = d->gone;
	pthread_mutex_unlock(&daemon_state.lock);
	return g;
}

static int destroy(struct domain *d, bool stopped, char *errbuf, size_t errsize)
{
	unsigned gen;

	pthread_mutex_lock(&d->lock);
	d->state = DOM_DYING;
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_lock(&daemon_state.lock);
	gen = d->generation;
	pthread_mutex_unlock(&daemon_state.lock);
	if (stopped && !qmp_closed(d->qmp) && proc_start_time(d->pid) == d->pid_start) {
		/* finalize() leaves the ports to us (set before QEMU can exit);
		 * they go while the kernel tears QEMU down. */
		pthread_mutex_lock(&d->lock);
		d->ports_released = true;
		pthread_mutex_unlock(&d->lock);
		kill(d->pid, SIGKILL);
		release_ports(d);
	} else if (!qmp_closed(d->qmp)) {
		qmp_command(d->qmp, "quit", NULL, NULL, NULL, 3000);
	}
	/* QEMU closes QMP as it exits; the supervisor then cleans up. */
	for (int i = 0; i < 50 && !domain_gone(d); i++)
		domain_wait_change(d, gen, 100);
	if (!domain_gone(d)) {
		log_warn("domain %s (%d): device model ignored quit; killing pid %d", d->name,
			 d->domid, (int)d->pid);
		kill_qemu(d);
		for (int i = 0; i < 100 && !domain_gone(d); i++)
			domain_wait_change(d, gen, 100);
	}
	if (!domain_gone(d)) {
		snprintf(errbuf, errsize, "domain %s did not go away", d->name);
		return -ETIMEDOUT;
	}
	log_info("domain %s (%d) destroyed", d->name, d->domid);
	return 0;
}

int domain_destroy(struct domain *d, char *errbuf, size_t errsize)
{
	return destroy(d, false, errbuf, errsize);
}

int domain_destroy_stopped(struct domain *d, char *errbuf, size_t errsize)
{
	return destroy(d, true, errbuf, errsize);
}

int domain_shutdown(struct domain *d, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *err = NULL;
	int r;

	r = qmp_command(d->qmp, "system_powerdown", NULL, NULL, &err, QMP_TIMEOUT_MS);
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot shut down %s: %s", d->name, err ? err : strerror(-r));
		return r;
	}
	log_info("domain %s (%d): shutdown requested (ACPI power button)", d->name, d->domid);
	return 0;
}

/* Ask the guest agent to reboot: guest-sync-delimited first so a stale
 * partial message cannot swallow the command. */
static int agent_reboot(struct domain *d)
{
	_cleanup_free_ char *sock = strprintf("%s/" QEMU_QGA_SOCK, d->run_dir);
	_cleanup_close_ int fd = -1;
	struct line_reader lr;
	json_t *msg;
	uint32_t id;
	int r;

	if (!sock)
		return -ENOMEM;
	fd = unix_connect(sock);
	if (fd < 0)
		return fd;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint32_t)now_us();
	id &= 0x7fffffff;
	msg = json_pack("{s:s,s:{s:I}}", "execute", "guest-sync-delimited", "arguments", "id",
			(json_int_t)id);
	r = write_all(fd, "\xff", 1);
	if (r == 0)
		r = json_send(fd, msg);
	json_decref(msg);
	if (r < 0)
		return r;
	line_reader_init(&lr, fd);
	for (;;) {
		char *line;
		json_t *reply;
		json_error_t jerr;
		r = line_reader_next(&lr, &line, 10000);
		if (r < 0)
			break;
		while (*line == '\xff')
			line++;
		reply = json_loads(line, 0, &jerr);
		if (reply && json_integer_value(json_object_get(reply, "return")) == id) {
			json_decref(reply);
			break;
		}
		json_decref(reply);
	}
	line_reader_release(&lr);
	if (r < 0)
		return r;
	msg = json_pack("{s:s,s:{s:s}}", "execute", "guest-shutdown", "arguments", "mode", "reboot");
	r = json_send(fd, msg);
	json_decref(msg);
	return r;
}

int domain_reboot(struct domain *d, bool force, char *errbuf, size_t errsize)
{
	int r;

	if (force) {
		r = qmp_simple(d, "system_reset", NULL);
		if (r < 0)
			snprintf(errbuf, errsize, "cannot reset %s: %s", d->name, strerror(-r));
		return r;
	}
	r = agent_reboot(d);
	if (r < 0) {
		snprintf(errbuf, errsize,
			 "domain %s has no guest agent answering (%s); 'domus reboot -F %s' resets it",
			 d->name, strerror(-r), d->name);
		return r;
	}
	log_info("domain %s (%d): reboot requested (guest agent)", d->name, d->domid);
	return 0;
}

int domain_pause(struct domain *d, bool pause, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *err = NULL;
	int r = qmp_command(d->qmp, pause ? "stop" : "cont", NULL, NULL, &err, QMP_TIMEOUT_MS);

	if (r < 0) {
		snprintf(errbuf, errsize, "cannot %s %s: %s", pause ? "pause" : "unpause", d->name,
			 err ? err : strerror(-r));
		return r;
	}
	pthread_mutex_lock(&d->lock);
	d->user_paused = pause;
	if (d->state == DOM_RUNNING || d->state == DOM_PAUSED)
		d->state = pause ? DOM_PAUSED : DOM_RUNNING;
	pthread_mutex_unlock(&d->lock);
	state_save(d);
	return 0;
}

int domain_rename(struct domain *d, const char *new_name, char *errbuf, size_t errsize)
{
	char *copy;
	int r = 0;

	if (!domcfg_name_valid(new_name)) {
		snprintf(errbuf, errsize, "invalid domain name '%s'", new_name);
		return -EINVAL;
	}
	copy = strdup(new_name);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&daemon_state.lock);
	for (size_t i = 0; i < daemon_state.n_domains; i++)
		if (streq(daemon_state.domains[i]->name, new_name) || streq(new_name, "Domain-0"))
			r = -EEXIST;
	if (r == 0) {
		char **old = realloc(d->old_names, (d->n_old_names + 1) * sizeof(char *));
		pthread_mutex_lock(&d->lock);
		/* Other threads may be logging the old name: keep it until the end. */
		if (old) {
			d->old_names = old;
			d->old_names[d->n_old_names++] = d->name;
		} else {
			free(d->name);
		}
		d->name = copy;
		json_object_set_new(d->cfg_json, "name", json_string(new_name));
		pthread_mutex_unlock(&d->lock);
	}
	pthread_mutex_unlock(&daemon_state.lock);
	if (r < 0) {
		free(copy);
		snprintf(errbuf, errsize, "a domain called '%s' already exists", new_name);
		return r;
	}
	lvdisk_retitle(d);
	return state_save(d);
}

/* ---- re-attach after a daemon restart ---- */

static int reattach_one(const char *dir_name)
{
	_cleanup_free_ char *run_dir = strprintf("%s/%s", daemon_state.dom_run_dir, dir_name);
	_cleanup_free_ char *path = run_dir ? strprintf("%s/state.json", run_dir) : NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_t *j = NULL, *status = NULL;
	struct domain *d = NULL;
	char errbuf[256];
	const char *st;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_file(path, 1 << 20, &text, NULL);
	if (r == 0)
		j = json_loads(text, 0, NULL);
	d = domain_alloc();
	if (!j || !d) {
		domain_unref(d);
		rm_rf(run_dir);
		return -EINVAL;
	}
	d->domid = (int)json_integer_value(json_object_get(j, "domid"));
	d->name = strdup(json_string_value(json_object_get(j, "name")) ?: "");
	d->uuid = strdup(json_string_value(json_object_get(j, "uuid")) ?: "");
	d->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	d->pid_start = (unsigned long long)json_integer_value(json_object_get(j, "pid_start"));
	d->start_time = json_real_value(json_object_get(j, "start_time"));
	d->user_paused = json_is_true(json_object_get(j, "user_paused"));
	d->run_dir = TAKE_PTR(run_dir);
	d->cfg_json = json_incref(json_object_get(j, "config"));
	r = domcfg_from_json(d->cfg_json, &d->cfg);
	if (r == 0)
		r = lvdisk_from_json(d, json_object_get(j, "disk_servers"));
	if (r < 0 || d->pid <= 0 || proc_start_time(d->pid) != d->pid_start || d->pid_start == 0) {
		log_info("domain %s (%s) is gone; cleaning up", d->name ? d->name : "?", dir_name);
		lvdisk_stop(d);
		rm_rf(d->run_dir);
		domain_unref(d);
		return 0;
	}
	if (lvdisk_revive(d) > 0)
		state_save(d);
	r = connect_new_qemu(d, errbuf, sizeof(errbuf));
	if (r == 0)
		r = qmp_command(d->qmp, "query-status", NULL, &status, NULL, QMP_TIMEOUT_MS);
	if (r == 0)
		r = open_consoles(d);
	if (r < 0) {
		log_err("domain %s (%d): cannot re-attach: %s", d->name, d->domid, strerror(-r));
		domain_unref(d);
		return r;
	}
	st = json_string_value(json_object_get(status, "status"));
	if (streq(st, "inmigrate")) {
		/* An incoming migration whose daemon died: the source still has
		 * the domain, so this half copy goes. */
		log_info("domain %s (%d): unfinished incoming migration; destroying it", d->name,
			 d->domid);
		qmp_free(TAKE_PTR(d->qmp));
		kill_qemu(d);
		lvdisk_stop(d);
		release_ports(d);
		rm_rf(d->run_dir);
		domain_unref(d);
		return 0;
	}
	d->state = streq(st, "running") ? DOM_RUNNING
		   : streq(st, "guest-panicked") ? DOM_CRASHED
		   : streq(st, "shutdown") ? DOM_SHUTDOWN : DOM_PAUSED;
	if (list_insert(d) < 0 || start_supervisor(d) < 0) {
		domain_unref(d);
		return -ENOMEM;
	}
	log_info("re-attached to domain %s (%d), pid %d, %s", d->name, d->domid, (int)d->pid, st);
	/* What happened while no daemon was watching. */
	if (d->state == DOM_CRASHED)
		queue_event(d, "panic", NULL);
	else if (d->state == DOM_SHUTDOWN)
		queue_event(d, "shutdown", "unknown");
	domain_unref(d);
	return 0;
}

/* Remove the ports, flows and rules of domains that no longer exist (the
 * daemon may have died before it could). */
static void reconcile_network(void)
{
	int alive[256];
	size_t n = 0;
	char owner[9];
	int r;

	pthread_mutex_lock(&daemon_state.lock);
	for (size_t i = 0; i < daemon_state.n_domains && n < ARRAY_SIZE(alive); i++)
		alive[n++] = daemon_state.domains[i]->domid;
	pthread_mutex_unlock(&daemon_state.lock);
	net_owner(owner);
	r = net_reconcile(owner, alive, n);
	if (r > 0)
		log_info("removed network objects left by %d ended domain(s)", r);
}

void domain_reattach_all(void)
{
	_cleanup_closedir_ DIR *dir = opendir(daemon_state.dom_run_dir);
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		uint64_t id;
		if (parse_u64(de->d_name, &id) == 0)
			reattach_one(de->d_name);
	}
	reconcile_network();
}
