/* diskspec.c - one `disk = [...]` entry (xl-disk-configuration(5)).
 *
 * A spec is comma-separated: key=value pairs, flags (`cdrom`), and
 * positional parameters filling the not-yet-given slots in the order
 * target, format, vdev, access. `target=` is last and greedy: it takes the
 * rest of the string, commas included. Legacy prefixes on a positional
 * target (`phy:`, `file:`, `tap:aio:`, `qcow2:`...) set the format (and
 * backend), so `phy:/dev/vg/lv,xvda2,w` reads as target, vdev, access. The
 * xm-era `target,vdev,access` form without prefix is recognised when the
 * second field is a device name and not a format. A target that is an NBD
 * URI (nbduri.c) may be positional even with its `?socket=`, and is checked.
 */
#include "config/domcfg.h"
#include "config/internal.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { SLOT_TARGET, SLOT_FORMAT, SLOT_VDEV, SLOT_ACCESS, N_SLOTS };

struct disk_parse {
	struct disk_spec d;
	bool given[N_SLOTS];
	bool readonly_given;
	char *err;
	size_t errsize;
};

static const char *const format_names[] = {
	[DISK_FORMAT_RAW] = "raw", [DISK_FORMAT_QCOW2] = "qcow2", [DISK_FORMAT_QCOW] = "qcow",
	[DISK_FORMAT_VHD] = "vhd", [DISK_FORMAT_QED] = "qed", [DISK_FORMAT_EMPTY] = "empty",
};

const char *disk_format_name(enum disk_format f)
{
	return (unsigned)f < ARRAY_SIZE(format_names) ? format_names[f] : "unknown";
}

int disk_format_from_name(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(format_names); i++)
		if (!strcmp(s, format_names[i]))
			return (int)i;
	return -EINVAL;
}

void disk_spec_release(struct disk_spec *d)
{
	if (!d)
		return;
	free(d->target);
	free(d->vdev);
	free(d->backendtype);
	free(d->script);
	*d = (struct disk_spec){ 0 };
}

bool disk_vdev_valid(const char *v)
{
	static const char *const prefixes[] = { "xvd", "hd", "sd", "vd" };
	const char *p = NULL;
	size_t letters = 0, digits = 0;

	for (size_t i = 0; i < ARRAY_SIZE(prefixes) && !p; i++)
		if (startswith(v, prefixes[i]))
			p = v + strlen(prefixes[i]);
	if (!p)
		return false;
	while (p[letters] >= 'a' && p[letters] <= 'z')
		letters++;
	if (letters < 1 || letters > (startswith(v, "hd") ? 1u : 3u))
		return false;
	p += letters;
	while (p[digits] >= '0' && p[digits] <= '9')
		digits++;
	if (p[digits] != '\0' || digits > 3 || (digits > 0 && p[0] == '0'))
		return false;
	return digits == 0 || atoi(p) <= 255;
}

static int set_str(char **field, const char *value)
{
	char *c = strdup(value);

	if (!c)
		return -ENOMEM;
	free(*field);
	*field = c;
	return 0;
}

static int set_target(struct disk_parse *dp, const char *t)
{
	dp->given[SLOT_TARGET] = true;
	if (*t == '\0')
		return 0;
	return set_str(&dp->d.target, t);
}

static int set_access(struct disk_parse *dp, const char *v)
{
	if (!strcmp(v, "r") || !strcmp(v, "ro"))
		dp->d.readonly = true;
	else if (!strcmp(v, "w") || !strcmp(v, "rw"))
		dp->d.readonly = false;
	else
		return spec_error(dp->err, dp->errsize,
				  "invalid access '%s' (expected r, ro, w or rw)", v);
	dp->given[SLOT_ACCESS] = true;
	return 0;
}

static int set_format(struct disk_parse *dp, const char *v)
{
	int f = disk_format_from_name(v);

	if (f < 0)
		return spec_error(dp->err, dp->errsize, "invalid format '%s' (expected raw, "
				  "qcow2, qcow, vhd, qed or empty)", v);
	dp->d.format = (enum disk_format)f;
	dp->given[SLOT_FORMAT] = true;
	return 0;
}

