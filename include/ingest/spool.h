/*
 * spool.h - the local spool: where a request's events go, durably, while
 * the database cannot commit them, and the loader thread that moves them
 * into PostgreSQL once it can.
 *
 * A 2xx answer for a spooled request is only given after the record that
 * holds it has been flushed to disk (fdatasync).  The format, the recovery
 * rules and the guarantees are described at the top of src/ingest/spool.c
 * and in docs/reliability.md.
 */
#ifndef ENGAGEMENTD_INGEST_SPOOL_H
#define ENGAGEMENTD_INGEST_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "ingest/event.h"

struct spool;

/* Bytes of the fixed header in front of every record's payload. */
#define SPOOL_HEADER_SIZE 32
/* A record's payload is never larger than this. */
#define SPOOL_MAX_PAYLOAD (64u * 1024u * 1024u)
/* Consecutive database errors on one record before it is moved aside. */
#define SPOOL_REJECT_AFTER 5

/* One request read back from the spool; see spool_next. */
struct spool_record {
	int64_t account_id;
	char *provider;
	int64_t received_ms;      /* service clock when the request came */
	int64_t created_ms;       /* wall clock when it was written */
	struct event_batch batch; /* verdicts as decided at the request */
	uint64_t offset;          /* where the record starts in the file */
	uint64_t end;             /* the first byte after it */
};

/* What the loader's commit function says about one record. */
enum spool_load {
	SPOOL_LOAD_OK = 0,      /* committed (or all duplicates) */
	SPOOL_LOAD_UNAVAILABLE, /* the database cannot commit now: wait */
	SPOOL_LOAD_FAILED       /* the database refused it: may be for good */
};

/*
 * Commits rec in one transaction.  Called by the loader thread only, for
 * the oldest record first; err (never NULL) may say why it failed.
 */
typedef enum spool_load (*spool_load_fn)(
    void *ctx, const struct spool_record *rec, struct err *err);

/*
 * Opens (creating it, mode 0700, when missing) the spool in dir, checks
 * what a crash may have left (a torn tail is cut off, with one log line)
 * and takes an exclusive lock on it so two processes never share it.
 * max_bytes bounds the data file.  Returns false with err set when the
 * directory or its files cannot be used.  Close with spool_close.
 */
bool spool_open(const char *dir, int64_t max_bytes, struct spool **out,
    struct err *err) MUST_CHECK;

/* Stops the loader when it runs, closes the files and frees sp.  NULL ok. */
void spool_close(struct spool *sp);

/*
 * Writes one request (its events with their verdicts) and returns once the
 * record is on disk; several threads may append at once and share one
 * flush.  received_ms is the service clock of the request.  Returns false
 * with err set (503) when the spool is full or the disk failed; nothing of
 * the request is then kept.
 */
bool spool_append(struct spool *sp, int64_t account_id, const char *provider,
    int64_t received_ms, const struct event_batch *batch,
    struct err *err) MUST_CHECK;

/*
 * Reads the oldest record not yet consumed into rec (caller clears it with
 * spool_record_clear).  Corrupt records are skipped with a log line; one
 * whose checksum holds but whose content cannot be read is moved aside.
 * Returns 1 with a record, 0 when the spool is empty, -1 with err set when
 * the file cannot be read.
 */
int spool_next(struct spool *sp, struct spool_record *rec, struct err *err);

/*
 * Marks rec (the one spool_next gave) as loaded: the read position moves
 * past it durably, and the file is emptied once everything is loaded.
 * Returns false with err set when the position could not be saved; the
 * record will then be read again (loading is idempotent).
 */
bool spool_consume(struct spool *sp, const struct spool_record *rec,
    struct err *err) MUST_CHECK;

/*
 * Moves rec aside to rejected/ in the spool directory (same format) with a
 * log line saying why, then consumes it.
 */
bool spool_reject(struct spool *sp, const struct spool_record *rec,
    const char *why, struct err *err) MUST_CHECK;

/* Frees what spool_next put in rec and zeroes it. */
void spool_record_clear(struct spool_record *rec);

/* Bytes written and not yet loaded. */
uint64_t spool_pending_bytes(struct spool *sp);

/*
 * Starts the loader thread: it commits records through load(ctx, ...) in
 * order while the spool is not empty, waits between attempts while the
 * database is unavailable, and moves a record aside after
 * SPOOL_REJECT_AFTER consecutive SPOOL_LOAD_FAILED answers.  At most one
 * loader per spool.
 */
void spool_loader_start(struct spool *sp, spool_load_fn load, void *ctx);

/* Stops the loader and waits for it; a record in progress finishes. */
void spool_loader_stop(struct spool *sp);

/*
 * Sets the loader's wait after a failed attempt: it starts at min_ms and
 * doubles up to max_ms (defaults 1000 and 5000).  For tests.
 */
void spool_set_retry(struct spool *sp, int min_ms, int max_ms);

/* CRC-32C (Castagnoli) of len bytes, as the record header stores it. */
uint32_t spool_crc32c(const void *data, size_t len);

#endif
