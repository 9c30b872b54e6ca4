/* slotvec.c - resource slots as numbers to add up (see slotvec.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/slotvec.h"

double al_slot_round(double x) { return fabs(x) >= 1e9 ? round(x) : round(x * 1e6) / 1e6; }

/* Whole numbers below 2^53 print and pack as integers (bytes, counts). */
static bool whole(double x) { return x == floor(x) && fabs(x) < 9007199254740992.0; }

/* The position of name in v, or where it would go (*found false). */
static uint32_t find(const al_slotvec *v, const char *name, size_t len, bool *found)
{
	uint32_t lo = 0, hi = v->n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		int c = strncmp(v->s[mid].name, name, len);
		if (c == 0 && v->s[mid].name[len] != 0)
			c = 1;
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

/* The slot name in v, added at 0 when absent; NULL when v is full or the name too long. */
static al_slot *slot_at(al_slotvec *v, const char *name, size_t len)
{
	bool found;
	if (len == 0 || len > AL_SLOT_NAME_MAX)
		return NULL;
	uint32_t i = find(v, name, len, &found);
	if (found)
		return &v->s[i];
	if (v->n == AL_SLOTS_MAX)
		return NULL;
	memmove(&v->s[i + 1], &v->s[i], (v->n - i) * sizeof *v->s);
	v->n++;
	memcpy(v->s[i].name, name, len);
	v->s[i].name[len] = 0;
	v->s[i].v = 0;
	return &v->s[i];
}

/* A stored amount: plain digits (most: cores, bytes, devices) without strtod, else strtod. */
static int parse_amount(const char *p, size_t n, double *out)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < n && i < 18 && p[i] >= '0' && p[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	if (i == n && n > 0) {
		*out = (double)v;
		return 0;
	}
	char num[64];
	if (n == 0 || n >= sizeof num)
		return -1;
	memcpy(num, p, n);
	num[n] = 0;
	char *stop;
	*out = strtod(num, &stop);
	return *stop || !isfinite(*out) ? -1 : 0;
}

/* A whole amount below 2^53 in decimal digits (snprintf is most of a format's cost). */
static size_t put_whole(char *buf, double v)
{
	char tmp[24];
	size_t n = 0;
	bool neg = v < 0;
	uint64_t u = (uint64_t)(neg ? -v : v);
	do
		tmp[n++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	size_t len = 0;
	if (neg)
		buf[len++] = '-';
	while (n)
		buf[len++] = tmp[--n];
	return len;
}

int al_slotvec_parse(al_slotvec *out, al_str text)
{
	out->n = 0;
	for (size_t i = 0; i < text.n;) {
		const char *end = memchr(text.p + i, ',', text.n - i), *eq;
		size_t len = end ? (size_t)(end - text.p) - i : text.n - i;
		if ((eq = memchr(text.p + i, '=', len)) == NULL)
			return -1;
		size_t kn = (size_t)(eq - (text.p + i)), vn = len - kn - 1;
		double x;
		al_slot *s = slot_at(out, text.p + i, kn);
		if (s == NULL || parse_amount(eq + 1, vn, &x) != 0)
			return -1;
		s->v = x;
		i += len + 1;
	}
	return 0;
}

int al_slotvec_add(al_slotvec *v, const al_slotvec *w, double k)
{
	for (uint32_t i = 0; i < w->n; i++) {
		al_slot *s = slot_at(v, w->s[i].name, strlen(w->s[i].name));
		if (s == NULL)
			return -1;
		s->v = al_slot_round(s->v + k * w->s[i].v);
	}
	return 0;
}

double al_slotvec_get(const al_slotvec *v, al_str name)
{
	bool found;
	uint32_t i = find(v, name.p, name.n, &found);
	return found ? v->s[i].v : 0;
}

al_str al_slotvec_format(const al_slotvec *v, char *buf, size_t n)
{
	size_t len = 0;
	buf[0] = 0;
	for (uint32_t i = 0; i < v->n; i++) {
		char num[40];
		size_t nn;
		if (v->s[i].v == 0)
			continue;
		if (whole(v->s[i].v))
			nn = put_whole(num, v->s[i].v); /* bytes as digits, never 1e+15 */
		else
			nn = strlen(al_double_str(v->s[i].v, num, sizeof num));
		size_t kn = strlen(v->s[i].name);
		if (len + 1 + kn + 1 + nn >= n) {
			buf[0] = 0;
			return (al_str){buf, 0};
		}
		if (len)
			buf[len++] = ',';
		memcpy(buf + len, v->s[i].name, kn), len += kn;
		buf[len++] = '=';
		memcpy(buf + len, num, nn), len += nn;
	}
	buf[len] = 0;
	return (al_str){buf, len};
}

void al_slotvec_pack(const al_slotvec *v, msgpack_packer *pk)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < v->n; i++)
		n += v->s[i].v != 0;
	msgpack_pack_map(pk, n);
	for (uint32_t i = 0; i < v->n; i++) {
		if (v->s[i].v == 0)
			continue;
		al_pack_cstr(pk, v->s[i].name);
		if (whole(v->s[i].v))
			msgpack_pack_int64(pk, (int64_t)v->s[i].v);
		else
			msgpack_pack_double(pk, v->s[i].v);
	}
}

bool al_slotvec_same(const al_slotvec *a, const al_slotvec *b)
{
	const al_slotvec *side[2] = {a, b};
	for (int k = 0; k < 2; k++)
		for (uint32_t i = 0; i < side[k]->n; i++) {
			al_str name = {side[k]->s[i].name, strlen(side[k]->s[i].name)};
			if (al_slot_round(side[k]->s[i].v - al_slotvec_get(side[1 - k], name)) != 0)
				return false;
		}
	return true;
}
