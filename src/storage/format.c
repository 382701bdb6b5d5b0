/* format.c - encode/decode of LVM2 labels, PV headers and metadata area
 * headers (see format.h for the layout). */
#include "storage/format.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>

static const char LABEL_ID[8] = { 'L', 'A', 'B', 'E', 'L', 'O', 'N', 'E' };
static const char LABEL_TYPE[8] = { 'L', 'V', 'M', '2', ' ', '0', '0', '1' };
static const char MDA_MAGIC[16] = " LVM2 x[5A%r0N*>";

#define LABEL_CRC_FROM 20u  /* the CRC covers offset_xl to the end */
#define PVH_OFFSET 32u

/* Byte-at-a-time table for the reflected polynomial 0xedb88320, built on
 * first use (racing builders write the same values). */
static const uint32_t *crc_table(void)
{
	static uint32_t tab[256];
	static volatile bool ready;

	if (!ready) {
		for (uint32_t n = 0; n < 256; n++) {
			uint32_t v = n;
			for (int k = 0; k < 8; k++)
				v = (v >> 1) ^ (v & 1 ? 0xedb88320u : 0);
			tab[n] = v;
		}
		ready = true;
	}
	return tab;
}

uint32_t lvm_crc(uint32_t crc, const void *buf, size_t len)
{
	const uint32_t *tab = crc_table();
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		crc = (crc >> 8) ^ tab[(crc ^ p[i]) & 0xff];
	return crc;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/* Read a {offset,size} list ended by {0,0} from P (END bounds it). */
static int decode_areas(const uint8_t **p, const uint8_t *end, struct lvm_area *areas,
			unsigned *ret_n)
{
	unsigned n = 0;

	for (;;) {
		if (end - *p < 16)
			return -EBADMSG;
		uint64_t off = get64(*p), size = get64(*p + 8);
		*p += 16;
		if (off == 0 && size == 0)
			break;
		if (n == LVM_MAX_AREAS)
			return -EBADMSG;
		areas[n].offset = off;
		areas[n].size = size;
		n++;
	}
	*ret_n = n;
	return 0;
}

static int decode_one(const uint8_t *sec, uint64_t sector, struct lvm_pv_label *ret)
{
	const uint8_t *p, *end = sec + LVM_SECTOR;
	struct lvm_pv_label l = { .sector = sector };
	struct lvm_area boot[LVM_MAX_AREAS];
	unsigned nboot;
	int r;

	if (get64(sec + 8) != sector)
		return -EBADMSG;
	if (get32(sec + 16) != lvm_crc(LVM_INITIAL_CRC, sec + LABEL_CRC_FROM,
				       LVM_SECTOR - LABEL_CRC_FROM))
		return -EBADMSG;
	if (get32(sec + 20) != PVH_OFFSET || memcmp(sec + 24, LABEL_TYPE, 8) != 0)
		return -EBADMSG;
	p = sec + PVH_OFFSET;
	for (unsigned i = 0; i < LVM_ID_LEN; i++)
		if (p[i] == 0)
			return -EBADMSG;
	memcpy(l.uuid, p, LVM_ID_LEN);
	l.device_size = get64(p + LVM_ID_LEN);
	p += LVM_ID_LEN + 8;
	r = decode_areas(&p, end, l.data, &l.n_data);
	if (r < 0)
		return r;
	r = decode_areas(&p, end, l.mda, &l.n_mda);
	if (r < 0)
		return r;
	if (end - p >= 8) {
		l.ext_version = get32(p);
		l.ext_flags = get32(p + 4);
		p += 8;
		if (l.ext_version && decode_areas(&p, end, boot, &nboot) < 0)
			return -EBADMSG;
	}
	*ret = l;
	return 0;
}

int lvm_label_decode(const uint8_t *buf, size_t len, struct lvm_pv_label *ret)
{
	for (uint64_t s = 0; s < LVM_LABEL_SCAN_SECTORS && (s + 1) * LVM_SECTOR <= len; s++) {
		const uint8_t *sec = buf + s * LVM_SECTOR;
		if (memcmp(sec, LABEL_ID, sizeof(LABEL_ID)) == 0)
			return decode_one(sec, s, ret);
	}
	return -ENOENT;
}

static uint8_t *encode_areas(uint8_t *p, const struct lvm_area *a, unsigned n)
{
	for (unsigned i = 0; i < n; i++, p += 16) {
		put64(p, a[i].offset);
		put64(p + 8, a[i].size);
	}
	return p + 16; /* the {0,0} terminator (buffer is zeroed) */
}

int lvm_label_encode(const struct lvm_pv_label *l, uint8_t sector[LVM_SECTOR])
{
	uint8_t *p;

	if (l->n_data > LVM_MAX_AREAS || l->n_mda > LVM_MAX_AREAS ||
	    l->sector >= LVM_LABEL_SCAN_SECTORS || strlen(l->uuid) != LVM_ID_LEN)
		return -EINVAL;
	memset(sector, 0, LVM_SECTOR);
	memcpy(sector, LABEL_ID, 8);
	put64(sector + 8, l->sector);
	put32(sector + 20, PVH_OFFSET);
	memcpy(sector + 24, LABEL_TYPE, 8);
	p = sector + PVH_OFFSET;
	memcpy(p, l->uuid, LVM_ID_LEN);
	put64(p + LVM_ID_LEN, l->device_size);
	p = encode_areas(p + LVM_ID_LEN + 8, l->data, l->n_data);
	p = encode_areas(p, l->mda, l->n_mda);
	put32(p, l->ext_version);
	put32(p + 4, l->ext_flags);
	put32(sector + 16, lvm_crc(LVM_INITIAL_CRC, sector + LABEL_CRC_FROM,
				   LVM_SECTOR - LABEL_CRC_FROM));
	return 0;
}

bool lvm_raw_locn_valid(const struct lvm_raw_locn *rl, uint64_t mda_size)
{
	if (rl->offset == 0)
		return rl->size == 0;
	return mda_size > LVM_MDA_HEADER_SIZE && rl->offset >= LVM_MDA_HEADER_SIZE &&
	       rl->offset < mda_size && rl->size > 0 &&
	       rl->size <= mda_size - LVM_MDA_HEADER_SIZE;
}

static void decode_rlocn(const uint8_t *p, struct lvm_raw_locn *rl)
{
	rl->offset = get64(p);
	rl->size = get64(p + 8);
	rl->checksum = get32(p + 16);
	rl->flags = get32(p + 20);
}

int lvm_mda_header_decode(const uint8_t *buf, size_t len, struct lvm_mda_header *ret)
{
	struct lvm_mda_header h = { 0 };

	if (len < LVM_MDA_HEADER_SIZE)
		return -EBADMSG;
	if (get32(buf) != lvm_crc(LVM_INITIAL_CRC, buf + 4, LVM_MDA_HEADER_SIZE - 4) ||
	    memcmp(buf + 4, MDA_MAGIC, sizeof(MDA_MAGIC)) != 0)
		return -EBADMSG;
	h.version = get32(buf + 20);
	if (h.version != 1)
		return -EPROTO;
	h.start = get64(buf + 24);
	h.size = get64(buf + 32);
	decode_rlocn(buf + 40, &h.committed);
	if (h.committed.offset)
		decode_rlocn(buf + 64, &h.precommitted);
	if (!lvm_raw_locn_valid(&h.committed, h.size) ||
	    !lvm_raw_locn_valid(&h.precommitted, h.size))
		return -EINVAL;
	*ret = h;
	return 0;
}

static uint8_t *encode_rlocn(uint8_t *p, const struct lvm_raw_locn *rl)
{
	put64(p, rl->offset);
	put64(p + 8, rl->size);
	put32(p + 16, rl->checksum);
	put32(p + 20, rl->flags);
	return p + 24;
}

void lvm_mda_header_encode(const struct lvm_mda_header *h, uint8_t buf[LVM_MDA_HEADER_SIZE])
{
	uint8_t *p;

	memset(buf, 0, LVM_MDA_HEADER_SIZE);
	memcpy(buf + 4, MDA_MAGIC, sizeof(MDA_MAGIC));
	put32(buf + 20, h->version ? h->version : 1);
	put64(buf + 24, h->start);
	put64(buf + 32, h->size);
	p = encode_rlocn(buf + 40, &h->committed);
	if (h->committed.offset && h->precommitted.offset)
		encode_rlocn(p, &h->precommitted);
	put32(buf, lvm_crc(LVM_INITIAL_CRC, buf + 4, LVM_MDA_HEADER_SIZE - 4));
}

static bool uuid_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '!' || c == '#';
}

