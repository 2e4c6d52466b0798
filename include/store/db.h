/*
 * db.h - the PostgreSQL connection pool and small libpq helpers.
 *
 * A fixed number of connections, opened lazily and re-opened when the
 * server went away, handed out one per unit of work.  Every statement is
 * parameterised (PQexecParams); SQL error text goes to the log, never to a
 * client.
 */
#ifndef ENGAGEMENTD_STORE_DB_H
#define ENGAGEMENTD_STORE_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

struct db_pool;

/* err->code of a statement that lost a deadlock or serialization
 * conflict: running its transaction again may well succeed. */
#define DB_ERR_CONFLICT "database_conflict"

/* Creates a pool of size connections to conninfo; connects nothing yet. */
struct db_pool *db_pool_new(
    const char *conninfo, int size, int statement_timeout_ms);

/* Closes every connection and frees the pool.  NULL is accepted. */
void db_pool_free(struct db_pool *pool);

/*
 * Borrows a live connection, waiting up to wait_ms for one to be free.
 * Returns NULL with err set to 503 when none can be had or the database
 * does not answer.  Give it back with db_pool_release.
 */
PGconn *db_pool_acquire(struct db_pool *pool, int wait_ms, struct err *err);

/*
 * Returns a connection.  broken tells the pool to reset it (after a failed
 * statement whose cause may be the connection itself).
 */
void db_pool_release(struct db_pool *pool, PGconn *conn, bool broken);

/* True when a fresh connection can run SELECT 1. */
bool db_pool_ping(struct db_pool *pool);

/*
 * Runs a parameterised statement (text parameters, NULL for SQL NULL).
 * Returns the result when its status is COMMAND_OK or TUPLES_OK; otherwise
 * logs what (the statement's name) failed, clears the result, sets err to
 * 503 and returns NULL.  Caller PQclear()s.
 */
PGresult *db_exec(PGconn *conn, const char *what, const char *sql, int nparams,
    const char *const *params, struct err *err);

/*
 * A statement of the hot paths, prepared once per connection on first use
 * so PostgreSQL parses and plans it once instead of on every request.
 * Declare one per statement as a static with name and sql set; id is
 * assigned on first use.  Only for connections of a pool.
 */
struct db_statement {
	const char *name; /* unique, names the prepared statement */
	const char *sql;
	int nparams;
	int id; /* 0 until first use */
};

/* db_exec through the statement's prepared form. */
PGresult *db_run(PGconn *conn, struct db_statement *st,
    const char *const *params, struct err *err);

/* True when conn has prepared st (it ran on this connection before). */
bool db_is_prepared(PGconn *conn, struct db_statement *st);

/* db_run for statements without a result; returns false on failure. */
bool db_run_command(PGconn *conn, struct db_statement *st,
    const char *const *params, struct err *err) MUST_CHECK;

/*
 * Drops the notices and out-of-query messages libpq would otherwise print
 * on stderr (the log there is JSON lines); the pool's connections get this
 * when opened.
 */
void db_quiet_notices(PGconn *conn);

/*
 * A running count kept per connection for its user (the merge counts the
 * rows that passed through its staging tables): db_conn_tally adds n and
 * returns the new total, db_conn_tally_reset sets it back to zero.  A
 * connection closed and reopened starts at zero.
 */
uint64_t db_conn_tally(PGconn *conn, uint64_t n);
void db_conn_tally_reset(PGconn *conn);

/*
 * A pipeline: statements sent back to back and their results read after
 * one Sync, so a unit of work pays one round trip instead of one per
 * statement (libpq's pipeline mode).  Send with db_pipe_send, then call
 * db_pipe_next once per statement sent, in order, then db_pipe_finish,
 * whatever happened before.  After the first failure every later result
 * is NULL too (PostgreSQL skips the rest up to the Sync); err holds the
 * first failure, marked DB_ERR_CONFLICT for a deadlock as with db_run.
 */
#define DB_PIPE_MAX 24

struct db_pipe {
	PGconn *conn;
	struct err *err;
	struct db_statement *sent[DB_PIPE_MAX];
	bool preparing[DB_PIPE_MAX]; /* a Prepare went ahead of the statement */
	int nsent, nread;
	bool synced;
	bool failed;
};

/* Enters pipeline mode on conn (no result may be pending). */
bool db_pipe_start(
    struct db_pipe *pipe, PGconn *conn, struct err *err) MUST_CHECK;

/* Queues st with params (preparing it first on this connection's first
 * use); a failure to queue shows in db_pipe_next. */
void db_pipe_send(
    struct db_pipe *pipe, struct db_statement *st, const char *const *params);

/* The result of the next statement sent (its first call sends the Sync);
 * NULL on failure.  Caller PQclear()s. */
PGresult *db_pipe_next(struct db_pipe *pipe);

/* Reads what is left up to the Sync and leaves pipeline mode; false when
 * any statement failed. */
bool db_pipe_finish(struct db_pipe *pipe) MUST_CHECK;

/* db_exec for statements without a result; returns false on failure. */
bool db_command(PGconn *conn, const char *what, const char *sql, int nparams,
    const char *const *params, struct err *err) MUST_CHECK;

/* True when a failure on conn means the connection itself is gone. */
bool db_conn_broken(PGconn *conn);

/* Prints every row of res, columns separated by tabs, for the admin
 * commands' listings. */
void db_print_rows(const PGresult *res, FILE *out);

/* The value of row, col as int64 (0 when NULL). */
int64_t db_int64(const PGresult *res, int row, int col);

/* True when row, col holds boolean true. */
bool db_bool(const PGresult *res, int row, int col);

/* The value of row, col, or NULL when SQL NULL.  Borrowed from res. */
const char *db_text(const PGresult *res, int row, int col);

#endif
