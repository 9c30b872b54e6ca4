/*
 * registry_test.h - what the image tests share (included by test_images.c and test_rescan.c;
 * header-only, so the Makefile needs no new object):
 *   - image builders: a config blob with labels, one layer, a Docker v2 manifest, manifest lists;
 *   - a stub registry: a tiny HTTP/1.1 server on 127.0.0.1 in a thread that serves exact paths,
 *     with switches for bearer-token auth, basic auth, blob redirects, catalog pagination and a
 *     slow answer (what the real registry cannot be made to do);
 *   - the real registry: Debian's docker-registry started on a free port with filesystem
 *     storage in a temp dir (optionally htpasswd basic auth), images pushed by plain HTTP uploads.
 */
#ifndef AL_REGISTRY_TEST_H
#define AL_REGISTRY_TEST_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h" /* th_rmrf */

#define MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"

/* The labels of an image with this kernelspec ("1" is the valid one); extra is appended inside
 * the object (",\"k\":\"v\"" or NULL). malloc'd. */
static inline char *rt_labels_ks(const char *kernelspec, const char *extra)
{
	char *s = NULL;
	if (asprintf(&s,
		     "{\"ai.backend.kernelspec\":\"%s\",\"ai.backend.features\":\"batch query uid-match\","
		     "\"ai.backend.base-distro\":\"ubuntu20.04\",\"ai.backend.runtime-type\":\"python\","
		     "\"ai.backend.runtime-path\":\"/usr/bin/python3\"%s}",
		     kernelspec, extra ? extra : "") < 0)
		abort();
	return s;
}

/* The labels of a valid image. */
static inline char *rt_labels(const char *extra) { return rt_labels_ks("1", extra); }

static inline void rt_digest(const void *p, size_t n, char out[72])
{
	unsigned char sum[32];
	crypto_hash_sha256(sum, p, n);
	memcpy(out, "sha256:", 7);
	sodium_bin2hex(out + 7, 65, sum, 32);
}

/* One image's bytes: config blob, layer, manifest, and their digests. */
typedef struct rt_image {
	char *config, *layer, *manifest;
	size_t config_n, layer_n, manifest_n;
	char config_d[72], layer_d[72], manifest_d[72];
} rt_image;

/* labels: a JSON object text (or "null"); arch: Docker's name (amd64, arm64, ...). */
static inline void rt_image_make(rt_image *im, const char *arch, const char *labels, const char *salt)
{
	memset(im, 0, sizeof *im);
	im->config_n = (size_t)asprintf(&im->config,
					"{\"architecture\":\"%s\",\"os\":\"linux\",\"config\":{\"Labels\":%s},"
					"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
					arch, labels);
	im->layer_n = (size_t)asprintf(&im->layer, "layer %s %s", arch, salt ? salt : "");
	rt_digest(im->config, im->config_n, im->config_d);
	rt_digest(im->layer, im->layer_n, im->layer_d);
	im->manifest_n = (size_t)asprintf(&im->manifest,
					  "{\"schemaVersion\":2,\"mediaType\":\"" MT_MANIFEST "\",\"config\":{\"mediaType\":"
					  "\"application/vnd.docker.container.image.v1+json\",\"size\":%zu,\"digest\":\"%s\"},"
					  "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
					  "\"size\":%zu,\"digest\":\"%s\"}]}",
					  im->config_n, im->config_d, im->layer_n, im->layer_d);
	rt_digest(im->manifest, im->manifest_n, im->manifest_d);
}

static inline void rt_image_free(rt_image *im)
{
	free(im->config);
	free(im->layer);
	free(im->manifest);
}

/* A manifest list (or OCI index when oci) of n images with their Docker architecture names;
 * attest adds a BuildKit attestation entry, which a scan must leave out. malloc'd. */
