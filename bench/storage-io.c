/* storage-io.c - write throughput of an LV through the LV data API, for
 * bench/storage.sh: domus-storage-bench ROOT VG/LV MIB BLOCK_KIB prints
 * "MiB/s" for MIB MiB written sequentially in BLOCK_KIB blocks, flushed.
 * With MIB 0 it prints "open" and keeps the LV open until stdin closes
 * (tests use it to hold an LV in use). */
#include "storage/lv.h"
#include "storage/storage.h"

#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct storage st;
	struct lv_handle *h;
	uint64_t mib, kib, t0;
	char *lib, *run;
	uint8_t *buf;
	int r;

	if (argc != 5 || parse_u64(argv[3], &mib) < 0 || parse_u64(argv[4], &kib) < 0 || !kib) {
		fprintf(stderr, "usage: %s ROOT VG/LV MIB BLOCK_KIB\n", argv[0]);
		return 2;
	}
	lib = strprintf("%s/var/lib/domus", argv[1]);
	run = strprintf("%s/run/domus", argv[1]);
	buf = malloc(kib * 1024);
	if (!lib || !run || !buf || storage_init(&st, lib, run) < 0)
		return 1;
	memset(buf, 0xa5, kib * 1024);
	r = lv_open(&st, argv[2], LV_OPEN_RDWR, &h);
	if (r < 0) {
		fprintf(stderr, "cannot open %s: %s\n", argv[2], strerror(-r));
		return 1;
	}
	if (mib == 0) {
		printf("open\n");
		fflush(stdout);
		while (getchar() != EOF)
			;
		lv_close(h);
		return 0;
	}
	t0 = now_us();
	for (uint64_t off = 0; r == 0 && off < mib << 20; off += kib * 1024)
		r = lv_pwrite(h, buf, kib * 1024, off);
	if (r == 0)
		r = lv_flush(h);
	if (r < 0) {
		fprintf(stderr, "write failed: %s\n", strerror(-r));
		return 1;
	}
	printf("%.1f\n", (double)mib / ((double)(now_us() - t0) / 1e6));
	lv_close(h);
	storage_release(&st);
	free(lib);
	free(run);
	free(buf);
	return 0;
}
