/*
 * sender.h - the interface every mail sender's adapter implements.
 *
 * An adapter takes one raw webhook request, authenticates it the way that
 * sender signs its requests, and turns its body into normalised events.  It
 * does no I/O: no database, no network, no clock other than the one passed
 * in.  The API layer picks the adapter by the {provider} path segment and
 * hands the resulting batch to the ingest layer.
 */
#ifndef ENGAGEMENTD_SENDERS_SENDER_H
#define ENGAGEMENTD_SENDERS_SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "ingest/event.h"

/* Looks up a request header by name, case-insensitively; NULL if absent. */
typedef const char *(*sender_header_fn)(const void *ctx, const char *name);

/* One raw request.  Everything is borrowed for the duration of the call. */
struct sender_request {
	const char *method; /* "POST", "HEAD", ... */
	const char *body;   /* raw bytes, not NUL-terminated, may be NULL */
	size_t body_len;
	sender_header_fn header;
	const void *header_ctx;
	int64_t now_ms; /* the service clock, for replay windows */
};

/*
 * The secrets one account configured for one sender.  Which fields a sender
 * uses is documented in docs/webhooks.md; unused ones are NULL.  Borrowed.
 */
struct sender_secrets {
	const char *public_key;  /* SendGrid: base64 DER or PEM, ECDSA P-256 */
	const char *signing_key; /* Mailgun HMAC key, Mandrill webhook key */
	const char *signed_url;  /* Mandrill: the URL as registered there */
	const char *cert_dir;    /* SES: folder of trusted SNS certificates */
	const char *topic_arn;   /* SES: accepted topic, NULL for any */
	const char *username;    /* basic auth (Postmark, SparkPost, ...) */
	const char *password;
	const char *token;       /* bearer token or Postmark X-Webhook-Token */
	int64_t replay_window_s; /* max signature age; 0 disables the check */
};

enum sender_status {
	SENDER_OK = 0,         /* authenticated and parsed; batch filled */
	SENDER_UNAUTHORIZED,   /* 401: missing, wrong or stale credentials */
	SENDER_MALFORMED,      /* 400: not this sender's format */
	SENDER_NOT_CONFIGURED, /* no secret configured: refuse loudly */
	SENDER_SUBSCRIPTION    /* SNS handshake: verified, nothing to store */
};

/* What an adapter produces.  Owned by the caller; free with
 * sender_result_clear. */
struct sender_result {
	struct event_batch batch;
	char *subscribe_url; /* SNS SubscriptionConfirmation: URL to visit */
};

struct sender {
	const char *name; /* path segment: "sendgrid", "mailgun", ... */
	/*
	 * Authenticates and parses req into out.  On anything but SENDER_OK and
	 * SENDER_SUBSCRIPTION it fills err (status and client-facing message)
	 * and leaves out->batch empty.  Authentication happens on the raw bytes
	 * before parsing wherever the sender's scheme allows it.
	 */
	enum sender_status (*handle)(const struct sender_request *req,
	    const struct sender_secrets *secrets, struct sender_result *out,
	    struct err *err);
};

/* The adapter for a provider name, or NULL when there is none. */
const struct sender *sender_find(const char *name);

/* NULL-terminated list of every adapter, for documentation and tests. */
extern const struct sender *const sender_all[];

/* Frees what an adapter put in out. */
void sender_result_clear(struct sender_result *out);

#endif
