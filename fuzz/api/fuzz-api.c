/* fuzz-api.c - the management API from the request bytes on: each input
 * line goes through the daemon's JSON framing and method dispatch.
 *
 * The instance lives in a temporary root with no domains, and its QEMU
 * binary does not exist, so a request that gets as far as starting a
 * domain fails at the spawn; SIGTERM (daemon-stop) is ignored. It runs in a
 * network namespace of its own (when it may create one), so network-create
 * and friends never touch the host's network.
 */
#include "daemon-fixture.h"
#include "common/jsonrpc.h"
#include "daemon/daemon.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	struct line_reader lr;

	fuzz_daemon_setup("api");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	/* Feed the bytes as a client would, then read them back as requests. */
	if (size > 65536)
		size = 65536;
	if (write(sv[0], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[0], SHUT_WR);
	line_reader_init(&lr, sv[1]);
	for (;;) {
		json_t *req = NULL, *reply;
		bool took_fd = false;
		int r = json_recv(&lr, &req, 0);
		if (r == -EBADMSG)
			continue;
		if (r < 0)
			break;
		reply = api_handle_request(req, sv[1], &took_fd);
		json_decref(req);
		if (!took_fd && !reply)
			abort(); /* every request gets a reply */
		json_decref(reply);
		if (took_fd)
			break;
	}
	line_reader_release(&lr);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
