/*
 * json.h - a small, bounded JSON reader for untrusted input: the Docker Registry API's answers
 * (catalogs, tag lists, manifests, image configs, token responses). msgpack-c has no JSON
 * reader and the project takes no new dependency, so this one reads RFC 8259 into the same
 * msgpack_object trees every module already walks (al_mp_get, al_mp_str, ...).
 *
 * Strict: one value, optional whitespace around it, nothing else. Objects become maps (keys
 * in input order; a duplicate key is kept, al_mp_get finds the first), arrays arrays, strings
 * STR (escapes decoded, \u surrogate pairs joined into UTF-8), integers that fit int64/uint64
 * POSITIVE/NEGATIVE_INTEGER, other numbers FLOAT64, true/false BOOLEAN, null NIL.
 * Refused: invalid UTF-8, lone surrogates, \u0000 (so C strings made from the values are never
 * cut short), numbers beyond a double, control characters in strings, nesting deeper than
 * AL_JSON_MAX_DEPTH, more than AL_JSON_MAX_NODES values, inputs over AL_JSON_MAX_LEN bytes.
 * Memory is bounded by the input: every node and string lives in the caller's zone.
 */
#ifndef AL_JSON_H
#define AL_JSON_H

#include "util/codec.h"

#define AL_JSON_MAX_DEPTH 64
#define AL_JSON_MAX_LEN (8u << 20)
#define AL_JSON_MAX_NODES (1u << 20)

/* Parses n bytes of buf into *out (all memory in z). AL_EINVALID_ARGUMENT with the byte offset
 * and the reason ("json: offset 17: ...") when the input is not such a value. */
int al__json_parse(const char *buf, size_t n, msgpack_zone *z, msgpack_object *out, al_error *err);

#endif
