/* internal.h - shared between the files of src/net. */
#ifndef DOMUS_NET_INTERNAL_H
#define DOMUS_NET_INTERNAL_H

#include "net/net.h"

/* Whether an Open vSwitch database answers where ovs-vsctl looks without
 * --db: $OVS_RUNDIR (default /var/run/openvswitch)/db.sock exists. Without
 * it every ovs-vsctl would fail: callers skip those runs. */
bool net_ovs_running(void);

/* The OpenFlow cookie of a port's flows: owner, domid, devid. */
uint64_t net_cookie(const char *owner, int domid, unsigned devid);

/* nftables table name of a port: domus_<owner>_<domid>_<devid>. */
char *net_nft_table(const char *owner, int domid, unsigned devid);

/* Install the antispoofing rules of P: an nftables table on a Linux bridge,
 * OpenFlow rules on OVS bridge BRIDGE (OFPORT: P's port number). */
int net_antispoof_linux(const struct net_port *p, char *errbuf, size_t errsize);
int net_antispoof_ovs(const struct net_port *p, const char *bridge, long ofport, char *errbuf,
		      size_t errsize);

/* On an OVS bridge with the userspace datapath, an nftables netdev table
 * (named like the port's bridge table) that keeps P's frames from the host's
 * own stack; nothing on other bridges. */
int net_ovs_tap_guard(const struct net_port *p, const char *bridge, char *errbuf,
		      size_t errsize);

/* The burst of P's rate limit in bytes: a rate interval's worth, at least
 * two full frames. */
uint64_t net_rate_burst(const struct net_port *p);

/* Shape what P's guest receives: a tbf qdisc on its tap. */
int net_rate_shape(const struct net_port *p, char *errbuf, size_t errsize);

/* The OpenFlow meter id of a port (at most 8 vifs per domain). */
unsigned net_meter_id(int domid, unsigned devid);

/* Create P's meter on BRIDGE; delete the meters of DOMID (DEVID < 0: all). */
int net_meter_add(const struct net_port *p, const char *bridge, char *errbuf, size_t errsize);
void net_meter_del(const char *bridge, int domid, int devid);

/* FLOWS with every actions=NORMAL sent through METER first. */
char *net_meter_flows(const char *flows, unsigned meter);

/* Remove the nftables tables of OWNER for which KEEP(domid, devid) is
 * false (KEEP NULL: those of DOMID, and DEVID unless it is negative). */
int net_nft_release(const char *owner, int domid, int devid, const int *alive, size_t n_alive);

/* Delete OWNER's flows on every OVS bridge: those of DOMID (DEVID < 0: all
 * its ports), or with ALIVE set those of domains not in ALIVE. */
int net_flows_release(const char *owner, int domid, int devid, const int *alive,
		      size_t n_alive);

/* True if DOMID is one of the N ids in ALIVE. */
bool net_domid_in(int domid, const int *alive, size_t n);

#endif
