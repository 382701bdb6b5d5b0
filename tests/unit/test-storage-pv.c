/* test-storage-pv.c - unit tests for pv.c, storage.c, vgio.c, pvops.c on
 * sparse files: the circular metadata buffer (wrap-around, no overwrite of
 * the committed text) and fault injection: every metadata-changing
 * operation is failed after its Nth write for every N, and the VG must then
 * read back at the old or the new seqno. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "storage/pv.h"
#include "storage/sio.h"
#include "storage/storage.h"

#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct env {
	char dir[64];
	char *pv[3];
	struct storage st;
};

static void env_setup(struct env *e)
{
	_cleanup_free_ char *lib = NULL, *run = NULL;

	strcpy(e->dir, "/tmp/domus-test-pv-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	for (int i = 0; i < 3; i++) {
		e->pv[i] = strprintf("%s/pv%d.img", e->dir, i);
		int fd = open(e->pv[i], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 64 << 20), 0);
		close(fd);
	}
	lib = strprintf("%s/lib", e->dir);
	run = strprintf("%s/run", e->dir);
	assert_int_equal(storage_init(&e->st, lib, run), 0);
}

static void env_teardown(struct env *e)
{
	storage_release(&e->st);
	for (int i = 0; i < 3; i++)
		free(e->pv[i]);
	assert_int_equal(rm_rf(e->dir), 0);
}

static void test_ring(void **state)
{
	struct env e;
	struct lvm_pv_label l;
	struct pv_format_opts o = { .metadata_size = 4096 };
	char text[2000];

	env_setup(&e);
	int fd = open(e.pv[0], O_RDWR | O_CLOEXEC);
	assert_int_equal(pv_format(fd, &o, &l), 0);
	assert_int_equal(l.data[0].offset, 1 << 20);
	char *got = NULL;
	size_t len;
	assert_int_equal(pv_read_metadata(fd, &l, 0, &got, &len), -ENODATA);
	/* Texts of varying sizes go around the 3.5 KiB ring many times. */
	for (int i = 0; i < 200; i++) {
		struct lvm_mda_header h;
		size_t n = 100 + (size_t)(i * 337) % 1600;
		memset(text, 'a' + i % 26, n - 1);
		text[n - 1] = 0;
		assert_int_equal(pv_mda_precommit(fd, &l, 0, text, n, &h), 0);
		/* Until the commit, readers see the previous text. */
		if (i > 0) {
			assert_int_equal(pv_read_metadata(fd, &l, 0, &got, &len), 0);
			assert_int_equal(got[0], 'a' + (i - 1) % 26);
			free(got);
		}
		assert_int_equal(pv_mda_commit(fd, &l, 0, &h), 0);
		assert_int_equal(pv_read_metadata(fd, &l, 0, &got, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(got, text, n);
		free(got);
	}
	/* A text that cannot sit next to the committed one is refused. */
	struct lvm_mda_header h;
	memset(text, 'z', sizeof(text));
	assert_int_equal(pv_mda_precommit(fd, &l, 0, text, 3000, &h), -ENOSPC);
	close(fd);
	env_teardown(&e);
}

/* Operations under test; each runs on an env prepared by the previous. */
typedef int (*op_fn)(struct env *e);

static int op_vgcreate(struct env *e)
{
	return storage_vgcreate(&e->st, "vg0", &e->pv[0], 2, 8192);
}

static int with_vg(struct env *e, int (*fn)(struct vg_handle *h, struct env *e))
{
	struct vg_handle h;
	int r = storage_vg_open(&e->st, "vg0", true, &h);

	if (r < 0)
		return r;
	r = fn(&h, e);
	storage_vg_close(&h);
	return r;
}

static int do_lvcreate(struct vg_handle *h, struct env *e)
{
	/* 20 extents: more than PV 0 holds after "a", so two PVs are used. */
	int r = vg_create_lv(h->vg, h->vg->nlv ? "b" : "a", h->vg->nlv ? 12 : 10, "h", 0, NULL);
	return r < 0 ? r : storage_vg_commit(h, "lvcreate");
}

static int op_lvcreate(struct env *e)
{
	return with_vg(e, do_lvcreate);
}

static int do_lvextend(struct vg_handle *h, struct env *e)
{
	int r = vg_resize_lv(h->vg, vg_find_lv(h->vg, "a"), 13);
	return r < 0 ? r : storage_vg_commit(h, "lvextend");
}

static int op_lvextend(struct env *e)
{
	return with_vg(e, do_lvextend);
}

static int do_vgextend(struct vg_handle *h, struct env *e)
{
	return storage_vgextend(h, &e->pv[2], 1);
}

static int op_vgextend(struct env *e)
{
	return with_vg(e, do_vgextend);
}

static int do_vgreduce(struct vg_handle *h, struct env *e)
{
	return storage_vgreduce(h, &e->pv[2], 1);
}

static int op_vgreduce(struct env *e)
{
	return with_vg(e, do_vgreduce);
}

static int do_lvremove(struct vg_handle *h, struct env *e)
{
	vg_remove_lv(h->vg, vg_find_lv(h->vg, "a"));
	return storage_vg_commit(h, "lvremove");
}

static int op_lvremove(struct env *e)
{
	return with_vg(e, do_lvremove);
}

static const op_fn OPS[] = {
	op_vgcreate, op_lvcreate, op_lvcreate, op_lvextend, op_vgextend, op_vgreduce,
	op_lvremove,
};

/* The seqno VG vg0 reads at, 0 if it does not exist. */
static uint64_t read_seqno(struct env *e)
{
	struct vg_handle h;
	int r = storage_vg_open(&e->st, "vg0", false, &h);
	uint64_t s;

	if (r == -ENOENT)
		return 0;
	assert_int_equal(r, 0);
	s = h.vg->seqno;
	storage_vg_close(&h);
	return s;
}

static void test_faults(void **state)
{
	for (size_t op = 0; op < ARRAY_SIZE(OPS); op++) {
		for (long n = 0;; n++) {
			struct env e;
			uint64_t before, after;
			int r;

			env_setup(&e);
			for (size_t k = 0; k < op; k++)
				assert_int_equal(OPS[k](&e), 0);
			before = read_seqno(&e);
			sio_fault_set(n, SIO_FAULT_FAIL);
			long w0 = sio_write_count();
			r = OPS[op](&e);
			long writes = sio_write_count() - w0;
			sio_fault_set(-1, SIO_FAULT_FAIL);
			after = read_seqno(&e);
			if (r == 0) {
				/* First success: every earlier N failed one of
				 * exactly these writes, so each was tried. */
				assert_int_equal(writes, n);
				assert_int_equal(after, before + 1);
				/* Writes after the commit point (labels) may have
				 * failed earlier: a retry must then succeed. */
				env_teardown(&e);
				break;
			}
			assert_int_equal(r, -EIO);
			assert_true(after == before || after == before + 1);
			/* The VG stays usable: the same change can be redone
			 * (or is already done) and the next one works. */
			if (op > 0 && after == before)
				assert_int_equal(OPS[op](&e), 0);
			env_teardown(&e);
			assert_true(n < 1000);
		}
	}
}

static void test_stale_copy_recovers(void **state)
{
	struct env e;
	struct vg_handle h;
	uint8_t junk[512];

	env_setup(&e);
	assert_int_equal(op_vgcreate(&e), 0);
	assert_int_equal(op_lvcreate(&e), 0);
	/* Damage PV 0's metadata area header: PV 1's copy is used. */
	memset(junk, 0x5a, sizeof(junk));
	int fd = open(e.pv[0], O_RDWR | O_CLOEXEC);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096), (ssize_t)sizeof(junk));
	close(fd);
	assert_int_equal(storage_vg_open(&e.st, "vg0", true, &h), 0);
	assert_int_equal(h.vg->seqno, 2);
	assert_int_equal(h.ncopies, 2);
	assert_int_equal(h.nstale, 1);
	/* The next commit repairs it. */
	assert_int_equal(storage_vg_commit(&h, "repair"), 0);
	storage_vg_close(&h);
	assert_int_equal(storage_vg_open(&e.st, "vg0", false, &h), 0);
	assert_int_equal(h.nstale, 0);
	assert_int_equal(h.vg->seqno, 3);
	storage_vg_close(&h);
	env_teardown(&e);
}

