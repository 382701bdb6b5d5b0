/* domcfg.c - the meaning of xl.cfg keys: struct xlcfg -> struct domcfg.
 *
 * One table maps every known key to a handler that checks the value's type
 * and range and stores it. Keys that domus accepts without using them are in
 * the same table, some with a warning saying they are ignored; any other key
 * becomes an "unknown key" warning. Cross-key rules (type from builder or
 * kernel, maxmem >= memory, maxvcpus >= vcpus, default NIC model) run after.
 */
#include "config/domcfg.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


struct builder {
	const struct xlcfg *cfg;
	struct domcfg *c;
	struct xlcfg_error *err;
	size_t n_warnings;
	const struct xlcfg_setting *maxmem, *maxvcpus, *type, *builder;
};

struct key_info {
	const char *key;
	int (*apply)(struct builder *b, const struct xlcfg_setting *s);
	const char *ignored;  /* for accepted-but-unused keys: why, or "" (quiet) */
};

static const char *const action_names[] = {
	[DOM_ACTION_DESTROY] = "destroy",
	[DOM_ACTION_RESTART] = "restart",
	[DOM_ACTION_RENAME_RESTART] = "rename-restart",
	[DOM_ACTION_PRESERVE] = "preserve",
	[DOM_ACTION_COREDUMP_DESTROY] = "coredump-destroy",
	[DOM_ACTION_COREDUMP_RESTART] = "coredump-restart",
	[DOM_ACTION_SOFT_RESET] = "soft-reset",
};

static const char *const type_names[] = {
	[DOM_TYPE_PV] = "pv", [DOM_TYPE_PVH] = "pvh", [DOM_TYPE_HVM] = "hvm",
};

const char *dom_action_name(enum dom_action a)
{
	return (unsigned)a < ARRAY_SIZE(action_names) ? action_names[a] : "unknown";
}

const char *dom_type_name(enum dom_type t)
{
	return (unsigned)t < ARRAY_SIZE(type_names) ? type_names[t] : "unknown";
}

int dom_action_from_name(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(action_names); i++)
		if (!strcmp(s, action_names[i]))
			return (int)i;
	return -EINVAL;
}

int dom_type_from_name(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(type_names); i++)
		if (!strcmp(s, type_names[i]))
			return (int)i;
	return -EINVAL;
}

