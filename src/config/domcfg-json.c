/* domcfg-json.c - a VM's configuration as JSON, both ways.
 *
 * domcfg_to_json() writes every field, in a fixed order, with null for an
 * unset string; domcfg_from_json() reads that form back, checking each
 * field's type and value (the JSON comes from disk or from a peer), so that
 * to_json(from_json(to_json(c))) equals to_json(c).
 */
#include "config/domcfg.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *disk_to_json(const struct disk_spec *d)
{
	return json_pack("{s:o, s:s, s:s, s:s, s:b, s:o, s:o, s:b}",
			 "target", str_or_null(d->target),
			 "vdev", d->vdev,
			 "format", disk_format_name(d->format),
			 "access", d->readonly ? "ro" : "rw",
			 "cdrom", d->cdrom,
			 "backendtype", str_or_null(d->backendtype),
			 "script", str_or_null(d->script),
			 "phy", d->phy);
}

json_t *domcfg_vif_to_json(const struct vif_spec *v)
{
	json_t *j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "mac", str_or_null(v->mac),
			 "bridge", str_or_null(v->bridge),
			 "ip", str_or_null(v->ip),
			 "vifname", str_or_null(v->vifname),
			 "model", str_or_null(v->model),
			 "rate", str_or_null(v->rate),
			 "script", str_or_null(v->script),
			 "type", str_or_null(v->type),
			 "gatewaydev", str_or_null(v->gatewaydev));

	if (j && v->port &&
	    (json_object_set_new(j, "port", json_string(v->port)) < 0 ||
	     json_object_set_new(j, "devid", json_integer(v->devid)) < 0)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Append MAKE(item) for N items; false on allocation failure. */
#define FILL_ARRAY(arr, items, n, make)                                       \
	({                                                                    \
		bool _ok = (arr) != NULL;                                     \
		for (size_t _i = 0; _ok && _i < (n); _i++)                    \
			_ok = json_array_append_new((arr), make(&(items)[_i])) == 0; \
		_ok;                                                          \
	})

json_t *domcfg_to_json(const struct domcfg *c)
{
	json_t *disks = json_array(), *vifs = json_array(), *warnings = json_array(), *j;
	bool ok = FILL_ARRAY(disks, c->disks, c->n_disks, disk_to_json) &&
		  FILL_ARRAY(vifs, c->vifs, c->n_vifs, domcfg_vif_to_json);

	for (char **w = c->warnings; ok && w && *w; w++)
		ok = json_array_append_new(warnings, json_string(*w)) == 0;
	if (!ok || !warnings) {
		json_decref(disks);
		json_decref(vifs);
		json_decref(warnings);
		return NULL;
	}
	/* json_pack steals the "o" references, even on failure */
	j = json_pack("{s:s, s:o, s:s, s:I, s:I, s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:o,"
			 " s:o, s:o, s:s, s:s, s:s, s:o, s:i, s:i, s:o, s:b, s:o, s:i, s:o, s:o}",
			 "name", c->name,
			 "uuid", str_or_null(c->uuid),
			 "type", dom_type_name(c->type),
			 "memory", (json_int_t)c->memory_mb,
			 "maxmem", (json_int_t)c->maxmem_mb,
			 "vcpus", (int)c->vcpus,
			 "maxvcpus", (int)c->maxvcpus,
			 "kernel", str_or_null(c->kernel),
			 "ramdisk", str_or_null(c->ramdisk),
			 "cmdline", str_or_null(c->cmdline),
			 "root", str_or_null(c->root),
			 "extra", str_or_null(c->extra),
			 "bootloader", str_or_null(c->bootloader),
			 "disks", disks,
			 "vifs", vifs,
			 "on_poweroff", dom_action_name(c->on_poweroff),
			 "on_reboot", dom_action_name(c->on_reboot),
			 "on_crash", dom_action_name(c->on_crash),
			 "serial", str_or_null(c->serial),
			 "cpu_weight", (int)c->cpu_weight,
			 "cap", (int)c->cap,
			 "boot", str_or_null(c->boot),
			 "vnc", c->vnc,
			 "vnclisten", str_or_null(c->vnclisten),
			 "vncdisplay", (int)c->vncdisplay,
			 "warnings", warnings,
			 "raw", c->raw ? json_incref(c->raw) : json_object());

	if (j && c->nic_ports && json_object_set_new(j, "nic_ports", json_integer(c->nic_ports)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Copy the string member KEY of O (null or absent: NULL) into *FIELD. */
static int get_str(json_t *o, const char *key, char **field)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	*field = strdup(json_string_value(v));
	return *field ? 0 : -ENOMEM;
}

static int get_uint(json_t *o, const char *key, uint64_t min, uint64_t max, uint64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max)
		return -EINVAL;
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_unsigned(json_t *o, const char *key, unsigned max, unsigned *ret)
{
	uint64_t v;
	int r = get_uint(o, key, 0, max, &v);

	if (r == 0)
		*ret = (unsigned)v;
	return r;
}

static int get_bool(json_t *o, const char *key, bool *ret)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		return -EINVAL;
	*ret = json_is_true(v);
	return 0;
}

/* An enum member: NAME -> value via FROM_NAME. */
static int get_enum(json_t *o, const char *key, int (*from_name)(const char *), int *ret)
{
	json_t *v = json_object_get(o, key);
	int e;

	if (!json_is_string(v))
		return -EINVAL;
	e = from_name(json_string_value(v));
	if (e < 0)
		return e;
	*ret = e;
	return 0;
}

static int disk_from_json(json_t *o, struct disk_spec *d)
{
	json_t *access = json_object_get(o, "access");
	int format = 0, r;

	if (!json_is_object(o) || !json_is_string(access))
		return -EINVAL;
	d->readonly = streq(json_string_value(access), "ro");
	if (!d->readonly && !streq(json_string_value(access), "rw"))
		return -EINVAL;
	if ((r = get_str(o, "target", &d->target)) < 0 || (r = get_str(o, "vdev", &d->vdev)) < 0 ||
	    (r = get_str(o, "backendtype", &d->backendtype)) < 0 ||
	    (r = get_str(o, "script", &d->script)) < 0 ||
	    (r = get_enum(o, "format", disk_format_from_name, &format)) < 0 ||
	    (r = get_bool(o, "cdrom", &d->cdrom)) < 0 || (r = get_bool(o, "phy", &d->phy)) < 0)
		return r;
	d->format = (enum disk_format)format;
	if (!d->vdev || !disk_vdev_valid(d->vdev) || !(d->target || d->cdrom))
		return -EINVAL;
	if (disk_target_is_nbd(d->target)) {
		struct disk_nbd n;
		char msg[256];
		if ((r = disk_nbd_parse(d->target, &n, msg, sizeof(msg))) < 0)
			return r;
		disk_nbd_release(&n);
	}
	return 0;
}

static int vif_from_json(json_t *o, struct vif_spec *v)
{
	int r;

	if (!json_is_object(o))
		return -EINVAL;
	if ((r = get_str(o, "mac", &v->mac)) < 0 || (r = get_str(o, "bridge", &v->bridge)) < 0 ||
	    (r = get_str(o, "ip", &v->ip)) < 0 || (r = get_str(o, "vifname", &v->vifname)) < 0 ||
	    (r = get_str(o, "model", &v->model)) < 0 || (r = get_str(o, "rate", &v->rate)) < 0 ||
	    (r = get_str(o, "script", &v->script)) < 0 || (r = get_str(o, "type", &v->type)) < 0 ||
	    (r = get_str(o, "gatewaydev", &v->gatewaydev)) < 0 || (r = get_str(o, "port", &v->port)) < 0)
		return r;
	if (v->port) {
		uint64_t devid;
		unsigned n;
		int end = 0;

		if (get_uint(o, "devid", 0, DOMCFG_VIF_DEVID_MAX, &devid) < 0 ||
		    (sscanf(v->port, "np%u%n", &n, &end) != 1 && sscanf(v->port, "hp%u%n", &n, &end) != 1) ||
		    v->port[end] != '\0' || n > DOMCFG_VIF_DEVID_MAX)
			return -EINVAL;
		v->devid = (unsigned)devid;
	}
	return 0;
}

/* Carried placements (vif ports) are all or none, without two NICs on a
 * device id or a port. */
static int placements_valid(const struct domcfg *c)
{
	for (size_t i = 0; i < c->n_vifs; i++) {
		if (!c->vifs[i].port != !c->vifs[0].port)
			return -EINVAL;
		for (size_t k = 0; c->vifs[i].port && k < i; k++)
			if (c->vifs[k].devid == c->vifs[i].devid || streq(c->vifs[k].port, c->vifs[i].port))
				return -EINVAL;
	}
	return 0;
}

static int devices_from_json(json_t *j, struct domcfg *c)
{
	json_t *disks = json_object_get(j, "disks"), *vifs = json_object_get(j, "vifs");
	int r;

	if (!json_is_array(disks) || !json_is_array(vifs))
		return -EINVAL;
	c->disks = calloc(json_array_size(disks) + 1, sizeof(*c->disks));
	c->vifs = calloc(json_array_size(vifs) + 1, sizeof(*c->vifs));
	if (!c->disks || !c->vifs)
		return -ENOMEM;
	for (; c->n_disks < json_array_size(disks); c->n_disks++) {
		r = disk_from_json(json_array_get(disks, c->n_disks), &c->disks[c->n_disks]);
		if (r < 0) {
			disk_spec_release(&c->disks[c->n_disks]);
			return r;
		}
	}
	for (; c->n_vifs < json_array_size(vifs); c->n_vifs++) {
		r = vif_from_json(json_array_get(vifs, c->n_vifs), &c->vifs[c->n_vifs]);
		if (r < 0) {
			vif_spec_release(&c->vifs[c->n_vifs]);
			return r;
		}
	}
	if (json_object_get(j, "nic_ports") &&
	    (r = get_unsigned(j, "nic_ports", DOMCFG_VIF_DEVID_MAX, &c->nic_ports)) < 0)
		return r;
	return placements_valid(c);
}

static int warnings_from_json(json_t *j, struct domcfg *c)
{
	json_t *w = json_object_get(j, "warnings");
	size_t n = json_array_size(w);

	if (!json_is_array(w))
		return -EINVAL;
	if (n == 0)
		return 0;
	c->warnings = calloc(n + 1, sizeof(char *));
	if (!c->warnings)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(w, i);
		if (!json_is_string(s))
			return -EINVAL;
		c->warnings[i] = strdup(json_string_value(s));
		if (!c->warnings[i])
			return -ENOMEM;
	}
	return 0;
}

static int strings_from_json(json_t *j, struct domcfg *c)
{
	int r;

	if ((r = get_str(j, "name", &c->name)) < 0 || (r = get_str(j, "uuid", &c->uuid)) < 0 ||
	    (r = get_str(j, "kernel", &c->kernel)) < 0 ||
	    (r = get_str(j, "ramdisk", &c->ramdisk)) < 0 ||
	    (r = get_str(j, "cmdline", &c->cmdline)) < 0 || (r = get_str(j, "root", &c->root)) < 0 ||
	    (r = get_str(j, "extra", &c->extra)) < 0 ||
	    (r = get_str(j, "bootloader", &c->bootloader)) < 0 ||
	    (r = get_str(j, "serial", &c->serial)) < 0 || (r = get_str(j, "boot", &c->boot)) < 0 ||
	    (r = get_str(j, "vnclisten", &c->vnclisten)) < 0)
		return r;
	if (!c->name || !domcfg_name_valid(c->name) || (c->uuid && !domcfg_uuid_valid(c->uuid)))
		return -EINVAL;
	return 0;
}

static int numbers_from_json(json_t *j, struct domcfg *c)
{
	int type = 0, on_poweroff = 0, on_reboot = 0, on_crash = 0, r;

	if ((r = get_uint(j, "memory", DOMCFG_MEMORY_MIN_MB, DOMCFG_MEMORY_MAX_MB,
			  &c->memory_mb)) < 0 ||
	    (r = get_uint(j, "maxmem", c->memory_mb, DOMCFG_MEMORY_MAX_MB, &c->maxmem_mb)) < 0 ||
	    (r = get_unsigned(j, "vcpus", DOMCFG_VCPUS_MAX, &c->vcpus)) < 0 ||
	    (r = get_unsigned(j, "maxvcpus", DOMCFG_VCPUS_MAX, &c->maxvcpus)) < 0 ||
	    (r = get_unsigned(j, "cpu_weight", 65535, &c->cpu_weight)) < 0 ||
	    (r = get_unsigned(j, "cap", 100 * DOMCFG_VCPUS_MAX, &c->cap)) < 0 ||
	    (r = get_unsigned(j, "vncdisplay", 65535 - 5900, &c->vncdisplay)) < 0 ||
	    (r = get_bool(j, "vnc", &c->vnc)) < 0 ||
	    (r = get_enum(j, "type", dom_type_from_name, &type)) < 0 ||
	    (r = get_enum(j, "on_poweroff", dom_action_from_name, &on_poweroff)) < 0 ||
	    (r = get_enum(j, "on_reboot", dom_action_from_name, &on_reboot)) < 0 ||
	    (r = get_enum(j, "on_crash", dom_action_from_name, &on_crash)) < 0)
		return r;
	if (c->vcpus == 0 || c->maxvcpus < c->vcpus || c->cpu_weight == 0)
		return -EINVAL;
	c->type = (enum dom_type)type;
	c->on_poweroff = (enum dom_action)on_poweroff;
	c->on_reboot = (enum dom_action)on_reboot;
	c->on_crash = (enum dom_action)on_crash;
	return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct domcfg *, domcfg_free)

int domcfg_from_json(json_t *j, struct domcfg **ret)
{
	_cleanup_(domcfg_freep) struct domcfg *c = calloc(1, sizeof(*c));
	json_t *raw = json_object_get(j, "raw");
	int r;

	if (!c)
		return -ENOMEM;
	if (!json_is_object(j) || !json_is_object(raw))
		return -EINVAL;
	if ((r = strings_from_json(j, c)) < 0 || (r = numbers_from_json(j, c)) < 0 ||
	    (r = devices_from_json(j, c)) < 0 || (r = warnings_from_json(j, c)) < 0)
		return r;
	c->raw = json_deep_copy(raw);
	if (!c->raw)
		return -ENOMEM;
	*ret = TAKE_PTR(c);
	return 0;
}
