/* vifspec.c - one `vif = [...]` entry (xl-network-configuration(5)).
 *
 * A spec is comma-separated KEY=VALUE items with blanks allowed around them
 * ('mac=00:16:3e:00:00:01, bridge=xenbr0'). Every value is checked: MAC
 * addresses (normalised to lowercase), IP addresses, interface names and the
 * rate syntax; an unknown key is an error, never silently ignored.
 */
#include "config/domcfg.h"
#include "config/internal.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void vif_spec_release(struct vif_spec *v)
{
	if (!v)
		return;
	free(v->mac);
	free(v->bridge);
	free(v->ip);
	free(v->vifname);
	free(v->model);
	free(v->rate);
	free(v->script);
	free(v->type);
	free(v->gatewaydev);
	free(v->port);
	*v = (struct vif_spec){ 0 };
}

/* Six two-digit hex octets separated by ':'; lowercased in place. */
static bool mac_valid(char *m)
{
	unsigned first;

	if (strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
			return false;
		m[i] = (char)tolower((unsigned char)m[i]);
	}
	first = (unsigned)strtoul(m, NULL, 16);
	return !(first & 1) && strcmp(m, "00:00:00:00:00:00") != 0;
}

/* Space-separated IPv4 or IPv6 addresses. */
static bool ips_valid(const char *s)
{
	_cleanup_free_ char *c = strdup(s);
	char *save = NULL, *tok;
	bool any = false;

	if (!c)
		return false;
	for (tok = strtok_r(c, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		unsigned char buf[16];
		if (inet_pton(AF_INET, tok, buf) != 1 && inet_pton(AF_INET6, tok, buf) != 1)
			return false;
		any = true;
	}
	return any;
}

/* NAME, NAME.VLAN or NAME:VLAN:VLAN... (Open vSwitch access and trunk
 * ports; src/net checks the VLAN numbers). */
static bool bridge_valid(const char *s)
{
	_cleanup_free_ char *name = strndup(s, strcspn(s, ":"));
	const char *rest = s + strcspn(s, ":");
	char *dot;

	if (!name || strspn(rest, ":0123456789") != strlen(rest))
		return false;
	dot = strrchr(name, '.');
	if (strlen(name) > 15 && dot && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1))
		*dot = '\0';
	return ifname_valid(name);
}

static bool model_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && !strchr("_-", *s))
			return false;
	return true;
}

/* Read a decimal integer at *P (advancing it); -EINVAL if none or too big. */
static int read_u64(const char **p, uint64_t *ret)
{
	uint64_t v = 0;
	const char *s = *p;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*ret = v;
	return 0;
}

/* Multiply with overflow check. */
static int mul(uint64_t *v, uint64_t m)
{
	if (m != 0 && *v > UINT64_MAX / m)
		return -EINVAL;
	*v *= m;
	return 0;
}

static int rate_unit(const char **p, uint64_t *bytes)
{
	static const struct { const char *unit; uint64_t mult; bool bits; } units[] = {
		{ "GB", 1000000000, false }, { "MB", 1000000, false }, { "KB", 1000, false },
		{ "B", 1, false }, { "Gb", 1000000000, true }, { "Mb", 1000000, true },
		{ "Kb", 1000, true }, { "b", 1, true },
	};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (!startswith(*p, units[i].unit))
			continue;
		*p += strlen(units[i].unit);
		if (mul(bytes, units[i].mult) < 0)
			return -EINVAL;
		if (units[i].bits)
			*bytes /= 8;
		return 0;
	}
	return -EINVAL;
}

static int interval_unit(const char *p, uint64_t *us)
{
	if (!strcmp(p, "s"))
		return mul(us, 1000000);
	if (!strcmp(p, "ms"))
		return mul(us, 1000);
	return strcmp(p, "us") ? -EINVAL : 0;
}

int vif_rate_parse(const char *rate, uint64_t *ret_bytes_per_sec, uint64_t *ret_interval_us)
{
	const char *p = rate;
	uint64_t bytes, us = VIF_RATE_DEFAULT_INTERVAL_US;

	if (read_u64(&p, &bytes) < 0 || rate_unit(&p, &bytes) < 0 || !startswith(p, "/s"))
		return -EINVAL;
	p += 2;
	if (*p == '@') {
		p++;
		if (read_u64(&p, &us) < 0 || interval_unit(p, &us) < 0)
			return -EINVAL;
	} else if (*p != '\0') {
		return -EINVAL;
	}
	if (us == 0 || us > 10000000 || bytes == 0)
		return -EINVAL;
	/* bytes per interval: at least one, and it must fit in 32 bits */
	if (bytes > UINT64_MAX / us || bytes * us < 1000000 || bytes * us / 1000000 > UINT32_MAX)
		return -EINVAL;
	*ret_bytes_per_sec = bytes;
	*ret_interval_us = us;
	return 0;
}

