/*
 * harness.c - the integration test harness: throwaway databases, the
 * service binary as a child process, HTTP through libcurl, SQL through
 * libpq and the webhook fixtures.  See harness.h for the contract.
 *
 * Everything here runs inside Check test cases, so a helper that cannot
 * do its job fails the test (ck_abort_msg) instead of returning an error
 * nobody would look at.
 */
#include "harness.h"

#include <check.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/xmalloc.h"

/* Seconds to wait for start-up and shutdown; a wrapper gets ten times. */
#define HARNESS_WAIT_S 30
#define HARNESS_LOG_TAIL 2000

/* ---- environment ---- */

static const char *
env_required(const char *name)
{
	const char *value = getenv(name);

	if (value == NULL || value[0] == '\0')
		ck_abort_msg("%s is not set; run integration tests through "
			     "scripts/test-integration.sh (make integration)",
		    name);
	return value;
}

static const char *
env_or(const char *name, const char *fallback)
{
	const char *value = getenv(name);

	return value != NULL && value[0] != '\0' ? value : fallback;
}

static bool
wrapped(void)
{
	return env_or("ENGAGEMENTD_TEST_WRAPPER", NULL) != NULL;
}

static int
wait_limit_s(void)
{
	return wrapped() ? HARNESS_WAIT_S * 10 : HARNESS_WAIT_S;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *
harness_tmpdir(void)
{
	static char made[PATH_MAX];
	const char *dir = env_or("ENGAGEMENTD_TEST_TMPDIR", NULL);

	if (dir != NULL)
		return dir;
	if (made[0] == '\0') {
		snprintf(made, sizeof(made), "/tmp/engagementd-harness.XXXXXX");
		if (mkdtemp(made) == NULL)
			ck_abort_msg("could not create a scratch directory: %s",
			    strerror(errno));
	}
	return made;
}

/* ---- files ---- */

/* Reads a whole file; NULL when it cannot be opened. */
static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t used = 0, cap = 4096, n;

	if (f == NULL)
		return NULL;
	buf = xmalloc(cap + 1);
	while ((n = fread(buf + used, 1, cap - used, f)) > 0) {
		used += n;
		if (used == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
	fclose(f);
	buf[used] = '\0';
	if (len != NULL)
		*len = used;
	return buf;
}

static void
make_dirs(const char *path)
{
	char buf[PATH_MAX];
	char *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		ck_abort_msg(
		    "could not create \"%s\": %s", path, strerror(errno));
}

/* ---- child processes ---- */

/* Splits the wrapper command on blanks; the words point into copy. */
static size_t
split_words(char *copy, char **words, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	char *word = strtok_r(copy, " \t", &save);

	while (word != NULL && n < max) {
		words[n++] = word;
		word = strtok_r(NULL, " \t", &save);
	}
	return n;
}

static int
exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs argv to completion, output inherited; returns its exit status. */
static int
run_command(char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		ck_abort_msg("could not fork: %s", strerror(errno));
	if (pid == 0) {
		execv(argv[0], argv);
		fprintf(
		    stderr, "could not run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			ck_abort_msg("could not wait for %s: %s", argv[0],
			    strerror(errno));
	return exit_code(status);
}

/* ---- the throwaway cluster ---- */

static void
pg_script(const char *action)
{
	char script[PATH_MAX];
	char *argv[5];
	int rc;

	snprintf(script, sizeof(script), "%s/pg.sh",
	    env_required("ENGAGEMENTD_TEST_SCRIPTS"));
	argv[0] = script;
	argv[1] = (char *)action;
	argv[2] = (char *)env_required("ENGAGEMENTD_TEST_PGDATA");
	argv[3] = strcmp(action, "start") == 0
		      ? (char *)env_required("ENGAGEMENTD_TEST_PGPORT")
		      : NULL;
	argv[4] = NULL;
	rc = run_command(argv);
	if (rc != 0)
		ck_abort_msg("pg.sh %s failed with status %d", action, rc);
}

void
harness_pg_stop(void)
{
	pg_script("stop");
}

void
harness_pg_start(void)
{
	pg_script("start");
}

/* NOTICEs such as "does not exist, skipping" would only clutter output. */
static void
ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Connects or fails the test with libpq's reason.  Caller finishes. */
static PGconn *
pg_connect(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);
	char reason[512];

	if (PQstatus(conn) == CONNECTION_OK) {
		PQsetNoticeProcessor(conn, ignore_notice, NULL);
		return conn;
	}
	snprintf(reason, sizeof(reason), "%s", PQerrorMessage(conn));
	PQfinish(conn);
	ck_abort_msg("could not connect to \"%s\": %s", conninfo, reason);
	return NULL;
}

/* Runs sql and checks the result kind; fails the test otherwise. */
static PGresult *
pg_run(PGconn *conn, const char *sql, ExecStatusType want)
{
	PGresult *res = PQexec(conn, sql);
	char reason[512];

	if (PQresultStatus(res) == want)
		return res;
	snprintf(reason, sizeof(reason), "%s", PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
	ck_abort_msg("query failed: %s\n  query: %s", reason, sql);
	return NULL;
}

void
harness_db_create(const char *name, char *url_out, size_t len)
{
	const char *host = env_required("ENGAGEMENTD_TEST_PGHOST");
	const char *port = env_required("ENGAGEMENTD_TEST_PGPORT");
	char *admin, *sql;
	PGconn *conn;
	const char *p;
	int n;

	for (p = name; *p != '\0'; p++)
		if (!islower((unsigned char)*p) &&
		    !isdigit((unsigned char)*p) && *p != '_')
			ck_abort_msg(
			    "database name \"%s\": use a-z, 0-9 and _", name);
	admin = xasprintf(
	    "host=%s port=%s user=postgres dbname=postgres", host, port);
	conn = pg_connect(admin);
	free(admin);
	sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	PQclear(pg_run(conn, sql, PGRES_COMMAND_OK));
	free(sql);
	sql = xasprintf("CREATE DATABASE %s", name);
	PQclear(pg_run(conn, sql, PGRES_COMMAND_OK));
	free(sql);
	PQfinish(conn);

	n = snprintf(url_out, len,
	    "postgresql:///%s?host=%s&port=%s&user=postgres", name, host, port);
	if (n < 0 || (size_t)n >= len)
		ck_abort_msg("database URL does not fit in %zu bytes", len);
}

void
harness_sql_exec(const char *db_url, const char *sql)
{
	PGconn *conn = pg_connect(db_url);

	PQclear(pg_run(conn, sql, PGRES_COMMAND_OK));
	PQfinish(conn);
}

/* The first row's first column, copied; fails the test without a row. */
static void
sql_first(const char *db_url, const char *sql, char *out, size_t len)
{
	PGconn *conn = pg_connect(db_url);
	PGresult *res = pg_run(conn, sql, PGRES_TUPLES_OK);

	if (PQntuples(res) < 1 || PQnfields(res) < 1) {
		PQclear(res);
		PQfinish(conn);
		ck_abort_msg("query returned no rows: %s", sql);
	}
	snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(conn);
}

long
harness_sql_int(const char *db_url, const char *sql)
{
	char text[64];
	char *end;
	long value;

	sql_first(db_url, sql, text, sizeof(text));
	if (text[0] == '\0')
		return 0;
	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0')
		ck_abort_msg(
		    "\"%s\" is not an integer\n  query: %s", text, sql);
	return value;
}

char *
harness_sql_text(const char *db_url, const char *sql, char *out, size_t len)
{
	sql_first(db_url, sql, out, len);
	return out;
}

/* ---- HTTP ---- */

struct http_ctx {
	struct harness_reply *reply;
	size_t cap;
};

static void
reply_clear_headers(struct harness_reply *reply)
{
	size_t i;

	for (i = 0; i < reply->header_count; i++) {
		free(reply->headers[i].name);
		free(reply->headers[i].value);
	}
	free(reply->headers);
	reply->headers = NULL;
	reply->header_count = 0;
}

static size_t
on_body(char *data, size_t size, size_t count, void *arg)
{
	struct http_ctx *ctx = arg;
	struct harness_reply *reply = ctx->reply;
	size_t n = size * count;

	while (reply->body_len + n + 1 > ctx->cap) {
		ctx->cap *= 2;
		reply->body = xrealloc(reply->body, ctx->cap);
	}
	memcpy(reply->body + reply->body_len, data, n);
	reply->body_len += n;
	reply->body[reply->body_len] = '\0';
	return n;
}

/* Keeps the headers of the last response only (not of 100 Continue). */
static size_t
on_header(char *data, size_t size, size_t count, void *arg)
{
	struct harness_reply *reply = ((struct http_ctx *)arg)->reply;
	size_t n = size * count, name_len, start, end;
	const char *colon = memchr(data, ':', n);
	struct harness_header *h;

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		reply_clear_headers(reply);
		return n;
	}
	if (colon == NULL)
		return n;
	name_len = (size_t)(colon - data);
	start = name_len + 1;
	end = n;
	while (start < end && isspace((unsigned char)data[start]))
		start++;
	while (end > start && isspace((unsigned char)data[end - 1]))
		end--;
	reply->headers = xrealloc(reply->headers,
	    (reply->header_count + 1) * sizeof(*reply->headers));
	h = &reply->headers[reply->header_count++];
	h->name = xstrndup(data, name_len);
	h->value = xstrndup(data + start, end - start);
	return n;
}

static void
curl_once(void)
{
	static bool done;

	if (!done && curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		ck_abort_msg("could not initialise libcurl");
	done = true;
}

static struct curl_slist *
build_headers(const char *const *headers)
{
	struct curl_slist *list = NULL;
	size_t i;

	/* libmicrohttpd and curl agree without the extra round trip. */
	list = curl_slist_append(list, "Expect:");
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		list = curl_slist_append(list, headers[i]);
	if (list == NULL)
		ck_abort_msg("could not build the header list");
	return list;
}

static void
set_method(CURL *curl, const char *method, const char *body, size_t len)
{
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
		return;
	}
	if (body != NULL) {
		curl_easy_setopt(
		    curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
}

static long
http_call(const struct harness_server *srv, const char *method,
    const char *path, const char *const *headers, const char *body,
    size_t body_len, struct harness_reply *reply, long timeout_ms)
{
	struct http_ctx ctx = { reply, 256 };
	struct curl_slist *list;
	char *url = xasprintf("%s%s", srv->base_url, path);
	CURL *curl;
	CURLcode rc;

	memset(reply, 0, sizeof(*reply));
	reply->body = xcalloc(1, ctx.cap);
	curl_once();
	curl = curl_easy_init();
	if (curl == NULL)
		ck_abort_msg("could not create a curl handle");
	list = build_headers(headers);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ctx);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ctx);
	set_method(curl, method, body, body_len);

	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
	else
		snprintf(reply->error, sizeof(reply->error), "%s %s: %s",
		    method, url, curl_easy_strerror(rc));
	curl_easy_cleanup(curl);
	curl_slist_free_all(list);
	free(url);
	return reply->status;
}

long
harness_http(const struct harness_server *srv, const char *method,
    const char *path, const char *const *headers, const char *body,
    size_t body_len, struct harness_reply *reply)
{
	return http_call(srv, method, path, headers, body, body_len, reply,
	    wait_limit_s() * 1000L);
}

long
harness_get(const struct harness_server *srv, const char *path,
    struct harness_reply *reply)
{
	const char *const headers[] = { HARNESS_AUTH_HEADER, NULL };

	return harness_http(srv, "GET", path, headers, NULL, 0, reply);
}

long
harness_send_json(const struct harness_server *srv, const char *method,
    const char *path, const char *body, struct harness_reply *reply)
{
	const char *const headers[] = { HARNESS_AUTH_HEADER,
		"Content-Type: application/json", NULL };

	return harness_http(srv, method, path, headers, body,
	    body != NULL ? strlen(body) : 0, reply);
}

const char *
harness_reply_header(const struct harness_reply *reply, const char *name)
{
	size_t i;

	for (i = 0; i < reply->header_count; i++)
		if (strcasecmp(reply->headers[i].name, name) == 0)
			return reply->headers[i].value;
	return NULL;
}

void
harness_reply_free(struct harness_reply *reply)
{
	reply_clear_headers(reply);
	free(reply->body);
	reply->body = NULL;
	reply->body_len = 0;
}

/* ---- the service ---- */

static int
free_port(void)
{
	struct sockaddr_in addr = { 0 };
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
		ck_abort_msg("could not find a free port: %s", strerror(errno));
	port = ntohs(addr.sin_port);
	close(fd);
	return port;
}

/* The end of the server's log, for failure messages.  Caller frees. */
static char *
log_tail(const struct harness_server *srv)
{
	char *log = read_file(srv->log_path, NULL);
	size_t len;
	char *tail;

	if (log == NULL)
		return xstrdup("(no log)");
	len = strlen(log);
	tail = xstrdup(
	    len > HARNESS_LOG_TAIL ? log + len - HARNESS_LOG_TAIL : log);
	free(log);
	return tail;
}

char *
harness_server_log(const struct harness_server *srv)
{
	char *log = read_file(srv->log_path, NULL);

	return log != NULL ? log : xstrdup("");
}

static void
server_paths(struct harness_server *srv)
{
	static int serial;

	snprintf(srv->dir, sizeof(srv->dir), "%s/servers/%s-%ld-%d",
	    harness_tmpdir(), program_invocation_short_name, (long)getpid(),
	    ++serial);
	make_dirs(srv->dir);
	snprintf(
	    srv->log_path, sizeof(srv->log_path), "%s/server.log", srv->dir);
	snprintf(srv->ini_path, sizeof(srv->ini_path), "%s/engagementd.ini",
	    srv->dir);
}

static void
write_ini(
    const struct harness_server *srv, const char *db_url, const char *extra_ini)
{
	FILE *f = fopen(srv->ini_path, "w");

	if (f == NULL)
		ck_abort_msg("could not write \"%s\": %s", srv->ini_path,
		    strerror(errno));
	fprintf(f,
	    "; written by tests/integration/harness.c\n"
	    "[http]\nlisten = 127.0.0.1:%d\n\n"
	    "[database]\nurl = %s\n\n"
	    "[auth]\napi_key = %s\n\n"
	    "[spool]\ndir = %s/spool\n\n",
	    srv->port, db_url, HARNESS_API_KEY, srv->dir);
	if (extra_ini != NULL)
		fprintf(f, "%s\n", extra_ini);
	if (fclose(f) != 0)
		ck_abort_msg("could not write \"%s\"", srv->ini_path);
}

/* The child's side: output to the log, then the wrapper and binary. */
static void
exec_server(const struct harness_server *srv, char **argv, pid_t parent)
{
	int log = open(srv->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	int null = open("/dev/null", O_RDONLY);

	/* A test that dies mid-way must not leave the server behind. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	if (log < 0 || null < 0)
		_exit(126);
	dup2(null, STDIN_FILENO);
	dup2(log, STDOUT_FILENO);
	dup2(log, STDERR_FILENO);
	execvp(argv[0], argv);
	fprintf(stderr, "could not run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void
spawn_server(struct harness_server *srv)
{
	char *wrapper = xstrdup(env_or("ENGAGEMENTD_TEST_WRAPPER", ""));
	char *argv[32];
	size_t n = split_words(wrapper, argv, 26);
	pid_t parent = getpid();

	argv[n++] = (char *)env_required("ENGAGEMENTD_TEST_BINARY");
	argv[n++] = "--config";
	argv[n++] = srv->ini_path;
	argv[n++] = "serve";
	argv[n] = NULL;
	fflush(NULL);
	srv->pid = fork();
	if (srv->pid < 0)
		ck_abort_msg("could not fork: %s", strerror(errno));
	if (srv->pid == 0)
		exec_server(srv, argv, parent);
	free(wrapper);
}

/* Fails the test if the server has exited; quotes its log. */
static void
check_alive(struct harness_server *srv)
{
	int status;
	char *tail;

	if (waitpid(srv->pid, &status, WNOHANG) != srv->pid)
		return;
	srv->pid = 0;
	tail = log_tail(srv);
	ck_abort_msg("the server exited with status %d during start-up; "
		     "log %s ends:\n%s",
	    exit_code(status), srv->log_path, tail);
}

static void
wait_healthy(struct harness_server *srv)
{
	double deadline = now_s() + wait_limit_s();
	struct harness_reply reply;
	long status;
	char *tail;

	for (;;) {
		check_alive(srv);
		status = http_call(
		    srv, "GET", "/healthz", NULL, NULL, 0, &reply, 2000);
		harness_reply_free(&reply);
		if (status == 200)
			return;
		if (now_s() > deadline)
			break;
		sleep_ms(50);
	}
	harness_server_kill(srv);
	tail = log_tail(srv);
	ck_abort_msg("the server gave no 200 on /healthz within %d s "
		     "(last status %ld); log %s ends:\n%s",
	    wait_limit_s(), status, srv->log_path, tail);
}

void
harness_server_start(
    struct harness_server *srv, const char *db_url, const char *extra_ini)
{
	memset(srv, 0, sizeof(*srv));
	server_paths(srv);
	srv->port = free_port();
	snprintf(srv->base_url, sizeof(srv->base_url), "http://127.0.0.1:%d",
	    srv->port);
	write_ini(srv, db_url, extra_ini);
	spawn_server(srv);
	wait_healthy(srv);
}

void
harness_server_restart(
    struct harness_server *srv, const char *db_url, const char *extra_ini)
{
	if (srv->pid > 0)
		ck_abort_msg("the server is still running");
	srv->port = free_port();
	snprintf(srv->base_url, sizeof(srv->base_url), "http://127.0.0.1:%d",
	    srv->port);
	write_ini(srv, db_url, extra_ini);
	spawn_server(srv);
	wait_healthy(srv);
}

int
harness_server_stop(struct harness_server *srv)
{
	double deadline = now_s() + wait_limit_s();
	int status;
	pid_t got;

	if (srv->pid <= 0)
		ck_abort_msg("the server is not running");
	kill(srv->pid, SIGTERM);
	while ((got = waitpid(srv->pid, &status, WNOHANG)) == 0 &&
	       now_s() < deadline)
		sleep_ms(20);
	if (got == srv->pid) {
		srv->pid = 0;
		return exit_code(status);
	}
	harness_server_kill(srv);
	ck_abort_msg("the server did not exit within %d s of SIGTERM; log %s",
	    wait_limit_s(), srv->log_path);
	return -1;
}

void
harness_server_kill(struct harness_server *srv)
{
	if (srv->pid <= 0)
		return;
	kill(srv->pid, SIGKILL);
	while (waitpid(srv->pid, NULL, 0) < 0 && errno == EINTR)
		;
	srv->pid = 0;
}

/* ---- fixtures and JSON ---- */

static const char *
data_dir(void)
{
	return env_or("ENGAGEMENTD_TEST_DATA", "tests/data");
}

char *
harness_fixture(const char *provider, const char *file, size_t *len)
{
	char *path = xasprintf("%s/webhooks/%s/%s", data_dir(), provider, file);
	char *data = read_file(path, len);

	if (data == NULL) {
		char reason[PATH_MAX + 64];

		snprintf(
		    reason, sizeof(reason), "%s: %s", path, strerror(errno));
		free(path);
		ck_abort_msg("could not read fixture %s", reason);
	}
	free(path);
	return data;
}

/* The "Name: value" list of one headers object. */
static char **
headers_from_object(json_t *object)
{
	char **list = xcalloc(json_object_size(object) + 1, sizeof(*list));
	const char *name;
	json_t *value;
	size_t n = 0;

	json_object_foreach(object, name, value)
	{
		if (json_is_string(value))
			list[n++] =
			    xasprintf("%s: %s", name, json_string_value(value));
	}
	list[n] = NULL;
	return list;
}

static bool
request_matches(json_t *request, const char *file, const char *variant)
{
	const char *f = json_string_value(json_object_get(request, "file"));
	const char *v = json_string_value(json_object_get(request, "variant"));

	return f != NULL && strcmp(f, file) == 0 &&
	       (variant == NULL || (v != NULL && strcmp(v, variant) == 0));
}

char **
harness_fixture_headers(
    const char *provider, const char *file, const char *variant)
{
	char *path =
	    xasprintf("%s/webhooks/%s/headers.json", data_dir(), provider);
	json_error_t error;
	json_t *root = json_load_file(path, 0, &error);
	json_t *request;
	char **list = NULL;
	size_t i;

	free(path);
	if (root == NULL)
		ck_abort_msg("could not load %s headers.json: %s (line %d)",
		    provider, error.text, error.line);
	json_array_foreach(json_object_get(root, "requests"), i, request)
	{
		if (request_matches(request, file, variant)) {
			list = headers_from_object(
			    json_object_get(request, "headers"));
			break;
		}
	}
	json_decref(root);
	if (list == NULL)
		ck_abort_msg("%s headers.json has no request for %s (%s)",
		    provider, file, variant != NULL ? variant : "any variant");
	return list;
}

void
harness_headers_free(char **headers)
{
	size_t i;

	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		free(headers[i]);
	free(headers);
}

json_t *
harness_json_parse(const char *body)
{
	json_error_t error;
	json_t *json = json_loads(body, JSON_DECODE_ANY, &error);

	if (json == NULL)
		ck_abort_msg("not JSON (%s at line %d): %.300s", error.text,
		    error.line, body);
	return json;
}
