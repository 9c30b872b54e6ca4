/*
 * test_images.c - images once scanned (from the stub registry of registry_test.h): image set-min
 * and the guide's warning (refused below the label minimum unless force, which is recorded),
 * aliases, list and get (filters, architectures, aliases), who sees which images (the allowed
 * registries of the domain and of the user's projects), rebuild and as-of.
 */
#include "registry_test.h"

#include "helpers.h"
#include "nouns/images.h"

#define PW "Passw0rd!"

typedef struct fx {
	TH_FX_HEAD;
	stub st;
	char host[64];
	char py[200], gpu[200], multi[200]; /* canonical names */
	rt_image ims[4];
	char *labels[3];
} fx;

/* A registry with three names: stable/python:3.9 (label minimums cpu 2, mem 2g),
 * stable/plain:1 (no minimum labels: the defaults), stable/multi:1 (amd64 and arm64). */
static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL || stub_start(&f->st) != 0)
		return -1;
	stub *st = &f->st;
	f->labels[0] = rt_labels(",\"ai.backend.resource.min.cpu\":\"2\",\"ai.backend.resource.min.mem\":\"2g\"");
	f->labels[1] = rt_labels(NULL);
	rt_image_make(&f->ims[0], "amd64", f->labels[0], "py");
	rt_image_make(&f->ims[1], "amd64", f->labels[1], "plain");
	rt_image_make(&f->ims[2], "amd64", f->labels[1], "m1");
	rt_image_make(&f->ims[3], "arm64", f->labels[1], "m2");
	stub_put_image(st, "stable/python", "3.9", &f->ims[0]);
	stub_put_image(st, "stable/plain", "1", &f->ims[1]);
	stub_put_image(st, "stable/multi", NULL, &f->ims[2]);
	stub_put_image(st, "stable/multi", NULL, &f->ims[3]);
	static const char *const archs[] = {"amd64", "arm64"};
	char *list = rt_list(&f->ims[2], archs, 2, false, false);
	stub_add(st, "/v2/stable/multi/manifests/1", 200, MT_LIST, list, strlen(list));
	free(list);
	stub_tags(st, "stable/python", "[\"3.9\"]");
	stub_tags(st, "stable/plain", "[\"1\"]");
	stub_tags(st, "stable/multi", "[\"1\"]");
	const char *cat = "{\"repositories\":[\"stable/multi\",\"stable/plain\",\"stable/python\"]}";
	stub_add(st, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	snprintf(f->host, sizeof f->host, "127.0.0.1:%d", st->port);
	snprintf(f->py, sizeof f->py, "%s/stable/python:3.9", f->host);
	snprintf(f->gpu, sizeof f->gpu, "%s/stable/plain:1", f->host);
	snprintf(f->multi, sizeof f->multi, "%s/stable/multi:1", f->host);
	char url[80];
	snprintf(url, sizeof url, "http://%s", f->host);
	if (th_run(f->s, "registry.create", "hostname", 's', f->host, "url", 's', url, NULL) != AL_OK ||
	    th_run(f->s, "image.rescan", NULL) != AL_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	stub_stop(&f->st);
	for (int i = 0; i < 4; i++)
		rt_image_free(&f->ims[i]);
	for (int i = 0; i < 3; i++)
		free(f->labels[i]);
	th_fx_free(f);
	return 0;
}

typedef struct res {
	al_reply rep;
	msgpack_zone z;
	msgpack_object o;
	int rc;
} res;

static void res_free(res *r)
{
	if (r->rc == AL_OK)
		msgpack_zone_destroy(&r->z);
	al_reply_free(&r->rep);
}

static int vrun_as(al_store *s, const al_actor *who, res *r, const char *op, va_list ap)
{
	size_t len;
	char *args = th_vargs(&len, ap);
	al_request req = {op, args, len, who};
	r->rc = al_exec(s, &req, &r->rep);
	free(args);
	if (r->rc == AL_OK) {
		msgpack_zone_init(&r->z, 4096);
		assert_int_equal(al_mp_decode(r->rep.result, r->rep.result_len, &r->z, &r->o), 0);
	}
	return r->rc;
}

static int run(al_store *s, res *r, const char *op, ...)
{
	va_list ap;
	va_start(ap, op);
	int rc = vrun_as(s, &th_admin, r, op, ap);
	va_end(ap);
	return rc;
}

static int run_as(al_store *s, const al_actor *who, res *r, const char *op, ...)
{
	va_list ap;
	va_start(ap, op);
	int rc = vrun_as(s, who, r, op, ap);
	va_end(ap);
	return rc;
}

/* Refused with code and a message starting with prefix; nothing appended. */
static void refused(al_store *s, res *r, int code, const char *prefix)
{
	(void)s;
	if (r->rc != code || strncmp(r->rep.err.msg, prefix, strlen(prefix)) != 0)
		print_error("got %s '%s', expected %s '%s...'\n", al_err_name(r->rc), r->rep.err.msg, al_err_name(code), prefix);
	assert_int_equal(r->rc, code);
	assert_int_equal(strncmp(r->rep.err.msg, prefix, strlen(prefix)), 0);
	assert_null(r->rep.result);
	assert_int_equal(r->rep.first_seq, 0);
	res_free(r);
}

/* The minimum of slot in an image result's resources (a number), and in its label_min. */
static double res_min(const msgpack_object *img, const char *group, const char *slot)
{
	const msgpack_object *g = al_mp_get(img, group);
	const msgpack_object *v = strcmp(group, "resources") == 0 ? al_mp_get(al_mp_get(g, slot), "min") : al_mp_get(g, slot);
	assert_non_null(v);
	return v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)v->via.u64 : v->via.f64;
}

