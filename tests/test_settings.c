/*
 * test_settings.c - system settings (every key's rule, valid and invalid, with the code and the
 * field; the scheduler rule from both sides; history in the log; effective values with a
 * resource group's override and their sources; al__setting_get), info (its fields, and
 * incompatible projections), and maintenance recalculate-usage (nothing recorded when the views
 * agree, one correction event when a view was tampered with).
 */
#include <sys/stat.h>

#include "rg_helpers.h"
#include "core/record.h"
#include "core/rows.h"
#include "nouns/sessions.h"

typedef struct fx {
	TH_FX_HEAD;
	th_actor adm;
} fx;

static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL || th_cast(f->s, (const th_member[]){{"adm@x.io", "default", "admin", &f->adm, NULL}, {NULL}}))
		return -1;
	*state = f;
	return 0;
}

#define teardown th_teardown /* th_fx_free */

#define SET_OK(f, events, key, value) \
	TH_OK((f)->s, NULL, events, NULL, "settings.set", "key", 's', key, "value", 'l', value, NULL)
#define SET_BAD(f, field, key, value) \
	TH_REFUSE((f)->s, NULL, AL_EINVALID_ARGUMENT, field, "settings.set", "key", 's', key, "value", 'l', value, NULL)

/* The effective value of key as JSON, and its source. */
static const char *value_of(fx *f, const char *key, const char *group, char *source, size_t n)
{
	static char v[256];
	al_reply rep;
	if (group)
		TH_OK(f->s, NULL, 0, &rep, "settings.get", "key", 's', key, "group", 's', group, NULL);
	else
		TH_OK(f->s, NULL, 0, &rep, "settings.get", "key", 's', key, NULL);
	snprintf(v, sizeof v, "%s", th_res_json(&rep, "value"));
	if (source)
		snprintf(source, n, "%s", th_res_json(&rep, "source"));
	al_reply_free(&rep);
	return v;
}

/* ---- settings ------------------------------------------------------------------------------------ */

static void defaults(void **state)
{
	fx *f = *state;
	al_reply rep;
	TH_OK(f->s, NULL, 0, &rep, "settings.get", NULL);
	assert_int_equal(th_res_len(&rep), 13);
	assert_string_equal(th_res_column(&rep, "key"), "image-auto-pull,overlay-mtu,scheduler,retries-to-skip,"
						     "session-creation-retries,timezone,project-folders,"
						     "agent-heartbeat-timeout,checkpoint-interval,hang-tolerance-preparing,"
						     "hang-tolerance-terminating,scheduler-interval,agent-selection,");
	assert_string_equal(th_res_column(&rep, "value"), "digest,1500,fifo,3,3,UTC,true,40,65536,0,0,10,dispersed,");
	assert_string_equal(th_res_column(&rep, "source"), "default,default,default,default,default,default,default,"
							    "default,default,default,default,default,default,");
	assert_string_equal(th_res_column(&rep, "default"), "digest,1500,fifo,3,3,UTC,true,40,65536,0,0,10,dispersed,");
	al_reply_free(&rep);
	/* defaults are implicit: the bootstrap recorded no setting */
	assert_int_equal(events_of(f->s, "setting.changed", NULL).n, 0);
	char buf[64];
	al__setting_get(f->s, NULL, "project-folders", buf, sizeof buf, NULL, NULL);
	assert_string_equal(buf, "true");
	al__setting_get(f->s, NULL, "agent-heartbeat-timeout", buf, sizeof buf, NULL, NULL);
	assert_string_equal(buf, "40");
	al__setting_get(f->s, NULL, "no-such-key", buf, sizeof buf, "fallback", NULL);
	assert_string_equal(buf, "fallback");
	al__setting_get(f->s, NULL, "pwhash", buf, sizeof buf, "", NULL);
	assert_string_equal(buf, "min"); /* store.initialized's cost, still in the settings view */
	assert_null(al__setting_default("pwhash"));
	assert_string_equal(al__setting_default("overlay-mtu"), "1500");
	TH_REFUSE(f->s, NULL, AL_EINVALID_ARGUMENT, "key", "settings.get", "key", 's', "mtu", NULL);
}

