/* fuzz-savefile.c - `domus restore` checks a save file before anything
 * starts; the file is untrusted input. */
#include "daemon/savefile.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("savefile", MFD_CLOEXEC);
	char *config = NULL;
	uint64_t off, len;
	char err[256];

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size &&
	    savefile_verify(fd, &config, &off, &len, err, sizeof(err)) == 0) {
		if (!config || off + len + SAVEFILE_TRAILER_SIZE != size)
			abort();
		free(config);
	}
	close(fd);
	return 0;
}
