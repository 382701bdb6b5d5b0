/* domus-agent main loop: find and open the org.qemu.guest_agent.0
 * virtio-serial port, answer requests, watch guest-exec children, and power
 * the guest off when the ACPI power button is pressed.
 *
 *   domus-agent [-p PORT_PATH] [-r READY_FILE]
 *
 * While the host end of the port is closed the kernel reports POLLHUP: the
 * agent then stops polling the port and looks again every 250 ms, so it
 * neither spins nor misses a reconnecting host. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/input.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define PORT_NAME "org.qemu.guest_agent.0"
#define RETRY_MS 250
#define WRITE_TIMEOUT_MS 10000
#define MAX_BUTTONS 4

static int port_fd = -1;
static const char *port_path;
static int buttons[MAX_BUTTONS];
static size_t n_buttons;

/* Open the agent port: PORT_PATH if given, else the /dev node of the
 * virtio port named PORT_NAME in sysfs (no udev needed). */
static int port_open(void)
{
	char path[300], name[128];
	struct dirent *de;
	DIR *dir;
	int fd = -1;

	if (port_path)
		return open(port_path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	dir = opendir("/sys/class/virtio-ports");
	if (!dir)
		return -1;
	while (fd < 0 && (de = readdir(dir))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f) && !strcmp(strtok(name, "\n") ?: "", PORT_NAME)) {
			snprintf(path, sizeof(path), "/dev/%s", de->d_name);
			fd = open(path, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		}
		fclose(f);
	}
	closedir(dir);
	return fd;
}

/* Write all of BUF to the port, waiting at most WRITE_TIMEOUT_MS for room. */
static int port_write(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(port_fd, buf, len);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = port_fd, .events = POLLOUT };
			if (poll(&p, 1, WRITE_TIMEOUT_MS) <= 0 || (p.revents & (POLLHUP | POLLERR)))
				return -EPIPE;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void send_reply(json_t *reply, bool delimit)
{
	char *text = json_dumps(reply, JSON_COMPACT);

	if (!text)
		return;
	if (!delimit || port_write("\xff", 1) == 0)
		if (port_write(text, strlen(text)) == 0)
			port_write("\n", 1);
	free(text);
}

/* Read what the port has; returns false when the host end is gone. */
static bool port_read(struct frame *f)
{
	unsigned char buf[65536];
	ssize_t n = read(port_fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	for (ssize_t i = 0; i < n; i++) {
		json_t *reply;
		bool delimit;

		if (!frame_feed(f, buf[i]))
			continue;
		if (f->overflow)
			reply = json_pack("{s:{s:s,s:s}}", "error", "class", "GenericError",
					  "desc", "request too long");
		else
			reply = agent_dispatch(f->buf, f->len, &delimit);
		frame_reset(f);
		if (reply)
			send_reply(reply, f->overflow ? false : delimit);
		json_decref(reply);
	}
	return true;
}

/* Open the input devices that have a power key. */
static void buttons_open(void)
{
	unsigned long keys[KEY_MAX / (8 * sizeof(long)) + 1];
	char path[64];

	for (int i = 0; i < 32 && n_buttons < MAX_BUTTONS; i++) {
		int fd;

		snprintf(path, sizeof(path), "/dev/input/event%d", i);
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(keys, 0, sizeof(keys));
		if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof(keys)), keys) >= 0 &&
		    (keys[KEY_POWER / (8 * sizeof(long))] >> (KEY_POWER % (8 * sizeof(long))) & 1))
			buttons[n_buttons++] = fd;
		else
			close(fd);
	}
}

static void button_read(int fd)
{
	struct input_event ev[16];
	ssize_t n = read(fd, ev, sizeof(ev));

	for (ssize_t i = 0; i < n / (ssize_t)sizeof(ev[0]); i++)
		if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER && ev[i].value == 1)
			agent_halt("poweroff");
}

static int signals_open(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

void agent_child_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

static void signals_read(int fd)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si))
		;
	exec_reap();
}

static void mark_ready(const char *ready_file)
{
	int fd;

	if (!ready_file)
		return;
	fd = open(ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	const char *ready_file = "/run/domus-agent.ready";
	struct pollfd fds[2 + MAX_BUTTONS + 2 * AGENT_MAX_PROCS];
	struct frame frame = { 0 };
	bool port_up = false;
	int opt, sig_fd;

	while ((opt = getopt(argc, argv, "p:r:")) != -1) {
		if (opt == 'p')
			port_path = optarg;
		else if (opt == 'r')
			ready_file = optarg;
		else {
			fprintf(stderr, "usage: domus-agent [-p PORT_PATH] [-r READY_FILE]\n");
			return 2;
		}
	}
	/* A seed of our own: jansson would read /dev/urandom, which early in
	 * boot blocks for about a second of busy entropy gathering under TCG.
	 * Hash flooding is no concern for requests from our own host. */
	json_object_seed((size_t)getpid() * 2654435761u ^ (size_t)time(NULL));
	sig_fd = signals_open();
	buttons_open();
	port_fd = port_open();
	mark_ready(ready_file);
	for (;;) {
		size_t n = 0, first_child;
		int r;

		port_up = port_up && port_fd >= 0;
		if (port_up)
			fds[n++] = (struct pollfd){ .fd = port_fd, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
		for (size_t i = 0; i < n_buttons; i++)
			fds[n++] = (struct pollfd){ .fd = buttons[i], .events = POLLIN };
		first_child = n;
		n += exec_poll_fds(fds + n, sizeof(fds) / sizeof(fds[0]) - n);
		r = poll(fds, n, port_up ? -1 : RETRY_MS);
		if (r < 0 && errno != EINTR)
			return 1;
		if (r == 0 && !port_up) {
			/* Retry: the port may be new, or the host may be back. */
			if (port_fd < 0)
				port_fd = port_open();
			if (port_fd >= 0) {
				struct pollfd p = { .fd = port_fd, .events = POLLIN };
				port_up = poll(&p, 1, 0) >= 0 &&
					  (!(p.revents & POLLHUP) || (p.revents & POLLIN));
			}
			continue;
		}
		if (r <= 0)
			continue;
		for (size_t i = 0; i < first_child; i++) {
			if (!fds[i].revents)
				continue;
			if (port_up && fds[i].fd == port_fd) {
				if (fds[i].revents & POLLIN)
					port_up = port_read(&frame);
				else
					port_up = false;
			} else if (fds[i].fd == sig_fd) {
				signals_read(sig_fd);
			} else {
				button_read(fds[i].fd);
			}
		}
		exec_handle_fds(fds + first_child, n - first_child);
	}
}
