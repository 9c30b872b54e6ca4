/* fault.c - the fault injection counters (al_fault.h) and the wrapped LMDB commit. */
#include "util/fault.h"

unsigned al__fault_armed;
static long nth[AL_FAULT__COUNT], count[AL_FAULT__COUNT];
static bool persist[AL_FAULT__COUNT];

void al_fault_set(int kind, long n)
{
	if (kind < 0 || kind >= AL_FAULT__COUNT)
		return;
	count[kind] = 0;
	nth[kind] = n < 0 ? -n : n;
	persist[kind] = n < 0;
	if (n != 0)
		al__fault_armed |= 1u << kind;
	else
		al__fault_armed &= ~(1u << kind);
}

long al_fault_count(int kind) { return kind >= 0 && kind < AL_FAULT__COUNT ? count[kind] : 0; }

bool al__fault_hit(int kind)
{
	if (!(al__fault_armed & (1u << kind)))
		return false;
	++count[kind];
	return persist[kind] ? count[kind] >= nth[kind] : count[kind] == nth[kind];
}

int al__txn_commit(MDB_txn *txn)
{
	if (al__fault(AL_FAULT_LMDB)) {
		mdb_txn_abort(txn);
		return AL_FAULT_LMDB_RC;
	}
	return (mdb_txn_commit)(txn);
}
