/* test-storage-format.c - unit tests for src/storage/format.c and lvmcfg.c:
 * known-answer tests on sectors lvm2 wrote, round trips, malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "storage/format.h"
#include "storage/lvmcfg.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The label sector of a PV made by lvm2 2.03.16 (the rest is zero). */
static const uint8_t LVM2_LABEL[] = {
	0x4c, 0x41, 0x42, 0x45, 0x4c, 0x4f, 0x4e, 0x45, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xb3, 0x05, 0xa2, 0x1e, 0x20, 0x00, 0x00, 0x00,
	0x4c, 0x56, 0x4d, 0x32, 0x20, 0x30, 0x30, 0x31, 0x78, 0x53, 0x31, 0x6b,
	0x42, 0x30, 0x4b, 0x72, 0x46, 0x55, 0x51, 0x4d, 0x31, 0x78, 0x55, 0x66,
	0x49, 0x37, 0x65, 0x38, 0x51, 0x57, 0x4e, 0x4d, 0x45, 0x42, 0x76, 0x51,
	0x6d, 0x70, 0x52, 0x31, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
};

/* The start of an lvm2 metadata area header. */
static const uint8_t LVM2_MDA[] = {
	0xcd, 0xdb, 0xc9, 0x75, 0x20, 0x4c, 0x56, 0x4d, 0x32, 0x20, 0x78, 0x5b,
	0x35, 0x41, 0x25, 0x72, 0x30, 0x4e, 0x2a, 0x3e, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x0f, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x9a, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x58, 0xcf, 0xda, 0x1a,
};

static void test_label_lvm2(void **state)
{
	uint8_t dev[4 * 512] = { 0 }, again[512];
	struct lvm_pv_label l;

	memcpy(dev + 512, LVM2_LABEL, sizeof(LVM2_LABEL));
	assert_int_equal(lvm_label_decode(dev, sizeof(dev), &l), 0);
	assert_int_equal(l.sector, 1);
	assert_string_equal(l.uuid, "xS1kB0KrFUQM1xUfI7e8QWNMEBvQmpR1");
	assert_int_equal(l.device_size, 1ull << 30);
	assert_int_equal(l.n_data, 1);
	assert_int_equal(l.data[0].offset, 1 << 20);
	assert_int_equal(l.data[0].size, 0);
	assert_int_equal(l.n_mda, 1);
	assert_int_equal(l.mda[0].offset, 4096);
	assert_int_equal(l.mda[0].size, 0xff000);
	assert_int_equal(l.ext_version, 2);
	assert_int_equal(l.ext_flags, 1);
	/* Our encoder writes the very same bytes. */
	assert_int_equal(lvm_label_encode(&l, again), 0);
	assert_memory_equal(again, dev + 512, 512);
	/* Any flipped bit is caught by the CRC. */
	dev[512 + 40] ^= 1;
	assert_int_equal(lvm_label_decode(dev, sizeof(dev), &l), -EBADMSG);
	memset(dev, 0, sizeof(dev));
	assert_int_equal(lvm_label_decode(dev, sizeof(dev), &l), -ENOENT);
}

static void test_mda_header_lvm2(void **state)
{
	uint8_t buf[512] = { 0 }, again[512];
	struct lvm_mda_header h;

	memcpy(buf, LVM2_MDA, sizeof(LVM2_MDA));
	assert_int_equal(lvm_mda_header_decode(buf, sizeof(buf), &h), 0);
	assert_int_equal(h.start, 4096);
	assert_int_equal(h.size, 0xff000);
	assert_int_equal(h.committed.offset, 0x1800);
	assert_int_equal(h.committed.size, 0x69a);
	assert_int_equal(h.committed.checksum, 0x1adacf58);
	assert_int_equal(h.precommitted.offset, 0);
	lvm_mda_header_encode(&h, again);
	assert_memory_equal(again, buf, 512);
	buf[100] = 1;
	assert_int_equal(lvm_mda_header_decode(buf, sizeof(buf), &h), -EBADMSG);
}

