/* test-net.c - bridge= specs (xl's vif-openvswitch syntax), owner ids, ip=
 * address lists and MAC-derived link-local addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>

#include "net/internal.h"

static void test_plain_and_access(void **state)
{
	struct net_bridge_spec b;
	char err[200];

	assert_int_equal(net_bridge_spec_parse("xenbr0", &b, err, sizeof(err)), 0);
	assert_string_equal(b.name, "xenbr0");
	assert_int_equal(b.vlan, 0);
	assert_int_equal(b.n_trunks, 0);
	assert_int_equal(net_bridge_spec_parse("ovsbr.72", &b, err, sizeof(err)), 0);
	assert_string_equal(b.name, "ovsbr");
	assert_int_equal(b.vlan, 72);
	assert_int_equal(net_bridge_spec_parse("br.x", &b, err, sizeof(err)), 0);
	assert_string_equal(b.name, "br.x");
	assert_int_equal(net_bridge_spec_parse("ovsbr.4094", &b, err, sizeof(err)), 0);
	assert_int_equal(b.vlan, 4094);
}

static void test_trunk(void **state)
{
	struct net_bridge_spec b;
	char err[200];

	assert_int_equal(net_bridge_spec_parse("ovsbr:72:73:1", &b, err, sizeof(err)), 0);
	assert_string_equal(b.name, "ovsbr");
	assert_int_equal(b.n_trunks, 3);
	assert_int_equal(b.trunks[0], 72);
	assert_int_equal(b.trunks[1], 73);
	assert_int_equal(b.trunks[2], 1);
}

static void test_refused(void **state)
{
	static const char *bad[] = {
		"ovsbr.0", "ovsbr.4095", "ovsbr.99999", "ovsbr:0", "ovsbr:72:4095", "ovsbr:",
		"ovsbr:72:", "ovsbr:72:72", "ovsbr:x", "", ":72", "averyveryverylongname",
		"a/b", "ovsbr::72",
	};
	struct net_bridge_spec b = { .vlan = 7 };
	char err[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		assert_int_equal(net_bridge_spec_parse(bad[i], &b, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
		assert_int_equal(b.vlan, 7);  /* untouched */
	}
	net_bridge_spec_parse("ovsbr.4095", &b, err, sizeof(err));
	assert_non_null(strstr(err, "1 to 4094"));
}

static void test_owner_and_names(void **state)
{
	char a[9], b[9];
	char *t;

	net_owner_id("/tmp/x", a);
	net_owner_id("/tmp/y", b);
	assert_int_equal(strlen(a), 8);
	assert_string_not_equal(a, b);
	net_owner_id("", a);
	net_owner_id("/", b);
	assert_string_equal(a, b);
	assert_true(net_cookie("deadbeef", 5, 2) == 0xdeadbeef00000502ull);
	t = net_nft_table("deadbeef", 5, 2);
	assert_string_equal(t, "domus_deadbeef_5_2");
	free(t);
}

static void test_run(void **state)
{
	char *argv[] = { "cat", NULL }, *out = NULL, *err = NULL;
	char *bad[] = { "/nonexistent/tool", NULL };
	char *fail[] = { "sh", "-c", "echo oops >&2; exit 3", NULL };

	assert_int_equal(net_run(argv, "hello\n", &out, &err), 0);
	assert_string_equal(out, "hello\n");
	assert_string_equal(err, "");
	free(out), free(err);
	assert_int_equal(net_run(bad, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(net_run(fail, NULL, NULL, &err), 3);
	assert_string_equal(err, "oops");
	free(err);
}

static void test_addr_lists(void **state)
{
	char ll[46], *v4 = NULL, *v6 = NULL;

	assert_int_equal(net_mac_link_local("00:16:3e:5a:00:01", ll), 0);
	assert_string_equal(ll, "fe80::216:3eff:fe5a:1");
	assert_int_equal(net_mac_link_local("02:00:00:00:00:0", ll), -EINVAL);
	assert_int_equal(net_mac_link_local("02:00:00:00:00:00:00", ll), -EINVAL);
	assert_int_equal(net_addr_lists("10.0.0.2 FD00:0::2 10.0.0.3 fe80::216:3eff:fe5a:1 ::",
					"00:16:3e:5a:00:01", &v4, &v6), 0);
	assert_string_equal(v4, "10.0.0.2, 10.0.0.3");
	assert_string_equal(v6, "fe80::216:3eff:fe5a:1, fd00::2");
	free(v4);
	free(v6);
	assert_int_equal(net_addr_lists(NULL, "00:16:3e:5a:00:01", &v4, &v6), 0);
	assert_string_equal(v4, "");
	assert_string_equal(v6, "fe80::216:3eff:fe5a:1");
	free(v4);
	free(v6);
	v4 = v6 = NULL;
	assert_int_equal(net_addr_lists("10.0.0.2 nonsense", "00:16:3e:5a:00:01", &v4, &v6),
			 -EINVAL);
	assert_null(v4);
	assert_null(v6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_access), cmocka_unit_test(test_trunk),
		cmocka_unit_test(test_refused), cmocka_unit_test(test_owner_and_names),
		cmocka_unit_test(test_run), cmocka_unit_test(test_addr_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
