/* test_codec.c - RFC 3339 times and the msgpack bounds check. */
#include <string.h>

#include "util/codec.h"
#include "helpers.h"

static void time_round_trip(void **state)
{
	(void)state;
	static const struct {
		int64_t us;
		const char *text;
	} cases[] = {
		{0, "1970-01-01T00:00:00.000000Z"},
		{-1, "1969-12-31T23:59:59.999999Z"},
		{951782400123456LL, "2000-02-29T00:00:00.123456Z"},
		{1798416000000000LL, "2026-12-28T00:00:00.000000Z"},
		{4102444799999999LL, "2099-12-31T23:59:59.999999Z"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char buf[40];
		int64_t back;
		assert_string_equal(al_time_format(cases[i].us, buf, sizeof buf), cases[i].text);
		assert_int_equal(al_time_parse(buf, &back), 0);
		assert_int_equal(back, cases[i].us);
	}
	int64_t t;
	assert_int_equal(al_time_parse("2026-11-27T18:00:00Z", &t), 0);
	assert_int_equal(t, 1795802400000000LL);
	assert_int_equal(al_time_parse("2026-11-27T19:30:00+01:30", &t), 0);
	assert_int_equal(t, 1795802400000000LL);
	assert_int_equal(al_time_parse("2026-11-27T18:00:00.5Z", &t), 0);
	assert_int_equal(t, 1795802400500000LL);
	const char *bad[] = {"", "2026-11-27", "2026-11-27T18:00:00", "2026-13-01T00:00:00Z", "2026-11-27T18:00:00Zx",
			     "2026-11-27T25:00:00Z", "2026-11-27T18:00:00.Z"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(al_time_parse(bad[i], &t), -1);
}

static void mp_check_bounds(void **state)
{
	(void)state;
	size_t len;
	char *ok = th_args(&len, "a", 's', "x", "b", 'i', 1234567LL, "c", 'b', 1, "d", 'n', NULL);
	assert_int_equal(al_mp_check(ok, len), 0);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(al_mp_check(ok, cut), -1); /* every truncation is refused */
	free(ok);
	const unsigned char trailing[] = {0x90, 0x90};
	assert_int_equal(al_mp_check(trailing, 2), -1);
	const unsigned char never_used[] = {0xc1};
	assert_int_equal(al_mp_check(never_used, 1), -1);
	const unsigned char nested[] = {0x91, 0x91, 0x91, 0xc0};
	assert_int_equal(al_mp_check(nested, 4), 0);
	const unsigned char ext[] = {0xd4, 0x01, 0x02};
	assert_int_equal(al_mp_check(ext, 3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(time_round_trip),
		cmocka_unit_test(mp_check_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
