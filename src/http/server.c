/*
 * server.c - libmicrohttpd set-up and the life of one request.
 *
 * accept -> first callback: route lookup, early limits (413, 404, 405)
 *        -> body callbacks: copy up to the body limit
 *        -> last callback: the handler runs and answers exactly once
 *           (or suspends the connection; see below)
 *        -> completed callback: access log line, metrics, free
 *
 * libmicrohttpd runs a few polling threads with epoll (one per core by
 * default); a thread that waited on PostgreSQL would stall every other
 * connection it polls.  So a handler with slow work suspends its
 * connection (http_suspend), hands the work to another thread and
 * returns; that thread resumes the connection when done, and the next
 * callback answers from what it left.  Routes marked blocking get this for
 * their whole handler: it runs on one of HTTP_BLOCKING_WORKERS worker
 * threads and its answer is queued once the connection is resumed, since
 * libmicrohttpd takes a response only from the connection's own thread.
 * Stopping waits for every suspended request, because libmicrohttpd
 * cannot stop with a connection still suspended.
 *
 * The URL is kept percent-encoded (identity unescape callback) so that an
 * encoded '/' inside a contact id cannot change which route matches; path
 * segments and query values are decoded here, after routing.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "http/http.h"
#include "http/route.h"

struct http_server {
	struct MHD_Daemon *daemon;
	const struct http_route *routes;
	struct http_limits limits;
	unsigned port;

	pthread_mutex_t lock;
	pthread_cond_t changed;
	unsigned suspended; /* requests suspended and not completed yet */
	bool stopping;      /* no request may be suspended any more */
	/* requests of blocking routes waiting for a worker, oldest first */
	struct http_request *blocking_head, **blocking_tail;
	pthread_t workers[HTTP_BLOCKING_WORKERS];
	int worker_count;
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	uint64_t id;
	const char *method;
	const struct http_route *route;
	struct http_match match;
	char *body;
	size_t body_len;
	bool body_too_large;
	bool answered;
	unsigned status;
	int64_t started_us;
	int64_t account_id;
	char *query_cache; /* decoded value returned by the last http_query */

	/* http_suspend: set from the suspension until the resumed callback */
	bool suspended;
	bool counted; /* in srv->suspended until the request completes */
	http_resume_fn on_resume;
	void *resume_state;
	void (*free_state)(void *);
	/* a blocking route's answer, made on a worker thread and queued on
	 * the polling thread after the resume */
	bool capture;
	struct MHD_Response *captured;
	struct http_request *next_blocking;
};

static atomic_uint_fast64_t request_counter;

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

static void
queue(struct http_request *req, unsigned status, struct MHD_Response *resp)
{
	if (resp == NULL) {
		log_error("could not create a response");
		return;
	}
	if (req->capture) {
		req->captured = resp;
		req->status = status;
		req->answered = true;
		return;
	}
	if (MHD_queue_response(req->conn, status, resp) != MHD_YES)
		log_error("could not queue a response with status %u", status);
	MHD_destroy_response(resp);
	req->status = status;
	req->answered = true;
}

static bool
claim_answer(struct http_request *req)
{
	if (req->answered) {
		log_error("a second answer to request %llu was dropped",
		    (unsigned long long)req->id);
		return false;
	}
	return true;
}

void
http_respond_text(struct http_request *req, unsigned status,
    const char *content_type, const char *text, size_t len)
{
	struct MHD_Response *resp;

	if (!claim_answer(req))
		return;
	resp = MHD_create_response_from_buffer(
	    len, (void *)text, MHD_RESPMEM_MUST_COPY);
	if (resp != NULL)
		MHD_add_response_header(resp, "Content-Type", content_type);
	queue(req, status, resp);
}

void
http_respond_json_header(struct http_request *req, unsigned status,
    json_t *body, const char *header_name, const char *header_value)
{
	struct MHD_Response *resp;
	char *text;

	if (!claim_answer(req)) {
		json_decref(body);
		return;
	}
	text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10));
	json_decref(body);
	if (text == NULL) {
		log_error("could not encode a response body");
		text = xstrdup("{\"error\":{\"code\":\"internal\","
			       "\"message\":\"could not encode the answer\"}}");
		status = 500;
	}
	resp = MHD_create_response_from_buffer(
	    strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
	} else {
		MHD_add_response_header(
		    resp, "Content-Type", "application/json");
		if (header_name != NULL)
			MHD_add_response_header(
			    resp, header_name, header_value);
	}
	queue(req, status, resp);
}