/* Group lengths of LVM's printed UUID: 6-4-4-4-4-4-6. */
static const unsigned UUID_GROUPS[7] = { 6, 4, 4, 4, 4, 4, 6 };

void lvm_uuid_format(const char id[LVM_ID_LEN], char ret[LVM_UUID_STR_LEN + 1])
{
	char *o = ret;
	const char *i = id;

	for (unsigned g = 0; g < 7; g++) {
		if (g)
			*o++ = '-';
		memcpy(o, i, UUID_GROUPS[g]);
		o += UUID_GROUPS[g];
		i += UUID_GROUPS[g];
	}
	*o = 0;
}

int lvm_uuid_parse(const char *s, char ret[LVM_ID_LEN + 1])
{
	char id[LVM_ID_LEN + 1];
	size_t len = strlen(s), n = 0;
	bool dashed = len == LVM_UUID_STR_LEN;

	if (!dashed && len != LVM_ID_LEN)
		return -EINVAL;
	for (unsigned g = 0; g < 7; g++) {
		if (g && dashed && *s++ != '-')
			return -EINVAL;
		for (unsigned k = 0; k < UUID_GROUPS[g]; k++, s++) {
			if (!uuid_char(*s))
				return -EINVAL;
			id[n++] = *s;
		}
	}
	id[n] = 0;
	memcpy(ret, id, sizeof(id));
	return 0;
}

int lvm_uuid_generate(char ret[LVM_ID_LEN + 1])
{
	static const char chars[] =
		"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	uint8_t rnd[LVM_ID_LEN];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -errno ? -errno : -EIO;
	for (unsigned i = 0; i < LVM_ID_LEN; i++)
		ret[i] = chars[rnd[i] % (sizeof(chars) - 1)];
	ret[LVM_ID_LEN] = 0;
	return 0;
}
