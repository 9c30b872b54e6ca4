/*
 * validate.h - field rules shared by the noun modules. Each check names the field in its
 * message and returns AL_EINVALID_ARGUMENT, so handlers stay linear:
 *     if ((rc = al__check_len(c->err, "username", u, 1, 64))) return rc;
 */
#ifndef AL_VALIDATE_H
#define AL_VALIDATE_H

#include "util/codec.h"

/* Length in characters (UTF-8 code points) within [min, max], valid UTF-8, no control chars. */
int al__check_text(al_error *err, const char *field, al_str s, size_t min, size_t max);
/* The same for free text that may span lines (descriptions): tab, LF and CR allowed. */
int al__check_note(al_error *err, const char *field, al_str s, size_t min, size_t max);
/* local@domain, at most 64 characters, no spaces. */
int al__check_email(al_error *err, const char *field, al_str s);
/* The slug rule of domain and project names: ^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$, <= 64. */
int al__check_slug(al_error *err, const char *field, al_str s);
/* One of a NULL-terminated list of values. */
int al__check_enum(al_error *err, const char *field, al_str s, const char *const *allowed);
/* The guide's password rule: at least 8 characters, a letter, a digit and a special
 * character; at most 256 bytes. The message never contains the password. */
int al__check_password(al_error *err, const char *field, al_str s);

#endif
