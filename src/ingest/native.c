/*
 * native.c - the service's own event format (POST /v1/events) and the
 * validation every event passes, whatever sender it came from.
 *
 * Without an event_id, an event's idempotency key is a hash of what makes
 * it that event (type, contact, address, message, time, URL), so a client
 * that retries the same event without an id still stores it once.
 */
#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "ingest/ingest.h"

#define MAX_ID_LEN 256
#define MAX_URL_LEN 4096
#define MAX_AGENT_LEN 1024

static bool
too_long(const char *s, size_t max)
{
	return s != NULL && strlen(s) > max;
}

bool
ingest_validate(const struct event *ev, char *buf, size_t buflen)
{
	if (ev->contact_id == NULL && ev->email == NULL) {
		snprintf(buf, buflen, "contact_id or email is required");
		return false;
	}
	if (ev->contact_id != NULL && ev->contact_id[0] == '\0') {
		snprintf(buf, buflen, "contact_id is empty");
		return false;
	}
	if (ev->message_id == NULL &&
	    (ev->type == EVENT_SENT || ev->type == EVENT_DELIVERED ||
		ev->type == EVENT_OPEN || ev->type == EVENT_CLICK)) {
		snprintf(buf, buflen, "message_id is required for a %s event",
		    event_type_name(ev->type));
		return false;
	}
	if (too_long(ev->event_id, MAX_ID_LEN) ||
	    too_long(ev->contact_id, MAX_ID_LEN) ||
	    too_long(ev->email, MAX_ID_LEN) ||
	    too_long(ev->message_id, MAX_ID_LEN) ||
	    too_long(ev->campaign_id, MAX_ID_LEN)) {
		snprintf(buf, buflen, "an identifier is longer than %d bytes",
		    MAX_ID_LEN);
		return false;
	}
	if (too_long(ev->url, MAX_URL_LEN) ||
	    too_long(ev->user_agent, MAX_AGENT_LEN) || too_long(ev->ip, 64)) {
		snprintf(buf, buflen, "url, user_agent or ip is too long");
		return false;
	}
	if (!time_is_plausible(ev->occurred_at_ms)) {
		snprintf(buf, buflen,
		    "occurred_at is before 2000 or more than a day ahead");
		return false;
	}
	return true;
}

/* Hex SHA-256 of the identifying fields, prefixed so it cannot collide
 * with a client's own ids by accident. */
static char *
composite_key(const struct event *ev)
{
	char *text = xasprintf("%d\x1f%s\x1f%s\x1f%s\x1f%lld\x1f%s", ev->type,
	    ev->contact_id ? ev->contact_id : "", ev->email ? ev->email : "",
	    ev->message_id ? ev->message_id : "", (long long)ev->occurred_at_ms,
	    ev->url ? ev->url : "");
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char *hex = xmalloc(2 + 32 + 1);

	EVP_Digest(text, strlen(text), digest, &dlen, EVP_sha256(), NULL);
	free(text);
	hex[0] = 'h';
	hex[1] = ':';
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 + i * 2, 3, "%02x", digest[i]);
	return hex;
}

/* Reads an optional string member; false when present but not a string. */
static bool
opt_string(json_t *obj, const char *name, char **out, char *why, size_t len)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v)) {
		snprintf(why, len, "%s must be a string", name);
		return false;
	}
	*out = xstrndup(json_string_value(v), json_string_length(v));
	return true;
}

static bool
parse_time(json_t *v, int64_t *out, char *why, size_t len)
{
	if (json_is_string(v) && time_parse_iso8601(json_string_value(v), out))
		return true;
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) < 100000000000LL) {
		*out = (int64_t)json_integer_value(v) * 1000;
		return true;
	}
	if (json_is_real(v) && isfinite(json_real_value(v)) &&
	    json_real_value(v) > 0 && json_real_value(v) < 1e11) {
		*out = (int64_t)llround(json_real_value(v) * 1000.0);
		return true;
	}
	snprintf(
	    why, len, "occurred_at must be an RFC 3339 time or Unix seconds");
	return false;
}

