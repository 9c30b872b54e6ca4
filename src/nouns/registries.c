/*
 * registries.c - container registries that images are scanned from (the guide's "Manage docker
 * registry"; platform model §9.2).
 *
 * A registry is keyed by its hostname (host or host:port), which image names start with and
 * which its URL must repeat exactly: the guide says "Registry Hostname and Registry URL address
 * must be set identically, and in the case of Registry URL, a scheme such as http:// or
 * https:// must be explicitly attached". Everything but the hostname can be updated; delete is
 * an event, after which the registry's images are marked gone (images.c) and the hostname may
 * be registered again.
 *
 * The password is sealed with the master key in the prepare step (al__registry_prepare), so
 * events and the view hold only sealed text; only the rescan's prepare step unseals it. Results
 * and lists say password_set, never the password or its sealed text.
 *
 * View v_registries: hostname -> {hostname, url, type, project, username, password_sealed,
 * ssl_verify, created_at, modified_at}, columns in that order.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/authz.h"
#include "core/seal.h"
#include "core/validate.h"
#include "nouns/images.h"
#include "util/row.h"

enum { DB_REGISTRIES };

#define URL_MAX 512       /* varchar(512) in the platform model */
#define USERNAME_MAX 255  /* varchar(255) */
#define PASSWORD_MAX 1024 /* bytes; registry tokens are long, adminctl reads up to 1023 */
#define PROJECTS_MAX 100

static const char *const types[] = {"docker", "harbor", "harbor2", "local", NULL};


/* ---- the reference grammar (shared with images.c and rescan.c) ------------------------------------ */

