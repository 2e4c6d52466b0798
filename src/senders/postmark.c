/*
 * postmark.c - the Postmark webhook adapter.
 *
 * Postmark posts one JSON object per request, told apart by RecordType,
 * and signs nothing: the webhook URL carries basic-auth credentials and/or
 * a custom header (X-Webhook-Token here), both checked before parsing.
 * Only bounces and spam complaints carry an id of their own; every other
 * record gets a composite key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "senders/adapters.h"

#define TOKEN_HEADER "X-Webhook-Token"

static const struct sender_name_kind postmark_records[] = {
	{ "Delivery", { EVENT_DELIVERED, BOUNCE_NONE, 0 } },
	{ "Open", { EVENT_OPEN, BOUNCE_NONE, 0 } },
	{ "Click", { EVENT_CLICK, BOUNCE_NONE, 0 } },
	{ "SpamComplaint", { EVENT_COMPLAINT, BOUNCE_NONE, 0 } },
	{ NULL, { 0, 0, 0 } },
};

/* Bounce Types that are not about deliverability at all. */
static const char *const postmark_bounce_ignored[] = { "AutoResponder",
	"AddressChange", "ChallengeVerification", "OpenRelayTest", "Subscribe",
	"Unsubscribe", NULL };

static bool
in_list(const char *const *list, const char *name)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

bool
postmark_classify(
    const char *record_type, const char *detail, struct sender_kind *kind)
{
	if (record_type == NULL)
		return false;
	kind->flags = 0;
	kind->bounce = BOUNCE_NONE;
	if (strcmp(record_type, "Bounce") == 0) {
		if (detail == NULL || in_list(postmark_bounce_ignored, detail))
			return false;
		if (strcmp(detail, "SpamComplaint") == 0) {
			kind->type = EVENT_COMPLAINT;
			return true;
		}
		kind->type = EVENT_BOUNCE;
		kind->bounce = strcmp(detail, "HardBounce") == 0 ||
				       strcmp(detail, "BadEmailAddress") == 0
				   ? BOUNCE_HARD
				   : BOUNCE_SOFT;
		return true;
	}
	if (strcmp(record_type, "SubscriptionChange") == 0) {
		/* SuppressSending false is a reactivation: nothing to keep. */
		kind->type = EVENT_UNSUBSCRIBE;
		return detail != NULL && strcmp(detail, "true") == 0;
	}
	return sender_lookup_kind(postmark_records, record_type, kind);
}

/* The time field each RecordType carries. */
static const char *
time_field(const char *record_type)
{
	if (strcmp(record_type, "Delivery") == 0)
		return "DeliveredAt";
	if (strcmp(record_type, "Bounce") == 0 ||
	    strcmp(record_type, "SpamComplaint") == 0)
		return "BouncedAt";
	if (strcmp(record_type, "SubscriptionChange") == 0)
		return "ChangedAt";
	return "ReceivedAt";
}

static const char *
classify_detail(const json_t *root, const char *record_type)
{
	if (strcmp(record_type, "SubscriptionChange") == 0)
		return json_is_true(json_object_get(root, "SuppressSending"))
			   ? "true"
			   : "false";
	return sender_json_str(root, "Type");
}

static char *
event_id(const json_t *root, const char *record_type, const struct event *ev,
    const char *when)
{
	const char *f[] = { record_type, ev->message_id, ev->email, when };

	if (strcmp(record_type, "Bounce") == 0 ||
	    strcmp(record_type, "SpamComplaint") == 0) {
		char *id = sender_json_text(json_object_get(root, "ID"));

		if (id != NULL)
			return id;
	}
	return sender_composite_id('p', f, 4);
}

static enum sender_status
parse_record(const json_t *root, struct sender_result *out, struct err *err)
{
	const char *rt = sender_json_str(root, "RecordType");
	const char *email, *when;
	struct sender_kind kind;
	struct event *ev;
	int64_t ms;

	if (rt == NULL)
		return sender_malformed(err, "no \"RecordType\"");
	if (!postmark_classify(rt, classify_detail(root, rt), &kind)) {
		out->batch.ignored++;
		return SENDER_OK;
	}
	when = sender_json_str(root, time_field(rt));
	if (!sender_time_iso(json_object_get(root, time_field(rt)), &ms))
		return sender_malformed(err, "no valid \"%s\"", time_field(rt));
	email = sender_json_str(root, "Recipient");
	if (email == NULL)
		email = sender_json_str(root, "Email");
	ev = sender_push(out, &kind);
	if (email == NULL || !sender_set_email(ev, email))
		return sender_malformed(
		    err, "no valid \"Recipient\" or \"Email\"");
	ev->occurred_at_ms = ms;
	ev->message_id = xstrdup(sender_json_str(root, "MessageID"));
	ev->contact_id = sender_json_text(
	    sender_json_path(root, "Metadata", SENDER_CONTACT_KEY, NULL));
	ev->campaign_id = xstrdup(sender_json_str(root, "Tag"));
	if (kind.type == EVENT_OPEN || kind.type == EVENT_CLICK)
		sender_set_client(ev, sender_json_str(root, "OriginalLink"),
		    sender_json_str(root, "UserAgent"),
		    sender_json_str(json_object_get(root, "Geo"), "IP"));
	if (kind.type == EVENT_OPEN &&
	    json_is_true(json_object_get(root, "FirstOpen")))
		ev->flags |= EVENT_FLAG_FIRST_OPEN;
	ev->event_id = event_id(root, rt, ev, when);
	return SENDER_OK;
}

static enum sender_status
postmark_handle(const struct sender_request *req,
    const struct sender_secrets *secrets, struct sender_result *out,
    struct err *err)
{
	json_t *root = NULL;
	enum sender_status st;

	st =
	    sender_check_http_auth(req, secrets, "postmark", TOKEN_HEADER, err);
	if (st == SENDER_OK)
		st = sender_parse_json(req, &root, err);
	if (st == SENDER_OK)
		st = json_is_object(root)
			 ? parse_record(root, out, err)
			 : sender_malformed(err, "expected a JSON object");
	json_decref(root);
	return sender_finish(out, st);
}

const struct sender postmark_sender = {
	.name = "postmark",
	.handle = postmark_handle,
};
