/* net-ports.c - time src/net's port plumbing (bench/net.sh): create N
 * persistent taps, then plug each into BRIDGE with antispoofing
 * (net_port_attach) and take them away (net_port_release), and print the
 * milliseconds each phase took. Usage: domus-net-bench BRIDGE N */
#include "net/net.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int tap_persist(const char *name, bool on)
{
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr = { 0 };

	if (fd < 0)
		return -errno;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, on ? 1 : 0) < 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct net_bridge_spec b;
	enum net_bridge_kind kind;
	char err[400], owner[9] = "0bench00";
	int n = argc == 3 ? atoi(argv[2]) : 0;
	uint64_t t0, t1, t2;

	if (n <= 0 || n > 250 || net_bridge_resolve(argv[1], &b, &kind, err, sizeof(err)) < 0) {
		fprintf(stderr, "usage: domus-net-bench BRIDGE N (N <= 250)%s%s\n", n ? ": " : "",
			n ? err : "");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		char name[IFNAMSIZ];
		snprintf(name, sizeof(name), "bvif%d.0", i);
		if (tap_persist(name, true) < 0)
			return fprintf(stderr, "cannot create tap %s\n", name), 1;
	}
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		char name[IFNAMSIZ], mac[18], ip[16];
		snprintf(name, sizeof(name), "bvif%d.0", i);
		snprintf(mac, sizeof(mac), "00:16:3e:99:00:%02x", i);
		snprintf(ip, sizeof(ip), "10.123.0.%d", i + 2);
		struct net_port p = { .owner = owner, .domid = i + 1, .devid = 0, .ifname = name,
				      .mac = mac, .ip = ip };
		if (net_port_attach(&p, &b, kind, err, sizeof(err)) < 0)
			return fprintf(stderr, "%s\n", err), 1;
	}
	t1 = now_us();
	for (int i = 0; i < n; i++)
		net_port_release(owner, i + 1, -1);
	t2 = now_us();
	for (int i = 0; i < n; i++) {
		char name[IFNAMSIZ];
		snprintf(name, sizeof(name), "bvif%d.0", i);
		tap_persist(name, false);
	}
	printf("create_ms %.1f teardown_ms %.1f\n", (double)(t1 - t0) / 1000.0,
	       (double)(t2 - t1) / 1000.0);
	return 0;
}
