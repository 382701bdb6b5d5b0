/* fuzz-relocation.c - the relocation protocol as a target daemon reads
 * it, from the bytes on: the channel's length-prefixed messages, the
 * "begin" request (its config, disks and flags), the "disk" request of a
 * disk copy, and what follows them.
 *
 * The channel is the plain one of the ssh transport (relocation_serve_local;
 * the TLS service runs the same code once the handshake is done). The
 * instance lives in a temporary root with no volume groups and a QEMU
 * binary that does not exist, so a request that gets as far as starting
 * the incoming domain fails at the spawn, as a missing QEMU would.
 */
#include "daemon-fixture.h"
#include "daemon/migrate.h"

#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];

	fuzz_daemon_setup("relocation");
	if (size > 65536)
		size = 65536;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	/* The source's side: everything it sends, then end of stream; the
	 * answers stay unread in sv[0] (they fit its buffer). */
	if (write(sv[0], data, size) == (ssize_t)size) {
		shutdown(sv[0], SHUT_WR);
		relocation_serve_local(sv[1]);
	}
	close(sv[0]);
	close(sv[1]);
	return 0;
}
