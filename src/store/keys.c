/*
 * keys.c - accounts and API keys (see include/store/keys.h).
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "store/db.h"
#include "store/keys.h"

#define KEYS_CACHE_SLOTS 256

struct key_slot {
	unsigned char hash[32];
	int64_t account_id;
	int64_t checked_us;
	bool valid;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct key_slot cache[KEYS_CACHE_SLOTS];

static void
hash_key(const char *key, unsigned char out[32])
{
	unsigned int len = 0;

	EVP_Digest(key, strlen(key), out, &len, EVP_sha256(), NULL);
}

/* "\x..." bytea text form of a hash, for a parameter. */
static void
hash_hex(const unsigned char hash[32], char out[68])
{
	static const char digits[] = "0123456789abcdef";

	out[0] = '\\';
	out[1] = 'x';
	for (int i = 0; i < 32; i++) {
		out[2 + i * 2] = digits[hash[i] >> 4];
		out[3 + i * 2] = digits[hash[i] & 15];
	}
	out[66] = '\0';
}

static int
cache_find(const unsigned char hash[32], int64_t *account_id)
{
	int64_t now = time_mono_us();
	int found = -1;
	unsigned slot = hash[0];

	pthread_mutex_lock(&cache_lock);
	if (memcmp(cache[slot].hash, hash, 32) == 0 &&
	    now - cache[slot].checked_us < KEYS_CACHE_TTL_S * 1000000LL &&
	    cache[slot].checked_us != 0) {
		found = cache[slot].valid;
		*account_id = cache[slot].account_id;
	}
	pthread_mutex_unlock(&cache_lock);
	return found;
}

static void
cache_put(const unsigned char hash[32], int64_t account_id, bool valid)
{
	unsigned slot = hash[0];

	pthread_mutex_lock(&cache_lock);
	memcpy(cache[slot].hash, hash, 32);
	cache[slot].account_id = account_id;
	cache[slot].valid = valid;
	cache[slot].checked_us = time_mono_us();
	pthread_mutex_unlock(&cache_lock);
}

void
keys_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	memset(cache, 0, sizeof(cache));
	pthread_mutex_unlock(&cache_lock);
}

int
keys_authenticate(
    struct db_pool *pool, const char *key, int64_t *account_id, struct err *err)
{
	unsigned char hash[32];
	char hex[68];
	const char *params[1] = { hex };
	PGconn *conn;
	PGresult *res;
	int cached, found;

	hash_key(key, hash);
	cached = cache_find(hash, account_id);
	if (cached >= 0)
		return cached;
	conn = db_pool_acquire(pool, 2000, err);
	if (conn == NULL)
		return -1;
	hash_hex(hash, hex);
	res = db_exec(conn, "authenticate a key",
	    "SELECT account_id FROM api_keys WHERE key_hash = $1::bytea"
	    " AND revoked_at IS NULL",
	    1, params, err);
	db_pool_release(pool, conn, res == NULL && db_conn_broken(conn));
	if (res == NULL)
		return -1;
	found = PQntuples(res) == 1;
	*account_id = found ? db_int64(res, 0, 0) : 0;
	PQclear(res);
	cache_put(hash, *account_id, found);
	return found;
}

static bool
insert_key(PGconn *conn, int64_t account_id, const char *key, const char *label,
    struct err *err)
{
	unsigned char hash[32];
	char hex[68], account[24], prefix[12];
	const char *params[4] = { hex, account, prefix, label };

	hash_key(key, hash);
	hash_hex(hash, hex);
	snprintf(account, sizeof(account), "%" PRId64, account_id);
	snprintf(prefix, sizeof(prefix), "%.8s", key);
	return db_command(conn, "store a key",
	    "INSERT INTO api_keys (key_hash, account_id, key_prefix, label)"
	    " VALUES ($1::bytea, $2, $3, $4) ON CONFLICT (key_hash) DO NOTHING",
	    4, params, err);
}

bool
keys_ensure(PGconn *conn, int64_t account_id, const char *key,
    const char *label, struct err *err)
{
	return insert_key(conn, account_id, key, label, err);
}

bool
keys_create(PGconn *conn, int64_t account_id, const char *label, char *out,
    size_t outlen, struct err *err)
{
	unsigned char raw[32];

	if (outlen < 80 || RAND_bytes(raw, sizeof(raw)) != 1) {
		err_set(err, 500, "internal", "could not make a random key");
		return false;
	}
	memcpy(out, "ek_", 3);
	for (int i = 0; i < 32; i++)
		snprintf(out + 3 + i * 2, 3, "%02x", raw[i]);
	return insert_key(conn, account_id, out, label, err);
}

bool
keys_list(PGconn *conn, int64_t account_id, FILE *out, struct err *err)
{
	char account[24];
	const char *params[1] = { account };
	PGresult *res;

	snprintf(account, sizeof(account), "%" PRId64, account_id);
	res = db_exec(conn, "list keys",
	    "SELECT key_prefix, label, created_at, coalesce(revoked_at::text,"
	    " 'active') FROM api_keys WHERE account_id = $1"
	    " ORDER BY created_at",
	    1, params, err);
	if (res == NULL)
		return false;
	db_print_rows(res, out);
	PQclear(res);
	return true;
}

int
keys_revoke(
    PGconn *conn, int64_t account_id, const char *prefix, struct err *err)
{
	char account[24];
	const char *params[2] = { account, prefix };
	PGresult *res;
	int done;

	snprintf(account, sizeof(account), "%" PRId64, account_id);
	res = db_exec(conn, "revoke a key",
	    "UPDATE api_keys SET revoked_at = now() WHERE account_id = $1"
	    " AND key_prefix = $2 AND revoked_at IS NULL",
	    2, params, err);
	if (res == NULL)
		return -1;
	done = strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	return done;
}

int
keys_account_id(
    PGconn *conn, const char *name, int64_t *account_id, struct err *err)
{
	const char *params[1] = { name };
	PGresult *res = db_exec(conn, "find an account",
	    "SELECT account_id FROM accounts WHERE name = $1", 1, params, err);
	int found;

	if (res == NULL)
		return -1;
	found = PQntuples(res) == 1;
	if (found)
		*account_id = db_int64(res, 0, 0);
	PQclear(res);
	return found;
}

bool
keys_account_create(
    PGconn *conn, const char *name, int64_t *account_id, struct err *err)
{
	const char *params[1] = { name };
	PGresult *res = db_exec(conn, "create an account",
	    "INSERT INTO accounts (account_id, name)"
	    " VALUES (nextval('accounts_id_seq'), $1) RETURNING account_id",
	    1, params, err);

	if (res == NULL)
		return false;
	*account_id = db_int64(res, 0, 0);
	PQclear(res);
	return true;
}

bool
keys_account_list(PGconn *conn, FILE *out, struct err *err)
{
	PGresult *res = db_exec(conn, "list accounts",
	    "SELECT account_id, name, created_at FROM accounts"
	    " ORDER BY account_id",
	    0, NULL, err);

	if (res == NULL)
		return false;
	db_print_rows(res, out);
	PQclear(res);
	return true;
}
