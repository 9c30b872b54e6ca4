/*
 * rescan.c - the network half of image rescan: the prepare step of image.rescan (and of
 * maintenance.rescan-images) reads each registry over the Docker Registry HTTP API v2 with
 * libcurl, outside any transaction (the server runs it on a worker), and packs what it found;
 * images.c turns that into events inside the transaction (platform model §12.2).
 *
 * Per registry:
 *   GET /v2/                        ping; a 401 with "Bearer realm=...,service=..." switches to
 *                                   token auth, "Basic" to the registry's username/password
 *   GET /v2/_catalog?n=100          repositories, pages followed through Link: <...>; rel="next"
 *   GET /v2/<repo>/tags/list?n=100  tags, paged the same way
 *   GET /v2/<repo>/manifests/<tag>  Accept: Docker manifest v2 and manifest list, OCI manifest
 *                                   and index; each linux platform of a list/index is fetched
 *                                   by digest (and checked against it) and becomes one image
 *                                   per architecture; attestation entries are left out
 *   GET /v2/<repo>/blobs/<config>   the image config (redirects followed, digest checked):
 *                                   labels from config.Labels, else container_config.Labels
 * Token auth: GET <realm>?service=<service>&scope=<scope> (with the registry's login when it
 * has one) answers {"token": ...} or {"access_token": ...}, sent as "Authorization: Bearer";
 * a new token is fetched when the scope changes (registry:catalog:*, repository:<repo>:pull).
 * Credentials never follow a redirect to another host (libcurl's rule for both basic auth and
 * a custom Authorization header). TLS is verified unless the registry's ssl_verify is false.
 *
 * Everything a registry answers is untrusted: bodies are capped (AL_JSON_MAX_LEN), parsed by the
 * bounded reader of json.h, names and tags checked against the reference grammar before they
 * enter a URL, counts capped (repositories, tags, platforms, labels).
 *
 * Images whose ai.backend.* labels fail validation are skipped with the reason (the guide:
 * images without Backend.AI labels are not taken); skipped images get no event, the result
 * lists them. A registry whose listing could not be completed records nothing gone, and one that
 * cannot be reached at all is reported as failed (nothing of it is recorded); when every
 * registry scanned failed, the command fails with io_error.
 */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/seal.h"
#include "nouns/images.h"
#include "util/json.h"
#include "util/resources.h"

#define TIMEOUT_DEFAULT 30
#define TIMEOUT_MAX 600
#define PAGE 100
#define REPOS_MAX 10000
#define TAGS_MAX 10000
#define PAGES_MAX 1000
#define PLATFORMS_MAX 64
#define LAYERS_MAX 1000
#define LABELS_MAX 512
#define LABEL_KEY_MAX 255
#define LABEL_VALUE_MAX 16384
#define TOKEN_MAX 16384
#define PASSWORD_MAX 1024

static const char accept_manifests[] =
	"Accept: application/vnd.docker.distribution.manifest.v2+json, "
	"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, "
	"application/vnd.oci.image.index.v1+json";

static __thread al_rescan_progress_fn progress_fn;
static __thread void *progress_ctx;

void al__rescan_set_progress(al_rescan_progress_fn fn, void *ctx)
{
	progress_fn = fn;
	progress_ctx = ctx;
}

void al_rescan_progress(al_rescan_progress_fn fn, void *ctx) { al__rescan_set_progress(fn, ctx); }

