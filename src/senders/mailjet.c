/*
 * mailjet.c - the Mailjet Event API adapter.
 *
 * Mailjet posts either a JSON array of the last second's events (grouped,
 * "Version 2") or one bare object, and signs nothing: the callback URL
 * carries basic-auth credentials, checked before parsing.  The CRM contact
 * id travels in Payload, the EventPayload text given at send time.  Mailjet
 * gives no event id, so a composite key is built.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "senders/adapters.h"

static const struct sender_name_kind mailjet_events[] = {
	/* "sent" means accepted by the receiving server: a delivery. */
	{ "sent", { EVENT_DELIVERED, BOUNCE_NONE, 0 } },
	{ "open", { EVENT_OPEN, BOUNCE_NONE, 0 } },
	{ "click", { EVENT_CLICK, BOUNCE_NONE, 0 } },
	{ "spam", { EVENT_COMPLAINT, BOUNCE_NONE, 0 } },
	{ "unsub", { EVENT_UNSUBSCRIBE, BOUNCE_NONE, 0 } },
	{ NULL, { 0, 0, 0 } },
};

bool
mailjet_classify(
    const char *event, const char *hard_bounce, struct sender_kind *kind)
{
	if (event != NULL && strcmp(event, "bounce") == 0) {
		kind->type = EVENT_BOUNCE;
		kind->bounce =
		    hard_bounce != NULL && strcmp(hard_bounce, "true") == 0
			? BOUNCE_HARD
			: BOUNCE_SOFT;
		kind->flags = 0;
		return true;
	}
	/* blocked (never sent): not kept */
	return sender_lookup_kind(mailjet_events, event, kind);
}

static char *
event_id(const char *name, const struct event *ev)
{
	char ms[32];
	const char *f[] = { name, ev->message_id, ev->email, ms, ev->url };

	/* Mailjet's time is whole seconds, so ms / 1000 is the raw value. */
	snprintf(
	    ms, sizeof(ms), "%lld", (long long)(ev->occurred_at_ms / 1000));
	return sender_composite_id('j', f, 5);
}

static enum sender_status
parse_event(const json_t *item, size_t index, struct sender_result *out,
    struct err *err)
{
	const char *name = sender_json_str(item, "event");
	const char *email = sender_json_str(item, "email");
	struct sender_kind kind;
	struct event *ev;
	int64_t ms;

	if (!json_is_object(item) || name == NULL)
		return sender_malformed(
		    err, "event %zu has no \"event\"", index);
	if (!mailjet_classify(name,
		json_is_true(json_object_get(item, "hard_bounce")) ? "true"
								   : "false",
		&kind)) {
		out->batch.ignored++;
		return SENDER_OK;
	}
	if (!sender_time_seconds(json_object_get(item, "time"), &ms))
		return sender_malformed(
		    err, "event %zu has no valid \"time\"", index);
	ev = sender_push(out, &kind);
	if (email == NULL || !sender_set_email(ev, email))
		return sender_malformed(
		    err, "event %zu has no valid \"email\"", index);
	ev->occurred_at_ms = ms;
	ev->message_id = sender_json_text(json_object_get(item, "MessageID"));
	ev->contact_id =
	    sender_contact_from_json_text(sender_json_str(item, "Payload"));
	ev->campaign_id = xstrdup(sender_json_str(item, "customcampaign"));
	if (kind.type == EVENT_OPEN || kind.type == EVENT_CLICK)
		sender_set_client(ev, sender_json_str(item, "url"),
		    sender_json_str(item, "agent"),
		    sender_json_str(item, "ip"));
	ev->event_id = event_id(name, ev);
	return SENDER_OK;
}

static enum sender_status
mailjet_handle(const struct sender_request *req,
    const struct sender_secrets *secrets, struct sender_result *out,
    struct err *err)
{
	return sender_handle_json_events(
	    req, secrets, "mailjet", true, parse_event, out, err);
}

const struct sender mailjet_sender = {
	.name = "mailjet",
	.handle = mailjet_handle,
};
