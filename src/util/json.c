/*
 * json.c - the bounded JSON reader of json.h: recursive descent over the input, children of
 * the containers being read kept on one growing stack (LIFO, so nested containers stack above
 * their parent's elements) and copied into the zone when their container closes, because a
 * msgpack container needs its element count before its elements.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

typedef struct jp {
	const unsigned char *p, *end, *start;
	msgpack_zone *z;
	msgpack_object *stack; /* children of the open containers */
	size_t sp, cap;
	size_t nodes;
	al_error *err;
} jp;

static int fail(jp *j, const char *why)
{
	return al_err(j->err, AL_EINVALID_ARGUMENT, "json: offset %zu: %s", (size_t)(j->p - j->start), why);
}

static void skip_ws(jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int push(jp *j, const msgpack_object *o)
{
	if (j->sp == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 64;
		msgpack_object *n = al_realloc(j->stack, cap * sizeof *n);
		if (n == NULL)
			return al_err(j->err, AL_ENO_MEMORY, "json: out of memory");
		j->stack = n;
		j->cap = cap;
	}
	j->stack[j->sp++] = *o;
	return AL_OK;
}

/* Length of the UTF-8 sequence at p (at most avail bytes), or 0 when it is not a valid,
 * shortest-form encoding of a scalar value (no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
	unsigned c = p[0];
	size_t n;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static size_t put_utf8(unsigned char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Four hex digits after "\u"; -1 when malformed. */
static long hex4(jp *j)
{
	if (j->end - j->p < 4)
		return -1;
	long v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char c = j->p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	j->p += 4;
	return v;
}

/* One escape after the backslash, appended to o; how many bytes, or 0 after fail(). */
static size_t escape(jp *j, unsigned char *o)
{
	unsigned char c = *j->p++;
	switch (c) {
	case '"': case '\\': case '/': *o = c; return 1;
	case 'b': *o = '\b'; return 1;
	case 'f': *o = '\f'; return 1;
	case 'n': *o = '\n'; return 1;
	case 'r': *o = '\r'; return 1;
	case 't': *o = '\t'; return 1;
	case 'u': break;
	default: j->p--; fail(j, "unknown escape"); return 0;
	}
	long cp = hex4(j);
	if (cp < 0)
		return fail(j, "\\u needs four hex digits"), 0;
	if (cp == 0)
		return fail(j, "\\u0000 is not accepted"), 0;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(j, "lone low surrogate"), 0;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
			return fail(j, "high surrogate without its low surrogate"), 0;
		j->p += 2;
		long lo = hex4(j);
		if (lo < 0xdc00 || lo > 0xdfff)
			return fail(j, "high surrogate without its low surrogate"), 0;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	return put_utf8(o, (unsigned)cp);
}

/* A string starting at the opening quote. The decoded text is never longer than the raw one
 * (an escape of n bytes decodes to at most n bytes), so one allocation of the raw length fits. */
static int string(jp *j, msgpack_object *out)
{
	const unsigned char *q = ++j->p;
	while (q < j->end && *q != '"') /* the raw extent, to size the copy */
		q += *q == '\\' && q + 1 < j->end ? 2 : 1;
	if (q >= j->end)
		return fail(j, "unterminated string");
	size_t raw = (size_t)(q - j->p);
	if (raw > UINT32_MAX)
		return fail(j, "string too long");
	unsigned char *o = al_zone_malloc(j->z, raw ? raw : 1), *w = o;
	if (o == NULL)
		return al_err(j->err, AL_ENO_MEMORY, "json: out of memory");
	while (*j->p != '"') {
		unsigned char c = *j->p;
		if (c < 0x20)
			return fail(j, "control character in a string");
		if (c == '\\') {
			j->p++;
			size_t k = escape(j, w);
			if (k == 0)
				return AL_EINVALID_ARGUMENT;
			w += k;
			continue;
		}
		size_t k = utf8_len(j->p, (size_t)(j->end - j->p));
		if (k == 0)
			return fail(j, "invalid UTF-8");
		memcpy(w, j->p, k);
		w += k;
		j->p += k;
	}
	j->p++;
	out->type = MSGPACK_OBJECT_STR;
	out->via.str.ptr = (const char *)o;
	out->via.str.size = (uint32_t)(w - o);
	return AL_OK;
}

static bool digit(jp *j) { return j->p < j->end && *j->p >= '0' && *j->p <= '9'; }

/* RFC 8259 number grammar; integers that fit become integers, the rest doubles. */
static int number(jp *j, msgpack_object *out)
{
	const unsigned char *s = j->p;
	bool neg = false, integral = true;
	if (*j->p == '-')
		neg = true, j->p++;
	if (!digit(j))
		return fail(j, "a number needs a digit");
	if (*j->p == '0')
		j->p++;
	else
		while (digit(j))
			j->p++;
	if (j->p < j->end && *j->p == '.') {
		integral = false;
		j->p++;
		if (!digit(j))
			return fail(j, "a digit must follow the decimal point");
		while (digit(j))
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		integral = false;
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!digit(j))
			return fail(j, "an exponent needs a digit");
		while (digit(j))
			j->p++;
	}
	size_t n = (size_t)(j->p - s);
	char tmp[64];
	if (n >= sizeof tmp)
		return fail(j, "number too long");
	memcpy(tmp, s, n);
	tmp[n] = 0;
	errno = 0;
	if (integral && !neg) {
		unsigned long long v = strtoull(tmp, NULL, 10);
		if (errno == 0) {
			out->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
			out->via.u64 = v;
			return AL_OK;
		}
	} else if (integral) {
		long long v = strtoll(tmp, NULL, 10);
		if (errno == 0) {
			/* msgpack keeps non-negative integers as POSITIVE_INTEGER ("-0" is 0) */
			out->type = v < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER : MSGPACK_OBJECT_POSITIVE_INTEGER;
			if (v < 0)
				out->via.i64 = v;
			else
				out->via.u64 = 0;
			return AL_OK;
		}
	}
	out->type = MSGPACK_OBJECT_FLOAT64;
	out->via.f64 = strtod(tmp, NULL);
	if (isinf(out->via.f64)) /* would print as "inf", which is no JSON */
		return fail(j, "number out of range");
	return AL_OK;
}

