/* row.c - packing view rows column by column (row.h). */
#include "util/row.h"

void al__row_col(msgpack_packer *pk, const char *name, char dflt, const msgpack_object *base,
		 const msgpack_object *over)
{
	al_pack_cstr(pk, name);
	const msgpack_object *v = over ? al_mp_get(over, name) : NULL;
	if (v == NULL || v->type == MSGPACK_OBJECT_NIL)
		v = base ? al_mp_get(base, name) : NULL;
	if (v && v->type != MSGPACK_OBJECT_NIL) {
		msgpack_pack_object(pk, *v);
		return;
	}
	switch (dflt) {
	case 'm': msgpack_pack_map(pk, 0); break;
	case 'a': msgpack_pack_array(pk, 0); break;
	case 'b': msgpack_pack_true(pk); break;
	case 'i': msgpack_pack_int64(pk, 0); break;
	default: al_pack_str(pk, "", 0);
	}
}