static void progress(const char *reg, const char *phase, const char *item, size_t done, size_t total)
{
	if (progress_fn)
		progress_fn(progress_ctx, reg, phase, item ? item : "", done, total);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- label validation (the platform's validate_image_labels) ------------------------------------- */

static al_str label(const msgpack_object *labels, const char *key)
{
	const msgpack_object *v = al_mp_get(labels, key);
	return v && v->type == MSGPACK_OBJECT_STR ? (al_str){v->via.str.ptr, v->via.str.size} : (al_str){NULL, 0};
}

static int missing(al_error *err, const char *key) { return al_err(err, AL_EINVALID_ARGUMENT, "label %s: missing", key); }

static bool blank(al_str s)
{
	for (size_t i = 0; i < s.n; i++)
		if (!isspace((unsigned char)s.p[i]))
			return false;
	return true;
}

/* A comma-separated list whose entries each satisfy ok (blank entries around commas allowed
 * only when the whole value is blank). */
static int check_list(al_error *err, const char *key, al_str v, bool (*ok)(al_str))
{
	if (blank(v))
		return AL_OK;
	for (size_t i = 0; i <= v.n;) {
		const char *comma = memchr(v.p + i, ',', v.n - i);
		size_t end = comma ? (size_t)(comma - v.p) : v.n;
		al_str e = {v.p + i, end - i};
		while (e.n && isspace((unsigned char)e.p[0]))
			e.p++, e.n--;
		while (e.n && isspace((unsigned char)e.p[e.n - 1]))
			e.n--;
		if (!ok(e))
			return al_err(err, AL_EINVALID_ARGUMENT, "label %s: '%.*s' is not a valid entry", key,
				      (int)(e.n > 64 ? 64 : e.n), e.p);
		i = end + 1;
	}
	return AL_OK;
}

static bool slot_name_ok(al_str s)
{
	if (s.n == 0 || s.n > 63)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (!(islower((unsigned char)s.p[i]) || isdigit((unsigned char)s.p[i]) || strchr("._-", s.p[i])))
			return false;
	return true;
}

static bool env_name_ok(al_str s)
{
	if (s.n == 0 || s.n > 128 || isdigit((unsigned char)s.p[0]))
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (!(isalnum((unsigned char)s.p[i]) || s.p[i] == '_'))
			return false;
	return true;
}

static bool abs_path_ok(al_str s)
{
	if (s.n == 0 || s.n > 4096 || s.p[0] != '/')
		return false;
	for (size_t i = 0; i < s.n; i++)
		if ((unsigned char)s.p[i] < 0x20)
			return false;
	return true;
}

typedef struct svc_port {
	al_str name, proto;
} svc_port;

/* "name:protocol:port" or "name:protocol:[p1,p2]", comma-separated: protocols tcp, http,
 * preopen (pty accepted and ignored), ports 1025-65534 each used once, not the reserved
 * 2000-2003, 2200, 7681. Fills ports (up to cap) and *n. */
static int parse_service_ports(al_error *err, const char *key, al_str v, svc_port *ports, size_t cap, size_t *n)
{
	unsigned short used[64];
	size_t nused = 0;
	*n = 0;
	for (size_t i = 0; i < v.n;) {
		const char *p = v.p + i, *end = v.p + v.n;
		const char *c1 = memchr(p, ':', (size_t)(end - p));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		if (!c2 || c1 == p || c2 == c1 + 1)
			return al_err(err, AL_EINVALID_ARGUMENT, "label %s: expected name:protocol:port", key);
		for (const char *q = p; q < c1; q++)
			if (!(isalnum((unsigned char)*q) || *q == '_' || *q == '-'))
				return al_err(err, AL_EINVALID_ARGUMENT, "label %s: bad service port name", key);
		al_str name = {p, (size_t)(c1 - p)}, proto = {c1 + 1, (size_t)(c2 - c1 - 1)};
		const char *q = c2 + 1;
		bool list = q < end && *q == '[';
		q += list;
		for (;;) {
			unsigned long port = 0;
			const char *d = q;
			while (q < end && isdigit((unsigned char)*q) && q - d < 6)
				port = port * 10 + (unsigned long)(*q++ - '0');
			if (q == d)
				return al_err(err, AL_EINVALID_ARGUMENT, "label %s: %.*s needs a port number", key, (int)name.n,
					      name.p);
			if (port <= 1024 || port >= 65535)
				return al_err(err, AL_EINVALID_ARGUMENT, "label %s: port %lu must be 1025 to 65534", key, port);
			if (port == 2000 || port == 2001 || port == 2002 || port == 2003 || port == 2200 || port == 7681)
				return al_err(err, AL_EINVALID_ARGUMENT,
					      "label %s: port %lu is reserved (2000-2003, 2200, 7681)", key, port);
			for (size_t k = 0; k < nused; k++)
				if (used[k] == port)
					return al_err(err, AL_EINVALID_ARGUMENT, "label %s: port %lu is used twice", key, port);
			if (nused == sizeof used / sizeof *used)
				return al_err(err, AL_EINVALID_ARGUMENT, "label %s: too many ports", key);
			used[nused++] = (unsigned short)port;
			if (list && q < end && *q == ',') {
				q++;
				continue;
			}
			if (list && (q >= end || *q++ != ']'))
				return al_err(err, AL_EINVALID_ARGUMENT, "label %s: unterminated port list", key);
			break;
		}
		if (q < end && *q != ',')
			return al_err(err, AL_EINVALID_ARGUMENT, "label %s: expected ',' after a service port", key);
		bool pty = al_str_eq(proto, "pty");
		if (!pty && !al_str_eq(proto, "tcp") && !al_str_eq(proto, "http") && !al_str_eq(proto, "preopen"))
			return al_err(err, AL_EINVALID_ARGUMENT, "label %s: unsupported protocol '%.*s'", key,
				      (int)(proto.n > 32 ? 32 : proto.n), proto.p);
		if (!pty && *n < cap)
			ports[(*n)++] = (svc_port){name, proto};
		i = (size_t)(q - v.p) + (q < end);
		if (q < end && q + 1 == end)
			return al_err(err, AL_EINVALID_ARGUMENT, "label %s: ends with ','", key);
	}
	return AL_OK;
}

static int check_inference(const msgpack_object *labels, const svc_port *ports, size_t nports, al_error *err)
{
	al_str ep = label(labels, "ai.backend.endpoint-ports"), mp = label(labels, "ai.backend.model-path"),
	       mf = label(labels, "ai.backend.model-format");
	if (ep.p == NULL || blank(ep))
		return missing(err, "ai.backend.endpoint-ports");
	if (mp.p == NULL)
		return missing(err, "ai.backend.model-path");
	if (!abs_path_ok(mp))
		return al_err(err, AL_EINVALID_ARGUMENT, "label ai.backend.model-path: must be an absolute path");
	if (mf.p == NULL || blank(mf))
		return missing(err, "ai.backend.model-format");
	for (size_t i = 0; i <= ep.n;) {
		const char *comma = memchr(ep.p + i, ',', ep.n - i);
		size_t end = comma ? (size_t)(comma - ep.p) : ep.n;
		al_str name = {ep.p + i, end - i};
		size_t k = 0;
		while (k < nports && !(ports[k].name.n == name.n && memcmp(ports[k].name.p, name.p, name.n) == 0))
			k++;
		if (k == nports)
			return al_err(err, AL_EINVALID_ARGUMENT,
				      "label ai.backend.endpoint-ports: '%.*s' is not a service port", (int)(name.n > 64 ? 64 : name.n),
				      name.p);
		if (!al_str_eq(ports[k].proto, "preopen"))
			return al_err(err, AL_EINVALID_ARGUMENT,
				      "label ai.backend.endpoint-ports: '%.*s' must be a preopen service port",
				      (int)(name.n > 64 ? 64 : name.n), name.p);
		i = end + 1;
	}
	return AL_OK;
}

#define MIN_PREFIX "ai.backend.resource.min."

/* The "slot=amount,..." text of the label minimums over the defaults, each label checked. */
static int min_text(const msgpack_object *labels, char *text, size_t cap, al_error *err)
{
	char cpu[80] = "1", mem[80] = "1g";
	size_t used = 0;
	text[0] = 0;
	for (uint32_t i = 0; i < labels->via.map.size; i++) {
		const msgpack_object_kv *kv = &labels->via.map.ptr[i];
		al_str k = {kv->key.via.str.ptr, kv->key.via.str.size}, v = {kv->val.via.str.ptr, kv->val.via.str.size};
		size_t pn = sizeof MIN_PREFIX - 1;
		if (k.n <= pn || memcmp(k.p, MIN_PREFIX, pn) != 0)
			continue;
		al_str slot = {k.p + pn, k.n - pn};
		char field[LABEL_KEY_MAX + 8], one[160];
		snprintf(field, sizeof field, "label %.*s", (int)k.n, k.p);
		if (!slot_name_ok(slot))
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: slot names use a-z 0-9 . _ -", field);
		if (v.n == 0 || v.n > 64 || memchr(v.p, ',', v.n))
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: '%.*s' is not an amount", field, (int)(v.n > 64 ? 64 : v.n),
				      v.p);
		snprintf(one, sizeof one, "%.*s=%.*s", (int)slot.n, slot.p, (int)v.n, v.p);
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, al_sbuffer_write);
		int rc = al__slots_pack(err, field, (al_str){one, strlen(one)}, &pk);
		al_sbuffer_destroy(&sb);
		if (rc)
			return rc;
		if (al_str_eq(slot, "cpu"))
			snprintf(cpu, sizeof cpu, "%.*s", (int)v.n, v.p);
		else if (al_str_eq(slot, "mem"))
			snprintf(mem, sizeof mem, "%.*s", (int)v.n, v.p);
		else {
			int w = snprintf(text + used, cap - used, ",%s", one);
			if (w < 0 || (size_t)w >= cap - used)
				return al_err(err, AL_EINVALID_ARGUMENT, "labels: too many resource minimums");
			used += (size_t)w;
		}
	}
	char tail[4096];
	snprintf(tail, sizeof tail, "%s", text);
	int w = snprintf(text, cap, "cpu=%s,mem=%s%s", cpu, mem, tail);
	if (w < 0 || (size_t)w >= cap)
		return al_err(err, AL_EINVALID_ARGUMENT, "labels: too many resource minimums");
	return AL_OK;
}

