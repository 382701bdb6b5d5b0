/* antispoof.c - a port only sends frames from its own MAC and, when the vif
 * lists ip=, IPv4, ARP and IPv6 only from those addresses (and its MAC's
 * link-local one), neighbour advertisements only for them: an nftables
 * table (bridge family, prerouting hook) per port on Linux bridges, OpenFlow
 * rules tagged with the port's cookie on Open vSwitch (plus, on the
 * userspace datapath, a netdev table keeping the tap from the host's
 * stack). */
#include "net/internal.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t net_cookie(const char *owner, int domid, unsigned devid)
{
	return (uint64_t)strtoul(owner, NULL, 16) << 32 | ((uint64_t)domid & 0xffffff) << 8 |
	       (devid & 0xff);
}

char *net_nft_table(const char *owner, int domid, unsigned devid)
{
	return strprintf("domus_%s_%d_%u", owner, domid, devid);
}

/* Append the printf-formatted text to *S (freed and NULL on failure). */
static void addf(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(char **s, const char *fmt, ...)
{
	_cleanup_free_ char *more = NULL;
	va_list ap;

	if (!*s)
		return;
	va_start(ap, fmt);
	if (vasprintf(&more, fmt, ap) < 0)
		more = NULL;
	va_end(ap);
	char *n = more ? strprintf("%s%s", *s, more) : NULL;
	free(*s);
	*s = n;
}

/* V6 (", "-separated IPv6 addresses) as 128-bit integers for a raw nftables
 * payload match (nft 1.0.6 has no icmpv6 taddr). */
static char *v6_hex(const char *v6)
{
	_cleanup_free_ char *copy = strdup(v6);
	char *out = strdup(""), *save = NULL;

	if (!copy) {
		free(out);
		return NULL;
	}
	for (char *t = strtok_r(copy, ", ", &save); t && out; t = strtok_r(NULL, ", ", &save)) {
		struct in6_addr a;
		if (inet_pton(AF_INET6, t, &a) != 1)
			continue;
		addf(&out, "%s0x", *out ? ", " : "");
		for (int i = 0; i < 16; i++)
			addf(&out, "%02x", a.s6_addr[i]);
	}
	return out;
}

/* The nftables rules of P's ip= (IPv4, ARP, IPv6 and neighbour
 * advertisements from listed addresses only), or "" without ip=. */
static char *nft_ip_rules(const struct net_port *p)
{
	_cleanup_free_ char *v4 = NULL, *v6 = NULL, *hex = NULL;
	const char *i = p->ifname;
	char *r;

	if (!p->ip)
		return strdup("");
	if (net_addr_lists(p->ip, p->mac, &v4, &v6) < 0 || !(hex = v6_hex(v6)))
		return NULL;
	r = *v4 ? strprintf("\t\tiifname \"%s\" arp saddr ip != { %s } drop\n"
			    "\t\tiifname \"%s\" ip saddr != { %s } drop\n", i, v4, i, v4)
		: strprintf("\t\tiifname \"%s\" meta protocol { ip, arp } drop\n", i);
	addf(&r, "\t\tiifname \"%s\" ip6 saddr :: meta l4proto != ipv6-icmp drop\n"
		 "\t\tiifname \"%s\" ip6 saddr != { ::, %s } drop\n"
		 "\t\tiifname \"%s\" icmpv6 type nd-neighbor-advert @th,64,128 != { %s } drop\n",
	     i, i, v6, i, hex);
	return r;
}

int net_antispoof_linux(const struct net_port *p, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *table = net_nft_table(p->owner, p->domid, p->devid);
	_cleanup_free_ char *ipr = nft_ip_rules(p);
	_cleanup_free_ char *script = NULL, *err = NULL, *lim = NULL;
	char *argv[] = { "nft", "-f", "-", NULL };
	int r;

	if (!table || !ipr)
		return -ENOMEM;
	if (p->rate)
		lim = strprintf("\t\tiifname \"%s\" limit rate over %llu bytes/second burst %llu "
				"bytes drop\n", p->ifname, (unsigned long long)p->rate,
				(unsigned long long)net_rate_burst(p));
	script = strprintf("table bridge %s\ndelete table bridge %s\n"
			   "table bridge %s {\n"
			   "\tchain antispoof {\n"
			   "\t\ttype filter hook prerouting priority -200; policy accept;\n"
			   "\t\tiifname \"%s\" ether saddr != %s drop\n"
			   "\t\tiifname \"%s\" arp saddr ether != %s drop\n%s%s"
			   "\t}\n}\n",
			   table, table, table, p->ifname, p->mac, p->ifname, p->mac,
			   ipr, lim ? lim : "");
	if (!script || (p->rate && !lim))
		return -ENOMEM;
	r = net_run(argv, script, NULL, &err);
	if (r == 0)
		return 0;
	snprintf(errbuf, errsize, "cannot install antispoofing rules for '%s' (nft): %s",
		 p->ifname, r < 0 ? strerror(-r) : err);
	return r < 0 ? r : -EIO;
}

/* True if Open vSwitch bridge BRIDGE uses the userspace datapath. */
static bool ovs_userspace(const char *bridge)
{
	char *argv[] = { "ovs-vsctl", "--timeout=10", "get", "bridge", (char *)bridge,
			 "datapath_type", NULL };
	_cleanup_free_ char *out = NULL;

	return net_run(argv, NULL, &out, NULL) == 0 && startswith(out, "netdev");
}

/* The userspace datapath reads a system port through an AF_PACKET socket,
 * which leaves the frame to the host's own stack as well: a guest could
 * reach the host's addresses through its tap, around every flow (and its
 * meter). A netdev-family ingress chain dropping everything runs after the
 * AF_PACKET taps, so Open vSwitch still gets each frame and the host none. */
int net_ovs_tap_guard(const struct net_port *p, const char *bridge, char *errbuf,
		      size_t errsize)
{
	_cleanup_free_ char *table = net_nft_table(p->owner, p->domid, p->devid);
	_cleanup_free_ char *script = NULL, *err = NULL;
	char *argv[] = { "nft", "-f", "-", NULL };
	int r;

	if (!ovs_userspace(bridge))
		return 0;
	if (!table)
		return -ENOMEM;
	script = strprintf("table netdev %s\ndelete table netdev %s\n"
			   "table netdev %s {\n"
			   "\tchain host {\n"
			   "\t\ttype filter hook ingress device \"%s\" priority 0; policy drop;\n"
			   "\t}\n}\n", table, table, table, p->ifname);
	if (!script)
		return -ENOMEM;
	r = net_run(argv, script, NULL, &err);
	if (r == 0)
		return 0;
	snprintf(errbuf, errsize, "cannot keep '%s' away from the host's stack (nft): %s",
		 p->ifname, r < 0 ? strerror(-r) : err);
	return r < 0 ? r : -EIO;
}

/* The OpenFlow rules of P's ip= on port OFPORT (cookie C): IPv4, ARP and
 * IPv6 from listed addresses (link-local: the MAC's own; "::" for DAD and
 * MLD), neighbour advertisements only for listed targets. */
static void ovs_ip_flows(char **f, const struct net_port *p, unsigned long long c, long ofport,
			 char *v4, char *v6)
{
	_cleanup_free_ char *targets = strdup(v6);
	char *save = NULL, *save2 = NULL;
	const char *na = "icmp6,icmp_type=136,icmp_code=0";

	addf(f, "cookie=%#llx,priority=90,in_port=%ld,ip,actions=drop\n"
		"cookie=%#llx,priority=90,in_port=%ld,arp,actions=drop\n"
		"cookie=%#llx,priority=90,in_port=%ld,ipv6,actions=drop\n"
		"cookie=%#llx,priority=110,in_port=%ld,%s,actions=drop\n"
		"cookie=%#llx,priority=100,in_port=%ld,dl_src=%s,icmp6,ipv6_src=::,"
		"actions=NORMAL\n", c, ofport, c, ofport, c, ofport, c, ofport, na, c, ofport, p->mac);
	for (char *a = strtok_r(v4, ", ", &save); a; a = strtok_r(NULL, ", ", &save))
		addf(f, "cookie=%#llx,priority=100,in_port=%ld,dl_src=%s,ip,nw_src=%s,"
			"actions=NORMAL\n"
			"cookie=%#llx,priority=100,in_port=%ld,dl_src=%s,arp,arp_sha=%s,arp_spa=%s,"
			"actions=NORMAL\n", c, ofport, p->mac, a, c, ofport, p->mac, p->mac, a);
	if (!targets) {
		free(*f);
		*f = NULL;
		return;
	}
	for (char *a = strtok_r(v6, ", ", &save); a; a = strtok_r(NULL, ", ", &save)) {
		addf(f, "cookie=%#llx,priority=100,in_port=%ld,dl_src=%s,ipv6,ipv6_src=%s,"
			"actions=NORMAL\n", c, ofport, p->mac, a);
		_cleanup_free_ char *t6 = strdup(targets);
		if (!t6) {
			free(*f);
			*f = NULL;
			return;
		}
		for (char *t = strtok_r(t6, ", ", &save2); t; t = strtok_r(NULL, ", ", &save2))
			addf(f, "cookie=%#llx,priority=120,in_port=%ld,dl_src=%s,%s,ipv6_src=%s,"
				"nd_target=%s,actions=NORMAL\n", c, ofport, p->mac, na, a, t);
	}
}

int net_antispoof_ovs(const struct net_port *p, const char *bridge, long ofport, char *errbuf,
		      size_t errsize)
{
	_cleanup_free_ char *flows = NULL, *err = NULL, *v4 = NULL, *v6 = NULL;
	char *argv[] = { "ovs-ofctl", "-O", "OpenFlow13", "add-flows", (char *)bridge, "-", NULL };
	unsigned long long c = net_cookie(p->owner, p->domid, p->devid);
	int r;

	if (p->ip && (r = net_addr_lists(p->ip, p->mac, &v4, &v6)) < 0)
		return r;
	flows = strprintf("cookie=%#llx,priority=80,in_port=%ld,dl_src=%s,actions=NORMAL\n"
			  "cookie=%#llx,priority=70,in_port=%ld,actions=drop\n",
			  c, ofport, p->mac, c, ofport);
	if (p->ip)
		ovs_ip_flows(&flows, p, c, ofport, v4, v6);
	if (flows && p->rate) {
		char *metered = net_meter_flows(flows, net_meter_id(p->domid, p->devid));
		free(flows);
		flows = metered;
		if (flows && net_meter_add(p, bridge, errbuf, errsize) < 0)
			return -EIO;
	}
	if (!flows)
		return -ENOMEM;
	r = net_run(argv, flows, NULL, &err);
	if (r == 0)
		return 0;
	snprintf(errbuf, errsize, "cannot install antispoofing flows for '%s' (ovs-ofctl): %s",
		 p->ifname, r < 0 ? strerror(-r) : err);
	return r < 0 ? r : -EIO;
}

int net_nft_release(const char *owner, int domid, int devid, const int *alive, size_t n_alive)
{
	char *list[] = { "nft", "list", "tables", NULL };
	_cleanup_free_ char *out = NULL, *prefix = strprintf("domus_%s_", owner);
	char *save = NULL;
	int n = 0;

	if (!prefix || net_run(list, NULL, &out, NULL) != 0)
		return 0;  /* no nftables here */
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char family[16], name[64];
		int d, v;
		if (sscanf(line, "table %15s %63s", family, name) != 2 ||
		    (strcmp(family, "bridge") && strcmp(family, "netdev")) ||
		    !startswith(name, prefix) ||
		    sscanf(name + strlen(prefix), "%d_%d", &d, &v) != 2)
			continue;
		if (alive ? net_domid_in(d, alive, n_alive) : d != domid || (devid >= 0 && v != devid))
			continue;
		char *del[] = { "nft", "delete", "table", family, name, NULL };
		if (net_run(del, NULL, NULL, NULL) == 0)
			n++;
	}
	return n;
}

