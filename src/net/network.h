/* network.h - managed networks: a bridge Domus creates and keeps.
 *
 * `nat` networks are a Linux bridge with the subnet's first address, a
 * dnsmasq (DHCP and DNS, leases under STATE_DIR) and masquerading out of the
 * host's other interfaces (nftables table ip domus_<owner>_net_<name>),
 * where guests reach only DHCP, DNS and ping on the host itself; `bridge`
 * is a plain Linux bridge, `ovs` an Open vSwitch bridge. Definitions are
 * STATE_DIR/<name>.json; dnsmasq's pid file is RUN_DIR/<name>.pid.
 */
#ifndef DOMUS_NET_NETWORK_H
#define DOMUS_NET_NETWORK_H

#include <jansson.h>
#include <stddef.h>

struct net_env {
	const char *owner;      /* net_owner_id() */
	const char *state_dir;  /* ROOT/var/lib/domus/net */
	const char *run_dir;    /* ROOT/run/domus/net */
};

/* Define and bring up network NAME of TYPE ("nat", "bridge", "ovs");
 * SUBNET ("10.200.0.0/24") is required for nat and refused otherwise.
 * Refuses a NAME that is already an interface or a network. */
int net_network_create(const struct net_env *e, const char *name, const char *type,
		       const char *subnet, char *errbuf, size_t errsize);

/* Tear NAME down and forget it. */
int net_network_destroy(const struct net_env *e, const char *name, char *errbuf, size_t errsize);

/* The networks: [{name, type, subnet, gateway, up}]. */
int net_network_list(const struct net_env *e, json_t **ret);

/* Bring every defined network up (after a daemon or host restart); returns
 * how many failed. */
int net_networks_restore(const struct net_env *e);

#endif