/* The field of V that KEY sets, or NULL. */
static char **field_of(struct vif_spec *v, const char *key)
{
	static const struct { const char *key; size_t off; } fields[] = {
		{ "mac", offsetof(struct vif_spec, mac) },
		{ "bridge", offsetof(struct vif_spec, bridge) },
		{ "ip", offsetof(struct vif_spec, ip) },
		{ "vifname", offsetof(struct vif_spec, vifname) },
		{ "model", offsetof(struct vif_spec, model) },
		{ "rate", offsetof(struct vif_spec, rate) },
		{ "script", offsetof(struct vif_spec, script) },
		{ "type", offsetof(struct vif_spec, type) },
		{ "gatewaydev", offsetof(struct vif_spec, gatewaydev) },
	};

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (!strcmp(key, fields[i].key))
			return (char **)((char *)v + fields[i].off);
	return NULL;
}

/* Check VALUE (modifiable: a MAC is lowercased) for KEY. */
static int check_value(const char *key, char *value, char *err, size_t errsize)
{
	uint64_t b, us;
	bool ok;

	if (!strcmp(key, "mac"))
		ok = mac_valid(value);
	else if (!strcmp(key, "ip"))
		ok = ips_valid(value);
	else if (!strcmp(key, "bridge"))
		ok = bridge_valid(value);
	else if (!strcmp(key, "vifname") || !strcmp(key, "gatewaydev"))
		ok = ifname_valid(value);
	else if (!strcmp(key, "model"))
		ok = model_valid(value);
	else if (!strcmp(key, "rate"))
		ok = vif_rate_parse(value, &b, &us) == 0;
	else if (!strcmp(key, "type"))
		ok = !strcmp(value, "vif") || !strcmp(value, "ioemu");
	else
		ok = *value != '\0' && strlen(value) < 256;
	if (ok)
		return 0;
	if (!strcmp(key, "mac"))
		return spec_error(err, errsize, "invalid mac '%s' (expected six hex octets "
				  "like 00:16:3e:12:34:56, not multicast)", value);
	if (!strcmp(key, "rate"))
		return spec_error(err, errsize, "invalid rate '%s' (expected RATE/s[@INTERVAL] "
				  "like 10Mb/s or 1MB/s@20ms)", value);
	if (!strcmp(key, "type"))
		return spec_error(err, errsize, "invalid type '%s' (expected vif or ioemu)", value);
	return spec_error(err, errsize, "invalid %s '%s'", key, value);
}

static int one_item(struct vif_spec *v, char *item, char *err, size_t errsize)
{
	char *eq = strchr(item, '='), *key, *value, **field;

	if (!eq)
		return spec_error(err, errsize, "expected KEY=VALUE, found '%s'", item);
	*eq = '\0';
	key = strip_blanks(item);
	value = strip_blanks(eq + 1);
	field = field_of(v, key);
	if (!field)
		return spec_error(err, errsize, "unknown vif parameter '%s' (known: mac, bridge, "
				  "ip, vifname, model, rate, script, type, gatewaydev)", key);
	if (*field)
		return spec_error(err, errsize, "vif parameter '%s' given twice", key);
	if (check_value(key, value, err, errsize) < 0)
		return -EINVAL;
	*field = strdup(value);
	return *field ? 0 : -ENOMEM;
}

int vif_spec_parse(const char *spec, struct vif_spec *ret, char *errbuf, size_t errsize)
{
	struct vif_spec v = { 0 };
	_cleanup_free_ char *buf = NULL;
	char *save = NULL, *item;
	int r = 0;

	if (strlen(spec) > SPEC_MAX_LEN)
		return spec_error(errbuf, errsize, "vif spec longer than %d bytes", SPEC_MAX_LEN);
	buf = strdup(spec);
	if (!buf)
		return -ENOMEM;
	for (item = strtok_r(buf, ",", &save); item && r == 0; item = strtok_r(NULL, ",", &save)) {
		item = strip_blanks(item);
		if (*item)
			r = one_item(&v, item, errbuf, errsize);
	}
	if (r < 0) {
		if (r != -EINVAL)
			spec_error(errbuf, errsize, "out of memory");
		vif_spec_release(&v);
		return r;
	}
	*ret = v;
	return 0;
}
