/*
 * contacts.h - the read path's SQL and the contact resource's writes:
 * one contact row (with two indexed counts) per scorecard, keyset pages of
 * a band, create/update, and erasure.
 */
#ifndef ENGAGEMENTD_STORE_CONTACTS_H
#define ENGAGEMENTD_STORE_CONTACTS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/model.h"

/* Everything a scorecard shows about one contact.  Strings owned. */
struct store_contact {
	int64_t contact_pk;
	char *crm_id; /* NULL for a contact known only by address */
	char *email;
	int64_t joined_at_ms; /* 0 when unknown */
	struct model_summary summary;
	int messages_delivered;
	int machine_opens;
	int scanner_clicks;
	int64_t last_open_at_ms;  /* 0 when never */
	int64_t last_click_at_ms; /* 0 when never */
	int opens_30d;
	int clicks_30d;
	/* when the oldest open or click of the two counts leaves the 30-day
	 * window, so the counts change with time alone; 0: never */
	int64_t counts_change_at_ms;
	bool hard_bounced;
	bool unsubscribed;
	bool complained;
	bool scored; /* stored holds the last write's scoring */
	struct model_score stored;
};

void store_contact_free(struct store_contact *c);

enum store_lookup { STORE_BY_CRM_ID, STORE_BY_EMAIL };

/*
 * Reads one contact of account.  Returns 1 found, 0 not found, -1 database
 * failure (err set).
 */
int store_contact_get(PGconn *conn, int64_t account_id, enum store_lookup by,
    const char *key, int64_t now_ms, struct store_contact *out,
    struct err *err);

/*
 * Reads the contacts of account whose CRM ids are in ids.  *out gets an
 * array of *count contacts in no particular order (caller frees each and
 * the array).  Returns false on a database failure.
 */
bool store_contacts_by_ids(PGconn *conn, int64_t account_id,
    const char *const *ids, size_t nids, int64_t now_ms,
    struct store_contact **out, size_t *count, struct err *err) MUST_CHECK;

/*
 * One page of a band, after contact_pk after (0 for the first page), at
 * most limit contacts, ordered by contact_pk.
 */
bool store_contacts_by_band(PGconn *conn, int64_t account_id, int band,
    int64_t after, int limit, int64_t now_ms, struct store_contact **out,
    size_t *count, struct err *err) MUST_CHECK;

/*
 * Creates or updates the contact crm_id (email and joined_at may be NULL to
 * leave them as they are).  An erasure tombstone for the id is lifted: the
 * CRM creating the contact again is an explicit decision.
 */
bool store_contact_put(PGconn *conn, int64_t account_id, const char *crm_id,
    const char *email, const int64_t *joined_at_ms, int64_t now_ms,
    struct err *err) MUST_CHECK;

/*
 * Erases the contact crm_id with its messages and events, and leaves a
 * hashed tombstone for its id and address.  Returns 1 erased (*contact_pk
 * set to the number it had), 0 not found, -1 database failure.
 */
int store_contact_erase(PGconn *conn, int64_t account_id, const char *crm_id,
    int64_t now_ms, int64_t *contact_pk, struct err *err);

#endif
