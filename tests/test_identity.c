/*
 * test_identity.c - rules that span the identity nouns: the policy delete guard counting
 * keypairs, users and projects (of inactive users too), projects joined by user.create,
 * unknown policies, inactive domains, and a domain change leaving projects.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"
#include "helpers.h"

#define PW "Passw0rd!"

static int setup(void **state)
{
	assert_int_equal(th_setup(state), 0);
	al_store *s = th_store(state);
	assert_int_equal(th_run(s, "domain.create", "name", 's', "lab", NULL), AL_OK);
	assert_int_equal(th_run(s, "project.create", "name", 's', "vision", "domain", 's', "default", NULL), AL_OK);
	assert_int_equal(th_run(s, "project.create", "name", 's', "optics", "domain", 's', "lab", NULL), AL_OK);
	return 0;
}

#define teardown th_teardown
#define S th_store

/* Runs op expecting code; a refusal's message contains field, nothing was appended. */
#define expect(s, code, field, ...) th_refuse_at(__FILE__, __LINE__, s, NULL, code, NULL, field, __VA_ARGS__)

static void new_user(al_store *s, const char *email, const char *name)
{
	assert_int_equal(th_run(s, "user.create", "email", 's', email, "username", 's', name, "password", 's', PW, NULL),
			 AL_OK);
}

static void keypair_policy_guard(void **state)
{
	al_store *s = S(state);
	al_reply rep;
	new_user(s, "u1@example.com", "u1");
	assert_int_equal(th_run(s, "policy.create", "name", 's', "gold", NULL), AL_OK);
	assert_int_equal(th_exec(s, &rep, "keypair.create", "user", 's', "u1@example.com", "policy", 's', "gold", NULL),
			 AL_OK);
	char ak[32];
	snprintf(ak, sizeof ak, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "policy.delete", "name", 's', "gold", NULL), AL_EIN_USE);
	assert_non_null(strstr(rep.err.msg, "1 keypair"));
	al_reply_free(&rep);
	/* Inactive users' keypairs still follow it. */
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "u1@example.com", NULL), AL_OK);
	expect(s, AL_EIN_USE, NULL, "policy.delete", "name", 's', "gold", NULL);
	/* A second follower is counted. */
	new_user(s, "u2@example.com", "u2");
	assert_int_equal(th_run(s, "keypair.create", "user", 's', "u2@example.com", "policy", 's', "gold", NULL), AL_OK);
	assert_int_equal(th_exec(s, &rep, "policy.delete", "name", 's', "gold", NULL), AL_EIN_USE);
	assert_non_null(strstr(rep.err.msg, "2 keypair"));
	al_reply_free(&rep);
	/* Moving every follower away (or deleting it) frees the policy. */
	assert_int_equal(th_run(s, "keypair.delete", "access_key", 's', ak, NULL), AL_OK);
	assert_int_equal(th_exec(s, &rep, "keypair.list", "user", 's', "u2@example.com", NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), 2);
	al_reply_free(&rep);
	char list[4096];
	assert_int_equal(th_exec(s, &rep, "keypair.list", "user", 's', "u2@example.com", NULL), AL_OK);
	{
		msgpack_zone z;
		msgpack_object o;
		msgpack_zone_init(&z, 4096);
		assert_int_equal(al_mp_decode(rep.result, rep.result_len, &z, &o), 0);
		for (uint32_t i = 0; i < o.via.array.size; i++) {
			al_str k, p;
			al_mp_str(&o.via.array.ptr[i], "access_key", &k);
			al_mp_str(&o.via.array.ptr[i], "resource_policy", &p);
			if (al_str_eq(p, "gold"))
				snprintf(list, sizeof list, "%.*s", (int)k.n, k.p);
		}
		msgpack_zone_destroy(&z);
	}
	al_reply_free(&rep);
	assert_int_equal(th_run(s, "keypair.update", "access_key", 's', list, "policy", 's', "default", NULL), AL_OK);
	expect(s, AL_OK, NULL, "policy.delete", "name", 's', "gold", NULL);
	expect(s, AL_ENOT_FOUND, NULL, "policy.get", "name", 's', "gold", NULL);
}

static void user_policy_guard(void **state)
{
	al_store *s = S(state);
	al_reply rep;
	assert_int_equal(th_run(s, "user-policy.create", "name", 's', "silver", NULL), AL_OK);
	assert_int_equal(th_run(s, "user.create", "email", 's', "p@example.com", "username", 's', "p", "password", 's', PW,
				"resource_policy", 's', "silver", NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "p@example.com", NULL), AL_OK);
	assert_int_equal(th_exec(s, &rep, "user-policy.delete", "name", 's', "silver", NULL), AL_EIN_USE);
	assert_non_null(strstr(rep.err.msg, "1 user"));
	al_reply_free(&rep);
	assert_int_equal(th_run(s, "user.update", "email", 's', "p@example.com", "resource_policy", 's', "default", NULL),
			 AL_OK);
	expect(s, AL_OK, NULL, "user-policy.delete", "name", 's', "silver", NULL);
}

