/*
 * test_rowcache.c - the per-transaction cache of decoded view rows (core/rowcache.h) and the
 * compact row codec (util/rowcodec.h, schemas/rows.def).
 */
#include <stdlib.h>
#include <string.h>

#include "core/foldrows.h"
#include "core/overlay.h"
#include "core/projection.h"
#include "core/rowcache.h"
#include "core/rows.h"
#include "core/store.h"
#include "helpers.h"

static al_row_user row_named(const char *email, const char *name, int64_t version)
{
	al_row_user u;
	al_row_clear(&al_row_user_def, &u);
	u.email = (al_str){email, strlen(email)};
	u.full_name = (al_str){name, strlen(name)};
	u.version = version;
	return u;
}

static int cache_rules(al_wtxn *w, void *ctx, al_error *err)
{
	(void)ctx, (void)err;
	al_view v = {w, w->txn, w->s->views[AL_P_USERS]};
	MDB_dbi users = v.dbi[0], names = v.dbi[1];
	al_str key = {"a@x.io", 6};
	al_row_user got;

	/* A miss, then the row as cached, its strings copied (the source buffer changes). */
	assert_int_equal(al__rc_get(w, users, key, &al_row_user_def, &got), 0);
	char name[16] = "First", mail[16] = "a@x.io";
	al_row_user u = row_named(mail, name, 3);
	al__rc_put(w, users, (al_str){mail, 6}, &al_row_user_def, &u);
	strcpy(name, "XXXXX"), strcpy(mail, "b@y.zz");
	assert_int_equal(al__rc_get(w, users, key, &al_row_user_def, &got), 1);
	assert_int_equal(got.full_name.n, 5);
	assert_memory_equal(got.full_name.p, "First", 5);
	assert_memory_equal(got.email.p, "a@x.io", 6); /* every string column, and the key */
	assert_int_equal(got.username.n, 0);
	assert_int_equal(got.version, 3);

	/* Another sub-database with the same key is another row. */
	assert_int_equal(al__rc_get(w, names, key, &al_row_user_def, &got), 0);

	/* A plain view write of the key forgets it: a stale row is never served. */
	assert_int_equal(al__view_put(&v, 0, key.p, key.n, "x", 1, err), AL_OK);
	assert_int_equal(al__rc_get(w, users, key, &al_row_user_def, &got), 0);

	/* al__view_put_row writes the packed row and keeps the decoded one. */
	u = row_named("a@x.io", "Second", 4);
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(&v, &pk);
	al_row_pack(&pk, &al_row_user_def, &u);
	assert_int_equal(al__view_put_row(&v, 0, key.p, key.n, b->data, b->size, &al_row_user_def, &u, err), AL_OK);
	assert_int_equal(al__rc_get(w, users, key, &al_row_user_def, &got), 1);
	assert_memory_equal(got.full_name.p, "Second", 6);
	MDB_val val;
	assert_int_equal(al__view_get(&v, 0, key.p, key.n, &val), 0);
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	msgpack_object o;
	assert_int_equal(al_mp_decode(val.mv_data, val.mv_size, &z, &o), 0);
	assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY); /* compact: no key names */
	al_row_user stored;
	assert_int_equal(al_row_read(&al_row_user_def, &o, &stored), 0);
	assert_memory_equal(stored.full_name.p, "Second", 6);
	assert_int_equal(stored.version, 4);
	msgpack_zone_destroy(&z);

	/* A delete forgets it too, and so does a new transaction. */
	assert_int_equal(al__view_del(&v, 0, key.p, key.n, err), AL_OK);
	assert_int_equal(al__rc_get(w, users, key, &al_row_user_def, &got), 0);
	al__rc_put(w, users, key, &al_row_user_def, &u);
	al__rc_reset(w);
	assert_int_equal(al__rc_get(w, users, key, &al_row_user_def, &got), 0);
	return AL_EINTERNAL; /* never commit the probe */
}

static void cached_rows(void **state)
{
	al_error err = {0};
	assert_int_equal(al__store_write(th_store(state), cache_rules, NULL, &err), AL_EINTERNAL);
}

/* The codec refuses what is not a row of its kind. */
static void codec_refuses_foreign_rows(void **state)
{
	(void)state;
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	al_row_user u = row_named("b@x.io", "B", 1), got;
	al_row_pack(&pk, &al_row_user_def, &u);
	msgpack_pack_array(&pk, 2); /* too short */
	al_pack_cstr(&pk, "b@x.io");
	msgpack_pack_int64(&pk, 1);
	msgpack_pack_map(&pk, 0); /* not an array */
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	msgpack_unpacked up;
	msgpack_unpacked_init(&up);
	size_t off = 0;
	int expect[] = {0, -1, -1};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
		assert_int_equal(al_row_read(&al_row_user_def, &up.data, &got), expect[i]);
	}
	/* A column of the wrong type is refused, not read as zero. */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_array(&pk, (uint32_t)al_row_user_def.ncols);
	for (size_t i = 0; i < al_row_user_def.ncols; i++)
		msgpack_pack_nil(&pk);
	off = 0;
	assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(al_row_read(&al_row_user_def, &up.data, &got), -1);
	msgpack_unpacked_destroy(&up);
	msgpack_zone_destroy(&z);
	al_sbuffer_destroy(&sb);
}

