/* hotplug.c - NICs added to and removed from a running domain: QMP
 * netdev_add + device_add (into an empty PCIe root port on q35, on the root
 * bus of the pc machine), the host port by src/net; and the reverse. The
 * domain's current vifs are RUN_DIR/vifs.json, first written from its
 * config, so a restarted daemon still knows them. */
#include "daemon/hotplug.h"
#include "daemon/daemon.h"
#include "daemon/domain.h"
#include "daemon/netdev.h"
#include "common/cleanup.h"
#include "common/jsonrpc.h"
#include "common/util.h"
#include "net/net.h"
#include "qemu/cmdline.h"
#include "qemu/qmp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define HP_TIMEOUT_MS 10000

static pthread_mutex_t hotplug_lock = PTHREAD_MUTEX_INITIALIZER;

/* The MAC the daemon generated for boot-time vif DEVID of VM (see
 * stable_mac() in domain.c), or NULL. */
static char *generated_mac(const char *vm, size_t devid)
{
	_cleanup_free_ char *path = strprintf("%s/%s", daemon_state.mac_dir, vm), *data = NULL;
	char *save = NULL;

	if (!path || read_file(path, 65536, &data, NULL) < 0)
		return NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long id;
		char m[18];
		if (sscanf(line, "%lu %17s", &id, m) == 2 && id == devid)
			return strdup(m);
	}
	return NULL;
}

static json_t *vifs_from_cfg(struct domain *d)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < d->cfg->n_vifs; i++) {
		const struct vif_spec *v = &d->cfg->vifs[i];
		unsigned devid = v->port ? v->devid : (unsigned)i;
		_cleanup_free_ char *mac = v->mac ? strdup(v->mac) : generated_mac(d->name, devid);
		_cleanup_free_ char *ifname = v->vifname ? strdup(v->vifname)
							 : strprintf("vif%d.%u", d->domid, devid);
		_cleanup_free_ char *port = d->cfg->type == DOM_TYPE_HVM ? NULL
					    : v->port ? strdup(v->port)
					    : strprintf(QEMU_NIC_PORT_PREFIX "%zu", i);
		json_array_append_new(a, json_pack("{s:i,s:s?,s:s?,s:s?,s:b,s:s?}", "devid", (int)devid,
						   "mac", mac, "bridge", v->bridge, "ifname",
						   ifname, "hotplug", 0, "port", port));
	}
	return a;
}

static char *vifs_path(struct domain *d)
{
	return strprintf("%s/vifs.json", d->run_dir);
}

static json_t *vifs_load(struct domain *d)
{
	_cleanup_free_ char *path = vifs_path(d);
	json_t *a = path ? json_load_file(path, 0, NULL) : NULL;

	return json_is_array(a) ? a : (json_decref(a), vifs_from_cfg(d));
}

static int vifs_save(struct domain *d, json_t *a)
{
	_cleanup_free_ char *path = vifs_path(d), *text = json_dumps(a, 0);

	return path && text ? write_file_atomic(path, text, strlen(text), 0644) : -ENOMEM;
}

static int qmp(struct domain *d, const char *cmd, json_t *args, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *err = NULL;
	int r = d->qmp ? qmp_command(d->qmp, cmd, args, NULL, &err, HP_TIMEOUT_MS) : -ENOTCONN;

	if (!d->qmp)
		json_decref(args);
	if (r < 0)
		snprintf(errbuf, errsize, "%s: %s", cmd, err ? err : strerror(-r));
	return r;
}

/* A free root port of q35 domain D ("hpN", then the "npN" of a boot-time
 * NIC that was detached), or NULL. */
static const char *free_port(struct domain *d, json_t *vifs, char buf[16])
{
	int n = QEMU_HOTPLUG_PORTS + (int)(d->cfg->nic_ports ? d->cfg->nic_ports : d->cfg->n_vifs);

	for (int i = 0; i < n; i++) {
		json_t *v;
		size_t k;
		bool used = false;
		if (i < QEMU_HOTPLUG_PORTS)
			snprintf(buf, 16, QEMU_HOTPLUG_PORT_PREFIX "%d", i);
		else
			snprintf(buf, 16, QEMU_NIC_PORT_PREFIX "%d", i - QEMU_HOTPLUG_PORTS);
		json_array_foreach(vifs, k, v) used |= streq(json_string_value(json_object_get(v, "port")) ?: "", buf);
		if (!used)
			return buf;
	}
	return NULL;
}

