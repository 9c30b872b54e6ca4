/* record.c - sealing and checking stored event records (layout in record.h). */
#include <sodium.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "adminlog.h"
#include "core/record.h"

static uint64_t checksum(const unsigned char *rec, const unsigned char *payload, size_t plen)
{
	/* The same hash in one call over a copy when small (most records): a fold checks every
	 * record, and the streaming state costs more than the copy. */
	unsigned char buf[1024];
	if (plen <= sizeof buf - 24) {
		memcpy(buf, rec, 24);
		memcpy(buf + 24, payload, plen);
		return XXH3_64bits(buf, 24 + plen);
	}
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, rec, 24);
	XXH3_64bits_update(&st, payload, plen);
	return XXH3_64bits_digest(&st);
}

void al__rec_seal(unsigned char *buf, unsigned type, unsigned version, int64_t time_us,
		  uint32_t payload_len)
{
	memset(buf, 0, AL_REC_HEADER);
	buf[0] = AL_FORMAT_VERSION;
	al__be16(buf + 2, type);
	al__be16(buf + 4, version);
	al__be64(buf + 8, (uint64_t)time_us);
	al__be32(buf + 16, payload_len);
	al__be64(buf + 24, checksum(buf, buf + AL_REC_HEADER, payload_len));
}

int al__rec_header(const void *val, size_t len, uint64_t seq, al_rec_header *h, al_error *err)
{
	const unsigned char *b = val;
	if (len < AL_REC_HEADER + AL_REC_HASH)
		return al_err(err, AL_ECORRUPT, "event %llu: record too short (%zu bytes)",
			      (unsigned long long)seq, len);
	h->format = b[0];
	h->type = al__get_be16(b + 2);
	h->version = al__get_be16(b + 4);
	h->time_us = (int64_t)al__get_be64(b + 8);
	h->payload_len = al__get_be32(b + 16);
	h->checksum = al__get_be64(b + 24);
	if ((size_t)h->payload_len + AL_REC_HEADER + AL_REC_HASH != len)
		return al_err(err, AL_ECORRUPT, "event %llu: payload length %u does not match record size %zu",
			      (unsigned long long)seq, h->payload_len, len);
	return AL_OK;
}

int al__rec_open(const void *val, size_t len, uint64_t seq, al_rec_header *h, al_error *err)
{
	const unsigned char *b = val;
	int rc = al__rec_header(val, len, seq, h, err);
	if (rc)
		return rc;
	if (checksum(b, b + AL_REC_HEADER, h->payload_len) != h->checksum)
		return al_err(err, AL_ECORRUPT, "event %llu: checksum mismatch", (unsigned long long)seq);
	if (h->format != AL_FORMAT_VERSION)
		return al_err(err, AL_EUNSUPPORTED, "event %llu: record format %u, this build reads %u",
			      (unsigned long long)seq, h->format, AL_FORMAT_VERSION);
	return AL_OK;
}

void al__rec_chain(const unsigned char prev[32], const void *rec, size_t rec_len, unsigned char out[32])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, prev, 32);
	crypto_generichash_update(&st, rec, rec_len);
	crypto_generichash_final(&st, out, 32);
}
