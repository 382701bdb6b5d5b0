/* lvdisk.c - disk targets naming Domus LVs, and the disk servers that feed
 * them to QEMU over NBD (lvdisk.h). */
#include "daemon/lvdisk.h"
#include "daemon/daemon.h"
#include "daemon/domain.h"
#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/log.h"
#include "common/sock.h"
#include "common/util.h"
#include "storage/holder.h"
#include "storage/lv.h"
#include "storage/storage.h"
#include "storage/vg.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVER_START_TIMEOUT_MS 10000
#define SERVER_STOP_TIMEOUT_MS 5000
#define MONITOR_PERIOD_MS 500
#define RETRY_MAX_MS 60000

static struct storage storage;
static int storage_err;
static pthread_once_t storage_once = PTHREAD_ONCE_INIT;
/* Serialises starting and stopping servers, and guards every domain's
 * disk_servers array and count (read under the domain's lock too). */
static pthread_mutex_t servers_lock = PTHREAD_MUTEX_INITIALIZER;

static void storage_setup(void)
{
	storage_err = storage_init(&storage, daemon_state.paths.lib_dir, daemon_state.paths.run_dir);
}

/* "VG-LV" as /dev/mapper names it (a dash inside a name is doubled) into
 * "VG/LV"; NULL if it is not of that form. */
