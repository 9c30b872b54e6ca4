/*
 * gen_docs.c - prints docs/events.md from the catalogue compiled out of the .def files in schemas/.
 * `make docs` regenerates the page; tests/test_docs.sh fails when the committed page differs.
 */
#include <stdio.h>

#include "adminlog.h"

static const char *type_name(int t)
{
	static const char *const n[] = {"string", "integer", "boolean", "time (µs)", "password", "number or `unlimited`", "list of strings", "map", "number"};
	return n[t];
}

static void fields(const al_field_def *f, size_t n, int args)
{
	if (n == 0) {
		printf("No %s.\n\n", args ? "arguments" : "fields");
		return;
	}
	printf("| %s | type | | meaning |\n|---|---|---|---|\n", args ? "argument" : "field");
	for (size_t i = 0; i < n; i++)
		printf("| `%s` | %s | %s%s | %s |\n", f[i].name, type_name(f[i].type),
		       f[i].flags & AL_F_REQ ? "required" : "optional", f[i].flags & AL_F_SECRET ? ", secret" : "",
		       f[i].doc);
	printf("\n");
}

int main(void)
{
	static const char *const roles[] = {"", "monitor", "user", "admin", "superadmin"};
	printf("# Events and commands\n\n"
	       "Generated from `schemas/events.def` and `schemas/commands.def` by `tools/gen_docs.c`"
	       " (`make docs`). Do not edit by hand.\n\n"
	       "Every record stores its event type *number* and the *version* its fields were written in;"
	       " older versions are upcast when read. Secret fields never appear in audit listings,"
	       " exports or logs.\n\n## Events\n\n");
	for (size_t i = 0; i < al_event_def_count(); i++) {
		const al_event_def *d = al_event_def_at(i);
		printf("### `%s` (number %u, version %u, entity `%s`)\n\n%s\n\n", d->name, d->number, d->version,
		       d->entity, d->doc);
		fields(d->fields, d->nfields, 0);
		for (size_t k = 0; k < d->nold; k++)
			printf("Version %u: %s\n\n", d->old[k].version, d->old[k].doc);
	}
	printf("## Commands\n\nEvery write command also takes `request_id` (a retry returns the first"
	       " result and appends nothing), `expected_version` (refused with `conflict` unless the"
	       " target entity has exactly that many events) and `reason` (recorded for the audit).\n\n");
	for (size_t i = 0; i < al_cmd_def_count(); i++) {
		const al_cmd_def *c = al_cmd_def_at(i);
		printf("### `%s` (%s, %s and above)\n\n%s\n\n", c->op, c->kind == AL_CMD_WRITE ? "write" : "read",
		       roles[c->role], c->doc);
		if (c->target[0])
			printf("Target: `%s` (given positionally to adminctl).\n\n", c->target);
		fields(c->args, c->nargs, 1);
	}
	return 0;
}
