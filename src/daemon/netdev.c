/* netdev.c - host interface names (bridge ports are src/net's). */
#include "daemon/netdev.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <net/if.h>
#include <string.h>

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
