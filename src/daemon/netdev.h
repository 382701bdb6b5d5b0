/* netdev.h - host network interfaces a domain's vifs plug into. */
#ifndef DOMUS_NETDEV_H
#define DOMUS_NETDEV_H

#include <stdbool.h>

/* True if an interface called NAME exists. */
bool netdev_exists(const char *name);

/* True if NAME is a valid interface name (1-15 chars, no '/', ':' or space). */
bool netdev_name_valid(const char *name);

#endif
