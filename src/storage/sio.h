/* sio.h - the storage library's I/O shim: every write to a PV goes through
 * here so tests can make the Nth write fail (or kill the process) and
 * check that metadata stays consistent at every point.
 */
#ifndef DOMUS_STORAGE_SIO_H
#define DOMUS_STORAGE_SIO_H

#include <stddef.h>
#include <stdint.h>

enum sio_fault_mode { SIO_FAULT_FAIL, SIO_FAULT_KILL };

/* Read/write exactly LEN bytes at OFF; -EIO on a short read (past the end). */
int sio_pread(int fd, void *buf, size_t len, uint64_t off);
int sio_pwrite(int fd, const void *buf, size_t len, uint64_t off);
int sio_sync(int fd);

/* Let N more writes succeed, then fail each later one with -EIO (FAIL) or
 * _exit(137) before writing (KILL). N < 0 disables fault injection. */
void sio_fault_set(long n, enum sio_fault_mode mode);

/* Read DOMUS_STORAGE_FAULT ("fail:N" or "kill:N") if set; used by the CLI
 * so system tests can inject faults into real commands. */
void sio_fault_from_env(void);

/* Writes done since the process started (tests count a command's writes). */
long sio_write_count(void);

/* Size in bytes of a regular file or block device. */
int sio_dev_size(int fd, uint64_t *ret);

#endif
