/*
 * event.c - the normalised event and its batch (see include/ingest/event.h).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "ingest/event.h"

static const char *const type_names[EVENT_TYPE_COUNT] = {
	[EVENT_SENT] = "sent",
	[EVENT_DELIVERED] = "delivered",
	[EVENT_OPEN] = "open",
	[EVENT_CLICK] = "click",
	[EVENT_BOUNCE] = "bounce",
	[EVENT_UNSUBSCRIBE] = "unsubscribe",
	[EVENT_COMPLAINT] = "complaint",
};

struct event *
event_batch_push(struct event_batch *batch)
{
	struct event *ev;

	if (batch->count == batch->capacity) {
		batch->capacity =
		    batch->capacity == 0 ? 8 : batch->capacity * 2;
		batch->items = xrealloc(
		    batch->items, batch->capacity * sizeof(*batch->items));
	}
	ev = &batch->items[batch->count++];
	memset(ev, 0, sizeof(*ev));
	return ev;
}

void
event_clear(struct event *ev)
{
	free(ev->event_id);
	free(ev->contact_id);
	free(ev->email);
	free(ev->message_id);
	free(ev->campaign_id);
	free(ev->url);
	free(ev->user_agent);
	free(ev->ip);
	memset(ev, 0, sizeof(*ev));
}

void
event_batch_clear(struct event_batch *batch)
{
	for (size_t i = 0; i < batch->count; i++)
		event_clear(&batch->items[i]);
	free(batch->items);
	memset(batch, 0, sizeof(*batch));
}

const char *
event_type_name(enum event_type type)
{
	if ((int)type < 0 || type >= EVENT_TYPE_COUNT)
		return NULL;
	return type_names[type];
}

bool
event_type_parse(const char *name, enum event_type *out)
{
	for (int i = 0; i < EVENT_TYPE_COUNT; i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*out = (enum event_type)i;
			return true;
		}
	}
	return false;
}

const char *
event_verdict_name(enum event_verdict verdict)
{
	switch (verdict) {
	case VERDICT_NONE:
		return "none";
	case VERDICT_HUMAN:
		return "human";
	case VERDICT_MACHINE:
		return "machine";
	case VERDICT_SCANNER:
		return "scanner";
	case VERDICT_UNKNOWN:
		return "unknown";
	}
	return "none";
}

bool
event_normalize_email(char *email)
{
	size_t len, start = 0;
	char *at;

	if (email == NULL)
		return false;
	len = strlen(email);
	while (start < len && isspace((unsigned char)email[start]))
		start++;
	while (len > start && isspace((unsigned char)email[len - 1]))
		len--;
	memmove(email, email + start, len - start);
	email[len - start] = '\0';
	for (char *p = email; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x80)
			*p = (char)tolower((unsigned char)*p);
		if (isspace((unsigned char)*p) || *p == '<' || *p == '>')
			return false;
	}
	at = strchr(email, '@');
	return at != NULL && at != email && at[1] != '\0' &&
	       strchr(at + 1, '@') == NULL && strchr(at + 1, '.') != NULL;
}
