/* test_server_rate.c - the server's fixed-window rate limits (src/server/srv_rate.c). */
#include <stdlib.h>

#include "helpers.h"
#include "server/srv_int.h"

#define S 1000000ll /* µs */

static void window_counts_and_waits(void **state)
{
	(void)state;
	rate_table *t = srv_rate_new();
	int64_t t0 = 5 * S;
	for (int i = 0; i < 3; i++)
		assert_int_equal(srv_rate_hit(t, "AKIAONE", 3, t0 + i * S), 0);
	assert_int_equal(srv_rate_hit(t, "AKIAONE", 3, t0 + 10 * S), 890); /* the 4th: wait for the window */
	assert_int_equal(srv_rate_hit(t, "AKIAONE", 3, t0 + 899 * S + 1), 1); /* rounded up */
	assert_int_equal(srv_rate_hit(t, "AKIATWO", 3, t0 + 10 * S), 0);    /* keys are independent */
	/* a new window opens 900 s after the first request of the last one */
	assert_int_equal(srv_rate_hit(t, "AKIAONE", 3, t0 + 900 * S), 0);
	assert_int_equal(srv_rate_hit(t, "AKIAONE", 3, t0 + 901 * S), 0);
	assert_int_equal(srv_rate_hit(t, "AKIAONE", 3, t0 + 902 * S), 0);
	assert_int_equal(srv_rate_hit(t, "AKIAONE", 3, t0 + 903 * S), 897);
	/* refused hits are not counted: a larger limit lets the next one through */
	assert_int_equal(srv_rate_hit(t, "AKIAONE", 4, t0 + 903 * S), 0);
	assert_int_equal(srv_rate_hit(t, "AKIAONE", 4, t0 + 903 * S), 897);
	/* a limit of 0 refuses everything */
	assert_true(srv_rate_hit(t, "AKIAZERO", 0, t0) > 0);
	assert_int_equal(t->n, 3);
	srv_rate_sweep(t, t0 + 1000 * S); /* AKIATWO's and AKIAZERO's windows are over */
	assert_int_equal(t->n, 1);
	srv_rate_sweep(t, t0 + 2000 * S);
	assert_int_equal(t->n, 0);
	assert_int_equal(srv_rate_hit(t, "AKIAONE", 1, t0 + 2000 * S), 0);
	srv_rate_free(t);
	srv_rate_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(window_counts_and_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
