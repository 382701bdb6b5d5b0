/* port.c - plug taps into Linux bridges (ioctls) or Open vSwitch bridges
 * (ovs-vsctl), and take away everything a domain plugged in. */
#include "net/internal.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

void net_owner_id(const char *root, char ret[9])
{
	uint32_t h = 2166136261u;  /* FNV-1a */

	for (const char *p = root && *root ? root : "/"; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(ret, 9, "%08x", h);
}

bool net_domid_in(int domid, const int *alive, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (alive[i] == domid)
			return true;
	return false;
}

static int link_up(int s, const char *ifname)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/* Give a domain's tap the MAC fe:ff:ff:ff:ff:ff, as Xen's vif scripts do:
 * a bridge takes the lowest MAC of its ports, so a tap with a random MAC
 * joining or leaving would change the host's own MAC on that bridge (and
 * cut its peers off until their ARP entries expire). */
static int tap_mac(int s, const char *ifname)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memset(ifr.ifr_hwaddr.sa_data, 0xff, 6);
	ifr.ifr_hwaddr.sa_data[0] = (char)0xfe;
	return ioctl(s, SIOCSIFHWADDR, &ifr) < 0 ? -errno : 0;
}

static int linux_attach(const char *bridge, const char *ifname)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	unsigned idx = if_nametoindex(ifname);

	if (s < 0)
		return -errno;
	if (!idx)
		return -ENODEV;
	if (tap_mac(s, ifname) < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", bridge);
	ifr.ifr_ifindex = (int)idx;
	if (ioctl(s, SIOCBRADDIF, &ifr) < 0)
		return -errno;
	return link_up(s, ifname);
}

static int ovs_attach(const struct net_port *p, const struct net_bridge_spec *b, long *ret_ofport,
		      char *errbuf, size_t errsize)
{
	_cleanup_free_ char *tag = b->vlan ? strprintf("tag=%u", b->vlan) : NULL;
	_cleanup_free_ char *owner = strprintf("external_ids:domus-owner=%s", p->owner);
	_cleanup_free_ char *domid = strprintf("external_ids:domus-domid=%d", p->domid);
	_cleanup_free_ char *devid = strprintf("external_ids:domus-devid=%u", p->devid);
	_cleanup_free_ char *err = NULL, *out = NULL;
	char trunks[16 + NET_MAX_TRUNKS * 5] = "trunks=";
	char *argv[16] = { "ovs-vsctl", "--timeout=10", "--", "add-port", (char *)b->name,
			   (char *)p->ifname };
	size_t n = 6;
	int r;

	if (!owner || !domid || !devid || (b->vlan && !tag))
		return -ENOMEM;
	if (tag)
		argv[n++] = tag;
	for (size_t i = 0; i < b->n_trunks; i++)
		snprintf(trunks + strlen(trunks), sizeof(trunks) - strlen(trunks), "%s%u",
			 i ? "," : "", b->trunks[i]);
	if (b->n_trunks)
		argv[n++] = trunks;
	argv[n++] = "--";
	argv[n++] = "set";
	argv[n++] = "interface";
	argv[n++] = (char *)p->ifname;
	argv[n++] = owner;
	argv[n++] = domid;
	argv[n++] = devid;
	r = net_run(argv, NULL, NULL, &err);
	if (r != 0) {
		snprintf(errbuf, errsize, "cannot add '%s' to Open vSwitch bridge '%s': %s",
			 p->ifname, b->name, r < 0 ? strerror(-r) : err);
		return r < 0 ? r : -EIO;
	}
	char *get[] = { "ovs-vsctl", "--timeout=10", "get", "interface", (char *)p->ifname,
			"ofport", NULL };
	r = net_run(get, NULL, &out, NULL);
	*ret_ofport = r == 0 ? strtol(out, NULL, 10) : -1;
	if (*ret_ofport <= 0) {
		snprintf(errbuf, errsize, "Open vSwitch gave '%s' no port number", p->ifname);
		return -EIO;
	}
	return 0;
}

