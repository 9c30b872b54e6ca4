/*
 * test_json.c - the bounded JSON reader (src/util/json.c) that reads registry answers: RFC 8259
 * values, escapes, numbers, every refusal with its reason and offset, the limits, and fuzzing
 * with random, mutated and truncated inputs (it reads untrusted input).
 */
#define _GNU_SOURCE /* open_memstream */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "util/json.h"

static int parse(const char *s, msgpack_zone *z, msgpack_object *o, al_error *e)
{
	memset(e, 0, sizeof *e);
	return al__json_parse(s, strlen(s), z, o, e);
}

/* Parses s and renders it back as JSON with al_render_json. */
static char *roundtrip(const char *s)
{
	msgpack_zone z;
	msgpack_object o;
	al_error e;
	msgpack_zone_init(&z, 1024);
	int rc = parse(s, &z, &o, &e);
	if (rc != AL_OK)
		print_error("%s: %s\n", s, e.msg);
	assert_int_equal(rc, AL_OK);
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	al_render_json(&o, f);
	fclose(f);
	msgpack_zone_destroy(&z);
	return out;
}

static void expect(const char *in, const char *out)
{
	char *got = roundtrip(in);
	if (strcmp(got, out) != 0)
		print_error("%s: got %s, expected %s\n", in, got, out);
	assert_string_equal(got, out);
	free(got);
}

static void values(void **state)
{
	(void)state;
	expect("{}", "{}");
	expect("[]", "[]");
	expect(" \t\r\n{ \"a\" : [ 1 , 2 ] } \n", "{\"a\":[1,2]}");
	expect("{\"a\":{\"b\":{\"c\":[true,false,null]}}}", "{\"a\":{\"b\":{\"c\":[true,false,null]}}}");
	expect("\"\"", "\"\"");
	expect("0", "0");
	expect("-0", "0");
	expect("-45", "-45");
	expect("1.5", "1.5");
	expect("1e3", "1000");
	expect("-2.5E-1", "-0.25");
	expect("18446744073709551615", "18446744073709551615");
	expect("-9223372036854775808", "-9223372036854775808");
	expect("18446744073709551616", "1.8446744073709552e+19"); /* beyond uint64: a double */
	expect("1e-400", "0");                                     /* underflow is zero */
	expect("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"a\\\"b\\\\c/d\\u0008\\u000c\\n\\r\\t\"");
	expect("\"\\u00e9\\u20AC\"", "\"\xc3\xa9\xe2\x82\xac\"");
	expect("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");    /* a surrogate pair: one 4-byte UTF-8 character */
	expect("\"\xf0\x9f\x98\x80 \xc3\xa9\"", "\"\xf0\x9f\x98\x80 \xc3\xa9\""); /* raw UTF-8 passes */
	/* a duplicate key is kept; lookups find the first */
	msgpack_zone z;
	msgpack_object o;
	al_error e;
	msgpack_zone_init(&z, 256);
	assert_int_equal(parse("{\"k\":1,\"k\":2}", &z, &o, &e), AL_OK);
	assert_int_equal(o.via.map.size, 2);
	int64_t v;
	assert_int_equal(al_mp_int(&o, "k", &v), 1);
	assert_int_equal(v, 1);
	/* strings are copied into the zone: the input may go away */
	char *buf = strdup("{\"name\":\"python\"}");
	assert_int_equal(al__json_parse(buf, strlen(buf), &z, &o, &e), AL_OK);
	memset(buf, 'x', strlen(buf));
	free(buf);
	al_str s;
	assert_int_equal(al_mp_str(&o, "name", &s), 1);
	assert_true(al_str_eq(s, "python"));
	msgpack_zone_destroy(&z);
}

/* Refused with invalid_argument, a message "json: offset <at>: <why...>". */
static void refuse_n(const char *in, size_t n, size_t at, const char *why)
{
	msgpack_zone z;
	msgpack_object o;
	al_error e = {0};
	msgpack_zone_init(&z, 256);
	int rc = al__json_parse(in, n, &z, &o, &e);
	char want[160];
	snprintf(want, sizeof want, "json: offset %zu: %s", at, why);
	if (rc != AL_EINVALID_ARGUMENT || strncmp(e.msg, want, strlen(want)) != 0)
		print_error("input %.*s: got %d '%s', expected '%s'\n", (int)n, in, rc, e.msg, want);
	assert_int_equal(rc, AL_EINVALID_ARGUMENT);
	assert_true(strncmp(e.msg, want, strlen(want)) == 0);
	assert_int_equal(o.type, MSGPACK_OBJECT_NIL); /* nothing half-made is handed out */
	msgpack_zone_destroy(&z);
}
static void refuse(const char *in, size_t at, const char *why) { refuse_n(in, strlen(in), at, why); }