static void rules(void **state)
{
	fx *f = *state;
	SET_BAD(f, "key", "no-such-key", "1");
	TH_REFUSE(f->s, NULL, AL_EINVALID_ARGUMENT, "value", "settings.set", "key", 's', "overlay-mtu", "value", 'l', "1,2", NULL);
	TH_REFUSE(f->s, NULL, AL_EINVALID_ARGUMENT, "value", "settings.set", "key", 's', "overlay-mtu", "value", 'l', "", NULL);

	SET_BAD(f, "image-auto-pull", "image-auto-pull", "latest");
	SET_BAD(f, "image-auto-pull", "image-auto-pull", "Digest");
	SET_OK(f, 1, "image-auto-pull", "tag");
	SET_OK(f, 1, "image-auto-pull", "none");

	static const char *const bad_mtu[] = {"0", "15001", "abc", "-5", "1e3", " 1500", "1500 ", "+1500", "99999999999", NULL};
	for (int i = 0; bad_mtu[i]; i++)
		SET_BAD(f, "overlay-mtu", "overlay-mtu", bad_mtu[i]);
	SET_OK(f, 1, "overlay-mtu", "1");
	SET_OK(f, 1, "overlay-mtu", "15000");
	SET_OK(f, 1, "overlay-mtu", "09000");
	assert_string_equal(value_of(f, "overlay-mtu", NULL, NULL, 0), "9000"); /* canonical */

	SET_OK(f, 1, "retries-to-skip", "0"); /* the default 3 holds the scheduler at fifo */
	SET_BAD(f, "scheduler", "scheduler", "mof");
	SET_BAD(f, "scheduler", "scheduler", "FIFO");
	SET_OK(f, 1, "scheduler", "lifo");
	SET_OK(f, 1, "scheduler", "drf");
	SET_OK(f, 1, "scheduler", "fifo");

	SET_BAD(f, "retries-to-skip", "retries-to-skip", "1001");
	SET_BAD(f, "retries-to-skip", "retries-to-skip", "-1");
	SET_OK(f, 1, "retries-to-skip", "1000");
	SET_OK(f, 1, "retries-to-skip", "4");

	SET_BAD(f, "session-creation-retries", "session-creation-retries", "1001");
	SET_BAD(f, "session-creation-retries", "session-creation-retries", "x");
	SET_OK(f, 1, "session-creation-retries", "0");
	SET_OK(f, 1, "session-creation-retries", "1000");

	SET_BAD(f, "project-folders", "project-folders", "yes");
	SET_BAD(f, "project-folders", "project-folders", "1");
	SET_OK(f, 1, "project-folders", "false");
	assert_string_equal(value_of(f, "project-folders", NULL, NULL, 0), "false");
	SET_OK(f, 1, "project-folders", "true");

	SET_BAD(f, "agent-heartbeat-timeout", "agent-heartbeat-timeout", "0");
	SET_BAD(f, "agent-heartbeat-timeout", "agent-heartbeat-timeout", "86401");
	SET_BAD(f, "agent-heartbeat-timeout", "agent-heartbeat-timeout", "1.5");
	SET_OK(f, 1, "agent-heartbeat-timeout", "1");
	SET_OK(f, 1, "agent-heartbeat-timeout", "86400");
	assert_string_equal(value_of(f, "agent-heartbeat-timeout", NULL, NULL, 0), "86400");

	SET_BAD(f, "agent-selection", "agent-selection", "roundrobin");

	SET_BAD(f, "checkpoint-interval", "checkpoint-interval", "-1");
	SET_BAD(f, "checkpoint-interval", "checkpoint-interval", "1000000000");
	SET_OK(f, 1, "checkpoint-interval", "0");
	SET_OK(f, 1, "checkpoint-interval", "7");
	assert_string_equal(value_of(f, "checkpoint-interval", NULL, NULL, 0), "7");

	/* the session timer's hang tolerances (0: off) and the scheduler's interval and agent choice */
	static const char *const tolerances[] = {"hang-tolerance-preparing", "hang-tolerance-terminating", NULL};
	for (int i = 0; tolerances[i]; i++) {
		SET_BAD(f, tolerances[i], tolerances[i], "-1");
		SET_BAD(f, tolerances[i], tolerances[i], "31536001");
		SET_BAD(f, tolerances[i], tolerances[i], "10m");
		SET_OK(f, 1, tolerances[i], "31536000");
		SET_OK(f, 1, tolerances[i], "600");
		assert_string_equal(value_of(f, tolerances[i], NULL, NULL, 0), "600");
		SET_OK(f, 1, tolerances[i], "0");
	}
	SET_BAD(f, "scheduler-interval", "scheduler-interval", "0");
	SET_BAD(f, "scheduler-interval", "scheduler-interval", "3601");
	SET_OK(f, 1, "scheduler-interval", "1");
	SET_OK(f, 1, "scheduler-interval", "3600");
	assert_string_equal(value_of(f, "scheduler-interval", NULL, NULL, 0), "3600");
	SET_BAD(f, "agent-selection", "agent-selection", "legacy");
	SET_BAD(f, "agent-selection", "agent-selection", "Dispersed");
	SET_OK(f, 1, "agent-selection", "concentrated");
	assert_string_equal(value_of(f, "agent-selection", NULL, NULL, 0), "\"concentrated\"");
	SET_OK(f, 1, "agent-selection", "dispersed");
}

