/* err.c - the error table: names, descriptions, and the one setter. */
#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "al_err.h"

static const char *const names[] = {
#define XX(s, n, d) n,
	AL_ERR_MAP(XX)
#undef XX
};

static const char *const descs[] = {
#define XX(s, n, d) d,
	AL_ERR_MAP(XX)
#undef XX
};

static int is_al(int code) { return code > AL__ERR_FIRST && code < AL__ERR_LAST; }

const char *al_err_name(int code)
{
	if (code == AL_OK)
		return "ok";
	if (is_al(code))
		return names[code - AL__ERR_FIRST - 1];
	if (code >= MDB_KEYEXIST && code <= MDB_LAST_ERRCODE)
		return "lmdb";
	return "errno";
}

const char *al_strerror(int code)
{
	if (code == AL_OK)
		return "success";
	if (is_al(code))
		return descs[code - AL__ERR_FIRST - 1];
	return mdb_strerror(code); /* handles MDB_* and falls back to strerror() */
}

int al_err_from_name(const char *name)
{
	for (int c = AL__ERR_FIRST + 1; c < AL__ERR_LAST; c++)
		if (strcmp(names[c - AL__ERR_FIRST - 1], name) == 0)
			return c;
	return 0;
}

int al__err_set(al_error *err, int line, int code, const char *fmt, ...)
{
	if (err == NULL)
		return code;
	err->code = code;
	err->line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return code;
}

void al_err_clear(al_error *err)
{
	if (err) {
		err->code = 0;
		err->line = 0;
		err->msg[0] = 0;
	}
}