static int key_error(struct builder *b, const struct xlcfg_setting *s,
		     const struct xlcfg_value *v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Fill the error for key S (at value V if given) and return -EINVAL. */
static int key_error(struct builder *b, const struct xlcfg_setting *s,
		     const struct xlcfg_value *v, const char *fmt, ...)
{
	char msg[sizeof(b->err->message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->err->line = v ? v->line : s->line;
	b->err->col = v ? v->col : s->col;
	snprintf(b->err->message, sizeof(b->err->message), "key '%s'%s: %.400s", s->key,
		 b->err->line ? "" : " (command-line override)", msg);
	return -EINVAL;
}

static int add_warning(struct builder *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int add_warning(struct builder *b, const char *fmt, ...)
{
	char **w;
	char *msg;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	w = realloc(b->c->warnings, (b->n_warnings + 2) * sizeof(*w));
	if (!w) {
		free(msg);
		return -ENOMEM;
	}
	w[b->n_warnings++] = msg;
	w[b->n_warnings] = NULL;
	b->c->warnings = w;
	return 0;
}

/* "FILE:LINE:COL: " for warnings about setting S. */
static void where(const struct builder *b, const struct xlcfg_setting *s, char *buf, size_t size)
{
	if (s->line > 0)
		snprintf(buf, size, "%s:%d:%d: ", b->cfg->filename, s->line, s->col);
	else
		snprintf(buf, size, "command-line override: ");
}

static const char *what_is(const struct xlcfg_value *v)
{
	return v->type == XLCFG_STRING ? "a string" : v->type == XLCFG_NUMBER ? "a number" : "a list";
}

static int get_string(struct builder *b, const struct xlcfg_setting *s, char **field)
{
	char *c;

	if (s->value->type != XLCFG_STRING)
		return key_error(b, s, s->value, "expected a string, found %s", what_is(s->value));
	c = strdup(s->value->str);
	if (!c)
		return -ENOMEM;
	free(*field);
	*field = c;
	return 0;
}

/* A number, or a string holding one (the seeds write memory = '512'). */
static int get_number(struct builder *b, const struct xlcfg_setting *s, uint64_t min,
		      uint64_t max, const char *unit, uint64_t *ret)
{
	const struct xlcfg_value *v = s->value;
	uint64_t n;

	if (v->type == XLCFG_NUMBER) {
		n = (uint64_t)v->num;
	} else if (v->type == XLCFG_STRING) {
		char *end;
		if (!isdigit((unsigned char)v->str[0]))
			return key_error(b, s, v, "expected a number, found '%.64s'", v->str);
		errno = 0;
		n = strtoull(v->str, &end, 0);
		if (errno || *end)
			return key_error(b, s, v, "expected a number, found '%.64s'", v->str);
	} else {
		return key_error(b, s, v, "expected a number, found a list");
	}
	if (n < min || n > max)
		return key_error(b, s, v, "%llu%s is out of range (%llu to %llu%s)",
				 (unsigned long long)n, unit, (unsigned long long)min,
				 (unsigned long long)max, unit);
	*ret = n;
	return 0;
}

static int get_unsigned(struct builder *b, const struct xlcfg_setting *s, unsigned min,
			unsigned max, unsigned *ret)
{
	uint64_t n;
	int r = get_number(b, s, min, max, "", &n);

	if (r == 0)
		*ret = (unsigned)n;
	return r;
}

bool domcfg_bootloader_is_pygrub(const char *bootloader)
{
	const char *base = strrchr(bootloader, '/');
	return streq(base ? base + 1 : bootloader, "pygrub");
}

bool domcfg_name_valid(const char *name)
{
	size_t n = strlen(name);
	bool all_digits = true;

	if (n == 0 || n > DOMCFG_NAME_MAX || name[0] == '-' || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr(".-_", *p))
			return false;
		all_digits &= isdigit((unsigned char)*p) != 0;
	}
	return !all_digits;
}

static int k_name(struct builder *b, const struct xlcfg_setting *s)
{
	int r = get_string(b, s, &b->c->name);

	if (r == 0 && !domcfg_name_valid(b->c->name))
		return key_error(b, s, s->value, "invalid name '%.64s' (1-%d letters, digits, "
				 "'.', '-' or '_', not starting with '-' or '.', not all digits)",
				 b->c->name, DOMCFG_NAME_MAX);
	return r;
}

bool domcfg_uuid_valid(const char *u)
{
	if (strlen(u) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? u[i] != '-' : !isxdigit((unsigned char)u[i]))
			return false;
	}
	return true;
}

static int k_uuid(struct builder *b, const struct xlcfg_setting *s)
{
	int r = get_string(b, s, &b->c->uuid);

	if (r < 0)
		return r;
	if (!domcfg_uuid_valid(b->c->uuid))
		return key_error(b, s, s->value, "invalid uuid '%.64s' (expected "
				 "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", b->c->uuid);
	for (char *p = b->c->uuid; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

static int k_type(struct builder *b, const struct xlcfg_setting *s)
{
	const struct xlcfg_value *v = s->value;
	int t;

	if (v->type != XLCFG_STRING)
		return key_error(b, s, v, "expected a string, found %s", what_is(v));
	t = dom_type_from_name(v->str);
	if (t < 0)
		return key_error(b, s, v, "invalid type '%.64s' (expected pv, pvh or hvm)", v->str);
	b->c->type = (enum dom_type)t;
	b->type = s;
	return 0;
}

static int k_builder(struct builder *b, const struct xlcfg_setting *s)
{
	const struct xlcfg_value *v = s->value;

	if (v->type != XLCFG_STRING)
		return key_error(b, s, v, "expected a string, found %s", what_is(v));
	if (strcmp(v->str, "hvm") && strcmp(v->str, "linux") && strcmp(v->str, "generic"))
		return key_error(b, s, v, "invalid builder '%.64s' (expected hvm or linux)", v->str);
	b->builder = s;
	return 0;
}

static int k_memory(struct builder *b, const struct xlcfg_setting *s)
{
	return get_number(b, s, DOMCFG_MEMORY_MIN_MB, DOMCFG_MEMORY_MAX_MB, " MiB", &b->c->memory_mb);
}

static int k_maxmem(struct builder *b, const struct xlcfg_setting *s)
{
	b->maxmem = s;
	return get_number(b, s, DOMCFG_MEMORY_MIN_MB, DOMCFG_MEMORY_MAX_MB, " MiB", &b->c->maxmem_mb);
}

static int k_vcpus(struct builder *b, const struct xlcfg_setting *s)
{
	return get_unsigned(b, s, 1, DOMCFG_VCPUS_MAX, &b->c->vcpus);
}

static int k_maxvcpus(struct builder *b, const struct xlcfg_setting *s)
{
	b->maxvcpus = s;
	return get_unsigned(b, s, 1, DOMCFG_VCPUS_MAX, &b->c->maxvcpus);
}

#define STRING_KEY(field)                                                       \
	static int k_##field(struct builder *b, const struct xlcfg_setting *s) \
	{                                                                       \
		return get_string(b, s, &b->c->field);                          \
	}
STRING_KEY(kernel)
STRING_KEY(ramdisk)
STRING_KEY(cmdline)
STRING_KEY(root)
STRING_KEY(extra)
STRING_KEY(bootloader)
STRING_KEY(vnclisten)

static int get_action(struct builder *b, const struct xlcfg_setting *s, enum dom_action *ret)
{
	const struct xlcfg_value *v = s->value;
	int a;

	if (v->type != XLCFG_STRING)
		return key_error(b, s, v, "expected a string, found %s", what_is(v));
	a = dom_action_from_name(v->str);
	if (a < 0)
		return key_error(b, s, v, "invalid action '%.64s' (expected destroy, restart, "
				 "rename-restart, preserve, coredump-destroy, coredump-restart "
				 "or soft-reset)", v->str);
	*ret = (enum dom_action)a;
	return 0;
}

static int k_on_poweroff(struct builder *b, const struct xlcfg_setting *s)
{
	return get_action(b, s, &b->c->on_poweroff);
}

static int k_on_reboot(struct builder *b, const struct xlcfg_setting *s)
{
	return get_action(b, s, &b->c->on_reboot);
}

static int k_on_crash(struct builder *b, const struct xlcfg_setting *s)
{
	return get_action(b, s, &b->c->on_crash);
}

/* serial = 'pty' or serial = [ 'pty' ] */
static int k_serial(struct builder *b, const struct xlcfg_setting *s)
{
	const struct xlcfg_value *v = s->value;

	if (v->type == XLCFG_LIST) {
		if (v->n_items != 1 || v->items[0]->type != XLCFG_STRING)
			return key_error(b, s, v, "expected a string or a list of one string");
		v = v->items[0];
	}
	if (v->type != XLCFG_STRING)
		return key_error(b, s, v, "expected a string, found %s", what_is(v));
	free(b->c->serial);
	b->c->serial = strdup(v->str);
	return b->c->serial ? 0 : -ENOMEM;
}

static int k_cpu_weight(struct builder *b, const struct xlcfg_setting *s)
{
	return get_unsigned(b, s, 1, 65535, &b->c->cpu_weight);
}

static int k_cap(struct builder *b, const struct xlcfg_setting *s)
{
	return get_unsigned(b, s, 0, 100 * DOMCFG_VCPUS_MAX, &b->c->cap);
}

static int k_boot(struct builder *b, const struct xlcfg_setting *s)
{
	int r = get_string(b, s, &b->c->boot);

	if (r < 0)
		return r;
	if (!*b->c->boot || strlen(b->c->boot) > 4 || strspn(b->c->boot, "acdn") != strlen(b->c->boot))
		return key_error(b, s, s->value, "invalid boot order '%.64s' (letters a, c, d, n)",
				 b->c->boot);
	return 0;
}

static int k_vnc(struct builder *b, const struct xlcfg_setting *s)
{
	unsigned v = 0;
	int r = get_unsigned(b, s, 0, 1, &v);

	if (r < 0)
		return r;
	b->c->vnc = v == 1;
	return 0;
}

static int k_vncdisplay(struct builder *b, const struct xlcfg_setting *s)
{
	return get_unsigned(b, s, 0, 65535 - 5900, &b->c->vncdisplay);
}

/* A list whose items are all strings. */
static int check_string_list(struct builder *b, const struct xlcfg_setting *s)
{
	const struct xlcfg_value *v = s->value;

	if (v->type != XLCFG_LIST)
		return key_error(b, s, v, "expected a list of strings, found %s", what_is(v));
	for (size_t i = 0; i < v->n_items; i++)
		if (v->items[i]->type != XLCFG_STRING)
			return key_error(b, s, v->items[i], "item %zu: expected a string, found %s",
					 i + 1, what_is(v->items[i]));
	return 0;
}

static int k_disk(struct builder *b, const struct xlcfg_setting *s)
{
	const struct xlcfg_value *v = s->value;
	struct domcfg *c = b->c;
	char msg[256];
	int r = check_string_list(b, s);

	if (r < 0)
		return r;
	c->disks = calloc(v->n_items ? v->n_items : 1, sizeof(*c->disks));
	if (!c->disks)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_items; i++) {
		r = disk_spec_parse(v->items[i]->str, &c->disks[i], msg, sizeof(msg));
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return key_error(b, s, v->items[i], "disk %zu: %s", i + 1, msg);
		c->n_disks++;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->disks[j].vdev, c->disks[i].vdev))
				return key_error(b, s, v->items[i], "disk %zu: vdev '%s' is already "
						 "used by disk %zu", i + 1, c->disks[i].vdev, j + 1);
	}
	return 0;
}

static int k_vif(struct builder *b, const struct xlcfg_setting *s)
{
	const struct xlcfg_value *v = s->value;
	struct domcfg *c = b->c;
	char msg[256];
	int r = check_string_list(b, s);

	if (r < 0)
		return r;
	c->vifs = calloc(v->n_items ? v->n_items : 1, sizeof(*c->vifs));
	if (!c->vifs)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_items; i++) {
		r = vif_spec_parse(v->items[i]->str, &c->vifs[i], msg, sizeof(msg));
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return key_error(b, s, v->items[i], "vif %zu: %s", i + 1, msg);
		c->n_vifs++;
		for (size_t j = 0; j < i && c->vifs[i].mac; j++)
			if (streq(c->vifs[j].mac, c->vifs[i].mac))
				return key_error(b, s, v->items[i], "vif %zu: mac %s is already "
						 "used by vif %zu", i + 1, c->vifs[i].mac, j + 1);
	}
	return 0;
}

