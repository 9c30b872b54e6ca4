/*
 * record.h - the byte layout of one stored event (the value under its seq in `events`).
 *
 *   OFFSET SIZE DESCRIPTION
 *        0    1 format version (AL_FORMAT_VERSION = 1); a mismatch is AL_EUNSUPPORTED
 *        1    1 flags, 0
 *        2    2 event type number, big-endian (schemas/events.def)
 *        4    2 event type version the payload was written in, big-endian
 *        6    2 reserved, 0
 *        8    8 time, µs since the Unix epoch, big-endian signed; never decreases along the log
 *       16    4 payload length P, big-endian
 *       20    4 reserved, 0
 *       24    8 xxh3-64 over bytes [0,24) followed by the payload, big-endian
 *       32    P payload: msgpack map {actor, request_id?, kind, id, reason?, fields}
 *     32+P   32 chain hash h[seq] = BLAKE2b-256(h[seq-1] || bytes [0, 32+P)); h[0] = 32 zero bytes
 *
 * The key is the seq as 8 bytes big-endian, so LMDB's order is log order. docs/format.md
 * mirrors this table.
 */
#ifndef AL_RECORD_H
#define AL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "al_err.h"

#define AL_REC_HEADER 32
#define AL_REC_HASH 32

typedef struct al_rec_header {
	unsigned format;
	unsigned type;
	unsigned version;
	int64_t time_us;
	uint32_t payload_len;
	uint64_t checksum;
} al_rec_header;

/* Writes the header for payload (already at buf + AL_REC_HEADER) including its checksum. */
void al__rec_seal(unsigned char *buf, unsigned type, unsigned version, int64_t time_us,
		  uint32_t payload_len);
/* Parses and checks a stored value (record + chain hash). AL_ECORRUPT names seq. */
int al__rec_open(const void *val, size_t len, uint64_t seq, al_rec_header *h, al_error *err);
/* Its first part: the header parsed and the lengths checked, neither checksum nor format (a
 * fold's decoder leaves the checksum to the thread that applies the event). */
int al__rec_header(const void *val, size_t len, uint64_t seq, al_rec_header *h, al_error *err);
/* h = BLAKE2b-256(prev || record bytes). */
void al__rec_chain(const unsigned char prev[32], const void *rec, size_t rec_len, unsigned char out[32]);

static inline void al__be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}
static inline uint64_t al__get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}
static inline void al__be32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}
static inline uint32_t al__get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void al__be16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}
static inline unsigned al__get_be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

#endif
