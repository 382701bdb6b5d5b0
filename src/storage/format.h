/* format.h - LVM2 on-disk structures: label, PV header, metadata area header.
 *
 * Pure encode/decode on byte buffers (no I/O), so the parsers can be fuzzed.
 * All integers on disk are little-endian. Layout (LVM2 "text format 1"):
 *   sector 0..3: one of them holds the label ("LABELONE", sector number, CRC
 *   over bytes 20..511, offset of the PV header (32), "LVM2 001"), followed by
 *   the PV header: 32-byte UUID without dashes, device size in bytes, the
 *   data-area list and the metadata-area list (each {offset, size} pairs in
 *   bytes ended by {0,0}), then the extension (version 2, flags, bootloader
 *   area list).
 *   Each metadata area starts with a 512-byte header: CRC over bytes 4..511,
 *   magic " LVM2 x[5A%r0N*>", version 1, absolute start and size of the area,
 *   and raw locations {offset (from the area start), size, CRC of the text,
 *   flags}: slot 0 is the committed metadata, slot 1 the precommitted one.
 *   The rest of the area is a circular buffer of metadata texts.
 */
#ifndef DOMUS_STORAGE_FORMAT_H
#define DOMUS_STORAGE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LVM_SECTOR 512u
#define LVM_LABEL_SCAN_SECTORS 4u
#define LVM_MDA_HEADER_SIZE 512u
#define LVM_INITIAL_CRC 0xf597a6cfu
#define LVM_ID_LEN 32u          /* UUID without dashes */
#define LVM_UUID_STR_LEN 38u    /* with the six dashes */
#define LVM_MAX_AREAS 8u        /* data or metadata areas per PV we accept */
#define LVM_RAW_LOCN_IGNORED 1u

/* LVM's CRC-32 (reflected, polynomial 0xedb88320, no final xor); chain calls
 * by passing the previous result as CRC; start with LVM_INITIAL_CRC. */
uint32_t lvm_crc(uint32_t crc, const void *buf, size_t len);

struct lvm_area {
	uint64_t offset; /* bytes from the start of the device */
	uint64_t size;   /* bytes; 0 for "to the end" (data areas) */
};

struct lvm_pv_label {
	uint64_t sector;               /* sector holding the label (1 by default) */
	char uuid[LVM_ID_LEN + 1];     /* no dashes, NUL-terminated */
	uint64_t device_size;          /* bytes */
	unsigned n_data, n_mda;
	struct lvm_area data[LVM_MAX_AREAS];
	struct lvm_area mda[LVM_MAX_AREAS];
	uint32_t ext_version;          /* 0 when no extension */
	uint32_t ext_flags;            /* 1 = PV belongs to a VG ("used") */
};

/* Find and decode a label in BUF (the first LVM_LABEL_SCAN_SECTORS sectors
 * of a device, LEN bytes). Returns 0, -ENOENT if there is no label, -EBADMSG
 * on a bad CRC or malformed header. */
int lvm_label_decode(const uint8_t *buf, size_t len, struct lvm_pv_label *ret);

/* Encode L into the 512-byte SECTOR (label sector L->sector). */
int lvm_label_encode(const struct lvm_pv_label *l, uint8_t sector[LVM_SECTOR]);

struct lvm_raw_locn {
	uint64_t offset; /* from the start of the metadata area; 0 = empty */
	uint64_t size;   /* bytes, including the trailing NUL */
	uint32_t checksum;
	uint32_t flags;
};

struct lvm_mda_header {
	uint32_t version;
	uint64_t start;  /* absolute byte offset of the area */
	uint64_t size;   /* bytes, header included */
	struct lvm_raw_locn committed;
	struct lvm_raw_locn precommitted;
};

/* Decode a 512-byte metadata area header. -EBADMSG on bad CRC or magic,
 * -EPROTO on an unknown version, -EINVAL on inconsistent locations. */
int lvm_mda_header_decode(const uint8_t *buf, size_t len, struct lvm_mda_header *ret);
void lvm_mda_header_encode(const struct lvm_mda_header *h, uint8_t buf[LVM_MDA_HEADER_SIZE]);

/* True if RL lies in an area of MDA_SIZE bytes (wrapping allowed). */
bool lvm_raw_locn_valid(const struct lvm_raw_locn *rl, uint64_t mda_size);

/* "abcdef...": 32 chars -> "abcdef-ghij-...": 38 chars + NUL, and back.
 * The reverse fails with -EINVAL unless the dashes are where LVM puts them
 * (or absent) and every other char is alphanumeric (or '!', '#'). */
void lvm_uuid_format(const char id[LVM_ID_LEN], char ret[LVM_UUID_STR_LEN + 1]);
int lvm_uuid_parse(const char *s, char ret[LVM_ID_LEN + 1]);

/* A fresh random 32-char id (NUL-terminated). */
int lvm_uuid_generate(char ret[LVM_ID_LEN + 1]);

#endif
