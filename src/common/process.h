/* process.h - start a program without a shell, posix_spawn (vfork-like):
 * no copy of the caller's page tables, which a fork of the daemon (tens of
 * threads, MiBs mapped) pays on every create and tool run. */
#ifndef DOMUS_PROCESS_H
#define DOMUS_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

/* How spawn_program() starts it. Zero-initialized: the caller's
 * environment, directory, standard fds and session. */
struct spawn_opts {
	char **envp;              /* its environment; NULL: the caller's */
	const char *dir;          /* its working directory; NULL: the caller's */
	bool new_session;         /* setsid() */
	/* Its stdin, stdout, stderr: these fds when > 0 (a 0 is the
	 * default, the caller's own)... */
	int stdin_fd, stdout_fd, stderr_fd;
	/* ...or, without an fd: stdin read from this file, stdout appended to
	 * this one (created 0644; opened in DIR when relative), stderr with
	 * it when STDERR_TO_STDOUT. */
	const char *stdin_path, *stdout_path;
	bool stderr_to_stdout;
};

/* Start ARGV (argv[0] looked up in PATH) as O says. Its pid, or -errno
 * (-ENOENT: no such program; a file action that failed). The caller reaps
 * it. */
pid_t spawn_program(char *const argv[], const struct spawn_opts *o);

/* Give process PID the scheduling priority NICE (-20..19): each of its
 * threads (threads it makes later inherit it from theirs) and, where the
 * kernel groups the CPU time of a session (sched_autogroup) and PID leads
 * its own session, that group, since the group's weight is then what counts
 * against other sessions. 0 or -errno (-ESRCH: no such process). */
int process_set_nice(pid_t pid, int nice);

#endif
