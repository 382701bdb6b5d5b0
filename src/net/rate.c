/* rate.c - vif rate= limits: a tbf qdisc on the tap shapes what the guest
 * receives (tc); what it sends is policed by nftables (antispoof.c) on Linux
 * bridges and by an OpenFlow meter on Open vSwitch. */
#include "net/internal.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t net_rate_burst(const struct net_port *p)
{
	uint64_t b = p->rate * (p->rate_interval_us ? p->rate_interval_us : 50000) / 1000000;

	return b < 3028 ? 3028 : b;
}

unsigned net_meter_id(int domid, unsigned devid)
{
	return (((unsigned)domid & 0x7fff) << 3 | (devid & 7)) + 1;
}

int net_rate_shape(const struct net_port *p, char *errbuf, size_t errsize)
{
	_cleanup_free_ char *rate = strprintf("%llubps", (unsigned long long)p->rate);
	_cleanup_free_ char *burst = strprintf("%llu", (unsigned long long)net_rate_burst(p));
	_cleanup_free_ char *err = NULL;
	char *argv[] = { "tc", "qdisc", "replace", "dev", (char *)p->ifname, "root", "tbf",
			 "rate", rate, "burst", burst, "latency", "100ms", NULL };
	int r;

	if (!rate || !burst)
		return -ENOMEM;
	r = net_run(argv, NULL, NULL, &err);
	if (r == 0)
		return 0;
	snprintf(errbuf, errsize, "cannot limit the rate of '%s' (tc): %s", p->ifname,
		 r < 0 ? strerror(-r) : err);
	return r < 0 ? r : -EIO;
}

/* Create P's meter on BRIDGE (what the guest sends). */
int net_meter_add(const struct net_port *p, const char *bridge, char *errbuf, size_t errsize)
{
	unsigned long long kbit = (p->rate * 8 + 999) / 1000;
	/* a policer needs a deeper bucket than a shaper for TCP to reach the
	 * rate: half a second's worth, at least the interval's */
	uint64_t burst = p->rate / 2 > net_rate_burst(p) ? p->rate / 2 : net_rate_burst(p);
	unsigned long long bkbit = (burst * 8 + 999) / 1000;
	_cleanup_free_ char *spec = strprintf("meter=%u,kbps,burst,band=type=drop,rate=%llu,"
					      "burst_size=%llu", net_meter_id(p->domid, p->devid),
					      kbit, bkbit);
	_cleanup_free_ char *err = NULL;
	char *argv[] = { "ovs-ofctl", "-O", "OpenFlow13", "add-meter", (char *)bridge, spec, NULL };
	int r;

	if (!spec)
		return -ENOMEM;
	r = net_run(argv, NULL, NULL, &err);
	if (r == 0)
		return 0;
	snprintf(errbuf, errsize, "cannot limit the rate of '%s' (ovs-ofctl add-meter): %s",
		 p->ifname, r < 0 ? strerror(-r) : err);
	return r < 0 ? r : -EIO;
}

void net_meter_del(const char *bridge, int domid, int devid)
{
	for (int v = devid < 0 ? 0 : devid; v <= (devid < 0 ? 7 : devid); v++) {
		_cleanup_free_ char *spec = strprintf("meter=%u", net_meter_id(domid, (unsigned)v));
		char *argv[] = { "ovs-ofctl", "-O", "OpenFlow13", "del-meter", (char *)bridge, spec,
				 NULL };
		if (spec)
			net_run(argv, NULL, NULL, NULL);
	}
}

char *net_meter_flows(const char *flows, unsigned meter)
{
	_cleanup_free_ char *act = strprintf("actions=meter:%u,NORMAL", meter);
	const char *from = "actions=NORMAL";
	size_t n = 0, alen;
	char *out, *o;

	if (!act)
		return NULL;
	alen = strlen(act);
	for (const char *q = strstr(flows, from); q; q = strstr(q + 1, from))
		n++;
	out = malloc(strlen(flows) + n * alen + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *q = flows; *q;) {
		if (startswith(q, from)) {
			memcpy(o, act, alen);
			o += alen;
			q += strlen(from);
		} else {
			*o++ = *q++;
		}
	}
	*o = '\0';
	return out;
}