static char *unmangle(const char *p)
{
	char *out = malloc(strlen(p) + 1), *o = out;
	bool split = false;

	if (!out)
		return NULL;
	for (; *p; p++) {
		if (*p == '-' && p[1] == '-') {
			*o++ = *p++;
		} else if (*p == '-' && !split && o > out && p[1]) {
			*o++ = '/';
			split = true;
		} else if (*p == '/' || *p == '-') {
			break;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	if (!*p && split)
		return out;
	free(out);
	return NULL;
}

/* "/dev/VG/LV" or "/dev/mapper/VG-LV" into *RET "VG/LV": 1, or 0 if
 * TARGET has neither form, or -ENOMEM. */
static int lv_name_of(const char *target, char **ret)
{
	const char *p, *slash;

	if (startswith(target, "/dev/mapper/")) {
		errno = 0;
		*ret = unmangle(target + strlen("/dev/mapper/"));
		return *ret ? 1 : errno == ENOMEM ? -ENOMEM : 0;
	}
	if (!startswith(target, "/dev/"))
		return 0;
	p = target + strlen("/dev/");
	slash = strchr(p, '/');
	if (!slash || slash == p || !slash[1] || strchr(slash + 1, '/'))
		return 0;
	*ret = strdup(p);
	return *ret ? 1 : -ENOMEM;
}

/* 1 if VG/LV exists here, 0 if VG is not one of ours, -ENOENT if the VG is
 * ours but has no such LV. */
static int lv_exists(const char *name)
{
	_cleanup_free_ char *vg = strndup(name, strchr(name, '/') - name);
	struct vg_handle h;
	int r;

	pthread_once(&storage_once, storage_setup);
	if (storage_err < 0)
		return storage_err;
	if (!vg)
		return -ENOMEM;
	r = storage_vg_open(&storage, vg, false, &h);
	if (r == -ENOENT || r == -EINVAL)
		return 0;
	if (r < 0)
		return r;
	r = vg_find_lv(h.vg, strchr(name, '/') + 1) ? 1 : -ENOENT;
	storage_vg_close(&h);
	return r;
}

int lvdisk_plan(const struct disk_spec *s, char **ret_lv, struct qemu_disk *ret_disk,
		char *errbuf, size_t errsize)
{
	_cleanup_free_ char *lv = NULL;
	struct stat st;
	int r;

	if (!s->target || !*s->target || s->cdrom || stat(s->target, &st) == 0)
		return 0; /* a real file or device is used as it is */
	r = lv_name_of(s->target, &lv);
	if (r <= 0)
		return r;
	r = lv_exists(lv);
	if (r == -ENOENT)
		snprintf(errbuf, errsize, "disk '%s': '%s': logical volume %s not found", s->vdev,
			 s->target, lv);
	else if (r < 0)
		snprintf(errbuf, errsize, "disk '%s': '%s': cannot read volume group: %s", s->vdev,
			 s->target, strerror(-r));
	if (r <= 0)
		return r;
	if (s->format != DISK_FORMAT_RAW) {
		snprintf(errbuf, errsize, "disk '%s': logical volume %s holds a raw disk, not %s",
			 s->vdev, lv, disk_format_name(s->format));
		return -EINVAL;
	}
	*ret_disk = (struct qemu_disk){
		.format = "raw",
		.vdev = s->vdev,
		.readonly = s->readonly,
		.nbd = true,
	};
	*ret_lv = TAKE_PTR(lv);
	return 1;
}

/* True if LV is the exception store of a snapshot (its bytes are not the
 * snapshot's contents). */
static bool is_cow_store(const struct lvm_vg *vg, const struct lvm_lv *lv)
{
	for (unsigned i = 0; i < vg->nlv; i++)
		for (unsigned k = 0; k < vg->lvs[i]->nseg; k++)
			if (streq(vg->lvs[i]->segs[k].cow_store, lv->name))
				return true;
	return false;
}

int lvdisk_locate(const char *name, char **ret_path, uint64_t *ret_offset)
{
	_cleanup_free_ char *vgname = strndup(name, strcspn(name, "/"));
	const struct lvm_lv *lv;
	const struct lvm_seg *first;
	struct vg_handle h;
	int r;

	pthread_once(&storage_once, storage_setup);
	if (storage_err < 0)
		return storage_err;
	if (!vgname || !strchr(name, '/'))
		return vgname ? -EINVAL : -ENOMEM;
	r = storage_vg_open(&storage, vgname, false, &h);
	if (r < 0)
		return r;
	lv = vg_find_lv(h.vg, strchr(name, '/') + 1);
	r = !lv ? -ENOENT : lv->nseg == 0 || is_cow_store(h.vg, lv) ? -EMEDIUMTYPE : 0;
	first = r == 0 ? &lv->segs[0] : NULL;
	for (unsigned k = 0; r == 0 && k < lv->nseg; k++) {
		const struct lvm_seg *s = &lv->segs[k];
		if (!streq(s->type, "striped") || s->stripe_count != 1 ||
		    s->stripes[0].pv != first->stripes[0].pv ||
		    s->stripes[0].pe != first->stripes[0].pe + (s->start_extent - first->start_extent))
			r = -EMEDIUMTYPE;
	}
	if (r == 0) {
		const struct lvm_pv *pv = h.vg->pvs[first->stripes[0].pv];
		*ret_offset = (pv->pe_start + first->stripes[0].pe * h.vg->extent_size) * LVM_SECTOR;
		*ret_path = pv->path ? strdup(pv->path) : NULL;
		r = pv->path ? (*ret_path ? 0 : -ENOMEM) : -ENXIO;
	}
	storage_vg_close(&h);
	return r;
}

/* ---- disk servers ---- */


/* The last line the server logged, without the "domus: error: " prefix. */
static char *server_error(const char *run_dir, const char *vdev)
{
	_cleanup_free_ char *path = strprintf("%s/disk-%s.log", run_dir, vdev);
	_cleanup_free_ char *data = NULL;
	size_t len;
	char *line;

	if (!path || read_file(path, 1 << 20, &data, &len) < 0)
		return strdup("(no output)");
	while (len > 0 && data[len - 1] == '\n')
		data[--len] = '\0';
	line = strrchr(data, '\n');
	line = line ? line + 1 : data;
	if (startswith(line, "domus: error: "))
		line += strlen("domus: error: ");
	return strdup(line);
}

/* Wait until server DS listens on its socket; -ECHILD if it died. */
static int wait_listening(const struct domain *d, const struct disk_server *ds)
{
	_cleanup_free_ char *sock = strprintf("%s/" QEMU_DISK_SOCK_FMT, d->run_dir, ds->vdev);
	uint64_t deadline = now_ms() + SERVER_START_TIMEOUT_MS;

	if (!sock)
		return -ENOMEM;
	for (;;) {
		int fd = unix_connect(sock);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (proc_start_time(ds->pid) != ds->pid_start)
			return -ECHILD;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(5000);
	}
}

/* "domain NAME (id N)": who holds D's LVs, as refusals name it. */
static char *holder_of(struct domain *d)
{
	char *who;

	pthread_mutex_lock(&d->lock);
	who = strprintf("domain %s (id %d)", d->name, d->domid);
	pthread_mutex_unlock(&d->lock);
	return who;
}

/* Start (or restart) the server of DS for domain D (servers_lock held). */
static int spawn_server(struct domain *d, struct disk_server *ds, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *bin = sibling_program("domus", "bin");
	_cleanup_free_ char *sock = strprintf(QEMU_DISK_SOCK_FMT, ds->vdev);
	_cleanup_free_ char *log = strprintf("disk-%s.log", ds->vdev);
	_cleanup_free_ char *holder = holder_of(d);
	_cleanup_free_ char *abs_sock = strprintf("%s/%s", d->run_dir, sock ? sock : "");
	const char *root = daemon_state.paths.root[0] ? daemon_state.paths.root : "/";
	char *argv[12];
	size_t n = 0;
	pid_t pid;
	int r;

	if (!bin || !sock || !log || !holder || !abs_sock)
		return -ENOMEM;
	unlink(abs_sock);
	argv[n++] = bin;
	argv[n++] = (char *)"--root";
	argv[n++] = (char *)root;
	argv[n++] = (char *)"nbd-serve";
	argv[n++] = ds->lv;
	argv[n++] = (char *)"--unix";
	argv[n++] = sock;
	argv[n++] = (char *)"--holder";
	argv[n++] = holder;
	if (ds->readonly)
		argv[n++] = (char *)"--readonly";
	argv[n] = NULL;
	pid = spawn_detached(argv, NULL, d->run_dir, log);
	if (pid < 0) {
		snprintf(errbuf, errsize, "disk '%s': cannot start its server: %s", ds->vdev,
			 strerror(-pid));
		return pid;
	}
	pthread_mutex_lock(&d->lock);
	ds->pid = pid;
	ds->pid_start = proc_start_time(pid);
	pthread_mutex_unlock(&d->lock);
	r = wait_listening(d, ds);
	if (r < 0) {
		_cleanup_free_ char *msg = server_error(d->run_dir, ds->vdev);
		snprintf(errbuf, errsize, "disk '%s': %s", ds->vdev,
			 r == -ECHILD && msg ? msg : strerror(-r));
	}
	return r;
}

/* Stop one server: SIGTERM, then SIGKILL; reap it if it is our child. */
static void stop_server(const struct disk_server *ds)
{
	uint64_t deadline = now_ms() + SERVER_STOP_TIMEOUT_MS;
	int sig = SIGTERM;

	if (ds->pid <= 0 || proc_start_time(ds->pid) != ds->pid_start || !ds->pid_start)
		return;
	kill(ds->pid, sig);
	while (proc_start_time(ds->pid) == ds->pid_start) {
		if (waitpid(ds->pid, NULL, WNOHANG) == ds->pid)
			break;
		if (sig == SIGTERM && now_ms() > deadline)
			kill(ds->pid, sig = SIGKILL);
		usleep(5000);
	}
	waitpid(ds->pid, NULL, WNOHANG);
}

/* Stop and forget all of D's servers (servers_lock held). */
static void stop_all_locked(struct domain *d)
{
	struct disk_server *v;
	size_t n;

	pthread_mutex_lock(&d->lock);
	v = TAKE_PTR(d->disk_servers);
	n = d->n_disk_servers;
	d->n_disk_servers = 0;
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < n; i++) {
		stop_server(&v[i]);
		free(v[i].vdev);
		free(v[i].lv);
	}
	free(v);
}

void lvdisk_stop(struct domain *d)
{
	pthread_mutex_lock(&servers_lock);
	stop_all_locked(d);
	pthread_mutex_unlock(&servers_lock);
}

int lvdisk_start(struct domain *d, char *const *lvs, const struct qemu_disk *disks, size_t n,
		 char *errbuf, size_t errsize)
{
	int r = 0;

	pthread_mutex_lock(&servers_lock);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct disk_server *v, *ds;

		if (!lvs[i])
			continue;
		pthread_mutex_lock(&d->lock);
		v = realloc(d->disk_servers, (d->n_disk_servers + 1) * sizeof(*v));
		if (v) {
			d->disk_servers = v;
			ds = &v[d->n_disk_servers++];
			*ds = (struct disk_server){ .vdev = strdup(disks[i].vdev),
						    .lv = strdup(lvs[i]),
						    .readonly = disks[i].readonly };
		}
		pthread_mutex_unlock(&d->lock);
		if (!v)
			r = -ENOMEM;
		else
			r = ds->vdev && ds->lv ? spawn_server(d, ds, errbuf, errsize) : -ENOMEM;
	}
	if (r < 0)
		stop_all_locked(d);
	pthread_mutex_unlock(&servers_lock);
	return r;
}