static bool word(jp *j, const char *w, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return false;
	j->p += n;
	return true;
}

static int value(jp *j, msgpack_object *out, unsigned depth);

/* The elements pushed since base, moved into the zone as array or map (pairs) contents. */
static int close_container(jp *j, size_t base, bool map, msgpack_object *out)
{
	size_t n = j->sp - base;
	if (map) {
		msgpack_object_kv *kv = n ? al_zone_malloc(j->z, n / 2 * sizeof *kv) : NULL;
		if (n && kv == NULL)
			return al_err(j->err, AL_ENO_MEMORY, "json: out of memory");
		for (size_t i = 0; i < n / 2; i++) {
			kv[i].key = j->stack[base + 2 * i];
			kv[i].val = j->stack[base + 2 * i + 1];
		}
		out->type = MSGPACK_OBJECT_MAP;
		out->via.map.size = (uint32_t)(n / 2);
		out->via.map.ptr = kv;
	} else {
		msgpack_object *a = n ? al_zone_malloc(j->z, n * sizeof *a) : NULL;
		if (n && a == NULL)
			return al_err(j->err, AL_ENO_MEMORY, "json: out of memory");
		if (n)
			memcpy(a, j->stack + base, n * sizeof *a);
		out->type = MSGPACK_OBJECT_ARRAY;
		out->via.array.size = (uint32_t)n;
		out->via.array.ptr = a;
	}
	j->sp = base;
	return AL_OK;
}

/* An array or an object, starting at its bracket. */
static int container(jp *j, msgpack_object *out, unsigned depth, bool map)
{
	if (depth >= AL_JSON_MAX_DEPTH)
		return fail(j, "nested too deeply");
	unsigned char close = map ? '}' : ']';
	size_t base = j->sp;
	int rc;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return close_container(j, base, map, out);
	}
	for (;;) {
		msgpack_object o;
		skip_ws(j);
		if (map) {
			if (j->p >= j->end || *j->p != '"')
				return fail(j, "an object key must be a string");
			if ((rc = string(j, &o)) || (rc = push(j, &o)))
				return rc;
			skip_ws(j);
			if (j->p >= j->end || *j->p != ':')
				return fail(j, "':' expected after an object key");
			j->p++;
		}
		if ((rc = value(j, &o, depth + 1)) || (rc = push(j, &o)))
			return rc;
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return close_container(j, base, map, out);
		}
		return fail(j, map ? "',' or '}' expected" : "',' or ']' expected");
	}
}

static int value(jp *j, msgpack_object *out, unsigned depth)
{
	skip_ws(j);
	if (j->p >= j->end)
		return fail(j, "unexpected end of input");
	if (++j->nodes > AL_JSON_MAX_NODES)
		return fail(j, "too many values");
	memset(out, 0, sizeof *out);
	switch (*j->p) {
	case '{': return container(j, out, depth, true);
	case '[': return container(j, out, depth, false);
	case '"': return string(j, out);
	case 't':
	case 'f':
		out->type = MSGPACK_OBJECT_BOOLEAN;
		out->via.boolean = *j->p == 't';
		if (!word(j, out->via.boolean ? "true" : "false", out->via.boolean ? 4 : 5))
			return fail(j, "unknown literal");
		return AL_OK;
	case 'n':
		if (!word(j, "null", 4))
			return fail(j, "unknown literal");
		out->type = MSGPACK_OBJECT_NIL;
		return AL_OK;
	default:
		if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
			return number(j, out);
		return fail(j, "unexpected character");
	}
}

int al__json_parse(const char *buf, size_t n, msgpack_zone *z, msgpack_object *out, al_error *err)
{
	if (buf == NULL && n)
		return al_err(err, AL_EINVALID_ARGUMENT, "json: no input");
	if (n > AL_JSON_MAX_LEN)
		return al_err(err, AL_EINVALID_ARGUMENT, "json: %zu bytes is more than the %u accepted", n, AL_JSON_MAX_LEN);
	jp j = {(const unsigned char *)buf, (const unsigned char *)buf + n, (const unsigned char *)buf, z, NULL, 0, 0, 0, err};
	int rc = value(&j, out, 0);
	if (rc == AL_OK) {
		skip_ws(&j);
		if (j.p != j.end)
			rc = fail(&j, "trailing characters after the value");
	}
	al_free(j.stack);
	if (rc)
		memset(out, 0, sizeof *out);
	return rc;
}
