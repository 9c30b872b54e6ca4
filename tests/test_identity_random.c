/*
 * test_identity_random.c - rebuild and as-of equal live after a seeded random mix of the
 * identity commands (users, keypairs, the three policy kinds, domains, projects and their
 * members), valid and invalid, by different actors, in group-commit batches of random size;
 * storage hosts, quotas and folders join the batches from a stream of their own.
 * each batch also carries a few catalogue commands (resource groups, settings, maintenance).
 * agents and presets come from a third generator (all of them keep the identity mix as it was).
 *
 * Live digests are taken at checkpoints; afterwards a rebuild must give the final digest and
 * al_store_asof at each checkpoint's seq must give that checkpoint's digest. The seed is
 * printed; ADMINLOG_SEED=<n> reruns one.
 *
 * Registries and images join the mix: a stub registry (tests/registry_test.h) in this process
 * holds a few images, whose tags change now and then, so rescans record images found, changed
 * and gone; the other registries are of type local and never reach for the network.
 *
 * Compute sessions (issue 12) come from a stream of their own: creates by users of a project
 * that allows the stub registry (and by random users and access keys), reports of statuses
 * legal and not (SCHEDULED always refused), terminates forced or not; and scheduling passes
 * (scheduler.run, of one group or all, from a stream of their own), which place sessions on
 * the agents of the agent stream or record why not.
 */
#include "registry_test.h" /* first: it sets _GNU_SOURCE */

#include <liboath/oath.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"
#include "core/store.h"
#include "core/projection.h"

#define COMMANDS 2400
#define CHECK_EVERY 200
#define NEMAIL 24
#define NPROJ 6
#define NPOL 3
#define MAXKEYS 256

typedef struct rng {
	uint64_t s;
} rng;

static uint64_t next(rng *r)
{
	r->s ^= r->s >> 12, r->s ^= r->s << 25, r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1DULL;
}
static unsigned below(rng *r, unsigned n) { return (unsigned)(next(r) % n); }
static bool chance(rng *r, unsigned pct) { return below(r, 100) < pct; }
/*
 * Every generator makes its draws one statement at a time, in reading order, never two in one
 * argument list or initializer: C leaves their order of evaluation unspecified, gcc and clang
 * differ, and the walk would then depend on the compiler. The walk's digest (op, actor, code of
 * each request, printed at the end) shows that both builds walk alike for a seed. (Access keys
 * are random: now and then a step where their order matters, such as which keypair becomes a
 * user's main one, makes two runs of one build differ too.)
 */
static uint64_t walk_mix(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL; /* FNV-1a */
	return (h ^ 0xff) * 0x100000001b3ULL;
}

static const char *const domains[] = {"default", "lab", "spare", "nodomain"};
static const char *const roles[] = {"user", "admin", "superadmin", "monitor", "boss"};
static const char *const statuses[] = {"active", "inactive", "before-verification", "gone"};

typedef struct world {
	char keys[MAXKEYS][32];
	int nkeys;
	char totp[NEMAIL][64]; /* base32 secret of the last 2fa enable, per user */
	stub *reg;             /* the stub registry */
	char reg_host[64];
	char images[3][200]; /* canonical names in the stub */
	char sids[64][40];   /* sessions created (a ring) */
	int nsids;
} world;

static unsigned email_index(const char *e) { return (unsigned)atoi(e + 1); }

/* The current code for a base32 secret, or "000000" when unknown. */
static void totp_code(const char *b32, char out[8])
{
	char *raw = NULL;
	size_t n = 0;
	snprintf(out, 8, "000000");
	if (b32[0] && oath_base32_decode(b32, strlen(b32), &raw, &n) == OATH_OK) {
		oath_totp_generate(raw, n, time(NULL), OATH_TOTP_DEFAULT_TIME_STEP_SIZE, OATH_TOTP_DEFAULT_START_TIME, 6, out);
		free(raw);
	}
}

static void email(rng *r, char *b, size_t n) { snprintf(b, n, "e%u@example.com", below(r, NEMAIL)); }
static void project(rng *r, char *b, size_t n) { snprintf(b, n, "pr%u", below(r, NPROJ)); }
static const char *domain(rng *r) { return domains[below(r, 4)]; }

/* Storage hosts, quotas and folders (their rules are in test_storage.c and test_folders.c),
 * from their own random stream, added to the batches: they change no identity view, so the
 * identity mix runs as it did without them. Folder commands run as user e (an owner). */
