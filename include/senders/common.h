/*
 * common.h - helpers the mail-sender adapters share: outcome reporting,
 * credential checks, base64/HMAC/digests, form decoding, JSON field access
 * and the time formats the senders use.
 *
 * Only src/senders/ includes this header; the rest of the service sees the
 * adapters through senders/sender.h.
 */
#ifndef ENGAGEMENTD_SENDERS_COMMON_H
#define ENGAGEMENTD_SENDERS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "ingest/event.h"
#include "senders/sender.h"

/* The metadata key every sender carries the CRM contact id under. */
#define SENDER_CONTACT_KEY "crm_contact_id"

/* What a sender's event name (and its qualifier) means to the service. */
struct sender_kind {
	enum event_type type;
	enum bounce_kind bounce;
	unsigned flags; /* EVENT_FLAG_* implied by the name alone */
};

/* One row of an adapter's event-name table; a NULL name ends the table. */
struct sender_name_kind {
	const char *name;
	struct sender_kind kind;
};

/* Looks name up in table (exact match); false when it is not there. */
bool sender_lookup_kind(const struct sender_name_kind *table, const char *name,
    struct sender_kind *kind);

enum sender_digest { SENDER_SHA1, SENDER_SHA256 };

/* --- outcomes ---------------------------------------------------------- */

/* Records the single 401 every authentication failure answers with. */
enum sender_status sender_unauthorized(struct err *err);

