/* console.c - copy bytes between a QEMU console chardev and its clients. */
#include "daemon/console.h"
#include "common/cleanup.h"
#include "common/sock.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONSOLE_MAX_CLIENTS 16

struct console_mux {
	char *sock_path;
	pthread_mutex_t lock;
	int clients[CONSOLE_MAX_CLIENTS];
	size_t n_clients;
	int wake_fd;          /* eventfd: client added or mux stopping */
	bool running, stopping;
	bool joinable;        /* thread was started and not yet joined */
	pthread_t thread;
};

struct console_mux *console_mux_new(const char *sock_path)
{
	struct console_mux *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->sock_path = strdup(sock_path);
	m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!m->sock_path || m->wake_fd < 0) {
		free(m->sock_path);
		if (m->wake_fd >= 0)
			close(m->wake_fd);
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void remove_client_locked(struct console_mux *m, size_t i)
{
	close(m->clients[i]);
	m->clients[i] = m->clients[--m->n_clients];
}

/* Send guest output to every client; a client that cannot keep up (its
 * socket buffer is full) is dropped rather than stalling the guest. */
static bool broadcast(struct console_mux *m, const char *buf, size_t len)
{
	bool dropped = false;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_clients;) {
		ssize_t n = send(m->clients[i], buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n != (ssize_t)len) {
			remove_client_locked(m, i);
			dropped = true;
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&m->lock);
	return dropped;
}

static void *mux_main(void *arg)
{
	struct console_mux *m = arg;
	_cleanup_close_ int qfd = unix_connect(m->sock_path);
	char buf[16384];

	for (;;) {
		struct pollfd pfds[CONSOLE_MAX_CLIENTS + 2];
		size_t n = 0, nc;
		uint64_t v;

		pthread_mutex_lock(&m->lock);
		if (m->stopping || m->n_clients == 0 || qfd < 0) {
			while (m->n_clients)
				remove_client_locked(m, 0);
			m->running = false;
			pthread_mutex_unlock(&m->lock);
			break;
		}
		pfds[n++] = (struct pollfd){ .fd = m->wake_fd, .events = POLLIN };
		pfds[n++] = (struct pollfd){ .fd = qfd, .events = POLLIN };
		nc = m->n_clients;
		for (size_t i = 0; i < nc; i++)
			pfds[n++] = (struct pollfd){ .fd = m->clients[i], .events = POLLIN };
		pthread_mutex_unlock(&m->lock);

		if (poll(pfds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfds[0].revents && read(m->wake_fd, &v, sizeof(v)) < 0) {
			/* nothing to do: the eventfd was only a wake-up */
		}
		if (pfds[1].revents) {
			ssize_t r = read(qfd, buf, sizeof(buf));
			if (r <= 0) {
				close(TAKE_FD(qfd));
				continue;
			}
			/* The poll set is stale once a client was dropped. */
			if (broadcast(m, buf, (size_t)r))
				continue;
		}
		for (size_t i = 0; i < nc; i++) {
			int cfd = pfds[i + 2].fd;
			ssize_t r;
			if (!pfds[i + 2].revents)
				continue;
			r = read(cfd, buf, sizeof(buf));
			if (r > 0 && write_all(qfd, buf, (size_t)r) == 0)
				continue;
			pthread_mutex_lock(&m->lock);
			for (size_t j = 0; j < m->n_clients; j++)
				if (m->clients[j] == cfd) {
					remove_client_locked(m, j);
					break;
				}
			pthread_mutex_unlock(&m->lock);
		}
	}
	return NULL;
}

int console_mux_attach(struct console_mux *m, int client_fd)
{
	uint64_t one = 1;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	if (m->stopping || m->n_clients >= CONSOLE_MAX_CLIENTS) {
		pthread_mutex_unlock(&m->lock);
		return -EBUSY;
	}
	if (!m->running) {
		/* The previous thread (if any) has finished its loop. */
		if (m->joinable)
			pthread_join(m->thread, NULL);
		m->joinable = false;
		m->clients[m->n_clients++] = client_fd;
		r = -pthread_create(&m->thread, NULL, mux_main, m);
		if (r < 0)
			m->n_clients--;
		else
			m->running = m->joinable = true;
	} else {
		m->clients[m->n_clients++] = client_fd;
	}
	pthread_mutex_unlock(&m->lock);
	if (write(m->wake_fd, &one, sizeof(one)) < 0) {
		/* the eventfd counter cannot overflow here */
	}
	return r;
}

void console_mux_free(struct console_mux *m)
{
	uint64_t one = 1;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_mutex_unlock(&m->lock);
	if (write(m->wake_fd, &one, sizeof(one)) < 0) {
		/* see console_mux_attach */
	}
	if (m->joinable)
		pthread_join(m->thread, NULL);
	while (m->n_clients)
		remove_client_locked(m, 0);
	close(m->wake_fd);
	pthread_mutex_destroy(&m->lock);
	free(m->sock_path);
	free(m);
}