bool al__ref_host_ok(al_str h)
{
	if (h.n == 0 || h.n > 255)
		return false;
	const char *colon = memchr(h.p, ':', h.n);
	size_t hn = colon ? (size_t)(colon - h.p) : h.n;
	if (colon) {
		size_t pn = h.n - hn - 1;
		unsigned long port = 0;
		if (pn == 0 || pn > 5)
			return false;
		for (size_t i = 0; i < pn; i++) {
			if (!isdigit((unsigned char)colon[1 + i]))
				return false;
			port = port * 10 + (unsigned long)(colon[1 + i] - '0');
		}
		if (port == 0 || port > 65535 || colon[1] == '0')
			return false;
	}
	size_t label = 0;
	for (size_t i = 0; i <= hn; i++) {
		if (i == hn || h.p[i] == '.') {
			if (label == 0 || label > 63 || h.p[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		unsigned char ch = (unsigned char)h.p[i];
		if (!(islower(ch) || isdigit(ch) || (ch == '-' && label > 0)))
			return false;
		label++;
	}
	return true;
}

static bool alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool al__ref_component_ok(al_str s)
{
	if (s.n == 0 || !alnum_lower(s.p[0]) || !alnum_lower(s.p[s.n - 1]))
		return false;
	for (size_t i = 1; i < s.n;) {
		if (alnum_lower(s.p[i])) {
			i++;
			continue;
		}
		size_t k = i; /* a separator: '.', '_', "__" or a run of '-' */
		if (s.p[i] == '.')
			k++;
		else if (s.p[i] == '_')
			k += i + 1 < s.n && s.p[i + 1] == '_' ? 2 : 1;
		else
			while (k < s.n && s.p[k] == '-')
				k++;
		if (k == i || k >= s.n || !alnum_lower(s.p[k]))
			return false;
		i = k;
	}
	return true;
}

bool al__ref_repo_ok(al_str s)
{
	if (s.n == 0 || s.n > AL_REPO_MAX)
		return false;
	for (size_t i = 0; i <= s.n;) {
		const char *slash = memchr(s.p + i, '/', s.n - i);
		size_t end = slash ? (size_t)(slash - s.p) : s.n;
		if (!al__ref_component_ok((al_str){s.p + i, end - i}))
			return false;
		i = end + 1;
	}
	return true;
}

bool al__ref_tag_ok(al_str s)
{
	if (s.n == 0 || s.n > AL_TAG_MAX)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];
		bool w = isalnum((unsigned char)c) || c == '_';
		if (!w && (i == 0 || (c != '.' && c != '-')))
			return false;
	}
	return true;
}

const char *al__arch_normalize(al_str arch, al_str variant, char *buf, size_t n)
{
	static const char *const alias[][2] = {{"amd64", "x86_64"}, {"x64", "x86_64"}, {"x86_64", "x86_64"},
					       {"arm64", "aarch64"}, {"aarch64", "aarch64"}, {"386", "x86"},
					       {"i686", "x86"}, {"x86", "x86"}, {"x32", "x86"}};
	buf[0] = 0;
	if (arch.n == 0 || arch.n >= AL_ARCH_MAX || n < AL_ARCH_MAX + 8)
		return buf;
	for (size_t i = 0; i < arch.n; i++)
		if (!(alnum_lower(arch.p[i]) || arch.p[i] == '_'))
			return buf;
	for (size_t i = 0; i < sizeof alias / sizeof *alias; i++)
		if (al_str_eq(arch, alias[i][0])) {
			snprintf(buf, n, "%s", alias[i][1]);
			return buf;
		}
	bool v_ok = variant.n > 0 && variant.n <= 8;
	for (size_t i = 0; v_ok && i < variant.n; i++)
		v_ok = alnum_lower(variant.p[i]);
	if (al_str_eq(arch, "arm") && v_ok)
		snprintf(buf, n, "arm%.*s", (int)variant.n, variant.p);
	else
		snprintf(buf, n, "%.*s", (int)arch.n, arch.p);
	return buf;
}

/* ---- projection ------------------------------------------------------------------------------------ */

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	bool created = d == al__ev(AL_EV_REGISTRY_CREATED);
	if (!created && d != al__ev(AL_EV_REGISTRY_UPDATED) && d != al__ev(AL_EV_REGISTRY_DELETED))
		return AL_OK;
	char key[AL_MAX_ID];
	if (e->id.n == 0 || e->id.n > sizeof key)
		return al_err(err, AL_ECORRUPT, "event %llu: bad registry hostname", (unsigned long long)e->seq);
	memcpy(key, e->id.p, e->id.n); /* the old row's memory may move while it is replaced */
	if (d == al__ev(AL_EV_REGISTRY_DELETED))
		return al__view_del(v, DB_REGISTRIES, key, e->id.n, err);
	msgpack_object base, *bp = NULL;
	int64_t created_at = e->time_us;
	if (!created) {
		MDB_val val;
		if (al__view_get(v, DB_REGISTRIES, key, e->id.n, &val) != 0 ||
		    al_mp_decode(val.mv_data, val.mv_size, &v->w->zone, &base) != 0)
			return al_err(err, AL_ECORRUPT, "event %llu: %s for unknown registry %.*s",
				      (unsigned long long)e->seq, d->name, al__clip(e->id.n), e->id.p);
		bp = &base;
		al_mp_int(bp, "created_at", &created_at);
	}
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	msgpack_pack_map(&pk, 9);
	al_pack_cstr(&pk, "hostname");
	al_pack_str(&pk, key, e->id.n);
	al__row_col(&pk, "url", 's', bp, &e->fields);
	al__row_col(&pk, "type", 's', bp, &e->fields);
	al__row_col(&pk, "project", 'a', bp, &e->fields);
	al__row_col(&pk, "username", 's', bp, &e->fields);
	al__row_col(&pk, "password_sealed", 's', bp, &e->fields);
	const msgpack_object *sv = al_mp_get(&e->fields, "ssl_verify");
	if (sv == NULL || sv->type != MSGPACK_OBJECT_BOOLEAN)
		sv = bp ? al_mp_get(bp, "ssl_verify") : NULL;
	al_pack_cstr(&pk, "ssl_verify");
	sv && sv->type == MSGPACK_OBJECT_BOOLEAN && !sv->via.boolean ? msgpack_pack_false(&pk) : msgpack_pack_true(&pk);
	al__row_times(&pk, created_at, e->time_us);
	return al__view_put(v, DB_REGISTRIES, key, e->id.n, b->data, b->size, err);
}

/* v2: the view is filled (v1 was the empty stub). */
/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_REGISTRY_CREATED, AL_EV_REGISTRY_UPDATED, AL_EV_REGISTRY_DELETED, AL_EV__COUNT};
const al_projection al__proj_registries = {"registries", 2, {"v_registries", NULL}, apply, .on = applies_to};

/* ---- queries --------------------------------------------------------------------------------------- */

