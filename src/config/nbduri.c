/* nbduri.c - disk targets naming a remote NBD export, in QEMU's URI forms:
 *
 *   nbd://HOST[:PORT][/EXPORT]          (also nbd+tcp://; [IPv6] hosts)
 *   nbd+unix:///[EXPORT]?socket=PATH
 *
 * The export name is the path without its leading '/', percent-decoded
 * ("" is the server's default export); the port defaults to 10809. TLS
 * forms (nbds://) and QEMU's legacy "nbd:HOST:PORT" syntax are refused
 * with a message that says what is accepted.
 */
#include "config/domcfg.h"
#include "config/internal.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NBD_URI_FORMS "nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH"
#define NBD_EXPORT_NAME_MAX 4096
#define UNIX_PATH_MAX_LEN 107

bool disk_target_is_nbd(const char *target)
{
	return target && (startswith(target, "nbd:") || startswith(target, "nbd+") ||
			  startswith(target, "nbds:") || startswith(target, "nbds+"));
}

void disk_nbd_release(struct disk_nbd *n)
{
	if (!n)
		return;
	free(n->host);
	free(n->socket);
	free(n->export);
	*n = (struct disk_nbd){ 0 };
}

/* Percent-decode LEN bytes of S into a new string. -EINVAL on a bad
 * escape, a control character or an encoded NUL. */
static int decode(const char *s, size_t len, char **ret)
{
	char *out = malloc(len + 1), *o = out;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int h = -1;
			if (i + 2 < len && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0)
				h = hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]);
			if (h <= 0) {
				free(out);
				return -EINVAL;
			}
			c = h;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			free(out);
			return -EINVAL;
		}
		*o++ = (char)c;
	}
	*o = '\0';
	*ret = out;
	return 0;
}

/* HOST[:PORT] or [IPV6][:PORT] of LEN bytes at S. */
static int parse_authority(const char *uri, const char *s, size_t len, struct disk_nbd *n,
			   char *errbuf, size_t errsize)
{
	const char *host = s, *colon = NULL;
	size_t hlen;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close || close == s + 1)
			return spec_error(errbuf, errsize, "bad IPv6 address in '%s'", uri);
		host = s + 1;
		hlen = (size_t)(close - host);
		for (size_t i = 0; i < hlen; i++)
			if (!strchr("0123456789abcdefABCDEF:.", host[i]))
				return spec_error(errbuf, errsize, "bad IPv6 address in '%s'", uri);
		if (close + 1 < s + len) {
			if (close[1] != ':')
				return spec_error(errbuf, errsize, "bad host in '%s'", uri);
			colon = close + 1;
		}
	} else {
		colon = memchr(s, ':', len);
		hlen = colon ? (size_t)(colon - s) : len;
		for (size_t i = 0; i < hlen; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-",
				    host[i]))
				return spec_error(errbuf, errsize, "bad host name '%.*s' in '%s'",
						  (int)hlen, host, uri);
	}
	if (hlen == 0)
		return spec_error(errbuf, errsize, "missing host in '%s' (expected %s)", uri,
				  NBD_URI_FORMS);
	if (colon) {
		_cleanup_free_ char *p = strndup(colon + 1, (size_t)(s + len - colon - 1));
		uint64_t port;
		if (!p)
			return -ENOMEM;
		if (parse_u64(p, &port) < 0 || port < 1 || port > 65535 || p[0] == '+')
			return spec_error(errbuf, errsize, "bad port '%s' in '%s' (expected 1-65535)",
					  p, uri);
		n->port = (unsigned)port;
	}
	n->host = strndup(host, hlen);
	return n->host ? 0 : -ENOMEM;
}

