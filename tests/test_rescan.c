/*
 * test_rescan.c - image rescan against a REAL registry: Debian's docker-registry (tools/deps.sh
 * installs it) started by the test on 127.0.0.1 with filesystem storage in a temp dir, anonymous
 * and with htpasswd basic auth; images pushed by plain HTTP uploads (blob POST + PUT ?digest=,
 * manifest PUT). Then what the real registry cannot be made to do, against the stub registry of
 * registry_test.h: bearer-token auth, blob redirects to another host, catalog pages, broken
 * answers, a registry that never answers (timeout). And the label validation itself.
 */
#include "registry_test.h"

#include "helpers.h"
#include "nouns/images.h"
#include "util/json.h"

static const char *const VALID_EXTRA =
	",\"ai.backend.resource.min.cpu\":\"2\",\"ai.backend.resource.min.mem\":\"2g\","
	"\"ai.backend.accelerators\":\"cuda\",\"org.example.note\":\"caf\\u00e9 \\\"q\\\"\"";

typedef struct fx {
	TH_FX_HEAD;
	realreg rr; /* stopped by teardown, also when a test fails half way */
	stub st, st2;
	bool st_on, st2_on;
} fx;

static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	*state = f;
	return f ? 0 : -1;
}

static int teardown(void **state)
{
	fx *f = *state;
	if (f->rr.dir[0])
		realreg_stop(&f->rr);
	if (f->st_on)
		stub_stop(&f->st);
	if (f->st2_on)
		stub_stop(&f->st2);
	th_fx_free(f);
	return 0;
}

/* ---- reading results -------------------------------------------------------------------------------- */

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

static int vrun(al_store *s, res *r, const char *op, va_list ap)
{
	size_t len;
	char *args = th_vargs(&len, ap);
	al_request req = {op, args, len, &th_admin};
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
	int rc = vrun(s, r, op, ap);
	va_end(ap);
	return rc;
}

static uint64_t num(const msgpack_object *m, const char *key)
{
	const msgpack_object *v = al_mp_get(m, key);
	assert_non_null(v);
	assert_int_equal(v->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	return v->via.u64;
}

static const char *str(const msgpack_object *m, const char *key)
{
	static char buf[4][512];
	static int k;
	char *b = buf[k++ % 4];
	al_str v = {"", 0};
	if (al_mp_str(m, key, &v) != 1)
		return NULL;
	snprintf(b, 512, "%.*s", (int)v.n, v.p);
	return b;
}

/* The only registry entry of a rescan result. */
static const msgpack_object *reg0(const res *r)
{
	const msgpack_object *a = al_mp_get(&r->o, "registries");
	assert_non_null(a);
	assert_int_equal(a->via.array.size, 1);
	return &a->via.array.ptr[0];
}

/* The skip reason of name (and arch, when not NULL) in a rescan result, or NULL. */
static const char *skipped(const res *r, const char *name, const char *arch)
{
	const msgpack_object *sk = al_mp_get(reg0(r), "skipped");
	for (uint32_t i = 0; sk && i < sk->via.array.size; i++) {
		const msgpack_object *e = &sk->via.array.ptr[i];
		if (strcmp(str(e, "name"), name) == 0 && (!arch || strcmp(str(e, "architecture"), arch) == 0))
			return str(e, "reason");
	}
	print_error("%s (%s) is not among the skipped images\n", name, arch ? arch : "any");
	fail();
	return NULL;
}

static int rescan(al_store *s, res *r, const char *host)
{
	return host ? run(s, r, "image.rescan", "registry", 's', host, NULL) : run(s, r, "image.rescan", NULL);
}

/* image.get of name (and arch) into r; AL_OK expected. */
static void get_image(al_store *s, res *r, const char *name, const char *arch)
{
	int rc = arch ? run(s, r, "image.get", "name", 's', name, "architecture", 's', arch, NULL)
		      : run(s, r, "image.get", "name", 's', name, NULL);
	if (rc != AL_OK)
		print_error("image.get %s: %s\n", name, r->rep.err.msg);
	assert_int_equal(rc, AL_OK);
}

static bool gone(al_store *s, const char *name, const char *arch)
{
	res r;
	get_image(s, &r, name, arch);
	bool g = false;
	assert_int_equal(al_mp_bool(&r.o, "gone", &g), 1);
	res_free(&r);
	return g;
}

static int64_t min_of(const msgpack_object *img, const char *slot)
{
	const msgpack_object *v = al_mp_get(al_mp_get(al_mp_get(img, "resources"), slot), "min");
	assert_non_null(v);
	return v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)v->via.u64 : -1;
}

static void name_of(char *buf, size_t n, int port, const char *repo_tag)
{
	snprintf(buf, n, "127.0.0.1:%d/%s", port, repo_tag);
}

/* ---- the real registry, anonymous ---------------------------------------------------------------------- */

