/* fuzz-net.c - vif bridge= specs (NAME, NAME.VLAN, NAME:VLAN:...) and ip=
 * address lists: parsed without crashing, and what parses is sane (every
 * address of an ip= list comes back canonical, in its family's list). */
#include "net/net.h"

#include <arpa/inet.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every ", "-separated address of LIST is one of FAMILY in canonical form. */
static void check_list(char *list, int family)
{
	char *save = NULL;

	for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		unsigned char buf[16];
		char canon[46];
		if (inet_pton(family, t, buf) != 1 || !inet_ntop(family, buf, canon, sizeof(canon)) ||
		    strcmp(canon, t))
			abort();
	}
}

static void fuzz_ip_list(const char *s)
{
	char *v4 = NULL, *v6 = NULL;

	if (net_addr_lists(s, "00:16:3e:00:00:01", &v4, &v6) < 0)
		return;
	check_list(v4, AF_INET);
	if (strncmp(v6, "fe80::216:3eff:fe00:1", 21))
		abort();
	check_list(v6, AF_INET6);
	free(v4);
	free(v6);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_bridge_spec b;
	char err[256];
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (net_bridge_spec_parse(s, &b, err, sizeof(err)) == 0) {
		if (strlen(b.name) == 0 || strlen(b.name) > 15 || b.vlan > 4094 ||
		    b.n_trunks > NET_MAX_TRUNKS || (b.vlan && b.n_trunks))
			abort();
		for (size_t i = 0; i < b.n_trunks; i++)
			if (b.trunks[i] < 1 || b.trunks[i] > 4094)
				abort();
	}
	fuzz_ip_list(s);
	free(s);
	return 0;
}