/* The last event: its type, and its fields in *fields (valid until the next call). */
typedef struct last_ev {
	char type[64];
	msgpack_zone z;
	msgpack_object fields;
	char id[256];
} last_ev;

static int keep_last(const al_event *e, void *ctx)
{
	last_ev *l = ctx;
	snprintf(l->type, sizeof l->type, "%s", e->def->name);
	snprintf(l->id, sizeof l->id, "%.*s", (int)e->id.n, e->id.p);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, e->fields);
	msgpack_zone_clear(&l->z);
	char *copy = msgpack_zone_malloc(&l->z, sb.size);
	memcpy(copy, sb.data, sb.size);
	al_mp_decode(copy, sb.size, &l->z, &l->fields);
	msgpack_sbuffer_destroy(&sb);
	return 0;
}

static void last_event(al_store *s, last_ev *l)
{
	al_log_filter f = {.after_seq = al_log_head(s) - 1};
	al_error err;
	msgpack_zone_init(&l->z, 1024);
	assert_int_equal(al_log_query(s, &f, keep_last, l, &err), AL_OK);
}

/* ---- set-min ---------------------------------------------------------------------------------------- */

static void set_min_guard(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	res r;
	/* the label minimum of python is cpu 2, mem 2g: lower values are refused, naming the slot,
	 * the value, the minimum and its label */
	run(s, &r, "image.set-min", "name", 's', f->py, "cpu", 's', "1", NULL);
	assert_non_null(strstr(r.rep.err.msg, "1 is below the image's minimum 2 (label ai.backend.resource.min.cpu)"));
	assert_non_null(strstr(r.rep.err.msg, "force"));
	refused(s, &r, AL_EINVALID_ARGUMENT, "cpu: ");
	run(s, &r, "image.set-min", "name", 's', f->py, "cpu", 's', "4", "mem", 's', "1g", NULL);
	assert_non_null(strstr(r.rep.err.msg, "1g is below the image's minimum 2147483648 (label ai.backend.resource.min.mem)"));
	refused(s, &r, AL_EINVALID_ARGUMENT, "mem: ");
	/* no minimum labels: the defaults (cpu 1, mem 1 GiB) are the predefined values */
	run(s, &r, "image.set-min", "name", 's', f->gpu, "cpu", 's', "0.5", NULL);
	assert_non_null(strstr(r.rep.err.msg, "below the image's minimum 1 (the default)"));
	refused(s, &r, AL_EINVALID_ARGUMENT, "cpu: ");
	/* bad values */
	static const char *const bad_cpu[] = {"0", "-1", "abc", "1x", "", "1e9"};
	for (size_t i = 0; i < sizeof bad_cpu / sizeof *bad_cpu; i++) {
		run(s, &r, "image.set-min", "name", 's', f->py, "cpu", 's', bad_cpu[i], "force", 'b', 1, NULL);
		refused(s, &r, AL_EINVALID_ARGUMENT, "cpu: must be a number > 0");
	}
	static const char *const bad_mem[] = {"0", "12x", "-1g", "g"};
	for (size_t i = 0; i < sizeof bad_mem / sizeof *bad_mem; i++) {
		run(s, &r, "image.set-min", "name", 's', f->py, "mem", 's', bad_mem[i], "force", 'b', 1, NULL);
		refused(s, &r, AL_EINVALID_ARGUMENT, "mem: must be a size > 0");
	}
	run(s, &r, "image.set-min", "name", 's', f->py, NULL);
	refused(s, &r, AL_EINVALID_ARGUMENT, "nothing to set");
	run(s, &r, "image.set-min", "name", 's', "nope/x:1", "cpu", 's', "4", NULL);
	refused(s, &r, AL_ENOT_FOUND, "image nope/x:1: not found");
	run(s, &r, "image.set-min", "name", 's', f->multi, "cpu", 's', "4", NULL);
	refused(s, &r, AL_EINVALID_ARGUMENT, "architecture: ");
	run(s, &r, "image.set-min", "name", 's', f->multi, "architecture", 's', "riscv64", "cpu", 's', "4", NULL);
	refused(s, &r, AL_ENOT_FOUND, "image ");

	/* raising is fine without force; force is recorded as given */
	uint64_t head = al_log_head(s);
	assert_int_equal(run(s, &r, "image.set-min", "name", 's', f->py, "cpu", 's', "4", NULL), AL_OK);
	assert_true(res_min(&r.o, "resources", "cpu") == 4);
	assert_true(res_min(&r.o, "label_min", "cpu") == 2); /* the predefined value stays visible */
	assert_true(res_min(&r.o, "resources", "mem") == 2147483648.0);
	res_free(&r);
	assert_int_equal(al_log_head(s), head + 1);
	last_ev l;
	last_event(s, &l);
	assert_string_equal(l.type, "image.min_set");
	assert_string_equal(l.id, f->py);
	bool force = true;
	assert_int_equal(al_mp_bool(&l.fields, "force", &force), 1);
	assert_false(force);
	assert_null(al_mp_get(&l.fields, "below_label"));
	int64_t v;
	assert_int_equal(al_mp_int(al_mp_get(&l.fields, "min"), "cpu", &v), 1);
	assert_int_equal(v, 4);
	assert_null(al_mp_get(al_mp_get(&l.fields, "min"), "mem"));
	msgpack_zone_destroy(&l.z);
	/* the same value again records nothing */
	assert_int_equal(run(s, &r, "image.set-min", "name", 's', f->py, "cpu", 's', "4", NULL), AL_OK);
	res_free(&r);
	assert_int_equal(al_log_head(s), head + 1);

	/* below the label minimum with force: accepted, and the event says so */
	assert_int_equal(run(s, &r, "image.set-min", "name", 's', f->py, "cpu", 's', "0.5", "mem", 's', "512m", "force",
			     'b', 1, NULL),
			 AL_OK);
	assert_true(res_min(&r.o, "resources", "cpu") == 0.5);
	assert_true(res_min(&r.o, "resources", "mem") == 512.0 * 1024 * 1024);
	assert_true(res_min(&r.o, "min_override", "cpu") == 0.5);
	res_free(&r);
	last_event(s, &l);
	assert_string_equal(l.type, "image.min_set");
	assert_int_equal(al_mp_bool(&l.fields, "force", &force), 1);
	assert_true(force);
	const msgpack_object *below = al_mp_get(&l.fields, "below_label");
	assert_non_null(below);
	assert_int_equal(below->via.array.size, 2);
	assert_true(al_mp_str_eq(&below->via.array.ptr[0], "cpu"));
	assert_true(al_mp_str_eq(&below->via.array.ptr[1], "mem"));
	msgpack_zone_destroy(&l.z);

	/* one architecture at a time */
	assert_int_equal(run(s, &r, "image.set-min", "name", 's', f->multi, "architecture", 's', "aarch64", "mem", 's', "4g",
			     NULL),
			 AL_OK);
	res_free(&r);
	assert_int_equal(run(s, &r, "image.get", "name", 's', f->multi, "architecture", 's', "x86_64", NULL), AL_OK);
	assert_true(res_min(&r.o, "resources", "mem") == 1073741824.0);
	res_free(&r);
	assert_int_equal(run(s, &r, "image.get", "name", 's', f->multi, "architecture", 's', "arm64", NULL), AL_OK);
	assert_true(res_min(&r.o, "resources", "mem") == 4294967296.0);
	res_free(&r);

	/* a rescan that changes the image keeps the administrator's minimums */
	char *labels = rt_labels(",\"ai.backend.resource.min.cpu\":\"3\"");
	rt_image im;
	rt_image_make(&im, "amd64", labels, "py-new");
	stub_put_image(&f->st, "stable/python", "3.9", &im);
	assert_int_equal(run(s, &r, "image.rescan", NULL), AL_OK);
	res_free(&r);
	assert_int_equal(run(s, &r, "image.get", "name", 's', f->py, NULL), AL_OK);
	assert_true(res_min(&r.o, "label_min", "cpu") == 3);
	assert_true(res_min(&r.o, "resources", "cpu") == 0.5);
	al_str d;
	assert_int_equal(al_mp_str(&r.o, "config_digest", &d), 1);
	assert_true(al_str_eq(d, im.config_d));
	res_free(&r);
	rt_image_free(&im);
	free(labels);
}

