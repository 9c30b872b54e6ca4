/*
 * alloc.h - the library's one allocator (al_replace_allocator in adminlog.h).
 *
 * Every allocation the library makes goes through al_malloc and its siblings: they call the
 * functions given to al_replace_allocator (libc's by default), count a fault point
 * (al_fault.h), and count each failure in the thread's tally of failed allocations. That
 * tally is what catches a failure nobody checked: msgpack's packers ignore a failed buffer
 * write, so a command compares al__nomem_count() before and after it runs and fails with
 * AL_ENO_MEMORY when it grew (SQLite's mallocFailed, kept per thread). Memory made here is
 * freed with al_free, never free(): msgpack buffers with al_sbuffer_destroy.
 */
#ifndef AL_ALLOC_H
#define AL_ALLOC_H

#include <msgpack.h>
#include <stddef.h>

#include "adminlog.h"

void *al_malloc(size_t n);
void *al_calloc(size_t n, size_t size);
void *al_realloc(void *p, size_t n);
char *al_strdup(const char *s);

/* msgpack_sbuffer_write on this allocator: the callback of every packer onto a
 * msgpack_sbuffer, -1 when out of memory (the buffer then keeps what it held). */
int al_sbuffer_write(void *sbuf, const char *buf, size_t len);
/* Frees the buffer's data and empties it (msgpack_sbuffer_destroy frees with libc's free). */
void al_sbuffer_destroy(msgpack_sbuffer *sb);
/* msgpack_zone_malloc with a fault point and the failure counted. */
void *al_zone_malloc(msgpack_zone *z, size_t n);

/* Allocations that failed in this thread so far (only ever grows). */
unsigned long al__nomem_count(void);
/* Counts a failure met outside al_malloc and its siblings (a msgpack zone that could not grow). */
void al__nomem(void);
/* rc, or AL_ENO_MEMORY (err set) when an allocation failed in this thread since mark (an
 * al__nomem_count() taken before): then nothing the code computed can be trusted. */
int al__nomem_since(unsigned long mark, al_error *err, int rc);

#endif
