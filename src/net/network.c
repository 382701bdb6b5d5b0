/* network.c - managed networks: bridges (ioctls), their IPv4 gateway
 * address (ioctls), dnsmasq, and NAT rules (nft). */
#include "net/network.h"
#include "net/internal.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct netdef {
	char name[IFNAMSIZ];
	char type[8];
	uint32_t net, mask;  /* host order; 0 without a subnet */
	unsigned prefix;
};

static int parse_subnet(const char *s, struct netdef *d)
{
	char addr[32];
	unsigned prefix;
	struct in_addr a;

	if (sscanf(s, "%31[0-9.]/%u", addr, &prefix) != 2 || prefix < 8 || prefix > 29 ||
	    inet_pton(AF_INET, addr, &a) != 1)
		return -EINVAL;
	d->prefix = prefix;
	d->mask = 0xffffffffu << (32 - prefix);
	d->net = ntohl(a.s_addr) & d->mask;
	return 0;
}

static void ip_str(uint32_t host_order, char buf[16])
{
	struct in_addr a = { htonl(host_order) };
	inet_ntop(AF_INET, &a, buf, 16);
}

static char *def_path(const struct net_env *e, const char *name, const char *ext)
{
	return strprintf("%s/%s.%s", ext[0] == 'p' ? e->run_dir : e->state_dir, name, ext);
}

static int def_load(const struct net_env *e, const char *name, struct netdef *d)
{
	_cleanup_free_ char *path = def_path(e, name, "json");
	json_t *j = path ? json_load_file(path, 0, NULL) : NULL;
	const char *type = json_string_value(json_object_get(j, "type"));
	const char *subnet = json_string_value(json_object_get(j, "subnet"));
	int r = 0;

	*d = (struct netdef){ 0 };
	if (!type || strlen(name) >= IFNAMSIZ || strlen(type) >= sizeof(d->type))
		r = j ? -EINVAL : -ENOENT;
	else {
		strcpy(d->name, name);
		strcpy(d->type, type);
		if (subnet && parse_subnet(subnet, d) < 0)
			r = -EINVAL;
	}
	json_decref(j);
	return r;
}

static int sock_ioctl(unsigned long req, struct ifreq *ifr)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	return ioctl(s, req, ifr) < 0 ? -errno : 0;
}

static int set_flags(const char *ifname, short on, short off)
{
	struct ifreq ifr = { 0 };
	int r;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	r = sock_ioctl(SIOCGIFFLAGS, &ifr);
	if (r < 0)
		return r;
	ifr.ifr_flags = (short)((ifr.ifr_flags | on) & ~off);
	return sock_ioctl(SIOCSIFFLAGS, &ifr);
}

static int set_addr(const char *ifname, unsigned long req, uint32_t host_order)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(host_order);
	return sock_ioctl(req, &ifr);
}

static int linux_bridge_up(const struct netdef *d)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r;

	if (s < 0)
		return -errno;
	if (!net_is_linux_bridge(d->name) && ioctl(s, SIOCBRADDBR, d->name) < 0)
		return -errno;
	if (d->net) {
		r = set_addr(d->name, SIOCSIFADDR, d->net + 1);
		if (r == 0)
			r = set_addr(d->name, SIOCSIFNETMASK, d->mask);
		if (r < 0)
			return r;
	}
	return set_flags(d->name, IFF_UP, 0);
}

static int ovs_bridge_up(const struct netdef *d)
{
	char *argv[] = { "ovs-vsctl", "--timeout=10", "--may-exist", "add-br", (char *)d->name,
			 NULL };
	char *err[] = { "ovs-vsctl", "--timeout=10", "get", "interface", (char *)d->name,
			"error", NULL };
	char *netdev[] = { "ovs-vsctl", "--timeout=10", "set", "bridge", (char *)d->name,
			   "datapath_type=netdev", NULL };
	_cleanup_free_ char *out = NULL;
	int r = net_run(argv, NULL, NULL, NULL);

	if (r != 0)
		return r < 0 ? r : -EIO;
	/* no kernel datapath here: fall back to the userspace one */
	if (net_run(err, NULL, &out, NULL) == 0 && !streq(out, "[]\n") && !streq(out, "\n"))
		net_run(netdev, NULL, NULL, NULL);
	return set_flags(d->name, IFF_UP, 0);
}

