/* holder.c - records of who uses a logical volume (holder.h). */
#include "storage/holder.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define RECORD_MAX 512

/* A live record's WHO and mode; -ENOENT if the record at PATH is stale. */
static int record_read(const char *path, bool *ret_rw, char **ret_who)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[RECORD_MAX + 1];
	ssize_t n;
	char *nl;

	if (fd < 0)
		return -ENOENT;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		return -ENOENT; /* nobody holds it: its writer is gone */
	if (errno != EWOULDBLOCK)
		return -errno;
	n = pread(fd, buf, RECORD_MAX, 0);
	if (n < 4 || (memcmp(buf, "rw ", 3) && memcmp(buf, "ro ", 3)))
		return -ENOENT;
	buf[n] = '\0';
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	*ret_who = strdup(buf + 3);
	if (!*ret_who)
		return -ENOMEM;
	*ret_rw = buf[1] == 'w';
	return 0;
}

/* The first live record of LV_ID other than the caller's that matches:
 * read-write ones if WANT_RW, else any (read-write preferred). */
static int find_record(const struct storage *st, const char *lv_id, bool want_rw, char **ret)
{
	_cleanup_free_ char *prefix = strprintf("H_%s.", lv_id);
	_cleanup_free_ char *own = strprintf("H_%s.%d", lv_id, (int)getpid());
	_cleanup_free_ char *any = NULL;
	_cleanup_closedir_ DIR *dir = opendir(st->lock_dir);
	struct dirent *de;

	if (!prefix || !own)
		return -ENOMEM;
	while (dir && (de = readdir(dir))) {
		_cleanup_free_ char *path = NULL, *who = NULL;
		bool rw;

		if (!startswith(de->d_name, prefix) || streq(de->d_name, own))
			continue;
		path = strprintf("%s/%s", st->lock_dir, de->d_name);
		if (!path)
			return -ENOMEM;
		if (record_read(path, &rw, &who) < 0)
			continue;
		if (rw) {
			*ret = TAKE_PTR(who);
			return 0;
		}
		if (!want_rw && !any)
			any = TAKE_PTR(who);
	}
	if (!any)
		return -ENOENT;
	*ret = TAKE_PTR(any);
	return 0;
}

/* Write the record under a temporary name, lock it, rename it in place. */
static int record_write(const struct storage *st, const char *lv_id, const char *who, bool rw)
{
	_cleanup_free_ char *path = strprintf("%s/H_%s.%d", st->lock_dir, lv_id, (int)getpid());
	_cleanup_free_ char *tmp = strprintf("%s/.H_%s.%d", st->lock_dir, lv_id, (int)getpid());
	_cleanup_free_ char *text = strprintf("%s %s\n", rw ? "rw" : "ro", who);
	_cleanup_close_ int fd = -1;
	int r;

	if (!path || !tmp || !text)
		return -ENOMEM;
	if (strlen(text) > RECORD_MAX)
		return -ENAMETOOLONG;
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0)
		return -errno;
	r = write_all(fd, text, strlen(text));
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return TAKE_FD(fd);
}

int lv_holder_add(const struct storage *st, const char *lv_id, const char *who, bool rw,
		  char **ret_conflict)
{
	_cleanup_free_ char *lockname = strprintf("H_%s", lv_id);
	_cleanup_close_ int lock = -1;
	char *conflict = NULL;
	int r;

	if (!lockname)
		return -ENOMEM;
	lock = storage_lock(st, lockname, true, false);
	if (lock < 0)
		return lock;
	r = find_record(st, lv_id, !rw, &conflict);
	if (r == 0) {
		*ret_conflict = conflict;
		return -EBUSY;
	}
	if (r != -ENOENT)
		return r;
	return record_write(st, lv_id, who, rw);
}

void lv_holder_remove(const struct storage *st, const char *lv_id, int fd)
{
	_cleanup_free_ char *path = strprintf("%s/H_%s.%d", st->lock_dir, lv_id, (int)getpid());

	if (path)
		unlink(path);
	if (fd >= 0)
		close(fd);
}

int lv_holder_describe(const struct storage *st, const char *lv_id, char **ret)
{
	return find_record(st, lv_id, false, ret);
}

/* The path of PID's record in the lock dir, or NULL. */
static char *record_of(const struct storage *st, pid_t pid)
{
	_cleanup_free_ char *suffix = strprintf(".%d", (int)pid);
	_cleanup_closedir_ DIR *dir = opendir(st->lock_dir);
	struct dirent *de;

	while (suffix && dir && (de = readdir(dir)))
		if (startswith(de->d_name, "H_") && endswith(de->d_name, suffix))
			return strprintf("%s/%s", st->lock_dir, de->d_name);
	return NULL;
}

int lv_holder_retitle(const struct storage *st, pid_t pid, const char *who)
{
	_cleanup_free_ char *path = record_of(st, pid), *old = NULL, *text = NULL;
	_cleanup_close_ int fd = -1;
	bool rw;
	int r;

	if (!path)
		return -ENOENT;
	r = record_read(path, &rw, &old);
	if (r < 0)
		return r;
	text = strprintf("%s %s\n", rw ? "rw" : "ro", who);
	if (!text)
		return -ENOMEM;
	if (strlen(text) > RECORD_MAX)
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text))
		return -EIO;
	return ftruncate(fd, (off_t)strlen(text)) < 0 ? -errno : 0;
}
