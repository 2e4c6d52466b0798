/*
 * db.c - connection pool and libpq helpers (see include/store/db.h).
 *
 * Connections are opened on first use, not at start, so the service can
 * start (and answer /healthz) while PostgreSQL is still down; /readyz says
 * when it is not ready.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/xmalloc.h"
#include "store/db.h"

/*
 * Which statements each pooled connection has prepared (a bit per
 * statement id) and its db_conn_tally count, in a small table keyed by the
 * connection, since libpq has no per-connection user data.  An entry is
 * dropped when its connection is closed, so a later connection at the same
 * address starts clean.
 */
#define DB_MAX_STATEMENTS 64
#define DB_MAX_TRACKED 512

struct prepared_entry {
	PGconn *conn;
	uint64_t prepared;
	uint64_t tally; /* db_conn_tally's count */
};

static pthread_mutex_t prepared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct prepared_entry prepared_table[DB_MAX_TRACKED];
static int statement_ids;

static void
prepared_forget(PGconn *conn)
{
	pthread_mutex_lock(&prepared_lock);
	for (int i = 0; i < DB_MAX_TRACKED; i++)
		if (prepared_table[i].conn == conn)
			prepared_table[i].conn = NULL;
	pthread_mutex_unlock(&prepared_lock);
}

static void
close_connection(PGconn *conn)
{
	prepared_forget(conn);
	PQfinish(conn);
}

/* True when conn has st prepared; assigns st->id on first use. */
static bool
prepared_has(PGconn *conn, struct db_statement *st)
{
	bool has = false;

	pthread_mutex_lock(&prepared_lock);
	if (st->id == 0 && statement_ids < DB_MAX_STATEMENTS)
		st->id = ++statement_ids;
	for (int i = 0; i < DB_MAX_TRACKED; i++) {
		if (prepared_table[i].conn == conn) {
			has = (prepared_table[i].prepared &
				  (1ULL << (st->id - 1))) != 0;
			break;
		}
	}
	pthread_mutex_unlock(&prepared_lock);
	return has;
}

/* The entry of conn, made if it has none; NULL when the table is full.
 * Called with prepared_lock held. */
static struct prepared_entry *
entry_of(PGconn *conn)
{
	struct prepared_entry *free_entry = NULL;

	for (int i = 0; i < DB_MAX_TRACKED; i++) {
		if (prepared_table[i].conn == conn)
			return &prepared_table[i];
		if (prepared_table[i].conn == NULL && free_entry == NULL)
			free_entry = &prepared_table[i];
	}
	if (free_entry != NULL) {
		free_entry->conn = conn;
		free_entry->prepared = 0;
		free_entry->tally = 0;
	}
	return free_entry;
}

static void
prepared_mark(PGconn *conn, const struct db_statement *st)
{
	struct prepared_entry *entry;

	pthread_mutex_lock(&prepared_lock);
	entry = entry_of(conn);
	if (entry != NULL)
		entry->prepared |= 1ULL << (st->id - 1);
	pthread_mutex_unlock(&prepared_lock);
}

uint64_t
db_conn_tally(PGconn *conn, uint64_t n)
{
	struct prepared_entry *entry;
	uint64_t total = n;

	pthread_mutex_lock(&prepared_lock);
	entry = entry_of(conn);
	if (entry != NULL)
		total = entry->tally += n;
	pthread_mutex_unlock(&prepared_lock);
	return total;
}

void
db_conn_tally_reset(PGconn *conn)
{
	struct prepared_entry *entry;

	pthread_mutex_lock(&prepared_lock);
	entry = entry_of(conn);
	if (entry != NULL)
		entry->tally = 0;
	pthread_mutex_unlock(&prepared_lock);
}

struct db_pool {
	char *conninfo;
	int size;
	int statement_timeout_ms;
	pthread_mutex_t lock;
	pthread_cond_t freed;
	PGconn **idle; /* stack of idle slots; NULL entries are unopened */
	int idle_count;
};

struct db_pool *
db_pool_new(const char *conninfo, int size, int statement_timeout_ms)
{
	struct db_pool *pool = xcalloc(1, sizeof(*pool));

	pool->conninfo = xstrdup(conninfo);
	pool->size = size < 1 ? 1 : size;
	pool->statement_timeout_ms = statement_timeout_ms;
	pool->idle = xcalloc((size_t)pool->size, sizeof(PGconn *));
	pool->idle_count = pool->size;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->freed, NULL);
	return pool;
}

void
db_pool_free(struct db_pool *pool)
{
	if (pool == NULL)
		return;
	for (int i = 0; i < pool->idle_count; i++)
		if (pool->idle[i] != NULL)
			close_connection(pool->idle[i]);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->freed);
	free(pool->idle);
	free(pool->conninfo);
	free(pool);
}

static void
quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

void
db_quiet_notices(PGconn *conn)
{
	if (conn != NULL)
		PQsetNoticeProcessor(conn, quiet_notice, NULL);
}