static const struct key_info keys[] = {
	{ "name", k_name, NULL },
	{ "uuid", k_uuid, NULL },
	{ "type", k_type, NULL },
	{ "builder", k_builder, NULL },
	{ "memory", k_memory, NULL },
	{ "maxmem", k_maxmem, NULL },
	{ "vcpus", k_vcpus, NULL },
	{ "maxvcpus", k_maxvcpus, NULL },
	{ "kernel", k_kernel, NULL },
	{ "ramdisk", k_ramdisk, NULL },
	{ "cmdline", k_cmdline, NULL },
	{ "root", k_root, NULL },
	{ "extra", k_extra, NULL },
	{ "bootloader", k_bootloader, NULL },
	{ "disk", k_disk, NULL },
	{ "vif", k_vif, NULL },
	{ "on_poweroff", k_on_poweroff, NULL },
	{ "on_reboot", k_on_reboot, NULL },
	{ "on_crash", k_on_crash, NULL },
	{ "serial", k_serial, NULL },
	{ "cpu_weight", k_cpu_weight, NULL },
	{ "cap", k_cap, NULL },
	{ "boot", k_boot, NULL },
	{ "vnc", k_vnc, NULL },
	{ "vnclisten", k_vnclisten, NULL },
	{ "vncdisplay", k_vncdisplay, NULL },
	/* Xen-specific knobs with no meaning under QEMU: accepted quietly. */
	{ "device_model_version", NULL, "" },
	{ "device_model_override", NULL, "" },
	{ "pae", NULL, "" },
	{ "acpi", NULL, "" },
	{ "apic", NULL, "" },
	{ "hap", NULL, "" },
	{ "nx", NULL, "" },
	{ "viridian", NULL, "" },
	{ "xen_platform_pci", NULL, "" },
	{ "hpet", NULL, "" },
	{ "timer_mode", NULL, "" },
	{ "shadow_memory", NULL, "" },
	{ "vncconsole", NULL, "" },
	{ "vncunused", NULL, "" },
	/* Settings a user may expect to work: say they do not. */
	{ "localtime", NULL, "the guest clock is UTC" },
	{ "sdl", NULL, "no SDL display; use vnc" },
	{ "stdvga", NULL, "the display device is QEMU's default" },
	{ "vga", NULL, "the display device is QEMU's default" },
	{ "videoram", NULL, "the display device is QEMU's default" },
	{ "vfb", NULL, "use vnc, vnclisten and vncdisplay" },
	{ "vncpasswd", NULL, "VNC passwords are not supported; vnc listens on vnclisten only" },
	{ "keymap", NULL, "the VNC keymap is QEMU's default" },
	{ "usb", NULL, "no USB devices" },
	{ "usbdevice", NULL, "no USB devices" },
	{ "soundhw", NULL, "no sound devices" },
	{ "cpus", NULL, "vCPU pinning is set with vcpu-pin" },
	{ "bootloader_args", NULL, "pygrub takes the menu's default entry" },
	{ "dhcp", NULL, "an xm-era setting; configure the guest's network inside it" },
	{ "netmask", NULL, "an xm-era setting; configure the guest's network inside it" },
	{ "gateway", NULL, "an xm-era setting; configure the guest's network inside it" },
	{ "ip", NULL, "an xm-era setting; use vif = [ 'ip=...' ]" },
	{ "hostname", NULL, "an xm-era setting; the guest sets its own hostname" },
};

