/* render.c - msgpack values as JSON or as a readable table, and RFC 3339 times. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/codec.h"

static void json_str(const char *p, size_t n, FILE *out)
{
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		switch (c) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(out, "\\u%04x", c);
			else
				fputc(c, out);
		}
	}
	fputc('"', out);
}

/* The shortest of %.15g..%.17g that reads back as the same double: 0.3, not
 * 0.29999999999999999 (both are the same double; %.17g alone always prints 17 digits). */
char *al_double_str(double d, char *buf, size_t n)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return buf;
}

static void json_double(double d, FILE *out)
{
	char buf[40];
	fputs(al_double_str(d, buf, sizeof buf), out);
}

void al_render_json(const msgpack_object *o, FILE *out)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: fputs("null", out); break;
	case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", out); break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: fprintf(out, "%llu", (unsigned long long)o->via.u64); break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: fprintf(out, "%lld", (long long)o->via.i64); break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: json_double(o->via.f64, out); break;
	case MSGPACK_OBJECT_STR: json_str(o->via.str.ptr, o->via.str.size, out); break;
	case MSGPACK_OBJECT_BIN:
		fputc('"', out);
		for (uint32_t i = 0; i < o->via.bin.size; i++)
			fprintf(out, "%02x", (unsigned char)o->via.bin.ptr[i]);
		fputc('"', out);
		break;
	case MSGPACK_OBJECT_ARRAY:
		fputc('[', out);
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				fputc(',', out);
			al_render_json(&o->via.array.ptr[i], out);
		}
		fputc(']', out);
		break;
	case MSGPACK_OBJECT_MAP:
		fputc('{', out);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			if (i)
				fputc(',', out);
			const msgpack_object *k = &o->via.map.ptr[i].key;
			if (k->type == MSGPACK_OBJECT_STR)
				json_str(k->via.str.ptr, k->via.str.size, out);
			else {
				fputc('"', out);
				al_render_json(k, out);
				fputc('"', out);
			}
			fputc(':', out);
			al_render_json(&o->via.map.ptr[i].val, out);
		}
		fputc('}', out);
		break;
	default: fputs("null", out);
	}
}

/* A cell's text: strings raw, everything else as compact JSON. From open_memstream, so libc's:
 * free() it. */
static char *cell(const msgpack_object *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return strdup("?");
	if (o == NULL)
		fputs("", f);
	else if (o->type == MSGPACK_OBJECT_STR)
		fwrite(o->via.str.ptr, 1, o->via.str.size, f);
	else
		al_render_json(o, f);
	fclose(f);
	for (char *p = buf; *p; p++) /* keep one row per line */
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	return buf;
}

static void table_map(const msgpack_object *o, FILE *out)
{
	size_t w = 0;
	for (uint32_t i = 0; i < o->via.map.size; i++)
		if (o->via.map.ptr[i].key.type == MSGPACK_OBJECT_STR && o->via.map.ptr[i].key.via.str.size > w)
			w = o->via.map.ptr[i].key.via.str.size;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		char *k = cell(&o->via.map.ptr[i].key), *v = cell(&o->via.map.ptr[i].val);
		fprintf(out, "%-*s  %s\n", (int)w, k, v);
		free(k);
		free(v);
	}
}

