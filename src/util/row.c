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

void al__row_public_cols(al_mb *out, const msgpack_object *row)
{
	for (uint32_t i = 0; i < row->via.map.size; i++) {
		const msgpack_object_kv *kv = &row->via.map.ptr[i];
		char key[32];
		al_str_cpy(key, sizeof key, (al_str){kv->key.via.str.ptr, kv->key.via.str.size});
		if (strcmp(key, "created_at") == 0 || strcmp(key, "modified_at") == 0) {
			char t[40];
			al_mb_cstr(out, key, al_time_format(kv->val.via.i64, t, sizeof t));
		} else
			al_mb_obj(out, key, &kv->val);
	}
}

void al__row_times(msgpack_packer *pk, int64_t created_at, int64_t modified_at)
{
	al_pack_cstr(pk, "created_at");
	msgpack_pack_int64(pk, created_at);
	al_pack_cstr(pk, "modified_at");
	msgpack_pack_int64(pk, modified_at);
}
