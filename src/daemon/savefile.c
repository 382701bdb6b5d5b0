/* savefile.c - encode and check `domus save` files (format in savefile.h). */
#include "daemon/savefile.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char header_magic[8] = { 'D', 'O', 'M', 'U', 'S', 'S', 'A', 'V' };
static const char trailer_magic[8] = { 'D', 'O', 'M', 'U', 'S', 'E', 'N', 'D' };

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void savefile_header_encode(uint64_t config_len, uint8_t out[SAVEFILE_HEADER_SIZE])
{
	memset(out, 0, SAVEFILE_HEADER_SIZE);
	memcpy(out, header_magic, 8);
	put_le(out + 8, SAVEFILE_VERSION, 4);
	put_le(out + 12, SAVEFILE_HEADER_SIZE, 4);
	put_le(out + 16, config_len, 8);
}

void savefile_trailer_encode(uint64_t stream_len, const uint8_t sha256[32],
			     uint8_t out[SAVEFILE_TRAILER_SIZE])
{
	memcpy(out, trailer_magic, 8);
	put_le(out + 8, stream_len, 8);
	memcpy(out + 16, sha256, 32);
}

struct savefile_hash {
	gnutls_hash_hd_t h;
};

int savefile_hash_new(struct savefile_hash **ret)
{
	struct savefile_hash *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	if (gnutls_hash_init(&h->h, GNUTLS_DIG_SHA256) < 0) {
		free(h);
		return -EIO;
	}
	*ret = h;
	return 0;
}

int savefile_hash_update(struct savefile_hash *h, const void *buf, size_t len)
{
	return gnutls_hash(h->h, buf, len) < 0 ? -EIO : 0;
}

void savefile_hash_finish(struct savefile_hash *h, uint8_t out[32])
{
	gnutls_hash_deinit(h->h, out);
	free(h);
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* SHA-256 of the first LEN bytes of FD. */
static int hash_prefix(int fd, uint64_t len, uint8_t out[32])
{
	struct savefile_hash *h;
	_cleanup_free_ uint8_t *buf = malloc(1 << 20);
	uint64_t off = 0;
	int r = savefile_hash_new(&h);

	if (r < 0)
		return r;
	while (r == 0 && off < len && buf) {
		size_t n = len - off > (1 << 20) ? (1 << 20) : (size_t)(len - off);
		r = pread_all(fd, buf, n, off);
		if (r == 0)
			r = savefile_hash_update(h, buf, n);
		off += n;
	}
	savefile_hash_finish(h, out);
	return buf ? r : -ENOMEM;
}

int savefile_verify(int fd, char **ret_config, uint64_t *ret_stream_off, uint64_t *ret_stream_len,
		    char *errbuf, size_t errsize)
{
	uint8_t hdr[SAVEFILE_HEADER_SIZE], tr[SAVEFILE_TRAILER_SIZE], sha[32];
	_cleanup_free_ char *config = NULL;
	uint64_t size, config_len, stream_len;
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	size = (uint64_t)st.st_size;
	if (size < SAVEFILE_HEADER_SIZE || pread_all(fd, hdr, sizeof(hdr), 0) < 0 ||
	    memcmp(hdr, header_magic, 8) != 0) {
		snprintf(errbuf, errsize, "not a Domus save file");
		return -EINVAL;
	}
	if (get_le(hdr + 8, 4) != SAVEFILE_VERSION || get_le(hdr + 12, 4) != SAVEFILE_HEADER_SIZE) {
		snprintf(errbuf, errsize, "save file version %u is not supported (this is version %u)",
			 (unsigned)get_le(hdr + 8, 4), SAVEFILE_VERSION);
		return -EINVAL;
	}
	config_len = get_le(hdr + 16, 8);
	if (config_len == 0 || config_len > SAVEFILE_MAX_CONFIG) {
		snprintf(errbuf, errsize, "save file is corrupted (config length %llu)",
			 (unsigned long long)config_len);
		return -EINVAL;
	}
	if (size < SAVEFILE_HEADER_SIZE + config_len + SAVEFILE_TRAILER_SIZE ||
	    pread_all(fd, tr, sizeof(tr), size - SAVEFILE_TRAILER_SIZE) < 0 ||
	    memcmp(tr, trailer_magic, 8) != 0) {
		snprintf(errbuf, errsize, "save file is truncated (no end marker)");
		return -EINVAL;
	}
	stream_len = get_le(tr + 8, 8);
	if (stream_len != size - SAVEFILE_HEADER_SIZE - config_len - SAVEFILE_TRAILER_SIZE) {
		snprintf(errbuf, errsize, "save file is truncated or corrupted (sizes do not add up)");
		return -EINVAL;
	}
	r = hash_prefix(fd, size - SAVEFILE_TRAILER_SIZE, sha);
	if (r < 0)
		return r;
	if (memcmp(sha, tr + 16, 32) != 0) {
		snprintf(errbuf, errsize, "save file is corrupted (checksum mismatch)");
		return -EINVAL;
	}
	config = malloc(config_len + 1);
	if (!config)
		return -ENOMEM;
	r = pread_all(fd, config, config_len, SAVEFILE_HEADER_SIZE);
	if (r < 0)
		return r;
	config[config_len] = '\0';
	*ret_config = TAKE_PTR(config);
	*ret_stream_off = SAVEFILE_HEADER_SIZE + config_len;
	*ret_stream_len = stream_len;
	return 0;
}
