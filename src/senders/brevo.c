/*
 * brevo.c - the Brevo (formerly Sendinblue) transactional webhook adapter.
 *
 * Brevo posts one JSON object per event (or, when batching is enabled, an
 * array of them) and signs nothing: the webhook carries basic-auth
 * credentials or a bearer token, checked before parsing.  The CRM contact
 * id travels in X-Mailin-custom, the text of a header set at send time.
 * Brevo gives no event id, so a composite key is built.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "senders/adapters.h"

static const struct sender_name_kind brevo_events[] = {
	{ "delivered", { EVENT_DELIVERED, BOUNCE_NONE, 0 } },
	{ "opened", { EVENT_OPEN, BOUNCE_NONE, 0 } },
	{ "unique_opened", { EVENT_OPEN, BOUNCE_NONE, EVENT_FLAG_FIRST_OPEN } },
	{ "proxy_open",
	    { EVENT_OPEN, BOUNCE_NONE, EVENT_FLAG_SENDER_MACHINE } },
	{ "unique_proxy_open",
	    { EVENT_OPEN, BOUNCE_NONE,
		EVENT_FLAG_SENDER_MACHINE | EVENT_FLAG_FIRST_OPEN } },
	{ "click", { EVENT_CLICK, BOUNCE_NONE, 0 } },
	{ "hard_bounce", { EVENT_BOUNCE, BOUNCE_HARD, 0 } },
	{ "soft_bounce", { EVENT_BOUNCE, BOUNCE_SOFT, 0 } },
	{ "unsubscribe", { EVENT_UNSUBSCRIBE, BOUNCE_NONE, 0 } },
	{ "spam", { EVENT_COMPLAINT, BOUNCE_NONE, 0 } },
	{ "complaint", { EVENT_COMPLAINT, BOUNCE_NONE, 0 } },
	{ NULL, { 0, 0, 0 } },
};

bool
brevo_classify(const char *event, const char *unused, struct sender_kind *kind)
{
	(void)unused;
	/* request, deferred, blocked, invalid_email, error: not kept */
	return sender_lookup_kind(brevo_events, event, kind);
}

/* ts_epoch (ms) is UTC; ts_event and ts are seconds; date is local time. */
static bool
event_time(const json_t *item, int64_t *ms)
{
	return sender_time_millis(json_object_get(item, "ts_epoch"), ms) ||
	       sender_time_seconds(json_object_get(item, "ts_event"), ms) ||
	       sender_time_seconds(json_object_get(item, "ts"), ms);
}

static char *
event_id(const char *name, const struct event *ev)
{
	char ms[32];
	const char *f[] = { name, ev->message_id, ev->email, ms };

	snprintf(ms, sizeof(ms), "%lld", (long long)ev->occurred_at_ms);
	return sender_composite_id('b', f, 4);
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
	if (!brevo_classify(name, NULL, &kind)) {
		out->batch.ignored++;
		return SENDER_OK;
	}
	if (!event_time(item, &ms))
		return sender_malformed(
		    err, "event %zu has no valid \"ts_epoch\"", index);
	ev = sender_push(out, &kind);
	if (email == NULL || !sender_set_email(ev, email))
		return sender_malformed(
		    err, "event %zu has no valid \"email\"", index);
	ev->occurred_at_ms = ms;
	ev->message_id = xstrdup(sender_json_str(item, "message-id"));
	ev->contact_id = sender_contact_from_json_text(
	    sender_json_str(item, "X-Mailin-custom"));
	ev->campaign_id = xstrdup(json_string_value(
	    json_array_get(json_object_get(item, "tags"), 0)));
	if (kind.type == EVENT_OPEN || kind.type == EVENT_CLICK)
		sender_set_client(ev, sender_json_str(item, "link"),
		    sender_json_str(item, "user_agent"),
		    sender_json_str(item, "ip"));
	ev->event_id = event_id(name, ev);
	return SENDER_OK;
}

static enum sender_status
brevo_handle(const struct sender_request *req,
    const struct sender_secrets *secrets, struct sender_result *out,
    struct err *err)
{
	return sender_handle_json_events(
	    req, secrets, "brevo", true, parse_event, out, err);
}

const struct sender brevo_sender = {
	.name = "brevo",
	.handle = brevo_handle,
};