static MDB_dbi dbi(const al_store *s) { return al__view_dbi(s, AL_P_REGISTRIES, DB_REGISTRIES); }

/* The registry's row, or not_found. */
static int get_row(al_cmd *c, al_str key, msgpack_object *row)
{
	return al__must_find_row(c, AL_P_REGISTRIES, DB_REGISTRIES, "registry", key, row);
}

bool al__registry_exists(al_cmd *c, al_str hostname)
{
	MDB_val k = {hostname.n, (void *)hostname.p}, v;
	return hostname.n && hostname.n <= AL_MAX_ID && al__cmd_found(c, mdb_get(c->txn, dbi(c->s), &k, &v), "registries");
}

int al__registry_require(al_cmd *c, const char *field, al_str hostname)
{
	if (!al__registry_exists(c, hostname))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: no registry named %.*s", field, al__clip(hostname.n),
			      hostname.p);
	return AL_OK;
}

/* The row without its sealed password (password_set instead), times formatted, the version added. */
static void pack_public(al_cmd *c, const msgpack_object *row, msgpack_packer *pk)
{
	al_mb out;
	al_str host = {"", 0}, sealed = {"", 0};
	al_mp_str(row, "hostname", &host);
	al_mp_str(row, "password_sealed", &sealed);
	al_mb_init(&out);
	for (uint32_t i = 0; i < row->via.map.size; i++) {
		const msgpack_object_kv *kv = &row->via.map.ptr[i];
		char key[32];
		al_str_cpy(key, sizeof key, (al_str){kv->key.via.str.ptr, kv->key.via.str.size});
		if (strcmp(key, "password_sealed") == 0)
			al_mb_bool(&out, "password_set", sealed.n > 0);
		else if (strcmp(key, "created_at") == 0 || strcmp(key, "modified_at") == 0) {
			char t[40];
			al_mb_cstr(&out, key, al_time_format(kv->val.via.i64, t, sizeof t));
		} else
			al_mb_obj(&out, key, &kv->val);
	}
	msgpack_pack_uint64(al_mb_key(&out, "version"), al__cmd_version(c, "registry", host));
	al_mb_finish(&out, pk);
	al_mb_free(&out);
}

/* ---- field rules ------------------------------------------------------------------------------------- */

static int check_hostname(al_cmd *c, al_str h)
{
	if (!al__ref_host_ok(h))
		return al_err(c->err, AL_EINVALID_ARGUMENT,
			      "hostname: '%.*s' is not a registry hostname (host or host:port; lowercase letters, digits, "
			      "'-' and '.')",
			      al__clip(h.n), h.p);
	return AL_OK;
}

/* http:// or https://, then exactly the hostname, then at most a '/'. */
static int check_url(al_cmd *c, al_str url, al_str host)
{
	if (url.n > URL_MAX)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "url: at most %d characters", URL_MAX);
	size_t skip = url.n >= 7 && memcmp(url.p, "http://", 7) == 0 ? 7 : url.n >= 8 && memcmp(url.p, "https://", 8) == 0 ? 8 : 0;
	if (skip == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT,
			      "url: must start with http:// or https:// (the guide: the scheme must be explicit)");
	al_str rest = {url.p + skip, url.n - skip};
	size_t an = 0;
	while (an < rest.n && rest.p[an] != '/' && rest.p[an] != '?' && rest.p[an] != '#')
		an++;
	if (memchr(rest.p, '@', an))
		return al_err(c->err, AL_EINVALID_ARGUMENT,
			      "url: must not carry a user or password (use username and the password argument)");
	if (an != host.n || memcmp(rest.p, host.p, an) != 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT,
			      "url: its host '%.*s' must equal the hostname '%.*s' (the guide: set them identically)",
			      al__clip(an), rest.p, al__clip(host.n), host.p);
	if (rest.n > an + (an < rest.n && rest.p[an] == '/' ? 1 : 0))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "url: only the scheme and the host, no path, query or fragment");
	return AL_OK;
}

static int cmp_objstr(const void *a, const void *b)
{
	const msgpack_object_str *x = &((const msgpack_object *)a)->via.str, *y = &((const msgpack_object *)b)->via.str;
	int r = memcmp(x->ptr, y->ptr, x->size < y->size ? x->size : y->size);
	return r ? r : (x->size > y->size) - (x->size < y->size);
}

