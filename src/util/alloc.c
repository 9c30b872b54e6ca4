/* alloc.c - the replaceable allocator, msgpack buffers on it, the tally of failures (alloc.h). */
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/fault.h"

static struct {
	void *(*malloc_fn)(size_t);
	void *(*realloc_fn)(void *, size_t);
	void *(*calloc_fn)(size_t, size_t);
	void (*free_fn)(void *);
} A = {malloc, realloc, calloc, free};

static _Thread_local unsigned long nomem;

int al_replace_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
			 void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *))
{
	if (malloc_fn == NULL || realloc_fn == NULL || calloc_fn == NULL || free_fn == NULL)
		return AL_EINVALID_ARGUMENT;
	A.malloc_fn = malloc_fn;
	A.realloc_fn = realloc_fn;
	A.calloc_fn = calloc_fn;
	A.free_fn = free_fn;
	return AL_OK;
}

unsigned long al__nomem_count(void) { return nomem; }

void al__nomem(void) { nomem++; }

int al__nomem_since(unsigned long mark, al_error *err, int rc)
{
	return nomem == mark ? rc : al_err(err, AL_ENO_MEMORY, "out of memory");
}

/* A zero-byte request may legitimately give NULL; anything else is a failure. */
static void *checked(void *p, size_t n)
{
	if (p == NULL && n)
		nomem++;
	return p;
}

void *al_malloc(size_t n)
{
	if (al__fault(AL_FAULT_ALLOC))
		return checked(NULL, 1);
	return checked(A.malloc_fn(n), n);
}

void *al_calloc(size_t n, size_t size)
{
	if (al__fault(AL_FAULT_ALLOC))
		return checked(NULL, 1);
	return checked(A.calloc_fn(n, size), n * size);
}

void *al_realloc(void *p, size_t n)
{
	if (al__fault(AL_FAULT_ALLOC))
		return checked(NULL, 1); /* p stays valid, as with realloc */
	return checked(A.realloc_fn(p, n), n);
}

void al_free(void *p) { A.free_fn(p); }

char *al_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = al_malloc(n);
	return p ? memcpy(p, s, n) : NULL;
}

/* Room for more than len bytes (msgpack_sbuffer_write's growth: doubling from 8 KiB). */
static __attribute__((noinline)) int grow(msgpack_sbuffer *sb, size_t len)
{
	size_t cap = sb->alloc ? sb->alloc * 2 : MSGPACK_SBUFFER_INIT_SIZE;
	while (cap <= sb->size + len)
		cap = cap * 2 > cap ? cap * 2 : sb->size + len + 1;
	char *p = al_realloc(sb->data, cap);
	if (p == NULL)
		return -1;
	sb->data = p;
	sb->alloc = cap;
	return 0;
}

int al_sbuffer_write(void *data, const char *buf, size_t len)
{
	msgpack_sbuffer *sb = data;
	/* <=, not <: a buffer never written (data NULL) grows even for 0 bytes, so memcpy never
	 * sees NULL. Every packed value goes through here: keep it this short. */
	if (__builtin_expect(sb->alloc - sb->size <= len, 0) && grow(sb, len))
		return -1;
	memcpy(sb->data + sb->size, buf, len);
	sb->size += len;
	return 0;
}

void al_sbuffer_destroy(msgpack_sbuffer *sb)
{
	if (sb == NULL)
		return;
	al_free(sb->data);
	msgpack_sbuffer_init(sb);
}

void *al_zone_malloc(msgpack_zone *z, size_t n)
{
	if (al__fault(AL_FAULT_ALLOC))
		return checked(NULL, 1);
	return checked(msgpack_zone_malloc(z, n), n);
}