int al__labels_check(const msgpack_object *labels, msgpack_packer *label_min, msgpack_packer *accelerators,
		     al_error *err)
{
	static const char *const roles[] = {"COMPUTE", "INFERENCE", "SYSTEM"};
	if (labels == NULL || labels->type != MSGPACK_OBJECT_MAP)
		return al_err(err, AL_EINVALID_ARGUMENT, "labels: none");
	for (uint32_t i = 0; i < labels->via.map.size; i++)
		if (labels->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR || labels->via.map.ptr[i].val.type != MSGPACK_OBJECT_STR)
			return al_err(err, AL_EINVALID_ARGUMENT, "labels: every label must be text");
	al_str ks = label(labels, "ai.backend.kernelspec");
	if (ks.p == NULL)
		return missing(err, "ai.backend.kernelspec");
	if (!al_str_eq(ks, "1"))
		return al_err(err, AL_EINVALID_ARGUMENT, "label ai.backend.kernelspec: must be 1, got '%.*s'",
			      (int)(ks.n > 32 ? 32 : ks.n), ks.p);
	if (label(labels, "ai.backend.features").p == NULL)
		return missing(err, "ai.backend.features");
	al_str distro = label(labels, "ai.backend.base-distro"), rtype = label(labels, "ai.backend.runtime-type"),
	       rpath = label(labels, "ai.backend.runtime-path"), role = label(labels, "ai.backend.role");
	if (distro.p == NULL || blank(distro))
		return missing(err, "ai.backend.base-distro");
	if (rtype.p == NULL || blank(rtype))
		return missing(err, "ai.backend.runtime-type");
	if (rpath.p == NULL)
		return missing(err, "ai.backend.runtime-path");
	if (!abs_path_ok(rpath))
		return al_err(err, AL_EINVALID_ARGUMENT, "label ai.backend.runtime-path: must be an absolute path");
	bool inference = false;
	if (role.p) {
		size_t k = 0;
		while (k < 3 && !al_str_eq(role, roles[k]))
			k++;
		if (k == 3)
			return al_err(err, AL_EINVALID_ARGUMENT, "label ai.backend.role: must be COMPUTE, INFERENCE or SYSTEM");
		inference = k == 1;
	}
	al_str acc = label(labels, "ai.backend.accelerators"), env = label(labels, "ai.backend.envs.corecount"),
	       sp = label(labels, "ai.backend.service-ports");
	int rc;
	if ((acc.p && (rc = check_list(err, "ai.backend.accelerators", acc, slot_name_ok))) ||
	    (env.p && (rc = check_list(err, "ai.backend.envs.corecount", env, env_name_ok))))
		return rc;
	svc_port ports[64];
	size_t nports = 0;
	if (sp.p && (rc = parse_service_ports(err, "ai.backend.service-ports", sp, ports, 64, &nports)))
		return rc;
	if (inference && (rc = check_inference(labels, ports, nports, err)))
		return rc;
	char text[4096];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	if ((rc = min_text(labels, text, sizeof text, err)))
		return rc;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	rc = al__slots_pack(err, "labels", (al_str){text, strlen(text)}, &pk);
	if (rc == AL_OK) { /* valid: now pack, and only now */
		label_min->callback(label_min->data, sb.data, sb.size);
		uint32_t n = 0;
		for (size_t i = 0; acc.p && !blank(acc) && i <= acc.n; n++) {
			const char *comma = memchr(acc.p + i, ',', acc.n - i);
			i = comma ? (size_t)(comma - acc.p) + 1 : acc.n + 1;
		}
		msgpack_pack_array(accelerators, n);
		for (size_t i = 0; acc.p && !blank(acc) && i <= acc.n;) {
			const char *comma = memchr(acc.p + i, ',', acc.n - i);
			size_t end = comma ? (size_t)(comma - acc.p) : acc.n;
			al_str e = {acc.p + i, end - i};
			while (e.n && isspace((unsigned char)e.p[0]))
				e.p++, e.n--;
			while (e.n && isspace((unsigned char)e.p[e.n - 1]))
				e.n--;
			al_pack_str(accelerators, e.p, e.n);
			i = end + 1;
		}
	}
	al_sbuffer_destroy(&sb);
	return rc;
}

/* ---- the HTTP client ------------------------------------------------------------------------------ */

typedef struct http {
	CURL *curl;
	const al_registry_conf *reg;
	char base[600]; /* the registry URL without a final '/' */
	const char *pass; /* plaintext, the prepare step's buffer (wiped by the caller) */
	long timeout;
	bool bearer; /* the registry answered a Bearer challenge: tokens from now on */
	char realm[1024], service[256];
	char *token;
	char token_scope[600];
	/* the last response */
	char *body;
	size_t n, cap;
	bool too_big;
	long status;
	char ctype[128], link[1024], www[1024];
	char errbuf[CURL_ERROR_SIZE];
	char err[200]; /* why the last request failed, for a result or a skip reason */
} http;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
	http *h = ctx;
	size_t n = size * nmemb;
	if (h->n + n > AL_JSON_MAX_LEN) {
		h->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (h->n + n + 1 > h->cap) {
		size_t cap = h->cap ? h->cap : 16384;
		while (cap < h->n + n + 1)
			cap *= 2;
		char *nb = al_realloc(h->body, cap);
		if (nb == NULL)
			return 0;
		h->body = nb;
		h->cap = cap;
	}
	memcpy(h->body + h->n, p, n);
	h->n += n;
	h->body[h->n] = 0;
	return n;
}

/* Copies the value of header line p (name: value) into out when its name is name. */
static void header_value(const char *p, size_t n, const char *name, char *out, size_t cap)
{
	size_t nn = strlen(name);
	if (n <= nn || strncasecmp(p, name, nn) != 0 || p[nn] != ':')
		return;
	p += nn + 1, n -= nn + 1;
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	if (n >= cap)
		n = cap - 1; /* a longer value is cut; the parsers then refuse it */
	memcpy(out, p, n);
	out[n] = 0;
}

/* Headers of every response (redirects included): a status line starts a new set. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ctx)
{
	http *h = ctx;
	size_t n = size * nmemb;
	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
		h->ctype[0] = h->link[0] = h->www[0] = 0;
	header_value(p, n, "Content-Type", h->ctype, sizeof h->ctype);
	header_value(p, n, "Link", h->link, sizeof h->link);
	header_value(p, n, "WWW-Authenticate", h->www, sizeof h->www);
	return n;
}

static int http_fail(http *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int http_fail(http *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->err, sizeof h->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* One GET of url (absolute) with the extra headers; 0 with h->status and h->body, or -1 with
 * h->err on a transport failure. auth: send the registry's credentials (basic or token). */
static int perform(http *h, const char *url, const char *accept, bool auth, const char *shown)
{
	CURL *c = h->curl;
	struct curl_slist *hdr = NULL;
	char bearer[TOKEN_MAX + 32];
	curl_easy_reset(c); /* keeps the connection cache */
	h->n = 0;
	h->too_big = false;
	h->status = 0;
	h->ctype[0] = h->link[0] = h->www[0] = h->errbuf[0] = 0;
	if (h->body)
		h->body[0] = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, h->timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->timeout);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->reg->ssl_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->reg->ssl_verify ? 2L : 0L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)AL_JSON_MAX_LEN);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "adminlog/" AL_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	if (accept)
		hdr = curl_slist_append(hdr, accept);
	if (auth && h->bearer && h->token) {
		snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", h->token);
		hdr = curl_slist_append(hdr, bearer);
	} else if (auth && h->reg->username[0]) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, h->reg->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, h->pass);
	}
	if (hdr)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	CURLcode rc = curl_easy_perform(c);
	curl_slist_free_all(hdr);
	sodium_memzero(bearer, sizeof bearer);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
	if (h->too_big)
		return http_fail(h, "GET %s: the answer is larger than %u bytes", shown, AL_JSON_MAX_LEN);
	if (rc != CURLE_OK)
		return http_fail(h, "GET %s: %s", shown, h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
	return 0;
}