static const char *gen_storage(rng *r, const char *e, const char *p, char **args, size_t *len)
{
	static const char *const hosts[] = {"local:v1", "nfs:v", "ceph:v", "bad"};
	static const char *const backends[] = {"xfs", "vfs", "cephfs", "ntfs"};
	static const char *const perms[] = {"ro", "rw", "wd", "rx"};
	const char *h = chance(r, 75) ? hosts[0] : hosts[below(r, 4)]; /* mostly the host that exists */
	char f[16];
	snprintf(f, sizeof f, "f%u", below(r, 2));
	bool by_user = chance(r, 70);
	long long gb = (long long)below(r, 20);
	switch (below(r, 8)) {
	case 0: {
		const char *backend = backends[below(r, 4)];
		const char *mount = chance(r, 90) ? "/srv/v" : "rel";
		*args = th_args(len, "name", 's', h, "backend", 's', backend, "mount", 's', mount, NULL);
		return "storage.create";
	}
	case 1: {
		int quota = chance(r, 70);
		const char *mount = chance(r, 50) ? "/a" : "/b";
		*args = th_args(len, "name", 's', h, "quota", 'b', quota, "mount", 's', mount, NULL);
		return "storage.update";
	}
	case 2: {
		long long used = (long long)below(r, 3) * 400;
		long long capacity = (long long)below(r, 4) * 1000;
		*args = th_args(len, "name", 's', h, "used_bytes", 'i', used, "capacity_bytes", 'i', capacity, NULL);
		return "storage.report-usage";
	}
	case 3:
	case 4:
		if (by_user)
			*args = th_args(len, "host", 's', h, "user", 's', e, "hard_limit_gb", 'i', gb, NULL);
		else
			*args = th_args(len, "host", 's', h, "project", 's', p, "domain", 's', domain(r), "hard_limit_gb", 'i', gb,
					NULL);
		if (chance(r, 40)) { /* the same target, unset */
			free(*args);
			*args = by_user ? th_args(len, "host", 's', h, "user", 's', e, NULL)
					: th_args(len, "host", 's', h, "project", 's', p, "domain", 's', "default", NULL);
			return "quota.unset";
		}
		return "quota.set";
	case 5:
	case 6:
		if (by_user)
			*args = th_args(len, "name", 's', f, "host", 's', h, "permission", 's',
					perms[chance(r, 90) ? below(r, 3) : 3], NULL);
		else
			*args = th_args(len, "name", 's', f, "host", 's', h, "project", 's', p, "domain", 's', domain(r), NULL);
		return "folder.create";
	default:
		if (by_user)
			*args = th_args(len, "name", 's', f, NULL);
		else
			*args = th_args(len, "name", 's', f, "project", 's', p, "domain", 's', domain(r), NULL);
		return "folder.delete";
	}
}

/* One random request's op and packed arguments (malloc'd). */
static const char *gen(rng *r, world *w, char **args, size_t *len)
{
	char e[64], p[32], pol[32], ak[32];
	email(r, e, sizeof e);
	project(r, p, sizeof p);
	snprintf(ak, sizeof ak, "%s", w->nkeys ? w->keys[below(r, (unsigned)w->nkeys)] : "AKIANOSUCHKEY0000000");
	unsigned k = below(r, 27);
	switch (k) {
	case 0:
	case 1:
	case 2: {
		const char *pw = chance(r, 90) ? "Passw0rd!" : "weak";
		const char *d = domain(r);
		const char *role = roles[below(r, 5)];
		const char *status = statuses[below(r, 4)];
		const char *projects = chance(r, 50) ? "" : p;
		*args = th_args(len, "email", 's', e, "username", 's', e + 1, "password", 's', pw, "domain", 's', d, "role",
				's', role, "status", 's', status, "projects", 'l', projects, NULL);
		return "user.create";
	}
	case 3:
		*args = th_args(len, "email", 's', e, "role", 's', roles[below(r, 5)], NULL);
		return "user.update";
	case 4:
		*args = th_args(len, "email", 's', e, "domain", 's', domain(r), NULL);
		return "user.update";
	case 5: {
		snprintf(pol, sizeof pol, "up%u", below(r, NPOL));
		const char *status = statuses[below(r, 4)];
		const char *policy = chance(r, 70) ? "default" : pol;
		const char *full = chance(r, 50) ? "A, \"B\"" : "Zoë";
		*args = th_args(len, "email", 's', e, "status", 's', status, "resource_policy", 's', policy, "full_name", 's',
				full, NULL);
		return "user.update";
	}
	case 6:
		*args = th_args(len, "email", 's', e, NULL);
		return chance(r, 50) ? "user.deactivate" : "user.activate";
	case 7:
	case 8: {
		snprintf(pol, sizeof pol, "kp%u", below(r, NPOL));
		const char *policy = chance(r, 60) ? "default" : pol;
		long long rate = chance(r, 90) ? 1 + below(r, 50000) : 60000;
		int admin = chance(r, 30);
		*args = th_args(len, "user", 's', e, "policy", 's', policy, "rate_limit", 'i', rate, "admin", 'b', admin, NULL);
		return "keypair.create";
	}
	case 9:
		*args = th_args(len, "access_key", 's', ak, NULL);
		return chance(r, 50) ? "keypair.deactivate" : "keypair.activate";
	case 10:
		*args = th_args(len, "access_key", 's', ak, NULL);
		return "keypair.delete";
	case 11: /* was keypair.record-use, gone since sessions count themselves */
		*args = th_args(len, "access_key", 's', ak, "admin", 'b', 1, NULL);
		return "keypair.update";
	case 12:
		snprintf(pol, sizeof pol, "kp%u", below(r, NPOL));
		*args = th_args(len, "access_key", 's', ak, "policy", 's', pol, "rate_limit", 'i', (long long)(1 + below(r, 9)),
				NULL);
		return "keypair.update";
	case 13: {
		static const char *const kinds[] = {"policy", "user-policy", "project-policy"};
		static const char *const prefix[] = {"kp", "up", "pp"};
		static char op[64];
		unsigned kind = below(r, 3), verb = below(r, 3);
		snprintf(pol, sizeof pol, "%s%u", prefix[kind], below(r, NPOL));
		snprintf(op, sizeof op, "%s.%s", kinds[kind], verb == 0 ? "create" : verb == 1 ? "update" : "delete");
		if (verb == 1 && kind == 0) {
			long long cpu = below(r, 600);
			double fgpu = below(r, 30) / 10.0;
			*args = th_args(len, "name", 's', pol, "cpu", 'i', cpu, "fgpu", 'd', fgpu, "allowed_hosts", 's',
					"local:v1:all", NULL);
		} else if (verb == 1)
			*args = th_args(len, "name", 's', pol, "max_folder_count", 'i', (long long)below(r, 120), NULL);
		else
			*args = th_args(len, "name", 's', pol, NULL);
		return op;
	}
	case 14:
	case 15: {
		snprintf(pol, sizeof pol, "pp%u", below(r, NPOL));
		const char *d = domain(r);
		const char *policy = chance(r, 70) ? "default" : pol;
		const char *slots = chance(r, 80) ? "cpu=4,mem=8g" : "cpu=";
		*args = th_args(len, "name", 's', p, "domain", 's', d, "policy", 's', policy, "total_resource_slots", 's', slots,
				NULL);
		return "project.create";
	}
	case 16:
		*args = th_args(len, "name", 's', p, "domain", 's', domain(r), "description", 's', "line\nbreak", NULL);
		return "project.update";
	case 17:
		*args = th_args(len, "name", 's', p, "domain", 's', domain(r), NULL);
		return chance(r, 50) ? "project.deactivate" : "project.activate";
	case 18:
	case 19: {
		char e2[64];
		email(r, e2, sizeof e2);
		char list[160];
		snprintf(list, sizeof list, "%s,%s", e, e2);
		*args = th_args(len, "name", 's', p, "domain", 's', domain(r), "users", 'l', list, NULL);
		return chance(r, 70) ? "project.add-member" : "project.remove-member";
	}
	case 20:
		*args = th_args(len, "name", 's', domains[1 + below(r, 2)], NULL);
		return chance(r, 50) ? "domain.deactivate" : "domain.activate";
	case 21:
		*args = th_args(len, "name", 's', domain(r), "total_resource_slots", 's', "cpu=64", "allowed_registries", 'l',
				"cr.example.com", NULL);
		return "domain.update";
	case 24: /* self-service: the caller runs these as user e (see self_op) */
		*args = th_args(len, NULL);
		return "user.2fa.enable";
	case 25: {
		char code[8];
		totp_code(chance(r, 80) ? w->totp[email_index(e)] : "", code);
		*args = th_args(len, "code", 's', code, NULL);
		return "user.2fa.confirm";
	}
	case 26:
		*args = th_args(len, "email", 's', e, NULL);
		return "user.2fa.disable";
	default:
		*args = th_args(len, "email", 's', e, NULL);
		return "user.get";
	}
}