static bool
parse_flags(json_t *obj, struct event *ev, char *why, size_t len)
{
	json_t *machine = json_object_get(obj, "machine_open");
	json_t *tracked = json_object_get(obj, "tracked");
	json_t *bounce = json_object_get(obj, "bounce_type");

	if (machine != NULL && !json_is_boolean(machine)) {
		snprintf(why, len, "machine_open must be true or false");
		return false;
	}
	if (json_is_true(machine))
		ev->flags |= EVENT_FLAG_SENDER_MACHINE;
	if (tracked != NULL && !json_is_boolean(tracked)) {
		snprintf(why, len, "tracked must be true or false");
		return false;
	}
	if (json_is_false(tracked))
		ev->flags |= EVENT_FLAG_NO_TRACKING;
	if (ev->type == EVENT_BOUNCE) {
		const char *kind = json_string_value(bounce);

		if (bounce == NULL ||
		    (kind != NULL && strcmp(kind, "hard") == 0))
			ev->bounce = BOUNCE_HARD;
		else if (kind != NULL && strcmp(kind, "soft") == 0)
			ev->bounce = BOUNCE_SOFT;
		else {
			snprintf(why, len, "bounce_type must be hard or soft");
			return false;
		}
	}
	if (ev->user_agent != NULL &&
	    strstr(ev->user_agent, "GoogleImageProxy") != NULL)
		ev->flags |= EVENT_FLAG_GMAIL_PROXY;
	return true;
}

static bool
parse_one(json_t *obj, struct event *ev, char *why, size_t len)
{
	json_t *type = json_object_get(obj, "type");
	json_t *when = json_object_get(obj, "occurred_at");

	if (!json_is_object(obj)) {
		snprintf(why, len, "an event must be a JSON object");
		return false;
	}
	if (!json_is_string(type) ||
	    !event_type_parse(json_string_value(type), &ev->type)) {
		snprintf(why, len,
		    "type must be one of sent, delivered, open, click, bounce, unsubscribe, complaint");
		return false;
	}
	if (!opt_string(obj, "event_id", &ev->event_id, why, len) ||
	    !opt_string(obj, "contact_id", &ev->contact_id, why, len) ||
	    !opt_string(obj, "email", &ev->email, why, len) ||
	    !opt_string(obj, "message_id", &ev->message_id, why, len) ||
	    !opt_string(obj, "campaign_id", &ev->campaign_id, why, len) ||
	    !opt_string(obj, "url", &ev->url, why, len) ||
	    !opt_string(obj, "user_agent", &ev->user_agent, why, len) ||
	    !opt_string(obj, "ip", &ev->ip, why, len))
		return false;
	if (ev->email != NULL && !event_normalize_email(ev->email)) {
		snprintf(why, len, "email is not an address");
		return false;
	}
	if (when == NULL) {
		snprintf(why, len, "occurred_at is required");
		return false;
	}
	if (!parse_time(when, &ev->occurred_at_ms, why, len) ||
	    !parse_flags(obj, ev, why, len) || !ingest_validate(ev, why, len))
		return false;
	if (ev->event_id != NULL && ev->event_id[0] == '\0') {
		snprintf(why, len, "event_id is empty");
		return false;
	}
	if (ev->event_id == NULL)
		ev->event_id = composite_key(ev);
	return true;
}

static void
reject(struct ingest_rejection **rejected, size_t *count, size_t index,
    const char *why)
{
	*rejected = xrealloc(*rejected, (*count + 1) * sizeof(**rejected));
	(*rejected)[*count].index = index;
	snprintf((*rejected)[*count].error, sizeof((*rejected)[*count].error),
	    "%s", why);
	(*count)++;
}

bool
ingest_parse_native(const char *body, size_t len, size_t max_events,
    struct event_batch *batch, struct ingest_rejection **rejected,
    size_t *rejected_count, struct err *err)
{
	json_error_t jerr;
	json_t *root;
	size_t n;

	*rejected = NULL;
	*rejected_count = 0;
	if (body == NULL || len == 0) {
		err_set(err, 400, "empty_body", "the request body is empty");
		return false;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		err_set(err, 400, "malformed_json",
		    "the body is not valid JSON: %s at line %d", jerr.text,
		    jerr.line);
		return false;
	}
	if (!json_is_array(root) && !json_is_object(root)) {
		json_decref(root);
		err_set(err, 400, "malformed_body",
		    "the body must be an event object or an array of them");
		return false;
	}
	n = json_is_array(root) ? json_array_size(root) : 1;
	if (n == 0 || n > max_events) {
		json_decref(root);
		err_set(err, n == 0 ? 400 : 413,
		    n == 0 ? "empty_batch" : "too_many_events",
		    "a batch holds 1 to %zu events", max_events);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *item =
		    json_is_array(root) ? json_array_get(root, i) : root;
		struct event ev = { 0 };
		char why[160];

		if (parse_one(item, &ev, why, sizeof(why))) {
			*event_batch_push(batch) = ev;
		} else {
			event_clear(&ev);
			reject(rejected, rejected_count, i, why);
		}
	}
	json_decref(root);
	return true;
}