/* The value of attribute name in a WWW-Authenticate challenge (quoted or a token), into out. */
static bool challenge_attr(const char *www, const char *name, char *out, size_t cap)
{
	size_t nn = strlen(name);
	for (const char *p = www; (p = strcasestr(p, name)) != NULL; p += nn) {
		if (p > www && p[-1] != ' ' && p[-1] != ',')
			continue;
		const char *q = p + nn;
		if (*q != '=')
			continue;
		q++;
		size_t n = 0;
		if (*q == '"') {
			const char *e = strchr(++q, '"');
			if (e == NULL)
				return false;
			n = (size_t)(e - q);
		} else
			n = strcspn(q, ", ");
		if (n == 0 || n >= cap)
			return false;
		memcpy(out, q, n);
		out[n] = 0;
		return true;
	}
	return false;
}

/* A token answer is placed in a header: only b64token characters (RFC 6750). */
static bool token_ok(al_str t)
{
	if (t.n == 0 || t.n > TOKEN_MAX)
		return false;
	for (size_t i = 0; i < t.n; i++)
		if (!(isalnum((unsigned char)t.p[i]) || strchr("-._~+/=", t.p[i])))
			return false;
	return true;
}

/* GET <realm>?service=..&scope=.. with the registry's login, keeping the token for scope. */
static int fetch_token(http *h, const char *scope)
{
	if (strncmp(h->realm, "https://", 8) != 0 && strncmp(h->realm, "http://", 7) != 0)
		return http_fail(h, "token: the realm '%.100s' is not an http(s) URL", h->realm);
	char url[2600], *svc = curl_easy_escape(h->curl, h->service, 0), *sc = curl_easy_escape(h->curl, scope, 0);
	if (svc == NULL || sc == NULL) {
		curl_free(svc);
		curl_free(sc);
		return http_fail(h, "token: out of memory");
	}
	snprintf(url, sizeof url, "%s%cservice=%s%s%s", h->realm, strchr(h->realm, '?') ? '&' : '?', svc,
		 scope[0] ? "&scope=" : "", sc);
	curl_free(svc);
	curl_free(sc);
	bool was = h->bearer;
	h->bearer = false; /* the token request itself uses the login, when there is one */
	int rc = perform(h, url, NULL, true, "token");
	h->bearer = was;
	if (rc)
		return rc;
	if (h->status != 200)
		return http_fail(h, "token: the token service answered HTTP %ld%s", h->status,
				 h->status == 401 ? " (login refused)" : "");
	msgpack_zone z;
	msgpack_object o;
	al_error e = {0};
	msgpack_zone_init(&z, 1024);
	rc = al__json_parse(h->body, h->n, &z, &o, &e);
	al_str t = {"", 0};
	if (rc == AL_OK && al_mp_str(&o, "token", &t) != 1)
		al_mp_str(&o, "access_token", &t);
	if (rc)
		rc = http_fail(h, "token: %s", e.msg);
	else if (!token_ok(t))
		rc = http_fail(h, "token: the answer holds no usable token");
	else {
		al_free(h->token);
		h->token = al_malloc(t.n + 1);
		if (h->token == NULL)
			rc = http_fail(h, "token: out of memory");
		else {
			memcpy(h->token, t.p, t.n);
			h->token[t.n] = 0;
			snprintf(h->token_scope, sizeof h->token_scope, "%s", scope);
		}
	}
	msgpack_zone_destroy(&z);
	return rc;
}

/*
 * GET of a registry path (or an absolute URL) with the registry's auth for scope. A 401 with a
 * Bearer challenge fetches a token and tries once more; a 401 with a Basic one means the login
 * is missing or wrong. 0 with h->status (any other status is for the caller), -1 with h->err.
 */
static int reg_get(http *h, const char *path, const char *accept, const char *scope)
{
	char url[2048];
	if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
		snprintf(url, sizeof url, "%s", path);
	else
		snprintf(url, sizeof url, "%s%s", h->base, path);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (h->bearer && strcmp(h->token_scope, scope) != 0 && fetch_token(h, scope))
			return -1;
		if (perform(h, url, accept, true, path))
			return -1;
		if (h->status != 401 || attempt == 1)
			break;
		if (strncasecmp(h->www, "Bearer ", 7) == 0) {
			char sc[600];
			if (!challenge_attr(h->www + 7, "realm", h->realm, sizeof h->realm))
				return http_fail(h, "GET %s: a Bearer challenge without a realm", path);
			if (!challenge_attr(h->www + 7, "service", h->service, sizeof h->service))
				h->service[0] = 0;
			if (!challenge_attr(h->www + 7, "scope", sc, sizeof sc))
				snprintf(sc, sizeof sc, "%s", scope);
			h->bearer = true;
			if (fetch_token(h, sc))
				return -1;
			snprintf(h->token_scope, sizeof h->token_scope, "%s", scope); /* what it was fetched for */
			continue;
		}
		break;
	}
	if (h->status == 401)
		return http_fail(h, "GET %s: HTTP 401: %s", path,
				 h->reg->username[0] ? "the registry refused the login"
						     : "the registry needs a login (set username and password)");
	return 0;
}

/* The body of the last response as JSON (in z). */
static int body_json(http *h, msgpack_zone *z, msgpack_object *o, const char *what)
{
	al_error e = {0};
	if (al__json_parse(h->body ? h->body : "", h->n, z, o, &e) != AL_OK)
		return http_fail(h, "%s: %s", what, e.msg);
	return 0;
}

/* The path of a Link: <...>; rel="next" header, when it stays on this registry under /v2/. */
static int next_page(http *h, char *out, size_t cap)
{
	out[0] = 0;
	if (!h->link[0] || (!strstr(h->link, "rel=\"next\"") && !strstr(h->link, "rel=next")))
		return 0;
	const char *lt = strchr(h->link, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (!lt || !gt || gt - lt - 1 <= 0 || (size_t)(gt - lt - 1) >= cap)
		return http_fail(h, "a Link header that cannot be followed");
	const char *p = lt + 1;
	size_t n = (size_t)(gt - p), bn = strlen(h->base);
	if (n > bn && strncmp(p, h->base, bn) == 0) /* absolute, on this registry */
		p += bn, n -= bn;
	if (n < 4 || strncmp(p, "/v2/", 4) != 0)
		return http_fail(h, "a Link header leads off the registry's /v2/ API");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return http_fail(h, "a Link header with a bad character");
	memcpy(out, p, n);
	out[n] = 0;
	return 0;
}

/* ---- walking one registry ------------------------------------------------------------------------- */

typedef struct names {
	char **v;
	size_t n, cap;
} names;

static void names_free(names *l)
{
	for (size_t i = 0; i < l->n; i++)
		al_free(l->v[i]);
	al_free(l->v);
	memset(l, 0, sizeof *l);
}

static int names_add(names *l, al_str s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **nv = al_realloc(l->v, cap * sizeof *nv);
		if (nv == NULL)
			return -1;
		l->v = nv;
		l->cap = cap;
	}
	char *p = al_malloc(s.n + 1);
	if (p == NULL)
		return -1;
	memcpy(p, s.p, s.n);
	p[s.n] = 0;
	l->v[l->n++] = p;
	return 0;
}

typedef struct scan {
	http h;
	const char *host;
	msgpack_zone z; /* JSON of the tag being read */
	msgpack_sbuffer img_sb, skip_sb;
	msgpack_packer img, skip;
	uint32_t nimg, nskip;
	bool complete;
} scan;