/* A fold's rows held decoded (foldrows.h): read back as written, rewritten in place from their
 * own strings, packed into the overlay on flush or before an untyped access, and forgotten
 * then (the overlay answers). */
static void fold_rows(void **state)
{
	(void)state;
	al_ov *ov;
	al_fr *fr;
	assert_int_equal(al__ov_new(&ov), AL_OK);
	assert_int_equal(al__fr_new(&fr), AL_OK);
	const MDB_dbi users = 7;
	assert_int_equal(al__ov_cover(ov, users, true), AL_OK);
	al_row_user u = row_named("f@x.io", "Fold One", 1), got;
	assert_int_equal(al__fr_get(fr, users, "f@x.io", 6, &al_row_user_def, &got), 0);
	assert_int_equal(al__fr_put(fr, users, "f@x.io", 6, &al_row_user_def, &u, true), AL_OK);
	assert_int_equal(al__fr_get(fr, users, "f@x.io", 6, &al_row_user_def, &got), 1);
	assert_memory_equal(got.full_name.p, "Fold One", 8);
	/* Its strings point into the entry itself: rewriting it from them keeps them whole. */
	got.version = 2;
	got.description = (al_str){"a longer description than there was room for", 45};
	assert_int_equal(al__fr_put(fr, users, "f@x.io", 6, &al_row_user_def, &got, true), AL_OK);
	al_row_user again;
	assert_int_equal(al__fr_get(fr, users, "f@x.io", 6, &al_row_user_def, &again), 1);
	assert_memory_equal(again.full_name.p, "Fold One", 8);
	assert_memory_equal(again.email.p, "f@x.io", 6);
	assert_int_equal(again.description.n, 45);
	assert_int_equal(again.version, 2);
	/* Many rows: the tables grow, every row stays findable. */
	char keys[3000][16];
	for (int i = 0; i < 3000; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d@x.io", i);
		al_row_user r = row_named(keys[i], "many", i);
		assert_int_equal(al__fr_put(fr, users, keys[i], strlen(keys[i]), &al_row_user_def, &r, i % 2), AL_OK);
	}
	for (int i = 0; i < 3000; i += 7) {
		assert_int_equal(al__fr_get(fr, users, keys[i], strlen(keys[i]), &al_row_user_def, &got), 1);
		assert_int_equal(got.version, i);
	}
	/* Nothing reaches the overlay until a flush or a sync. */
	MDB_val v;
	assert_int_equal(al__ov_get(ov, users, "f@x.io", 6, &v), MDB_NOTFOUND);
	assert_int_equal(al__fr_sync(fr, ov, users, "f@x.io", 6), AL_OK);
	assert_int_equal(al__ov_get(ov, users, "f@x.io", 6, &v), 0);
	assert_int_equal(al__fr_get(fr, users, "f@x.io", 6, &al_row_user_def, &got), 0); /* forgotten */
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	msgpack_object o;
	assert_int_equal(al_mp_decode(v.mv_data, v.mv_size, &z, &o), 0);
	assert_int_equal(al_row_read(&al_row_user_def, &o, &got), 0);
	assert_int_equal(got.version, 2);
	assert_int_equal(got.description.n, 45);
	assert_int_equal(al__fr_flush(fr, ov), AL_OK); /* the dirty ones: odd i */
	assert_int_equal(al__ov_get(ov, users, keys[1], strlen(keys[1]), &v), 0);
	assert_int_equal(al__ov_get(ov, users, keys[2], strlen(keys[2]), &v), MDB_NOTFOUND);
	msgpack_zone_destroy(&z);
	al__fr_free(fr);
	al__ov_free(ov);
}

/* In a fold, an untyped read of a row held decoded must first pack it into the overlay; when
 * that runs out of memory the read fails and the whole transaction reports no_memory (not an
 * LMDB error). */