int net_port_attach(const struct net_port *p, const struct net_bridge_spec *b,
		    enum net_bridge_kind kind, char *errbuf, size_t errsize)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	long ofport = -1;
	int r;

	if (kind == NET_BRIDGE_LINUX) {
		r = net_antispoof_linux(p, errbuf, errsize);
		if (r == 0) {
			r = linux_attach(b->name, p->ifname);
			if (r < 0)
				snprintf(errbuf, errsize, "cannot add '%s' to bridge '%s': %s",
					 p->ifname, b->name, strerror(-r));
		}
	} else {
		r = net_ovs_tap_guard(p, b->name, errbuf, errsize);
		if (r == 0) {
			r = s < 0 ? -errno : tap_mac(s, p->ifname);
			if (r == 0)
				r = link_up(s, p->ifname);
			if (r < 0)
				snprintf(errbuf, errsize, "cannot bring '%s' up: %s", p->ifname,
					 strerror(-r));
		}
		if (r == 0)
			r = ovs_attach(p, b, &ofport, errbuf, errsize);
		if (r == 0)
			r = net_antispoof_ovs(p, b->name, ofport, errbuf, errsize);

	}
	if (r == 0 && p->rate)
		r = net_rate_shape(p, errbuf, errsize);
	if (r < 0)
		net_port_release(p->owner, p->domid, (int)p->devid);
	return r;
}

/* Names (and domids) of OWNER's OVS interfaces, one "NAME DOMID DEVID" per
 * line in *RET; -ENOENT without an Open vSwitch database to ask. */
static int ovs_find(const char *owner, char **ret)
{
	_cleanup_free_ char *cond = strprintf("external_ids:domus-owner=%s", owner);
	char *argv[] = { "ovs-vsctl", "--timeout=10", "--format=table", "--data=bare",
			 "--no-headings", "--columns=name,external_ids", "find", "interface",
			 cond, NULL };
	int r;

	if (!cond)
		return -ENOMEM;
	if (!net_ovs_running())
		return -ENOENT;
	r = net_run(argv, NULL, ret, NULL);
	return r == 0 ? 0 : r < 0 ? r : -EIO;
}

/* The value of KEY=... in an external_ids rendering, or -1. */
static long ext_id(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	return p && p[strlen(key)] == '=' ? strtol(p + strlen(key) + 1, NULL, 10) : -1;
}

/* Delete OWNER's OVS ports: those of DOMID/DEVID, or with ALIVE those of
 * domains not in ALIVE. Returns the number deleted. */
static int ovs_release(const char *owner, int domid, int devid, const int *alive, size_t n_alive)
{
	_cleanup_free_ char *out = NULL;
	char *save = NULL;
	int n = 0;

	if (ovs_find(owner, &out) < 0)
		return 0;  /* no Open vSwitch here */
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[IFNAMSIZ];
		long d = ext_id(line, "domus-domid"), v = ext_id(line, "domus-devid");
		bool drop = alive ? !net_domid_in((int)d, alive, n_alive)
				  : d == domid && (devid < 0 || v == devid);

		if (!drop || sscanf(line, "%15s", name) != 1)
			continue;
		char *argv[] = { "ovs-vsctl", "--timeout=10", "--if-exists", "del-port", name,
				 NULL };
		if (net_run(argv, NULL, NULL, NULL) == 0)
			n++;
	}
	return n;
}

int net_port_release(const char *owner, int domid, int devid)
{
	ovs_release(owner, domid, devid, NULL, 0);
	net_flows_release(owner, domid, devid, NULL, 0);
	net_nft_release(owner, domid, devid, NULL, 0);
	return 0;
}

int net_reconcile(const char *owner, const int *alive, size_t n_alive)
{
	int n = ovs_release(owner, -1, -1, alive ? alive : (const int[]){ 0 }, n_alive);

	n += net_flows_release(owner, -1, -1, alive ? alive : (const int[]){ 0 }, n_alive);
	n += net_nft_release(owner, -1, -1, alive ? alive : (const int[]){ 0 }, n_alive);
	return n;
}
