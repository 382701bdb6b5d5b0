/* savefile.h - the format of `domus save` files.
 *
 *   offset 0   "DOMUSSAV"  magic
 *          8   u32 LE      version (1)
 *         12   u32 LE      header size (32)
 *         16   u64 LE      config length C
 *         24   u64 LE      reserved, 0
 *         32   C bytes     the VM's configuration (domcfg JSON)
 *     32 + C   S bytes     QEMU's migration stream (memory and device state)
 *          …   "DOMUSEND"  trailer magic, u64 LE S, SHA-256 of all bytes
 *                          before the trailer (48 bytes)
 *
 * A file is accepted only whole: magic, version, sizes and checksum.
 */
#ifndef DOMUS_SAVEFILE_H
#define DOMUS_SAVEFILE_H

#include <stddef.h>
#include <stdint.h>

#define SAVEFILE_HEADER_SIZE 32
#define SAVEFILE_TRAILER_SIZE 48
#define SAVEFILE_VERSION 1
#define SAVEFILE_MAX_CONFIG (1u << 20)

/* The header for a config of CONFIG_LEN bytes. */
void savefile_header_encode(uint64_t config_len, uint8_t out[SAVEFILE_HEADER_SIZE]);

/* The trailer for a stream of STREAM_LEN bytes and the file's SHA256. */
void savefile_trailer_encode(uint64_t stream_len, const uint8_t sha256[32],
			     uint8_t out[SAVEFILE_TRAILER_SIZE]);

/* Check the save file open on FD (header, sizes, trailer, checksum). On
 * success *RET_CONFIG is the config text (NUL-terminated, malloc'd) and the
 * stream is at [*RET_STREAM_OFF, +*RET_STREAM_LEN). On failure ERRBUF says
 * what is wrong (not a save file, other version, truncated, corrupted) and
 * -EINVAL (or -errno for I/O) is returned. */
int savefile_verify(int fd, char **ret_config, uint64_t *ret_stream_off, uint64_t *ret_stream_len,
		    char *errbuf, size_t errsize);

/* Incremental SHA-256 (GnuTLS underneath). */
struct savefile_hash;
int savefile_hash_new(struct savefile_hash **ret);
int savefile_hash_update(struct savefile_hash *h, const void *buf, size_t len);
void savefile_hash_finish(struct savefile_hash *h, uint8_t out[32]); /* frees H */

#endif