/* The project list, checked, sorted, packed onto pk. */
static int pack_projects(al_cmd *c, const msgpack_object *list, msgpack_packer *pk)
{
	uint32_t n = list->via.array.size;
	if (n > PROJECTS_MAX)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "project: at most %d projects", PROJECTS_MAX);
	msgpack_object *sorted = n ? al_zone_malloc(c->zone, n * sizeof *sorted) : NULL;
	if (n && sorted == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		al_str p = {list->via.array.ptr[i].via.str.ptr, list->via.array.ptr[i].via.str.size};
		if (p.n > AL_REPO_MAX || !al__ref_component_ok(p))
			return al_err(c->err, AL_EINVALID_ARGUMENT,
				      "project: '%.*s' is not a project name (lowercase letters and digits, joined by "
				      "'.', '_' or '-')",
				      al__clip(p.n), p.p);
		sorted[i] = list->via.array.ptr[i];
	}
	if (n)
		qsort(sorted, n, sizeof *sorted, cmp_objstr);
	for (uint32_t i = 1; i < n; i++)
		if (cmp_objstr(&sorted[i - 1], &sorted[i]) == 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT, "project: %.*s is listed twice",
				      al__clip(sorted[i].via.str.size), sorted[i].via.str.ptr);
	msgpack_pack_array(pk, n);
	for (uint32_t i = 0; i < n; i++)
		msgpack_pack_object(pk, sorted[i]);
	return AL_OK;
}

static int check_username(al_cmd *c, al_str u)
{
	int rc = al__check_text(c->err, "username", u, 1, USERNAME_MAX);
	if (rc == AL_OK && memchr(u.p, ':', u.n))
		rc = al_err(c->err, AL_EINVALID_ARGUMENT, "username: must not contain ':' (HTTP basic auth)");
	return rc;
}

/* ---- the prepare step: sealing ---------------------------------------------------------------------- */

int al__registry_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	al_str pw;
	if (al_mp_str(args, "password", &pw) != 1)
		return AL_OK;
	if (pw.n == 0) { /* update: an empty password removes it; create refuses it */
		al_mb_cstr(out, "password_sealed", "");
		return AL_OK;
	}
	if (pw.n > PASSWORD_MAX)
		return al_err(err, AL_EINVALID_ARGUMENT, "password: at most %d bytes", PASSWORD_MAX);
	for (size_t i = 0; i < pw.n; i++)
		if ((unsigned char)pw.p[i] < 0x20 || pw.p[i] == 0x7f)
			return al_err(err, AL_EINVALID_ARGUMENT, "password: must not contain control characters");
	char sealed[AL_SEALED_LEN(PASSWORD_MAX)];
	int rc = al__seal(s, pw.p, pw.n, sealed, sizeof sealed, err);
	if (rc == AL_OK)
		al_mb_cstr(out, "password_sealed", sealed);
	return rc;
}

/* The sealed password the prepare step made: 1 with *out set, 0 when none was given. */
static int prepared_password(al_cmd *c, al_str *out)
{
	if (!al_mp_get(c->args, "password"))
		return 0;
	if (c->prep == NULL || al_mp_str(c->prep, "password_sealed", out) != 1)
		return al_err(c->err, AL_EINTERNAL, "%s ran without its prepare step", c->def->op);
	return 1;
}

/* ---- commands ------------------------------------------------------------------------------------------ */

/* The common fields of create and update into f: those given and (with a current row) different.
 * Returns how many were added, or a negative code. */
