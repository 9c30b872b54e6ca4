/* resources.c - resource slots and storage host permissions (see resources.h). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/resources.h"

const char *const al__host_perms[] = {"create-vfolder", "modify-vfolder", "delete-vfolder", "mount-in-session",
				      "upload-file",    "download-file",  "invite-others",  "set-user-specific-permission",
				      NULL};
#define NPERMS 8

int64_t al__parse_bytes(const char *s, size_t n)
{
	size_t i = 0;
	uint64_t v = 0;
	if (n == 0 || !isdigit((unsigned char)s[0]))
		return -1;
	for (; i < n && isdigit((unsigned char)s[i]); i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > (1ULL << 62))
			return -1;
	}
	int shift = 0;
	if (i < n) {
		const char *u = strchr("kmgtpe", tolower((unsigned char)s[i]));
		if (u == NULL || *u == 0)
			return -1;
		shift = 10 * (int)(u - "kmgtpe" + 1);
		i++;
		if (i < n && (s[i] == 'i' || s[i] == 'I'))
			i++;
		if (i < n && (s[i] == 'b' || s[i] == 'B'))
			i++;
	}
	if (i != n || (shift && v > ((1ULL << 62) >> shift)))
		return -1;
	return (int64_t)(v << shift);
}

typedef struct slot {
	char name[64];
	double amount;
	int64_t bytes; /* >= 0 for byte slots */
} slot;

static int cmp_slot(const void *a, const void *b) { return strcmp(((const slot *)a)->name, ((const slot *)b)->name); }

static int parse_slot(al_error *err, const char *field, const char *p, size_t n, slot *out)
{
	const char *eq = memchr(p, '=', n);
	size_t kn = eq ? (size_t)(eq - p) : 0;
	if (eq == NULL || kn == 0 || kn >= sizeof out->name)
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: expected name=amount, got '%.*s'", field,
			      (int)(n > 64 ? 64 : n), p);
	for (size_t i = 0; i < kn; i++)
		if (!(islower((unsigned char)p[i]) || isdigit((unsigned char)p[i]) || strchr("._-", p[i])))
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: slot name '%.*s' may use a-z 0-9 . _ -", field,
				      (int)kn, p);
	memcpy(out->name, p, kn);
	out->name[kn] = 0;
	const char *v = eq + 1;
	size_t vn = n - kn - 1;
	char num[64];
	if (vn == 0 || vn >= sizeof num)
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: %s needs an amount", field, out->name);
	out->bytes = -1;
	if (strstr(out->name, "mem")) {
		if ((out->bytes = al__parse_bytes(v, vn)) < 0)
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: %s must be a size like 32g, got '%.*s'", field,
				      out->name, (int)vn, v);
		return AL_OK;
	}
	memcpy(num, v, vn);
	num[vn] = 0;
	char *end;
	out->amount = strtod(num, &end);
	if (*end || !isdigit((unsigned char)num[0]) || !(out->amount >= 0 && out->amount <= 1e12))
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: %s must be a number >= 0, got '%s'", field, out->name, num);
	return AL_OK;
}

/* A comma list may not end with an empty entry ("a,b,"). */
static int list_ends_empty(al_error *err, const char *field, al_str text)
{
	if (text.n && text.p[text.n - 1] == ',')
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: ends with an empty entry", field);
	return AL_OK;
}

/* The length of the comma list's entry that starts at i. */
static size_t entry_len(al_str text, size_t i)
{
	size_t len = 0;
	while (i + len < text.n && text.p[i + len] != ',')
		len++;
	return len;
}

