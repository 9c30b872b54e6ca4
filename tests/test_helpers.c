/*
 * test_helpers.c - the fixtures of tests/helpers.c themselves: th_rmrf removes a whole tree
 * whatever its path holds (quotes, spaces) and never what a link inside points to; th_fx_new
 * and th_fx_free make and remove a store; th_cast creates users and takes their actors.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("x\n", f);
	fclose(f);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* A tree below a name a shell would have to quote, with a link to a file outside it. */
static void rmrf_tree(void **state)
{
	(void)state;
	char *top = th_tmpdir(), path[4200], outside[4200];
	assert_int_equal(mkdir(top, 0700), 0);
	snprintf(outside, sizeof outside, "%s/keep", top);
	touch(outside);
	char *dir = malloc(4200);
	snprintf(dir, 4200, "%s/it's a 'tree' $(x)", top);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof path, "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/sub/file", dir);
	touch(path);
	snprintf(path, sizeof path, "%s/link", dir);
	assert_int_equal(symlink(outside, path), 0);
	snprintf(path, sizeof path, "%s/dirlink", dir);
	assert_int_equal(symlink(top, path), 0);
	snprintf(path, sizeof path, "%s", dir);
	th_rmrf(dir);
	assert_false(exists(path));
	assert_true(exists(outside)); /* the links went, not what they point to */
	th_rmrf(strdup(top));
	assert_false(exists(top));
	th_rmrf(top); /* gone already: nothing to do */
	th_rmrf(NULL);
}

typedef struct fx {
	TH_FX_HEAD;
	th_actor adm_a, adm_b, mon_a, usr_a, usr_a2, usr_b;
} fx;

static void fixture_and_cast(void **state)
{
	(void)state;
	fx *f = th_fx_new(sizeof *f);
	assert_non_null(f);
	assert_ptr_equal(f->s, f->fx.s);
	assert_true(exists(f->dir));
	char dir[4200];
	snprintf(dir, sizeof dir, "%s", f->dir);
	assert_int_equal(th_run(f->s, "user-policy.create", "name", 's', "small", NULL), AL_OK);
	assert_int_equal(th_run(f->s, "domain.create", "name", 's', "alpha", NULL), AL_OK);
	assert_int_equal(th_run(f->s, "domain.create", "name", 's', "beta", NULL), AL_OK);
	assert_int_equal(th_cast(f->s, (const th_member[]){TH_AB_CAST(f, "small"), {NULL}}), AL_OK);
	assert_string_equal(f->usr_b.a.name, "usr-b@x.io");
	assert_string_equal(f->adm_a.a.domain, "alpha");
	assert_int_equal(f->mon_a.a.role, AL_ROLE_MONITOR);
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "user.get", "email", 's', "usr-a@x.io", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "resource_policy"), "small");
	al_reply_free(&rep);
	assert_int_equal(th_exec(f->s, &rep, "user.get", "email", 's', "usr-a2@x.io", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "resource_policy"), "default");
	assert_string_equal(th_res_str(&rep, "username"), "usr-a2");
	al_reply_free(&rep);
	/* The first failure stops the cast: a user of an unknown domain, and no actor after it. */
	th_actor later = {.a = {.name = NULL}};
	assert_int_not_equal(th_cast(f->s, (const th_member[]){{"x@x.io", "nodomain", "user", NULL, NULL},
							       {"usr-a@x.io", "alpha", "user", &later, NULL},
							       {NULL}}),
			     AL_OK);
	assert_null(later.a.name);
	th_fx_free(f);
	assert_false(exists(dir));
	th_fx_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(rmrf_tree), cmocka_unit_test(fixture_and_cast)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