/* dnsmasq's pid if it runs for D, else 0. */
static pid_t dnsmasq_pid(const struct net_env *e, const struct netdef *d)
{
	_cleanup_free_ char *path = def_path(e, d->name, "pid"), *data = NULL, *comm = NULL;
	_cleanup_free_ char *cpath = NULL;
	long pid;

	if (!path || read_file(path, 64, &data, NULL) < 0 || (pid = strtol(data, NULL, 10)) <= 0)
		return 0;
	cpath = strprintf("/proc/%ld/comm", pid);
	if (!cpath || read_file(cpath, 64, &comm, NULL) < 0 || !startswith(comm, "dnsmasq"))
		return 0;
	return (pid_t)pid;
}

static int dnsmasq_start(const struct net_env *e, const struct netdef *d)
{
	char gw[16], lo[16], hi[16];
	_cleanup_free_ char *pid = def_path(e, d->name, "pid");
	_cleanup_free_ char *leases = def_path(e, d->name, "leases");
	_cleanup_free_ char *a_pid = NULL, *a_leases = NULL, *a_if = NULL, *a_listen = NULL;
	_cleanup_free_ char *a_range = NULL, *a_host = NULL;

	if (dnsmasq_pid(e, d))
		return 0;
	ip_str(d->net + 1, gw);
	ip_str(d->net + 2, lo);
	ip_str((d->net | ~d->mask) - 1, hi);
	a_pid = strprintf("--pid-file=%s", pid);
	a_leases = strprintf("--dhcp-leasefile=%s", leases);
	a_if = strprintf("--interface=%s", d->name);
	a_listen = strprintf("--listen-address=%s", gw);
	a_range = strprintf("--dhcp-range=%s,%s,1h", lo, hi);
	a_host = strprintf("--host-record=gateway.%s,%s", d->name, gw);
	if (!pid || !leases || !a_pid || !a_leases || !a_if || !a_listen || !a_range || !a_host)
		return -ENOMEM;
	char *argv[] = { "dnsmasq", "--conf-file=/dev/null", "--user=root", "--group=root",
			 "--bind-interfaces", "--except-interface=lo", "--dhcp-authoritative",
			 a_pid, a_leases, a_if, a_listen, a_range, a_host, NULL };
	int r = net_run(argv, NULL, NULL, NULL);
	return r == 0 ? 0 : r < 0 ? r : -EIO;
}

static void dnsmasq_stop(const struct net_env *e, const struct netdef *d)
{
	_cleanup_free_ char *path = def_path(e, d->name, "pid");
	pid_t pid = dnsmasq_pid(e, d);

	if (pid > 0 && kill(pid, SIGTERM) == 0)
		for (int i = 0; i < 200 && kill(pid, 0) == 0; i++) {
			waitpid(pid, NULL, WNOHANG);  /* ours when this daemon started it */
			usleep(10000);
		}
	if (path)
		unlink(path);
}

static char *nat_table(const struct net_env *e, const struct netdef *d)
{
	return strprintf("domus_%s_net_%s", e->owner, d->name);
}

