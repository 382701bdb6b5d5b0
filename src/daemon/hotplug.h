/* hotplug.h - network-attach, network-detach and the vif list of a running
 * domain. */
#ifndef DOMUS_HOTPLUG_H
#define DOMUS_HOTPLUG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct domain;

/* Add a NIC described by the vif SPEC (xl syntax; bridge= required) to D.
 * On success *RET_DEVID is its device id. Nothing is left on failure. */
int domain_nic_attach(struct domain *d, const char *spec, int *ret_devid, char *errbuf,
		      size_t errsize);

/* Remove the NIC with device id or MAC WHICH from D (the guest is asked
 * first: PCIe hot unplug). */
int domain_nic_detach(struct domain *d, const char *which, char *errbuf, size_t errsize);

/* D's vifs: [{devid, mac, bridge, ifname, hotplug}] (new reference). */
json_t *domain_nic_list(struct domain *d);

/* True if D's NICs are no longer those of its config (attached or detached
 * since it started). */
bool domain_nics_changed(struct domain *d);

/* If D's NICs changed, rewrite CFG (D's config as JSON) to describe them
 * as they are, each on its device id and root port, so that a save or
 * migration brings back the same devices. -EOPNOTSUPP for an HVM domain
 * (its NICs have no ports to name). */
int domain_nic_carry(struct domain *d, json_t *cfg);

#endif