static int next_devid(json_t *vifs)
{
	json_t *v;
	size_t k;
	int next = 0;

	json_array_foreach(vifs, k, v) {
		int id = (int)json_integer_value(json_object_get(v, "devid"));
		if (id >= next)
			next = id + 1;
	}
	return next;
}

static bool mac_taken(json_t *vifs, const char *mac)
{
	json_t *v;
	size_t k;

	json_array_foreach(vifs, k, v) if (streq(json_string_value(json_object_get(v, "mac")) ?: "", mac)) return true;
	return false;
}

/* Everything attach decided before touching QEMU. */
struct nic_plan {
	struct vif_spec v;
	struct net_bridge_spec bridge;
	enum net_bridge_kind kind;
	int devid;
	char ifname[64], mac[18], netdev[64], id[64], port_buf[64];
	const char *port, *model;
};

static int plan_nic(struct domain *d, json_t *vifs, const char *spec, struct nic_plan *p,
		    char *errbuf, size_t errsize)
{
	char nerr[300];
	uint8_t b[3];
	int r = vif_spec_parse(spec, &p->v, errbuf, errsize);

	if (r < 0)
		return r;
	if (!p->v.bridge) {
		snprintf(errbuf, errsize, "vif '%s': bridge= is required", spec);
		return -EINVAL;
	}
	r = net_bridge_resolve(p->v.bridge, &p->bridge, &p->kind, nerr, sizeof(nerr));
	if (r < 0) {
		snprintf(errbuf, errsize, "%s", nerr);
		return r;
	}
	p->model = qemu_nic_model(p->v.model, d->cfg->type);
	p->devid = next_devid(vifs);
	if (p->v.vifname)
		snprintf(p->ifname, sizeof(p->ifname), "%s", p->v.vifname);
	else
		snprintf(p->ifname, sizeof(p->ifname), "vif%d.%d", d->domid, p->devid);
	if (p->v.mac) {
		snprintf(p->mac, sizeof(p->mac), "%s", p->v.mac);
	} else {
		if (getrandom(b, sizeof(b), 0) != sizeof(b))
			return -EIO;
		snprintf(p->mac, sizeof(p->mac), "00:16:3e:%02x:%02x:%02x", b[0] & 0x7f, b[1], b[2]);
	}
	snprintf(p->netdev, sizeof(p->netdev), "hnet%d", p->devid);
	snprintf(p->id, sizeof(p->id), "nic%d", p->devid);
	p->port = d->cfg->type == DOM_TYPE_HVM ? NULL : free_port(d, vifs, p->port_buf);
	if (!p->model) {
		snprintf(errbuf, errsize, "vif '%s': unknown model '%s'", spec, p->v.model);
		return -EINVAL;
	}
	if (!netdev_name_valid(p->ifname) || netdev_exists(p->ifname)) {
		snprintf(errbuf, errsize, "interface '%s' %s", p->ifname,
			 netdev_exists(p->ifname) ? "already exists on the host" : "is not a valid name");
		return -EEXIST;
	}
	if (mac_taken(vifs, p->mac)) {
		snprintf(errbuf, errsize, "mac %s is already used by this domain", p->mac);
		return -EEXIST;
	}
	if (d->cfg->type != DOM_TYPE_HVM && !p->port) {
		snprintf(errbuf, errsize, "no free hot-plug slot (%d NICs already hot-plugged)",
			 QEMU_HOTPLUG_PORTS);
		return -ENOSPC;
	}
	return 0;
}

