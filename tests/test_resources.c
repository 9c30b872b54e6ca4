/* test_resources.c - the shared value parsers: byte sizes, resource slots, host permissions. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "util/resources.h"

/* Parses with fn and renders the result as JSON into out; returns the al_ code. */
static int render(int (*fn)(al_error *, const char *, al_str, msgpack_packer *), const char *text, char *out,
		  size_t n, al_error *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int rc = fn(err, "f", (al_str){text, strlen(text)}, &pk);
	out[0] = 0;
	if (rc == AL_OK) {
		msgpack_zone z;
		msgpack_object o;
		msgpack_zone_init(&z, 1024);
		assert_int_equal(al_mp_decode(sb.data, sb.size, &z, &o), 0);
		FILE *f = fmemopen(out, n, "w");
		al_render_json(&o, f);
		fclose(f);
		msgpack_zone_destroy(&z);
	}
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void bytes(void **state)
{
	(void)state;
	assert_int_equal(al__parse_bytes("0", 1), 0);
	assert_int_equal(al__parse_bytes("512", 3), 512);
	assert_int_equal(al__parse_bytes("1k", 2), 1024);
	assert_int_equal(al__parse_bytes("32g", 3), 32LL << 30);
	assert_int_equal(al__parse_bytes("2GiB", 4), 2LL << 30);
	assert_int_equal(al__parse_bytes("1T", 2), 1LL << 40);
	assert_int_equal(al__parse_bytes("", 0), -1);
	assert_int_equal(al__parse_bytes("g", 1), -1);
	assert_int_equal(al__parse_bytes("1x", 2), -1);
	assert_int_equal(al__parse_bytes("-1", 2), -1);
	assert_int_equal(al__parse_bytes("3e", 2), 3LL << 60);
	assert_int_equal(al__parse_bytes("9e", 2), -1); /* beyond 2^62 */
	assert_int_equal(al__parse_bytes("99999999999999999999", 20), -1);
}

static void slots(void **state)
{
	(void)state;
	char out[512];
	al_error err;
	assert_int_equal(render(al__slots_pack, "mem=32g,cpu=8,cuda.shares=0.5", out, sizeof out, &err), AL_OK);
	assert_string_equal(out, "{\"cpu\":8,\"cuda.shares\":0.5,\"mem\":34359738368}");
	assert_int_equal(render(al__slots_pack, "", out, sizeof out, &err), AL_OK);
	assert_string_equal(out, "{}");
	assert_int_equal(render(al__slots_pack, "cpu=8,cpu=4", out, sizeof out, &err), AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "twice"));
	assert_int_equal(render(al__slots_pack, "cpu", out, sizeof out, &err), AL_EINVALID_ARGUMENT);
	assert_int_equal(render(al__slots_pack, "cpu=-1", out, sizeof out, &err), AL_EINVALID_ARGUMENT);
	assert_int_equal(render(al__slots_pack, "mem=lots", out, sizeof out, &err), AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "mem"));
	assert_int_equal(render(al__slots_pack, "CPU=1", out, sizeof out, &err), AL_EINVALID_ARGUMENT);
	assert_int_equal(render(al__slots_pack, "cpu=1,", out, sizeof out, &err), AL_EINVALID_ARGUMENT);
}

static void hostperms(void **state)
{
	(void)state;
	char out[1024];
	al_error err;
	assert_int_equal(render(al__hostperms_pack, "local:volume1:upload-file,local:volume1:create-vfolder,nfs:a:all",
				out, sizeof out, &err),
			 AL_OK);
	assert_string_equal(out, "{\"local:volume1\":[\"create-vfolder\",\"upload-file\"],\"nfs:a\":[\"create-vfolder\","
				 "\"modify-vfolder\",\"delete-vfolder\",\"mount-in-session\",\"upload-file\","
				 "\"download-file\",\"invite-others\",\"set-user-specific-permission\"]}");
	assert_int_equal(render(al__hostperms_pack, "local:volume1:fly", out, sizeof out, &err), AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "fly"));
	assert_int_equal(render(al__hostperms_pack, "noperm", out, sizeof out, &err), AL_EINVALID_ARGUMENT);
	assert_int_equal(render(al__hostperms_pack, ":all", out, sizeof out, &err), AL_EINVALID_ARGUMENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(bytes), cmocka_unit_test(slots), cmocka_unit_test(hostperms)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