static void refusals(void **state)
{
	(void)state;
	refuse("", 0, "unexpected end of input");
	refuse("   ", 3, "unexpected end of input");
	refuse("{} x", 3, "trailing characters");
	refuse("[1,]", 3, "unexpected character");
	refuse("[1 2]", 3, "',' or ']' expected");
	refuse("{,}", 1, "an object key must be a string");
	refuse("{\"a\"}", 4, "':' expected");
	refuse("{\"a\":}", 5, "unexpected character");
	refuse("{\"a\":1,}", 7, "an object key must be a string");
	refuse("{\"a\":1", 6, "',' or '}' expected");
	refuse("[01]", 2, "',' or ']' expected");
	refuse("1.", 2, "a digit must follow the decimal point");
	refuse(".5", 0, "unexpected character");
	refuse("-", 1, "a number needs a digit");
	refuse("+1", 0, "unexpected character");
	refuse("1e", 2, "an exponent needs a digit");
	refuse("tru", 0, "unknown literal");
	refuse("nul", 0, "unknown literal");
	refuse("True", 0, "unexpected character");
	refuse("\"abc", 1, "unterminated string");
	refuse("\"a\\x\"", 3, "unknown escape");
	refuse("\"\\u12\"", 3, "\\u needs four hex digits");
	refuse("\"\\u12g4\"", 3, "\\u needs four hex digits");
	refuse("\"\\ud800\"", 7, "high surrogate without its low surrogate");
	refuse("\"\\ud800\\u0041\"", 13, "high surrogate without its low surrogate");
	refuse("\"\\udc00\"", 7, "lone low surrogate");
	refuse("\"\\u0000\"", 7, "\\u0000 is not accepted");
	refuse("\"a\tb\"", 2, "control character in a string");
	refuse("\"\xff\"", 1, "invalid UTF-8");
	refuse("\"\xc0\x80\"", 1, "invalid UTF-8");         /* overlong NUL */
	refuse("\"\xe0\x80\xaf\"", 1, "invalid UTF-8");     /* overlong '/' */
	refuse("\"\xed\xa0\x80\"", 1, "invalid UTF-8");     /* an encoded surrogate */
	refuse("\"\xf4\x90\x80\x80\"", 1, "invalid UTF-8"); /* above U+10FFFF */
	refuse("\"\xe2\x82\"", 1, "invalid UTF-8");         /* cut short */
	refuse_n("[1,\0]", 5, 3, "unexpected character");
	char big[80];
	memset(big, '1', 70);
	big[70] = 0;
	refuse(big, 70, "number too long");
	refuse("[1e400]", 6, "number out of range");
	refuse("-1e999", 6, "number out of range");
	/* the text before the value ends may not be a value: a BOM */
	refuse("\xef\xbb\xbf{}", 0, "unexpected character");
}

static void limits(void **state)
{
	(void)state;
	char deep[2 * AL_JSON_MAX_DEPTH + 3];
	size_t d = AL_JSON_MAX_DEPTH; /* exactly the limit: accepted */
	memset(deep, '[', d);
	memset(deep + d, ']', d);
	deep[2 * d] = 0;
	char *r = roundtrip(deep);
	free(r);
	d = AL_JSON_MAX_DEPTH + 1; /* one more: refused where it goes too deep */
	memset(deep, '[', d);
	memset(deep + d, ']', d);
	deep[2 * d] = 0;
	refuse(deep, AL_JSON_MAX_DEPTH, "nested too deeply");

	/* more values than AL_JSON_MAX_NODES */
	size_t n = AL_JSON_MAX_NODES + 2, len = 2 * n + 1;
	char *many = malloc(len + 1);
	many[0] = '[';
	for (size_t i = 0; i < n; i++) {
		many[1 + 2 * i] = '0';
		many[2 + 2 * i] = i + 1 < n ? ',' : ']';
	}
	many[len] = 0;
	msgpack_zone z;
	msgpack_object o;
	al_error e;
	msgpack_zone_init(&z, 1024);
	assert_int_equal(parse(many, &z, &o, &e), AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(e.msg, "too many values"));
	free(many);
	/* an input over AL_JSON_MAX_LEN is refused before it is read */
	char *huge = malloc(AL_JSON_MAX_LEN + 1);
	memset(huge, ' ', AL_JSON_MAX_LEN + 1);
	huge[0] = '0';
	assert_int_equal(al__json_parse(huge, AL_JSON_MAX_LEN + 1, &z, &o, &e), AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(e.msg, "accepted"));
	assert_int_equal(al__json_parse(huge, AL_JSON_MAX_LEN, &z, &o, &e), AL_OK); /* at the limit: fine */
	free(huge);
	msgpack_zone_destroy(&z);
}

