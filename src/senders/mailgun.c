/*
 * mailgun.c - the Mailgun webhook adapter.
 *
 * Mailgun posts one event per request: {"signature":{...},"event-data":{...}}.
 * The signature (HMAC-SHA256 of timestamp followed by token) lives inside
 * the body, so the body must be parsed before it can be checked, and it
 * does not cover the event data: the replay window bounds how long a
 * captured signature stays usable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "senders/adapters.h"

static const struct sender_name_kind mailgun_events[] = {
	{ "delivered", { EVENT_DELIVERED, BOUNCE_NONE, 0 } },
	{ "opened", { EVENT_OPEN, BOUNCE_NONE, 0 } },
	{ "clicked", { EVENT_CLICK, BOUNCE_NONE, 0 } },
	{ "unsubscribed", { EVENT_UNSUBSCRIBE, BOUNCE_NONE, 0 } },
	{ "complained", { EVENT_COMPLAINT, BOUNCE_NONE, 0 } },
	{ NULL, { 0, 0, 0 } },
};

bool
mailgun_classify(
    const char *event, const char *severity, struct sender_kind *kind)
{
	if (event != NULL && strcmp(event, "failed") == 0) {
		kind->type = EVENT_BOUNCE;
		kind->bounce =
		    severity != NULL && strcmp(severity, "permanent") == 0
			? BOUNCE_HARD
			: BOUNCE_SOFT;
		kind->flags = 0;
		return true;
	}
	/* accepted, rejected, stored, ...: not kept */
	return sender_lookup_kind(mailgun_events, event, kind);
}

static enum sender_status
authenticate(const json_t *root, const struct sender_request *req,
    const struct sender_secrets *secrets, struct err *err)
{
	const json_t *sig = json_object_get(root, "signature");
	char *ts = sender_json_text(json_object_get(sig, "timestamp"));
	const char *token = sender_json_str(sig, "token");
	const char *given = sender_json_str(sig, "signature");
	unsigned char mac[64];
	char hex[129];
	size_t mac_len;
	char *signed_text = NULL;
	bool ok = false;

	if (ts != NULL && token != NULL && given != NULL &&
	    sender_timestamp_fresh(ts, req->now_ms, secrets->replay_window_s)) {
		signed_text = xasprintf("%s%s", ts, token);
		if (sender_hmac(SENDER_SHA256, secrets->signing_key,
			strlen(secrets->signing_key), signed_text,
			strlen(signed_text), mac, &mac_len)) {
			sender_hex(mac, mac_len, hex);
			ok = sender_equal_ct(
			    hex, strlen(hex), given, strlen(given));
		}
	}
	free(signed_text);
	free(ts);
	return ok ? SENDER_OK : sender_unauthorized(err);
}

/*
 * Mailgun's id is unique within a day only, so the UTC date joins it.  An
 * event without one (not seen in practice) gets a composite key.
 */
static char *
event_id(const json_t *data, const struct event *ev, const char *name)
{
	const char *id = sender_json_str(data, "id");
	char iso[40], ms[32];
	const char *f[] = { name, ev->message_id, ev->email, ms, ev->url };

	time_format_iso8601(ev->occurred_at_ms, iso, sizeof(iso));
	if (id != NULL)
		return xasprintf("%.10s/%s", iso, id);
	snprintf(ms, sizeof(ms), "%lld", (long long)ev->occurred_at_ms);
	return sender_composite_id('g', f, 5);
}

static void
set_bot_flags(struct event *ev, const char *bot)
{
	if (bot == NULL || bot[0] == '\0')
		return;
	if (strcmp(bot, "apple") == 0)
		ev->flags |= EVENT_FLAG_SENDER_MACHINE;
	else if (ev->type == EVENT_OPEN && strcmp(bot, "gmail") == 0)
		ev->flags |= EVENT_FLAG_GMAIL_PROXY;
	else
		ev->flags |= EVENT_FLAG_SENDER_BOT;
}

static enum sender_status
parse_event(const json_t *data, struct sender_result *out, struct err *err)
{
	const char *name = sender_json_str(data, "event");
	const char *email = sender_json_str(data, "recipient");
	const json_t *client = json_object_get(data, "client-info");
	const json_t *tags = json_object_get(data, "tags");
	struct sender_kind kind;
	struct event *ev;
	int64_t ms;

	if (!json_is_object(data) || name == NULL)
		return sender_malformed(err, "\"event-data\" has no \"event\"");
	if (!mailgun_classify(name, sender_json_str(data, "severity"), &kind)) {
		out->batch.ignored++;
		return SENDER_OK;
	}
	if (!sender_time_seconds(json_object_get(data, "timestamp"), &ms))
		return sender_malformed(
		    err, "\"event-data\" has no valid \"timestamp\"");
	ev = sender_push(out, &kind);
	if (email == NULL || !sender_set_email(ev, email))
		return sender_malformed(
		    err, "\"event-data\" has no valid \"recipient\"");
	ev->occurred_at_ms = ms;
	ev->message_id = xstrdup(sender_json_str(
	    sender_json_path(data, "message", "headers", NULL), "message-id"));
	ev->contact_id = sender_json_text(
	    sender_json_path(data, "user-variables", SENDER_CONTACT_KEY, NULL));
	ev->campaign_id = xstrdup(json_string_value(json_array_get(tags, 0)));
	if (kind.type == EVENT_OPEN || kind.type == EVENT_CLICK) {
		sender_set_client(ev, sender_json_str(data, "url"),
		    sender_json_str(client, "user-agent"),
		    sender_json_str(data, "ip"));
		set_bot_flags(ev, sender_json_str(client, "bot"));
	}
	ev->event_id = event_id(data, ev, name);
	return SENDER_OK;
}

static enum sender_status
mailgun_handle(const struct sender_request *req,
    const struct sender_secrets *secrets, struct sender_result *out,
    struct err *err)
{
	json_t *root = NULL;
	enum sender_status st;

	if (!sender_is_set(secrets->signing_key))
		return sender_finish(
		    out, sender_not_configured(err, "mailgun", "signing_key"));
	st = sender_parse_json(req, &root, err);
	if (st == SENDER_OK && !json_is_object(root))
		st = sender_malformed(err, "expected a JSON object");
	if (st == SENDER_OK)
		st = authenticate(root, req, secrets, err);
	if (st == SENDER_OK) {
		const json_t *data = json_object_get(root, "event-data");

		st = json_is_object(data)
			 ? parse_event(data, out, err)
			 : sender_malformed(err, "no \"event-data\" object");
	}
	json_decref(root);
	return sender_finish(out, st);
}

const struct sender mailgun_sender = {
	.name = "mailgun",
	.handle = mailgun_handle,
};