static void test_restore(void **state)
{
	struct env e;
	struct vg_handle h;
	uint8_t junk[512];
	_cleanup_free_ char *file = NULL;

	env_setup(&e);
	assert_int_equal(op_vgcreate(&e), 0);
	assert_int_equal(op_lvcreate(&e), 0);
	assert_int_equal(storage_vg_open(&e.st, "vg0", false, &h), 0);
	file = strprintf("%s/backup", e.dir);
	assert_int_equal(storage_vg_backup(&h, file), 0);
	storage_vg_close(&h);
	memset(junk, 0x5a, sizeof(junk));
	for (int i = 0; i < 2; i++) {
		int fd = open(e.pv[i], O_RDWR | O_CLOEXEC);
		assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096), (ssize_t)sizeof(junk));
		close(fd);
	}
	assert_int_equal(storage_vg_open(&e.st, "vg0", false, &h), -ENOENT);
	assert_int_equal(storage_vgcfgrestore(&e.st, "vg0", file), 0);
	assert_int_equal(storage_vg_open(&e.st, "vg0", false, &h), 0);
	assert_int_equal(h.nstale, 0);
	assert_non_null(vg_find_lv(h.vg, "a"));
	storage_vg_close(&h);
	env_teardown(&e);
}

static void test_refusals(void **state)
{
	struct env e;
	struct vg_handle h;

	env_setup(&e);
	assert_int_equal(op_vgcreate(&e), 0);
	assert_int_equal(storage_vgcreate(&e.st, "vg0", &e.pv[2], 1, 8192), -EEXIST);
	assert_int_equal(storage_vgcreate(&e.st, "vg1", &e.pv[0], 1, 8192), -EBUSY);
	assert_int_equal(storage_pvcreate(&e.st, e.pv[1], 0), -EBUSY);
	assert_int_equal(storage_pvremove(&e.st, e.pv[1]), -EBUSY);
	assert_int_equal(op_lvcreate(&e), 0);
	assert_int_equal(storage_vg_open(&e.st, "vg0", true, &h), 0);
	assert_int_equal(storage_vgremove(&h), -ENOTEMPTY);
	assert_int_equal(storage_vgreduce(&h, &e.pv[0], 1), -EBUSY);
	vg_remove_lv(h.vg, vg_find_lv(h.vg, "a"));
	assert_int_equal(storage_vgremove(&h), 0);
	storage_vg_close(&h);
	assert_int_equal(storage_vg_open(&e.st, "vg0", false, &h), -ENOENT);
	assert_int_equal(storage_pvremove(&e.st, e.pv[0]), 0);
	assert_int_equal(storage_pvremove(&e.st, e.pv[0]), -ENOENT);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_stale_copy_recovers),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