/* One random request of the catalogue issue (resource groups rg0-rg3 and their associations
 * with domains, projects and keypairs that come and go, settings, maintenance), from its own
 * generator so that the identity mix above stays the sequence it always was. */
static const char *gen_catalogue(rng *r, world *w, char **args, size_t *len)
{
	char e[64], p[32], ak[32], g[8];
	email(r, e, sizeof e);
	project(r, p, sizeof p);
	snprintf(ak, sizeof ak, "%s", w->nkeys ? w->keys[below(r, (unsigned)w->nkeys)] : "AKIANOSUCHKEY0000000");
	snprintf(g, sizeof g, "rg%u", below(r, 4));
	const char *d = chance(r, 60) ? "default" : domain(r);
	switch (below(r, 8)) {
	case 0: {
		static const char *const sch[] = {"fifo", "fifo", "lifo", "drf", "mof"};
		const char *scheduler = sch[below(r, 5)];
		long long retries = (long long)below(r, 3) - 1;
		const char *types = chance(r, 90) ? "batch,system" : "";
		int public = chance(r, 70);
		*args = th_args(len, "name", 's', g, "scheduler", 's', scheduler, "retries_to_skip", 'i', retries,
				"allowed_session_types", 'l', types, "public", 'b', public, NULL);
		return chance(r, 60) ? "rgroup.create" : "rgroup.update";
	}
	case 1:
	case 2: {
		unsigned t = below(r, 3);
		if (t == 0)
			*args = th_args(len, "name", 's', g, "domain", 's', d, NULL);
		else if (t == 1)
			*args = th_args(len, "name", 's', g, "project", 's', chance(r, 50) ? "default" : p, "domain", 's', d, NULL);
		else
			*args = th_args(len, "name", 's', g, "keypair", 's', ak, NULL);
		return chance(r, 65) ? "rgroup.associate" : "rgroup.dissociate";
	}
	case 3: {
		static const char *const verbs[] = {"rgroup.deactivate", "rgroup.activate", "rgroup.delete"};
		*args = th_args(len, "name", 's', g, NULL);
		return verbs[below(r, 3)];
	}
	case 4:
	case 5: {
		static const char *const kv[][2] = {{"scheduler", "lifo"},        {"scheduler", "fifo"},
						    {"retries-to-skip", "2"},     {"retries-to-skip", "0"},
						    {"overlay-mtu", "9000"},      {"overlay-mtu", "0"},
						    {"project-folders", "false"}, {"timezone", "UTC"}};
		unsigned i = below(r, 8);
		*args = th_args(len, "key", 's', kv[i][0], "value", 'l', kv[i][1], NULL);
		return "settings.set";
	}
	case 6:
		*args = th_args(len, NULL);
		return "maintenance.recalculate-usage";
	default:
		*args = th_args(len, "user", 's', e, NULL);
		return "rgroup.allowed";
	}
}

