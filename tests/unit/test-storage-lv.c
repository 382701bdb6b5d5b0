/* test-storage-lv.c - unit tests for the LV data API (lv.c): data patterns
 * across segment and PV boundaries land where the metadata says, striped
 * mapping, growth seen by open handles, discard, and the in-use lock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "storage/lv.h"
#include "storage/pv.h"
#include "storage/storage.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB (1024ull * 1024)

struct env {
	char dir[64];
	char *pv[2];
	struct storage st;
};

static void env_setup(struct env *e, uint64_t pv_mib)
{
	_cleanup_free_ char *lib = NULL, *run = NULL;

	strcpy(e->dir, "/tmp/domus-test-lv-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	for (int i = 0; i < 2; i++) {
		e->pv[i] = strprintf("%s/pv%d.img", e->dir, i);
		int fd = open(e->pv[i], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)(pv_mib * MiB)), 0);
		close(fd);
	}
	lib = strprintf("%s/lib", e->dir);
	run = strprintf("%s/run", e->dir);
	assert_int_equal(storage_init(&e->st, lib, run), 0);
}

static void env_teardown(struct env *e)
{
	storage_release(&e->st);
	for (int i = 0; i < 2; i++)
		free(e->pv[i]);
	assert_int_equal(rm_rf(e->dir), 0);
}

static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((seed + i) * 2654435761u >> 13);
}

static void read_file_at(const char *path, void *buf, size_t len, uint64_t off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* Change the VG with FN under a write handle and commit. */
static void change(struct env *e, int (*fn)(struct lvm_vg *vg))
{
	struct vg_handle h;

	assert_int_equal(storage_vg_open(&e->st, "vg0", true, &h), 0);
	assert_int_equal(fn(h.vg), 0);
	assert_int_equal(storage_vg_commit(&h, "test"), 0);
	storage_vg_close(&h);
}

static int mk_a(struct lvm_vg *vg)
{
	/* 9 extents of 4 MiB on 5-extent PVs... a spans both PVs. */
	return vg_create_lv(vg, "a", 2, "h", 0, NULL) ?: vg_create_lv(vg, "b", 1, "h", 0, NULL) ?:
	       vg_resize_lv(vg, vg_find_lv(vg, "a"), 8);
}

static void test_patterns(void **state)
{
	struct env e;
	struct lv_handle *h;
	struct vg_handle vh;
	const size_t len = 3 * MiB;
	_cleanup_free_ uint8_t *buf = malloc(len), *got = malloc(len);

	env_setup(&e, 22); /* 5 extents per PV */
	assert_int_equal(storage_vgcreate(&e.st, "vg0", e.pv, 2, 8192), 0);
	change(&e, mk_a);
	assert_int_equal(lv_open(&e.st, "vg0/a", LV_OPEN_RDWR, &h), 0);
	assert_int_equal(lv_size(h), 8 * 4 * MiB);
	/* Writes straddling every extent boundary, read back. */
	for (uint64_t off = 4 * MiB - len / 2; off + len <= 32 * MiB; off += 4 * MiB) {
		fill(buf, len, off);
		assert_int_equal(lv_pwrite(h, buf, len, off), 0);
	}
	for (uint64_t off = 4 * MiB - len / 2; off + len <= 32 * MiB; off += 4 * MiB) {
		fill(buf, len, off);
		assert_int_equal(lv_pread(h, got, len, off), 0);
		assert_memory_equal(got, buf, len);
	}
	assert_int_equal(lv_flush(h), 0);
	/* Each LV extent is where its segment says on the PV file. */
	assert_int_equal(storage_vg_open(&e.st, "vg0", false, &vh), 0);
	const struct lvm_lv *lv = vg_find_lv(vh.vg, "a");
	assert_true(lv->nseg >= 2);
	for (unsigned s = 0; s < lv->nseg; s++) {
		const struct lvm_seg *seg = &lv->segs[s];
		const struct lvm_pv *pv = vh.vg->pvs[seg->stripes[0].pv];
		uint64_t loff = seg->start_extent * 4 * MiB + 4096;
		uint64_t poff = pv->pe_start * 512 + seg->stripes[0].pe * 4 * MiB + 4096;
		assert_int_equal(lv_pread(h, buf, 4096, loff), 0);
		read_file_at(pv->path, got, 4096, poff);
		assert_memory_equal(got, buf, 4096);
	}
	storage_vg_close(&vh);
	/* Past the end. */
	assert_int_equal(lv_pread(h, buf, 1, 32 * MiB), -EINVAL);
	assert_int_equal(lv_pwrite(h, buf, 2, 32 * MiB - 1), -EINVAL);
	/* Discard reads back as zeros (holes in the PV files). */
	assert_int_equal(lv_discard(h, 8 * MiB, 4 * MiB), 0);
	assert_int_equal(lv_pread(h, got, 4096, 6 * MiB), 0);
	memset(buf, 0, 4096);
	assert_memory_equal(got, buf, 4096);
	lv_close(h);
	/* Read-only handles refuse writes. */
	assert_int_equal(lv_open(&e.st, "vg0/a", LV_OPEN_RDONLY, &h), 0);
	assert_int_equal(lv_pwrite(h, buf, 1, 0), -EBADF);
	lv_close(h);
	assert_int_equal(lv_open(&e.st, "vg0/zz", LV_OPEN_RDONLY, &h), -ENOENT);
	assert_int_equal(lv_open(&e.st, "nope/a", LV_OPEN_RDONLY, &h), -ENOENT);
	assert_int_equal(lv_open(&e.st, "vg0", LV_OPEN_RDONLY, &h), -EINVAL);
	env_teardown(&e);
}

