/* storage.c - devices list, scanning, locks, VG open/commit (storage.h). */
#include "storage/storage.h"

#include "storage/pv.h"
#include "storage/sio.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define DEVICES_MAX (1024 * 1024)

int storage_init(struct storage *st, const char *lib_dir, const char *run_dir)
{
	char host[256] = "localhost";

	*st = (struct storage){ 0 };
	(void)gethostname(host, sizeof(host) - 1);
	st->devices_file = strprintf("%s/storage/devices", lib_dir);
	st->backup_dir = strprintf("%s/storage/backup", lib_dir);
	st->lock_dir = strprintf("%s/storage/locks", run_dir);
	st->host = strdup(host);
	if (!st->devices_file || !st->backup_dir || !st->lock_dir || !st->host) {
		storage_release(st);
		return -ENOMEM;
	}
	return 0;
}

void storage_release(struct storage *st)
{
	free(st->devices_file);
	free(st->backup_dir);
	free(st->lock_dir);
	free(st->host);
	*st = (struct storage){ 0 };
}

int storage_devices(const struct storage *st, char ***ret)
{
	_cleanup_free_ char *data = NULL;
	size_t len, n = 0;
	char **v, *save = NULL;
	int r = read_file(st->devices_file, DEVICES_MAX, &data, &len);

	if (r == -ENOENT) {
		*ret = calloc(1, sizeof(char *));
		return *ret ? 0 : -ENOMEM;
	}
	if (r < 0)
		return r;
	v = calloc(len / 2 + 2, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] != '/')
			continue; /* comments and junk */
		v[n] = strdup(line);
		if (!v[n++]) {
			strv_free(v);
			return -ENOMEM;
		}
	}
	*ret = v;
	return 0;
}

static int devices_write(const struct storage *st, char **v)
{
	_cleanup_free_ char *buf = NULL, *dir = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return -ENOMEM;
	fputs("# Devices Domus scans for LVM physical volumes (one path per line).\n", f);
	for (char **s = v; *s; s++)
		fprintf(f, "%s\n", *s);
	if (fclose(f) != 0)
		return -ENOMEM;
	dir = strdup(st->devices_file);
	if (!dir)
		return -ENOMEM;
	*strrchr(dir, '/') = 0;
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	return write_file_atomic(st->devices_file, buf, len, 0644);
}

/* The list is changed under P_devices so concurrent pvcreates keep all. */
static int devices_update(const struct storage *st, const char *path, bool add)
{
	_cleanup_strv_free_ char **v = NULL;
	_cleanup_close_ int lock = storage_lock(st, "P_devices", true, false);
	size_t n = 0, k = 0;
	int r;

	if (lock < 0)
		return lock;
	r = storage_devices(st, &v);
	if (r < 0)
		return r;
	for (; v[n]; n++)
		if (streq(v[n], path) && add)
			return 0;
	if (add) {
		char **nv = realloc(v, (n + 2) * sizeof(char *));
		if (!nv)
			return -ENOMEM;
		v = nv;
		v[n] = strdup(path);
		v[n + 1] = NULL;
		if (!v[n])
			return -ENOMEM;
	} else {
		for (size_t i = 0; i < n; i++) {
			if (streq(v[i], path))
				free(v[i]);
			else
				v[k++] = v[i];
		}
		v[k] = NULL;
	}
	return devices_write(st, v);
}

int storage_device_add(const struct storage *st, const char *path)
{
	return devices_update(st, path, true);
}

int storage_device_remove(const struct storage *st, const char *path)
{
	return devices_update(st, path, false);
}

int storage_lock(const struct storage *st, const char *name, bool exclusive, bool nonblock)
{
	_cleanup_free_ char *path = strprintf("%s/%s", st->lock_dir, name);
	int fd, r;

	if (!path)
		return -ENOMEM;
	r = mkdir_p(st->lock_dir, 0700);
	if (r < 0)
		return r;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | (nonblock ? LOCK_NB : 0)) < 0) {
		if (errno == EINTR)
			continue;
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}