/* One random agent or preset request (an unknown group is refused). Drawn from its own generator, so the identity mix stays the same sequence. */
static const char *gen_agents(rng *r, char **args, size_t *len)
{
	static const char *const groups[] = {"default", "default", "gpu", "nogroup"};
	char name[16], id[16];
	snprintf(name, sizeof name, "pst%u", below(r, 4));
	snprintf(id, sizeof id, "ag%u", below(r, 4));
	switch (below(r, 8)) {
	case 0: { /* cpu 0 and mem 0 are refused, shmem above mem too */
		long long cpu = below(r, 9);
		const char *mem = chance(r, 90) ? "2g" : "0";
		double fgpu = below(r, 12) / 10.0;
		const char *shmem = chance(r, 80) ? "1g" : "3g";
		*args = th_args(len, "name", 's', name, "cpu", 'i', cpu, "mem", 's', mem, "fgpu", 'd', fgpu, "shmem", 's', shmem,
				NULL);
		return "preset.create";
	}
	case 1: {
		if (chance(r, 30)) {
			*args = th_args(len, "name", 's', name, NULL);
			return "preset.delete";
		}
		long long gpu = below(r, 3);
		const char *slots = chance(r, 50) ? "rocm.device=1" : "";
		*args = th_args(len, "name", 's', name, "gpu", 'i', gpu, "slots", 's', slots, NULL);
		return "preset.update";
	}
	case 2: /* heartbeats, most of them changing nothing */
	case 3:
	case 4: {
		const char *addr = chance(r, 90) ? "10.0.0.1:6001" : "10.0.0.1";
		const char *avail = chance(r, 70) ? "cpu=8,mem=32g" : "cpu=16,mem=64g,cuda.device=2";
		const char *group = groups[below(r, 4)];
		const char *images = chance(r, 50) ? "cr.io/lab/a:1" : "cr.io/lab/b:2,cr.io/lab/a:1";
		*args = th_args(len, "id", 's', id, "addr", 's', addr, "available", 's', avail, "group", 's', group, "images",
				'l', images, NULL);
		return "agent.heartbeat";
	}
	case 5:
		*args = th_args(len, "id", 's', id, "restarting", 'b', (int)chance(r, 30), NULL);
		return "agent.terminate";
	case 6:
		*args = th_args(len, "id", 's', id, "schedulable", 'b', (int)chance(r, 50), NULL);
		return "agent.set-schedulable";
	default:
		if (chance(r, 50)) {
			*args = th_args(len, NULL);
			return "agent.expire";
		}
		*args = th_args(len, "group", 's', chance(r, 80) ? "default" : "gpu", NULL);
		return "preset.check";
	}
}

/* One random registry or image request, from its own generator so that the identity mix stays
 * the same sequence it always was. */
static const char *gen_images(rng *r, world *w, char **args, size_t *len)
{
	switch (below(r, 6)) {
	case 0: { /* the stub registry (docker), or a local one; now and then a bad URL */
		static char host[64];
		char url[96];
		unsigned h = below(r, 3);
		snprintf(host, sizeof host, "%s", h == 0 ? w->reg_host : h == 1 ? "r1.example.com" : "r2.example.com");
		const char *scheme = chance(r, 90) ? "http" : "ftp";
		snprintf(url, sizeof url, "%s://%s", scheme, chance(r, 90) ? host : "other.example.com");
		*args = th_args(len, "hostname", 's', host, "url", 's', url, "type", 's', h == 0 ? "docker" : "local", NULL);
		return "registry.create";
	}
	case 1: { /* never the type: the local ones stay local */
		static const char *const projects[] = {"", "stable", "stable,other", "Bad"};
		const char *host = chance(r, 60) ? w->reg_host : "r1.example.com";
		if (chance(r, 50)) {
			const char *project = projects[below(r, 4)];
			int verify = chance(r, 50);
			*args = th_args(len, "hostname", 's', host, "project", 'l', project, "ssl_verify", 'b', verify, NULL);
		} else {
			const char *user = chance(r, 20) ? "" : "robot";
			const char *pw = chance(r, 80) ? "pw" : "";
			*args = th_args(len, "hostname", 's', host, "username", 's', user, "password", 's', pw, NULL);
		}
		return "registry.update";
	}
	case 2:
		*args = th_args(len, "hostname", 's', chance(r, 50) ? w->reg_host : "r2.example.com", NULL);
		return chance(r, 30) ? "registry.delete" : "registry.get";
	case 3: { /* the stub changes a tag list first: images go and come back */
		unsigned t = below(r, 3);
		stub_tags(w->reg, t == 0 ? "stable/a" : "stable/b", chance(r, 50) ? "[\"1\"]" : "[]");
		*args = th_args(len, "registry", 's', w->reg_host, NULL);
		return "image.rescan";
	}
	case 4: {
		static const char *const cpu[] = {"0.5", "1", "2", "4"}, *const mem[] = {"512m", "1g", "2g", "8g"};
		const char *name = w->images[below(r, 3)];
		if (chance(r, 50)) {
			const char *c = cpu[below(r, 4)];
			int force = chance(r, 40);
			const char *arch = chance(r, 50) ? "x86_64" : "arm64";
			*args = th_args(len, "name", 's', name, "cpu", 's', c, "force", 'b', force, "architecture", 's', arch, NULL);
		} else {
			const char *m = mem[below(r, 4)];
			int force = chance(r, 40);
			*args = th_args(len, "name", 's', name, "mem", 's', m, "force", 'b', force, "architecture", 's', "x86_64",
					NULL);
		}
		return "image.set-min";
	}
	default: {
		static const char *const aliases[] = {"py", "alpha", "beta"};
		if (chance(r, 60)) {
			const char *name = w->images[below(r, 3)];
			const char *alias = aliases[below(r, 3)];
			*args = th_args(len, "name", 's', name, "aliases", 'l', alias, NULL);
			return "image.alias";
		}
		*args = th_args(len, "alias", 's', aliases[below(r, 3)], NULL);
		return "image.unalias";
	}
	}
}

/* One random compute session request (issue 12), from its own generator: create (as a user
 * or by an access key, with resources below or above the image's minimum), report a status
 * (legal or not), terminate (forced or not, by the owner or a superadmin), get and list; and
 * now and then a project update that lets its sessions use the stub registry. *who gets the
 * email of the user to act as ("" for the superadmin). */
