/* sock.c - Unix socket helpers that cope with long paths. */
#include "common/sock.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Fill SA for PATH; if PATH is too long, open its directory into *RET_DIRFD
 * and address the socket through /proc/self/fd. */
static int fill_addr(const char *path, struct sockaddr_un *sa, int *ret_dirfd)
{
	const char *slash;
	_cleanup_free_ char *dir = NULL;
	int dfd;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	*ret_dirfd = -1;
	if (strlen(path) < sizeof(sa->sun_path)) {
		strcpy(sa->sun_path, path);
		return 0;
	}
	slash = strrchr(path, '/');
	if (!slash)
		return -ENAMETOOLONG;
	dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dfd,
			     slash + 1) >= sizeof(sa->sun_path)) {
		close(dfd);
		return -ENAMETOOLONG;
	}
	*ret_dirfd = dfd;
	return 0;
}

/* A new stream socket and the address of PATH; *RET_DIRFD must be closed
 * after bind/connect. Returns the socket or -errno. */
static int unix_socket(const char *path, struct sockaddr_un *sa, int *ret_dirfd)
{
	int fd, r = fill_addr(path, sa, ret_dirfd);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

int unix_connect(const char *path)
{
	struct sockaddr_un sa;
	_cleanup_close_ int dirfd = -1;
	_cleanup_close_ int fd = unix_socket(path, &sa, &dirfd);

	if (fd < 0)
		return fd;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int unix_listen(const char *path, int backlog)
{
	struct sockaddr_un sa;
	_cleanup_close_ int dirfd = -1;
	_cleanup_close_ int fd = unix_socket(path, &sa, &dirfd);

	if (fd < 0)
		return fd;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (listen(fd, backlog) < 0)
		return -errno;
	return TAKE_FD(fd);
}
