/*
 * fault.h - the fault points (include/al_fault.h): the check every allocation and LMDB call
 * makes, and the LMDB calls wrapped with it.
 *
 * Included after <lmdb.h> (store.h does it) so that every file that talks to LMDB calls the
 * wrapped functions. A function-like macro is not expanded again inside its own expansion, so
 * mdb_get(...) below calls the real mdb_get. Calls that return void (mdb_cursor_close,
 * mdb_txn_abort) cannot fail and are not wrapped, nor are the environment calls, whose
 * failure callers do not expect mid-transaction.
 */
#ifndef AL_FAULT_INT_H
#define AL_FAULT_INT_H

#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>

#include "al_fault.h"

/* A bit per enum al_fault_kind being counted; 0 nearly always. */
extern unsigned al__fault_armed;
/* Counts one point of kind; true when it is the one that must fail. */
bool al__fault_hit(int kind);

static inline bool al__fault(int kind)
{
	return __builtin_expect(al__fault_armed != 0, 0) && al__fault_hit(kind);
}

/* What an injected LMDB failure returns: an I/O error, as a failed page write gives. */
#define AL_FAULT_LMDB_RC EIO

#define AL__MDB_FAULT(call) (al__fault(AL_FAULT_LMDB) ? AL_FAULT_LMDB_RC : (call))
#define mdb_get(...) AL__MDB_FAULT(mdb_get(__VA_ARGS__))
#define mdb_put(...) AL__MDB_FAULT(mdb_put(__VA_ARGS__))
#define mdb_del(...) AL__MDB_FAULT(mdb_del(__VA_ARGS__))
#define mdb_cursor_open(...) AL__MDB_FAULT(mdb_cursor_open(__VA_ARGS__))
#define mdb_cursor_get(...) AL__MDB_FAULT(mdb_cursor_get(__VA_ARGS__))
#define mdb_cursor_put(...) AL__MDB_FAULT(mdb_cursor_put(__VA_ARGS__))
#define mdb_cursor_del(...) AL__MDB_FAULT(mdb_cursor_del(__VA_ARGS__))
#define mdb_cursor_count(...) AL__MDB_FAULT(mdb_cursor_count(__VA_ARGS__))
#define mdb_txn_begin(...) AL__MDB_FAULT(mdb_txn_begin(__VA_ARGS__))
#define mdb_dbi_open(...) AL__MDB_FAULT(mdb_dbi_open(__VA_ARGS__))
#define mdb_drop(...) AL__MDB_FAULT(mdb_drop(__VA_ARGS__))
#define mdb_stat(...) AL__MDB_FAULT(mdb_stat(__VA_ARGS__))
/* A failed commit frees the transaction (LMDB aborts it), so the injected one must too. */
int al__txn_commit(MDB_txn *txn);
#define mdb_txn_commit(txn) al__txn_commit(txn)

#endif