static const char *gen_sessions(rng *r, world *w, char **args, size_t *len, char *who, size_t whon)
{
	/* weighted towards the usual path after a pass: PREPARING, RUNNING, TERMINATED (a report of
	 * SCHEDULED is refused: passes place sessions) */
	static const char *const st[] = {"SCHEDULED", "PREPARING", "PREPARING", "PREPARING",   "RUNNING",
					 "RUNNING",   "PULLING",   "RESTARTING", "TERMINATING", "TERMINATED",
					 "ERROR",     "CANCELLED", "PENDING",   "RUNNING_DEGRADED"};
	enum { NST = sizeof st / sizeof *st };
	static const char *const res[] = {"", "cpu=0.5,mem=512m", "cpu=4,mem=4g,cuda.shares=0.5"};
	static const char *const groups[] = {"default", "gpu", "rg0"};
	char p[32], name[16], sid[40];
	project(r, p, sizeof p);
	snprintf(sid, sizeof sid, "%s", w->nsids ? w->sids[below(r, w->nsids < 64 ? (unsigned)w->nsids : 64)] : "nope");
	who[0] = 0;
	switch (below(r, 8)) {
	case 0:
	case 1:
	case 2: {
		snprintf(name, sizeof name, "sess-%02u", below(r, 40));
		if (chance(r, 70)) /* mostly the session users of project sproj (set up once) */
			snprintf(p, sizeof p, "sproj");
		unsigned im = below(r, 3);
		const char *arch = im == 1 && chance(r, 80) ? (chance(r, 50) ? "x86_64" : "aarch64") : "";
		const char *type = chance(r, 80) ? "interactive" : "batch";
		const char *group = groups[below(r, 3)];
		if (chance(r, 60)) {
			if (strcmp(p, "sproj") == 0)
				snprintf(who, whon, "s%u@sess.example.com", below(r, 4));
			else
				email(r, who, whon);
			*args = th_args(len, "name", 's', name, "image", 's', w->images[im], "architecture", 's', arch, "group",
					's', group, "project", 's', p, "type", 's', type, "resources", 's', res[below(r, 3)],
					NULL);
		} else {
			const char *ak = w->nkeys ? w->keys[below(r, (unsigned)w->nkeys)] : "AKIANOSUCHKEY0000000";
			*args = th_args(len, "name", 's', name, "image", 's', w->images[im], "architecture", 's', arch, "group",
					's', group, "project", 's', p, "type", 's', type, "access_key", 's', ak, NULL);
		}
		if (!arch[0]) { /* drop the empty architecture: it is not an argument then */
			free(*args);
			if (who[0])
				*args = th_args(len, "name", 's', name, "image", 's', w->images[im], "group", 's', group,
						"project", 's', p, "type", 's', type, NULL);
			else
				*args = th_args(len, "name", 's', name, "image", 's', w->images[im], "group", 's', group,
						"project", 's', p, "type", 's', type, "access_key", 's',
						w->nkeys ? w->keys[below(r, (unsigned)w->nkeys)] : "AKIANOSUCHKEY0000000", NULL);
		}
		return "session.create";
	}
	case 3:
		*args = th_args(len, "name", 's', p, "domain", 's', chance(r, 80) ? "default" : "lab", "allowed_registries", 'l',
				w->reg_host, NULL);
		return "project.update";
	case 4:
	case 5: {
		/* one draw per statement: the order of a call's arguments is the compiler's (gcc draws
		 * the last first; clang the first), and the mix must be the same with both */
		long long code = below(r, 3);
		const char *status = st[below(r, NST)];
		*args = th_args(len, "id", 's', sid, "status", 's', status, "exit_code", 'i', code, NULL);
		return "session.report";
	}
	case 6:
		if (chance(r, 50)) { /* a report more often than a destroy */
			*args = th_args(len, "id", 's', sid, "status", 's', st[below(r, NST)], NULL);
			return "session.report";
		}
		if (chance(r, 30))
			snprintf(who, whon, "s%u@sess.example.com", below(r, 4));
		*args = th_args(len, "id", 's', sid, "forced", 'b', chance(r, 50), NULL);
		return "session.terminate";
	default:
		if (chance(r, 50)) {
			*args = th_args(len, "id", 's', sid, NULL);
			return "session.get";
		}
		*args = th_args(len, "status", 'l', st[below(r, NST)], NULL);
		return "session.list";
	}
}

static void remember_key(world *w, const al_reply *rep)
{
	char secret[64] = ""; /* th_res_str returns one static buffer: copy before the next call */
	if (th_res_str(rep, "secret"))
		snprintf(secret, sizeof secret, "%s", th_res_str(rep, "secret"));
	const char *who = th_res_str(rep, "email");
	if (secret[0] && who)
		snprintf(w->totp[email_index(who)], sizeof w->totp[0], "%s", secret);
	const char *ak = th_res_str(rep, "access_key");
	if (ak && w->nkeys < MAXKEYS)
		snprintf(w->keys[w->nkeys++], sizeof w->keys[0], "%s", ak);
}

static int count_event(const al_event *e, void *ctx)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}

typedef struct checkpoint {
	uint64_t seq;
	char digest[33];
} checkpoint;

/* The checkpoints kept: as-of exactly on one equals the live state when it was written; just
 * after one (every third), a full replay to that point. */
