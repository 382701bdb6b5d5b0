/* domusd.c - the host daemon: owns an instance root, supervises its
 * domains, and answers the management API on run/domus/domusd.sock.
 *
 *   domusd [--root DIR] [--foreground] [--describe-api]
 *
 * Without --foreground it detaches once the socket is listening (the parent
 * exits 0 then, or 1 with the reason on stderr). Stopping the daemon never
 * stops a domain; a new daemon re-attaches to the running ones.
 */
#include "daemon/daemon.h"
#include "daemon/domain.h"
#include "daemon/lvdisk.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/sock.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

static void *client_main(void *arg)
{
	api_serve_client((int)(intptr_t)arg);
	return NULL;
}

static int lock_instance(void)
{
	_cleanup_free_ char *path = strprintf("%s/domusd.lock", daemon_state.paths.run_dir);
	int fd;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -EBUSY;
	}
	return fd; /* held for the daemon's life */
}

static void serve(int lfd)
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!got_signal) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		pthread_t t;
		int cfd;

		if (poll(&pfd, 1, 500) <= 0)
			continue;
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		if (pthread_create(&t, &attr, client_main, (void *)(intptr_t)cfd) != 0) {
			log_err("cannot start a client thread: %s", strerror(errno));
			close(cfd);
		}
	}
	pthread_attr_destroy(&attr);
}

/* Fork; the parent waits for the child's "ready" byte, then exits. */
static int daemonize(int *ret_notify_fd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	*ret_notify_fd = p[1];
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'R' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "describe-api", no_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	const char *root = NULL;
	bool foreground = false;
	int c, lock_fd, lfd, notify_fd = -1, r;
	char errbuf[1024] = "";
	_cleanup_free_ char *pidtext = NULL, *pidfile = NULL;

	log_set_program("domusd");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'R':
			root = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'A':
			api_describe(stdout);
			return 0;
		default:
			fprintf(stderr, "usage: domusd [--root DIR] [--foreground] [--describe-api]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	r = daemon_setup(root, errbuf, sizeof(errbuf));
	if (r < 0) {
		log_err("%s", errbuf[0] ? errbuf : strerror(-r));
		return 1;
	}
	lock_fd = lock_instance();
	if (lock_fd < 0) {
		log_err("another domusd runs for '%s'", daemon_state.paths.root[0] ? daemon_state.paths.root : "/");
		return 1;
	}
	lfd = unix_listen(daemon_state.paths.sock_path, 64);
	if (lfd < 0) {
		log_err("cannot listen on '%s': %s", daemon_state.paths.sock_path, strerror(-lfd));
		return 1;
	}
	if (!foreground && daemonize(&notify_fd) < 0) {
		log_err("cannot detach: %s", strerror(errno));
		return 1;
	}
	/* QEMUs started through a double fork become our children (not
	 * inherited across fork, so set after detaching): reaped even where
	 * init does not reap orphans. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	r = log_open(daemon_state.paths.daemon_log);
	if (r < 0) {
		log_err("cannot open '%s': %s", daemon_state.paths.daemon_log, strerror(-r));
		return 1;
	}
	if (notify_fd >= 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
			close(devnull);
		}
	}
	daemon_state.start_time = wall_time();
	pidfile = strprintf("%s/domusd.pid", daemon_state.paths.run_dir);
	pidtext = strprintf("%d\n", (int)getpid());
	if (pidfile && pidtext)
		write_file_atomic(pidfile, pidtext, strlen(pidtext), 0644);
	log_info("domusd %s started (pid %d, root '%s', accelerator %s)", DOMUS_VERSION, (int)getpid(),
		 daemon_state.paths.root[0] ? daemon_state.paths.root : "/",
		 daemon_state.conf.accel == ACCEL_KVM ? "kvm" : "tcg");
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	api_networks_restore();
	domain_reattach_all();
	if (lvdisk_monitor_start(domain_persist) < 0)
		log_err("cannot start the disk-server monitor");
	host_start_domains();
	if (relocation_start(errbuf, sizeof(errbuf)) < 0)
		log_err("%s", errbuf);
	if (notify_fd >= 0) {
		if (write(notify_fd, "R", 1) < 0)
			log_warn("cannot notify the starting process");
		close(notify_fd);
	}
	serve(lfd);
	log_info("domusd stopping (signal %d); domains keep running", (int)got_signal);
	unlink(daemon_state.paths.sock_path);
	if (pidfile)
		unlink(pidfile);
	close(lfd);
	close(lock_fd);
	/* Client and supervisor threads hold no state that outlives us. */
	_exit(0);
}
