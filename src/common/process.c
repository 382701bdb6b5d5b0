/* process.c - see process.h. */
#include "common/process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

extern char **environ;

/* The file actions of O, in order: directory first (a relative log opens
 * there), then the standard fds. */
static int file_actions(posix_spawn_file_actions_t *fa, const struct spawn_opts *o)
{
	int r = 0;

	if (o->dir)
		r = posix_spawn_file_actions_addchdir_np(fa, o->dir);
	if (!r && o->stdin_fd > 0)
		r = posix_spawn_file_actions_adddup2(fa, o->stdin_fd, STDIN_FILENO);
	else if (!r && o->stdin_path)
		r = posix_spawn_file_actions_addopen(fa, STDIN_FILENO, o->stdin_path, O_RDONLY, 0);
	if (!r && o->stdout_fd > 0)
		r = posix_spawn_file_actions_adddup2(fa, o->stdout_fd, STDOUT_FILENO);
	else if (!r && o->stdout_path)
		r = posix_spawn_file_actions_addopen(fa, STDOUT_FILENO, o->stdout_path,
						     O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (!r && o->stderr_fd > 0)
		r = posix_spawn_file_actions_adddup2(fa, o->stderr_fd, STDERR_FILENO);
	else if (!r && o->stderr_to_stdout)
		r = posix_spawn_file_actions_adddup2(fa, STDOUT_FILENO, STDERR_FILENO);
	return r;
}

pid_t spawn_program(char *const argv[], const struct spawn_opts *o)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	pid_t pid;
	int r;

	sigemptyset(&none);
	r = posix_spawn_file_actions_init(&fa);
	if (r)
		return -r;
	r = posix_spawnattr_init(&attr);
	if (r) {
		posix_spawn_file_actions_destroy(&fa);
		return -r;
	}
	r = file_actions(&fa, o);
	/* The daemon blocks signals in its threads; the program gets none. */
	if (!r)
		r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
						     (o->new_session ? POSIX_SPAWN_SETSID : 0));
	if (!r)
		r = posix_spawnattr_setsigmask(&attr, &none);
	if (!r)
		r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, o->envp ? o->envp : environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return r ? -r : pid;
}

int process_set_nice(pid_t pid, int nice)
{
	char path[64];
	struct dirent *de;
	DIR *dir;
	FILE *f;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(dir))) {
		int tid = atoi(de->d_name);

		/* A thread that ended meanwhile is no error. */
		if (tid > 0 && setpriority(PRIO_PROCESS, (id_t)tid, nice) < 0 && errno != ESRCH && !r)
			r = -errno;
	}
	closedir(dir);
	if (r < 0 || getsid(pid) != pid)
		return r;
	/* Absent without CONFIG_SCHED_AUTOGROUP; harmless when it is off. */
	snprintf(path, sizeof(path), "/proc/%d/autogroup", (int)pid);
	f = fopen(path, "we");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (fprintf(f, "%d", nice) < 0)
		r = -EIO;
	if (fclose(f) < 0 && !r)
		r = -errno;
	return r;
}