static int plug(struct domain *d, struct nic_plan *p, char *errbuf, size_t errsize)
{
	char owner[9], nerr[300];
	struct net_port port = { .owner = owner, .domid = d->domid, .devid = (unsigned)p->devid,
				 .ifname = p->ifname, .mac = p->mac, .ip = p->v.ip };
	json_t *dev;
	int r;

	net_owner_id(daemon_state.paths.root, owner);
	if (p->v.rate)
		vif_rate_parse(p->v.rate, &port.rate, &port.rate_interval_us);
	r = qmp(d, "netdev_add", json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "tap", "id", p->netdev,
					  "ifname", p->ifname, "script", "no", "downscript", "no"),
		errbuf, errsize);
	if (r < 0)
		return r;
	r = net_port_attach(&port, &p->bridge, p->kind, nerr, sizeof(nerr));
	if (r < 0) {
		snprintf(errbuf, errsize, "%s", nerr);
		qmp(d, "netdev_del", json_pack("{s:s}", "id", p->netdev), nerr, sizeof(nerr));
		return r;
	}
	dev = qemu_nic_device(&(struct qemu_nic){ .mac = p->mac, .model = p->model,
						  .all_vlans = p->bridge.n_trunks > 0,
						  .no_offload = p->kind == NET_BRIDGE_OVS,
						  .devid = (unsigned)p->devid, .port = p->port },
			      p->netdev);
	r = qmp(d, "device_add", dev, errbuf, errsize);
	if (r < 0) {
		net_port_release(owner, d->domid, p->devid);
		qmp(d, "netdev_del", json_pack("{s:s}", "id", p->netdev), nerr, sizeof(nerr));
	}
	return r;
}

int domain_nic_attach(struct domain *d, const char *spec, int *ret_devid, char *errbuf,
		      size_t errsize)
{
	struct nic_plan p = { 0 };
	json_t *vifs;
	int r;

	pthread_mutex_lock(&hotplug_lock);
	vifs = vifs_load(d);
	r = vifs ? plan_nic(d, vifs, spec, &p, errbuf, errsize) : -ENOMEM;
	if (r == 0)
		r = plug(d, &p, errbuf, errsize);
	if (r == 0) {
		/* "vif": the spec, for a save or migration to carry the NIC. */
		json_array_append_new(vifs, json_pack("{s:i,s:s,s:s,s:s,s:b,s:s,s:s?,s:o*}", "devid",
						      p.devid, "mac", p.mac, "bridge", p.v.bridge,
						      "ifname", p.ifname, "hotplug", 1, "netdev",
						      p.netdev, "port", p.port, "vif",
						      domcfg_vif_to_json(&p.v)));
		vifs_save(d, vifs);
		*ret_devid = p.devid;
	}
	json_decref(vifs);
	vif_spec_release(&p.v);
	pthread_mutex_unlock(&hotplug_lock);
	return r;
}

/* Wait until QEMU no longer has device ID (the guest released it). */
static int wait_device_gone(struct domain *d, const char *id)
{
	_cleanup_free_ char *path = strprintf("/machine/peripheral/%s", id);
	uint64_t deadline = now_ms() + 20000;

	while (path && now_ms() < deadline) {
		json_t *ret = NULL;
		int r = qmp_command(d->qmp, "qom-get", json_pack("{s:s,s:s}", "path", path,
								  "property", "type"),
				    &ret, NULL, HP_TIMEOUT_MS);
		json_decref(ret);
		if (r == -EIO)
			return 0;
		if (r < 0)
			return r;
		usleep(100000);
	}
	return -ETIMEDOUT;
}

static json_t *find_vif(json_t *vifs, const char *which, size_t *ret_index)
{
	json_t *v;
	size_t k;
	uint64_t id;
	bool by_id = parse_u64(which, &id) == 0;

	json_array_foreach(vifs, k, v) {
		const char *mac = json_string_value(json_object_get(v, "mac"));
		if (by_id ? json_integer_value(json_object_get(v, "devid")) == (json_int_t)id
			  : mac && !strcasecmp(mac, which)) {
			*ret_index = k;
			return v;
		}
	}
	return NULL;
}