static const struct key_info *key_lookup(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].key, key))
			return &keys[i];
	return NULL;
}

static struct domcfg *domcfg_new(void)
{
	struct domcfg *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->type = DOM_TYPE_PV;
	c->memory_mb = DOMCFG_DEFAULT_MEMORY_MB;
	c->vcpus = 1;
	c->on_poweroff = DOM_ACTION_DESTROY;
	c->on_reboot = DOM_ACTION_RESTART;
	c->on_crash = DOM_ACTION_DESTROY;
	c->cpu_weight = 256;
	return c;
}

void domcfg_free(struct domcfg *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->uuid);
	free(c->kernel);
	free(c->ramdisk);
	free(c->cmdline);
	free(c->root);
	free(c->extra);
	free(c->bootloader);
	for (size_t i = 0; i < c->n_disks; i++)
		disk_spec_release(&c->disks[i]);
	free(c->disks);
	for (size_t i = 0; i < c->n_vifs; i++)
		vif_spec_release(&c->vifs[i]);
	free(c->vifs);
	free(c->serial);
	free(c->boot);
	free(c->vnclisten);
	strv_free(c->warnings);
	json_decref(c->raw);
	free(c);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct domcfg *, domcfg_free)

/* The domain type: type=, else builder=, else hvm if the kernel is
 * hvmloader, else pv. A kernel named hvmloader is Xen's firmware loader:
 * QEMU boots its own firmware instead. */