static int nat_rules(const struct net_env *e, const struct netdef *d)
{
	_cleanup_free_ char *t = nat_table(e, d), *script = NULL;
	char net[16], gw[16];
	char *argv[] = { "nft", "-f", "-", NULL };
	int r;

	ip_str(d->net, net);
	ip_str(d->net + 1, gw);
	script = strprintf(
		"table ip %s\ndelete table ip %s\ntable ip %s {\n"
		"\tchain post {\n\t\ttype nat hook postrouting priority 100; policy accept;\n"
		"\t\tip saddr %s/%u ip daddr != %s/%u masquerade\n\t}\n"
		"\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n"
		"\t\tiifname \"%s\" udp dport { 53, 67 } accept\n"
		"\t\tiifname \"%s\" tcp dport 53 accept\n"
		"\t\tiifname \"%s\" ip daddr %s icmp type echo-request accept\n"
		"\t\tiifname \"%s\" ct state established,related accept\n"
		"\t\tiifname \"%s\" drop\n\t}\n}\n",
		t, t, t, net, d->prefix, net, d->prefix, d->name, d->name, d->name, gw, d->name,
		d->name);
	if (!t || !script)
		return -ENOMEM;
	r = write_file_atomic("/proc/sys/net/ipv4/ip_forward", "1\n", 2, 0644);
	if (r < 0) {
		_cleanup_close_ int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
		r = fd < 0 || write_all(fd, "1\n", 2) < 0 ? -errno : 0;
	}
	if (r < 0)
		return r;
	r = net_run(argv, script, NULL, NULL);
	return r == 0 ? 0 : r < 0 ? r : -EIO;
}

static int network_up(const struct net_env *e, const struct netdef *d)
{
	int r;

	if (streq(d->type, "ovs"))
		return ovs_bridge_up(d);
	r = linux_bridge_up(d);
	if (r == 0 && streq(d->type, "nat"))
		r = nat_rules(e, d);
	if (r == 0 && streq(d->type, "nat"))
		r = dnsmasq_start(e, d);
	return r;
}

static void network_down(const struct net_env *e, const struct netdef *d)
{
	if (streq(d->type, "ovs")) {
		char *argv[] = { "ovs-vsctl", "--timeout=10", "--if-exists", "del-br",
				 (char *)d->name, NULL };
		net_run(argv, NULL, NULL, NULL);
		return;
	}
	if (streq(d->type, "nat")) {
		_cleanup_free_ char *t = nat_table(e, d);
		char *argv[] = { "nft", "delete", "table", "ip", t, NULL };
		dnsmasq_stop(e, d);
		if (t)
			net_run(argv, NULL, NULL, NULL);
	}
	if (net_is_linux_bridge(d->name)) {
		_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		set_flags(d->name, 0, IFF_UP);
		if (s >= 0)
			ioctl(s, SIOCBRDELBR, d->name);
	}
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= IFNAMSIZ)
		return false;
	for (const char *p = name; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && !strchr("-_", *p))
			return false;
	return true;
}

static int check_request(const struct net_env *e, const char *name, const char *type,
			 const char *subnet, struct netdef *d, char *errbuf, size_t errsize)
{
	struct netdef old;

	*d = (struct netdef){ 0 };
	if (!name_ok(name)) {
		snprintf(errbuf, errsize, "invalid network name '%s' (1-15 letters, digits, "
			 "'-' or '_')", name);
		return -EINVAL;
	}
	if (!streq(type, "nat") && !streq(type, "bridge") && !streq(type, "ovs")) {
		snprintf(errbuf, errsize, "unknown network type '%s' (nat, bridge or ovs)", type);
		return -EINVAL;
	}
	if (streq(type, "nat") != (subnet != NULL) ||
	    (subnet && parse_subnet(subnet, d) < 0)) {
		snprintf(errbuf, errsize, streq(type, "nat")
			 ? "a nat network needs a subnet like 10.200.0.0/24 (prefix 8-29)%s"
			 : "only nat networks take a subnet%s", subnet && streq(type, "nat")
			 ? ", not this one" : "");
		return -EINVAL;
	}
	if (def_load(e, name, &old) != -ENOENT) {
		snprintf(errbuf, errsize, "network '%s' already exists", name);
		return -EEXIST;
	}
	if (if_nametoindex(name) != 0) {
		snprintf(errbuf, errsize, "an interface called '%s' already exists on the host",
			 name);
		return -EEXIST;
	}
	strcpy(d->name, name);
	strcpy(d->type, type);
	return 0;
}