void
http_respond_json(struct http_request *req, unsigned status, json_t *body)
{
	http_respond_json_header(req, status, body, NULL, NULL);
}

static json_t *
error_body(const char *code, const char *message)
{
	return json_pack(
	    "{s:{s:s,s:s}}", "error", "code", code, "message", message);
}

void
http_respond_error(struct http_request *req, unsigned status, const char *code,
    const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	http_respond_json(req, status, error_body(code, message));
}

void
http_respond_err(struct http_request *req, const struct err *err)
{
	if (!err_is_set(err)) {
		http_respond_error(req, 500, "internal", "internal error");
		return;
	}
	http_respond_json(
	    req, (unsigned)err->status, error_body(err->code, err->message));
}

void
http_respond_empty(struct http_request *req, unsigned status)
{
	if (!claim_answer(req))
		return;
	queue(req, status,
	    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

const char *
http_method(const struct http_request *req)
{
	return req->method;
}

const char *
http_route_pattern(const struct http_request *req)
{
	return req->route != NULL ? req->route->pattern : "unmatched";
}

const char *
http_param(const struct http_request *req, const char *name)
{
	for (int i = 0; i < req->match.count; i++)
		if (strcmp(req->match.names[i], name) == 0)
			return req->match.values[i];
	return NULL;
}

const char *
http_query(const struct http_request *req, const char *name)
{
	struct http_request *mut = (struct http_request *)req;
	const char *raw =
	    MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);

	if (raw == NULL)
		return NULL;
	free(mut->query_cache);
	mut->query_cache = http_percent_decode(raw, strlen(raw), true);
	return mut->query_cache;
}

const char *
http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
http_body(const struct http_request *req, size_t *len)
{
	*len = req->body_len;
	return req->body;
}

void
http_set_account(struct http_request *req, int64_t account_id)
{
	req->account_id = account_id;
}

int64_t
http_account(const struct http_request *req)
{
	return req->account_id;
}

/* ------------------------------------------------------------------ */
/* Suspended requests                                                  */
/* ------------------------------------------------------------------ */

bool
http_suspend(struct http_request *req, http_resume_fn on_resume, void *state,
    void (*free_state)(void *))
{
	struct http_server *srv = req->srv;

	pthread_mutex_lock(&srv->lock);
	if (srv->stopping) {
		pthread_mutex_unlock(&srv->lock);
		http_respond_json_header(req, 503,
		    error_body(
			"shutting_down", "the service is stopping; try again"),
		    "Retry-After", "5");
		return false;
	}
	srv->suspended++;
	pthread_mutex_unlock(&srv->lock);
	req->counted = true;
	req->suspended = true;
	req->on_resume = on_resume;
	req->resume_state = state;
	req->free_state = free_state;
	/* before the hand-off: the other thread may resume at once */
	MHD_suspend_connection(req->conn);
	return true;
}

void
http_resume(struct http_request *req)
{
	MHD_resume_connection(req->conn);
}

/* Queues what a blocking route's handler answered on its worker. */
static void
answer_captured(struct http_request *req, void *state)
{
	struct MHD_Response *resp = req->captured;

	(void)state;
	req->captured = NULL;
	req->capture = false;
	if (resp == NULL) {
		req->answered = false;
		return;
	}
	if (MHD_queue_response(req->conn, req->status, resp) != MHD_YES)
		log_error(
		    "could not queue a response with status %u", req->status);
	MHD_destroy_response(resp);
}

static void *
blocking_worker(void *arg)
{
	struct http_server *srv = arg;
	struct http_request *req;

	pthread_mutex_lock(&srv->lock);
	for (;;) {
		if (srv->blocking_head == NULL) {
			if (srv->stopping && srv->suspended == 0)
				break;
			pthread_cond_wait(&srv->changed, &srv->lock);
			continue;
		}
		req = srv->blocking_head;
		srv->blocking_head = req->next_blocking;
		if (srv->blocking_head == NULL)
			srv->blocking_tail = &srv->blocking_head;
		pthread_mutex_unlock(&srv->lock);
		req->route->handler(req);
		http_resume(req);
		pthread_mutex_lock(&srv->lock);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Hands a blocking route's request to the workers, or answers 503. */
static void
run_blocking(struct http_request *req)
{
	struct http_server *srv = req->srv;

	if (!http_suspend(req, answer_captured, NULL, NULL))
		return;
	req->capture = true;
	pthread_mutex_lock(&srv->lock);
	*srv->blocking_tail = req;
	srv->blocking_tail = &req->next_blocking;
	pthread_cond_signal(&srv->changed);
	pthread_mutex_unlock(&srv->lock);
}

/* ------------------------------------------------------------------ */
/* libmicrohttpd callbacks                                             */
/* ------------------------------------------------------------------ */

/* Finds the route for method and url; answers 404/405/400 itself. */
static void
route_request(struct http_request *req, const char *url)
{
	const struct http_route *r;
	bool path_known = false;

	for (r = req->srv->routes; r->pattern != NULL; r++) {
		int m = http_route_match(r->pattern, url, &req->match);

		if (m < 0) {
			req->route = r;
			http_respond_error(req, 400, "bad_path",
			    "the path has a malformed percent-encoding");
			return;
		}
		if (m == 0)
			continue;
		if (http_method_listed(r->methods, req->method)) {
			req->route = r;
			return;
		}
		path_known = true;
		req->route = r;
		http_match_clear(&req->match);
	}
	if (path_known) {
		http_respond_error(req, 405, "method_not_allowed",
		    "method %s is not allowed here", req->method);
		return;
	}
	req->route = NULL;
	http_respond_error(req, 404, "not_found", "no such resource");
}

static bool
content_length_too_large(struct http_request *req)
{
	const char *cl = MHD_lookup_connection_value(
	    req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return cl != NULL &&
	       strtoull(cl, NULL, 10) > req->srv->limits.max_body_bytes;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;

	(void)version;
	if (req == NULL) {
		req = xcalloc(1, sizeof(*req));
		req->srv = srv;
		req->conn = conn;
		req->method = method;
		req->started_us = time_mono_us();
		req->id = atomic_fetch_add(&request_counter, 1) + 1;
		*con_cls = req;
		route_request(req, url);
		if (!req->answered && content_length_too_large(req))
			http_respond_error(req, 413, "body_too_large",
			    "the body is larger than %zu bytes",
			    srv->limits.max_body_bytes);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (req->answered || req->body_too_large)
			return MHD_YES;
		if (req->body_len + n > srv->limits.max_body_bytes) {
			req->body_too_large = true;
			free(req->body);
			req->body = NULL;
			req->body_len = 0;
			return MHD_YES;
		}
		req->body = xrealloc(req->body, req->body_len + n + 1);
		memcpy(req->body + req->body_len, upload_data, n);
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}
	if (req->suspended) {
		/* the callback after http_resume */
		req->suspended = false;
		req->on_resume(req, req->resume_state);
	} else {
		if (req->answered)
			return MHD_YES;
		if (req->body_too_large) {
			http_respond_error(req, 413, "body_too_large",
			    "the body is larger than %zu bytes",
			    srv->limits.max_body_bytes);
			return MHD_YES;
		}
		if (req->route->blocking)
			run_blocking(req);
		else
			req->route->handler(req);
		if (req->suspended)
			return MHD_YES;
	}
	if (!req->answered) {
		log_error("handler for %s gave no answer", req->route->pattern);
		http_respond_error(req, 500, "internal", "internal error");
	}
	return MHD_YES;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	int64_t elapsed_us;

	(void)conn;
	(void)toe;
	if (req == NULL)
		return;
	elapsed_us = time_mono_us() - req->started_us;
	metrics_request(
	    req->method, http_route_pattern(req), (int)req->status, elapsed_us);
	if (srv->limits.access_log) {
		char id[24], status[16], ms[32];

		snprintf(id, sizeof(id), "=%llu", (unsigned long long)req->id);
		snprintf(status, sizeof(status), "=%u", req->status);
		snprintf(ms, sizeof(ms), "=%.3f", (double)elapsed_us / 1000.0);
		log_kv(LOG_INFO, "request done", "req", id, "method",
		    req->method, "route", http_route_pattern(req), "status",
		    status, "ms", ms, NULL);
	}
	if (req->free_state != NULL)
		req->free_state(req->resume_state);
	if (req->captured != NULL)
		MHD_destroy_response(req->captured);
	if (req->counted) {
		pthread_mutex_lock(&srv->lock);
		srv->suspended--;
		pthread_cond_broadcast(&srv->changed);
		pthread_mutex_unlock(&srv->lock);
	}
	http_match_clear(&req->match);
	free(req->query_cache);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

/* Keeps the URL as sent; see the file comment. */
static size_t
keep_escaped(void *cls, struct MHD_Connection *conn, char *uri)
{
	(void)cls;
	(void)conn;
	return strlen(uri);
}

static bool
parse_listen(const char *listen, struct sockaddr_in *addr, struct err *err)
{
	const char *colon = strrchr(listen, ':');
	char host[64];
	char *end;
	long port;

	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
		err_set(err, 500, "bad_listen",
		    "listen address \"%s\" is not host:port", listen);
		return false;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	port = strtol(colon + 1, &end, 10);
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_port = htons((uint16_t)port);
	if (*end != '\0' || port < 0 || port > 65535 ||
	    (strcmp(host, "localhost") == 0
		    ? inet_pton(AF_INET, "127.0.0.1", &addr->sin_addr) != 1
		    : inet_pton(AF_INET, host, &addr->sin_addr) != 1)) {
		err_set(err, 500, "bad_listen",
		    "listen address \"%s\" is not an IPv4 host:port", listen);
		return false;
	}
	return true;
}

/* Lets the workers exit once nothing is suspended, and joins them. */
static void
stop_workers(struct http_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_cond_broadcast(&srv->changed);
	pthread_mutex_unlock(&srv->lock);
	for (int i = 0; i < srv->worker_count; i++)
		pthread_join(srv->workers[i], NULL);
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->changed);
}

struct http_server *
http_server_start(const char *listen, const struct http_route *routes,
    const struct http_limits *limits, struct err *err)
{
	struct http_server *srv;
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *info;
	unsigned int flags, threads = limits->threads;

	if (!parse_listen(listen, &addr, err))
		return NULL;
	if (threads == 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		threads = cores > 0 ? (unsigned)cores : 1U;
	}
	srv = xcalloc(1, sizeof(*srv));
	srv->routes = routes;
	srv->limits = *limits;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->changed, NULL);
	srv->blocking_tail = &srv->blocking_head;
	for (int i = 0; i < HTTP_BLOCKING_WORKERS; i++)
		if (pthread_create(&srv->workers[srv->worker_count], NULL,
			blocking_worker, srv) == 0)
			srv->worker_count++;
	/* See the file comment: polling threads never wait on the database,
	 * so one per core serves every connection. */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY |
		MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	    MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)limits->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)limits->connection_timeout_s,
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024),
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U, MHD_OPTION_END);
	if (srv->daemon == NULL || srv->worker_count == 0) {
		err_set(err, 500, "listen_failed", "could not listen on %s",
		    listen);
		if (srv->daemon != NULL)
			MHD_stop_daemon(srv->daemon);
		stop_workers(srv);
		free(srv);
		return NULL;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info != NULL ? info->port : ntohs(addr.sin_port);
	return srv;
}

unsigned
http_server_port(const struct http_server *srv)
{
	return srv->port;
}

void
http_server_stop(struct http_server *srv)
{
	if (srv == NULL)
		return;
	/*
	 * The listening socket stays open while suspended requests finish:
	 * MHD_quiesce_daemon, which would close it first, can abort the
	 * process in libmicrohttpd 0.9.75 with a thread pool on epoll ("Failed
	 * to remove listen FD from epoll set", seen in check_tenants).  A
	 * request that arrives meanwhile is served, or answered 503
	 * shutting_down if it would have to wait for a commit.
	 */
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	if (srv->suspended > 0)
		log_info("waiting for %u suspended requests", srv->suspended);
	/* bounded by the work itself: statement timeouts, pool waits */
	while (srv->suspended > 0)
		pthread_cond_wait(&srv->changed, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
	MHD_stop_daemon(srv->daemon);
	stop_workers(srv);
	free(srv);
}