/* Retries to skip only with fifo, whichever of the two changes. */
static void scheduler_rule(void **state)
{
	fx *f = *state;
	SET_OK(f, 1, "retries-to-skip", "4");
	SET_BAD(f, "scheduler", "scheduler", "lifo");
	SET_BAD(f, "scheduler", "scheduler", "drf");
	SET_OK(f, 0, "scheduler", "fifo"); /* already so */
	SET_OK(f, 1, "retries-to-skip", "0");
	SET_OK(f, 1, "scheduler", "lifo");
	SET_BAD(f, "retries-to-skip", "retries-to-skip", "1");
	SET_OK(f, 0, "retries-to-skip", "0");
	SET_OK(f, 1, "scheduler", "fifo");
	SET_OK(f, 1, "retries-to-skip", "1");
}

/* Issue 15 item 8, the guide: the resource groups' "retries to skip" default to three, and the
 * "session creation retries" option can be changed only with the FIFO scheduler. */
static void guide_scheduler_options(void **state)
{
	fx *f = *state;
	char src[96];
	assert_string_equal(value_of(f, "retries-to-skip", NULL, src, sizeof src), "3");
	assert_string_equal(src, "\"default\"");
	TH_OK(f->s, NULL, 1, NULL, "rgroup.create", "name", 's', "g", NULL);
	assert_string_equal(value_of(f, "retries-to-skip", "g", src, sizeof src), "3"); /* a fifo group: the setting */
	SET_OK(f, 1, "session-creation-retries", "5"); /* fifo: changeable */
	SET_OK(f, 1, "retries-to-skip", "0");
	SET_OK(f, 1, "scheduler", "lifo");
	SET_BAD(f, "session-creation-retries", "session-creation-retries", "6");
	SET_BAD(f, "session-creation-retries", "session-creation-retries", "3");
	SET_OK(f, 0, "session-creation-retries", "5"); /* the same value: no change, nothing refused */
	assert_string_equal(value_of(f, "session-creation-retries", NULL, NULL, 0), "5"); /* it stays */
	SET_OK(f, 1, "scheduler", "drf");
	SET_BAD(f, "session-creation-retries", "session-creation-retries", "6");
	SET_OK(f, 1, "scheduler", "fifo");
	SET_OK(f, 1, "session-creation-retries", "6");
}

static void write_file(const char *path, const char *content)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

/* Time zones: the shape, then this host's zoneinfo ($TZDIR here, so the test does not depend
 * on the host's tzdata). */