json_t *lvdisk_to_json(const struct domain *d)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < d->n_disk_servers; i++) {
		const struct disk_server *ds = &d->disk_servers[i];

		json_array_append_new(arr, json_pack("{s:s,s:s,s:b,s:I,s:I}", "vdev", ds->vdev,
						     "lv", ds->lv, "readonly", ds->readonly, "pid",
						     (json_int_t)ds->pid, "pid_start",
						     (json_int_t)ds->pid_start));
	}
	return arr;
}

int lvdisk_from_json(struct domain *d, json_t *arr)
{
	size_t n = json_array_size(arr);

	if (n == 0)
		return 0;
	d->disk_servers = calloc(n, sizeof(*d->disk_servers));
	if (!d->disk_servers)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(arr, i);
		const char *vdev = json_string_value(json_object_get(o, "vdev"));
		const char *lv = json_string_value(json_object_get(o, "lv"));
		struct disk_server *ds = &d->disk_servers[d->n_disk_servers];

		if (!vdev || !lv)
			continue;
		*ds = (struct disk_server){
			.vdev = strdup(vdev),
			.lv = strdup(lv),
			.readonly = json_is_true(json_object_get(o, "readonly")),
			.pid = (pid_t)json_integer_value(json_object_get(o, "pid")),
			.pid_start = (unsigned long long)json_integer_value(
				json_object_get(o, "pid_start")),
		};
		d->n_disk_servers++;
		if (!ds->vdev || !ds->lv)
			return -ENOMEM;
	}
	return 0;
}