static inline char *rt_list(const rt_image *ims, const char *const *archs, int n, bool oci, bool attest)
{
	char *s = NULL, *tmp;
	if (asprintf(&s, "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[", oci ? MT_OCI_INDEX : MT_LIST) < 0)
		abort();
	for (int i = 0; i < n; i++) {
		const char *variant = strcmp(archs[i], "arm64") == 0 ? ",\"variant\":\"v8\"" : "";
		if (asprintf(&tmp, "%s%s{\"mediaType\":\"" MT_MANIFEST "\",\"size\":%zu,\"digest\":\"%s\","
				   "\"platform\":{\"architecture\":\"%s\",\"os\":\"linux\"%s}}",
			     s, i ? "," : "", ims[i].manifest_n, ims[i].manifest_d, archs[i], variant) < 0)
			abort();
		free(s);
		s = tmp;
	}
	if (attest) {
		if (asprintf(&tmp, "%s,{\"mediaType\":\"" MT_MANIFEST "\",\"size\":%zu,\"digest\":\"%s\","
				   "\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"},"
				   "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}}",
			     s, ims[0].manifest_n, ims[0].manifest_d) < 0)
			abort();
		free(s);
		s = tmp;
	}
	if (asprintf(&tmp, "%s]}", s) < 0)
		abort();
	free(s);
	return tmp;
}

/* ---- the stub registry ---------------------------------------------------------------------------- */

#define STUB_ROUTES 256

typedef struct stub_route {
	char path[1024]; /* exact, without the query */
	int status;
	char ctype[128];
	char extra[256]; /* more header lines, each ending in CRLF */
	char *body;
	size_t n;
} stub_route;

typedef struct stub {
	int fd, port;
	pthread_t th;
	volatile int stop;
	pthread_mutex_t mu;
	stub_route routes[STUB_ROUTES];
	int nroutes;
	int auth; /* 0 none, 1 basic, 2 bearer (token from /token, which wants basic when user is set) */
	char user[64], pass[64], token[64];
	bool redirect_blobs; /* /v2/<repo>/blobs/<d> answers 307 to http://localhost:<port>/redirected/<d>,
			      * "another host" for libcurl (like a registry's storage) */
	char *catalog[64];   /* when set, /v2/_catalog pages through these n at a time (Link) */
	int ncatalog;
	int delay_ms; /* wait this long before every answer */
	int requests, token_requests, redirects_followed;
	char last_auth[512]; /* the Authorization header of the last registry request */
	char last_token_query[512];
	char redirect_auth[512]; /* the Authorization header a redirected request carried ("" = none) */
} stub;

static inline void stub_add_hdr(stub *st, const char *path, int status, const char *ctype, const char *extra,
				const void *body, size_t n)
{
	pthread_mutex_lock(&st->mu);
	stub_route *r = NULL;
	for (int i = 0; i < st->nroutes && !r; i++)
		if (strcmp(st->routes[i].path, path) == 0)
			r = &st->routes[i];
	if (r == NULL && st->nroutes < STUB_ROUTES)
		r = &st->routes[st->nroutes++];
	if (r) {
		free(r->body);
		snprintf(r->path, sizeof r->path, "%s", path);
		r->status = status;
		snprintf(r->ctype, sizeof r->ctype, "%s", ctype ? ctype : "application/json");
		snprintf(r->extra, sizeof r->extra, "%s", extra ? extra : "");
		r->body = malloc(n + 1);
		memcpy(r->body, body, n);
		r->n = n;
	}
	pthread_mutex_unlock(&st->mu);
}

static inline void stub_add(stub *st, const char *path, int status, const char *ctype, const void *body, size_t n)
{
	stub_add_hdr(st, path, status, ctype, NULL, body, n);
}

static inline void stub_del(stub *st, const char *path)
{
	pthread_mutex_lock(&st->mu);
	for (int i = 0; i < st->nroutes; i++)
		if (strcmp(st->routes[i].path, path) == 0)
			st->routes[i].path[0] = 0; /* never matches again */
	pthread_mutex_unlock(&st->mu);
}

/* Serves an image's blobs and its manifest under tag (and under its digest). */
static inline void stub_put_image(stub *st, const char *repo, const char *tag, const rt_image *im)
{
	char p[600];
	snprintf(p, sizeof p, "/v2/%s/blobs/%s", repo, im->config_d);
	stub_add(st, p, 200, "application/octet-stream", im->config, im->config_n);
	snprintf(p, sizeof p, "/v2/%s/blobs/%s", repo, im->layer_d);
	stub_add(st, p, 200, "application/octet-stream", im->layer, im->layer_n);
	snprintf(p, sizeof p, "/v2/%s/manifests/%s", repo, im->manifest_d);
	stub_add(st, p, 200, MT_MANIFEST, im->manifest, im->manifest_n);
	if (tag) {
		snprintf(p, sizeof p, "/v2/%s/manifests/%s", repo, tag);
		stub_add(st, p, 200, MT_MANIFEST, im->manifest, im->manifest_n);
	}
}