static void timezone_rule(void **state)
{
	fx *f = *state;
	char *zi = th_tmpdir(), path[4200];
	assert_int_equal(mkdir(zi, 0700), 0);
	snprintf(path, sizeof path, "%s/Asia", zi), mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/Asia/Seoul", zi), write_file(path, "TZif2 fake zone data");
	snprintf(path, sizeof path, "%s/Etc", zi), mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/Etc/GMT+9", zi), write_file(path, "TZif2");
	snprintf(path, sizeof path, "%s/zone.tab", zi), write_file(path, "# not a zone");
	const char *old = getenv("TZDIR");
	char saved[4096] = "";
	if (old)
		snprintf(saved, sizeof saved, "%s", old);
	setenv("TZDIR", zi, 1);
	static const char *const bad_shape[] = {"../etc/passwd", "/etc/localtime", "Asia/../Asia/Seoul", ".hidden",
						"Asia//Seoul", "Asia/", "Asia Seoul", "9Zone", "Asia/Seoul\n", NULL};
	for (int i = 0; bad_shape[i]; i++)
		SET_BAD(f, "timezone", "timezone", bad_shape[i]);
	SET_BAD(f, "timezone", "timezone", "Mars/Olympus_Mons"); /* well-formed, unknown */
	SET_BAD(f, "timezone", "timezone", "Asia");              /* a directory */
	SET_BAD(f, "timezone", "timezone", "zone.tab");          /* a file, not a zone */
	SET_OK(f, 1, "timezone", "Asia/Seoul");
	char source[64];
	assert_string_equal(value_of(f, "timezone", NULL, source, sizeof source), "\"Asia/Seoul\"");
	assert_string_equal(source, "\"settings\"");
	SET_OK(f, 1, "timezone", "Etc/GMT+9");
	SET_OK(f, 1, "timezone", "UTC"); /* always known */
	if (old)
		setenv("TZDIR", saved, 1);
	else
		unsetenv("TZDIR");
	th_rmrf(zi);
}

/* Each change is a setting.changed event with the old value; the same value records nothing. */
static void history(void **state)
{
	fx *f = *state;
	SET_OK(f, 0, "overlay-mtu", "1500"); /* the default again */
	SET_OK(f, 1, "overlay-mtu", "9000");
	SET_OK(f, 0, "overlay-mtu", "9000");
	SET_OK(f, 1, "overlay-mtu", "1400");
	SET_OK(f, 1, "image-auto-pull", "tag");
	evscan x = events_of(f->s, "setting.changed", "setting:overlay-mtu");
	assert_int_equal(x.n, 2);
	assert_non_null(strstr(x.last, "\"fields\":{\"key\":\"overlay-mtu\",\"value\":\"1400\",\"old\":\"9000\"}"));
	assert_int_equal(events_of(f->s, "setting.changed", NULL).n, 3);
	/* the key's entity version counts its changes (expected_version works on settings) */
	TH_REFUSE(f->s, NULL, AL_ECONFLICT, NULL, "settings.set", "key", 's', "overlay-mtu", "value", 'l', "1300",
	       "expected_version", 'i', 1LL, NULL);
	TH_OK(f->s, NULL, 1, NULL, "settings.set", "key", 's', "overlay-mtu", "value", 'l', "1300", "expected_version", 'i', 2LL,
	   NULL);
	/* only a superadmin changes settings; admins read them */
	TH_DENY(f->s, &f->adm, "settings.set", "key", 's', "overlay-mtu", "value", 'l', "1200", NULL);
	TH_OK(f->s, &f->adm, 0, NULL, "settings.get", NULL);
	/* a rebuild gives the same values (and keeps pwhash) */
	char live[33], rebuilt[33], buf[32];
	th_digest(f->s, live);
	al_error err;
	assert_int_equal(al_store_rebuild(f->s, NULL, NULL, &err), AL_OK);
	th_digest(f->s, rebuilt);
	assert_string_equal(live, rebuilt);
	al__setting_get(f->s, NULL, "pwhash", buf, sizeof buf, "", NULL);
	assert_string_equal(buf, "min");
	al__setting_get(f->s, NULL, "overlay-mtu", buf, sizeof buf, NULL, NULL);
	assert_string_equal(buf, "1300");
}

