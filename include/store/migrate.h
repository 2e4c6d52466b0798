/*
 * migrate.h - applies the numbered migrations of sql/, embedded in the
 * binary at build time, and tells whether the database is current.
 */
#ifndef ENGAGEMENTD_STORE_MIGRATE_H
#define ENGAGEMENTD_STORE_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "core/err.h"

struct migration {
	int version;
	const char *name;
	const char *sql;
};

/* Every migration in version order, ending with a NULL name. */
extern const struct migration migrations[];

/*
 * Applies the migrations not yet recorded in schema_migrations, each in its
 * own transaction, under an advisory lock so that several instances
 * starting together apply each once.  Returns false with err set on failure.
 */
bool migrate_apply(PGconn *conn, struct err *err) MUST_CHECK;

/*
 * Number of embedded migrations the database has not applied, or -1 when
 * the question cannot be answered (no connection, no table yet counts as
 * all pending).
 */
int migrate_pending(PGconn *conn);

/* The newest embedded version. */
int migrate_latest_version(void);

#endif