/* "/dev/xvda2", "hdc:cdrom", "sda:w" -> vdev, plus cdrom or access. */
static int set_vdev(struct disk_parse *dp, const char *value)
{
	_cleanup_free_ char *v = strdup(startswith(value, "/dev/") ? value + 5 : value);
	char *suffix;
	int r;

	if (!v)
		return -ENOMEM;
	suffix = strchr(v, ':');
	if (suffix) {
		*suffix++ = '\0';
		if (!strcmp(suffix, "cdrom"))
			dp->d.cdrom = true;
		else if ((r = set_access(dp, suffix)) < 0)
			return spec_error(dp->err, dp->errsize, "invalid vdev suffix ':%s' in '%s' "
					  "(expected :cdrom, :r, :ro, :w or :rw)", suffix, value);
	}
	if (!disk_vdev_valid(v))
		return spec_error(dp->err, dp->errsize, "invalid vdev '%s' (expected xvdX, hdX, "
				  "sdX or vdX with an optional partition number)", value);
	free(dp->d.vdev);
	dp->d.vdev = TAKE_PTR(v);
	dp->given[SLOT_VDEV] = true;
	return 0;
}

/* A positional target: strip legacy prefixes ("phy:", "tap:aio:",
 * "qcow2:"...), which set the backend and format, then set the target. */