/* settings get --group: a group's scheduler and retries override the settings. */
static void effective_with_group(void **state)
{
	fx *f = *state;
	char src[96];
	TH_OK(f->s, NULL, 1, NULL, "rgroup.create", "name", 's', "lifo-g", "scheduler", 's', "lifo", NULL);
	TH_OK(f->s, NULL, 1, NULL, "rgroup.create", "name", 's', "fifo-g", "retries_to_skip", 'i', 5LL, NULL);
	TH_OK(f->s, NULL, 1, NULL, "rgroup.create", "name", 's', "plain", NULL);
	SET_OK(f, 1, "retries-to-skip", "2");

	assert_string_equal(value_of(f, "scheduler", "lifo-g", src, sizeof src), "\"lifo\"");
	assert_string_equal(src, "\"resource group lifo-g\"");
	assert_string_equal(value_of(f, "retries-to-skip", "lifo-g", src, sizeof src), "0");
	assert_string_equal(src, "\"resource group lifo-g\""); /* lifo skips nothing */
	assert_string_equal(value_of(f, "retries-to-skip", "fifo-g", src, sizeof src), "5");
	assert_string_equal(src, "\"resource group fifo-g\"");
	assert_string_equal(value_of(f, "retries-to-skip", "plain", src, sizeof src), "2");
	assert_string_equal(src, "\"settings\"");
	assert_string_equal(value_of(f, "scheduler", "plain", src, sizeof src), "\"fifo\"");
	assert_string_equal(src, "\"resource group plain\"");
	assert_string_equal(value_of(f, "retries-to-skip", NULL, src, sizeof src), "2");
	assert_string_equal(src, "\"settings\"");
	assert_string_equal(value_of(f, "overlay-mtu", "lifo-g", src, sizeof src), "1500");
	assert_string_equal(src, "\"default\"");
	/* the whole list with a group */
	al_reply rep;
	TH_OK(f->s, NULL, 0, &rep, "settings.get", "group", 's', "fifo-g", NULL);
	assert_string_equal(th_res_column(&rep, "source"),
			    "default,default,resource group fifo-g,resource group fifo-g,default,default,default,default,"
			    "default,default,default,default,default,");
	al_reply_free(&rep);
	/* back to the setting: -1 */
	TH_OK(f->s, NULL, 1, NULL, "rgroup.update", "name", 's', "fifo-g", "retries_to_skip", 'i', -1LL, NULL);
	assert_string_equal(value_of(f, "retries-to-skip", "fifo-g", src, sizeof src), "2");
	assert_string_equal(src, "\"settings\"");
	/* an inactive group still has its values; an unknown one is refused */
	TH_OK(f->s, NULL, 1, NULL, "rgroup.deactivate", "name", 's', "lifo-g", NULL);
	assert_string_equal(value_of(f, "scheduler", "lifo-g", NULL, 0), "\"lifo\"");
	TH_REFUSE(f->s, NULL, AL_EINVALID_ARGUMENT, "group", "settings.get", "group", 's', "nope", NULL);
	TH_REFUSE(f->s, NULL, AL_EINVALID_ARGUMENT, "group", "settings.get", "key", 's', "scheduler", "group", 's', "nope",
	       NULL);
}

/* ---- info ---------------------------------------------------------------------------------------- */

typedef struct meta_write {
	const char *key;
	unsigned version;
	int64_t behind;
} meta_write;

/* Rewrites a projection's stored version and cursor in meta, as an older build would have left them. */
static int write_meta(al_wtxn *w, void *ctx, al_error *err)
{
	meta_write *m = ctx;
	unsigned char v[12];
	al__be32(v, m->version);
	al__be64(v + 4, w->head_seq - (uint64_t)m->behind);
	return al__put(w, w->s->meta, m->key, strlen(m->key), v, sizeof v, 0, err);
}