static inline void stub_tags(stub *st, const char *repo, const char *tags_json)
{
	char p[600], *b = NULL;
	snprintf(p, sizeof p, "/v2/%s/tags/list", repo);
	int n = asprintf(&b, "{\"name\":\"%s\",\"tags\":%s}", repo, tags_json);
	stub_add(st, p, 200, "application/json", b, (size_t)n);
	free(b);
}

/* The value of header name in a request, into out. */
static inline void stub_header(const char *req, const char *name, char *out, size_t cap)
{
	out[0] = 0;
	size_t nn = strlen(name);
	for (const char *p = strstr(req, "\r\n"); p; p = strstr(p + 2, "\r\n"))
		if (strncasecmp(p + 2, name, nn) == 0 && p[2 + nn] == ':') {
			const char *v = p + 3 + nn, *e = strstr(v, "\r\n");
			while (*v == ' ')
				v++;
			snprintf(out, cap, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
			return;
		}
}

static inline void stub_reply(int c, int status, const char *ctype, const char *extra, const char *body, size_t n)
{
	char h[2048];
	int hn = snprintf(h, sizeof h,
			  "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
			  ctype ? ctype : "application/json", n, extra ? extra : "");
	/* MSG_NOSIGNAL: a client that gave up (a timeout test) must not kill the test with SIGPIPE */
	if (send(c, h, (size_t)hn, MSG_NOSIGNAL) < 0 || (n && send(c, body, n, MSG_NOSIGNAL) < 0))
		return;
}

static inline bool stub_basic_ok(stub *st, const char *auth)
{
	char plain[160], enc[240];
	snprintf(plain, sizeof plain, "%s:%s", st->user, st->pass);
	sodium_bin2base64(enc, sizeof enc, (const unsigned char *)plain, strlen(plain), sodium_base64_VARIANT_ORIGINAL);
	return strncmp(auth, "Basic ", 6) == 0 && strcmp(auth + 6, enc) == 0;
}

/* The catalog page after last (query "last=...") with n entries, and its Link. */
static inline void stub_catalog(stub *st, int c, const char *query)
{
	int n = 2, start = 0;
	const char *q = strstr(query, "n=");
	if (q)
		n = atoi(q + 2) < 2 ? atoi(q + 2) : 2; /* pages of 2 whatever is asked, to test the Link */
	if (n < 1)
		n = 1;
	const char *l = strstr(query, "last=");
	if (l) {
		char last[128];
		snprintf(last, sizeof last, "%.*s", (int)strcspn(l + 5, "&"), l + 5);
		for (int i = 0; i < st->ncatalog; i++)
			if (strcmp(st->catalog[i], last) == 0)
				start = i + 1;
	}
	char body[8192] = "{\"repositories\":[", link[600] = "";
	for (int i = start; i < st->ncatalog && i < start + n; i++)
		snprintf(body + strlen(body), sizeof body - strlen(body), "%s\"%s\"", i > start ? "," : "", st->catalog[i]);
	strcat(body, "]}");
	if (start + n < st->ncatalog)
		snprintf(link, sizeof link, "Link: </v2/_catalog?last=%s&n=%d>; rel=\"next\"\r\n", st->catalog[start + n - 1], n);
	stub_reply(c, 200, "application/json", link, body, strlen(body));
}

static inline void stub_serve(stub *st, int c)
{
	char req[16384];
	size_t n = 0;
	struct timeval tv = {2, 0};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	while (n < sizeof req - 1) {
		ssize_t k = read(c, req + n, sizeof req - 1 - n);
		if (k <= 0)
			return;
		n += (size_t)k;
		req[n] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	for (int waited = 0; waited < st->delay_ms && !st->stop; waited += 10) { /* a slow registry */
		struct timespec ts = {0, 10000000L};
		nanosleep(&ts, NULL);
	}
	char path[1024], auth[512];
	if (sscanf(req, "GET %1023s", path) != 1) {
		stub_reply(c, 405, NULL, NULL, "", 0);
		return;
	}
	char *query = strchr(path, '?');
	if (query)
		*query++ = 0;
	stub_header(req, "Authorization", auth, sizeof auth);
	pthread_mutex_lock(&st->mu);
	st->requests++;
	if (strcmp(path, "/token") == 0) {
		st->token_requests++;
		snprintf(st->last_token_query, sizeof st->last_token_query, "%s", query ? query : "");
		if (st->user[0] && !stub_basic_ok(st, auth)) {
			pthread_mutex_unlock(&st->mu);
			stub_reply(c, 401, NULL, "WWW-Authenticate: Basic realm=\"token\"\r\n", "{}", 2);
			return;
		}
		char body[256];
		snprintf(body, sizeof body, "{\"token\":\"%s\",\"expires_in\":300}", st->token);
		pthread_mutex_unlock(&st->mu);
		stub_reply(c, 200, NULL, NULL, body, strlen(body));
		return;
	}
	if (strncmp(path, "/redirected/", 12) != 0) { /* redirect targets are "another host": no auth */
		snprintf(st->last_auth, sizeof st->last_auth, "%s", auth);
		char want[128], hdr[600];
		if (st->auth == 1 && !stub_basic_ok(st, auth)) {
			pthread_mutex_unlock(&st->mu);
			stub_reply(c, 401, NULL, "WWW-Authenticate: Basic realm=\"stub\"\r\n", "{}", 2);
			return;
		}
		snprintf(want, sizeof want, "Bearer %s", st->token);
		if (st->auth == 2 && strcmp(auth, want) != 0) {
			snprintf(hdr, sizeof hdr,
				 "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\",service=\"stub-registry\"\r\n",
				 st->port);
			pthread_mutex_unlock(&st->mu);
			stub_reply(c, 401, NULL, hdr, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}", 36);
			return;
		}
	} else {
		st->redirects_followed++;
		snprintf(st->redirect_auth, sizeof st->redirect_auth, "%s", auth);
	}
	if (strcmp(path, "/v2/_catalog") == 0 && st->ncatalog) {
		stub_catalog(st, c, query ? query : "");
		pthread_mutex_unlock(&st->mu);
		return;
	}
	if (st->redirect_blobs && strncmp(path, "/v2/", 4) == 0 && strstr(path, "/blobs/sha256:")) {
		char loc[700];
		snprintf(loc, sizeof loc, "Location: http://localhost:%d/redirected/%s\r\n", st->port,
			 strstr(path, "/blobs/") + 7);
		pthread_mutex_unlock(&st->mu);
		stub_reply(c, 307, NULL, loc, "", 0);
		return;
	}
	char look[1100];
	snprintf(look, sizeof look, "%s", path);
	if (strncmp(path, "/redirected/", 12) == 0) { /* serve the blob whose digest it names */
		for (int i = 0; i < st->nroutes; i++) {
			const char *b = strstr(st->routes[i].path, "/blobs/");
			if (b && strcmp(b + 7, path + 12) == 0) {
				snprintf(look, sizeof look, "%s", st->routes[i].path);
				break;
			}
		}
	}
	for (int i = 0; i < st->nroutes; i++)
		if (strcmp(st->routes[i].path, look) == 0) {
			stub_route r = st->routes[i];
			char *copy = malloc(r.n + 1);
			memcpy(copy, r.body, r.n);
			pthread_mutex_unlock(&st->mu);
			stub_reply(c, r.status, r.ctype, r.extra, copy, r.n);
			free(copy);
			return;
		}
	pthread_mutex_unlock(&st->mu);
	if (strcmp(path, "/v2/") == 0)
		stub_reply(c, 200, NULL, NULL, "{}", 2);
	else
		stub_reply(c, 404, NULL, NULL, "{\"errors\":[{\"code\":\"NOT_FOUND\"}]}", 33);
}

static inline void *stub_main(void *arg)
{
	stub *st = arg;
	while (!st->stop) {
		struct pollfd p = {st->fd, POLLIN, 0};
		if (poll(&p, 1, 20) <= 0)
			continue;
		int c = accept(st->fd, NULL, NULL);
		if (c < 0)
			continue;
		stub_serve(st, c);
		shutdown(c, SHUT_WR);
		close(c);
	}
	return NULL;
}

/* Starts a stub on 127.0.0.1 on a port the kernel picks; the registry's hostname is
 * "127.0.0.1:<port>". 0 on success. */
static inline int stub_start(stub *st)
{
	memset(st, 0, sizeof *st);
	pthread_mutex_init(&st->mu, NULL);
	snprintf(st->token, sizeof st->token, "tok-%08x", (unsigned)randombytes_random());
	st->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (st->fd < 0 || bind(st->fd, (struct sockaddr *)&a, sizeof a) || listen(st->fd, 16) ||
	    getsockname(st->fd, (struct sockaddr *)&a, &al))
		return -1;
	st->port = ntohs(a.sin_port);
	return pthread_create(&st->th, NULL, stub_main, st);
}

static inline void stub_stop(stub *st)
{
	st->stop = 1;
	pthread_join(st->th, NULL);
	close(st->fd);
	for (int i = 0; i < st->nroutes; i++)
		free(st->routes[i].body);
	for (int i = 0; i < st->ncatalog; i++)
		free(st->catalog[i]);
	pthread_mutex_destroy(&st->mu);
}

/* ---- the real registry ------------------------------------------------------------------------------- */

typedef struct realreg {
	pid_t pid;
	int port;
	char dir[256], base[64];
} realreg;

/* The bcrypt hash of "s3cret" at cost 4 (the registry's htpasswd auth wants bcrypt; made once
 * with a bcrypt implementation, fixed here so the test needs no htpasswd tool). */
#define RT_HTPASSWD "tester:$2b$04$rPS0n/M.6epmWHeFy4L8CO/iQPyTUrz7/J7.g0gAMpeKnX54f32Ji\n"
#define RT_USER "tester"
#define RT_PASS "s3cret"

static inline int rt_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Starts /usr/bin/docker-registry with filesystem storage in a fresh temp dir, listening on
 * 127.0.0.1 on a port the kernel picks (read back from its log: no guessed port, no fixed
 * sleep), with htpasswd basic auth when basic. The child dies with the test (PDEATHSIG). */
static inline int realreg_start(realreg *r, bool basic, char *why, size_t whyn)
{
	memset(r, 0, sizeof *r);
	snprintf(r->dir, sizeof r->dir, "%s/adminlog-registry-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(r->dir) == NULL)
		return snprintf(why, whyn, "mkdtemp: %s", strerror(errno)), -1;
	char cfg[512], log[512], htp[512], text[2048];
	snprintf(cfg, sizeof cfg, "%s/config.yml", r->dir);
	snprintf(log, sizeof log, "%s/log", r->dir);
	snprintf(htp, sizeof htp, "%s/htpasswd", r->dir);
	snprintf(text, sizeof text,
		 "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n"
		 "    rootdirectory: %s/store\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n"
		 "  secret: adminlog-test\n%s%s%s",
		 r->dir, basic ? "auth:\n  htpasswd:\n    realm: test\n    path: " : "", basic ? htp : "", basic ? "\n" : "");
	if (rt_write(cfg, text) || (basic && rt_write(htp, RT_HTPASSWD)))
		return snprintf(why, whyn, "cannot write the registry's config"), -1;
	pid_t parent = getpid();
	r->pid = fork();
	if (r->pid < 0)
		return snprintf(why, whyn, "fork: %s", strerror(errno)), -1;
	if (r->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test, even when it crashes */
		if (getppid() != parent)
			_exit(1);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/usr/bin/docker-registry", "docker-registry", "serve", cfg, (char *)NULL);
		fprintf(stderr, "exec /usr/bin/docker-registry: %s\n", strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < 2000 && r->port == 0; i++) { /* up to 20 s; it takes well under one */
		FILE *f = fopen(log, "r");
		char line[1024];
		while (f && fgets(line, sizeof line, f)) {
			const char *p = strstr(line, "listening on 127.0.0.1:");
			if (p)
				r->port = atoi(p + 23);
		}
		if (f)
			fclose(f);
		int st;
		if (r->port == 0 && waitpid(r->pid, &st, WNOHANG) == r->pid) {
			r->pid = 0;
			return snprintf(why, whyn, "docker-registry exited (is the docker-registry package installed? "
						    "tools/deps.sh installs it); see %s",
					log),
			       -1;
		}
		if (r->port == 0) {
			struct timespec ts = {0, 10000000L};
			nanosleep(&ts, NULL);
		}
	}
	if (r->port == 0)
		return snprintf(why, whyn, "docker-registry did not start listening; see %s", log), -1;
	snprintf(r->base, sizeof r->base, "http://127.0.0.1:%d", r->port);
	return 0;
}

static inline void realreg_stop(realreg *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
	}
	if (r->dir[0])
		th_rmrf(strdup(r->dir));
}

typedef struct rt_resp {
	long status;
	char location[1024];
} rt_resp;

static inline size_t rt_hdr(char *p, size_t size, size_t nmemb, void *ctx)
{
	rt_resp *r = ctx;
	size_t n = size * nmemb;
	if (n > 9 && strncasecmp(p, "Location:", 9) == 0) {
		const char *v = p + 9;
		while (*v == ' ')
			v++;
		snprintf(r->location, sizeof r->location, "%.*s", (int)strcspn(v, "\r\n"), v);
	}
	return n;
}

static inline size_t rt_sink(char *p, size_t size, size_t nmemb, void *ctx)
{
	(void)p, (void)ctx;
	return size * nmemb;
}

/* One request to the real registry (method, absolute URL, body); the status and Location. */
static inline long rt_http(const char *method, const char *url, const void *body, size_t n, const char *ctype,
			   const char *userpwd, rt_resp *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char ct[200];
	memset(out, 0, sizeof *out);
	snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/octet-stream");
	h = curl_slist_append(h, ct);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, rt_hdr);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rt_sink);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (userpwd)
		curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)n);
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return out->status;
}

