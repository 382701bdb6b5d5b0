/* addrs.c - a vif's ip= list split by family for the antispoofing rules,
 * and the IPv6 link-local address a guest derives from its MAC. */
#include "net/net.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_mac_link_local(const char *mac, char ret[46])
{
	unsigned m[6];
	struct in6_addr a = { .s6_addr = { 0xfe, 0x80 } };
	char end;

	if (!mac || strlen(mac) != 17 ||
	    sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4],
		   &m[5], &end) != 6)
		return -EINVAL;
	a.s6_addr[8] = (uint8_t)(m[0] ^ 2);
	a.s6_addr[9] = (uint8_t)m[1];
	a.s6_addr[10] = (uint8_t)m[2];
	a.s6_addr[11] = 0xff;
	a.s6_addr[12] = 0xfe;
	a.s6_addr[13] = (uint8_t)m[3];
	a.s6_addr[14] = (uint8_t)m[4];
	a.s6_addr[15] = (uint8_t)m[5];
	inet_ntop(AF_INET6, &a, ret, 46);
	return 0;
}

/* Append the canonical form of A to *LIST (", "-separated). */
static int append(char **list, const char *a)
{
	char *n = strprintf("%s%s%s", *list, **list ? ", " : "", a);

	if (!n)
		return -ENOMEM;
	free(*list);
	*list = n;
	return 0;
}

int net_addr_lists(const char *ip, const char *mac, char **ret_v4, char **ret_v6)
{
	_cleanup_free_ char *copy = strdup(ip ? ip : "");
	_cleanup_free_ char *v4 = strdup(""), *v6 = strdup("");
	char ll[46], *save = NULL;
	int r;

	if (!copy || !v4 || !v6)
		return -ENOMEM;
	if ((r = net_mac_link_local(mac, ll)) < 0 || (r = append(&v6, ll)) < 0)
		return r;
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		unsigned char buf[sizeof(struct in6_addr)];
		char canon[46];
		if (inet_pton(AF_INET, t, buf) == 1) {
			inet_ntop(AF_INET, buf, canon, sizeof(canon));
			r = append(&v4, canon);
		} else if (inet_pton(AF_INET6, t, buf) == 1) {
			inet_ntop(AF_INET6, buf, canon, sizeof(canon));
			r = strcmp(canon, ll) && strcmp(canon, "::") ? append(&v6, canon) : 0;
		} else {
			r = -EINVAL;
		}
		if (r < 0)
			return r;
	}
	*ret_v4 = TAKE_PTR(v4);
	*ret_v6 = TAKE_PTR(v6);
	return 0;
}