static int del_flows(const char *bridge, uint64_t cookie, uint64_t mask)
{
	_cleanup_free_ char *match = strprintf("cookie=%#llx/%#llx", (unsigned long long)cookie,
					       (unsigned long long)mask);
	char *argv[] = { "ovs-ofctl", "del-flows", (char *)bridge, match, NULL };

	return match ? net_run(argv, NULL, NULL, NULL) : -ENOMEM;
}

/* Delete the flows on BRIDGE of domains of OWNER that are not in ALIVE. */
static int flows_reconcile(const char *bridge, const char *owner, const int *alive, size_t n_alive)
{
	char *argv[] = { "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", (char *)bridge, NULL };
	_cleanup_free_ char *out = NULL;
	uint64_t own = net_cookie(owner, 0, 0);
	int n = 0;

	if (net_run(argv, NULL, &out, NULL) != 0)
		return 0;
	for (char *p = strstr(out, "cookie=0x"); p; p = strstr(p + 1, "cookie=0x")) {
		uint64_t c = strtoull(p + 7, NULL, 16);
		int d = (int)((c >> 8) & 0xffffff);
		if ((c >> 32) == (own >> 32) && !net_domid_in(d, alive, n_alive) &&
		    del_flows(bridge, c & ~0xffull, ~0xffull) == 0) {
			net_meter_del(bridge, d, -1);
			n++;
		}
	}
	return n;
}

int net_flows_release(const char *owner, int domid, int devid, const int *alive,
		      size_t n_alive)
{
	char *argv[] = { "ovs-vsctl", "--timeout=10", "list-br", NULL };
	_cleanup_free_ char *out = NULL;
	char *save = NULL;
	int n = 0;

	if (!net_ovs_running() || net_run(argv, NULL, &out, NULL) != 0)
		return 0;  /* no Open vSwitch here */
	for (char *br = strtok_r(out, "\n", &save); br; br = strtok_r(NULL, "\n", &save)) {
		if (alive) {
			n += flows_reconcile(br, owner, alive, n_alive);
		} else {
			del_flows(br, net_cookie(owner, domid, devid < 0 ? 0 : (unsigned)devid),
				  devid < 0 ? ~0xffull : ~0ull);
			net_meter_del(br, domid, devid);
		}
	}
	return n;
}
