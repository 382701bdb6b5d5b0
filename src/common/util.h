/* util.h - small helpers shared by every subsystem: strings, files, time.
 *
 * All functions that can fail return 0 (or a count) on success and -errno
 * on failure; output parameters are named ret_* and untouched on failure.
 */
#ifndef DOMUS_UTIL_H
#define DOMUS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* asprintf() that returns the string, or NULL on allocation failure. */
char *strprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

bool streq(const char *a, const char *b);
bool startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);
/* The value of hexadecimal digit C, or -1. */
int hex_digit(char c);

/* Read all of PATH (at most MAX bytes) into a NUL-terminated buffer. */
int read_file(const char *path, size_t max, char **ret_data, size_t *ret_len);

/* Replace PATH with DATA atomically (temp file, fsync, rename, fsync dir). */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* mkdir -p with MODE for the directories it creates. */
int mkdir_p(const char *path, mode_t mode);

/* rm -r of PATH; a missing PATH is not an error. */
int rm_rf(const char *path);

/* Write all LEN bytes, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);

/* Monotonic clock in milliseconds / microseconds. */
uint64_t now_ms(void);
uint64_t now_us(void);

/* Wall clock seconds since the epoch, with fraction. */
double wall_time(void);

/* Parse a non-negative decimal integer that must fit in UINT64; no sign, no
 * trailing junk. Returns 0 or -EINVAL / -ERANGE. */
int parse_u64(const char *s, uint64_t *ret);

/* Put FD in non-blocking mode. */
int fd_set_nonblock(int fd, bool on);

/* The path of program NAME installed beside this one: in the same
 * directory (a build tree), else in ../DIR (an install: "bin" or "sbin"),
 * else NAME itself for a $PATH lookup. malloc'd; NULL on allocation
 * failure. */
char *sibling_program(const char *name, const char *dir);

/* True if the process PID exists (kill(pid, 0) succeeds or is EPERM). */
bool pid_alive(pid_t pid);

#endif
