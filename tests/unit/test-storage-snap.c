/* test-storage-snap.c - classic snapshots (cow.c, lv.c): random writes to
 * an origin and its snapshots checked against an in-memory model, the dm
 * exception store layout, a full snapshot turning invalid, persistence of
 * the exception tables, handles opened before the snapshot, and merge. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "storage/cow.h"
#include "storage/lv.h"
#include "storage/lvmap.h"
#include "storage/storage.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB (1024ull * 1024)
#define ORIGIN_SIZE (16 * MiB)

struct env {
	char dir[64];
	char *pv[2];
	struct storage st;
};

static void env_setup(struct env *e)
{
	_cleanup_free_ char *lib = NULL, *run = NULL;

	strcpy(e->dir, "/tmp/domus-test-snap-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	for (int i = 0; i < 2; i++) {
		e->pv[i] = strprintf("%s/pv%d.img", e->dir, i);
		int fd = open(e->pv[i], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)(64 * MiB)), 0);
		close(fd);
	}
	lib = strprintf("%s/lib", e->dir);
	run = strprintf("%s/run", e->dir);
	assert_int_equal(storage_init(&e->st, lib, run), 0);
	assert_int_equal(storage_vgcreate(&e->st, "vg0", e->pv, 2, 8192), 0);
	struct vg_handle h;
	assert_int_equal(storage_vg_open(&e->st, "vg0", true, &h), 0);
	assert_int_equal(vg_create_lv(h.vg, "o", ORIGIN_SIZE / (4 * MiB), "h", 0, NULL), 0);
	assert_int_equal(storage_vg_commit(&h, "test"), 0);
	storage_vg_close(&h);
}

static void env_teardown(struct env *e)
{
	storage_release(&e->st);
	for (int i = 0; i < 2; i++)
		free(e->pv[i]);
	assert_int_equal(rm_rf(e->dir), 0);
}

/* What lvcreate -s does. */
static void make_snapshot(struct env *e, const char *name, uint64_t extents, uint64_t chunk)
{
	struct vg_handle h;
	struct lvm_lv *cow;

	assert_int_equal(storage_vg_open(&e->st, "vg0", true, &h), 0);
	int fd = lv_snap_lock(&e->st, vg_find_lv(h.vg, "o")->id);
	assert_true(fd >= 0);
	assert_int_equal(vg_create_snapshot(h.vg, vg_find_lv(h.vg, "o"), name, extents,
					    chunk / 512, "h", 0, &cow), 0);
	assert_int_equal(lv_snapshot_init(h.vg, cow, chunk), 0);
	assert_int_equal(storage_vg_commit(&h, "snapshot"), 0);
	assert_int_equal(lv_snapshots_changed(fd), 0);
	close(fd);
	storage_vg_close(&h);
}

static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((seed * 7919 + i) * 2654435761u >> 11);
}

static void check(struct lv_handle *h, const uint8_t *model, uint64_t off, size_t len)
{
	_cleanup_free_ uint8_t *got = malloc(len);

	assert_int_equal(lv_pread(h, got, len, off), 0);
	assert_memory_equal(got, model + off, len);
}

