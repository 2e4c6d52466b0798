/*
 * mandrill.c - the Mailchimp Transactional (Mandrill) webhook adapter.
 *
 * Mandrill posts a form with one field, mandrill_events, holding a JSON
 * array, and signs base64(HMAC-SHA1(key, registered URL followed by each
 * field's name and decoded value, sorted by name)).  The form is decoded
 * and the signature checked before the JSON is looked at.  Mandrill checks
 * a new webhook URL with an unsigned HEAD request, which is answered with
 * an empty batch.  Events carry no id, so a composite key is built.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "senders/adapters.h"

#define SIG_HEADER "X-Mandrill-Signature"

static const struct sender_name_kind mandrill_events[] = {
	{ "delivered", { EVENT_DELIVERED, BOUNCE_NONE, 0 } },
	{ "open", { EVENT_OPEN, BOUNCE_NONE, 0 } },
	{ "click", { EVENT_CLICK, BOUNCE_NONE, 0 } },
	{ "hard_bounce", { EVENT_BOUNCE, BOUNCE_HARD, 0 } },
	{ "soft_bounce", { EVENT_BOUNCE, BOUNCE_SOFT, 0 } },
	{ "unsub", { EVENT_UNSUBSCRIBE, BOUNCE_NONE, 0 } },
	{ "spam", { EVENT_COMPLAINT, BOUNCE_NONE, 0 } },
	{ NULL, { 0, 0, 0 } },
};

bool
mandrill_classify(
    const char *event, const char *unused, struct sender_kind *kind)
{
	(void)unused;
	/* send, deferral, reject, inbound and sync events: not kept */
	return sender_lookup_kind(mandrill_events, event, kind);
}

/* The signed bytes: URL, then name and value of each field by name. */
static char *
signed_data(const char *url, const struct sender_form *form, size_t *len)
{
	size_t total = strlen(url), off;
	char *buf;

	for (size_t i = 0; i < form->count; i++)
		total += form->fields[i].name_len + form->fields[i].value_len;
	buf = xmalloc(total + 1);
	off = strlen(url);
	memcpy(buf, url, off);
	for (size_t i = 0; i < form->count; i++) {
		const struct sender_form_field *f = &form->fields[i];

		memcpy(buf + off, f->name, f->name_len);
		off += f->name_len;
		memcpy(buf + off, f->value, f->value_len);
		off += f->value_len;
	}
	buf[off] = '\0';
	*len = off;
	return buf;
}

static enum sender_status
authenticate(const struct sender_request *req,
    const struct sender_secrets *secrets, const struct sender_form *form,
    struct err *err)
{
	const char *given = sender_header(req, SIG_HEADER);
	unsigned char mac[64];
	size_t mac_len, data_len;
	char *data, *expected;
	bool ok = false;

	if (given == NULL)
		return sender_unauthorized(err);
	data = signed_data(secrets->signed_url, form, &data_len);
	if (sender_hmac(SENDER_SHA1, secrets->signing_key,
		strlen(secrets->signing_key), data, data_len, mac, &mac_len)) {
		expected = sender_base64_encode(mac, mac_len);
		ok = sender_equal_ct(
		    expected, strlen(expected), given, strlen(given));
		free(expected);
	}
	free(data);
	return ok ? SENDER_OK : sender_unauthorized(err);
}

static char *
event_id(const char *name, const json_t *item, const struct event *ev)
{
	char *ts = sender_json_text(json_object_get(item, "ts"));
	const char *f[] = { sender_json_str(item, "_id"), name, ts, ev->url };
	char *id = sender_composite_id('m', f, 4);

	free(ts);
	return id;
}

static enum sender_status
parse_event(const json_t *item, size_t index, struct sender_result *out,
    struct err *err)
{
	const char *name = sender_json_str(item, "event");
	const json_t *msg = json_object_get(item, "msg");
	const char *email = sender_json_str(msg, "email");
	struct sender_kind kind;
	struct event *ev;
	int64_t ms;

	if (!json_is_object(item))
		return sender_malformed(
		    err, "event %zu is not an object", index);
	if (!mandrill_classify(name, NULL, &kind)) {
		out->batch.ignored++;
		return SENDER_OK;
	}
	if (!sender_time_seconds(json_object_get(item, "ts"), &ms))
		return sender_malformed(
		    err, "event %zu has no valid \"ts\"", index);
	ev = sender_push(out, &kind);
	if (email == NULL || !sender_set_email(ev, email))
		return sender_malformed(
		    err, "event %zu has no valid \"msg.email\"", index);
	ev->occurred_at_ms = ms;
	ev->message_id = xstrdup(sender_json_str(item, "_id"));
	if (ev->message_id == NULL)
		ev->message_id = xstrdup(sender_json_str(msg, "_id"));
	ev->contact_id = sender_json_text(
	    sender_json_path(msg, "metadata", SENDER_CONTACT_KEY, NULL));
	ev->campaign_id = xstrdup(
	    json_string_value(json_array_get(json_object_get(msg, "tags"), 0)));
	if (kind.type == EVENT_OPEN || kind.type == EVENT_CLICK)
		sender_set_client(ev, sender_json_str(item, "url"),
		    sender_json_str(item, "user_agent"),
		    sender_json_str(item, "ip"));
	ev->event_id = event_id(name, item, ev);
	return SENDER_OK;
}

static enum sender_status
parse_events(
    const struct sender_form *form, struct sender_result *out, struct err *err)
{
	const struct sender_form_field *f =
	    sender_form_get(form, "mandrill_events");
	json_error_t jerr;
	json_t *root;
	enum sender_status st;

	if (f == NULL)
		return sender_malformed(err, "no \"mandrill_events\" field");
	root = json_loadb(f->value, f->value_len, 0, &jerr);
	if (!json_is_array(root)) {
		json_decref(root);
		return sender_malformed(
		    err, "\"mandrill_events\" is not a JSON array");
	}
	st = sender_each_event(root, false, parse_event, out, err);
	json_decref(root);
	return st;
}

static enum sender_status
mandrill_handle(const struct sender_request *req,
    const struct sender_secrets *secrets, struct sender_result *out,
    struct err *err)
{
	struct sender_form form;
	enum sender_status st;

	/*
	 * Mandrill shows the webhook key only after the URL check passed, so
	 * HEAD must succeed before anything is configured; it carries no data.
	 */
	if (req->method != NULL && strcasecmp(req->method, "HEAD") == 0)
		return SENDER_OK;
	if (!sender_is_set(secrets->signing_key))
		return sender_finish(
		    out, sender_not_configured(err, "mandrill", "signing_key"));
	if (!sender_is_set(secrets->signed_url))
		return sender_finish(
		    out, sender_not_configured(err, "mandrill", "signed_url"));
	if (!sender_form_parse(
		req->body != NULL ? req->body : "", req->body_len, &form))
		return sender_finish(
		    out, sender_malformed(err, "body is not form-encoded"));
	sender_form_sort(&form);
	st = authenticate(req, secrets, &form, err);
	if (st == SENDER_OK)
		st = parse_events(&form, out, err);
	sender_form_clear(&form);
	return sender_finish(out, st);
}

const struct sender mandrill_sender = {
	.name = "mandrill",
	.handle = mandrill_handle,
};