static void real_registry(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	char why[1024], host[64], url[80], n_py[200], n_multi[200], n_oci[200], n_old[200], n_bad[200], n_other[200];
	if (realreg_start(&f->rr, false, why, sizeof why) != 0)
		fail_msg("%s", why);
	snprintf(host, sizeof host, "127.0.0.1:%d", f->rr.port);
	snprintf(url, sizeof url, "http://%s", host);
	name_of(n_py, sizeof n_py, f->rr.port, "stable/python:3.9");
	name_of(n_multi, sizeof n_multi, f->rr.port, "stable/multi:1.0");
	name_of(n_oci, sizeof n_oci, f->rr.port, "stable/oci:2.0");
	name_of(n_old, sizeof n_old, f->rr.port, "stable/old:1");
	name_of(n_bad, sizeof n_bad, f->rr.port, "stable/broken:1.0");
	name_of(n_other, sizeof n_other, f->rr.port, "other/app:1");

	/* the images: a labelled one, one with invalid labels, a manifest list and an OCI index of
	 * two architectures (with an attestation entry), one to delete later, one in another project */
	char *good = rt_labels(VALID_EXTRA), *plain = rt_labels(NULL), *bad = rt_labels_ks("2", NULL);
	rt_image py, broken, amd, arm, oamd, oarm, old, other;
	rt_image_make(&py, "amd64", good, "py");
	rt_image_make(&broken, "amd64", bad, "broken");
	rt_image_make(&amd, "amd64", good, "multi");
	rt_image_make(&arm, "arm64", plain, "multi");
	rt_image_make(&oamd, "amd64", plain, "oci");
	rt_image_make(&oarm, "arm64", plain, "oci");
	rt_image_make(&old, "amd64", plain, "old");
	rt_image_make(&other, "amd64", plain, "other");
	rt_image two[2] = {amd, arm}, otwo[2] = {oamd, oarm};
	static const char *const archs[] = {"amd64", "arm64"};
	char *list = rt_list(two, archs, 2, false, false), *index = rt_list(otwo, archs, 2, true, true);
	assert_int_equal(rt_push_image(&f->rr, "stable/python", "3.9", &py, NULL), 0);
	assert_int_equal(rt_push_image(&f->rr, "stable/broken", "1.0", &broken, NULL), 0);
	assert_int_equal(rt_push_image(&f->rr, "stable/multi", NULL, &amd, NULL), 0);
	assert_int_equal(rt_push_image(&f->rr, "stable/multi", NULL, &arm, NULL), 0);
	assert_int_equal(rt_push_manifest(&f->rr, "stable/multi", "1.0", list, MT_LIST, NULL), 0);
	assert_int_equal(rt_push_image(&f->rr, "stable/oci", NULL, &oamd, NULL), 0);
	assert_int_equal(rt_push_image(&f->rr, "stable/oci", NULL, &oarm, NULL), 0);
	assert_int_equal(rt_push_manifest(&f->rr, "stable/oci", "2.0", index, MT_OCI_INDEX, NULL), 0);
	assert_int_equal(rt_push_image(&f->rr, "stable/old", "1", &old, NULL), 0);
	assert_int_equal(rt_push_image(&f->rr, "other/app", "1", &other, NULL), 0);

	assert_int_equal(th_run(s, "registry.create", "hostname", 's', host, "url", 's', url, "project", 'l', "stable", NULL),
			 AL_OK);
	res r;
	uint64_t head0 = al_log_head(s);
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	const msgpack_object *e = reg0(&r);
	assert_string_equal(str(e, "status"), "ok");
	assert_true(al_mp_get(e, "complete")->via.boolean);
	/* python, multi x2, oci x2, old: six images; the attestation entry is not one */
	assert_int_equal(num(e, "found"), 6);
	assert_int_equal(num(e, "added"), 6);
	assert_int_equal(num(&r.o, "added"), 6);
	assert_int_equal(al_log_head(s), head0 + 6); /* one image.scanned each */
	const char *why_bad = skipped(&r, n_bad, "x86_64");
	assert_non_null(why_bad);
	assert_string_equal(why_bad, "label ai.backend.kernelspec: must be 1, got '2'");
	assert_null(memmem(r.rep.result, r.rep.result_len, "other/app", 9)); /* outside the projects: not read */
	res_free(&r);

	/* labels, minimums, digest, size */
	get_image(s, &r, n_py, NULL);
	assert_string_equal(str(&r.o, "architecture"), "x86_64");
	assert_string_equal(str(&r.o, "registry"), host);
	assert_string_equal(str(&r.o, "project"), "stable");
	assert_string_equal(str(&r.o, "image"), "stable/python");
	assert_string_equal(str(&r.o, "tag"), "3.9");
	assert_string_equal(str(&r.o, "config_digest"), py.config_d);
	assert_int_equal(num(&r.o, "size_bytes"), py.config_n + py.layer_n);
	assert_string_equal(str(&r.o, "base_distro"), "ubuntu20.04");
	assert_string_equal(str(&r.o, "role"), "COMPUTE");
	assert_string_equal(str(&r.o, "type"), "compute");
	assert_string_equal(str(al_mp_get(&r.o, "labels"), "org.example.note"), "caf\xc3\xa9 \"q\"");
	assert_string_equal(str(al_mp_get(&r.o, "labels"), "ai.backend.runtime-path"), "/usr/bin/python3");
	assert_int_equal(min_of(&r.o, "cpu"), 2);
	assert_int_equal(min_of(&r.o, "mem"), 2LL << 30);
	assert_int_equal(num(al_mp_get(&r.o, "label_min"), "mem"), 2LL << 30);
	const msgpack_object *acc = al_mp_get(&r.o, "accelerators");
	assert_int_equal(acc->via.array.size, 1);
	assert_true(al_mp_str_eq(&acc->via.array.ptr[0], "cuda"));
	assert_false(al_mp_get(&r.o, "gone")->via.boolean);
	res_free(&r);
	/* no minimum labels: the defaults, cpu 1 and mem 1 GiB */
	get_image(s, &r, n_old, NULL);
	assert_int_equal(min_of(&r.o, "cpu"), 1);
	assert_int_equal(min_of(&r.o, "mem"), 1LL << 30);
	res_free(&r);

	/* the manifest list: one image per architecture, names normalised */
	assert_int_equal(run(s, &r, "image.get", "name", 's', n_multi, NULL), AL_EINVALID_ARGUMENT);
	assert_int_equal(strncmp(r.rep.err.msg, "architecture:", 13), 0);
	assert_non_null(strstr(r.rep.err.msg, "aarch64, x86_64"));
	res_free(&r);
	get_image(s, &r, n_multi, "x86_64");
	assert_string_equal(str(&r.o, "config_digest"), amd.config_d);
	assert_int_equal(min_of(&r.o, "cpu"), 2);
	res_free(&r);
	get_image(s, &r, n_multi, "arm64"); /* Docker's name for it works too */
	assert_string_equal(str(&r.o, "architecture"), "aarch64");
	assert_string_equal(str(&r.o, "config_digest"), arm.config_d);
	assert_int_equal(min_of(&r.o, "cpu"), 1);
	res_free(&r);
	get_image(s, &r, n_oci, "aarch64");
	assert_string_equal(str(&r.o, "config_digest"), oarm.config_d);
	res_free(&r);
	assert_int_equal(run(s, &r, "image.list", "registry", 's', host, NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 6);
	res_free(&r);

	/* nothing changed: a rescan appends nothing */
	uint64_t head = al_log_head(s);
	assert_int_equal(rescan(s, &r, host), AL_OK);
	assert_int_equal(num(reg0(&r), "unchanged"), 6);
	assert_int_equal(num(&r.o, "added") + num(&r.o, "updated") + num(&r.o, "gone"), 0);
	res_free(&r);
	assert_int_equal(al_log_head(s), head);

	/* a deleted tag: its image is kept and marked gone, once */
	assert_int_equal(rt_delete_manifest(&f->rr, "stable/old", old.manifest_d), 0);
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	assert_int_equal(num(reg0(&r), "gone"), 1);
	res_free(&r);
	assert_int_equal(al_log_head(s), head + 1);
	assert_true(gone(s, n_old, NULL));
	assert_false(gone(s, n_py, NULL));
	assert_int_equal(run(s, &r, "image.list", "gone", 'b', 1, NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 1);
	assert_string_equal(str(&r.o.via.array.ptr[0], "name"), n_old);
	res_free(&r);
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	res_free(&r);
	assert_int_equal(al_log_head(s), head + 1); /* already gone: nothing more */

	/* pushed again: found again */
	assert_int_equal(rt_push_manifest(&f->rr, "stable/old", "1", old.manifest, MT_MANIFEST, NULL), 0);
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	assert_int_equal(num(reg0(&r), "updated"), 1);
	res_free(&r);
	assert_false(gone(s, n_old, NULL));

	/* new labels under the same tag: the image is updated (new config digest) */
	char *newer = rt_labels(",\"ai.backend.resource.min.cpu\":\"4\"");
	rt_image py2;
	rt_image_make(&py2, "amd64", newer, "py2");
	assert_int_equal(rt_push_image(&f->rr, "stable/python", "3.9", &py2, NULL), 0);
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	assert_int_equal(num(reg0(&r), "updated"), 1);
	res_free(&r);
	get_image(s, &r, n_py, NULL);
	assert_string_equal(str(&r.o, "config_digest"), py2.config_d);
	assert_int_equal(min_of(&r.o, "cpu"), 4);
	assert_int_equal(al_mp_get(&r.o, "accelerators")->via.array.size, 0);
	assert_int_equal(num(&r.o, "version"), 2);
	res_free(&r);

	/* another project list: the other project is read, stable's images are outside the scan
	 * and not marked gone */
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', host, "project", 'l', "other", NULL), AL_OK);
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	assert_int_equal(num(reg0(&r), "added"), 1);
	assert_int_equal(num(reg0(&r), "gone"), 0);
	res_free(&r);
	assert_false(gone(s, n_py, NULL));
	assert_false(gone(s, n_other, NULL));

	/* rebuild gives the same views */
	char live[33], rebuilt[33];
	al_error err;
	th_digest(s, live);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);

	/* deleting the registry marks its images gone (cause registry_deleted); they stay listed */
	head = al_log_head(s);
	assert_int_equal(th_run(s, "registry.delete", "hostname", 's', host, NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 1 + 7); /* registry.deleted, then seven image.gone */
	assert_int_equal(run(s, &r, "image.list", "gone", 'b', 0, NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 0);
	res_free(&r);
	assert_int_equal(run(s, &r, "image.list", NULL), AL_OK);
	assert_int_equal(r.o.via.array.size, 7);
	res_free(&r);

	rt_image *all[] = {&py, &broken, &amd, &arm, &oamd, &oarm, &old, &other, &py2};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		rt_image_free(all[i]);
	free(good), free(plain), free(bad), free(list), free(index), free(newer);
}

/* ---- the real registry with htpasswd basic auth ------------------------------------------------------- */

static void real_registry_basic_auth(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	char why[1024], host[64], url[80], name[200];
	if (realreg_start(&f->rr, true, why, sizeof why) != 0)
		fail_msg("%s", why);
	snprintf(host, sizeof host, "127.0.0.1:%d", f->rr.port);
	snprintf(url, sizeof url, "http://%s", host);
	name_of(name, sizeof name, f->rr.port, "lab/tool:1");
	char *labels = rt_labels(NULL);
	rt_image im;
	rt_image_make(&im, "amd64", labels, "auth");
	assert_int_equal(rt_push_image(&f->rr, "lab/tool", "1", &im, RT_USER ":" RT_PASS), 0);
	rt_resp resp; /* the registry does want the login */
	char u[160];
	snprintf(u, sizeof u, "%s/v2/_catalog", f->rr.base);
	assert_int_equal(rt_http("GET", u, NULL, 0, NULL, NULL, &resp), 401);

	res r;
	assert_int_equal(th_run(s, "registry.create", "hostname", 's', host, "url", 's', url, NULL), AL_OK);
	uint64_t head = al_log_head(s);
	/* no login: every registry failed, so the command fails and records nothing */
	assert_int_equal(rescan(s, &r, NULL), AL_EIO_ERROR);
	assert_non_null(strstr(r.rep.err.msg, host));
	assert_non_null(strstr(r.rep.err.msg, "needs a login"));
	res_free(&r);
	/* a wrong password */
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', host, "username", 's', RT_USER, "password", 's',
				"wrong", NULL),
			 AL_OK);
	head = al_log_head(s);
	assert_int_equal(rescan(s, &r, host), AL_EIO_ERROR);
	assert_non_null(strstr(r.rep.err.msg, "refused the login"));
	res_free(&r);
	assert_int_equal(al_log_head(s), head);
	/* the right one: the password is unsealed in the prepare step and sent as basic auth */
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', host, "password", 's', RT_PASS, NULL), AL_OK);
	assert_int_equal(rescan(s, &r, host), AL_OK);
	assert_int_equal(num(reg0(&r), "added"), 1);
	res_free(&r);
	get_image(s, &r, name, NULL);
	assert_string_equal(str(&r.o, "config_digest"), im.config_d);
	assert_string_equal(str(&r.o, "project"), "lab");
	res_free(&r);
	rt_image_free(&im);
	free(labels);
}

/* ---- the stub: token auth, redirects, pages, broken answers, timeouts ---------------------------------- */

static void stub_registry_create(al_store *s, const stub *st, char *host, size_t hn, const char *user, const char *pass)
{
	char url[80];
	snprintf(host, hn, "127.0.0.1:%d", st->port);
	snprintf(url, sizeof url, "http://%s", host);
	int rc = user ? th_run(s, "registry.create", "hostname", 's', host, "url", 's', url, "username", 's', user,
			       "password", 's', pass, NULL)
		      : th_run(s, "registry.create", "hostname", 's', host, "url", 's', url, NULL);
	assert_int_equal(rc, AL_OK);
}

static int installed_count(al_store *s, const char *name)
{
	res r;
	get_image(s, &r, name, NULL);
	const msgpack_object *a = al_mp_get(&r.o, "installed_agents");
	int n = a && a->type == MSGPACK_OBJECT_ARRAY ? (int)a->via.array.size : -1;
	res_free(&r);
	return n;
}

static int heartbeat(al_store *s, const char *id, const char *images)
{
	return th_run(s, "agent.heartbeat", "id", 's', id, "addr", 's', "10.0.0.1:6001", "available", 's', "cpu=4,mem=8g",
		      "images", 'l', images, NULL);
}

/* Which agents have an image installed comes from the agents' reports: a heartbeat's images,
 * cleared when the agent terminates, reported again when it comes back. */
static void installed_by_agents(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	assert_int_equal(stub_start(&f->st), 0);
	f->st_on = true;
	char *labels = rt_labels(NULL), host[64], name[200];
	rt_image im;
	rt_image_make(&im, "amd64", labels, "installed");
	stub_put_image(&f->st, "team/app", "v1", &im);
	stub_tags(&f->st, "team/app", "[\"v1\"]");
	const char *cat = "{\"repositories\":[\"team/app\"]}";
	stub_add(&f->st, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	stub_registry_create(s, &f->st, host, sizeof host, NULL, NULL);
	name_of(name, sizeof name, f->st.port, "team/app:v1");
	res r;
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	res_free(&r);
	assert_int_equal(installed_count(s, name), 0);
	assert_int_equal(heartbeat(s, "ag1", name), AL_OK);
	char both[420];
	snprintf(both, sizeof both, "%s,other/x:1", name);
	assert_int_equal(heartbeat(s, "ag2", both), AL_OK);
	assert_int_equal(installed_count(s, name), 2);
	assert_int_equal(heartbeat(s, "ag2", "other/x:1"), AL_OK); /* ag2 removed it */
	assert_int_equal(installed_count(s, name), 1);
	assert_int_equal(th_run(s, "agent.terminate", "id", 's', "ag1", NULL), AL_OK);
	assert_int_equal(installed_count(s, name), 0);
	assert_int_equal(heartbeat(s, "ag1", name), AL_OK); /* back, with the same images */
	assert_int_equal(installed_count(s, name), 1);
	char live[33], rebuilt[33];
	al_error err;
	th_digest(s, live);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	stub_stop(&f->st);
	f->st_on = false;
	rt_image_free(&im);
	free(labels);
}

static void bearer_token(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	assert_int_equal(stub_start(&f->st), 0);
	f->st_on = true;
	f->st.auth = 2;
	snprintf(f->st.user, sizeof f->st.user, "robot");
	snprintf(f->st.pass, sizeof f->st.pass, "t0ken-pass");
	char *labels = rt_labels(NULL), host[64], name[200];
	rt_image im;
	rt_image_make(&im, "amd64", labels, "bearer");
	stub_put_image(&f->st, "team/app", "v1", &im);
	stub_tags(&f->st, "team/app", "[\"v1\"]");
	const char *cat = "{\"repositories\":[\"team/app\"]}";
	stub_add(&f->st, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	stub_registry_create(s, &f->st, host, sizeof host, NULL, NULL);
	name_of(name, sizeof name, f->st.port, "team/app:v1");

	/* no login: the token service refuses, and says so */
	res r;
	assert_int_equal(rescan(s, &r, NULL), AL_EIO_ERROR);
	assert_non_null(strstr(r.rep.err.msg, "token service answered HTTP 401"));
	res_free(&r);
	/* with it: a token per scope, sent as a Bearer header */
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', host, "username", 's', "robot", "password", 's',
				"t0ken-pass", NULL),
			 AL_OK);
	f->st.token_requests = 0;
	f->st.redirect_blobs = true; /* the config blob is served from "another host" */
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	assert_int_equal(num(reg0(&r), "added"), 1);
	res_free(&r);
	char want[100];
	snprintf(want, sizeof want, "Bearer %s", f->st.token);
	assert_string_equal(f->st.last_auth, want);
	assert_int_equal(f->st.token_requests, 3); /* /v2/ (no scope), the catalog, the repository */
	assert_non_null(strstr(f->st.last_token_query, "service=stub-registry"));
	assert_non_null(strstr(f->st.last_token_query, "scope=repository%3Ateam%2Fapp%3Apull"));
	assert_int_equal(f->st.redirects_followed, 1);
	assert_string_equal(f->st.redirect_auth, ""); /* the token never followed the redirect */
	get_image(s, &r, name, NULL);
	assert_string_equal(str(&r.o, "config_digest"), im.config_d);
	res_free(&r);
	stub_stop(&f->st);
	f->st_on = false;
	rt_image_free(&im);
	free(labels);
}

static void redirects_and_pages(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	assert_int_equal(stub_start(&f->st), 0);
	f->st_on = true;
	f->st.auth = 1;
	snprintf(f->st.user, sizeof f->st.user, "u");
	snprintf(f->st.pass, sizeof f->st.pass, "p4ss");
	f->st.redirect_blobs = true;
	char *labels = rt_labels(NULL), host[64], name[200];
	rt_image ims[5];
	for (int i = 0; i < 5; i++) {
		char repo[32], salt[16];
		snprintf(repo, sizeof repo, "lib/r%d", i);
		snprintf(salt, sizeof salt, "%d", i);
		rt_image_make(&ims[i], "amd64", labels, salt);
		stub_put_image(&f->st, repo, "latest", &ims[i]);
		stub_tags(&f->st, repo, "[\"latest\"]");
		f->st.catalog[f->st.ncatalog++] = strdup(repo);
	}
	stub_registry_create(s, &f->st, host, sizeof host, "u", "p4ss");
	res r;
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	assert_int_equal(num(reg0(&r), "added"), 5); /* three catalog pages of two */
	res_free(&r);
	assert_int_equal(f->st.redirects_followed, 5);
	assert_string_equal(f->st.redirect_auth, ""); /* the login never followed a redirect to another host */
	name_of(name, sizeof name, f->st.port, "lib/r4:latest");
	get_image(s, &r, name, NULL);
	assert_string_equal(str(&r.o, "config_digest"), ims[4].config_d);
	res_free(&r);
	stub_stop(&f->st);
	f->st_on = false;
	for (int i = 0; i < 5; i++)
		rt_image_free(&ims[i]);
	free(labels);
}

/* Answers a registry must not be trusted with: each image skipped with its reason, and an image
 * whose manifest cannot be read is not marked gone. */
static void broken_answers(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	assert_int_equal(stub_start(&f->st), 0);
	f->st_on = true;
	char *labels = rt_labels(NULL), host[64], n[8][200];
	rt_image ok, mismatch, flaky;
	rt_image_make(&ok, "amd64", labels, "ok");
	rt_image_make(&mismatch, "amd64", labels, "mismatch");
	rt_image_make(&flaky, "amd64", labels, "flaky");
	stub_put_image(&f->st, "x/ok", "1", &ok);
	stub_put_image(&f->st, "x/mismatch", "1", &mismatch);
	char p[300];
	snprintf(p, sizeof p, "/v2/x/mismatch/blobs/%s", mismatch.config_d);
	stub_add(&f->st, p, 200, NULL, "{\"config\":{}}", 13); /* not what its digest says */
	stub_put_image(&f->st, "x/flaky", "1", &flaky);
	stub_add(&f->st, "/v2/x/json/manifests/1", 200, MT_MANIFEST, "{\"schemaVersion\":2,", 19);
	stub_add(&f->st, "/v2/x/v1/manifests/1", 200, "application/vnd.docker.distribution.manifest.v1+prettyjws",
		 "{\"schemaVersion\":1}", 19);
	stub_add(&f->st, "/v2/x/odd/manifests/1", 200, "application/x-odd", "{\"schemaVersion\":2}", 19);
	stub_add(&f->st, "/v2/x/err/manifests/1", 500, NULL, "{}", 2);
	static const char *const repos[] = {"x/ok", "x/mismatch", "x/flaky", "x/json", "x/v1", "x/odd", "x/err", "BAD/Repo"};
	char cat[512] = "{\"repositories\":[";
	for (int i = 0; i < 8; i++) {
		snprintf(cat + strlen(cat), sizeof cat - strlen(cat), "%s\"%s\"", i ? "," : "", repos[i]);
		stub_tags(&f->st, repos[i], i == 0 ? "[\"1\",\"bad tag\"]" : "[\"1\"]");
	}
	strcat(cat, "]}");
	stub_add(&f->st, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	stub_registry_create(s, &f->st, host, sizeof host, NULL, NULL);
	for (int i = 0; i < 8; i++)
		snprintf(n[i], sizeof n[i], "127.0.0.1:%d/%s:1", f->st.port, repos[i]);
	res r;
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	assert_int_equal(num(reg0(&r), "added"), 2); /* ok and flaky */
	/* its architecture is in the config it could not trust: unknown ("") */
	assert_string_equal(skipped(&r, n[1], ""), "config blob: does not match its digest");
	assert_non_null(strstr(skipped(&r, n[3], ""), "manifest: json: offset 19: "));
	assert_string_equal(skipped(&r, n[4], ""), "manifest: schema 1 is not supported");
	assert_string_equal(skipped(&r, n[5], ""), "manifest: unknown media type 'application/x-odd'");
	assert_string_equal(skipped(&r, n[6], ""), "manifest: HTTP 500");
	char badname[200];
	snprintf(badname, sizeof badname, "127.0.0.1:%d/BAD/Repo", f->st.port);
	assert_string_equal(skipped(&r, badname, ""), "the repository name is not valid");
	snprintf(badname, sizeof badname, "127.0.0.1:%d/x/ok:bad tag", f->st.port);
	assert_string_equal(skipped(&r, badname, ""), "the tag is not valid");
	res_free(&r);
	/* flaky's manifest now fails: it is not marked gone (unknown is not gone) */
	snprintf(p, sizeof p, "/v2/x/flaky/manifests/1");
	stub_add(&f->st, p, 503, NULL, "{}", 2);
	uint64_t head = al_log_head(s);
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	assert_int_equal(num(reg0(&r), "gone"), 0);
	assert_string_equal(skipped(&r, n[2], ""), "manifest: HTTP 503");
	res_free(&r);
	assert_int_equal(al_log_head(s), head);
	assert_false(gone(s, n[2], NULL));
	/* ...and once its tag is gone from the listing, it is */
	stub_tags(&f->st, "x/flaky", "[]");
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	assert_int_equal(num(reg0(&r), "gone"), 1);
	res_free(&r);
	assert_true(gone(s, n[2], NULL));
	/* a tag list that fails makes the scan incomplete: nothing is marked gone */
	stub_add(&f->st, "/v2/x/ok/tags/list", 500, NULL, "{}", 2);
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	assert_false(al_mp_get(reg0(&r), "complete")->via.boolean);
	assert_int_equal(num(reg0(&r), "gone"), 0);
	res_free(&r);
	assert_false(gone(s, n[0], NULL));
	/* a Link that leads off the registry is not followed: the registry's scan fails */
	stub_add_hdr(&f->st, "/v2/_catalog", 200, NULL, "Link: <http://elsewhere.example.com/v2/_catalog?last=x>; rel=\"next\"\r\n",
		     cat, strlen(cat));
	assert_int_equal(rescan(s, &r, NULL), AL_EIO_ERROR);
	assert_non_null(strstr(r.rep.err.msg, "a Link header leads off the registry"));
	res_free(&r);
	/* a registry that is not a registry */
	stub_add(&f->st, "/v2/", 404, NULL, "{}", 2);
	assert_int_equal(rescan(s, &r, NULL), AL_EIO_ERROR);
	assert_non_null(strstr(r.rep.err.msg, "not a Docker Registry HTTP API v2"));
	res_free(&r);
	stub_stop(&f->st);
	f->st_on = false;
	rt_image_free(&ok), rt_image_free(&mismatch), rt_image_free(&flaky);
	free(labels);
}

static void timeouts_and_unreachable(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	assert_int_equal(stub_start(&f->st), 0);
	f->st_on = true;
	char host[64];
	stub_registry_create(s, &f->st, host, sizeof host, NULL, NULL);
	f->st.delay_ms = 10000; /* interruptible: the stub stops at once */
	res r;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run(s, &r, "image.rescan", "timeout", 'i', 1LL, NULL), AL_EIO_ERROR);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_non_null(strstr(r.rep.err.msg, "GET /v2/:"));
	assert_non_null(strcasestr(r.rep.err.msg, "timed out"));
	res_free(&r);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(took >= 0.9 && took < 8); /* the request gave up long before the answer */
	stub_stop(&f->st);
	f->st_on = false;

	/* nothing listening: one registry failing among others is reported, not fatal */
	assert_int_equal(th_run(s, "registry.create", "hostname", 's', "127.0.0.1:1", "url", 's', "http://127.0.0.1:1", NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "registry.create", "hostname", 's', "local.example.com", "url", 's',
				"http://local.example.com", "type", 's', "local", NULL),
			 AL_OK);
	assert_int_equal(stub_start(&f->st2), 0);
	f->st2_on = true;
	stub_add(&f->st2, "/v2/_catalog", 200, NULL, "{\"repositories\":[]}", 19);
	char host2[64];
	stub_registry_create(s, &f->st2, host2, sizeof host2, NULL, NULL);
	assert_int_equal(th_run(s, "registry.delete", "hostname", 's', host, NULL), AL_OK);
	assert_int_equal(rescan(s, &r, NULL), AL_OK);
	const msgpack_object *regs = al_mp_get(&r.o, "registries");
	assert_int_equal(regs->via.array.size, 3);
	for (uint32_t i = 0; i < 3; i++) {
		const msgpack_object *e = &regs->via.array.ptr[i];
		const char *h = str(e, "hostname");
		if (strcmp(h, "127.0.0.1:1") == 0) {
			assert_string_equal(str(e, "status"), "error");
			assert_non_null(strstr(str(e, "error"), "GET /v2/"));
		} else if (strcmp(h, "local.example.com") == 0) {
			assert_string_equal(str(e, "status"), "skipped");
			assert_non_null(strstr(str(e, "error"), "type local"));
		} else
			assert_string_equal(str(e, "status"), "ok");
	}
	res_free(&r);
	/* only the unreachable one: the command fails with io_error */
	assert_int_equal(rescan(s, &r, "127.0.0.1:1"), AL_EIO_ERROR);
	assert_non_null(strstr(r.rep.err.msg, "registry 127.0.0.1:1:"));
	res_free(&r);
	stub_stop(&f->st2);
	f->st2_on = false;
}

/* ---- label validation ------------------------------------------------------------------------------------ */

/* Checks the labels of JSON text; "" when valid (label_min then in *lm as JSON), else the reason. */
static const char *check_labels(const char *json, char *lm, size_t n)
{
	static char why[AL_ERR_MSG_LEN];
	msgpack_zone z;
	msgpack_object o;
	al_error e = {0};
	msgpack_zone_init(&z, 1024);
	assert_int_equal(al__json_parse(json, strlen(json), &z, &o, &e), AL_OK);
	msgpack_sbuffer a, b;
	msgpack_packer pa, pb;
	msgpack_sbuffer_init(&a);
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&pa, &a, msgpack_sbuffer_write);
	msgpack_packer_init(&pb, &b, msgpack_sbuffer_write);
	int rc = al__labels_check(&o, &pa, &pb, &e);
	why[0] = 0;
	if (rc) {
		snprintf(why, sizeof why, "%s", e.msg);
		assert_int_equal(a.size + b.size, 0); /* nothing packed on a refusal */
	} else if (lm) {
		msgpack_object m;
		msgpack_zone_clear(&z);
		assert_int_equal(al_mp_decode(a.data, a.size, &z, &m), 0);
		char *out = NULL;
		size_t on = 0;
		FILE *f = open_memstream(&out, &on);
		al_render_json(&m, f);
		fclose(f);
		snprintf(lm, n, "%s", out);
		free(out);
	}
	msgpack_sbuffer_destroy(&a);
	msgpack_sbuffer_destroy(&b);
	msgpack_zone_destroy(&z);
	return why;
}

