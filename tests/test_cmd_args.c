/*
 * test_cmd_args.c - al_cmd_def_arg, the one door to a command's arguments (adminctl's options
 * come from it): a command's own arguments, and for every write the arguments all writes
 * accept, from the same table the dispatcher checks against.
 */
#include <stdio.h>
#include <string.h>

#include "helpers.h"

static void own_and_common_arguments(void **state)
{
	(void)state;
	const al_cmd_def *w = al_cmd_def_find("user.update"), *r = al_cmd_def_find("user.list");
	assert_non_null(w);
	assert_non_null(r);
	const al_field_def *f = al_cmd_def_arg(w, "full_name");
	assert_non_null(f);
	assert_string_equal(f->name, "full_name");
	assert_true(f >= w->args && f < w->args + w->nargs);
	const char *common[] = {"request_id", "expected_version", "reason"};
	const int type[] = {AL_T_STR, AL_T_INT, AL_T_STR};
	for (size_t k = 0; k < 3; k++) {
		f = al_cmd_def_arg(w, common[k]);
		assert_non_null(f);
		assert_string_equal(f->name, common[k]);
		assert_int_equal(f->type, type[k]);
		assert_true(f->flags & AL_F_OPT);
		assert_true(f->doc[0] != 0);
		/* a read takes none of them */
		assert_null(al_cmd_def_arg(r, common[k]));
	}
	assert_null(al_cmd_def_arg(w, "no_such_argument"));
	assert_null(al_cmd_def_arg(w, "reason_"));
	assert_null(al_cmd_def_arg(w, "reaso"));
}

/* Every write shares the one table of common arguments. */
static void every_write_shares_one_table(void **state)
{
	(void)state;
	const al_field_def *first = NULL;
	size_t writes = 0;
	for (size_t i = 0; i < al_cmd_def_count(); i++) {
		const al_cmd_def *d = al_cmd_def_at(i);
		const al_field_def *f = al_cmd_def_arg(d, "request_id");
		if (d->kind != AL_CMD_WRITE) {
			assert_null(f);
			continue;
		}
		assert_non_null(f);
		if (first == NULL)
			first = f;
		assert_ptr_equal(f, first);
		writes++;
		for (size_t k = 0; k < d->nargs; k++)
			assert_ptr_equal(al_cmd_def_arg(d, d->args[k].name), &d->args[k]);
	}
	assert_true(writes > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(own_and_common_arguments),
		cmocka_unit_test(every_write_shares_one_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
