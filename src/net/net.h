/* net.h - the host side of domain networking: ports on Linux or Open vSwitch
 * bridges (access and trunk VLANs), antispoofing rules, and the clean-up of
 * everything a domain plugged in.
 *
 * Everything Domus creates carries the instance's owner id (net_owner_id())
 * so that a restarted daemon can find and remove what belonged to domains
 * that no longer exist: OVS interfaces have external_ids domus-owner,
 * domus-domid and domus-devid; OpenFlow rules have a cookie whose upper 32
 * bits are the owner id; nftables tables are called
 * domus_<owner>_<domid>_<devid> (bridge family).
 *
 * Tools run as subprocesses without a shell (ovs-vsctl, ovs-ofctl, nft);
 * their input goes through a pipe. Functions return 0 or -errno and fill
 * ERRBUF (lowercase, problem first) on failure.
 */
#ifndef DOMUS_NET_H
#define DOMUS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_MAX_TRUNKS 32

enum net_bridge_kind { NET_BRIDGE_LINUX = 1, NET_BRIDGE_OVS = 2 };

/* A vif's bridge= value: NAME, NAME.VLAN (OVS access port) or
 * NAME:VLAN1:VLAN2... (OVS trunk), as xl's vif-openvswitch reads it. */
struct net_bridge_spec {
	char name[16];
	unsigned vlan;                    /* access VLAN 1-4094, or 0 */
	unsigned trunks[NET_MAX_TRUNKS];  /* trunk VLANs, n_trunks of them */
	size_t n_trunks;
};

/* Parse SPEC syntactically. Returns 0, or -EINVAL with ERRBUF filled (bad
 * name, VLAN outside 1-4094, too many or repeated trunk VLANs). */
int net_bridge_spec_parse(const char *spec, struct net_bridge_spec *ret, char *errbuf,
			  size_t errsize);

/* Parse SPEC and find the bridge on this host: a Linux bridge called SPEC
 * wins (a Linux bridge may have a '.' in its name); otherwise NAME must be
 * an Open vSwitch bridge, and VLANs are refused on Linux bridges. */
int net_bridge_resolve(const char *spec, struct net_bridge_spec *ret,
		       enum net_bridge_kind *ret_kind, char *errbuf, size_t errsize);

/* True if NAME is a Linux bridge / an Open vSwitch bridge. */
bool net_is_linux_bridge(const char *name);
bool net_is_ovs_bridge(const char *name);

/* One vif's port. */
struct net_port {
	const char *owner;    /* net_owner_id() */
	int domid;
	unsigned devid;
	const char *ifname;   /* the tap */
	const char *mac;      /* "00:16:3e:..." */
	const char *ip;       /* space-separated addresses (antispoofing), or NULL */
	uint64_t rate;        /* rate= in bytes per second, 0 = unlimited */
	uint64_t rate_interval_us;  /* rate='s @INTERVAL: sets the burst */
};

/* Plug the existing tap P->ifname into the bridge B of KIND, bring it up,
 * and install the antispoofing rules (source MAC always; with P->ip, IPv4,
 * ARP and IPv6 sources and neighbour advertisement targets too) and the rate limits (P->rate: the guest's
 * receive side shaped by a tbf qdisc on the tap, its transmit side policed
 * by nftables on Linux bridges or an OpenFlow meter on OVS). On an OVS
 * bridge with the userspace datapath the tap is also kept from the host's
 * own stack (nftables netdev ingress). On failure nothing of the port is
 * left. */
int net_port_attach(const struct net_port *p, const struct net_bridge_spec *b,
		    enum net_bridge_kind kind, char *errbuf, size_t errsize);

/* Remove the ports, flows and rules of domain DOMID (DEVID < 0: all its
 * vifs). Missing pieces are not an error. */
int net_port_release(const char *owner, int domid, int devid);

/* Remove whatever OWNER created for domains not in ALIVE (N_ALIVE ids).
 * Returns the number of domains cleaned up, or -errno. */
int net_reconcile(const char *owner, const int *alive, size_t n_alive);

/* The IPv6 link-local address a guest with MAC derives (EUI-64, Linux's
 * default addr_gen_mode), in RET. -EINVAL if MAC is malformed. */
int net_mac_link_local(const char *mac, char ret[46]);

/* Split IP (ip=, space-separated IPv4 and IPv6 addresses, or NULL) into
 * the addresses a port with MAC may send from: *RET_V4 the IPv4 ones,
 * *RET_V6 its MAC's link-local address then the IPv6 ones, each canonical
 * and ", "-separated (nftables set syntax; "" when none). -EINVAL on a
 * token that is no address. */
int net_addr_lists(const char *ip, const char *mac, char **ret_v4, char **ret_v6);

/* The owner id of the instance rooted at ROOT ("" for "/"): 8 hex digits. */
void net_owner_id(const char *root, char ret[9]);

/* Run ARGV (argv[0] looked up in PATH) with INPUT (or nothing) on its
 * stdin. Returns its exit status (0-255), or -errno if it could not run.
 * RET_OUT (optional) gets its stdout; RET_ERR (optional) the first line of
 * its stderr, or "" . */
int net_run(char *const argv[], const char *input, char **ret_out, char **ret_err);

#endif