/* ---- fuzzing ------------------------------------------------------------------------------------ */

typedef struct rng {
	uint64_t s;
} rng;
static uint64_t next(rng *r)
{
	r->s ^= r->s >> 12, r->s ^= r->s << 25, r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1DULL;
}
static unsigned below(rng *r, unsigned n) { return (unsigned)(next(r) % n); }

/* A random JSON text of bounded depth, written with every kind of value and escape. */
static void gen(rng *r, FILE *f, int depth)
{
	static const char *const strs[] = {"\"\"", "\"plain\"", "\"q\\\"b\\\\s\\/\"", "\"\\u00e9\\u4e2d\"",
					    "\"\\ud83d\\ude00\"", "\"\xc3\xa9\xe4\xb8\xad\"", "\"\\n\\t\\r\\b\\f\""};
	static const char *const nums[] = {"0", "-1", "42", "3.25", "-1e-3", "6.02e23", "9007199254740993", "-0.5"};
	unsigned k = depth > 5 ? below(r, 5) : below(r, 7);
	switch (k) {
	case 0: fputs(strs[below(r, 7)], f); break;
	case 1: fputs(nums[below(r, 8)], f); break;
	case 2: fputs(below(r, 2) ? "true" : "false", f); break;
	case 3: fputs("null", f); break;
	case 4: fprintf(f, "%llu", (unsigned long long)(next(r) >> below(r, 64))); break;
	case 5: {
		unsigned n = below(r, 5);
		fputc('[', f);
		for (unsigned i = 0; i < n; i++) {
			if (i)
				fputs(below(r, 2) ? "," : " , ", f);
			gen(r, f, depth + 1);
		}
		fputc(']', f);
		break;
	}
	default: {
		unsigned n = below(r, 5);
		fputc('{', f);
		for (unsigned i = 0; i < n; i++) {
			fprintf(f, "%s\"k%u\":", i ? "," : "", below(r, 1000));
			gen(r, f, depth + 1);
		}
		fputc('}', f);
	}
	}
}

static char *gen_doc(rng *r, size_t *n)
{
	char *s = NULL;
	FILE *f = open_memstream(&s, n);
	gen(r, f, 0);
	fclose(f);
	return s;
}

static bool is_number(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
	       o->type == MSGPACK_OBJECT_FLOAT64;
}

static double as_double(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER   ? (double)o->via.u64
	       : o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (double)o->via.i64
							    : o->via.f64;
}

/* Equal values; numbers by value (the renderer writes the double 1000.0 as 1000). */
static bool same_value(const msgpack_object *a, const msgpack_object *b)
{
	if (is_number(a) && is_number(b))
		return as_double(a) == as_double(b);
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case MSGPACK_OBJECT_NIL: return true;
	case MSGPACK_OBJECT_BOOLEAN: return a->via.boolean == b->via.boolean;
	case MSGPACK_OBJECT_STR:
		return a->via.str.size == b->via.str.size && memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0;
	case MSGPACK_OBJECT_ARRAY:
		if (a->via.array.size != b->via.array.size)
			return false;
		for (uint32_t i = 0; i < a->via.array.size; i++)
			if (!same_value(&a->via.array.ptr[i], &b->via.array.ptr[i]))
				return false;
		return true;
	case MSGPACK_OBJECT_MAP:
		if (a->via.map.size != b->via.map.size)
			return false;
		for (uint32_t i = 0; i < a->via.map.size; i++)
			if (!same_value(&a->via.map.ptr[i].key, &b->via.map.ptr[i].key) ||
			    !same_value(&a->via.map.ptr[i].val, &b->via.map.ptr[i].val))
				return false;
		return true;
	default: return false;
	}
}

/* Whatever the input, the reader answers OK or invalid_argument (and, under the sanitizers,
 * reads nothing out of bounds); what it accepts renders and parses back to the same value. */
static void check_any(const char *in, size_t n)
{
	msgpack_zone z;
	msgpack_object o;
	al_error e = {0};
	msgpack_zone_init(&z, 1024);
	int rc = al__json_parse(in, n, &z, &o, &e);
	assert_true(rc == AL_OK || rc == AL_EINVALID_ARGUMENT);
	if (rc == AL_OK) {
		char *out = NULL;
		size_t on = 0;
		FILE *f = open_memstream(&out, &on);
		al_render_json(&o, f);
		fclose(f);
		msgpack_zone z2;
		msgpack_object o2;
		msgpack_zone_init(&z2, 1024);
		assert_int_equal(al__json_parse(out, on, &z2, &o2, &e), AL_OK);
		if (!same_value(&o, &o2))
			print_error("round trip differs for %.*s -> %s\n", (int)n, in, out);
		assert_true(same_value(&o, &o2));
		msgpack_zone_destroy(&z2);
		free(out);
	} else
		assert_true(strncmp(e.msg, "json: ", 6) == 0);
	msgpack_zone_destroy(&z);
}