static int settings_fields(al_cmd *c, al_str host, const msgpack_object *row, al_mb *f)
{
	al_str url, type, old;
	const msgpack_object *list;
	bool ssl;
	int rc, n = 0;
	if (al__arg_str(c, "url", &url)) {
		if ((rc = check_url(c, url, host)))
			return rc;
		if (row == NULL || al_mp_str(row, "url", &old) != 1 || old.n != url.n || memcmp(old.p, url.p, url.n)) {
			al_mb_str(f, "url", url.p, url.n);
			n++;
		}
	}
	if (al__arg_str(c, "type", &type)) {
		if ((rc = al__check_enum(c->err, "type", type, types)))
			return rc;
		if (row == NULL || al_mp_str(row, "type", &old) != 1 || old.n != type.n || memcmp(old.p, type.p, type.n)) {
			al_mb_str(f, "type", type.p, type.n);
			n++;
		}
	}
	if (al__arg_list(c, "project", &list)) {
		msgpack_sbuffer nb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&nb);
		msgpack_packer_init(&pk, &nb, al_sbuffer_write);
		rc = pack_projects(c, list, &pk);
		bool differs = true;
		if (rc == AL_OK && row) {
			msgpack_sbuffer ob;
			msgpack_packer opk;
			msgpack_sbuffer_init(&ob);
			msgpack_packer_init(&opk, &ob, al_sbuffer_write);
			const msgpack_object *cur = al_mp_get(row, "project");
			if (cur)
				msgpack_pack_object(&opk, *cur);
			else
				msgpack_pack_array(&opk, 0);
			differs = ob.size != nb.size || memcmp(ob.data, nb.data, nb.size) != 0;
			al_sbuffer_destroy(&ob);
		}
		if (rc == AL_OK && differs) {
			msgpack_packer *o = al_mb_key(f, "project");
			o->callback(o->data, nb.data, nb.size);
			n++;
		}
		al_sbuffer_destroy(&nb);
		if (rc)
			return rc;
	}
	if (al__arg_bool(c, "ssl_verify", &ssl)) {
		bool cur = true;
		if (row)
			al_mp_bool(row, "ssl_verify", &cur);
		if (row == NULL || cur != ssl) {
			al_mb_bool(f, "ssl_verify", ssl);
			n++;
		}
	}
	return n;
}

int al__registry_create(al_cmd *c)
{
	al_str host, url, type = {"docker", 6}, user = {"", 0}, sealed = {"", 0};
	al__arg_str(c, "hostname", &host);
	al__arg_str(c, "url", &url);
	bool has_user = al__arg_str(c, "username", &user);
	int rc = check_hostname(c, host), has_pw = 0;
	if (rc == AL_OK && (has_pw = prepared_password(c, &sealed)) < 0)
		rc = has_pw;
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "hostname", host.p, host.n);
	if (rc == AL_OK && (rc = settings_fields(c, host, NULL, &f)) > 0)
		rc = AL_OK;
	if (rc == AL_OK && !al_mp_get(c->args, "type"))
		al_mb_str(&f, "type", type.p, type.n);
	if (rc == AL_OK && !al_mp_get(c->args, "ssl_verify"))
		al_mb_bool(&f, "ssl_verify", true);
	if (rc == AL_OK && has_user)
		rc = check_username(c, user);
	if (rc == AL_OK && has_pw && sealed.n == 0)
		rc = al_err(c->err, AL_EINVALID_ARGUMENT, "password: must not be empty (leave it out for none)");
	if (rc == AL_OK && has_pw && !has_user)
		rc = al_err(c->err, AL_EINVALID_ARGUMENT, "password: needs a username");
	if (rc == AL_OK && has_user && !has_pw)
		rc = al_err(c->err, AL_EINVALID_ARGUMENT, "username: needs a password (adminctl: --password-stdin)");
	if (rc == AL_OK && al__registry_exists(c, host))
		rc = al_err(c->err, AL_EALREADY_EXISTS, "hostname: registry %.*s already exists", al__clip(host.n), host.p);
	if (rc == AL_OK && has_user) {
		al_mb_str(&f, "username", user.p, user.n);
		al_mb_str(&f, "password_sealed", sealed.p, sealed.n);
	}
	if (rc == AL_OK)
		rc = al__emit(c, AL_EV_REGISTRY_CREATED, host, &f);
	al_mb_free(&f);
	msgpack_object row;
	if (rc == AL_OK && (rc = get_row(c, host, &row)) == AL_OK)
		pack_public(c, &row, c->out);
	return rc;
}