static void skip(scan *sc, const char *name, const char *arch, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void skip(scan *sc, const char *name, const char *arch, const char *fmt, ...)
{
	char reason[AL_ERR_MSG_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	msgpack_pack_map(&sc->skip, 3);
	al_pack_cstr(&sc->skip, "name");
	al_pack_str(&sc->skip, name, strnlen(name, AL_IMAGE_NAME_MAX));
	al_pack_cstr(&sc->skip, "architecture");
	al_pack_cstr(&sc->skip, arch);
	al_pack_cstr(&sc->skip, "reason");
	al_pack_cstr(&sc->skip, reason);
	sc->nskip++;
}

/*
 * GET first and the pages its Link headers lead to, adding the strings of the array at key of
 * each answer to out (at most max; *truncated when more were left). A 404 on the first page
 * is an empty list when missing_ok. 0, or -1 with h->err.
 */
static int list_pages(scan *sc, const char *first, const char *key, const char *scope, names *out, size_t max,
		      bool missing_ok, bool *truncated)
{
	char path[1100], prev[1100] = "";
	snprintf(path, sizeof path, "%s", first);
	for (int page = 0; path[0]; page++) {
		if (page == PAGES_MAX) {
			*truncated = true;
			return 0;
		}
		if (reg_get(&sc->h, path, NULL, scope))
			return -1;
		if (sc->h.status == 404 && page == 0 && missing_ok)
			return 0;
		if (sc->h.status != 200)
			return http_fail(&sc->h, "GET %.100s: HTTP %ld", path, sc->h.status);
		msgpack_zone z;
		msgpack_object o;
		msgpack_zone_init(&z, 4096);
		int rc = body_json(&sc->h, &z, &o, key);
		const msgpack_object *a = rc ? NULL : al_mp_get(&o, key);
		if (rc == 0 && a && a->type != MSGPACK_OBJECT_ARRAY && a->type != MSGPACK_OBJECT_NIL)
			rc = http_fail(&sc->h, "GET %.100s: \"%s\" is not a list", path, key);
		for (uint32_t i = 0; rc == 0 && a && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size; i++) {
			const msgpack_object *e = &a->via.array.ptr[i];
			if (e->type != MSGPACK_OBJECT_STR)
				continue;
			if (out->n == max) {
				*truncated = true;
				break;
			}
			if (names_add(out, (al_str){e->via.str.ptr, e->via.str.size}))
				rc = http_fail(&sc->h, "out of memory");
		}
		msgpack_zone_destroy(&z);
		if (rc || *truncated)
			return rc;
		snprintf(prev, sizeof prev, "%s", path);
		if (next_page(&sc->h, path, sizeof path))
			return -1;
		if (strcmp(prev, path) == 0) /* a registry pointing at the same page again */
			break;
	}
	return 0;
}

static bool digest_ok(al_str d)
{
	if (d.n != 71 || memcmp(d.p, "sha256:", 7) != 0)
		return false;
	for (size_t i = 7; i < d.n; i++)
		if (!isdigit((unsigned char)d.p[i]) && !(d.p[i] >= 'a' && d.p[i] <= 'f'))
			return false;
	return true;
}

/* Content addressing: the body must hash to the digest it was fetched by. */
static bool body_matches(const http *h, al_str digest)
{
	unsigned char sum[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	crypto_hash_sha256(sum, (const unsigned char *)(h->body ? h->body : ""), h->n);
	sodium_bin2hex(hex, sizeof hex, sum, sizeof sum);
	return digest.n == 71 && memcmp(digest.p + 7, hex, 64) == 0;
}

static int cmp_label(const void *a, const void *b)
{
	const msgpack_object_str *x = &((const msgpack_object_kv *)a)->key.via.str,
				 *y = &((const msgpack_object_kv *)b)->key.via.str;
	int r = memcmp(x->ptr, y->ptr, x->size < y->size ? x->size : y->size);
	return r ? r : (x->size > y->size) - (x->size < y->size);
}

/* The labels as a map sorted by name (so equal labels give equal bytes), checked for size. */
static const char *sort_labels(scan *sc, const msgpack_object *in, msgpack_object *out)
{
	*out = (msgpack_object){.type = MSGPACK_OBJECT_MAP};
	if (in == NULL || in->type == MSGPACK_OBJECT_NIL)
		return NULL;
	if (in->type != MSGPACK_OBJECT_MAP)
		return "labels: not a map";
	uint32_t n = in->via.map.size;
	if (n > LABELS_MAX)
		return "labels: more than 512";
	msgpack_object_kv *kv = n ? al_zone_malloc(&sc->z, n * sizeof *kv) : NULL;
	if (n && kv == NULL)
		return "labels: out of memory";
	for (uint32_t i = 0; i < n; i++) {
		kv[i] = in->via.map.ptr[i];
		if (kv[i].key.type != MSGPACK_OBJECT_STR || kv[i].val.type != MSGPACK_OBJECT_STR)
			return "labels: every label must be text";
		if (kv[i].key.via.str.size == 0 || kv[i].key.via.str.size > LABEL_KEY_MAX)
			return "labels: a label name is empty or longer than 255";
		if (kv[i].val.via.str.size > LABEL_VALUE_MAX)
			return "labels: a label value is longer than 16384";
	}
	if (n > 1)
		qsort(kv, n, sizeof *kv, cmp_label);
	for (uint32_t i = 1; i < n; i++)
		if (cmp_label(&kv[i - 1], &kv[i]) == 0)
			return "labels: a label is given twice";
	out->via.map.size = n;
	out->via.map.ptr = kv;
	return NULL;
}

/* Sum of config and layer sizes from a manifest; -1 when one is missing or bad. */
static int64_t manifest_size(const msgpack_object *m)
{
	int64_t total = 0, v;
	if (al_mp_int(al_mp_get(m, "config"), "size", &v) != 1 || v < 0)
		return -1;
	total = v;
	const msgpack_object *layers = al_mp_get(m, "layers");
	if (layers == NULL || layers->type == MSGPACK_OBJECT_NIL)
		return total;
	if (layers->type != MSGPACK_OBJECT_ARRAY || layers->via.array.size > LAYERS_MAX)
		return -1;
	for (uint32_t i = 0; i < layers->via.array.size; i++) {
		if (al_mp_int(&layers->via.array.ptr[i], "size", &v) != 1 || v < 0 || v > INT64_MAX - total)
			return -1;
		total += v;
	}
	return total;
}

/* An image the registry has (one architecture, its labels as read): packed into the scan's
 * images when its labels pass the checks, else into its skipped list with the reason. */
static void add_image(scan *sc, const char *name, const char *arch, const char *repo, const char *tag,
		      const char *digest, int64_t size, const msgpack_object *raw)
{
	msgpack_object labels;
	const char *why = sort_labels(sc, raw, &labels);
	if (why) {
		skip(sc, name, arch, "%s", why);
		return;
	}
	msgpack_sbuffer lm, acc;
	msgpack_packer lpk, apk;
	msgpack_sbuffer_init(&lm);
	msgpack_sbuffer_init(&acc);
	msgpack_packer_init(&lpk, &lm, al_sbuffer_write);
	msgpack_packer_init(&apk, &acc, al_sbuffer_write);
	al_error e = {0};
	if (al__labels_check(&labels, &lpk, &apk, &e) != AL_OK)
		skip(sc, name, arch, "%s", e.msg);
	else {
		const char *slash = strchr(repo, '/');
		msgpack_packer *pk = &sc->img;
		msgpack_pack_map(pk, 12);
		al_pack_cstr(pk, "name");
		al_pack_cstr(pk, name);
		al_pack_cstr(pk, "architecture");
		al_pack_cstr(pk, arch);
		al_pack_cstr(pk, "registry");
		al_pack_cstr(pk, sc->host);
		al_pack_cstr(pk, "project");
		al_pack_str(pk, repo, slash ? (size_t)(slash - repo) : 0);
		al_pack_cstr(pk, "image");
		al_pack_cstr(pk, repo);
		al_pack_cstr(pk, "tag");
		al_pack_cstr(pk, tag);
		al_pack_cstr(pk, "config_digest");
		al_pack_cstr(pk, digest);
		al_pack_cstr(pk, "size_bytes");
		msgpack_pack_int64(pk, size);
		al_pack_cstr(pk, "type");
		al_pack_cstr(pk, "compute");
		al_pack_cstr(pk, "labels");
		msgpack_pack_object(pk, labels);
		al_pack_cstr(pk, "accelerators");
		pk->callback(pk->data, acc.data, acc.size);
		al_pack_cstr(pk, "label_min");
		pk->callback(pk->data, lm.data, lm.size);
		sc->nimg++;
	}
	al_sbuffer_destroy(&lm);
	al_sbuffer_destroy(&acc);
}


/* One image (one architecture): its config blob, labels, checks; packed or skipped. Returns -1
 * only for a transport failure (the registry scan stops), else 0. */
static int scan_image(scan *sc, const char *repo, const char *tag, const char *name, const char *index_arch,
		      const msgpack_object *m)
{
	const char *sk_arch = index_arch ? index_arch : "";
	al_str cd = {"", 0};
	al_mp_str(al_mp_get(m, "config"), "digest", &cd);
	if (!digest_ok(cd)) {
		skip(sc, name, sk_arch, "manifest: no sha256 config digest");
		return 0;
	}
	int64_t size = manifest_size(m);
	if (size < 0) {
		skip(sc, name, sk_arch, "manifest: config or layer sizes missing or invalid");
		return 0;
	}
	char path[700], digest[72], scope[300];
	snprintf(digest, sizeof digest, "%.*s", (int)cd.n, cd.p);
	snprintf(path, sizeof path, "/v2/%s/blobs/%s", repo, digest);
	snprintf(scope, sizeof scope, "repository:%s:pull", repo);
	if (reg_get(&sc->h, path, NULL, scope))
		return -1;
	if (sc->h.status != 200) {
		skip(sc, name, sk_arch, "config blob: HTTP %ld", sc->h.status);
		return 0;
	}
	if (!body_matches(&sc->h, cd)) {
		skip(sc, name, sk_arch, "config blob: does not match its digest");
		return 0;
	}
	msgpack_object cfg;
	if (body_json(&sc->h, &sc->z, &cfg, "config blob")) {
		skip(sc, name, sk_arch, "%s", sc->h.err);
		return 0;
	}
	char abuf[AL_ARCH_MAX + 8];
	const char *arch = index_arch;
	if (arch == NULL) {
		al_str a = {"", 0}, v = {"", 0};
		al_mp_str(&cfg, "architecture", &a);
		al_mp_str(&cfg, "variant", &v);
		arch = a.n ? al__arch_normalize(a, v, abuf, sizeof abuf) : "x86_64"; /* the platform's default */
		if (!arch[0]) {
			skip(sc, name, "", "config: architecture '%.*s' is not an architecture name", (int)(a.n > 32 ? 32 : a.n), a.p);
			return 0;
		}
	}
	const msgpack_object *inner = al_mp_get(&cfg, "config"), *raw = inner ? al_mp_get(inner, "Labels") : NULL;
	if (raw == NULL || raw->type == MSGPACK_OBJECT_NIL) {
		inner = al_mp_get(&cfg, "container_config");
		raw = inner ? al_mp_get(inner, "Labels") : NULL;
	}
	add_image(sc, name, arch, repo, tag, digest, size, raw);
	return 0;
}

typedef enum { MT_IMAGE, MT_INDEX, MT_SCHEMA1, MT_UNKNOWN } mtype;

/* The manifest's kind from its Content-Type, else its mediaType, else its shape (OCI allows
 * the mediaType field to be absent). */
static mtype manifest_type(const char *ctype, const msgpack_object *m)
{
	char t[128];
	size_t n = strcspn(ctype, "; ");
	snprintf(t, sizeof t, "%.*s", (int)n, ctype);
	al_str mt;
	if ((!t[0] || !strcmp(t, "application/json") || !strcmp(t, "text/plain")) && al_mp_str(m, "mediaType", &mt) == 1)
		snprintf(t, sizeof t, "%.*s", (int)(mt.n > 120 ? 120 : mt.n), mt.p);
	if (!strcmp(t, "application/vnd.docker.distribution.manifest.v2+json") ||
	    !strcmp(t, "application/vnd.oci.image.manifest.v1+json"))
		return MT_IMAGE;
	if (!strcmp(t, "application/vnd.docker.distribution.manifest.list.v2+json") ||
	    !strcmp(t, "application/vnd.oci.image.index.v1+json"))
		return MT_INDEX;
	if (!strncmp(t, "application/vnd.docker.distribution.manifest.v1+", 48))
		return MT_SCHEMA1;
	int64_t v;
	if (al_mp_int(m, "schemaVersion", &v) == 1 && v == 1)
		return MT_SCHEMA1;
	if (al_mp_get(m, "manifests"))
		return MT_INDEX;
	if (al_mp_get(m, "config"))
		return MT_IMAGE;
	return MT_UNKNOWN;
}

/* An attestation or other non-image entry of an index (BuildKit marks them so). */
static bool not_an_image(const msgpack_object *entry)
{
	al_str arch = {"", 0};
	al_mp_str(al_mp_get(entry, "platform"), "architecture", &arch);
	return al_mp_get(al_mp_get(entry, "annotations"), "vnd.docker.reference.type") != NULL || al_str_eq(arch, "unknown");
}

/* Each linux platform of a manifest list / OCI index, fetched by digest. */
static int scan_index(scan *sc, const char *repo, const char *tag, const char *name, const msgpack_object *idx)
{
	const msgpack_object *list = al_mp_get(idx, "manifests");
	char seen[PLATFORMS_MAX][AL_ARCH_MAX + 8], scope[300];
	size_t nseen = 0;
	snprintf(scope, sizeof scope, "repository:%s:pull", repo);
	if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY) {
		skip(sc, name, "", "manifest list: no manifests");
		return 0;
	}
	for (uint32_t i = 0; i < list->via.array.size; i++) {
		const msgpack_object *e = &list->via.array.ptr[i], *pf = al_mp_get(e, "platform");
		al_str os = {"", 0}, a = {"", 0}, v = {"", 0}, d = {"", 0};
		al_mp_str(pf, "os", &os);
		al_mp_str(pf, "architecture", &a);
		al_mp_str(pf, "variant", &v);
		al_mp_str(e, "digest", &d);
		if (not_an_image(e) || !al_str_eq(os, "linux"))
			continue; /* attestations, and platforms that are not for Linux agents */
		char abuf[AL_ARCH_MAX + 8], path[700], digest[72];
		const char *arch = al__arch_normalize(a, v, abuf, sizeof abuf);
		if (!arch[0]) {
			skip(sc, name, "", "manifest list: architecture '%.*s' is not an architecture name",
			     (int)(a.n > 32 ? 32 : a.n), a.p);
			continue;
		}
		bool dup = false;
		for (size_t k = 0; k < nseen; k++)
			dup |= strcmp(seen[k], arch) == 0;
		if (dup) {
			skip(sc, name, arch, "manifest list: two manifests for architecture %s", arch);
			continue;
		}
		if (nseen == PLATFORMS_MAX) {
			skip(sc, name, arch, "manifest list: more than %d platforms", PLATFORMS_MAX);
			continue;
		}
		snprintf(seen[nseen++], sizeof seen[0], "%s", arch);
		if (!digest_ok(d)) {
			skip(sc, name, arch, "manifest list: no sha256 digest for %s", arch);
			continue;
		}
		snprintf(digest, sizeof digest, "%.*s", (int)d.n, d.p);
		snprintf(path, sizeof path, "/v2/%s/manifests/%s", repo, digest);
		if (reg_get(&sc->h, path, accept_manifests, scope))
			return -1;
		msgpack_object m;
		if (sc->h.status != 200)
			skip(sc, name, arch, "manifest %s: HTTP %ld", arch, sc->h.status);
		else if (!body_matches(&sc->h, d))
			skip(sc, name, arch, "manifest %s: does not match its digest", arch);
		else if (body_json(&sc->h, &sc->z, &m, "manifest"))
			skip(sc, name, arch, "%s", sc->h.err);
		else if (manifest_type(sc->h.ctype, &m) != MT_IMAGE)
			skip(sc, name, arch, "manifest %s: not an image manifest", arch);
		else if (scan_image(sc, repo, tag, name, arch, &m))
			return -1;
	}
	return 0;
}

/* One tag: its manifest, then one image or one per platform. -1 only on a transport failure. */
static int scan_tag(scan *sc, const char *repo, const char *tag)
{
	char name[AL_IMAGE_NAME_MAX + 2], path[700], scope[300];
	int w = snprintf(name, sizeof name, "%s/%s:%s", sc->host, repo, tag);
	if (w < 0 || (size_t)w > AL_IMAGE_NAME_MAX) {
		skip(sc, name, "", "the name is longer than %d bytes", AL_IMAGE_NAME_MAX);
		return 0;
	}
	msgpack_zone_clear(&sc->z);
	snprintf(path, sizeof path, "/v2/%s/manifests/%s", repo, tag);
	snprintf(scope, sizeof scope, "repository:%s:pull", repo);
	if (reg_get(&sc->h, path, accept_manifests, scope))
		return -1;
	if (sc->h.status == 404)
		return 0; /* the tag went away since the listing: it is not there */
	if (sc->h.status != 200) {
		skip(sc, name, "", "manifest: HTTP %ld", sc->h.status);
		return 0;
	}
	msgpack_object m;
	if (body_json(&sc->h, &sc->z, &m, "manifest")) {
		skip(sc, name, "", "%s", sc->h.err);
		return 0;
	}
	switch (manifest_type(sc->h.ctype, &m)) {
	case MT_IMAGE: return scan_image(sc, repo, tag, name, NULL, &m);
	case MT_INDEX: return scan_index(sc, repo, tag, name, &m);
	case MT_SCHEMA1: skip(sc, name, "", "manifest: schema 1 is not supported"); return 0;
	default: skip(sc, name, "", "manifest: unknown media type '%.64s'", sc->h.ctype); return 0;
	}
}

static bool in_projects(const al_registry_conf *reg, const char *repo)
{
	if (reg->nprojects == 0)
		return true;
	const char *slash = strchr(repo, '/');
	size_t n = slash ? (size_t)(slash - repo) : 0;
	for (size_t i = 0; i < reg->nprojects; i++)
		if (n && strlen(reg->projects[i]) == n && memcmp(reg->projects[i], repo, n) == 0)
			return true;
	return false;
}

/* Catalog, tags, tags' images. -1 on a failure that stops the registry's scan (h.err). */
static int walk(scan *sc, const al_registry_conf *reg)
{
	progress(sc->host, "connect", reg->url, 0, 0);
	if (reg_get(&sc->h, "/v2/", NULL, ""))
		return -1;
	if (sc->h.status == 404)
		return http_fail(&sc->h, "GET /v2/: HTTP 404: not a Docker Registry HTTP API v2");
	if (sc->h.status != 200)
		return http_fail(&sc->h, "GET /v2/: HTTP %ld", sc->h.status);
	names repos = {0};
	bool truncated = false;
	char first[1100];
	snprintf(first, sizeof first, "/v2/_catalog?n=%d", PAGE);
	progress(sc->host, "catalog", NULL, 0, 0);
	if (list_pages(sc, first, "repositories", "registry:catalog:*", &repos, REPOS_MAX, false, &truncated)) {
		names_free(&repos);
		return -1;
	}
	if (truncated) {
		sc->complete = false;
		skip(sc, sc->host, "", "catalog: more than %d repositories; the rest were not read", REPOS_MAX);
	}
	int rc = 0;
	for (size_t i = 0; i < repos.n && rc == 0; i++) {
		const char *repo = repos.v[i];
		progress(sc->host, "tags", repo, i, repos.n);
		char full[AL_IMAGE_NAME_MAX + 2], scope[300];
		snprintf(full, sizeof full, "%s/%s", sc->host, repo);
		if (!al__ref_repo_ok((al_str){repo, strlen(repo)})) {
			skip(sc, full, "", "the repository name is not valid");
			continue;
		}
		if (!in_projects(reg, repo))
			continue;
		names tags = {0};
		bool tt = false;
		snprintf(first, sizeof first, "/v2/%s/tags/list?n=%d", repo, PAGE);
		snprintf(scope, sizeof scope, "repository:%s:pull", repo);
		if (list_pages(sc, first, "tags", scope, &tags, TAGS_MAX, true, &tt)) {
			if (sc->h.status == 0) /* transport: the registry is gone */
				rc = -1;
			else { /* this repository only: its images are left as they are */
				skip(sc, full, "", "%s", sc->h.err);
				sc->complete = false;
			}
		}
		if (tt) {
			skip(sc, full, "", "tags: more than %d; the rest were not read", TAGS_MAX);
			sc->complete = false;
		}
		for (size_t k = 0; rc == 0 && k < tags.n; k++) {
			if (!al__ref_tag_ok((al_str){tags.v[k], strlen(tags.v[k])})) {
				char bad[AL_IMAGE_NAME_MAX + 2 + 130];
				snprintf(bad, sizeof bad, "%s:%.128s", full, tags.v[k]);
				skip(sc, bad, "", "the tag is not valid");
				continue;
			}
			char shown[AL_IMAGE_NAME_MAX + 2];
			snprintf(shown, sizeof shown, "%s/%s:%s", sc->host, repo, tags.v[k]);
			progress(sc->host, "image", shown, k, tags.n);
			rc = scan_tag(sc, repo, tags.v[k]);
		}
		names_free(&tags);
	}
	names_free(&repos);
	return rc;
}

/* One registry's entry of the prepare output: how the scan went, and (status ok) its images. */
static void pack_registry(const scan *sc, const char *status, const char *const *projects, size_t nprojects,
			  msgpack_packer *pk)
{
	msgpack_pack_map(pk, 7);
	al_pack_cstr(pk, "hostname");
	al_pack_cstr(pk, sc->host);
	al_pack_cstr(pk, "status");
	al_pack_cstr(pk, status);
	al_pack_cstr(pk, "error");
	al_pack_cstr(pk, strcmp(status, "ok") ? sc->h.err : "");
	al_pack_cstr(pk, "complete");
	sc->complete ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	al_pack_cstr(pk, "projects");
	msgpack_pack_array(pk, (uint32_t)nprojects);
	for (size_t i = 0; i < nprojects; i++)
		al_pack_cstr(pk, projects[i]);
	bool keep = strcmp(status, "ok") == 0; /* a failed registry records nothing */
	al_pack_cstr(pk, "images");
	msgpack_pack_array(pk, keep ? sc->nimg : 0);
	if (keep && sc->img_sb.size)
		pk->callback(pk->data, sc->img_sb.data, sc->img_sb.size);
	al_pack_cstr(pk, "skipped");
	msgpack_pack_array(pk, keep ? sc->nskip : 0);
	if (keep && sc->skip_sb.size)
		pk->callback(pk->data, sc->skip_sb.data, sc->skip_sb.size);
}

static void scan_init(scan *sc, const char *host)
{
	memset(sc, 0, sizeof *sc);
	sc->host = host;
	sc->complete = true;
	msgpack_zone_init(&sc->z, 8192);
	msgpack_sbuffer_init(&sc->img_sb);
	msgpack_sbuffer_init(&sc->skip_sb);
	msgpack_packer_init(&sc->img, &sc->img_sb, al_sbuffer_write);
	msgpack_packer_init(&sc->skip, &sc->skip_sb, al_sbuffer_write);
}

static void scan_free(scan *sc)
{
	al_sbuffer_destroy(&sc->img_sb);
	al_sbuffer_destroy(&sc->skip_sb);
	msgpack_zone_destroy(&sc->z);
}

/* Packs one registry's entry of the prepare output; *failed when it could not be read. */
static void scan_registry(al_store *s, const al_registry_conf *reg, long timeout, msgpack_packer *pk, bool *failed,
			  char *why, size_t whyn)
{
	scan sc;
	scan_init(&sc, reg->hostname);
	sc.h.reg = reg;
	sc.h.timeout = timeout;
	snprintf(sc.h.base, sizeof sc.h.base, "%s", reg->url);
	size_t bn = strlen(sc.h.base);
	if (bn && sc.h.base[bn - 1] == '/')
		sc.h.base[bn - 1] = 0;
	unsigned char pw[PASSWORD_MAX + 1];
	size_t pwn = 0;
	const char *status = "ok";
	int rc = 0;
	*failed = false;
	if (strcmp(reg->type, "local") == 0) {
		status = "skipped";
		snprintf(sc.h.err, sizeof sc.h.err, "type local: its images are the agents' local Docker images, not scanned");
		sc.complete = false;
	} else {
		al_error e = {0};
		if (reg->password_sealed[0] &&
		    al__unseal(s, (al_str){reg->password_sealed, strlen(reg->password_sealed)}, pw, PASSWORD_MAX, &pwn, &e))
			rc = http_fail(&sc.h, "password: cannot be unsealed with this data directory's master key");
		pw[pwn] = 0;
		sc.h.pass = (const char *)pw;
		if (rc == 0 && (sc.h.curl = curl_easy_init()) == NULL)
			rc = http_fail(&sc.h, "libcurl: cannot make a handle");
		if (rc == 0)
			rc = walk(&sc, reg);
		if (rc) {
			status = "error";
			sc.complete = false;
			*failed = true;
			snprintf(why, whyn, "%s", sc.h.err);
		}
	}
	progress(sc.host, "done", status, 1, 1);
	pack_registry(&sc, status, (const char *const *)reg->projects, reg->nprojects, pk);
	sodium_memzero(pw, sizeof pw);
	if (sc.h.token) {
		sodium_memzero(sc.h.token, strlen(sc.h.token));
		al_free(sc.h.token);
	}
	if (sc.h.curl)
		curl_easy_cleanup(sc.h.curl);
	al_free(sc.h.body);
	scan_free(&sc);
}

int al__rescan_prep_listed(const char *host, const al_listed_image *imgs, size_t n, al_mb *out, al_error *err)
{
	scan sc;
	scan_init(&sc, host);
	int rc = AL_OK;
	for (size_t i = 0; i < n && rc == AL_OK; i++) {
		const al_listed_image *im = &imgs[i];
		char name[AL_MAX_ID * 2 + 80];
		msgpack_object labels;
		snprintf(name, sizeof name, "%s/%s:%s", host, im->repo, im->tag);
		if (al_mp_decode(im->labels, im->labels_len, &sc.z, &labels) != 0)
			rc = al_err(err, AL_EINVALID_ARGUMENT, "%s: labels are not a msgpack map", name);
		else
			add_image(&sc, name, im->arch, im->repo, im->tag, im->digest, im->size, &labels);
	}
	if (rc == AL_OK) {
		msgpack_packer *pk = al_mb_key(out, "registries");
		msgpack_pack_array(pk, 1);
		pack_registry(&sc, "ok", NULL, 0, pk);
	}
	scan_free(&sc);
	return rc;
}

int al__image_rescan_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	al_str only = {NULL, 0};
	char onlybuf[AL_MAX_ID + 1];
	int64_t timeout = TIMEOUT_DEFAULT;
	if (al_mp_str(args, "registry", &only) == 1 && (only.n == 0 || only.n > AL_MAX_ID))
		return al_err(err, AL_EINVALID_ARGUMENT, "registry: no registry named %.*s", (int)(only.n > 64 ? 64 : only.n),
			      only.p);
	if (al_mp_int(args, "timeout", &timeout) == 1 && (timeout < 1 || timeout > TIMEOUT_MAX))
		return al_err(err, AL_EINVALID_ARGUMENT, "timeout: 1 to %d seconds", TIMEOUT_MAX);
	if (only.p)
		al_str_cpy(onlybuf, sizeof onlybuf, only);
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return al_err(err, AL_EINTERNAL, "libcurl: %s", curl_easy_strerror(curl_init_rc));
	al_registry_conf *regs;
	size_t n;
	int rc = al__registries_load(s, only.p ? onlybuf : NULL, &regs, &n, err);
	if (rc)
		return rc;
	msgpack_packer *pk = al_mb_key(out, "registries");
	msgpack_pack_array(pk, (uint32_t)n);
	size_t scanned = 0, failed = 0;
	char first[200] = "", why[200];
	const char *first_host = "";
	for (size_t i = 0; i < n; i++) {
		bool f;
		scan_registry(s, &regs[i], (long)timeout, pk, &f, why, sizeof why);
		scanned += strcmp(regs[i].type, "local") != 0;
		if (f && failed++ == 0) {
			snprintf(first, sizeof first, "%s", why);
			first_host = regs[i].hostname;
		}
	}
	if (scanned && failed == scanned)
		rc = al_err(err, AL_EIO_ERROR, "registry %.64s: %s", first_host, first);
	al__registries_free(regs, n);
	return rc;
}