/* ---- aliases, list, get ----------------------------------------------------------------------------- */

static void aliases_list_get(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	res r;
	assert_int_equal(run(s, &r, "image.list", NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 4);
	/* the list leaves out labels and the agents' ids; image get has them */
	assert_null(al_mp_get(&r.o.via.array.ptr[0], "labels"));
	assert_non_null(al_mp_get(&r.o.via.array.ptr[0], "installed"));
	assert_non_null(al_mp_get(&r.o.via.array.ptr[0], "resources"));
	res_free(&r);
	assert_int_equal(run(s, &r, "image.list", "registry", 's', f->host, "gone", 'b', 0, NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 4);
	res_free(&r);
	assert_int_equal(run(s, &r, "image.list", "registry", 's', "127.0.0.1", NULL), AL_OK); /* a prefix is not a registry */
	assert_int_equal(r.o.via.array.size, 0);
	res_free(&r);
	assert_int_equal(run(s, &r, "image.list", "gone", 'b', 1, NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 0);
	res_free(&r);

	/* aliases */
	assert_int_equal(run(s, &r, "image.alias", "name", 's', f->py, "aliases", 'l', "python,py:3.9", NULL), AL_OK);
	const msgpack_object *a = al_mp_get(&r.o, "aliases");
	assert_int_equal(a->via.array.size, 2);
	res_free(&r);
	assert_int_equal(run(s, &r, "image.get", "name", 's', "python", NULL), AL_OK);
	al_str name;
	assert_int_equal(al_mp_str(&r.o, "name", &name), 1);
	assert_true(al_str_eq(name, f->py));
	assert_int_equal(al_mp_get(&r.o, "aliases")->via.array.size, 2);
	assert_non_null(al_mp_get(&r.o, "labels"));
	assert_non_null(al_mp_get(&r.o, "installed_agents"));
	res_free(&r);
	assert_int_equal(run(s, &r, "image.alias", "name", 's', f->gpu, "aliases", 'l', "python", NULL), AL_EALREADY_EXISTS);
	assert_non_null(strstr(r.rep.err.msg, "already names"));
	refused(s, &r, AL_EALREADY_EXISTS, "aliases: python");
	run(s, &r, "image.alias", "name", 's', f->gpu, "aliases", 'l', f->multi, NULL);
	refused(s, &r, AL_EALREADY_EXISTS, "aliases: ");
	run(s, &r, "image.alias", "name", 's', f->gpu, "aliases", 'l', "a,b,a", NULL);
	refused(s, &r, AL_EINVALID_ARGUMENT, "aliases: a is listed twice");
	run(s, &r, "image.alias", "name", 's', f->gpu, "aliases", 'l', "bad alias", NULL);
	refused(s, &r, AL_EINVALID_ARGUMENT, "aliases: ");
	run(s, &r, "image.alias", "name", 's', f->gpu, "aliases", 'l', "", NULL);
	refused(s, &r, AL_EINVALID_ARGUMENT, "aliases: give at least one");
	run(s, &r, "image.alias", "name", 's', "python", "aliases", 'l', "p2", NULL); /* by its canonical name only */
	refused(s, &r, AL_ENOT_FOUND, "image python: not found");
	/* the alias of a multi-architecture name still needs the architecture */
	assert_int_equal(run(s, &r, "image.alias", "name", 's', f->multi, "aliases", 'l', "multi", NULL), AL_OK);
	res_free(&r);
	run(s, &r, "image.get", "name", 's', "multi", NULL);
	refused(s, &r, AL_EINVALID_ARGUMENT, "architecture: ");
	assert_int_equal(run(s, &r, "image.get", "name", 's', "multi", "architecture", 's', "amd64", NULL), AL_OK);
	res_free(&r);
	assert_int_equal(run(s, &r, "image.unalias", "alias", 's', "python", NULL), AL_OK);
	res_free(&r);
	run(s, &r, "image.get", "name", 's', "python", NULL);
	refused(s, &r, AL_ENOT_FOUND, "image python: not found");
	run(s, &r, "image.unalias", "alias", 's', "python", NULL);
	refused(s, &r, AL_ENOT_FOUND, "alias python: not found");
	assert_int_equal(run(s, &r, "image.get", "name", 's', "py:3.9", NULL), AL_OK);
	assert_int_equal(al_mp_get(&r.o, "aliases")->via.array.size, 1);
	res_free(&r);
	/* an alias that was removed may name another image */
	assert_int_equal(run(s, &r, "image.alias", "name", 's', f->gpu, "aliases", 'l', "python", NULL), AL_OK);
	res_free(&r);

	/* rebuild, and as-of before the aliases */
	char live[33], rebuilt[33], past[33];
	al_error err;
	th_digest(s, live);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	al_store *old;
	assert_int_equal(al_store_asof(s, al_log_head(s) - 1, &old, &err), AL_OK);
	assert_int_equal(run(old, &r, "image.get", "name", 's', "python", NULL), AL_ENOT_FOUND);
	al_reply_free(&r.rep);
	th_digest(old, past);
	assert_string_not_equal(past, live);
	al_store_close(old);
}

/* ---- who sees which images -------------------------------------------------------------------------- */

static void visibility(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	assert_int_equal(th_run(s, "user.create", "email", 's', "u@example.com", "username", 's', "u", "password", 's', PW,
				NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "user.create", "email", 's', "adm@example.com", "username", 's', "adm", "password", 's',
				PW, "role", 's', "admin", NULL),
			 AL_OK);
	th_actor u, adm;
	assert_int_equal(th_as(s, "u@example.com", &u), AL_OK);
	assert_int_equal(th_as(s, "adm@example.com", &adm), AL_OK);
	res r;
	/* nothing allowed yet: no image is listed, and one named is answered like a missing one */
	assert_int_equal(run_as(s, &u.a, &r, "image.list", NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 0);
	res_free(&r);
	run_as(s, &u.a, &r, "image.get", "name", 's', f->py, NULL);
	refused(s, &r, AL_ENOT_FOUND, "image ");
	/* the domain allows the registry: its users and admins see its images */
	assert_int_equal(th_run(s, "domain.update", "name", 's', "default", "allowed_registries", 'l', f->host, NULL), AL_OK);
	assert_int_equal(run_as(s, &u.a, &r, "image.list", NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 4);
	res_free(&r);
	assert_int_equal(run_as(s, &adm.a, &r, "image.get", "name", 's', f->py, NULL), AL_OK);
	res_free(&r);
	/* ...and neither may change them */
	run_as(s, &adm.a, &r, "image.set-min", "name", 's', f->py, "cpu", 's', "8", NULL);
	refused(s, &r, AL_EPERMISSION_DENIED, "image.set-min");
	run_as(s, &u.a, &r, "image.rescan", NULL);
	refused(s, &r, AL_EPERMISSION_DENIED, "image.rescan");
	/* allowed through a project of the user instead */
	assert_int_equal(th_run(s, "domain.update", "name", 's', "default", "allowed_registries", 'l', "", NULL), AL_OK);
	assert_int_equal(th_run(s, "project.create", "name", 's', "vision", "allowed_registries", 'l', f->host, NULL), AL_OK);
	assert_int_equal(run_as(s, &u.a, &r, "image.list", NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 0); /* not a member yet */
	res_free(&r);
	assert_int_equal(th_run(s, "project.add-member", "name", 's', "vision", "users", 'l', "u@example.com", NULL), AL_OK);
	assert_int_equal(run_as(s, &u.a, &r, "image.list", NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 4);
	res_free(&r);
	assert_int_equal(run_as(s, &u.a, &r, "image.get", "name", 's', f->gpu, NULL), AL_OK);
	res_free(&r);
	/* an inactive project allows nothing */
	assert_int_equal(th_run(s, "project.deactivate", "name", 's', "vision", NULL), AL_OK);
	assert_int_equal(run_as(s, &u.a, &r, "image.list", NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 0);
	res_free(&r);
	/* the admin's project memberships count too, not the user's */
	assert_int_equal(run_as(s, &adm.a, &r, "image.list", NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 0);
	res_free(&r);
}

/* Images the stub no longer has: gone, kept, found again. And the export of both lists. */
static void gone_and_export(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	res r;
	stub_tags(&f->st, "stable/plain", "[]");
	assert_int_equal(run(s, &r, "image.rescan", "registry", 's', f->host, NULL), AL_OK);
	res_free(&r);
	assert_int_equal(run(s, &r, "image.list", "gone", 'b', 1, NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 1);
	res_free(&r);
	char *buf = NULL;
	size_t n = 0;
	FILE *out = open_memstream(&buf, &n);
	al_request req = {NULL, NULL, 0, &th_admin};
	al_error err;
	assert_int_equal(al_export_csv(s, "images", &req, out, &err), AL_OK);
	fclose(out);
	assert_non_null(strstr(buf, "name,architecture,registry,project,image,tag,config_digest,size_bytes"));
	assert_non_null(strstr(buf, f->py));
	assert_non_null(strstr(buf, ",aarch64,"));
	assert_null(strstr(buf, "ai.backend.kernelspec")); /* no labels in the export */
	int lines = 0;
	for (char *p = buf; (p = strstr(p, "\r\n")); p += 2)
		lines++;
	assert_int_equal(lines, 5);
	free(buf);
	out = open_memstream(&buf, &n);
	assert_int_equal(al_export_csv(s, "registries", &req, out, &err), AL_OK);
	fclose(out);
	assert_non_null(strstr(buf, "hostname,url,type,project,username,password_set,ssl_verify,created_at\r\n"));
	assert_non_null(strstr(buf, f->host));
	assert_non_null(strstr(buf, ",docker,,,false,true,"));
	free(buf);
}

int main(void)
{
	unsetenv("http_proxy"), unsetenv("HTTP_PROXY"), unsetenv("all_proxy"), unsetenv("ALL_PROXY");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(set_min_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(aliases_list_get, setup, teardown),
		cmocka_unit_test_setup_teardown(visibility, setup, teardown),
		cmocka_unit_test_setup_teardown(gone_and_export, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
