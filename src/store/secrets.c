/*
 * secrets.c - per-account webhook credentials (see store/secrets.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/db.h"
#include "store/secrets.h"

static const char *const secret_names[] = { "public_key", "signing_key",
	"signed_url", "cert_dir", "topic_arn", "username", "password", "token",
	"replay_window_s", NULL };

bool
secrets_name_valid(const char *name)
{
	for (int i = 0; secret_names[i] != NULL; i++)
		if (strcmp(secret_names[i], name) == 0)
			return true;
	return false;
}

void
secrets_clear(struct config_sender *s)
{
	free(s->public_key);
	free(s->signing_key);
	free(s->signed_url);
	free(s->cert_dir);
	free(s->topic_arn);
	free(s->username);
	free(s->password);
	free(s->token);
	memset(s, 0, sizeof(*s));
}

static void
assign(struct config_sender *s, const char *name, const char *value)
{
	char **slot = NULL;

	if (strcmp(name, "public_key") == 0)
		slot = &s->public_key;
	else if (strcmp(name, "signing_key") == 0)
		slot = &s->signing_key;
	else if (strcmp(name, "signed_url") == 0)
		slot = &s->signed_url;
	else if (strcmp(name, "cert_dir") == 0)
		slot = &s->cert_dir;
	else if (strcmp(name, "topic_arn") == 0)
		slot = &s->topic_arn;
	else if (strcmp(name, "username") == 0)
		slot = &s->username;
	else if (strcmp(name, "password") == 0)
		slot = &s->password;
	else if (strcmp(name, "token") == 0)
		slot = &s->token;
	else if (strcmp(name, "replay_window_s") == 0)
		s->replay_window_s = atoi(value);
	if (slot != NULL) {
		free(*slot);
		*slot = xstrdup(value);
	}
}

int
secrets_load(PGconn *conn, int64_t account_id, const char *provider,
    struct config_sender *out, struct err *err)
{
	char account[24];
	const char *params[2] = { account, provider };
	PGresult *res;
	int rows;

	memset(out, 0, sizeof(*out));
	snprintf(account, sizeof(account), "%" PRId64, account_id);
	res = db_exec(conn, "load webhook secrets",
	    "SELECT name, value FROM webhook_secrets"
	    " WHERE account_id = $1 AND provider = $2",
	    2, params, err);
	if (res == NULL)
		return -1;
	rows = PQntuples(res);
	for (int r = 0; r < rows; r++)
		assign(out, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
	PQclear(res);
	return rows;
}

bool
secrets_set(PGconn *conn, int64_t account_id, const char *provider,
    const char *name, const char *value, struct err *err)
{
	char account[24];
	const char *params[4] = { account, provider, name, value };

	snprintf(account, sizeof(account), "%" PRId64, account_id);
	return db_command(conn, "set a webhook secret",
	    "INSERT INTO webhook_secrets (account_id, provider, name, value)"
	    " VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, provider, name)"
	    " DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
	    4, params, err);
}

int
secrets_unset(PGconn *conn, int64_t account_id, const char *provider,
    const char *name, struct err *err)
{
	char account[24];
	const char *params[3] = { account, provider, name };
	PGresult *res;
	int done;

	snprintf(account, sizeof(account), "%" PRId64, account_id);
	res = db_exec(conn, "unset a webhook secret",
	    "DELETE FROM webhook_secrets WHERE account_id = $1"
	    " AND provider = $2 AND name = $3",
	    3, params, err);
	if (res == NULL)
		return -1;
	done = strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	return done;
}

bool
secrets_list(PGconn *conn, int64_t account_id, FILE *out, struct err *err)
{
	char account[24];
	const char *params[1] = { account };
	PGresult *res;

	snprintf(account, sizeof(account), "%" PRId64, account_id);
	res = db_exec(conn, "list webhook secrets",
	    "SELECT provider, name, updated_at FROM webhook_secrets"
	    " WHERE account_id = $1 ORDER BY provider, name",
	    1, params, err);
	if (res == NULL)
		return false;
	db_print_rows(res, out);
	PQclear(res);
	return true;
}
