/*
 * migrate.c - the migrations runner (see include/store/migrate.h).
 *
 * Migration texts are trusted (they are compiled in) and contain several
 * statements, so they go through PQexec; the bookkeeping statements are
 * parameterised like every other query.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "store/db.h"
#include "store/migrate.h"

/* An arbitrary constant naming our advisory lock. */
#define MIGRATE_LOCK_KEY "7262851042"

static const char SQL_CREATE_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

static bool
run_plain(PGconn *conn, const char *what, const char *sql, struct err *err)
{
	PGresult *res = PQexec(conn, sql);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
		  PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok) {
		log_error("could not %s: %s", what, PQresultErrorMessage(res));
		err_set(err, 503, "migration_failed", "could not %s", what);
	}
	PQclear(res);
	return ok;
}

static bool
apply_one(PGconn *conn, const struct migration *m, struct err *err)
{
	char version[16];
	const char *params[2] = { version, m->name };
	PGresult *res;
	bool done;

	snprintf(version, sizeof(version), "%d", m->version);
	if (!run_plain(conn, "begin a migration", "BEGIN", err))
		return false;
	if (!db_command(conn, "lock migrations",
		"SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", 0, NULL,
		err))
		goto fail;
	res = db_exec(conn, "check a migration",
	    "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params,
	    err);
	if (res == NULL)
		goto fail;
	done = PQntuples(res) > 0;
	PQclear(res);
	if (!done) {
		if (!run_plain(conn, m->name, m->sql, err))
			goto fail;
		if (!db_command(conn, "record a migration",
			"INSERT INTO schema_migrations (version, name) "
			"VALUES ($1, $2)",
			2, params, err))
			goto fail;
		log_kv(LOG_INFO, "migration applied", "name", m->name, NULL);
	}
	return run_plain(conn, "commit a migration", "COMMIT", err);
fail:
	PQclear(PQexec(conn, "ROLLBACK"));
	return false;
}

bool
migrate_apply(PGconn *conn, struct err *err)
{
	if (!run_plain(conn, "lock migrations",
		"SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err))
		return false;
	if (!run_plain(
		conn, "create the migrations table", SQL_CREATE_TABLE, err))
		goto out;
	for (const struct migration *m = migrations; m->name != NULL; m++)
		if (!apply_one(conn, m, err))
			goto out;
out:
	PQclear(
	    PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
	return !err_is_set(err);
}

int
migrate_latest_version(void)
{
	int latest = 0;

	for (const struct migration *m = migrations; m->name != NULL; m++)
		if (m->version > latest)
			latest = m->version;
	return latest;
}

int
migrate_pending(PGconn *conn)
{
	PGresult *res;
	int pending = 0;

	res = PQexec(conn, "SELECT version FROM schema_migrations");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return PQstatus(conn) == CONNECTION_OK ? 1 : -1;
	}
	for (const struct migration *m = migrations; m->name != NULL; m++) {
		bool found = false;

		for (int i = 0; i < PQntuples(res) && !found; i++)
			found = atoi(PQgetvalue(res, i, 0)) == m->version;
		pending += !found;
	}
	PQclear(res);
	return pending;
}
