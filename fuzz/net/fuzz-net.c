/* fuzz-net.c - vif bridge= specs (NAME, NAME.VLAN, NAME:VLAN:...): parsed
 * without crashing, and what parses is sane. */
#include "net/net.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	free(s);
	return 0;
}
