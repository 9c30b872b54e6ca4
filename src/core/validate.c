/* validate.c - field rules (see validate.h). */
#include <ctype.h>
#include <stdio.h>

#include "core/validate.h"

/* Counts UTF-8 code points; -1 when malformed or when a control character is present (tab,
 * LF and CR allowed when multiline). */
static long utf8_count(al_str s, bool multiline)
{
	long n = 0;
	for (size_t i = 0; i < s.n; n++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c >= 0x20 && c < 0x7f) { /* printable ASCII, most of any text: one test a byte */
			i++;
			continue;
		}
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		bool ctl = c < 0x20 || c == 0x7f;
		if (multiline && (c == '\t' || c == '\n' || c == '\r'))
			ctl = false;
		if (len == 0 || i + len > s.n || (len == 1 && ctl))
			return -1;
		for (size_t k = 1; k < len; k++)
			if (((unsigned char)s.p[i + k] >> 6) != 2)
				return -1;
		i += len;
	}
	return n;
}

static long utf8_chars(al_str s) { return utf8_count(s, false); }

static int check_len(al_error *err, const char *field, long n, size_t min, size_t max)
{
	if ((size_t)n < min)
		return al_err(err, AL_EINVALID_ARGUMENT, min == 1 ? "%s: must not be empty" : "%s: at least %zu characters",
			      field, min);
	if ((size_t)n > max)
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: at most %zu characters (got %ld)", field, max, n);
	return AL_OK;
}

int al__check_text(al_error *err, const char *field, al_str s, size_t min, size_t max)
{
	long n = utf8_chars(s);
	if (n < 0)
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: must be valid UTF-8 text without control characters", field);
	return check_len(err, field, n, min, max);
}

int al__check_note(al_error *err, const char *field, al_str s, size_t min, size_t max)
{
	long n = utf8_count(s, true);
	if (n < 0)
		return al_err(err, AL_EINVALID_ARGUMENT,
			      "%s: must be valid UTF-8 text without control characters other than tab and line breaks", field);
	return check_len(err, field, n, min, max);
}

int al__check_email(al_error *err, const char *field, al_str s)
{
	int rc = al__check_text(err, field, s, 1, 64);
	if (rc)
		return rc;
	const char *at = memchr(s.p, '@', s.n);
	if (at == NULL || at == s.p || at == s.p + s.n - 1 || memchr(at + 1, '@', (size_t)(s.p + s.n - at - 1)))
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: must look like name@host", field);
	for (size_t i = 0; i < s.n; i++)
		if (isspace((unsigned char)s.p[i]))
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: must not contain spaces", field);
	return AL_OK;
}

int al__check_slug(al_error *err, const char *field, al_str s)
{
	if (s.n == 0 || s.n > 64)
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: 1 to 64 characters", field);
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		bool edge = i == 0 || i == s.n - 1;
		if (!isalnum(c) && (edge || (c != '.' && c != '_' && c != '-')))
			return al_err(err, AL_EINVALID_ARGUMENT,
				      "%s: letters, digits, '.', '_' and '-', starting and ending with a letter or digit",
				      field);
	}
	return AL_OK;
}

int al__check_enum(al_error *err, const char *field, al_str s, const char *const *allowed)
{
	char list[256] = "";
	size_t used = 0;
	for (const char *const *a = allowed; *a; a++) {
		if (al_str_eq(s, *a))
			return AL_OK;
		used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", a == allowed ? "" : ", ", *a);
		if (used >= sizeof list)
			used = sizeof list - 1;
	}
	return al_err(err, AL_EINVALID_ARGUMENT, "%s: must be one of %s", field, list);
}

int al__check_password(al_error *err, const char *field, al_str s)
{
	if (s.n > 256)
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: at most 256 bytes", field);
	long n = utf8_chars(s);
	if (n < 0)
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: must be valid UTF-8 without control characters", field);
	if (n < 8)
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: at least 8 characters", field);
	bool letter = false, digit = false, special = false;
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (isalpha(c))
			letter = true;
		else if (isdigit(c))
			digit = true;
		else
			special = true; /* punctuation, spaces and non-ASCII count as special */
	}
	if (!letter || !digit || !special)
		return al_err(err, AL_EINVALID_ARGUMENT,
			      "%s: needs at least one letter, one digit and one special character", field);
	return AL_OK;
}
