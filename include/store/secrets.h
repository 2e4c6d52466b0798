/*
 * secrets.h - per-account webhook credentials kept in the database
 * (webhook_secrets), for every account but the default one, whose
 * credentials may come from the configuration file instead.
 */
#ifndef ENGAGEMENTD_STORE_SECRETS_H
#define ENGAGEMENTD_STORE_SECRETS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "core/err.h"

/* The names a secret may have: the fields of struct config_sender. */
bool secrets_name_valid(const char *name);

/*
 * Loads account's credentials for provider into out (strings owned by out;
 * free with secrets_clear).  Returns the number of values found, -1 on a
 * database failure.
 */
int secrets_load(PGconn *conn, int64_t account_id, const char *provider,
    struct config_sender *out, struct err *err);

void secrets_clear(struct config_sender *s);

/* Sets or replaces one value. */
bool secrets_set(PGconn *conn, int64_t account_id, const char *provider,
    const char *name, const char *value, struct err *err) MUST_CHECK;

/* Removes one value: 1 removed, 0 none, -1 error. */
int secrets_unset(PGconn *conn, int64_t account_id, const char *provider,
    const char *name, struct err *err);

/* Prints provider and name of every value of account, never the values. */
bool secrets_list(
    PGconn *conn, int64_t account_id, FILE *out, struct err *err) MUST_CHECK;

#endif
