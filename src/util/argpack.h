/*
 * argpack.h - a command's arguments as a msgpack map, from a list of (name, type, value)
 * triples ending with NULL. Types: 's' string, 'i' long long, 'b' int as a boolean, 'd'
 * double, 'l' a comma-separated string packed as an array of strings ("" is the empty array),
 * 'n' nil (no value argument). For callers that build commands in C: the simulator, the tests.
 */
#ifndef AL_ARGPACK_H
#define AL_ARGPACK_H

#include <stdarg.h>

#include "util/codec.h"

/* Packs the map into out (initialised by the caller; appended to, with libc realloc). 0, or
 * -1 when nothing could be written; a map cut short by a lack of memory is malformed msgpack,
 * which commands refuse. */
int al_args_pack(msgpack_sbuffer *out, ...);
int al_args_vpack(msgpack_sbuffer *out, va_list ap);

#endif