/* Restart those of D's servers that died; how many (servers_lock held).
 * A server that cannot be restarted is retried later, less and less
 * often. */
static int revive_locked(struct domain *d)
{
	uint64_t now = now_ms();
	int count = 0;

	for (size_t i = 0; i < d->n_disk_servers; i++) {
		struct disk_server *ds = &d->disk_servers[i];
		char errbuf[256];
		bool live;
		int r;

		pthread_mutex_lock(&d->lock);
		live = ds->pid > 0 && ds->pid_start && proc_start_time(ds->pid) == ds->pid_start;
		pthread_mutex_unlock(&d->lock);
		if (!live && ds->pid > 0)
			waitpid(ds->pid, NULL, WNOHANG); /* ours if this daemon started it */
		if (live || now < ds->retry_ms)
			continue;
		r = spawn_server(d, ds, errbuf, sizeof(errbuf));
		if (r < 0) {
			ds->retry_delay_ms = ds->retry_delay_ms ? ds->retry_delay_ms * 2 : 1000;
			if (ds->retry_delay_ms > RETRY_MAX_MS)
				ds->retry_delay_ms = RETRY_MAX_MS;
			ds->retry_ms = now_ms() + ds->retry_delay_ms;
			log_err("domain %s (%d): cannot restart the server of disk '%s' (next try in %u s): %s",
				d->name, d->domid, ds->vdev, ds->retry_delay_ms / 1000, errbuf);
			continue;
		}
		ds->retry_delay_ms = 0;
		ds->retry_ms = 0;
		log_info("domain %s (%d): restarted the server of disk '%s' (pid %d)", d->name,
			 d->domid, ds->vdev, (int)ds->pid);
		count++;
	}
	return count;
}

int lvdisk_revive(struct domain *d)
{
	int count;

	pthread_mutex_lock(&servers_lock);
	count = revive_locked(d);
	pthread_mutex_unlock(&servers_lock);
	return count;
}