static void asof_at_checkpoints(al_store *s, const checkpoint *ck, int n)
{
	int on = 0, after = 0;
	for (int i = 0; i < n; i++) {
		al_store *past;
		al_error err = {0};
		char d[33], r[33];
		assert_int_equal(al_store_asof(s, ck[i].seq, &past, &err), AL_OK);
		bool kept = past->asof_base == ck[i].seq; /* else pruned since: from an older one */
		th_digest(past, d);
		al_store_close(past);
		if (strcmp(d, ck[i].digest) != 0)
			fail_msg("as-of %llu (a checkpoint) differs from the live state then", (unsigned long long)ck[i].seq);
		on += kept;
		if (!kept || i % 3 != 0)
			continue;
		assert_int_equal(al_store_asof(s, ck[i].seq + 1, &past, &err), AL_OK);
		assert_int_equal(past->asof_base, ck[i].seq);
		th_digest(past, d);
		al_store_close(past);
		char *dir = th_tmpdir();
		al_open_opts o = {AL_OPEN_QUIET, 0};
		assert_int_equal(al_store_replay(s, ck[i].seq + 1, dir, AL_OPEN_NOSYNC, &err), AL_OK);
		assert_int_equal(al_store_open(&past, dir, &o, &err), AL_OK);
		th_digest(past, r);
		al_store_close(past);
		th_rmrf(dir);
		if (strcmp(d, r) != 0)
			fail_msg("as-of %llu (just after a checkpoint) differs from a replay", (unsigned long long)ck[i].seq + 1);
		after++;
	}
	print_message("# as-of on %d checkpoints kept (of %d written), %d just after one\n", on, n, after);
	assert_true(on >= 10 && after >= 3);
}