int al__slots_pack(al_error *err, const char *field, al_str text, msgpack_packer *pk)
{
	slot s[AL_SLOTS_MAX];
	size_t n = 0;
	if (list_ends_empty(err, field, text))
		return AL_EINVALID_ARGUMENT;
	for (size_t i = 0; i < text.n;) {
		size_t len = entry_len(text, i);
		if (n == AL_SLOTS_MAX)
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: at most %d slots", field, AL_SLOTS_MAX);
		int rc = parse_slot(err, field, text.p + i, len, &s[n]);
		if (rc)
			return rc;
		for (size_t k = 0; k < n; k++)
			if (strcmp(s[k].name, s[n].name) == 0)
				return al_err(err, AL_EINVALID_ARGUMENT, "%s: %s given twice", field, s[n].name);
		n++;
		i += len + 1;
	}
	qsort(s, n, sizeof *s, cmp_slot);
	msgpack_pack_map(pk, (uint32_t)n);
	for (size_t k = 0; k < n; k++) {
		al_pack_cstr(pk, s[k].name);
		if (s[k].bytes >= 0)
			msgpack_pack_int64(pk, s[k].bytes);
		else if (s[k].amount == floor(s[k].amount))
			msgpack_pack_int64(pk, (int64_t)s[k].amount);
		else
			msgpack_pack_double(pk, s[k].amount);
	}
	return AL_OK;
}

typedef struct host {
	char name[128];
	unsigned perms; /* bit i = al__host_perms[i] */
} host;

static int cmp_host(const void *a, const void *b) { return strcmp(((const host *)a)->name, ((const host *)b)->name); }

int al__hostperms_pack(al_error *err, const char *field, al_str text, msgpack_packer *pk)
{
	host h[AL_HOSTS_MAX];
	size_t n = 0;
	if (list_ends_empty(err, field, text))
		return AL_EINVALID_ARGUMENT;
	for (size_t i = 0; i < text.n;) {
		size_t len = entry_len(text, i);
		const char *e = text.p + i, *colon = NULL;
		for (size_t k = 0; k < len; k++)
			if (e[k] == ':')
				colon = e + k;
		size_t hn = colon ? (size_t)(colon - e) : 0, pn = colon ? len - hn - 1 : 0;
		if (colon == NULL || hn == 0 || hn >= sizeof h[0].name)
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: expected HOST:PERMISSION, got '%.*s'", field,
				      (int)(len > 64 ? 64 : len), e);
		unsigned bits = 0;
		if (pn == 3 && memcmp(colon + 1, "all", 3) == 0)
			bits = (1u << NPERMS) - 1;
		for (int p = 0; p < NPERMS && !bits; p++)
			if (strlen(al__host_perms[p]) == pn && memcmp(al__host_perms[p], colon + 1, pn) == 0)
				bits = 1u << p;
		if (bits == 0)
			return al_err(err, AL_EINVALID_ARGUMENT,
				      "%s: unknown permission '%.*s' (create-vfolder, modify-vfolder, delete-vfolder, "
				      "mount-in-session, upload-file, download-file, invite-others, "
				      "set-user-specific-permission or all)",
				      field, (int)(pn > 40 ? 40 : pn), colon + 1);
		size_t k = 0;
		while (k < n && !(strlen(h[k].name) == hn && memcmp(h[k].name, e, hn) == 0))
			k++;
		if (k == n) {
			if (n == AL_HOSTS_MAX)
				return al_err(err, AL_EINVALID_ARGUMENT, "%s: at most %d hosts", field, AL_HOSTS_MAX);
			memcpy(h[n].name, e, hn);
			h[n].name[hn] = 0;
			h[n++].perms = 0;
		}
		h[k].perms |= bits;
		i += len + 1;
	}
	qsort(h, n, sizeof *h, cmp_host);
	msgpack_pack_map(pk, (uint32_t)n);
	for (size_t k = 0; k < n; k++) {
		al_pack_cstr(pk, h[k].name);
		msgpack_pack_array(pk, (uint32_t)__builtin_popcount(h[k].perms));
		for (int p = 0; p < NPERMS; p++)
			if (h[k].perms & (1u << p))
				al_pack_cstr(pk, al__host_perms[p]);
	}
	return AL_OK;
}
