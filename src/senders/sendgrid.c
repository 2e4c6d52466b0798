/*
 * sendgrid.c - the SendGrid Event Webhook adapter.
 *
 * SendGrid posts a JSON array of events and signs timestamp-header bytes
 * followed by the raw body with ECDSA P-256 / SHA-256; the signature is
 * checked on those raw bytes before the body is parsed.  Custom arguments
 * of the send arrive as top-level keys of each event, which is where the
 * CRM contact id travels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/xmalloc.h"
#include "senders/adapters.h"

#define SIG_HEADER "X-Twilio-Email-Event-Webhook-Signature"
#define TS_HEADER "X-Twilio-Email-Event-Webhook-Timestamp"

static const struct sender_name_kind sendgrid_events[] = {
	{ "delivered", { EVENT_DELIVERED, BOUNCE_NONE, 0 } },
	{ "open", { EVENT_OPEN, BOUNCE_NONE, 0 } },
	{ "click", { EVENT_CLICK, BOUNCE_NONE, 0 } },
	{ "spamreport", { EVENT_COMPLAINT, BOUNCE_NONE, 0 } },
	{ "unsubscribe", { EVENT_UNSUBSCRIBE, BOUNCE_NONE, 0 } },
	{ "group_unsubscribe", { EVENT_UNSUBSCRIBE, BOUNCE_NONE, 0 } },
	{ NULL, { 0, 0, 0 } },
};

bool
sendgrid_classify(
    const char *event, const char *bounce_type, struct sender_kind *kind)
{
	if (event == NULL)
		return false;
	if (strcmp(event, "bounce") == 0) {
		/* "blocked" is a temporary refusal; "bounce" (or none) is
		 * final. */
		kind->type = EVENT_BOUNCE;
		kind->bounce =
		    bounce_type != NULL && strcmp(bounce_type, "blocked") == 0
			? BOUNCE_SOFT
			: BOUNCE_HARD;
		kind->flags = 0;
		return true;
	}
	/* processed, deferred, dropped, group_resubscribe, ...: not kept */
	return sender_lookup_kind(sendgrid_events, event, kind);
}

/* Reads the configured key: PEM, or base64 DER as SendGrid shows it. */
static EVP_PKEY *
load_public_key(const char *text)
{
	EVP_PKEY *pkey = NULL;

	if (strstr(text, "-----BEGIN") != NULL) {
		BIO *bio = BIO_new_mem_buf(text, -1);

		if (bio != NULL)
			pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		size_t der_len;
		unsigned char *der =
		    sender_base64_decode(text, strlen(text), &der_len);
		const unsigned char *p = der;

		if (der != NULL)
			pkey = d2i_PUBKEY(NULL, &p, (long)der_len);
		free(der);
	}
	if (pkey != NULL && !EVP_PKEY_is_a(pkey, "EC")) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

static bool
signature_valid(EVP_PKEY *pkey, const char *ts, const char *sig_b64,
    const struct sender_request *req)
{
	size_t sig_len;
	unsigned char *sig =
	    sender_base64_decode(sig_b64, strlen(sig_b64), &sig_len);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok;

	ok = sig != NULL && sig_len > 0 && ctx != NULL &&
	     EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	     EVP_DigestVerifyUpdate(ctx, ts, strlen(ts)) == 1 &&
	     (req->body_len == 0 ||
		 EVP_DigestVerifyUpdate(ctx, req->body, req->body_len) == 1) &&
	     EVP_DigestVerifyFinal(ctx, sig, sig_len) == 1;
	EVP_MD_CTX_free(ctx);
	free(sig);
	return ok;
}

static enum sender_status
authenticate(const struct sender_request *req,
    const struct sender_secrets *secrets, struct err *err)
{
	const char *sig = sender_header(req, SIG_HEADER);
	const char *ts = sender_header(req, TS_HEADER);
	EVP_PKEY *pkey;
	bool ok;

	if (!sender_is_set(secrets->public_key))
		return sender_not_configured(err, "sendgrid", "public_key");
	pkey = load_public_key(secrets->public_key);
	if (pkey == NULL)
		return sender_not_configured(err, "sendgrid",
		    "public_key is not a usable ECDSA public key");
	ok =
	    sig != NULL && ts != NULL &&
	    sender_timestamp_fresh(ts, req->now_ms, secrets->replay_window_s) &&
	    signature_valid(pkey, ts, sig, req);
	EVP_PKEY_free(pkey);
	return ok ? SENDER_OK : sender_unauthorized(err);
}

/* category is a string or an array of strings; the first one is kept. */
static const char *
first_category(const json_t *item)
{
	const json_t *cat = json_object_get(item, "category");

	if (json_is_array(cat))
		cat = json_array_get(cat, 0);
	return json_string_value(cat);
}

static enum sender_status
parse_event(const json_t *item, size_t index, struct sender_result *out,
    struct err *err)
{
	const char *name = sender_json_str(item, "event");
	const char *email = sender_json_str(item, "email");
	const char *ua = sender_json_str(item, "useragent");
	struct sender_kind kind;
	struct event *ev;
	int64_t ms;

	if (!json_is_object(item) || name == NULL)
		return sender_malformed(
		    err, "event %zu has no \"event\"", index);
	if (!sendgrid_classify(name, sender_json_str(item, "type"), &kind)) {
		out->batch.ignored++;
		return SENDER_OK;
	}
	if (!sender_time_seconds(json_object_get(item, "timestamp"), &ms))
		return sender_malformed(
		    err, "event %zu has no valid \"timestamp\"", index);
	ev = sender_push(out, &kind);
	if (email == NULL || !sender_set_email(ev, email))
		return sender_malformed(
		    err, "event %zu has no valid \"email\"", index);
	ev->occurred_at_ms = ms;
	ev->event_id = xstrdup(sender_json_str(item, "sg_event_id"));
	if (ev->event_id == NULL) {
		/* Not seen from SendGrid itself; kept deterministic anyway. */
		char ts[32];
		const char *f[] = { name,
			sender_json_str(item, "sg_message_id"), ev->email, ts,
			sender_json_str(item, "url") };

		snprintf(ts, sizeof(ts), "%lld", (long long)ms);
		ev->event_id = sender_composite_id('s', f, 5);
	}
	ev->message_id = xstrdup(sender_json_str(item, "sg_message_id"));
	ev->contact_id =
	    sender_json_text(json_object_get(item, SENDER_CONTACT_KEY));
	ev->campaign_id = xstrdup(first_category(item));
	if (kind.type == EVENT_OPEN || kind.type == EVENT_CLICK)
		sender_set_client(ev, sender_json_str(item, "url"), ua,
		    sender_json_str(item, "ip"));
	if (json_is_true(json_object_get(item, "sg_machine_open")))
		ev->flags |= EVENT_FLAG_SENDER_MACHINE;
	return SENDER_OK;
}

static enum sender_status
sendgrid_handle(const struct sender_request *req,
    const struct sender_secrets *secrets, struct sender_result *out,
    struct err *err)
{
	json_t *root = NULL;
	enum sender_status st;

	st = authenticate(req, secrets, err);
	if (st == SENDER_OK)
		st = sender_parse_json(req, &root, err);
	if (st == SENDER_OK)
		st = sender_each_event(root, false, parse_event, out, err);
	json_decref(root);
	return sender_finish(out, st);
}

const struct sender sendgrid_sender = {
	.name = "sendgrid",
	.handle = sendgrid_handle,
};
