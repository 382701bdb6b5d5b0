/* bridge.c - vif bridge= specs (NAME, NAME.VLAN, NAME:VLAN:VLAN...) and
 * which kind of bridge a name is on this host. */
#include "net/net.h"
#include "net/internal.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *errbuf, size_t errsize, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *errbuf, size_t errsize, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, errsize, fmt, ap);
	va_end(ap);
	return r;
}

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n >= IFNAMSIZ)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f || s[i] == '/' || s[i] == ':')
			return false;
	return !(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.');
}

/* A VLAN id 1-4094 spelled in decimal, the whole of [S, S+N). */
static int vlan_parse(const char *s, size_t n, unsigned *ret)
{
	unsigned v = 0;

	if (n == 0 || n > 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > 4094)
		return -ERANGE;
	*ret = v;
	return 0;
}

static int parse_trunks(const char *spec, const char *colon, struct net_bridge_spec *b,
			char *errbuf, size_t errsize)
{
	const char *p = colon;

	while (*p == ':') {
		const char *s = p + 1;
		size_t n = strcspn(s, ":");
		unsigned v;

		if (vlan_parse(s, n, &v) < 0)
			return fail(errbuf, errsize, -EINVAL, "bridge '%s': VLAN '%.*s' is not "
				    "a number from 1 to 4094", spec, (int)n, s);
		for (size_t i = 0; i < b->n_trunks; i++)
			if (b->trunks[i] == v)
				return fail(errbuf, errsize, -EINVAL,
					    "bridge '%s': VLAN %u is listed twice", spec, v);
		if (b->n_trunks == NET_MAX_TRUNKS)
			return fail(errbuf, errsize, -EINVAL, "bridge '%s': more than %d "
				    "trunk VLANs", spec, NET_MAX_TRUNKS);
		b->trunks[b->n_trunks++] = v;
		p = s + n;
	}
	return 0;
}

int net_bridge_spec_parse(const char *spec, struct net_bridge_spec *ret, char *errbuf,
			  size_t errsize)
{
	struct net_bridge_spec b = { 0 };
	const char *colon = strchr(spec, ':');
	const char *dot;
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);

	dot = colon ? NULL : strrchr(spec, '.');
	if (dot && dot != spec && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1)) {
		if (vlan_parse(dot + 1, strlen(dot + 1), &b.vlan) < 0)
			return fail(errbuf, errsize, -EINVAL, "bridge '%s': VLAN '%s' is not a "
				    "number from 1 to 4094", spec, dot + 1);
		n = (size_t)(dot - spec);
	}
	if (!name_ok(spec, n))
		return fail(errbuf, errsize, -EINVAL, "bridge '%s': invalid bridge name", spec);
	memcpy(b.name, spec, n);
	if (colon && parse_trunks(spec, colon, &b, errbuf, errsize) < 0)
		return -EINVAL;
	*ret = b;
	return 0;
}

bool net_is_linux_bridge(const char *name)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;

	if (!name_ok(name, strlen(name)))
		return false;
	path = strprintf("/sys/class/net/%s/bridge", name);
	return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool net_ovs_running(void)
{
	const char *dir = getenv("OVS_RUNDIR");
	_cleanup_free_ char *sock = strprintf("%s/db.sock", dir && *dir ? dir : "/var/run/openvswitch");

	return !sock || access(sock, F_OK) == 0;
}

bool net_is_ovs_bridge(const char *name)
{
	char *argv[] = { "ovs-vsctl", "--timeout=5", "br-exists", (char *)name, NULL };

	return name_ok(name, strlen(name)) && net_ovs_running() &&
	       net_run(argv, NULL, NULL, NULL) == 0;
}

int net_bridge_resolve(const char *spec, struct net_bridge_spec *ret,
		       enum net_bridge_kind *ret_kind, char *errbuf, size_t errsize)
{
	struct net_bridge_spec b;
	int r;

	if (net_is_linux_bridge(spec)) {
		*ret = (struct net_bridge_spec){ 0 };
		strcpy(ret->name, spec);
		*ret_kind = NET_BRIDGE_LINUX;
		return 0;
	}
	r = net_bridge_spec_parse(spec, &b, errbuf, errsize);
	if (r < 0)
		return r;
	if (net_is_ovs_bridge(b.name)) {
		*ret = b;
		*ret_kind = NET_BRIDGE_OVS;
		return 0;
	}
	if (net_is_linux_bridge(b.name))
		return fail(errbuf, errsize, -EINVAL, "bridge '%s': VLANs need an Open vSwitch "
			    "bridge, '%s' is a Linux bridge", spec, b.name);
	return fail(errbuf, errsize, -ENODEV, "bridge '%s' does not exist", b.name);
}