int net_network_create(const struct net_env *e, const char *name, const char *type,
		       const char *subnet, char *errbuf, size_t errsize)
{
	struct netdef d;
	_cleanup_free_ char *path = NULL, *text = NULL;
	json_t *j;
	int r = check_request(e, name, type, subnet, &d, errbuf, errsize);

	if (r < 0)
		return r;
	path = def_path(e, name, "json");
	j = json_pack("{s:s,s:s}", "name", name, "type", type);
	if (j && subnet)
		json_object_set_new(j, "subnet", json_string(subnet));
	text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
	json_decref(j);
	if (!path || !text)
		return -ENOMEM;
	r = mkdir_p(e->state_dir, 0755);
	if (r == 0)
		r = mkdir_p(e->run_dir, 0755);
	if (r == 0)
		r = network_up(e, &d);
	if (r == 0)
		r = write_file_atomic(path, text, strlen(text), 0644);
	if (r < 0) {
		network_down(e, &d);
		snprintf(errbuf, errsize, "cannot create network '%s': %s", name, strerror(-r));
	}
	return r;
}

int net_network_destroy(const struct net_env *e, const char *name, char *errbuf, size_t errsize)
{
	struct netdef d;
	_cleanup_free_ char *path = def_path(e, name, "json");
	_cleanup_free_ char *leases = def_path(e, name, "leases");

	if (!name_ok(name) || def_load(e, name, &d) < 0) {
		snprintf(errbuf, errsize, "network '%s' does not exist", name);
		return -ENOENT;
	}
	network_down(e, &d);
	if (leases)
		unlink(leases);
	if (!path || unlink(path) < 0) {
		snprintf(errbuf, errsize, "cannot remove network '%s': %s", name, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Call FN for each defined network; returns the sum of what FN returned. */
static int each_network(const struct net_env *e, int (*fn)(const struct net_env *,
							    const struct netdef *, void *),
			void *data)
{
	_cleanup_closedir_ DIR *dir = opendir(e->state_dir);
	struct dirent *de;
	int n = 0;

	while (dir && (de = readdir(dir))) {
		char name[IFNAMSIZ];
		struct netdef d;
		size_t len = strlen(de->d_name);
		if (!endswith(de->d_name, ".json") || len - 5 >= sizeof(name))
			continue;
		memcpy(name, de->d_name, len - 5);
		name[len - 5] = '\0';
		if (def_load(e, name, &d) == 0)
			n += fn(e, &d, data);
	}
	return n;
}

static int list_one(const struct net_env *e, const struct netdef *d, void *data)
{
	char net[16], gw[16];
	_cleanup_free_ char *subnet = NULL;
	bool up = streq(d->type, "ovs") ? net_is_ovs_bridge(d->name) : net_is_linux_bridge(d->name);

	ip_str(d->net, net);
	ip_str(d->net + 1, gw);
	subnet = d->net ? strprintf("%s/%u", net, d->prefix) : NULL;
	if (streq(d->type, "nat"))
		up = up && dnsmasq_pid(e, d) > 0;
	json_array_append_new(data, json_pack("{s:s,s:s,s:s?,s:s?,s:b}", "name", d->name,
					      "type", d->type, "subnet", subnet, "gateway",
					      d->net ? gw : NULL, "up", up));
	return 0;
}

int net_network_list(const struct net_env *e, json_t **ret)
{
	json_t *a = json_array();

	if (!a)
		return -ENOMEM;
	each_network(e, list_one, a);
	*ret = a;
	return 0;
}

static int restore_one(const struct net_env *e, const struct netdef *d, void *data)
{
	return network_up(e, d) < 0 ? 1 : 0;
}

int net_networks_restore(const struct net_env *e)
{
	mkdir_p(e->run_dir, 0755);
	return each_network(e, restore_one, NULL);
}