static int untyped_oom(al_wtxn *w, void *ctx, al_error *err)
{
	(void)ctx;
	al_ov *ov;
	al_fr *fr;
	assert_int_equal(al__ov_new(&ov), AL_OK);
	assert_int_equal(al__fr_new(&fr), AL_OK);
	w->ov = ov, w->fr = fr;
	al_view v = {w, w->txn, w->s->views[AL_P_USERS]};
	assert_int_equal(al__ov_cover(ov, v.dbi[0], true), AL_OK);
	al_row_user u = row_named("o@x.io", "Out Of Memory", 1);
	assert_int_equal(al__view_put_typed(&v, 0, "o@x.io", 6, &al_row_user_def, &u, err), AL_OK);
	al_fault_set(AL_FAULT_ALLOC, 1);
	MDB_val val;
	int rc = al__view_get(&v, 0, "o@x.io", 6, &val);
	al_fault_set(AL_FAULT_ALLOC, 0);
	assert_int_not_equal(rc, 0);
	assert_true(w->poisoned);
	assert_int_equal(w->poison.code, AL_ENO_MEMORY);
	w->ov = NULL, w->fr = NULL;
	al__fr_free(fr);
	al__ov_free(ov);
	return AL_EINTERNAL; /* never commit the probe */
}

static void untyped_read_out_of_memory(void **state)
{
	al_error err = {0};
	assert_int_not_equal(al__store_write(th_store(state), untyped_oom, NULL, &err), AL_OK);
}

static void assert_str(al_str s, const char *want)
{
	assert_int_equal(s.n, strlen(want));
	assert_memory_equal(s.p, want, s.n);
}

/* A put copies only the strings that changed into the row's slots: strings taken from the
 * row's own slots (swapped between columns), grown past a slot's room, emptied, or taken
 * from another row all read back whole, and another row's strings are left alone. */
static void fold_rows_slots(void **state)
{
	(void)state;
	al_fr *fr;
	assert_int_equal(al__fr_new(&fr), AL_OK);
	const MDB_dbi users = 7;
	const al_row_def *d = &al_row_user_def;
	al_row_user a = row_named("a@x.io", "Name A", 1), b = row_named("b@x.io", "Name B", 1), got, other;
	a.description = (al_str){"Description A", 13};
	b.description = (al_str){"Description B", 13};
	assert_int_equal(al__fr_put(fr, users, "a@x.io", 6, d, &a, true), AL_OK);
	assert_int_equal(al__fr_put(fr, users, "b@x.io", 6, d, &b, true), AL_OK);

	/* Swapped between two columns, both from a's own slots. */
	assert_int_equal(al__fr_get(fr, users, "a@x.io", 6, d, &got), 1);
	al_str t = got.full_name;
	got.full_name = got.description;
	got.description = t;
	assert_int_equal(al__fr_put(fr, users, "a@x.io", 6, d, &got, true), AL_OK);
	assert_int_equal(al__fr_get(fr, users, "a@x.io", 6, d, &got), 1);
	assert_str(got.full_name, "Description A");
	assert_str(got.description, "Name A");
	assert_str(got.email, "a@x.io");

	/* A column from a slot of another column, that one rewritten by the same put. */
	got.username = got.full_name;
	got.full_name = (al_str){"Z", 1};
	assert_int_equal(al__fr_put(fr, users, "a@x.io", 6, d, &got, true), AL_OK);
	assert_int_equal(al__fr_get(fr, users, "a@x.io", 6, d, &got), 1);
	assert_str(got.username, "Description A");
	assert_str(got.full_name, "Z");

	/* Grown far past its room (a new slot), shrunk, emptied, then set again. */
	char big[3000];
	memset(big, 'g', sizeof big);
	got.description = (al_str){big, sizeof big};
	got.role = (al_str){"", 0};
	assert_int_equal(al__fr_put(fr, users, "a@x.io", 6, d, &got, true), AL_OK);
	memset(big, 'h', sizeof big); /* the row holds its own copy */
	assert_int_equal(al__fr_get(fr, users, "a@x.io", 6, d, &got), 1);
	assert_int_equal(got.description.n, sizeof big);
	assert_int_equal(got.description.p[0], 'g');
	assert_int_equal(got.description.p[sizeof big - 1], 'g');
	assert_str(got.role, "");
	got.description = (al_str){"short", 5};
	got.role = (al_str){"superadmin", 10};
	assert_int_equal(al__fr_put(fr, users, "a@x.io", 6, d, &got, true), AL_OK);
	assert_int_equal(al__fr_get(fr, users, "a@x.io", 6, d, &got), 1);
	assert_str(got.description, "short");
	assert_str(got.role, "superadmin");
	assert_str(got.username, "Description A");

	/* b's strings into a: copied, and b unchanged by a's next puts. */
	assert_int_equal(al__fr_get(fr, users, "b@x.io", 6, d, &other), 1);
	got.full_name = other.full_name;
	got.description = other.description;
	assert_int_equal(al__fr_put(fr, users, "a@x.io", 6, d, &got, true), AL_OK);
	got.full_name = (al_str){"Again A", 7};
	assert_int_equal(al__fr_put(fr, users, "a@x.io", 6, d, &got, true), AL_OK);
	assert_int_equal(al__fr_get(fr, users, "a@x.io", 6, d, &got), 1);
	assert_str(got.full_name, "Again A");
	assert_str(got.description, "Description B");
	assert_int_equal(al__fr_get(fr, users, "b@x.io", 6, d, &other), 1);
	assert_str(other.full_name, "Name B");
	assert_str(other.description, "Description B");
	assert_str(other.email, "b@x.io");

	/* A long key (kept outside the entry) is found again. */
	char key[300];
	memset(key, 'k', sizeof key);
	assert_int_equal(al__fr_put(fr, users, key, sizeof key, d, &b, true), AL_OK);
	assert_int_equal(al__fr_get(fr, users, key, sizeof key, d, &got), 1);
	assert_str(got.full_name, "Name B");
	al__fr_free(fr);
}