#define BASE                                                                                                      \
	"\"ai.backend.kernelspec\":\"1\",\"ai.backend.features\":\"batch\",\"ai.backend.base-distro\":\"alpine3.8\"," \
	"\"ai.backend.runtime-type\":\"app\",\"ai.backend.runtime-path\":\"/bin/true\""

static void label_rules(void **state)
{
	(void)state;
	char lm[256];
	assert_string_equal(check_labels("{" BASE "}", lm, sizeof lm), "");
	assert_string_equal(lm, "{\"cpu\":1,\"mem\":1073741824}");
	assert_string_equal(check_labels("{" BASE ",\"ai.backend.resource.min.cpu\":\"0.5\",\"ai.backend.resource.min.mem\":"
					 "\"512m\",\"ai.backend.resource.min.cuda.device\":\"1\",\"ai.backend.resource.min."
					 "cuda.shares\":\"0.25\"}",
					 lm, sizeof lm),
			    "");
	assert_string_equal(lm, "{\"cpu\":0.5,\"cuda.device\":1,\"cuda.shares\":0.25,\"mem\":536870912}");
	static const struct {
		const char *json, *why;
	} bad[] = {
		{"{}", "label ai.backend.kernelspec: missing"},
		{"{\"ai.backend.kernelspec\":\"2\"}", "label ai.backend.kernelspec: must be 1, got '2'"},
		{"{\"ai.backend.kernelspec\":\"1\"}", "label ai.backend.features: missing"},
		{"{\"ai.backend.kernelspec\":\"1\",\"ai.backend.features\":\"\"}", "label ai.backend.base-distro: missing"},
		{"{\"ai.backend.kernelspec\":\"1\",\"ai.backend.features\":\"\",\"ai.backend.base-distro\":\"x\"}",
		 "label ai.backend.runtime-type: missing"},
		{"{\"ai.backend.kernelspec\":\"1\",\"ai.backend.features\":\"\",\"ai.backend.base-distro\":\"x\","
		 "\"ai.backend.runtime-type\":\"app\"}",
		 "label ai.backend.runtime-path: missing"},
		{"{\"ai.backend.kernelspec\":\"1\",\"ai.backend.features\":\"\",\"ai.backend.base-distro\":\"x\","
		 "\"ai.backend.runtime-type\":\"app\",\"ai.backend.runtime-path\":\"bin/true\"}",
		 "label ai.backend.runtime-path: must be an absolute path"},
		{"{\"ai.backend.kernelspec\":1}", "labels: every label must be text"},
		{"{" BASE ",\"ai.backend.role\":\"compute\"}", "label ai.backend.role: must be COMPUTE, INFERENCE or SYSTEM"},
		{"{" BASE ",\"ai.backend.accelerators\":\"cuda,Bad!\"}", "label ai.backend.accelerators: 'Bad!' is not a valid entry"},
		{"{" BASE ",\"ai.backend.envs.corecount\":\"OMP_NUM_THREADS,1X\"}",
		 "label ai.backend.envs.corecount: '1X' is not a valid entry"},
		{"{" BASE ",\"ai.backend.service-ports\":\"jupyter:http\"}",
		 "label ai.backend.service-ports: expected name:protocol:port"},
		{"{" BASE ",\"ai.backend.service-ports\":\"jupyter:http:2000\"}",
		 "label ai.backend.service-ports: port 2000 is reserved (2000-2003, 2200, 7681)"},
		{"{" BASE ",\"ai.backend.service-ports\":\"a:http:8080,b:tcp:8080\"}",
		 "label ai.backend.service-ports: port 8080 is used twice"},
		{"{" BASE ",\"ai.backend.service-ports\":\"a:udp:8080\"}", "label ai.backend.service-ports: unsupported protocol 'udp'"},
		{"{" BASE ",\"ai.backend.service-ports\":\"a:http:80\"}", "label ai.backend.service-ports: port 80 must be 1025 to 65534"},
		{"{" BASE ",\"ai.backend.role\":\"INFERENCE\"}", "label ai.backend.endpoint-ports: missing"},
		{"{" BASE ",\"ai.backend.role\":\"INFERENCE\",\"ai.backend.endpoint-ports\":\"api\",\"ai.backend.model-path\":"
		 "\"/models\",\"ai.backend.model-format\":\"onnx\",\"ai.backend.service-ports\":\"api:http:8000\"}",
		 "label ai.backend.endpoint-ports: 'api' must be a preopen service port"},
		{"{" BASE ",\"ai.backend.role\":\"INFERENCE\",\"ai.backend.endpoint-ports\":\"web\",\"ai.backend.model-path\":"
		 "\"/models\",\"ai.backend.model-format\":\"onnx\",\"ai.backend.service-ports\":\"api:preopen:8000\"}",
		 "label ai.backend.endpoint-ports: 'web' is not a service port"},
		{"{" BASE ",\"ai.backend.resource.min.cpu\":\"many\"}",
		 "label ai.backend.resource.min.cpu: cpu must be a number >= 0, got 'many'"},
		{"{" BASE ",\"ai.backend.resource.min.mem\":\"1x\"}",
		 "label ai.backend.resource.min.mem: mem must be a size like 32g, got '1x'"},
		{"{" BASE ",\"ai.backend.resource.min.cpu\":\"1,mem=0\"}", "label ai.backend.resource.min.cpu: '1,mem=0' is not an amount"},
		{"{" BASE ",\"ai.backend.resource.min.CPU\":\"1\"}", "label ai.backend.resource.min.CPU: slot names use a-z 0-9 . _ -"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		const char *got = check_labels(bad[i].json, NULL, 0);
		if (strcmp(got, bad[i].why) != 0)
			print_error("%s: got '%s', expected '%s'\n", bad[i].json, got, bad[i].why);
		assert_string_equal(got, bad[i].why);
	}
	/* a valid inference image, and ports in a list */
	assert_string_equal(check_labels("{" BASE ",\"ai.backend.role\":\"INFERENCE\",\"ai.backend.endpoint-ports\":\"api\","
					 "\"ai.backend.model-path\":\"/models\",\"ai.backend.model-format\":\"onnx\","
					 "\"ai.backend.service-ports\":\"api:preopen:8000,ide:http:[8080,8081],sh:pty:7682\"}",
					 NULL, 0),
			    "");
}

int main(void)
{
	/* the registries are on 127.0.0.1: no proxy of the environment may take the requests */
	unsetenv("http_proxy"), unsetenv("HTTP_PROXY"), unsetenv("https_proxy"), unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy"), unsetenv("ALL_PROXY");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(label_rules),
		cmocka_unit_test_setup_teardown(real_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(real_registry_basic_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(bearer_token, setup, teardown),
		cmocka_unit_test_setup_teardown(installed_by_agents, setup, teardown),
		cmocka_unit_test_setup_teardown(redirects_and_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(broken_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(timeouts_and_unreachable, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