/* POST an upload, then PUT the bytes with their digest (the monolithic upload of the API). */
static inline int rt_push_blob(const realreg *r, const char *repo, const void *data, size_t n, const char *digest,
			       const char *userpwd)
{
	char url[1400];
	rt_resp resp;
	snprintf(url, sizeof url, "%s/v2/%s/blobs/uploads/", r->base, repo);
	if (rt_http("POST", url, NULL, 0, NULL, userpwd, &resp) != 202 || !resp.location[0])
		return -1;
	if (resp.location[0] == '/')
		snprintf(url, sizeof url, "%s%s%cdigest=%s", r->base, resp.location, strchr(resp.location, '?') ? '&' : '?',
			 digest);
	else
		snprintf(url, sizeof url, "%s%cdigest=%s", resp.location, strchr(resp.location, '?') ? '&' : '?', digest);
	return rt_http("PUT", url, data, n, NULL, userpwd, &resp) == 201 ? 0 : -1;
}

static inline int rt_push_manifest(const realreg *r, const char *repo, const char *ref, const char *body,
				   const char *mt, const char *userpwd)
{
	char url[1400];
	rt_resp resp;
	snprintf(url, sizeof url, "%s/v2/%s/manifests/%s", r->base, repo, ref);
	return rt_http("PUT", url, body, strlen(body), mt, userpwd, &resp) == 201 ? 0 : -1;
}

/* Blobs and manifest of an image, tagged tag (NULL: by digest only, for manifest lists). */
static inline int rt_push_image(const realreg *r, const char *repo, const char *tag, const rt_image *im,
				const char *userpwd)
{
	if (rt_push_blob(r, repo, im->config, im->config_n, im->config_d, userpwd) ||
	    rt_push_blob(r, repo, im->layer, im->layer_n, im->layer_d, userpwd))
		return -1;
	return rt_push_manifest(r, repo, tag ? tag : im->manifest_d, im->manifest, MT_MANIFEST, userpwd);
}

static inline int rt_delete_manifest(const realreg *r, const char *repo, const char *digest)
{
	char url[1400];
	rt_resp resp;
	snprintf(url, sizeof url, "%s/v2/%s/manifests/%s", r->base, repo, digest);
	return rt_http("DELETE", url, NULL, 0, NULL, NULL, &resp) == 202 ? 0 : -1;
}

#endif
