/*
 * images.h - what registries.c, images.c and rescan.c share and nobody else needs: the image
 * reference grammar, architecture names, and a registry's settings as the rescan reads them.
 * (What other modules use is in nouns.h.)
 */
#ifndef AL_IMAGES_H
#define AL_IMAGES_H

#include "nouns/nouns.h"

#define AL_REPO_MAX 255  /* repository path, distribution's limit */
#define AL_TAG_MAX 128
#define AL_IMAGE_NAME_MAX 380 /* registry/repo:tag; keeps "name\0arch" inside LMDB's key limit */
#define AL_ARCH_MAX 32

/* host or host:port (port 1-65535): dot-separated labels of lowercase letters, digits and inner '-'. */
bool al__ref_host_ok(al_str h);
/* One path component of a repository name: [a-z0-9]+ joined by '.', '_', "__" or runs of '-'. */
bool al__ref_component_ok(al_str s);
/* A repository path: components joined by '/', at most AL_REPO_MAX bytes. */
bool al__ref_repo_ok(al_str s);
/* A tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool al__ref_tag_ok(al_str s);
/* The platform's architecture name for a Docker/OCI one: amd64, x64 -> x86_64; arm64 ->
 * aarch64; 386, i686, x86, x32 -> x86; arm with a variant -> arm<variant> (armv7); others as
 * they are. Empty when arch is not [a-z0-9_]{1,31}. Writes into buf. */
const char *al__arch_normalize(al_str arch, al_str variant, char *buf, size_t n);

/* ---- registries (registries.c), as the rescan reads them --------------------------------------- */
typedef struct al_registry_conf {
	char *hostname, *url, *type, *username, *password_sealed; /* malloc'd; "" when unset */
	char **projects;
	size_t nprojects;
	bool ssl_verify;
} al_registry_conf;
/* Every registry (only == NULL) or the one named only, from a read transaction of its own (a
 * prepare step has none). AL_EINVALID_ARGUMENT naming "registry" when only is unknown. */
int al__registries_load(al_store *s, const char *only, al_registry_conf **out, size_t *n, al_error *err);
void al__registries_free(al_registry_conf *r, size_t n);
/* 1 when the registry exists now (the rescan's handler: it may have been deleted meanwhile). */
bool al__registry_exists(al_cmd *c, al_str hostname);

/* ---- images (images.c) --------------------------------------------------------------------------- */
/* Records image.gone (cause registry_deleted) for every image of hostname not gone yet. */
int al__images_registry_deleted(al_cmd *c, al_str hostname);

/* ---- rescan (rescan.c) --------------------------------------------------------------------------- */
/* Validates the ai.backend.* labels (a map label -> text) the way the platform does and fills
 * label_min (slot -> amount, the defaults cpu 1 and mem 1 GiB overridden by the
 * ai.backend.resource.min.* labels, sorted) and accelerators (array) on the packers. On a
 * failure returns AL_EINVALID_ARGUMENT with the reason in err ("label ai.backend.kernelspec:
 * missing"), having packed nothing. */
int al__labels_check(const msgpack_object *labels, msgpack_packer *label_min, msgpack_packer *accelerators,
		     al_error *err);

/* An image a registry holds, as a caller lists it instead of a registry answering. */
typedef struct al_listed_image {
	const char *repo, *tag, *arch; /* "stable/python", "3.9", "x86_64" */
	const char *digest;            /* sha256:<64 hex> */
	int64_t size;
	const void *labels; /* a msgpack map of the image's labels (text values) */
	size_t labels_len;
} al_listed_image;
/* The output of image.rescan's prepare step for registry host holding exactly imgs, their
 * labels checked as a scan checks them (the simulator's registry: no HTTP). */
int al__rescan_prep_listed(const char *host, const al_listed_image *imgs, size_t n, al_mb *out, al_error *err);

#endif