/* Records a 400 "malformed_body" with a short reason. */
enum sender_status sender_malformed(struct err *err, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

/* Records that the account has not configured what the scheme needs. */
enum sender_status sender_not_configured(
    struct err *err, const char *sender, const char *what);

/*
 * Finishes an adapter call: on anything but SENDER_OK/SENDER_SUBSCRIPTION
 * it empties out so a failed request leaves nothing behind.  Returns st.
 */
enum sender_status sender_finish(
    struct sender_result *out, enum sender_status st);

/* --- credentials and crypto -------------------------------------------- */

/* True when s is neither NULL nor empty. */
bool sender_is_set(const char *s);

/* Constant-time comparison of two byte strings (length leaks, content not). */
bool sender_equal_ct(const void *a, size_t alen, const void *b, size_t blen);

/* The request header called name, or NULL. */
const char *sender_header(const struct sender_request *req, const char *name);

/*
 * Checks Authorization: Basic against username/password and, when
 * header_token names a header, that header against token; a Bearer token
 * is checked against token too.  Any configured mechanism that matches is
 * enough.  Returns SENDER_OK, SENDER_UNAUTHORIZED or SENDER_NOT_CONFIGURED
 * (nothing configured), filling err on failure.
 */
enum sender_status sender_check_http_auth(const struct sender_request *req,
    const struct sender_secrets *secrets, const char *sender,
    const char *header_token, struct err *err);

/*
 * Decodes standard base64 (white space skipped, padding optional).  Returns
 * a new buffer (caller frees) or NULL when the text is not base64.
 */
unsigned char *sender_base64_decode(
    const char *text, size_t len, size_t *out_len);

/* Encodes len bytes as padded base64.  Caller frees. */
char *sender_base64_encode(const unsigned char *data, size_t len);

/*
 * HMAC of data under key into mac (at least 64 bytes); *mac_len gets its
 * length.  Returns false only if libcrypto fails.
 */
bool sender_hmac(enum sender_digest digest, const void *key, size_t key_len,
    const void *data, size_t data_len, unsigned char *mac, size_t *mac_len);

/* Lower-case hex of len bytes into hex (2 * len + 1 bytes). */
void sender_hex(const unsigned char *data, size_t len, char *hex);

/*
 * A deterministic event id for senders without one: prefix followed by the
 * first 32 hex digits of SHA-256 over the fields joined with 0x1f (NULL
 * fields count as empty).  Caller frees.
 */
char *sender_composite_id(char prefix, const char *const *fields, size_t count);

/* --- application/x-www-form-urlencoded --------------------------------- */

struct sender_form_field {
	char *name;
	char *value; /* NUL-terminated; value_len counts embedded NULs too */
	size_t name_len;
	size_t value_len;
	size_t position; /* order in the body, keeps the sort stable */
};

struct sender_form {
	struct sender_form_field *fields;
	size_t count;
	size_t capacity;
};

/*
 * Splits a form body into decoded fields ('+' is a space, %XX a byte).
 * Returns false on a broken escape; form is then empty.  Free with
 * sender_form_clear.
 */
bool sender_form_parse(const char *body, size_t len, struct sender_form *form);

/* Sorts the fields by name, byte order, keeping equal names in order. */
void sender_form_sort(struct sender_form *form);

/* The first field called name, or NULL.  Borrowed from form. */
const struct sender_form_field *sender_form_get(
    const struct sender_form *form, const char *name);

void sender_form_clear(struct sender_form *form);

/* --- JSON -------------------------------------------------------------- */

/*
 * Parses the request body as JSON.  Returns SENDER_OK with a new reference
 * in *out, or SENDER_MALFORMED with err filled.
 */
enum sender_status sender_parse_json(
    const struct sender_request *req, json_t **out, struct err *err);

/* obj[key] when it is a non-empty string, else NULL.  Borrowed. */
const char *sender_json_str(const json_t *obj, const char *key);

/* Follows a path of object keys ("a", "b", NULL); NULL if any is missing. */
json_t *sender_json_path(const json_t *obj, ...);

/* A string, integer or integral real as text; NULL otherwise.  Caller frees. */
char *sender_json_text(const json_t *value);

/*
 * The CRM contact id held in text, which is JSON text of an object carrying
 * SENDER_CONTACT_KEY (Brevo's X-Mailin-custom, Mailjet's Payload).  NULL if
 * text is not such JSON.  Caller frees.
 */
char *sender_contact_from_json_text(const char *text);

/* --- times ------------------------------------------------------------- */

/* Unix seconds as an integer, a real or a numeric string, to ms. */
/* Parses one event (item is element index of the body) into out. */
typedef enum sender_status (*sender_event_fn)(const json_t *item, size_t index,
    struct sender_result *out, struct err *err);

/*
 * Calls parse for every element of root, a JSON array; with lone_object,
 * a single object is taken as a batch of one (senders that post either).
 * Stops at the first failure and returns it; anything else is malformed.
 */
enum sender_status sender_each_event(const json_t *root, bool lone_object,
    sender_event_fn parse, struct sender_result *out, struct err *err);

/*
 * The whole handler of a sender that authenticates with HTTP credentials
 * (sender_check_http_auth, no extra header) and posts a JSON array of
 * events, or with lone_object a single event too: authenticate on the raw
 * request, parse, then parse each event.
 */
enum sender_status sender_handle_json_events(const struct sender_request *req,
    const struct sender_secrets *secrets, const char *sender, bool lone_object,
    sender_event_fn parse, struct sender_result *out, struct err *err);

/*
 * True when text is a decimal Unix time in seconds within window_s of
 * now_ms (either side); any well-formed time when window_s is 0.  Bad text
 * or a value out of range is never fresh.
 */
bool sender_timestamp_fresh(const char *text, int64_t now_ms, int64_t window_s);

bool sender_time_seconds(const json_t *value, int64_t *ms);

/* Unix milliseconds as an integer or a numeric string. */
bool sender_time_millis(const json_t *value, int64_t *ms);

/* An ISO 8601 string. */
bool sender_time_iso(const json_t *value, int64_t *ms);

/* --- building events --------------------------------------------------- */

/* Appends an event of kind k to out's batch; its strings start NULL. */
struct event *sender_push(
    struct sender_result *out, const struct sender_kind *kind);

/* Copies email into ev->email, normalised; false when it is not an address. */
bool sender_set_email(struct event *ev, const char *email);

/* Flags implied by a user agent (Google's image proxy). */
unsigned sender_ua_flags(const char *user_agent);

/* Copies the optional open/click details, then adds sender_ua_flags. */
void sender_set_client(
    struct event *ev, const char *url, const char *user_agent, const char *ip);

#endif