static PGconn *
open_connection(struct db_pool *pool)
{
	PGconn *conn = PQconnectdb(pool->conninfo);
	char timeout[32];
	const char *params[1] = { timeout };
	PGresult *res;

	if (PQstatus(conn) != CONNECTION_OK) {
		log_warning("could not connect to the database: %s",
		    PQerrorMessage(conn));
		PQfinish(conn);
		metrics_add(METRIC_DB_ERRORS, 1);
		return NULL;
	}
	PQsetNoticeProcessor(conn, quiet_notice, NULL);
	snprintf(timeout, sizeof(timeout), "%d", pool->statement_timeout_ms);
	res = PQexecParams(conn,
	    "SELECT set_config('statement_timeout', $1, false), "
	    "set_config('timezone', 'UTC', false)",
	    1, NULL, params, NULL, NULL, 0);
	PQclear(res);
	return conn;
}

PGconn *
db_pool_acquire(struct db_pool *pool, int wait_ms, struct err *err)
{
	struct timespec deadline;
	PGconn *conn;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += wait_ms / 1000;
	deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool->lock);
	while (pool->idle_count == 0) {
		if (pthread_cond_timedwait(
			&pool->freed, &pool->lock, &deadline) == ETIMEDOUT) {
			pthread_mutex_unlock(&pool->lock);
			err_set(err, 503, "database_unavailable",
			    "the database is busy; try again");
			return NULL;
		}
	}
	conn = pool->idle[--pool->idle_count];
	pthread_mutex_unlock(&pool->lock);

	if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
		close_connection(conn);
		conn = NULL;
	}
	if (conn == NULL)
		conn = open_connection(pool);
	if (conn == NULL) {
		db_pool_release(pool, NULL, false);
		err_set(err, 503, "database_unavailable",
		    "the database is unavailable; try again");
		return NULL;
	}
	return conn;
}

void
db_pool_release(struct db_pool *pool, PGconn *conn, bool broken)
{
	if (conn != NULL && (broken || PQstatus(conn) != CONNECTION_OK ||
				PQtransactionStatus(conn) != PQTRANS_IDLE)) {
		close_connection(conn);
		conn = NULL;
	}
	pthread_mutex_lock(&pool->lock);
	pool->idle[pool->idle_count++] = conn;
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
}

bool
db_pool_ping(struct db_pool *pool)
{
	struct err err = { 0 };
	PGconn *conn = db_pool_acquire(pool, 1000, &err);
	PGresult *res;
	bool ok;

	if (conn == NULL)
		return false;
	res = PQexec(conn, "SELECT 1");
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	db_pool_release(pool, conn, !ok);
	return ok;
}

/*
 * Records a failed statement: logged with the server's text (never sent
 * to a client), counted, and turned into a 503.  A deadlock or a
 * serialization failure is marked DB_ERR_CONFLICT so that a caller may
 * run the transaction again.
 */
static void
fail_statement(PGconn *conn, PGresult *res, const char *what, struct err *err)
{
	const char *state =
	    res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	bool conflict = state != NULL && (strcmp(state, "40P01") == 0 ||
					     strcmp(state, "40001") == 0);

	log_kv(conflict ? LOG_WARNING : LOG_ERROR, "could not run a statement",
	    "statement", what, "error",
	    res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn),
	    NULL);
	metrics_add(METRIC_DB_ERRORS, 1);
	PQclear(res);
	err_set(err, 503, conflict ? DB_ERR_CONFLICT : "database_unavailable",
	    "the database could not complete the request; try again");
}

PGresult *
db_exec(PGconn *conn, const char *what, const char *sql, int nparams,
    const char *const *params, struct err *err)
{
	PGresult *res =
	    PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	fail_statement(conn, res, what, err);
	return NULL;
}

PGresult *
db_run(PGconn *conn, struct db_statement *st, const char *const *params,
    struct err *err)
{
	PGresult *res;
	ExecStatusType status;

	if (!prepared_has(conn, st)) {
		if (st->id == 0)
			return db_exec(
			    conn, st->name, st->sql, st->nparams, params, err);
		res = PQprepare(conn, st->name, st->sql, st->nparams, NULL);
		status = PQresultStatus(res);
		if (status != PGRES_COMMAND_OK) {
			log_kv(LOG_ERROR, "could not prepare a statement",
			    "statement", st->name, "error",
			    res != NULL ? PQresultErrorMessage(res)
					: PQerrorMessage(conn),
			    NULL);
			metrics_add(METRIC_DB_ERRORS, 1);
			PQclear(res);
			err_set(err, 503, "database_unavailable",
			    "the database could not complete the request; try again");
			return NULL;
		}
		PQclear(res);
		prepared_mark(conn, st);
	}
	res =
	    PQexecPrepared(conn, st->name, st->nparams, params, NULL, NULL, 0);
	status = PQresultStatus(res);
	if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
		return res;
	fail_statement(conn, res, st->name, err);
	return NULL;
}