/* The component named name in an info reply, as JSON. */
static const char *component(const al_reply *rep, const char *name)
{
	const char *all = th_res_json(rep, "components");
	static char out[1024];
	char needle[80];
	snprintf(needle, sizeof needle, "{\"name\":\"%s\"", name);
	const char *p = strstr(all, needle);
	out[0] = 0;
	if (p)
		snprintf(out, sizeof out, "%.*s", (int)(strchr(p, '}') - p + 1), p);
	return out;
}

static void info(void **state)
{
	fx *f = *state;
	al_reply rep;
	char head[32];
	TH_OK(f->s, NULL, 0, &rep, "info", NULL);
	assert_string_equal(th_res_json(&rep, "server_version"), "\"" AL_VERSION "\"");
	assert_string_equal(th_res_json(&rep, "protocol_version"), "1");
	assert_string_equal(th_res_json(&rep, "store_format_version"), "2");
	assert_string_equal(th_res_json(&rep, "compatible"), "true");
	snprintf(head, sizeof head, "%llu", (unsigned long long)al_log_head(f->s));
	assert_string_equal(th_res_json(&rep, "head_seq"), head);
	assert_non_null(strstr(component(&rep, "store"), "\"version\":\"2\",\"expected\":\"2\""));
	assert_non_null(strstr(component(&rep, "server"), "\"compatible\":true"));
	char want[128];
	snprintf(want, sizeof want, "\"version\":\"2\",\"expected\":\"2\",\"cursor\":%s,\"compatible\":true", head);
	assert_non_null(strstr(component(&rep, "rgroups"), want));
	assert_non_null(strstr(component(&rep, "users"), "\"compatible\":true"));
	assert_null(strstr(th_res_json(&rep, "components"), "\"client\""));
	al_reply_free(&rep);
	/* every projection is listed */
	TH_OK(f->s, NULL, 0, &rep, "info", NULL);
	for (size_t i = 0; i < al__nprojections; i++)
		assert_true(component(&rep, al__projections[i]->name)[0] != 0);
	al_reply_free(&rep);
	/* a client speaking another protocol */
	TH_OK(f->s, NULL, 0, &rep, "info", "protocol", 'i', 2LL, NULL);
	assert_string_equal(th_res_json(&rep, "compatible"), "false");
	assert_non_null(strstr(component(&rep, "client"), "\"version\":\"2\",\"expected\":\"1\""));
	assert_non_null(strstr(component(&rep, "client"), "\"compatible\":false"));
	al_reply_free(&rep);
	TH_OK(f->s, NULL, 0, &rep, "info", "protocol", 'i', 1LL, NULL);
	assert_string_equal(th_res_json(&rep, "compatible"), "true");
	al_reply_free(&rep);
	/* admins and monitors read it */
	TH_OK(f->s, &f->adm, 0, NULL, "info", NULL);

	/* a projection built by another version, one behind the log: both reported */
	al_error err;
	meta_write old_rg = {"proj/rgroups", 1, 0}, behind = {"proj/settings", 2, 1};
	assert_int_equal(al__store_write(f->s, write_meta, &old_rg, &err), AL_OK);
	assert_int_equal(al__store_write(f->s, write_meta, &behind, &err), AL_OK);
	TH_OK(f->s, NULL, 0, &rep, "info", NULL);
	assert_string_equal(th_res_json(&rep, "compatible"), "false");
	assert_non_null(strstr(component(&rep, "rgroups"), "\"version\":\"1\",\"expected\":\"2\""));
	assert_non_null(strstr(component(&rep, "rgroups"), "\"compatible\":false"));
	assert_non_null(strstr(component(&rep, "rgroups"), "rebuilds"));
	assert_non_null(strstr(component(&rep, "settings"), "1 events behind"));
	assert_non_null(strstr(component(&rep, "users"), "\"compatible\":true"));
	al_reply_free(&rep);
	/* reopening brings both up to date */
	al_store_close(f->s);
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&f->s, f->dir, &oo, &err), AL_OK);
	TH_OK(f->s, NULL, 0, &rep, "info", NULL);
	assert_string_equal(th_res_json(&rep, "compatible"), "true");
	al_reply_free(&rep);
}

/* ---- maintenance recalculate-usage --------------------------------------------------------------- */