static void fuzz_generated_and_mutated(void **state)
{
	(void)state;
	rng r = {0x9E3779B97F4A7C15ULL};
	const char *seed = getenv("ADMINLOG_SEED");
	if (seed)
		r.s = strtoull(seed, NULL, 10) | 1;
	print_message("# json fuzz seed %llu\n", (unsigned long long)r.s);
	for (int i = 0; i < 3000; i++) {
		size_t n;
		char *doc = gen_doc(&r, &n);
		check_any(doc, n); /* a generated document is valid */
		msgpack_zone z;
		msgpack_object o;
		al_error e;
		msgpack_zone_init(&z, 1024);
		if (al__json_parse(doc, n, &z, &o, &e) != AL_OK)
			print_error("generated %.*s: %s\n", (int)n, doc, e.msg);
		assert_int_equal(al__json_parse(doc, n, &z, &o, &e), AL_OK);
		msgpack_zone_destroy(&z);
		for (int m = 0; m < 8; m++) { /* then mutations of it: flips, insertions, deletions */
			char *mut = malloc(n + 2);
			memcpy(mut, doc, n);
			size_t mn = n, at = n ? below(&r, (unsigned)n) : 0;
			switch (below(&r, 4)) {
			case 0:
				if (n)
					mut[at] = (char)next(&r);
				break;
			case 1:
				memmove(mut + at + 1, mut + at, n - at);
				static const char ins[] = "{}[]\",:\\u0e-. \x80\xff";
				mut[at] = ins[below(&r, sizeof ins - 1)];
				mn++;
				break;
			case 2:
				if (n) {
					memmove(mut + at, mut + at + 1, n - at - 1);
					mn--;
				}
				break;
			default:
				if (n)
					mut[at] ^= (char)(1 << below(&r, 8));
			}
			check_any(mut, mn);
			free(mut);
		}
		free(doc);
	}
}

static void fuzz_random_bytes(void **state)
{
	(void)state;
	rng r = {0xD1B54A32D192ED03ULL};
	char buf[256];
	static const char alphabet[] = "{}[]\",:\\/u0123456789abcdefABCDEF-+.eE tnrfl\x80\xbf\xc3\xe2\xf0\xff";
	for (int i = 0; i < 20000; i++) {
		size_t n = below(&r, sizeof buf);
		bool text = below(&r, 2);
		for (size_t k = 0; k < n; k++)
			buf[k] = text ? alphabet[below(&r, sizeof alphabet - 1)] : (char)next(&r);
		check_any(buf, n);
	}
}

/* Every proper prefix of a registry answer (an object) is refused: a cut-off answer never
 * passes for a complete one. */
static void truncated_answers(void **state)
{
	(void)state;
	static const char *const docs[] = {
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
		"\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":1469,"
		"\"digest\":\"sha256:4e07f3bd88fb4a468d5551c21eb05f625b0efe9ff8ceb6d6d1f05a8fb3c2a7d5\"},"
		"\"layers\":[{\"size\":2811969,\"digest\":\"sha256:3d2430473443ea3c2e4f7f5e5f5d7a6c5f0e9d2b1a0c9d8e7f6a5b4c3d2e1f0a\"}]}",
		"{\"repositories\":[\"stable/python\",\"stable/r\",\"community/\\u00e9t\\u00e9\"]}",
		"{\"architecture\":\"arm64\",\"config\":{\"Labels\":{\"ai.backend.kernelspec\":\"1\",\"a\":\"\\ud83d\\ude00\"}}}",
	};
	for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
		size_t n = strlen(docs[d]);
		for (size_t k = 0; k < n; k++) {
			msgpack_zone z;
			msgpack_object o;
			al_error e;
			msgpack_zone_init(&z, 256);
			int rc = al__json_parse(docs[d], k, &z, &o, &e);
			if (rc != AL_EINVALID_ARGUMENT)
				print_error("prefix %zu of doc %zu was accepted\n", k, d);
			assert_int_equal(rc, AL_EINVALID_ARGUMENT);
			msgpack_zone_destroy(&z);
		}
		char *r = roundtrip(docs[d]);
		free(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(values),
		cmocka_unit_test(refusals),
		cmocka_unit_test(limits),
		cmocka_unit_test(fuzz_generated_and_mutated),
		cmocka_unit_test(fuzz_random_bytes),
		cmocka_unit_test(truncated_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
