/*
 * sparkpost.c - the SparkPost (Bird Email) webhook adapter.
 *
 * SparkPost posts a JSON array of {"msys":{"<class>_event":{...}}} and
 * signs nothing; the webhook is configured with basic auth (or an OAuth
 * bearer token), checked before parsing.  An element with an empty msys is
 * the keep-alive SparkPost sends when a webhook is created or tested.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "senders/adapters.h"

static const struct sender_name_kind sparkpost_events[] = {
	{ "delivery", { EVENT_DELIVERED, BOUNCE_NONE, 0 } },
	{ "open", { EVENT_OPEN, BOUNCE_NONE, 0 } },
	{ "amp_open", { EVENT_OPEN, BOUNCE_NONE, 0 } },
	{ "initial_open", { EVENT_OPEN, BOUNCE_NONE, EVENT_FLAG_FIRST_OPEN } },
	{ "amp_initial_open",
	    { EVENT_OPEN, BOUNCE_NONE, EVENT_FLAG_FIRST_OPEN } },
	{ "click", { EVENT_CLICK, BOUNCE_NONE, 0 } },
	{ "amp_click", { EVENT_CLICK, BOUNCE_NONE, 0 } },
	{ "spam_complaint", { EVENT_COMPLAINT, BOUNCE_NONE, 0 } },
	{ "list_unsubscribe", { EVENT_UNSUBSCRIBE, BOUNCE_NONE, 0 } },
	{ "link_unsubscribe", { EVENT_UNSUBSCRIBE, BOUNCE_NONE, 0 } },
	{ NULL, { 0, 0, 0 } },
};

bool
sparkpost_classify(
    const char *type, const char *bounce_class, struct sender_kind *kind)
{
	if (type != NULL &&
	    (strcmp(type, "bounce") == 0 || strcmp(type, "out_of_band") == 0)) {
		/* Classes 10, 30 and 90 are the hard ones; the rest may pass.
		 */
		long cls =
		    bounce_class != NULL ? strtol(bounce_class, NULL, 10) : 0;

		kind->type = EVENT_BOUNCE;
		kind->bounce = cls == 10 || cls == 30 || cls == 90
				   ? BOUNCE_HARD
				   : BOUNCE_SOFT;
		kind->flags = 0;
		return true;
	}
	/* injection, delay, policy_rejection, generation_*, relay: not kept */
	return sender_lookup_kind(sparkpost_events, type, kind);
}

static enum sender_status
parse_event(const json_t *data, size_t index, struct sender_result *out,
    struct err *err)
{
	const char *type = sender_json_str(data, "type");
	const char *email = sender_json_str(data, "rcpt_to");
	char *cls = sender_json_text(json_object_get(data, "bounce_class"));
	struct sender_kind kind;
	struct event *ev;
	bool keep;
	int64_t ms;

	if (type == NULL) {
		free(cls);
		return sender_malformed(
		    err, "element %zu has no \"type\"", index);
	}
	keep = sparkpost_classify(type, cls, &kind);
	free(cls);
	if (!keep) {
		out->batch.ignored++;
		return SENDER_OK;
	}
	if (!sender_time_seconds(json_object_get(data, "timestamp"), &ms))
		return sender_malformed(
		    err, "element %zu has no valid \"timestamp\"", index);
	ev = sender_push(out, &kind);
	if (email == NULL)
		email = sender_json_str(data, "raw_rcpt_to");
	if (email == NULL || !sender_set_email(ev, email))
		return sender_malformed(
		    err, "element %zu has no valid \"rcpt_to\"", index);
	ev->occurred_at_ms = ms;
	ev->event_id = sender_json_text(json_object_get(data, "event_id"));
	if (ev->event_id == NULL)
		return sender_malformed(
		    err, "element %zu has no \"event_id\"", index);
	ev->message_id = xstrdup(sender_json_str(data, "message_id"));
	ev->contact_id = sender_json_text(
	    sender_json_path(data, "rcpt_meta", SENDER_CONTACT_KEY, NULL));
	ev->campaign_id = xstrdup(sender_json_str(data, "campaign_id"));
	if (kind.type == EVENT_OPEN || kind.type == EVENT_CLICK)
		sender_set_client(ev, sender_json_str(data, "target_link_url"),
		    sender_json_str(data, "user_agent"),
		    sender_json_str(data, "ip_address"));
	return SENDER_OK;
}

static enum sender_status
parse_element(const json_t *elem, size_t index, struct sender_result *out,
    struct err *err)
{
	const json_t *msys = json_object_get(elem, "msys");
	const char *cls;
	json_t *data;

	if (!json_is_object(msys))
		return sender_malformed(
		    err, "element %zu has no \"msys\" object", index);
	if (json_object_size(msys) == 0)
		return SENDER_OK; /* keep-alive ping */
	json_object_foreach((json_t *)msys, cls, data)
	{
		enum sender_status st;

		if (!json_is_object(data))
			return sender_malformed(err,
			    "element %zu: \"%s\" is not an object", index, cls);
		st = parse_event(data, index, out, err);
		if (st != SENDER_OK)
			return st;
	}
	return SENDER_OK;
}

static enum sender_status
sparkpost_handle(const struct sender_request *req,
    const struct sender_secrets *secrets, struct sender_result *out,
    struct err *err)
{
	return sender_handle_json_events(
	    req, secrets, "sparkpost", false, parse_element, out, err);
}

const struct sender sparkpost_sender = {
	.name = "sparkpost",
	.handle = sparkpost_handle,
};