static int shrink_b(struct lvm_vg *vg)
{
	vg_remove_lv(vg, vg_find_lv(vg, "b"));
	return vg_resize_lv(vg, vg_find_lv(vg, "a"), 9);
}

static void test_growth_and_lock(void **state)
{
	struct env e;
	struct lv_handle *h;
	char id[LVM_ID_LEN + 1];
	struct vg_handle vh;
	uint8_t buf[512];

	env_setup(&e, 22);
	assert_int_equal(storage_vgcreate(&e.st, "vg0", e.pv, 2, 8192), 0);
	change(&e, mk_a);
	assert_int_equal(lv_open(&e.st, "vg0/a", LV_OPEN_RDWR, &h), 0);
	assert_int_equal(storage_vg_open(&e.st, "vg0", false, &vh), 0);
	strcpy(id, vg_find_lv(vh.vg, "a")->id);
	storage_vg_close(&vh);
	/* Open: lvremove/lvreduce cannot claim it. */
	assert_int_equal(lv_claim(&e.st, id), -EBUSY);
	/* Growing is seen by the open handle, without reopening. */
	change(&e, shrink_b);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(lv_pwrite(h, buf, sizeof(buf), 36 * MiB - 512), 0);
	assert_int_equal(lv_size(h), 36 * MiB);
	lv_close(h);
	int fd = lv_claim(&e.st, id);
	assert_true(fd >= 0);
	/* While claimed, nobody can open it (they wait); check non-blocking. */
	close(fd);
	env_teardown(&e);
}

static int mk_striped(struct lvm_vg *vg)
{
	struct lvm_lv *lv;
	int r = vg_create_lv(vg, "s", 2, "h", 0, &lv);

	if (r < 0)
		return r;
	/* Turn it into 2 stripes of 64 KiB over both PVs, 2 extents each. */
	struct lvm_seg *seg = &lv->segs[0];
	seg->extent_count = 4;
	seg->stripe_count = 2;
	seg->stripe_size = 128;
	seg->stripes = realloc(seg->stripes, 2 * sizeof(*seg->stripes));
	seg->stripes[0] = (struct lvm_stripe){ 0, 0 };
	seg->stripes[1] = (struct lvm_stripe){ 1, 0 };
	return 0;
}

static void test_striped(void **state)
{
	struct env e;
	struct lv_handle *h;
	const size_t len = 1 * MiB;
	_cleanup_free_ uint8_t *buf = malloc(len), *got = malloc(len);

	env_setup(&e, 22);
	assert_int_equal(storage_vgcreate(&e.st, "vg0", e.pv, 2, 8192), 0);
	change(&e, mk_striped);
	assert_int_equal(lv_open(&e.st, "vg0/s", LV_OPEN_RDWR, &h), 0);
	assert_int_equal(lv_size(h), 16 * MiB);
	fill(buf, len, 5);
	assert_int_equal(lv_pwrite(h, buf, len, 3 * MiB), 0);
	assert_int_equal(lv_pread(h, got, len, 3 * MiB), 0);
	assert_memory_equal(got, buf, len);
	/* Logical chunk c (64 KiB) lives on PV c % 2, row c / 2. */
	uint64_t c = (3 * MiB) / (64 * 1024);
	read_file_at(e.pv[c % 2], got, 64 * 1024, MiB + (c / 2) * 64 * 1024);
	assert_memory_equal(got, buf, 64 * 1024);
	read_file_at(e.pv[(c + 1) % 2], got, 64 * 1024, MiB + ((c + 1) / 2) * 64 * 1024);
	assert_memory_equal(got, buf + 64 * 1024, 64 * 1024);
	lv_close(h);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_growth_and_lock),
		cmocka_unit_test(test_striped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