static void *monitor_main(void *arg)
{
	void (*saved)(struct domain *) = (void (*)(struct domain *))arg;

	for (;;) {
		struct domain **v;
		size_t n;

		usleep(MONITOR_PERIOD_MS * 1000);
		n = domain_list(&v);
		for (size_t i = 0; i < n; i++) {
			bool alive;

			pthread_mutex_lock(&v[i]->lock);
			alive = v[i]->state != DOM_DYING && !v[i]->gone;
			pthread_mutex_unlock(&v[i]->lock);
			if (alive && lvdisk_revive(v[i]) > 0)
				saved(v[i]);
		}
		domain_list_free(v, n);
	}
	return NULL;
}

int lvdisk_monitor_start(void (*on_change)(struct domain *))
{
	pthread_t th;
	int r = -pthread_create(&th, NULL, monitor_main, (void *)on_change);

	if (r == 0)
		pthread_detach(th);
	return r;
}

void lvdisk_retitle(struct domain *d)
{
	_cleanup_free_ char *who = holder_of(d);

	pthread_once(&storage_once, storage_setup);
	if (!who || storage_err < 0)
		return;
	pthread_mutex_lock(&servers_lock);
	for (size_t i = 0; i < d->n_disk_servers; i++) {
		int r = lv_holder_retitle(&storage, d->disk_servers[i].pid, who);
		if (r < 0 && r != -ENOENT)
			log_warn("domain %s (%d): cannot rename the holder of %s: %s", d->name,
				 d->domid, d->disk_servers[i].lv, strerror(-r));
	}
	pthread_mutex_unlock(&servers_lock);
}

/* ---- migration: describe, create and remove LVs ---- */

int lvdisk_describe(const char *vdev, const char *name, json_t **ret)
{
	_cleanup_free_ char *vg = strndup(name, strcspn(name, "/"));
	const char *lvname = strchr(name, '/');
	struct lvm_lv *lv;
	struct vg_handle h;
	int r;

	pthread_once(&storage_once, storage_setup);
	if (storage_err < 0)
		return storage_err;
	if (!vg || !lvname)
		return vg ? -EINVAL : -ENOMEM;
	r = storage_vg_open(&storage, vg, false, &h);
	if (r < 0)
		return r;
	lv = vg_find_lv(h.vg, lvname + 1);
	if (lv)
		*ret = json_pack("{s:s,s:s,s:s,s:s,s:I}", "vdev", vdev, "vg", vg, "vg_uuid", h.vg->id,
				 "lv", lv->name,
				 "size", (json_int_t)(lv_extents(lv) * h.vg->extent_size * 512));
	storage_vg_close(&h);
	return !lv ? -ENOENT : *ret ? 0 : -ENOMEM;
}

/* Decide for one described disk DESC: 0 "shared", 1 "copy" (created as
 * *RET_CREATED "VG/LV"), or -errno with ERRBUF filled. */
