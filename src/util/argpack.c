/* argpack.c - arguments from (name, type, value) triples (argpack.h). */
#include "util/argpack.h"

static void pack_list(msgpack_packer *pk, const char *v)
{
	uint32_t k = *v ? 1 : 0;
	for (const char *p = v; *p; p++)
		k += *p == ',';
	msgpack_pack_array(pk, k);
	for (const char *p = v; k--;) {
		size_t len = strcspn(p, ",");
		al_pack_str(pk, p, len);
		p += len + (p[len] == ',');
	}
}

/* One value of type t from ap (NULL pk: skipped, for counting). */
static void pack_value(msgpack_packer *pk, int t, va_list *ap)
{
	switch (t) {
	case 's':
	case 'l': {
		const char *v = va_arg(*ap, const char *);
		if (pk)
			t == 's' ? al_pack_cstr(pk, v) : pack_list(pk, v);
		break;
	}
	case 'i': {
		long long v = va_arg(*ap, long long);
		if (pk)
			msgpack_pack_int64(pk, v);
		break;
	}
	case 'b': {
		int v = va_arg(*ap, int);
		if (pk)
			v ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		break;
	}
	case 'd': {
		double v = va_arg(*ap, double);
		if (pk)
			msgpack_pack_double(pk, v);
		break;
	}
	default:
		if (pk)
			msgpack_pack_nil(pk);
	}
}

/* libc's sbuffer writer, not al_sbuffer_write: packing a test's arguments must not count as
 * one of the library's allocations (tests/test_faults.c counts those). */
int al_args_vpack(msgpack_sbuffer *out, va_list ap)
{
	va_list count, args; /* local copies: pack_value takes a va_list * */
	va_copy(count, ap);
	va_copy(args, ap);
	uint32_t n = 0;
	for (; va_arg(count, const char *) != NULL; n++)
		pack_value(NULL, va_arg(count, int), &count);
	va_end(count);
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	size_t before = out->size;
	msgpack_pack_map(&pk, n);
	for (const char *k; (k = va_arg(args, const char *)) != NULL;) {
		al_pack_cstr(&pk, k);
		pack_value(&pk, va_arg(args, int), &args);
	}
	va_end(args);
	return out->size > before ? 0 : -1;
}

int al_args_pack(msgpack_sbuffer *out, ...)
{
	va_list ap;
	va_start(ap, out);
	int rc = al_args_vpack(out, ap);
	va_end(ap);
	return rc;
}
