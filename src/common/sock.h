/* sock.h - Unix socket helpers that cope with long paths.
 *
 * sun_path holds 108 bytes; instance roots can be deeper than that. Paths
 * that do not fit are reached through /proc/self/fd/N/<name> where N is an
 * O_PATH descriptor of the socket's directory.
 */
#ifndef DOMUS_SOCK_H
#define DOMUS_SOCK_H

/* Connect a SOCK_STREAM socket to PATH. Returns the fd (CLOEXEC) or -errno. */
int unix_connect(const char *path);

/* Bind and listen on PATH (an existing stale socket is replaced). Returns the
 * fd (CLOEXEC) or -errno. */
int unix_listen(const char *path, int backlog);

#endif