static void random_identity_mix(void **state)
{
	(void)state;
	uint64_t seed = 0x5eed1de7179ULL; /* covers every type of must[] below, with gcc and clang */
	if (getenv("ADMINLOG_SEED"))
		seed = strtoull(getenv("ADMINLOG_SEED"), NULL, 0);
	print_message("# seed 0x%llx, %d commands\n", (unsigned long long)seed, COMMANDS);
	rng r = {seed}, r2 = {seed ^ 0xca7a1096eULL}, ra = {seed ^ 0xca7a1095ULL}; /* r2: catalogue, ra: agents */
	rng ri = {seed ^ 0x1a6e5ULL}; /* registries and images */
	rng rss = {seed ^ 0x5e55105ULL}; /* compute sessions */
	rng rsp = {seed ^ 0x5c4ed01eULL}; /* scheduling passes: a stream of their own, the sessions' stays as it was */
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	al_store_close(s);
	al_open_opts oo = {AL_OPEN_QUIET | AL_OPEN_NOSYNC, 0};
	al_error err;
	assert_int_equal(al_store_open(&s, dir, &oo, &err), AL_OK);
	assert_int_equal(th_run(s, "domain.create", "name", 's', "lab", NULL), AL_OK);
	assert_int_equal(th_run(s, "domain.create", "name", 's', "spare", NULL), AL_OK);
	assert_int_equal(th_run(s, "storage.create", "name", 's', "local:v1", "backend", 's', "xfs", "mount", 's', "/v", NULL),
			 AL_OK);
	for (int i = 0; i < 2; i++) /* users of default and lab may create folders on local:v1 */
		assert_int_equal(th_run(s, "domain.update", "name", 's', domains[i], "allowed_hosts", 's',
					"local:v1:create-vfolder", NULL),
				 AL_OK);

	assert_int_equal(th_run(s, "rgroup.create", "name", 's', "gpu", NULL), AL_OK);
	/* View checkpoints every 7 events, written after each batch as adminlogd's thread does:
	 * the as-of checks below start from them. */
	assert_int_equal(th_run(s, "settings.set", "key", 's', "checkpoint-interval", "value", 'l', "7", NULL), AL_OK);
	static checkpoint ckpts[1024]; /* each checkpoint written, with the live digest then */
	int nckpts = 0;

	/* the stub registry: stable/a:1 and stable/b:1 (amd64 and arm64), stable/c:1 */
	world w = {.nkeys = 0};
	static stub reg;
	assert_int_equal(stub_start(&reg), 0);
	w.reg = &reg;
	snprintf(w.reg_host, sizeof w.reg_host, "127.0.0.1:%d", reg.port);
	char *labels = rt_labels(",\"ai.backend.resource.min.cpu\":\"1\",\"ai.backend.resource.min.mem\":\"1g\"");
	rt_image ims[4];
	static const char *const archs[] = {"amd64", "arm64"};
	rt_image_make(&ims[0], "amd64", labels, "a");
	rt_image_make(&ims[1], "amd64", labels, "b1");
	rt_image_make(&ims[2], "arm64", labels, "b2");
	rt_image_make(&ims[3], "amd64", labels, "c");
	stub_put_image(&reg, "stable/a", "1", &ims[0]);
	stub_put_image(&reg, "stable/b", NULL, &ims[1]);
	stub_put_image(&reg, "stable/b", NULL, &ims[2]);
	char *list = rt_list(&ims[1], archs, 2, false, false);
	stub_add(&reg, "/v2/stable/b/manifests/1", 200, MT_LIST, list, strlen(list));
	stub_put_image(&reg, "stable/c", "1", &ims[3]);
	const char *cat = "{\"repositories\":[\"stable/a\",\"stable/b\",\"stable/c\"]}";
	stub_add(&reg, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	stub_tags(&reg, "stable/a", "[\"1\"]");
	stub_tags(&reg, "stable/b", "[\"1\"]");
	stub_tags(&reg, "stable/c", "[\"1\"]");
	for (int i = 0; i < 3; i++)
		snprintf(w.images[i], sizeof w.images[i], "%s/stable/%c:1", w.reg_host, 'a' + i);
	/* compute sessions: users s0-s3 in project sproj of default, which allows the stub registry */
	char surl[96];
	snprintf(surl, sizeof surl, "http://%s", w.reg_host);
	assert_int_equal(th_run(s, "registry.create", "hostname", 's', w.reg_host, "url", 's', surl, NULL), AL_OK);
	assert_int_equal(th_run(s, "image.rescan", "registry", 's', w.reg_host, NULL), AL_OK);
	assert_int_equal(th_run(s, "project.create", "name", 's', "sproj", "domain", 's', "default", "allowed_registries", 'l',
				w.reg_host, NULL),
			 AL_OK);
	for (int i = 0; i < 4; i++) {
		char e[64];
		snprintf(e, sizeof e, "s%d@sess.example.com", i);
		assert_int_equal(th_user(s, e, "default", "user"), AL_OK);
		assert_int_equal(th_run(s, "project.add-member", "name", 's', "sproj", "domain", 's', "default", "users", 'l', e,
					NULL),
				 AL_OK);
	}
	checkpoint cps[COMMANDS / CHECK_EVERY + 1];
	int ncp = 0, done = 0, ok = 0, extra = 0;
	uint64_t walk = 0xcbf29ce484222325ULL;
	static th_actor as[24]; /* one per request of a batch: a request borrows its actor until the batch ran */
	static th_actor cas[6], aas[4], as2[2], sas[3]; /* as2: registry and image requests; sas: sessions */
	rng rs = {seed ^ 0x9e3779b97f4a7c15ULL}; /* the storage commands' own stream */
	static th_actor storage_as[4];
	while (done < COMMANDS) {
		enum { MAXB = 20, MAXC = 6, MAXA = 4, MAXI = 2, MAXS = 4, MAXSS = 3, MAXP = 1 };
		al_request reqs[MAXB + MAXC + MAXA + MAXI + MAXS + MAXSS + MAXP];
		al_reply reps[MAXB + MAXC + MAXA + MAXI + MAXS + MAXSS + MAXP];
		char *args[MAXB + MAXC + MAXA + MAXI + MAXS + MAXSS + MAXP];
		size_t len[MAXB + MAXC + MAXA + MAXI + MAXS + MAXSS + MAXP];
		int n = 1 + (int)below(&r, MAXB);
		if (n > COMMANDS - done)
			n = COMMANDS - done;
		int identity = n;
		for (int i = 0; i < n; i++) {
			rng before = r;
			const char *op = gen(&r, &w, &args[i], &len[i]);
			const al_actor *who = &th_admin;
			bool self = strcmp(op, "user.2fa.enable") == 0 || strcmp(op, "user.2fa.confirm") == 0;
			if (self || chance(&r, 15)) { /* with a user's rights: 2fa for itself, else mostly refused */
				char e[64];
				if (self) { /* the user the generator picked */
					email(&before, e, sizeof e);
				} else
					email(&r, e, sizeof e);
				th_actor *a = &as[i];
				if (th_as(s, e, a) == AL_OK)
					who = &a->a;
			}
			reqs[i] = (al_request){op, args[i], len[i], who};
		}
		int m = (int)below(&r2, MAXC + 1); /* catalogue requests, after the identity ones */
		for (int i = n; i < n + m; i++) {
			const char *op = gen_catalogue(&r2, &w, &args[i], &len[i]);
			const al_actor *who = &th_admin;
			if (chance(&r2, 15)) {
				char e[64];
				email(&r2, e, sizeof e);
				th_actor *a = &cas[i - n]; /* not as[]: identity requests of this batch use those */
				if (th_as(s, e, a) == AL_OK)
					who = &a->a;
			}
			reqs[i] = (al_request){op, args[i], len[i], who};
		}
		extra += m;
		int k = (int)below(&ra, MAXA + 1); /* agents and presets, by the superadmin or a user */
		for (int i = n + m; i < n + m + k; i++) {
			const char *op = gen_agents(&ra, &args[i], &len[i]);
			const al_actor *who = &th_admin;
			char e[64];
			email(&ra, e, sizeof e);
			th_actor *a = &aas[i - n - m];
			if (chance(&ra, 15) && th_as(s, e, a) == AL_OK)
				who = &a->a;
			reqs[i] = (al_request){op, args[i], len[i], who};
		}
		extra += k;
		int q = n + m + k;
		for (int x = (int)below(&ri, MAXI + 1); x > 0; x--, q++) { /* registries and images */
			const char *op = gen_images(&ri, &w, &args[q], &len[q]);
			reqs[q] = (al_request){op, args[q], len[q], &th_admin};
			if (chance(&ri, 10)) { /* a user's rights: refused, or reading only what it may */
				char e[64];
				email(&ri, e, sizeof e);
				if (th_as(s, e, &as2[x % 2]) == AL_OK)
					reqs[q].actor = &as2[x % 2].a;
			}
		}
		extra += q - (n + m + k);
		int q0 = q;
		for (int x = (int)below(&rss, MAXSS + 1); x > 0; x--, q++) { /* compute sessions */
			char e[64];
			const char *op = gen_sessions(&rss, &w, &args[q], &len[q], e, sizeof e);
			reqs[q] = (al_request){op, args[q], len[q], &th_admin};
			if (e[0] && th_as(s, e, &sas[x - 1]) == AL_OK)
				reqs[q].actor = &sas[x - 1].a;
		}
		extra += q - q0;
		if (chance(&rsp, 50)) { /* a pass as adminlogd's timer runs it: every group, or one */
			static const char *const pgroups[] = {"default", "gpu", "rg0"};
			if (chance(&rsp, 50))
				args[q] = th_args(&len[q], "group", 's', pgroups[below(&rsp, 3)], NULL);
			else
				args[q] = th_args(&len[q], NULL);
			reqs[q] = (al_request){"scheduler.run", args[q], len[q], &th_admin};
			q++, extra++;
		}
		int total = q, nstorage = (int)below(&rs, MAXS); /* storage commands, anywhere in the batch */
		for (int j = 0; j < nstorage; j++, total++) {
			char e[64], p[32], *a;
			size_t l;
			snprintf(e, sizeof e, "e%u@example.com", below(&rs, 6)); /* a few users: repeated targets */
			project(&rs, p, sizeof p);
			int at = (int)below(&rs, (unsigned)total + 1);
			const char *op = gen_storage(&rs, e, p, &a, &l);
			const al_actor *who = &th_admin;
			bool folder = strncmp(op, "folder.", 7) == 0;
			for (int tries = 0; (folder || chance(&rs, 15)) && tries < 8; tries++) { /* an active user */
				if (th_as(s, e, &storage_as[j]) == AL_OK) {
					who = &storage_as[j].a;
					break;
				}
				snprintf(e, sizeof e, "e%u@example.com", below(&rs, NEMAIL));
			}
			/* Inserted at `at`: the identity commands keep their order. */
			memmove(&reqs[at + 1], &reqs[at], (size_t)(total - at) * sizeof *reqs);
			memmove(&args[at + 1], &args[at], (size_t)(total - at) * sizeof *args);
			memmove(&len[at + 1], &len[at], (size_t)(total - at) * sizeof *len);
			reqs[at] = (al_request){op, a, l, who};
			args[at] = a, len[at] = l;
		}
		al_exec_batch(s, reqs, reps, (size_t)total);
		for (int i = 0; i < total; i++) {
			ok += reps[i].err.code == AL_OK;
			walk = walk_mix(walk_mix(walk_mix(walk, reqs[i].op), reqs[i].actor->name),
					al_err_name(reps[i].err.code));
			if (reps[i].err.code == AL_EINTERNAL || reps[i].err.code == AL_EIO_ERROR ||
			    reps[i].err.code == AL_ECORRUPT)
				fail_msg("%s: %s: %s", reqs[i].op, al_err_name(reps[i].err.code), reps[i].err.msg);
			if (reps[i].err.code == AL_OK)
				remember_key(&w, &reps[i]);
			if (reps[i].err.code == AL_OK && strcmp(reqs[i].op, "session.create") == 0)
				snprintf(w.sids[w.nsids++ % 64], sizeof w.sids[0], "%s", th_res_str(&reps[i], "id"));
			al_reply_free(&reps[i]);
			free(args[i]);
		}
		al_checkpoint_info ci;
		assert_int_equal(al_store_checkpoint(s, AL_CKPT_IF_DUE, NULL, NULL, &ci, &err), AL_OK);
		if (ci.seq && nckpts < 1024) {
			ckpts[nckpts].seq = ci.seq;
			th_digest(s, ckpts[nckpts++].digest);
		}
		if ((done + identity) / CHECK_EVERY != done / CHECK_EVERY) {
			cps[ncp].seq = al_log_head(s);
			th_digest(s, cps[ncp].digest);
			ncp++;
		}
		done += identity;
	}
	print_message("# %d of %d commands (%d identity, %d catalogue) succeeded, %d keypairs, %llu events, walk %016llx\n",
		      ok, COMMANDS + extra, COMMANDS, extra, w.nkeys, (unsigned long long)al_log_head(s),
		      (unsigned long long)walk);
	assert_true(ok > COMMANDS / 5); /* the mix must really change things */
	static const char *const must[] = {"user.totp_enabled", "user.totp_disabled", "keypair.deleted",
					   "project.member_removed", "keypair_policy.deleted", "domain.deactivated",
					   "storage.usage_reported", "quota.set", "quota.unset", "folder.created",
					   "folder.deleted", "rgroup.associated", "rgroup.dissociated", "rgroup.deleted",
					   "setting.changed", "preset.updated", "preset.deleted", "agent.updated",
					   "agent.status_changed", "agent.schedulable_changed", "registry.updated",
					   "registry.deleted", "image.scanned", "image.gone", "image.min_set", "image.aliased",
					   "session.created", "session.status_changed", "session.terminate_requested",
					   "session.scheduled", "session.scheduling_failed"};
	for (size_t i = 0; !getenv("ADMINLOG_SEED") && i < sizeof must / sizeof *must; i++) {
		/* the default seed's mix covers these (another seed may not) */
		al_log_filter f = {.type = must[i]};
		int count = 0;
		assert_int_equal(al_log_query(s, &f, count_event, &count, &err), AL_OK);
		if (count == 0)
			fail_msg("the mix never recorded %s", must[i]);
	}
	if (al_store_verify(s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify before rebuild: %s (kept %s)", err.msg, dir);
	char live[33], rebuilt[33];
	th_digest(s, live);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	/* Again with a fold that writes its overlay out every few events, in small transactions. */
	al_fold_limits limits = al__fold_limits;
	al__fold_limits = (al_fold_limits){64 << 10, 4 << 10};
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	al__fold_limits = limits;
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	if (al_store_verify(s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify: %s", err.msg);
	for (int i = 0; i < ncp; i++) {
		al_store *past;
		char d[33];
		assert_int_equal(al_store_asof(s, cps[i].seq, &past, &err), AL_OK);
		th_digest(past, d);
		if (strcmp(d, cps[i].digest) != 0)
			fail_msg("as-of seq %llu differs from the live state then", (unsigned long long)cps[i].seq);
		al_store_close(past);
	}
	asof_at_checkpoints(s, ckpts, nckpts);
	al_store_close(s);
	th_rmrf(dir);
	stub_stop(&reg);
	for (int i = 0; i < 4; i++)
		rt_image_free(&ims[i]);
	free(labels);
	free(list);
}

int main(void)
{
	unsetenv("http_proxy"), unsetenv("HTTP_PROXY"), unsetenv("all_proxy"), unsetenv("ALL_PROXY");
	const struct CMUnitTest tests[] = {cmocka_unit_test(random_identity_mix)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