static void test_random_model(void **state)
{
	struct env e;
	struct lv_handle *o, *s[2];
	_cleanup_free_ uint8_t *mo = calloc(1, ORIGIN_SIZE), *buf = malloc(512 * 1024);
	uint8_t *ms[2];
	unsigned seed = 1234;

	env_setup(&e);
	/* The origin handle is open before the snapshots exist. */
	assert_int_equal(lv_open(&e.st, "vg0/o", LV_OPEN_RDWR, &o), 0);
	fill(mo, ORIGIN_SIZE, 99);
	assert_int_equal(lv_pwrite(o, mo, ORIGIN_SIZE, 0), 0);
	make_snapshot(&e, "s0", 5, 4096);   /* 4 KiB chunks: areas of 256 */
	make_snapshot(&e, "s1", 5, 65536);  /* 64 KiB chunks */
	for (int i = 0; i < 2; i++) {
		ms[i] = malloc(ORIGIN_SIZE);
		memcpy(ms[i], mo, ORIGIN_SIZE);
		char name[16];
		snprintf(name, sizeof(name), "vg0/s%d", i);
		assert_int_equal(lv_open(&e.st, name, LV_OPEN_RDWR, &s[i]), 0);
		assert_int_equal(lv_size(s[i]), ORIGIN_SIZE);
	}
	/* One write over more than two metadata areas of s0 (256 entries each). */
	_cleanup_free_ uint8_t *big = malloc(3 * MiB);
	fill(big, 3 * MiB, 77);
	assert_int_equal(lv_pwrite(o, big, 3 * MiB, MiB + 512), 0);
	memcpy(mo + MiB + 512, big, 3 * MiB);
	check(s[0], ms[0], 0, ORIGIN_SIZE);
	check(o, mo, 0, ORIGIN_SIZE);
	for (int it = 0; it < 400; it++) {
		int target = rand_r(&seed) % 3;
		size_t len = 1 + rand_r(&seed) % (512 * 1024);
		uint64_t off = (uint64_t)rand_r(&seed) % (ORIGIN_SIZE - len);
		uint8_t *model = target == 0 ? mo : ms[target - 1];
		struct lv_handle *h = target == 0 ? o : s[target - 1];
		fill(buf, len, (uint64_t)it);
		assert_int_equal(lv_pwrite(h, buf, len, off), 0);
		memcpy(model + off, buf, len);
		/* Check a random range of each volume, and the one just written. */
		check(h, model, off, len);
		uint64_t roff = (uint64_t)rand_r(&seed) % (ORIGIN_SIZE - 65536);
		check(o, mo, roff, 65536);
		check(s[0], ms[0], roff, 65536);
		check(s[1], ms[1], roff, 65536);
	}
	/* Everything, and again from fresh handles (tables read from disk). */
	check(o, mo, 0, ORIGIN_SIZE);
	for (int i = 0; i < 2; i++) {
		check(s[i], ms[i], 0, ORIGIN_SIZE);
		lv_close(s[i]);
	}
	assert_int_equal(lv_open(&e.st, "vg0/s0", LV_OPEN_RDONLY, &s[0]), 0);
	check(s[0], ms[0], 0, ORIGIN_SIZE);
	lv_close(s[0]);
	lv_close(o);

	/* Merge s0: the origin becomes s0's data, s1 keeps its own. */
	struct vg_handle h;
	assert_int_equal(storage_vg_open(&e.st, "vg0", false, &h), 0);
	int c1 = lv_claim(&e.st, vg_find_lv(h.vg, "s0")->id);
	int c2 = lv_claim(&e.st, vg_find_lv(h.vg, "o")->id);
	storage_vg_close(&h);
	assert_true(c1 >= 0 && c2 >= 0);
	assert_int_equal(lv_snapshot_merge(&e.st, "vg0", "s0"), 0);
	close(c1);
	close(c2);
	assert_int_equal(lv_open(&e.st, "vg0/o", LV_OPEN_RDONLY, &o), 0);
	check(o, ms[0], 0, ORIGIN_SIZE);
	lv_close(o);
	assert_int_equal(lv_open(&e.st, "vg0/s1", LV_OPEN_RDONLY, &s[1]), 0);
	check(s[1], ms[1], 0, ORIGIN_SIZE);
	lv_close(s[1]);
	free(ms[0]);
	free(ms[1]);
	env_teardown(&e);
}

static void test_layout_and_full(void **state)
{
	struct env e;
	struct lv_handle *o, *s;
	struct vg_handle h;
	struct lvmap dev;
	_cleanup_free_ uint8_t *buf = malloc(4 * MiB), *orig = malloc(8192);
	uint32_t hdr[4];
	uint64_t e0[2], used;
	bool valid;

	env_setup(&e);
	make_snapshot(&e, "small", 1, 4096); /* 1024 chunks: under 4 MiB of data */
	assert_int_equal(lv_open(&e.st, "vg0/o", LV_OPEN_RDWR, &o), 0);
	assert_int_equal(lv_open(&e.st, "vg0/small", LV_OPEN_RDONLY, &s), 0);
	assert_int_equal(lv_pread(o, orig, 8192, 0), 0);
	fill(buf, 8192, 5);
	assert_int_equal(lv_pwrite(o, buf, 8192, 0), 0);
	/* The store as dm-snapshot lays it out. */
	assert_int_equal(storage_vg_open(&e.st, "vg0", false, &h), 0);
	assert_int_equal(lvmap_build(h.vg, vg_find_lv(h.vg, "small"), false, &dev), 0);
	assert_int_equal(lvmap_io(&dev, hdr, sizeof(hdr), 0, false), 0);
	assert_int_equal(le32toh(hdr[0]), COW_MAGIC);
	assert_memory_equal(hdr, "SnAp", 4);
	assert_int_equal(le32toh(hdr[1]), 1);
	assert_int_equal(le32toh(hdr[2]), 1);
	assert_int_equal(le32toh(hdr[3]), 8);
	assert_int_equal(lvmap_io(&dev, e0, sizeof(e0), 4096, false), 0);
	assert_int_equal(le64toh(e0[0]), 0); /* origin chunk 0 ... */
	assert_int_equal(le64toh(e0[1]), 2); /* ... saved in COW chunk 2 */
	assert_int_equal(lvmap_io(&dev, buf, 8192, 2 * 4096, false), 0);
	assert_memory_equal(buf, orig, 8192);
	assert_int_equal(lv_snapshot_status(h.vg, vg_find_lv(h.vg, "small"), &used, &valid), 0);
	assert_true(valid);
	assert_int_equal(used, 4 * 4096);
	lvmap_release(&dev);
	/* Filling it: the snapshot turns invalid, the origin goes on. */
	fill(buf, 4 * MiB, 6);
	assert_int_equal(lv_pwrite(o, buf, 4 * MiB, 4 * MiB), 0);
	assert_int_equal(lv_pwrite(o, buf, 4 * MiB, 8 * MiB), 0);
	assert_int_equal(lv_pread(o, buf, 4096, 8 * MiB), 0);
	assert_int_equal(lv_pread(s, buf, 4096, 0), -EIO);
	assert_int_equal(lv_snapshot_status(h.vg, vg_find_lv(h.vg, "small"), &used, &valid), 0);
	assert_false(valid);
	storage_vg_close(&h);
	lv_close(s);
	lv_close(o);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_model),
		cmocka_unit_test(test_layout_and_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
