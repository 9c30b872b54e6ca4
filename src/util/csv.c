/* csv.c - the RFC 4180 writer (see csv.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/csv.h"

void al_csv_init(al_csv *w, FILE *out)
{
	w->out = out;
	w->field = 0;
}

void al_csv_field(al_csv *w, const char *p, size_t n)
{
	if (w->field++)
		fputc(',', w->out);
	bool quote = false;
	for (size_t i = 0; i < n && !quote; i++)
		quote = p[i] == ',' || p[i] == '"' || p[i] == '\r' || p[i] == '\n';
	if (!quote) {
		fwrite(p, 1, n, w->out);
		return;
	}
	fputc('"', w->out);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"')
			fputc('"', w->out);
		fputc(p[i], w->out);
	}
	fputc('"', w->out);
}

void al_csv_cfield(al_csv *w, const char *s) { al_csv_field(w, s, strlen(s)); }

void al_csv_value(al_csv *w, const msgpack_object *v)
{
	char buf[64];
	switch (v->type) {
	case MSGPACK_OBJECT_STR: al_csv_field(w, v->via.str.ptr, v->via.str.size); return;
	case MSGPACK_OBJECT_BOOLEAN: al_csv_cfield(w, v->via.boolean ? "true" : "false"); return;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: snprintf(buf, sizeof buf, "%" PRIu64, v->via.u64); break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: snprintf(buf, sizeof buf, "%" PRId64, v->via.i64); break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: snprintf(buf, sizeof buf, "%.15g", v->via.f64); break;
	case MSGPACK_OBJECT_ARRAY: { /* joined with ';' into one field */
		char *s = NULL;
		size_t n = 0;
		FILE *m = open_memstream(&s, &n);
		for (uint32_t i = 0; m && i < v->via.array.size; i++) {
			const msgpack_object *e = &v->via.array.ptr[i];
			if (i)
				fputc(';', m);
			if (e->type == MSGPACK_OBJECT_STR)
				fwrite(e->via.str.ptr, 1, e->via.str.size, m);
			else
				al_render_json(e, m);
		}
		if (m)
			fclose(m);
		al_csv_field(w, s ? s : "", s ? n : 0);
		free(s); /* open_memstream's buffer is libc's */
		return;
	}
	case MSGPACK_OBJECT_MAP: {
		char *s = NULL;
		size_t n = 0;
		FILE *m = open_memstream(&s, &n);
		if (m) {
			al_render_json(v, m);
			fclose(m);
		}
		al_csv_field(w, s ? s : "", s ? n : 0);
		free(s);
		return;
	}
	default: buf[0] = 0; break;
	}
	al_csv_cfield(w, buf);
}

void al_csv_end_record(al_csv *w)
{
	fputs("\r\n", w->out);
	w->field = 0;
}

int al_csv_error(const al_csv *w) { return ferror(w->out) ? -1 : 0; }
