/*
 * harness.h - what integration tests need to drive the real service: a
 * fresh database in the throwaway cluster, the binary started with a
 * generated INI on a loopback port, HTTP calls, SQL probes and the webhook
 * fixtures.
 *
 * scripts/test-integration.sh sets up the cluster and exports where
 * everything is (ENGAGEMENTD_TEST_*).  Helpers that cannot do their job fail
 * the running Check test with a message saying why, so tests read as a
 * list of steps and assertions.  Every test program uses its own database,
 * so programs do not depend on each other.
 */
#ifndef ENGAGEMENTD_TESTS_HARNESS_H
#define ENGAGEMENTD_TESTS_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

/* The API key of the default account in every generated INI. */
#define HARNESS_API_KEY "test-key"
/* "Authorization: Bearer test-key", ready for a header list. */
#define HARNESS_AUTH_HEADER "Authorization: Bearer " HARNESS_API_KEY

struct harness_server {
	pid_t pid; /* 0 when not running */
	int port;
	char base_url[64];       /* "http://127.0.0.1:PORT" */
	char dir[PATH_MAX - 64]; /* this server's scratch directory */
	char log_path[PATH_MAX]; /* its stderr (JSON log lines) */
	char ini_path[PATH_MAX]; /* the generated configuration */
};

struct harness_header {
	char *name;
	char *value;
};

struct harness_reply {
	long status;                    /* 0 when no answer came */
	char *body;                     /* NUL-terminated, never NULL */
	size_t body_len;                /* without the terminator */
	struct harness_header *headers; /* of the final response */
	size_t header_count;
	char error[256]; /* transport error when status is 0 */
};

/*
 * The per-run scratch directory (ENGAGEMENTD_TEST_TMPDIR, else a fresh one
 * under /tmp).  Kept by the test script when a test fails.  Borrowed.
 */
const char *harness_tmpdir(void);

/*
 * Creates (drops first if it exists) database name, [a-z0-9_] only, in the
 * throwaway cluster and writes its libpq URI to url_out.
 */
void harness_db_create(const char *name, char *url_out, size_t len);

/*
 * Starts the binary (through ENGAGEMENTD_TEST_WRAPPER when set) on a free
 * loopback port, against db_url, and waits until GET /healthz answers 200.
 * The generated INI holds [http] listen, [database] url, [auth] api_key
 * and [spool] dir (in srv->dir); extra_ini (may be NULL) is appended, and a
 * key it repeats wins.  Fails the test, quoting the log's end, when the
 * server exits or does not answer in time.
 */
void harness_server_start(
    struct harness_server *srv, const char *db_url, const char *extra_ini);

/*
 * Starts srv again after harness_server_stop or harness_server_kill, in the
 * same scratch directory (so on the same spool, with the log appended) on
 * a fresh port, with the INI written anew from db_url and extra_ini as
 * harness_server_start does.  Fails the test as harness_server_start does.
 */
void harness_server_restart(
    struct harness_server *srv, const char *db_url, const char *extra_ini);

/*
 * Sends SIGTERM and waits for the exit.  Returns the exit status, or 128 +
 * signal number when a signal ended it; fails the test when the server does
 * not exit in time (it is then killed).
 */
int harness_server_stop(struct harness_server *srv);

/* Kills the server with SIGKILL (a crash) and reaps it. */
void harness_server_kill(struct harness_server *srv);

/* The server's log so far, NUL-terminated.  Caller frees. */
char *harness_server_log(const struct harness_server *srv);

/*
 * One HTTP request to the server; headers are "Name: value" strings ending
 * in NULL (may be NULL), body may be NULL.  Returns the status, 0 when no
 * answer came (reply->error says why).  Free the reply with
 * harness_reply_free whatever the outcome.
 */
long harness_http(const struct harness_server *srv, const char *method,
    const char *path, const char *const *headers, const char *body,
    size_t body_len, struct harness_reply *reply);

/* GET path with the default account's API key. */
long harness_get(const struct harness_server *srv, const char *path,
    struct harness_reply *reply);

/* Sends body as application/json with the default account's API key. */
long harness_send_json(const struct harness_server *srv, const char *method,
    const char *path, const char *body, struct harness_reply *reply);

/*
 * The value of the first response header called name (any case), or NULL.
 * Borrowed until harness_reply_free.
 */
const char *harness_reply_header(
    const struct harness_reply *reply, const char *name);

/* Frees what harness_http put in reply; reply itself is the caller's. */
void harness_reply_free(struct harness_reply *reply);

/* Fast shutdown and restart of the throwaway cluster, for outage tests. */
void harness_pg_stop(void);
void harness_pg_start(void);

/* Runs sql (no result expected) against db_url; fails the test on error. */
void harness_sql_exec(const char *db_url, const char *sql);

/*
 * Runs sql against db_url and returns the first column of the first row as
 * a number (NULL reads as 0).  Fails the test on error or an empty result.
 */
long harness_sql_int(const char *db_url, const char *sql);

/*
 * The same as text, truncated to fit out (NULL reads as "").  Returns out.
 */
char *harness_sql_text(
    const char *db_url, const char *sql, char *out, size_t len);

/*
 * tests/data/webhooks/<provider>/<file> byte for byte, with a NUL after
 * the last byte; *len (may be NULL) gets the size.  Caller frees.
 */
char *harness_fixture(const char *provider, const char *file, size_t *len);

/*
 * The headers recorded in tests/data/webhooks/<provider>/headers.json for
 * file (and variant, unless NULL), as a NULL-terminated "Name: value"
 * array for harness_http.  Free with harness_headers_free.
 */
char **harness_fixture_headers(
    const char *provider, const char *file, const char *variant);

void harness_headers_free(char **headers);

/* Parses body as JSON; fails the test when it is not.  Caller decrefs. */
json_t *harness_json_parse(const char *body);

#endif