bool
db_pipe_start(struct db_pipe *pipe, PGconn *conn, struct err *err)
{
	memset(pipe, 0, sizeof(*pipe));
	pipe->conn = conn;
	pipe->err = err;
	if (PQenterPipelineMode(conn) == 1)
		return true;
	fail_statement(conn, NULL, "enter pipeline mode", err);
	return false;
}

/* Records the pipeline's first failure; later ones are its echoes. */
static void
pipe_fail(struct db_pipe *pipe, PGresult *res, const char *what)
{
	if (pipe->failed) {
		PQclear(res);
		return;
	}
	pipe->failed = true;
	fail_statement(pipe->conn, res, what, pipe->err);
}

void
db_pipe_send(
    struct db_pipe *pipe, struct db_statement *st, const char *const *params)
{
	PGconn *conn = pipe->conn;
	int slot = pipe->nsent;
	int ok = 1;

	/* the callers send a fixed list of statements: more is a bug */
	if (slot >= DB_PIPE_MAX)
		abort();
	if (pipe->failed)
		return;
	pipe->sent[slot] = st;
	pipe->nsent++;
	if (!prepared_has(conn, st)) {
		if (st->id == 0) {
			ok = PQsendQueryParams(conn, st->sql, st->nparams, NULL,
			    params, NULL, NULL, 0);
			goto sent;
		}
		pipe->preparing[slot] = true;
		ok = PQsendPrepare(conn, st->name, st->sql, st->nparams, NULL);
	}
	if (ok == 1)
		ok = PQsendQueryPrepared(
		    conn, st->name, st->nparams, params, NULL, NULL, 0);
sent:
	if (ok != 1)
		pipe_fail(pipe, NULL, st->name);
}

static void
pipe_sync(struct db_pipe *pipe)
{
	if (pipe->synced)
		return;
	pipe->synced = true;
	if (PQpipelineSync(pipe->conn) != 1)
		pipe_fail(pipe, NULL, "pipeline sync");
}

/* One command's result, and the NULL that ends its results. */
static PGresult *
pipe_take(PGconn *conn)
{
	PGresult *res = PQgetResult(conn), *more;

	if (res == NULL)
		return NULL;
	while ((more = PQgetResult(conn)) != NULL)
		PQclear(more);
	return res;
}

PGresult *
db_pipe_next(struct db_pipe *pipe)
{
	struct db_statement *st;
	PGresult *res;
	ExecStatusType status;
	int slot = pipe->nread;

	pipe_sync(pipe);
	if (pipe->failed || slot >= pipe->nsent)
		return NULL;
	pipe->nread++;
	st = pipe->sent[slot];
	if (pipe->preparing[slot]) {
		res = pipe_take(pipe->conn);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			pipe_fail(pipe, res, st->name);
			return NULL;
		}
		PQclear(res);
		prepared_mark(pipe->conn, st);
	}
	res = pipe_take(pipe->conn);
	status = PQresultStatus(res);
	if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
		return res;
	pipe_fail(pipe, res, st->name);
	return NULL;
}

bool
db_pipe_finish(struct db_pipe *pipe)
{
	PGconn *conn = pipe->conn;
	/* each command ends with a NULL; more than that means the Sync
	 * will not come (the connection is gone) */
	int ends_left = 2 * DB_PIPE_MAX + 2;

	pipe_sync(pipe);
	while (PQstatus(conn) == CONNECTION_OK) {
		PGresult *res = PQgetResult(conn);
		ExecStatusType status;

		if (res == NULL) {
			if (--ends_left < 0)
				break;
			continue;
		}
		status = PQresultStatus(res);
		if (status == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		if (status == PGRES_FATAL_ERROR)
			pipe_fail(pipe, res, "pipelined statement");
		else
			PQclear(res);
	}
	if (PQexitPipelineMode(conn) != 1)
		pipe_fail(pipe, NULL, "leave pipeline mode");
	return !pipe->failed;
}

bool
db_is_prepared(PGconn *conn, struct db_statement *st)
{
	return prepared_has(conn, st);
}

bool
db_run_command(PGconn *conn, struct db_statement *st, const char *const *params,
    struct err *err)
{
	PGresult *res = db_run(conn, st, params, err);

	PQclear(res);
	return res != NULL;
}

bool
db_command(PGconn *conn, const char *what, const char *sql, int nparams,
    const char *const *params, struct err *err)
{
	PGresult *res = db_exec(conn, what, sql, nparams, params, err);

	PQclear(res);
	return res != NULL;
}

bool
db_conn_broken(PGconn *conn)
{
	return conn == NULL || PQstatus(conn) != CONNECTION_OK;
}

void
db_print_rows(const PGresult *res, FILE *out)
{
	for (int r = 0; r < PQntuples(res); r++)
		for (int c = 0; c < PQnfields(res); c++)
			fprintf(out, "%s%c", PQgetvalue(res, r, c),
			    c + 1 < PQnfields(res) ? '\t' : '\n');
}

int64_t
db_int64(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

bool
db_bool(const PGresult *res, int row, int col)
{
	return strcmp(PQgetvalue(res, row, col), "t") == 0;
}

const char *
db_text(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}
