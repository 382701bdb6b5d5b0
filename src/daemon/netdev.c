/* netdev.c - bridge ports through the classic bridge ioctls. */
#include "daemon/netdev.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

bool netdev_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= IFNAMSIZ || streq(name, ".") || streq(name, ".."))
		return false;
	return strcspn(name, "/: \t\n") == n;
}

bool netdev_exists(const char *name)
{
	return netdev_name_valid(name) && if_nametoindex(name) != 0;
}

bool netdev_is_bridge(const char *name)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;

	if (!netdev_name_valid(name))
		return false;
	path = strprintf("/sys/class/net/%s/bridge", name);
	return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int netdev_bridge_add(const char *bridge, const char *ifname)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	unsigned idx = if_nametoindex(ifname);

	if (s < 0)
		return -errno;
	if (!idx)
		return -ENODEV;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, bridge, IFNAMSIZ - 1);
	ifr.ifr_ifindex = (int)idx;
	if (ioctl(s, SIOCBRADDIF, &ifr) < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}