/* al_row_pack_to writes exactly al_row_pack's bytes, at every size boundary of msgpack's
 * strings, integers and arrays. */
static void pack_to_same_bytes(void **state)
{
	(void)state;
	static const size_t lens[] = {0, 1, 31, 32, 255, 256, 65535, 65536, 70000};
	static const int64_t ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295LL, 4294967296LL, INT64_MAX,
				       -1, -32, -33, -128, -129, -32768, -32769, -2147483648LL, -2147483649LL, INT64_MIN};
	char *text = malloc(70000);
	memset(text, 't', 70000);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	char *out = malloc(80000);
	for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
		al_row_user u = row_named("p@x.io", "Pack", ints[i]);
		u.full_name = (al_str){text, lens[i % (sizeof lens / sizeof *lens)]};
		u.description = (al_str){text, lens[(i + 3) % (sizeof lens / sizeof *lens)]};
		u.created_at = ints[(i + 5) % (sizeof ints / sizeof *ints)];
		u.need_password_change = i % 2;
		al_row_keypair k;
		al_row_clear(&al_row_keypair_def, &k);
		k.rate_limit = ints[i];
		k.is_admin = i % 3 == 0;
		const struct {
			const al_row_def *d;
			const void *row;
		} rows[] = {{&al_row_user_def, &u}, {&al_row_keypair_def, &k}};
		for (size_t r = 0; r < 2; r++) {
			msgpack_sbuffer_clear(&sb);
			al_row_pack(&pk, rows[r].d, rows[r].row);
			assert_int_equal(al_row_packed_size(rows[r].d, rows[r].row), sb.size);
			char *end = al_row_pack_to(out, rows[r].d, rows[r].row);
			assert_int_equal((size_t)(end - out), sb.size);
			assert_memory_equal(out, sb.data, sb.size);
		}
	}
	free(out);
	free(text);
	al_sbuffer_destroy(&sb);
}

/* The largest block the library asked for while counting. */
static size_t biggest;
static void *big_malloc(size_t n)
{
	biggest = n > biggest ? n : biggest;
	return malloc(n);
}
static void *big_realloc(void *p, size_t n)
{
	biggest = n > biggest ? n : biggest;
	return realloc(p, n);
}
static void *big_calloc(size_t n, size_t size)
{
	biggest = n * size > biggest ? n * size : biggest;
	return calloc(n, size);
}

/* A one-command durable commit pays for the rows it caches, not for the whole table: the
 * table of 128 whole slots (37 KiB, zeroed) was the largest allocation of a user.update and a
 * third of its instructions. Nothing else a one-command commit allocates comes near 16 KiB. */
static void cache_costs_its_rows(void **state)
{
	al_store *s = th_store(state);
	assert_int_equal(th_user(s, "a@x.io", "default", "user"), AL_OK);
	assert_int_equal(th_run(s, "user.update", "email", 's', "a@x.io", "full_name", 's', "Warm", NULL), AL_OK);
	biggest = 0;
	assert_int_equal(al_replace_allocator(big_malloc, big_realloc, big_calloc, free), AL_OK);
	int rc = th_run(s, "user.update", "email", 's', "a@x.io", "full_name", 's', "Counted", NULL);
	al_replace_allocator(malloc, realloc, calloc, free);
	assert_int_equal(rc, AL_OK);
	assert_true(biggest > 0);
	if (biggest >= 16384)
		fail_msg("the largest allocation of one user.update is %zu bytes", biggest);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(cached_rows, th_setup, th_teardown),
		cmocka_unit_test(codec_refuses_foreign_rows),
		cmocka_unit_test(fold_rows),
		cmocka_unit_test_setup_teardown(untyped_read_out_of_memory, th_setup, th_teardown),
		cmocka_unit_test(fold_rows_slots),
		cmocka_unit_test(pack_to_same_bytes),
		cmocka_unit_test_setup_teardown(cache_costs_its_rows, th_setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