static void project_policy_guard(void **state)
{
	al_store *s = S(state);
	al_reply rep;
	assert_int_equal(th_run(s, "project-policy.create", "name", 's', "bronze", NULL), AL_OK);
	assert_int_equal(th_run(s, "project.create", "name", 's', "p1", "domain", 's', "lab", "policy", 's', "bronze", NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "project.deactivate", "name", 's', "p1", "domain", 's', "lab", NULL), AL_OK);
	assert_int_equal(th_exec(s, &rep, "project-policy.delete", "name", 's', "bronze", NULL), AL_EIN_USE);
	assert_non_null(strstr(rep.err.msg, "1 project"));
	al_reply_free(&rep);
	assert_int_equal(th_run(s, "project.update", "name", 's', "p1", "domain", 's', "lab", "policy", 's', "default",
				NULL),
			 AL_OK);
	expect(s, AL_OK, NULL, "project-policy.delete", "name", 's', "bronze", NULL);
	/* The bootstrap's default policies are followed by the bootstrap's admin and project. */
	expect(s, AL_EIN_USE, NULL, "policy.delete", "name", 's', "default", NULL);
	expect(s, AL_EIN_USE, NULL, "user-policy.delete", "name", 's', "default", NULL);
	expect(s, AL_EIN_USE, NULL, "project-policy.delete", "name", 's', "default", NULL);
}

static void unknown_policies(void **state)
{
	al_store *s = S(state);
	new_user(s, "k@example.com", "k");
	expect(s, AL_EINVALID_ARGUMENT, "policy", "keypair.create", "user", 's', "k@example.com", "policy", 's', "nope",
	       NULL);
	expect(s, AL_EINVALID_ARGUMENT, "resource_policy", "user.create", "email", 's', "n@example.com", "username", 's',
	       "n", "password", 's', PW, "resource_policy", 's', "nope", NULL);
	expect(s, AL_EINVALID_ARGUMENT, "policy", "project.create", "name", 's', "p2", "domain", 's', "lab", "policy", 's',
	       "nope", NULL);
	/* Each kind has its own namespace: a keypair policy is no user policy. */
	assert_int_equal(th_run(s, "policy.create", "name", 's', "kp-only", NULL), AL_OK);
	expect(s, AL_EINVALID_ARGUMENT, "resource_policy", "user.update", "email", 's', "k@example.com",
	       "resource_policy", 's', "kp-only", NULL);
}

static void projects_on_create(void **state)
{
	al_store *s = S(state);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.create", "email", 's', "m@example.com", "username", 's', "m", "password",
				 's', PW, "projects", 'l', "default,vision", NULL),
			 AL_OK);
	assert_int_equal(rep.last_seq - rep.first_seq + 1, 4); /* user, keypair, two memberships */
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "project.get", "name", 's', "vision", "domain", 's', "default", NULL), AL_OK);
	assert_non_null(memmem(rep.result, rep.result_len, "m@example.com", 13));
	al_reply_free(&rep);
	/* A project of another domain, or none, is refused and nothing is written. */
	expect(s, AL_EINVALID_ARGUMENT, "projects", "user.create", "email", 's', "o@example.com", "username", 's', "o",
	       "password", 's', PW, "projects", 'l', "optics", NULL);
	expect(s, AL_EINVALID_ARGUMENT, "projects", "user.create", "email", 's', "o@example.com", "username", 's', "o",
	       "password", 's', PW, "projects", 'l', "vision,nowhere", NULL);
	expect(s, AL_ENOT_FOUND, NULL, "user.get", "email", 's', "o@example.com", NULL);
	/* In lab, optics is the user's domain's project. */
	expect(s, AL_OK, NULL, "user.create", "email", 's', "o@example.com", "username", 's', "o", "password", 's', PW,
	       "domain", 's', "lab", "projects", 'l', "optics", NULL);
	/* Changing domain leaves every project of the old one. */
	assert_int_equal(th_exec(s, &rep, "user.update", "email", 's', "m@example.com", "domain", 's', "lab", NULL), AL_OK);
	assert_non_null(memmem(rep.result, rep.result_len, "\xa8projects\x90", 10)); /* "projects": [] */
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "project.get", "name", 's', "vision", "domain", 's', "default", NULL), AL_OK);
	assert_null(memmem(rep.result, rep.result_len, "m@example.com", 13));
	al_reply_free(&rep);
}

static void inactive_domain(void **state)
{
	al_store *s = S(state);
	new_user(s, "stay@example.com", "stay");
	assert_int_equal(th_run(s, "domain.deactivate", "name", 's', "lab", NULL), AL_OK);
	expect(s, AL_EINVALID_ARGUMENT, "domain", "user.create", "email", 's', "x@example.com", "username", 's', "x",
	       "password", 's', PW, "domain", 's', "lab", NULL);
	expect(s, AL_EINVALID_ARGUMENT, "domain", "user.update", "email", 's', "stay@example.com", "domain", 's', "lab",
	       NULL);
	expect(s, AL_EINVALID_ARGUMENT, "domain", "project.create", "name", 's', "p3", "domain", 's', "lab", NULL);
	assert_int_equal(th_run(s, "domain.activate", "name", 's', "lab", NULL), AL_OK);
	expect(s, AL_OK, NULL, "user.update", "email", 's', "stay@example.com", "domain", 's', "lab", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(keypair_policy_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(user_policy_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(project_policy_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_policies, setup, teardown),
		cmocka_unit_test_setup_teardown(projects_on_create, setup, teardown),
		cmocka_unit_test_setup_teardown(inactive_domain, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