/* Tampers with the occupancy view: the row of keypair ak set to n sessions holding cpu=n,
 * behind the log's back. */
typedef struct tamper {
	const char *ak;
	int n;
} tamper;

static int tamper_keypair(al_wtxn *w, void *ctx, al_error *err)
{
	tamper *t = ctx;
	MDB_dbi dbi = al__view_dbi(w->s, AL_P_SESSIONS, AL_SDB_OCCUPANCY);
	char key[64], slots[32];
	size_t kn = al__key2(key, sizeof key, 'k', (al_str){t->ak, strlen(t->ak)}, (al_str){"", 0});
	snprintf(slots, sizeof slots, "cpu=%d", t->n);
	al_row_occupancy o = {.sessions = t->n, .slots = {slots, strlen(slots)}};
	msgpack_sbuffer b;
	msgpack_packer pk;
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
	al_row_pack(&pk, &al_row_occupancy_def, &o);
	int rc = al__put(w, dbi, key, kn, b.data, b.size, 0, err);
	msgpack_sbuffer_destroy(&b);
	return rc;
}

static void recalculate_usage(void **state)
{
	fx *f = *state;
	al_reply rep;
	/* the views agree with the log: nothing recorded */
	TH_OK(f->s, NULL, 0, &rep, "maintenance.recalculate-usage", NULL);
	assert_string_equal(th_res_json(&rep, "corrections"), "0");
	assert_string_equal(th_res_json(&rep, "keypairs_checked"), "2"); /* the bootstrap admin's and adm's */
	assert_string_equal(th_res_json(&rep, "agents_checked"), "0");  /* no agents in this worktree's stub */
	assert_string_equal(th_res_json(&rep, "keypairs"), "{}");
	al_reply_free(&rep);
	assert_int_equal(events_of(f->s, "usage.recalculated", NULL).n, 0);

	/* a keypair whose concurrency figure drifted: one correction, recorded with the old figure */
	TH_OK(f->s, NULL, 0, &rep, "user.get", "email", 's', "adm@x.io", NULL);
	char ak[32];
	snprintf(ak, sizeof ak, "%s", th_res_str(&rep, "main_access_key"));
	al_reply_free(&rep);
	tamper t = {ak, 2};
	al_error err;
	assert_int_equal(al__store_write(f->s, tamper_keypair, &t, &err), AL_OK);
	TH_OK(f->s, NULL, 1, &rep, "maintenance.recalculate-usage", NULL);
	assert_string_equal(th_res_json(&rep, "corrections"), "1");
	char want[320];
	snprintf(want, sizeof want, "{\"%s\":0}", ak);
	assert_string_equal(th_res_json(&rep, "keypairs"), want);
	assert_string_equal(th_res_json(&rep, "agents"), "{}");
	al_reply_free(&rep);
	evscan x = events_of(f->s, "usage.recalculated", "maintenance:usage");
	assert_int_equal(x.n, 1);
	snprintf(want, sizeof want, "\"keypairs\":{\"%s\":0},\"keypairs_before\":{\"%s\":2}", ak, ak);
	assert_non_null(strstr(x.last, want));
	assert_null(strstr(x.last, "\"agents\""));
	snprintf(want, sizeof want,
		 "\"occupancy\":{\"keypair\":{\"%s\":{\"sessions\":0,\"system_sessions\":0,\"slots\":{},\"pending\":0}}},"
		 "\"occupancy_before\":{\"keypair\":{\"%s\":{\"sessions\":2,\"system_sessions\":0,\"slots\":{\"cpu\":2},"
		 "\"pending\":0}}}",
		 ak, ak);
	assert_non_null(strstr(x.last, want));
	/* the correction is applied: a second run finds nothing */
	TH_OK(f->s, NULL, 0, &rep, "maintenance.recalculate-usage", NULL);
	assert_string_equal(th_res_json(&rep, "corrections"), "0");
	al_reply_free(&rep);
	/* a rebuild folds the log again, the correction included: the same views, nothing to correct */
	char live[33], rebuilt[33];
	th_digest(f->s, live);
	assert_int_equal(al_store_verify(f->s, NULL, NULL, &err), AL_OK);
	assert_int_equal(al_store_rebuild(f->s, NULL, NULL, &err), AL_OK);
	th_digest(f->s, rebuilt);
	assert_string_equal(live, rebuilt);
	TH_OK(f->s, NULL, 0, &rep, "maintenance.recalculate-usage", NULL);
	assert_string_equal(th_res_json(&rep, "corrections"), "0");
	al_reply_free(&rep);
	TH_DENY(f->s, &f->adm, "maintenance.recalculate-usage", NULL);
}