static int finish_type(struct builder *b)
{
	struct domcfg *c = b->c;
	char at[128];

	if (!b->type && b->builder)
		c->type = streq(b->builder->value->str, "hvm") ? DOM_TYPE_HVM : DOM_TYPE_PV;
	else if (!b->type && c->kernel && endswith(c->kernel, "hvmloader"))
		c->type = DOM_TYPE_HVM;
	if (c->type == DOM_TYPE_HVM && c->kernel && endswith(c->kernel, "hvmloader")) {
		int r = add_warning(b, "kernel '%s' ignored: hvm domains boot QEMU's firmware",
				    c->kernel);
		free(c->kernel);
		c->kernel = NULL;
		if (r < 0)
			return r;
	}
	if (b->type && b->builder) {
		where(b, b->builder, at, sizeof(at));
		return add_warning(b, "%sbuilder ignored: type = '%s' decides", at,
				   dom_type_name(c->type));
	}
	return 0;
}

static int finish_limits(struct builder *b)
{
	struct domcfg *c = b->c;

	if (!b->maxmem)
		c->maxmem_mb = c->memory_mb;
	else if (c->maxmem_mb < c->memory_mb)
		return key_error(b, b->maxmem, b->maxmem->value, "%llu MiB is less than memory "
				 "(%llu MiB)", (unsigned long long)c->maxmem_mb,
				 (unsigned long long)c->memory_mb);
	if (!b->maxvcpus)
		c->maxvcpus = c->vcpus;
	else if (c->maxvcpus < c->vcpus)
		return key_error(b, b->maxvcpus, b->maxvcpus->value, "%u is less than vcpus (%u)",
				 c->maxvcpus, c->vcpus);
	return 0;
}

