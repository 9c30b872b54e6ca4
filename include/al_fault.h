/*
 * al_fault.h - fault injection, for tests only (SQLite's faultsim, in C).
 *
 * The library counts two kinds of fault points while a fault is set: its own allocations
 * (AL_FAULT_ALLOC: every al_malloc/al_calloc/al_realloc/al_strdup, every growth of a msgpack
 * buffer it writes, every zone allocation and decode it makes) and its LMDB calls that can
 * fail (AL_FAULT_LMDB: get, put, del, the cursor calls, txn begin and commit, dbi open, drop,
 * stat). The nth point of a kind then fails as a real failure would: the allocation returns
 * NULL, the LMDB call returns EIO (a failed commit aborts its transaction, as LMDB does).
 * A command that meets one must fail cleanly: AL_ENO_MEMORY or AL_EIO_ERROR with a message,
 * its reply fully set, and nothing of it left in the store. docs/architecture.md, "Faults and
 * allocation", says what is covered; tests/test_faults.c runs it.
 *
 * The counters are process-wide and not synchronised: set faults only while one thread uses
 * the library. When no fault is set, each point costs one load and one branch.
 */
#ifndef AL_FAULT_H
#define AL_FAULT_H

enum al_fault_kind { AL_FAULT_ALLOC, AL_FAULT_LMDB, AL_FAULT__COUNT };

/*
 * Starts counting the fault points of kind from zero; the nth one from now fails, and only
 * that one (a transient fault). A negative nth makes point -nth and every later one fail (a
 * persistent fault, as memory that stays exhausted). 0 stops counting and injects nothing.
 * LONG_MAX counts without failing, to learn how many points a call has.
 */
void al_fault_set(int kind, long nth);
/* The points of kind counted since al_fault_set (the failing one included). */
long al_fault_count(int kind);

#endif