/* Slot maps compare per slot, a missing slot being 0. */
static void slots_compare(void **state)
{
	(void)state;
	static const struct {
		const char *a, *b; /* JSON-ish shorthand built below */
		bool differ;
	} cases[] = {
		{"", "", false},          {"cpu=0", "", false},         {"cpu=1", "", true},
		{"cpu=1,mem=2", "mem=2,cpu=1", false}, {"cpu=1,mem=2", "cpu=1,mem=3", true}, {"mem=2", "cpu=1,mem=2", true},
		{"x=0.5", "x=0.5", false}, {"x=0.5", "x=0.25", true},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		msgpack_sbuffer b[2];
		msgpack_object o[2];
		msgpack_zone z;
		msgpack_zone_init(&z, 1024);
		const char *src[2] = {cases[i].a, cases[i].b};
		for (int side = 0; side < 2; side++) {
			msgpack_packer pk;
			msgpack_sbuffer_init(&b[side]);
			msgpack_packer_init(&pk, &b[side], msgpack_sbuffer_write);
			uint32_t n = *src[side] ? 1 : 0;
			for (const char *p = src[side]; *p; p++)
				n += *p == ',';
			msgpack_pack_map(&pk, n);
			for (const char *p = src[side]; *p;) {
				size_t len = strcspn(p, ","), eq = strcspn(p, "=");
				msgpack_pack_str(&pk, eq), msgpack_pack_str_body(&pk, p, eq);
				char num[32];
				snprintf(num, sizeof num, "%.*s", (int)(len - eq - 1), p + eq + 1);
				if (strchr(num, '.'))
					msgpack_pack_double(&pk, atof(num));
				else
					msgpack_pack_int64(&pk, atoll(num));
				p += len + (p[len] == ',');
			}
			assert_int_equal(al_mp_decode(b[side].data, b[side].size, &z, &o[side]), 0);
		}
		if (al__slots_differ(&o[0], &o[1]) != cases[i].differ)
			fail_msg("{%s} vs {%s}: expected %s", cases[i].a, cases[i].b, cases[i].differ ? "differ" : "equal");
		assert_int_equal(al__slots_differ(&o[1], &o[0]), cases[i].differ);
		msgpack_sbuffer_destroy(&b[0]), msgpack_sbuffer_destroy(&b[1]);
		msgpack_zone_destroy(&z);
	}
	/* a slot that is not a number differs from everything; no map at all is empty */
	msgpack_object str = {.type = MSGPACK_OBJECT_STR, .via.str = {1, "x"}};
	msgpack_object_kv kv = {{.type = MSGPACK_OBJECT_STR, .via.str = {3, "cpu"}}, str};
	msgpack_object bad = {.type = MSGPACK_OBJECT_MAP, .via.map = {1, &kv}}, empty = {.type = MSGPACK_OBJECT_MAP};
	assert_true(al__slots_differ(&bad, &empty));
	assert_false(al__slots_differ(NULL, &empty));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(rules, setup, teardown),
		cmocka_unit_test_setup_teardown(scheduler_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(guide_scheduler_options, setup, teardown),
		cmocka_unit_test_setup_teardown(timezone_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(history, setup, teardown),
		cmocka_unit_test_setup_teardown(effective_with_group, setup, teardown),
		cmocka_unit_test_setup_teardown(info, setup, teardown),
		cmocka_unit_test_setup_teardown(recalculate_usage, setup, teardown),
		cmocka_unit_test(slots_compare),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