static int parse_export(const char *uri, const char *path, size_t len, struct disk_nbd *n,
			char *errbuf, size_t errsize)
{
	int r;

	if (len > 0 && path[0] == '/') {
		path++;
		len--;
	}
	if (len > NBD_EXPORT_NAME_MAX)
		return spec_error(errbuf, errsize, "export name in '%s' is longer than %d bytes",
				  uri, NBD_EXPORT_NAME_MAX);
	r = decode(path, len, &n->export);
	if (r == -EINVAL)
		return spec_error(errbuf, errsize, "bad export name in '%s' (bad %%-escape or "
				  "control character)", uri);
	return r;
}

/* "socket=PATH" (the only query parameter, required for nbd+unix). */
static int parse_query(const char *uri, const char *q, struct disk_nbd *n, char *errbuf,
		       size_t errsize)
{
	int r;

	if (!startswith(q, "socket=") || strchr(q, '&'))
		return spec_error(errbuf, errsize, "unknown parameter in '%s' (nbd+unix takes "
				  "only ?socket=PATH)", uri);
	q += strlen("socket=");
	r = decode(q, strlen(q), &n->socket);
	if (r == -EINVAL)
		return spec_error(errbuf, errsize, "bad socket path in '%s'", uri);
	if (r < 0)
		return r;
	if (n->socket[0] != '/')
		return spec_error(errbuf, errsize, "socket path '%s' in '%s' is not absolute",
				  n->socket, uri);
	if (strlen(n->socket) > UNIX_PATH_MAX_LEN)
		return spec_error(errbuf, errsize, "socket path in '%s' is longer than %d bytes",
				  uri, UNIX_PATH_MAX_LEN);
	return 0;
}

static int parse(const char *uri, struct disk_nbd *n, char *errbuf, size_t errsize)
{
	const char *rest, *slash, *query;
	bool is_unix;
	int r;

	if (startswith(uri, "nbds"))
		return spec_error(errbuf, errsize, "'%s': NBD over TLS is not supported (expected %s)",
				  uri, NBD_URI_FORMS);
	if (startswith(uri, "nbd://") || startswith(uri, "nbd+tcp://"))
		is_unix = false;
	else if (startswith(uri, "nbd+unix://"))
		is_unix = true;
	else
		return spec_error(errbuf, errsize, "bad NBD URI '%s' (expected %s)", uri, NBD_URI_FORMS);
	rest = strstr(uri, "://") + 3;
	query = strchr(rest, '?');
	slash = strchr(rest, '/');
	if (slash && query && slash > query)
		slash = NULL;
	if (!slash)
		slash = query ? query : rest + strlen(rest);
	if (is_unix) {
		if (slash != rest)
			return spec_error(errbuf, errsize, "'%s': nbd+unix takes no host (expected "
					  "nbd+unix:///EXPORT?socket=PATH)", uri);
		if (!query)
			return spec_error(errbuf, errsize, "'%s': missing ?socket=PATH", uri);
	} else {
		r = parse_authority(uri, rest, (size_t)(slash - rest), n, errbuf, errsize);
		if (r < 0)
			return r;
		if (query)
			return spec_error(errbuf, errsize, "unknown parameter in '%s' (nbd:// takes "
					  "none)", uri);
	}
	r = parse_export(uri, slash, (size_t)((query ? query : slash + strlen(slash)) - slash), n,
			 errbuf, errsize);
	if (r < 0)
		return r;
	return is_unix ? parse_query(uri, query + 1, n, errbuf, errsize) : 0;
}

int disk_nbd_parse(const char *uri, struct disk_nbd *ret, char *errbuf, size_t errsize)
{
	struct disk_nbd n = { .port = DISK_NBD_DEFAULT_PORT };
	int r;

	if (strlen(uri) > SPEC_MAX_LEN)
		return spec_error(errbuf, errsize, "NBD URI longer than %d bytes", SPEC_MAX_LEN);
	r = parse(uri, &n, errbuf, errsize);
	if (r < 0) {
		if (r == -ENOMEM)
			spec_error(errbuf, errsize, "out of memory");
		disk_nbd_release(&n);
		return r;
	}
	*ret = n;
	return 0;
}