int al__registry_update(al_cmd *c)
{
	static const char *const all[] = {"url", "type", "project", "username", "password", "ssl_verify"};
	al_str host, user, sealed = {"", 0}, cur_user = {"", 0}, cur_sealed = {"", 0};
	msgpack_object row;
	al__arg_str(c, "hostname", &host);
	int rc = get_row(c, host, &row);
	if (rc)
		return rc;
	if (al__args_given(c, all, sizeof all / sizeof *all) == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "nothing to update (the hostname cannot change)");
	al_mp_str(&row, "username", &cur_user);
	al_mp_str(&row, "password_sealed", &cur_sealed);
	bool has_user = al__arg_str(c, "username", &user);
	int has_pw = prepared_password(c, &sealed);
	if (has_pw < 0)
		return has_pw;
	al_mb f;
	al_mb_init(&f);
	int n = settings_fields(c, host, &row, &f);
	rc = n < 0 ? n : AL_OK;
	if (rc == AL_OK && has_user && user.n)
		rc = check_username(c, user);
	/* The login after this update: a password needs one, and removing it removes the password. */
	al_str new_user = has_user ? user : cur_user;
	if (rc == AL_OK && has_pw && sealed.n && new_user.n == 0)
		rc = al_err(c->err, AL_EINVALID_ARGUMENT, "password: needs a username");
	if (rc == AL_OK && has_user && user.n && !has_pw && cur_sealed.n == 0)
		rc = al_err(c->err, AL_EINVALID_ARGUMENT, "username: needs a password (adminctl: --password-stdin)");
	if (rc == AL_OK && has_pw && sealed.n == 0 && new_user.n)
		rc = al_err(c->err, AL_EINVALID_ARGUMENT,
			    "password: removing it needs removing the username too (username \"\")");
	if (rc == AL_OK && has_user && !(user.n == cur_user.n && memcmp(user.p, cur_user.p, user.n) == 0)) {
		al_mb_str(&f, "username", user.p, user.n);
		n++;
	}
	if (rc == AL_OK && has_pw && sealed.n) { /* a new password always counts: sealed texts never compare equal */
		al_mb_str(&f, "password_sealed", sealed.p, sealed.n);
		n++;
	} else if (rc == AL_OK && new_user.n == 0 && cur_sealed.n) {
		al_mb_str(&f, "password_sealed", "", 0); /* the login went: so does its password */
		n++;
	}
	if (rc == AL_OK && n > 0) /* an update that changes nothing records nothing */
		rc = al__emit(c, AL_EV_REGISTRY_UPDATED, host, &f);
	al_mb_free(&f);
	if (rc == AL_OK && n > 0)
		rc = get_row(c, host, &row);
	if (rc == AL_OK)
		pack_public(c, &row, c->out);
	return rc;
}

int al__registry_delete(al_cmd *c)
{
	al_str host;
	msgpack_object row;
	al__arg_str(c, "hostname", &host);
	int rc = get_row(c, host, &row);
	if (rc)
		return rc;
	if ((rc = al__emit(c, AL_EV_REGISTRY_DELETED, host, NULL)) == AL_OK) /* then its images are gone */
		rc = al__images_registry_deleted(c, host);
	if (rc == AL_OK) { /* host points into the arguments, which stay put */
		al_mb out;
		al_mb_init(&out);
		al_mb_str(&out, "hostname", host.p, host.n);
		al_mb_bool(&out, "deleted", true);
		al_mb_finish(&out, c->out);
		al_mb_free(&out);
	}
	return rc;
}

int al__registry_get(al_cmd *c)
{
	al_str host;
	msgpack_object row;
	al__arg_str(c, "hostname", &host);
	int rc = get_row(c, host, &row);
	if (rc == AL_OK)
		pack_public(c, &row, c->out);
	return rc;
}

int al__registry_list(al_cmd *c) { return al__list_view(c, AL_P_REGISTRIES, DB_REGISTRIES, pack_public); }

/* ---- bootstrap ------------------------------------------------------------------------------------------ */

int al__registry_emit_default(al_cmd *c)
{
	static const char host[] = "cr.backend.ai";
	al_str h = {host, sizeof host - 1};
	if (al__registry_exists(c, h))
		return AL_OK;
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "hostname", h.p, h.n);
	al_mb_cstr(&f, "url", "https://cr.backend.ai");
	al_mb_cstr(&f, "type", "harbor2");
	msgpack_packer *pk = al_mb_key(&f, "project");
	msgpack_pack_array(pk, 3);
	al_pack_cstr(pk, "community");
	al_pack_cstr(pk, "multiarch");
	al_pack_cstr(pk, "stable");
	al_mb_bool(&f, "ssl_verify", true);
	int rc = al__emit(c, AL_EV_REGISTRY_CREATED, h, &f);
	al_mb_free(&f);
	return rc;
}