static int finish(struct builder *b)
{
	struct domcfg *c = b->c;
	int r;

	if (!c->name) {
		b->err->line = b->err->col = 0;
		snprintf(b->err->message, sizeof(b->err->message), "missing required key 'name'");
		return -EINVAL;
	}
	r = finish_type(b);
	if (r == 0)
		r = finish_limits(b);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->n_vifs; i++)
		if (!c->vifs[i].model && !(c->vifs[i].model = strdup(c->type == DOM_TYPE_HVM ?
								    "rtl8139" : "virtio")))
			return -ENOMEM;
	if (!c->boot && !(c->boot = strdup("c")))
		return -ENOMEM;
	if (c->cmdline && (c->root || c->extra) &&
	    add_warning(b, "root and extra ignored: cmdline is set") < 0)
		return -ENOMEM;
	if (c->bootloader && !domcfg_bootloader_is_pygrub(c->bootloader) &&
	    add_warning(b, "bootloader '%s' is not supported (pygrub is): set kernel "
			"(and ramdisk) to boot a pv domain, or type = 'hvm'", c->bootloader) < 0)
		return -ENOMEM;
	return 0;
}

static json_t *value_to_json(const struct xlcfg_value *v)
{
	json_t *a;

	if (v->type == XLCFG_STRING)
		return json_string(v->str);
	if (v->type == XLCFG_NUMBER)
		return json_integer(v->num);
	a = json_array();
	for (size_t i = 0; a && i < v->n_items; i++)
		if (json_array_append_new(a, value_to_json(v->items[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *settings_to_json(const struct xlcfg *cfg)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < cfg->n_settings; i++)
		if (json_object_set_new(o, cfg->settings[i].key,
					value_to_json(cfg->settings[i].value)) < 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

/* False for 0, '0', '' and []: turning an ignored feature off needs no warning. */
static bool value_is_set(const struct xlcfg_value *v)
{
	if (v->type == XLCFG_NUMBER)
		return v->num != 0;
	if (v->type == XLCFG_STRING)
		return *v->str && strcmp(v->str, "0") != 0;
	return v->n_items > 0;
}

/* Apply every setting through its key handler; unknown keys warn. */
static int apply_settings(struct builder *b)
{
	for (size_t i = 0; i < b->cfg->n_settings; i++) {
		const struct xlcfg_setting *s = &b->cfg->settings[i];
		const struct key_info *k = key_lookup(s->key);
		char at[128];
		int r = 0;

		where(b, s, at, sizeof(at));
		if (!k)
			r = add_warning(b, "%sunknown key '%s' ignored", at, s->key);
		else if (k->apply)
			r = k->apply(b, s);
		else if (*k->ignored && value_is_set(s->value))
			r = add_warning(b, "%s'%s' ignored: %s", at, s->key, k->ignored);
		if (r < 0)
			return r;
	}
	return 0;
}

int domcfg_from_xlcfg(const struct xlcfg *cfg, struct domcfg **ret, struct xlcfg_error *err)
{
	_cleanup_(domcfg_freep) struct domcfg *c = domcfg_new();
	struct builder b = { .cfg = cfg, .c = c, .err = err };
	int r;

	*err = (struct xlcfg_error){ 0 };
	if (!c)
		return -ENOMEM;
	r = apply_settings(&b);
	if (r == 0)
		r = finish(&b);
	if (r == -ENOMEM)
		snprintf(err->message, sizeof(err->message), "out of memory");
	if (r < 0)
		return r;
	c->raw = settings_to_json(cfg);
	if (!c->raw)
		return -ENOMEM;
	*ret = TAKE_PTR(c);
	return 0;
}

char *domcfg_kernel_cmdline(const struct domcfg *c)
{
	if (c->cmdline)
		return strdup(c->cmdline);
	if (c->root && c->extra)
		return strprintf("root=%s %s", c->root, c->extra);
	if (c->root)
		return strprintf("root=%s", c->root);
	return strdup(c->extra ? c->extra : "");
}
