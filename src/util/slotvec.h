/*
 * slotvec.h - resource slots as numbers to add up: what a session occupies, what an agent,
 * a keypair, a user, a project or a domain has in use, what a policy allows.
 *
 * Views store slots as text "cpu=2,mem=4294967296" (names sorted, mem in bytes; see
 * resources.h for how commands parse them). A slot vector holds the same pairs as doubles,
 * sorted by name. Sums are rounded after each step (to 1e-6, whole numbers from 1e9 up), so
 * that adding and then taking away the same fractional shares gives back exactly 0 and a
 * replay gives the same bytes; a slot that reaches 0 is dropped from the text.
 */
#ifndef AL_SLOTVEC_H
#define AL_SLOTVEC_H

#include "util/resources.h"

#define AL_SLOT_NAME_MAX 63

typedef struct al_slot {
	char name[AL_SLOT_NAME_MAX + 1];
	double v;
} al_slot;

typedef struct al_slotvec {
	uint32_t n;
	al_slot s[AL_SLOTS_MAX];
} al_slotvec;

/* Parses stored text ("" gives the empty vector): 0, or -1 when it is malformed. */
int al_slotvec_parse(al_slotvec *out, al_str text);
/* v += k * w, slot by slot (a slot only in w is added): 0, or -1 when v would hold more than
 * AL_SLOTS_MAX slots. */
int al_slotvec_add(al_slotvec *v, const al_slotvec *w, double k);
/* The amount of slot name (0 when absent). */
double al_slotvec_get(const al_slotvec *v, al_str name);
/* The text form into buf (n bytes), slots at 0 left out; "" when it does not fit. */
al_str al_slotvec_format(const al_slotvec *v, char *buf, size_t n);
/* The vector as a slot map (resources.h) on pk: slot -> amount, names sorted, whole numbers
 * as integers, slots at 0 left out. */
void al_slotvec_pack(const al_slotvec *v, msgpack_packer *pk);
/* Whether two vectors hold the same amounts (a slot missing from one is 0 there). */
bool al_slotvec_same(const al_slotvec *a, const al_slotvec *b);
/* A sum rounded the way the vectors round. */
double al_slot_round(double x);

#endif