static void test_uuid(void **state)
{
	char id[33], s[39];

	assert_int_equal(lvm_uuid_parse("xS1kB0-KrFU-QM1x-UfI7-e8QW-NMEB-vQmpR1", id), 0);
	assert_string_equal(id, "xS1kB0KrFUQM1xUfI7e8QWNMEBvQmpR1");
	lvm_uuid_format(id, s);
	assert_string_equal(s, "xS1kB0-KrFU-QM1x-UfI7-e8QW-NMEB-vQmpR1");
	assert_int_equal(lvm_uuid_parse("xS1kB0-KrFU-QM1x-UfI7-e8QW-NMEBvQmpR1-", id), -EINVAL);
	assert_int_equal(lvm_uuid_parse("short", id), -EINVAL);
	assert_int_equal(lvm_uuid_generate(id), 0);
	assert_int_equal(strlen(id), 32);
}

static void test_cfg_parse(void **state)
{
	static const char text[] =
		"# comment\nvg {\nid = \"a\\\"b\"\nseqno = 4\nneg = -3\nf = 1.5\n"
		"status = [\"READ\", \"WRITE\"]\nempty = []\n"
		"sub {\nstripes = [\n\"pv0\", 0,\n\"pv1\", 50\n]\n}\n}\nversion = 1\n";
	struct cfg_node *root = NULL;
	const struct cfg_node *vg, *arr;
	const char *s;
	int64_t v;

	assert_int_equal(cfg_parse(text, sizeof(text), &root, NULL), 0);
	vg = cfg_find(root, "vg", CFG_SECTION);
	assert_non_null(vg);
	assert_int_equal(cfg_get_str(vg, "id", &s), 0);
	assert_string_equal(s, "a\"b");
	assert_int_equal(cfg_get_int(vg, "seqno", &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(cfg_get_int(vg, "neg", &v), 0);
	assert_int_equal(v, -3);
	assert_int_equal(cfg_get_int(vg, "id", &v), -EINVAL);
	assert_int_equal(cfg_get_int(vg, "nope", &v), -ENOENT);
	arr = cfg_find(cfg_find(vg, "sub", CFG_SECTION), "stripes", CFG_ARRAY);
	assert_non_null(arr);
	assert_string_equal(arr->child->next->next->str, "pv1");
	assert_int_equal(arr->child->next->next->next->num, 50);

	/* Written back and parsed again, the tree is the same text. */
	char *out1 = NULL, *out2 = NULL;
	size_t l1, l2;
	FILE *f = open_memstream(&out1, &l1);
	cfg_write_all(f, root->child);
	fclose(f);
	struct cfg_node *root2 = NULL;
	assert_int_equal(cfg_parse(out1, l1, &root2, NULL), 0);
	f = open_memstream(&out2, &l2);
	cfg_write_all(f, root2->child);
	fclose(f);
	assert_string_equal(out1, out2);
	free(out1);
	free(out2);
	cfg_free(root2);
	cfg_free(root);
}

static void test_cfg_errors(void **state)
{
	static const char *const bad[] = {
		"a {", "a = ", "a = [1, 2", "a = \"x", "}", "a b", "a = [1 2]",
		"a = 99999999999999999999", "= 1", "a = -",
	};
	struct cfg_node *root = NULL;
	unsigned line = 0;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(cfg_parse(bad[i], strlen(bad[i]), &root, &line), -EINVAL);
	assert_int_equal(cfg_parse("a = 1\nb = {\n", 12, &root, &line), -EINVAL);
	assert_int_equal(line, 2);

	/* Deep nesting is refused, not a stack overflow. */
	char deep[4096];
	size_t k = 0;
	for (int i = 0; i < 1000; i++)
		k += (size_t)sprintf(deep + k, "a{");
	assert_int_equal(cfg_parse(deep, k, &root, NULL), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_lvm2),
		cmocka_unit_test(test_mda_header_lvm2),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_cfg_parse),
		cmocka_unit_test(test_cfg_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
