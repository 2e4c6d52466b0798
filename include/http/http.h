/*
 * http.h - the HTTP front: libmicrohttpd set-up, the request lifecycle and
 * limits, the route table and JSON responses.
 *
 * Handlers run on a few polling threads (one per core by default, config
 * [http] threads), each serving many connections with epoll, so a handler
 * must not wait long: a short indexed query is fine, a wait for a group
 * commit, a row lock or a model fit is not.  Such work either leaves the
 * polling thread with its connection suspended (http_suspend, used by the
 * write path) or runs the whole handler on a worker thread (routes marked
 * blocking).  Everything a request allocates hangs off its struct
 * http_request, freed in one place when libmicrohttpd reports the request
 * completed.
 */
#ifndef ENGAGEMENTD_HTTP_HTTP_H
#define ENGAGEMENTD_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "http/route.h"

struct http_request;

typedef void (*http_handler_fn)(struct http_request *req);

/*
 * One entry of the route table.  pattern segments written "{name}" match one
 * non-empty path segment, which reaches the handler percent-decoded through
 * http_param.  methods is a space-separated list ("GET POST").
 */
struct http_route {
	const char *methods;
	const char *pattern;
	http_handler_fn handler;
	bool needs_body; /* read the body before calling the handler */
	/* may wait long (row locks, a model fit): runs on a worker thread
	 * while its connection is suspended, never on a polling thread */
	bool blocking;
};

/* How many worker threads run the handlers of blocking routes. */
#define HTTP_BLOCKING_WORKERS 2

struct http_limits {
	size_t max_body_bytes;
	unsigned max_connections;
	unsigned connection_timeout_s;
	unsigned threads; /* polling threads; 0: one per core */
	bool access_log;
};

struct http_server;

/*
 * Starts serving on listen ("host:port") with the given route table
 * (terminated by an entry with a NULL pattern).  Returns NULL with err set
 * when the address cannot be bound.
 */
struct http_server *http_server_start(const char *listen,
    const struct http_route *routes, const struct http_limits *limits,
    struct err *err);

/* The port actually bound (useful with port 0). */
unsigned http_server_port(const struct http_server *srv);

/*
 * Stops accepting, waits until every suspended request has been resumed
 * and answered, then closes the remaining connections and frees the
 * server.  While it waits, a request that would be suspended is answered
 * 503 instead.  NULL is accepted.
 */
void http_server_stop(struct http_server *srv);

/* Accessors for handlers.  Strings are borrowed until the request ends. */
const char *http_method(const struct http_request *req);
const char *http_route_pattern(const struct http_request *req);
const char *http_param(const struct http_request *req, const char *name);
const char *http_query(const struct http_request *req, const char *name);
const char *http_header(const struct http_request *req, const char *name);
const char *http_body(const struct http_request *req, size_t *len);

/* Per-request slot for the authenticated account, set by the API layer. */
void http_set_account(struct http_request *req, int64_t account_id);
int64_t http_account(const struct http_request *req);

/*
 * Sends body (takes the reference) with status.  extra_header may be NULL or
 * "Name: value".  Each request is answered exactly once; a second answer is
 * a bug and is ignored with an error log line.
 */
void http_respond_json(struct http_request *req, unsigned status, json_t *body);
void http_respond_json_header(struct http_request *req, unsigned status,
    json_t *body, const char *header_name, const char *header_value);

/* Sends a pre-rendered body of the given content type (copied). */
void http_respond_text(struct http_request *req, unsigned status,
    const char *content_type, const char *text, size_t len);

/* Sends the contract's error body {"error":{"code","message"}}. */
void http_respond_error(struct http_request *req, unsigned status,
    const char *code, const char *fmt, ...) PRINTF_LIKE(4, 5);

/* Sends err as the error body (status, code, message from the record). */
void http_respond_err(struct http_request *req, const struct err *err);

/* Sends an empty body (204, or 200 for HEAD). */
void http_respond_empty(struct http_request *req, unsigned status);

/* Answers a resumed request (see http_suspend); runs on a polling thread. */
typedef void (*http_resume_fn)(struct http_request *req, void *state);

/*
 * Suspends req, from its handler on a polling thread, so that the thread
 * serves other connections while another thread does the slow part.  That
 * thread calls http_resume once it is done; then on_resume(req, state)
 * runs on a polling thread and answers the request.  From this call on req
 * owns state: free_state (may be NULL) frees it when the request ends,
 * whether or not on_resume ran (a client may be gone by then).  The
 * handler must not touch state once it handed it to the other thread.
 *
 * Returns false, after answering 503, when the server is stopping; state
 * then stays the caller's.  No connection timeout runs while suspended.
 */
bool http_suspend(struct http_request *req, http_resume_fn on_resume,
    void *state, void (*free_state)(void *)) MUST_CHECK;

/*
 * Resumes a request suspended by http_suspend; any thread, exactly once.
 * The caller must not touch req or its state afterwards.
 */
void http_resume(struct http_request *req);

#endif