int domain_nic_detach(struct domain *d, const char *which, char *errbuf, size_t errsize)
{
	json_t *vifs, *v;
	size_t idx = 0;
	char owner[9], id[16];
	int r = -ENOENT, devid;

	pthread_mutex_lock(&hotplug_lock);
	vifs = vifs_load(d);
	v = vifs ? find_vif(vifs, which, &idx) : NULL;
	if (!v) {
		snprintf(errbuf, errsize, "domain %s has no vif '%s'", d->name, which);
		goto out;
	}
	devid = (int)json_integer_value(json_object_get(v, "devid"));
	if (d->cfg->type != DOM_TYPE_HVM && !json_object_get(v, "port")) {
		snprintf(errbuf, errsize, "vif %d sits on the root complex: restart the domain to "
			 "unplug it", devid);
		r = -EOPNOTSUPP;
		goto out;
	}
	snprintf(id, sizeof(id), "nic%d", devid);
	r = qmp(d, "device_del", json_pack("{s:s}", "id", id), errbuf, errsize);
	if (r == 0) {
		r = wait_device_gone(d, id);
		if (r < 0)
			snprintf(errbuf, errsize, "the guest did not release vif %d: %s", devid,
				 strerror(-r));
	}
	if (r == 0) {
		const char *netdev = json_string_value(json_object_get(v, "netdev"));
		char fallback[16];
		snprintf(fallback, sizeof(fallback), "net%d", devid);
		qmp(d, "netdev_del", json_pack("{s:s}", "id", netdev ? netdev : fallback), errbuf,
		    errsize);
		net_owner_id(daemon_state.paths.root, owner);
		net_port_release(owner, d->domid, devid);
		json_array_remove(vifs, idx);
		vifs_save(d, vifs);
		r = 0;
	}
out:
	json_decref(vifs);
	pthread_mutex_unlock(&hotplug_lock);
	return r;
}

json_t *domain_nic_list(struct domain *d)
{
	json_t *vifs;

	pthread_mutex_lock(&hotplug_lock);
	vifs = vifs_load(d);
	pthread_mutex_unlock(&hotplug_lock);
	return vifs;
}

bool domain_nics_changed(struct domain *d)
{
	_cleanup_free_ char *path = vifs_path(d);
	_cleanup_json_ json_t *now = path ? json_load_file(path, 0, NULL) : NULL;
	_cleanup_json_ json_t *boot = now ? vifs_from_cfg(d) : NULL;

	return now && !json_equal(now, boot);
}

/* The config's vif (JSON, as in CFG_VIFS) of boot-time NIC DEVID. */
static json_t *boot_vif(struct domain *d, json_t *cfg_vifs, int devid)
{
	for (size_t i = 0; i < d->cfg->n_vifs; i++)
		if ((d->cfg->vifs[i].port ? (int)d->cfg->vifs[i].devid : (int)i) == devid)
			return json_array_get(cfg_vifs, i);
	return NULL;
}

int domain_nic_carry(struct domain *d, json_t *cfg)
{
	_cleanup_json_ json_t *vifs = NULL, *out = json_array();
	json_t *v;
	size_t k;
	int r = 0;

	if (!domain_nics_changed(d))
		return 0;
	if (d->cfg->type == DOM_TYPE_HVM)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&hotplug_lock);
	vifs = vifs_load(d);
	json_array_foreach(vifs, k, v) {
		json_t *spec = json_is_true(json_object_get(v, "hotplug"))
			? json_object_get(v, "vif")
			: boot_vif(d, json_object_get(cfg, "vifs"),
				   (int)json_integer_value(json_object_get(v, "devid")));
		json_t *c = json_deep_copy(spec);

		if (!c || !out || json_object_set(c, "mac", json_object_get(v, "mac")) < 0 ||
		    json_object_set(c, "devid", json_object_get(v, "devid")) < 0 ||
		    json_object_set(c, "port", json_object_get(v, "port")) < 0 ||
		    json_array_append_new(out, c) < 0) {
			json_decref(c);
			r = -ENOMEM;
			break;
		}
	}
	pthread_mutex_unlock(&hotplug_lock);
	if (r == 0 && (!vifs || json_object_set(cfg, "vifs", out) < 0 ||
		       json_object_set_new(cfg, "nic_ports",
					   json_integer(d->cfg->nic_ports ? d->cfg->nic_ports
									 : d->cfg->n_vifs)) < 0))
		r = -ENOMEM;
	return r;
}