static int set_prefixed_target(struct disk_parse *dp, const char *t)
{
	static const struct { const char *prefix, *backend; int format; bool phy; } table[] = {
		{ "phy:", "phy", DISK_FORMAT_RAW, true },
		{ "file:", "qdisk", DISK_FORMAT_RAW, false },
		{ "tap:", "tap", -1, false },
		{ "tap2:", "tap", -1, false },
		{ "tapdisk:", "tap", -1, false },
		{ "aio:", NULL, DISK_FORMAT_RAW, false },
		{ "raw:", NULL, DISK_FORMAT_RAW, false },
		{ "qcow:", NULL, DISK_FORMAT_QCOW, false },
		{ "qcow2:", NULL, DISK_FORMAT_QCOW2, false },
		{ "vhd:", NULL, DISK_FORMAT_VHD, false },
		{ "qed:", NULL, DISK_FORMAT_QED, false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		if (!startswith(t, table[i].prefix))
			continue;
		t += strlen(table[i].prefix);
		if (table[i].backend && !dp->d.backendtype && set_str(&dp->d.backendtype,
								      table[i].backend) < 0)
			return -ENOMEM;
		if (table[i].format >= 0 && !dp->given[SLOT_FORMAT]) {
			dp->d.format = (enum disk_format)table[i].format;
			dp->given[SLOT_FORMAT] = true;
		}
		dp->d.phy |= table[i].phy;
		i = (size_t)-1;  /* prefixes combine: tap2:tapdisk:aio: */
	}
	return set_target(dp, t);
}

static int positional(struct disk_parse *dp, const char *tok)
{
	int slot = 0;

	while (slot < N_SLOTS && dp->given[slot])
		slot++;
	if (slot == N_SLOTS)
		return spec_error(dp->err, dp->errsize, "unexpected extra parameter '%s' "
				  "(target, format, vdev and access are all given)", tok);
	/* xm's "target,vdev,access": a device name where the format goes */
	if (slot == SLOT_FORMAT && disk_format_from_name(tok) < 0 &&
	    (startswith(tok, "/dev/") || strchr(tok, ':') || disk_vdev_valid(tok))) {
		dp->given[SLOT_FORMAT] = true;
		slot = SLOT_VDEV;
	}
	if (*tok == '\0') {
		dp->given[slot] = true;
		return 0;
	}
	switch (slot) {
	case SLOT_TARGET:
		return set_prefixed_target(dp, tok);
	case SLOT_FORMAT:
		return set_format(dp, tok);
	case SLOT_VDEV:
		return set_vdev(dp, tok);
	default:
		return set_access(dp, tok);
	}
}

static int keyword(struct disk_parse *dp, const char *key, const char *v)
{
	if (!strcmp(key, "target"))
		return set_target(dp, v);
	if (!strcmp(key, "format"))
		return set_format(dp, v);
	if (!strcmp(key, "vdev"))
		return set_vdev(dp, v);
	if (!strcmp(key, "access"))
		return set_access(dp, v);
	if (!strcmp(key, "devtype")) {
		if (strcmp(v, "cdrom") && strcmp(v, "disk"))
			return spec_error(dp->err, dp->errsize,
					  "invalid devtype '%s' (expected cdrom or disk)", v);
		dp->d.cdrom = !strcmp(v, "cdrom");
		return 0;
	}
	if (!strcmp(key, "backendtype")) {
		if (strcmp(v, "phy") && strcmp(v, "qdisk") && strcmp(v, "tap"))
			return spec_error(dp->err, dp->errsize, "invalid backendtype '%s' "
					  "(expected phy, qdisk or tap)", v);
		return set_str(&dp->d.backendtype, v);
	}
	if (!strcmp(key, "script")) {
		if (*v == '\0')
			return spec_error(dp->err, dp->errsize, "empty script=");
		return set_str(&dp->d.script, v);
	}
	return spec_error(dp->err, dp->errsize, "unknown disk parameter '%s' (known: target, "
			  "format, vdev, access, devtype, backendtype, script)", key);
}

static int one_param(struct disk_parse *dp, char *tok)
{
	char *eq;

	tok = strip_blanks(tok);
	if (!strcmp(tok, "cdrom")) {
		dp->d.cdrom = true;
		return 0;
	}
	if (!strcmp(tok, "discard") || !strcmp(tok, "no-discard") || !strcmp(tok, "direct-io-safe"))
		return 0;
	if (disk_target_is_nbd(tok))
		return positional(dp, tok);  /* "nbd+unix:///x?socket=/p" is no key=value */
	eq = strchr(tok, '=');
	if (!eq)
		return positional(dp, tok);
	*eq = '\0';
	return keyword(dp, strip_blanks(tok), strip_blanks(eq + 1));
}

static int finish(struct disk_parse *dp, const char *spec)
{
	if (!dp->d.vdev)
		return spec_error(dp->err, dp->errsize, "missing vdev (the guest device name, "
				  "e.g. xvda) in disk '%s'", spec);
	if (!dp->d.target && !dp->d.cdrom)
		return spec_error(dp->err, dp->errsize, "missing target in disk '%s' (only a "
				  "cdrom may be empty)", spec);
	if (!dp->d.target)
		dp->d.format = DISK_FORMAT_EMPTY;
	else if (dp->d.format == DISK_FORMAT_EMPTY)
		return spec_error(dp->err, dp->errsize, "format 'empty' with a target in "
				  "disk '%s'", spec);
	if (dp->d.cdrom)
		dp->d.readonly = true;
	if (disk_target_is_nbd(dp->d.target)) {
		struct disk_nbd n;
		int r = disk_nbd_parse(dp->d.target, &n, dp->err, dp->errsize);
		if (r < 0)
			return r;
		disk_nbd_release(&n);
	}
	return 0;
}

int disk_spec_parse(const char *spec, struct disk_spec *ret, char *errbuf, size_t errsize)
{
	struct disk_parse dp = { .err = errbuf, .errsize = errsize };
	_cleanup_free_ char *buf = NULL;
	char *p;
	int r = 0;

	if (strlen(spec) > SPEC_MAX_LEN)
		return spec_error(errbuf, errsize, "disk spec longer than %d bytes", SPEC_MAX_LEN);
	buf = strdup(spec);
	if (!buf)
		return -ENOMEM;
	for (p = buf; p && r == 0;) {
		char *tok = p, *comma;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		if (startswith(tok, "target=")) {
			r = set_target(&dp, tok + strlen("target="));
			break;
		}
		comma = strchr(tok, ',');
		if (comma)
			*comma = '\0';
		p = comma ? comma + 1 : NULL;
		r = one_param(&dp, tok);
	}
	if (r == 0)
		r = finish(&dp, spec);
	if (r < 0) {
		if (r != -EINVAL)
			spec_error(errbuf, errsize, "out of memory");
		disk_spec_release(&dp.d);
		return r;
	}
	*ret = dp.d;
	return 0;
}