static int prepare_one(json_t *desc, char **ret_created, char *errbuf, size_t errsize)
{
	const char *vg = json_string_value(json_object_get(desc, "vg"));
	const char *lvname = json_string_value(json_object_get(desc, "lv"));
	const char *uuid = json_string_value(json_object_get(desc, "vg_uuid"));
	uint64_t size = (uint64_t)json_integer_value(json_object_get(desc, "size"));
	uint64_t extent_bytes, need, avail;
	struct lvm_lv *lv;
	struct vg_handle h;
	int r;

	if (!vg || !lvname || !uuid || size == 0) {
		snprintf(errbuf, errsize, "malformed disk description");
		return -EINVAL;
	}
	r = storage_vg_open(&storage, vg, true, &h);
	if (r == -ENOENT || r == -EINVAL) {
		snprintf(errbuf, errsize, "no volume group %s here for %s/%s", vg, vg, lvname);
		return -ENOENT;
	}
	if (r < 0) {
		snprintf(errbuf, errsize, "cannot read volume group %s: %s", vg, strerror(-r));
		return r;
	}
	lv = vg_find_lv(h.vg, lvname);
	extent_bytes = h.vg->extent_size * 512;
	need = (size + extent_bytes - 1) / extent_bytes;
	avail = vg_free_extents(h.vg);
	if (streq(h.vg->id, uuid)) {
		r = lv ? 0 : -ENOENT;
		if (!lv)
			snprintf(errbuf, errsize, "volume group %s is shared but has no %s", vg, lvname);
	} else if (lv) {
		snprintf(errbuf, errsize, "an unrelated logical volume %s/%s exists here", vg, lvname);
		r = -EEXIST;
	} else if (need * extent_bytes != size) {
		snprintf(errbuf, errsize, "%s/%s: its size is not a multiple of the extent size here",
			 vg, lvname);
		r = -EINVAL;
	} else if (h.missing_pvs) {
		snprintf(errbuf, errsize, "volume group %s is missing physical volumes", vg);
		r = -ENXIO;
	} else if (need > avail) {
		snprintf(errbuf, errsize,
			 "not enough space in volume group %s for %s/%s (%llu MiB needed, %llu MiB free)",
			 vg, vg, lvname, (unsigned long long)(size >> 20),
			 (unsigned long long)((avail * extent_bytes) >> 20));
		r = -ENOSPC;
	} else {
		r = vg_create_lv(h.vg, lvname, need, storage.host, (int64_t)time(NULL), NULL);
		if (r == 0)
			r = storage_vg_commit(&h, "Write from an incoming migration.");
		if (r < 0)
			snprintf(errbuf, errsize, "cannot create %s/%s: %s", vg, lvname, strerror(-r));
		else
			r = (*ret_created = strprintf("%s/%s", vg, lvname)) ? 1 : -ENOMEM;
	}
	storage_vg_close(&h);
	return r;
}

int lvdisk_prepare_incoming(json_t *disks, json_t **ret_answer, char ***ret_created,
			    char *errbuf, size_t errsize)
{
	_cleanup_json_ json_t *answer = json_object();
	char **created = calloc(json_array_size(disks) + 1, sizeof(char *));
	size_t n = 0, i;
	json_t *desc;
	int r = answer && created ? 0 : -ENOMEM;

	pthread_once(&storage_once, storage_setup);
	if (r == 0 && storage_err < 0)
		r = storage_err;
	json_array_foreach(disks, i, desc) {
		const char *vdev = json_string_value(json_object_get(desc, "vdev"));
		char tmp[512];

		if (r < 0)
			break;
		r = vdev ? prepare_one(desc, &created[n], tmp, sizeof(tmp)) : -EINVAL;
		if (r < 0)
			snprintf(errbuf, errsize, "disk '%s': %s", vdev ? vdev : "?",
				 vdev ? tmp : "malformed disk description");
		else
			json_object_set_new(answer, vdev, json_string(r ? "copy" : "shared"));
		n += r > 0;
	}
	if (r < 0) {
		lvdisk_remove_created(created);
		return r;
	}
	*ret_answer = TAKE_PTR(answer);
	*ret_created = created;
	return 0;
}

static int remove_lv(const char *name)
{
	_cleanup_free_ char *vg = strndup(name, strcspn(name, "/"));
	_cleanup_close_ int claim = -1;
	struct lvm_lv *lv;
	struct vg_handle h;
	int r;

	pthread_once(&storage_once, storage_setup);
	if (storage_err < 0)
		return storage_err;
	if (!vg)
		return -ENOMEM;
	r = storage_vg_open(&storage, vg, true, &h);
	if (r < 0)
		return r;
	lv = vg_find_lv(h.vg, strchr(name, '/') + 1);
	claim = lv ? lv_claim(&storage, lv->id) : -ENOENT;
	r = claim < 0 ? claim : 0;
	if (r == 0) {
		vg_remove_lv(h.vg, lv);
		r = storage_vg_commit(&h, "Write from a failed incoming migration.");
	}
	storage_vg_close(&h);
	return r;
}

void lvdisk_remove_created(char **created)
{
	for (size_t i = 0; created && created[i]; i++) {
		int r = remove_lv(created[i]);
		if (r < 0)
			log_err("cannot remove logical volume %s after a failed migration: %s",
				created[i], strerror(-r));
		else
			log_info("removed logical volume %s created for a failed migration",
				 created[i]);
	}
	strv_free(created);
}
