/*
 * keys.h - accounts and their API keys.
 *
 * A key is 32 random bytes shown once as "ek_" + hex; only its SHA-256 is
 * stored.  Lookups go by the hash, so comparing a presented key costs one
 * index probe and leaks nothing about stored keys through timing.
 */
#ifndef ENGAGEMENTD_STORE_KEYS_H
#define ENGAGEMENTD_STORE_KEYS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

struct db_pool;

/*
 * The account a presented key belongs to.  Returns 1 valid, 0 unknown or
 * revoked, -1 database failure (err set).  Results are cached for
 * KEYS_CACHE_TTL_S seconds, which bounds how long a revoked key still works.
 */
#define KEYS_CACHE_TTL_S 30
int keys_authenticate(struct db_pool *pool, const char *key,
    int64_t *account_id, struct err *err);

/* Makes sure key exists for account (the start-up key from the config). */
bool keys_ensure(PGconn *conn, int64_t account_id, const char *key,
    const char *label, struct err *err) MUST_CHECK;

/* Creates a new random key for account; writes it into out (>= 80 bytes). */
bool keys_create(PGconn *conn, int64_t account_id, const char *label, char *out,
    size_t outlen, struct err *err) MUST_CHECK;

/* Prints the keys of account (prefix, label, dates), one per line. */
bool keys_list(
    PGconn *conn, int64_t account_id, FILE *out, struct err *err) MUST_CHECK;

/* Revokes the key with this prefix in account.  1 done, 0 none, -1 error. */
int keys_revoke(
    PGconn *conn, int64_t account_id, const char *prefix, struct err *err);

/* The id of the account named name: 1 found, 0 none, -1 error. */
int keys_account_id(
    PGconn *conn, const char *name, int64_t *account_id, struct err *err);

/* Creates an account; its id is written to *account_id. */
bool keys_account_create(PGconn *conn, const char *name, int64_t *account_id,
    struct err *err) MUST_CHECK;

/* Prints every account (id, name, created), one per line. */
bool keys_account_list(PGconn *conn, FILE *out, struct err *err) MUST_CHECK;

/* Forgets cached key lookups. */
void keys_cache_clear(void);

#endif