static void table_rows(const msgpack_object *o, FILE *out)
{
	uint32_t rows = o->via.array.size;
	if (rows == 0 || o->via.array.ptr[0].type != MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < rows; i++) {
			char *c = cell(&o->via.array.ptr[i]);
			fprintf(out, "%s\n", c);
			free(c);
		}
		if (rows == 0)
			fputs("(none)\n", out);
		return;
	}
	const msgpack_object *head = &o->via.array.ptr[0];
	uint32_t cols = head->via.map.size;
	size_t *w = al_calloc(cols, sizeof *w);
	char **cells = al_calloc((size_t)(rows + 1) * cols, sizeof *cells);
	if (w == NULL || cells == NULL) {
		al_free(w);
		al_free(cells);
		fputs("(out of memory)\n", out);
		return;
	}
	for (uint32_t c = 0; c < cols; c++)
		cells[c] = cell(&head->via.map.ptr[c].key);
	for (uint32_t r = 0; r < rows; r++)
		for (uint32_t c = 0; c < cols; c++) {
			const msgpack_object *row = &o->via.array.ptr[r], *v = NULL;
			if (row->type == MSGPACK_OBJECT_MAP && head->via.map.ptr[c].key.type == MSGPACK_OBJECT_STR) {
				char key[128];
				al_str ks = {head->via.map.ptr[c].key.via.str.ptr, head->via.map.ptr[c].key.via.str.size};
				v = al_mp_get(row, al_str_cpy(key, sizeof key, ks));
			}
			cells[(size_t)(r + 1) * cols + c] = cell(v);
		}
	for (size_t i = 0; i < (size_t)(rows + 1) * cols; i++) {
		size_t l = strlen(cells[i]);
		if (l > w[i % cols])
			w[i % cols] = l;
	}
	for (uint32_t r = 0; r <= rows; r++) {
		for (uint32_t c = 0; c < cols; c++) {
			char *s = cells[(size_t)r * cols + c];
			if (r == 0)
				for (char *p = s; *p; p++)
					*p = (char)toupper((unsigned char)*p);
			fprintf(out, c + 1 < cols ? "%-*s  " : "%-*s", c + 1 < cols ? (int)w[c] : 0, s);
		}
		fputc('\n', out);
	}
	for (size_t i = 0; i < (size_t)(rows + 1) * cols; i++)
		free(cells[i]);
	al_free(cells);
	al_free(w);
}

void al_render_table(const msgpack_object *o, FILE *out)
{
	if (o->type == MSGPACK_OBJECT_MAP)
		table_map(o, out);
	else if (o->type == MSGPACK_OBJECT_ARRAY)
		table_rows(o, out);
	else {
		char *c = cell(o);
		fprintf(out, "%s\n", c);
		free(c);
	}
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm); no locale, no tz. */
static void civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned doe = (unsigned)(days - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

char *al_time_format(int64_t us, char *buf, size_t n)
{
	int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
	int64_t frac = us - secs * 1000000, days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	int64_t sod = secs - days * 86400;
	int y;
	unsigned m, d;
	civil(days, &y, &m, &d);
	if (n < 28 || y < 0 || y > 9999) {
		snprintf(buf, n, "%lld", (long long)us);
		return buf;
	}
	unsigned v[] = {(unsigned)y / 100, (unsigned)y % 100, m, d, (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60),
			(unsigned)(sod % 60)};
	static const char sep[] = "\0-- ::";
	char *p = buf;
	for (int i = 0; i < 7; i++) {
		if (i > 1)
			*p++ = i == 4 ? 'T' : sep[i - 1];
		*p++ = (char)('0' + v[i] / 10);
		*p++ = (char)('0' + v[i] % 10);
	}
	*p++ = '.';
	for (int64_t div = 100000; div; div /= 10)
		*p++ = (char)('0' + frac / div % 10);
	*p++ = 'Z';
	*p = 0;
	return buf;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

int al_time_parse(const char *s, int64_t *us)
{
	int Y, M, D, h, m, sec;
	const char *p = s;
	if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
	    digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	int64_t frac = 0;
	if (*p == '.') {
		p++;
		int nd = 0;
		while (isdigit((unsigned char)*p)) {
			if (nd < 6) {
				frac = frac * 10 + (*p - '0');
				nd++;
			}
			p++;
		}
		if (nd == 0)
			return -1;
		while (nd++ < 6)
			frac *= 10;
	}
	int off = 0;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
			return -1;
		off = sign * (oh * 3600 + om * 60);
	} else
		return -1;
	if (*p)
		return -1;
	struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec};
	time_t t = timegm(&tm);
	*us = ((int64_t)t - off) * 1000000 + frac;
	return 0;
}
