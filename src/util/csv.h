/*
 * csv.h - an RFC 4180 writer: fields separated by commas, records ended by CRLF, a field
 * quoted when it holds a comma, a quote, CR or LF (quotes doubled inside). Bytes pass through
 * unchanged, so UTF-8 stays UTF-8.
 */
#ifndef AL_CSV_H
#define AL_CSV_H

#include <stdio.h>

#include "util/codec.h"

typedef struct al_csv {
	FILE *out;
	size_t field; /* fields written in the current record */
} al_csv;

void al_csv_init(al_csv *w, FILE *out);
void al_csv_field(al_csv *w, const char *p, size_t n);
void al_csv_cfield(al_csv *w, const char *s);
/* A msgpack value as one field: strings as they are, booleans true/false, numbers in
 * decimal, nil empty, arrays of strings joined with ';', maps as JSON. */
void al_csv_value(al_csv *w, const msgpack_object *v);
void al_csv_end_record(al_csv *w);
/* 0, or -1 when a write failed (disk full ...). */
int al_csv_error(const al_csv *w);

#endif
