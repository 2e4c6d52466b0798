/*
 * adapters.h - the eight mail-sender adapters and their event-name tables.
 *
 * The registry (sender_find, sender_all) is the way the service reaches an
 * adapter; the classify functions are exported so that each table can be
 * tested on its own.  A classify function returns true and fills kind when
 * the sender's event name (with its qualifier, where the sender needs one
 * to tell hard from soft bounces or an unsubscribe from a resubscribe)
 * maps onto an event the service keeps; false means "acknowledge, ignore".
 */
#ifndef ENGAGEMENTD_SENDERS_ADAPTERS_H
#define ENGAGEMENTD_SENDERS_ADAPTERS_H

#include <stdbool.h>

#include "senders/common.h"
#include "senders/sender.h"

extern const struct sender sendgrid_sender;
extern const struct sender mailgun_sender;
extern const struct sender postmark_sender;
extern const struct sender ses_sender;
extern const struct sender sparkpost_sender;
extern const struct sender mandrill_sender;
extern const struct sender brevo_sender;
extern const struct sender mailjet_sender;

/* event, and the bounce "type" ("bounce" hard, "blocked" soft). */
bool sendgrid_classify(
    const char *event, const char *bounce_type, struct sender_kind *kind);

/* event, and "severity" of a failed event ("permanent" hard). */
bool mailgun_classify(
    const char *event, const char *severity, struct sender_kind *kind);

/* RecordType, and the bounce Type or "true"/"false" for SuppressSending. */
bool postmark_classify(
    const char *record_type, const char *detail, struct sender_kind *kind);

/* eventType/notificationType, and the bounceType ("Permanent" hard). */
bool ses_classify(
    const char *event_type, const char *bounce_type, struct sender_kind *kind);

/* type, and the bounce_class as decimal text (10, 30, 90 hard). */
bool sparkpost_classify(
    const char *type, const char *bounce_class, struct sender_kind *kind);

/* event (no qualifier needed; pass NULL). */
bool mandrill_classify(
    const char *event, const char *unused, struct sender_kind *kind);

/* event (no qualifier needed; pass NULL). */
bool brevo_classify(
    const char *event, const char *unused, struct sender_kind *kind);

/* event, and "true"/"false" for a bounce's hard_bounce. */
bool mailjet_classify(
    const char *event, const char *hard_bounce, struct sender_kind *kind);

#endif