/* ---- what the rescan reads (outside any write transaction) ---------------------------------------------- */

static char *dup_str(const msgpack_object *row, const char *key)
{
	al_str s = {"", 0};
	al_mp_str(row, key, &s);
	char *p = al_malloc(s.n + 1);
	if (p) {
		memcpy(p, s.p, s.n);
		p[s.n] = 0;
	}
	return p;
}

static int load_one(const msgpack_object *row, al_registry_conf *r, al_error *err)
{
	memset(r, 0, sizeof *r);
	r->hostname = dup_str(row, "hostname");
	r->url = dup_str(row, "url");
	r->type = dup_str(row, "type");
	r->username = dup_str(row, "username");
	r->password_sealed = dup_str(row, "password_sealed");
	r->ssl_verify = true;
	al_mp_bool(row, "ssl_verify", &r->ssl_verify);
	const msgpack_object *pl = al_mp_get(row, "project");
	if (pl && pl->type == MSGPACK_OBJECT_ARRAY && pl->via.array.size) {
		r->projects = al_calloc(pl->via.array.size, sizeof *r->projects);
		for (uint32_t i = 0; r->projects && i < pl->via.array.size; i++) {
			const msgpack_object *o = &pl->via.array.ptr[i];
			if (o->type != MSGPACK_OBJECT_STR)
				continue;
			char *p = al_malloc(o->via.str.size + 1);
			if (p == NULL)
				break;
			memcpy(p, o->via.str.ptr, o->via.str.size);
			p[o->via.str.size] = 0;
			r->projects[r->nprojects++] = p;
		}
		if (r->projects == NULL || r->nprojects != pl->via.array.size)
			return al_err(err, AL_ENO_MEMORY, "out of memory");
	}
	if (!r->hostname || !r->url || !r->type || !r->username || !r->password_sealed)
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	return AL_OK;
}

void al__registries_free(al_registry_conf *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		al_free(r[i].hostname);
		al_free(r[i].url);
		al_free(r[i].type);
		al_free(r[i].username);
		al_free(r[i].password_sealed);
		for (size_t k = 0; k < r[i].nprojects; k++)
			al_free(r[i].projects[k]);
		al_free(r[i].projects);
	}
	al_free(r);
}

int al__registries_load(al_store *s, const char *only, al_registry_conf **out, size_t *n, al_error *err)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	msgpack_zone z;
	*out = NULL;
	*n = 0;
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	msgpack_zone_init(&z, 1024);
	size_t cap = 0;
	MDB_val k = {only ? strlen(only) : 0, (void *)only}, v;
	int m = only ? (k.mv_size && k.mv_size <= AL_MAX_ID ? mdb_get(txn, dbi(s), &k, &v) : MDB_NOTFOUND)
		     : mdb_cursor_open(txn, dbi(s), &cur);
	if (only && m == MDB_NOTFOUND)
		rc = al_err(err, AL_EINVALID_ARGUMENT, "registry: no registry named %.*s", al__clip(k.mv_size), only);
	else if (m)
		rc = al_err(err, AL_EIO_ERROR, "read registries: %s", mdb_strerror(m));
	if (rc == AL_OK && cur)
		m = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == AL_OK && m == 0) {
		msgpack_object row;
		msgpack_zone_clear(&z);
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			al_registry_conf *nr = al_realloc(*out, nc * sizeof *nr);
			if (nr == NULL) {
				rc = al_err(err, AL_ENO_MEMORY, "out of memory");
				break;
			}
			*out = nr;
			cap = nc;
		}
		if (al_mp_decode(v.mv_data, v.mv_size, &z, &row) != 0 || row.type != MSGPACK_OBJECT_MAP)
			rc = al_err(err, AL_ECORRUPT, "a registry view row does not decode");
		else {
			rc = load_one(&row, &(*out)[*n], err);
			(*n)++; /* counted even when half filled, so that free releases it */
		}
		if (cur == NULL)
			break;
		m = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == AL_OK && cur)
		rc = al__cursor_end(m, err, "registries");
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	msgpack_zone_destroy(&z);
	if (rc) {
		al__registries_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}
