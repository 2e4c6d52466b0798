/*
 * check_senders.c - unit tests of the mail-sender adapters (src/senders/).
 *
 * Every fixture under tests/data/webhooks/<provider>/ is replayed with the
 * headers recorded in its headers.json, the clock pinned to
 * 2026-01-01T10:00:00Z, and the resulting status and events are compared
 * with what the fixtures' expected outcomes imply.  Requests the fixtures
 * do not cover (SNS handshakes, Mailgun bot clicks, stale signatures) are
 * built and signed here at run time with the test-only keys.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/xmalloc.h"
#include "senders/adapters.h"
#include "senders/common.h"
#include "senders/sender.h"

#define PIN_MS 1767261600000LL /* 2026-01-01T10:00:00Z */

#define MG_KEY "mg-test-signing-key-4f7d2c9a1b"
#define MD_KEY "test-mandrill-webhook-key-0001"
#define MD_URL "https://hooks.example.com/webhooks/mandrill"
#define SES_CERT_URL                                                           \
	"https://sns.us-east-1.amazonaws.com/"                                 \
	"SimpleNotificationService-0000test0000test0000test0000test.pem"
#define SES_TOPIC "arn:aws:sns:us-east-1:000000000000:ses-crm-events"

/* ---------------------------------------------------------------------- */
/* Fixture plumbing                                                        */
/* ---------------------------------------------------------------------- */

static const char *
data_dir(void)
{
	const char *d = getenv("ENGAGEMENTD_TEST_DATA");

	return d != NULL && d[0] != '\0' ? d : "tests/data";
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)size + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
	buf[size] = '\0';
	fclose(f);
	*len = (size_t)size;
	return buf;
}

static char *
fixture_path(const char *provider, const char *file)
{
	return xasprintf("%s/webhooks/%s/%s", data_dir(), provider, file);
}

static const char *
json_header(const void *ctx, const char *name)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)ctx, key, value)
	{
		if (strcasecmp(key, name) == 0)
			return json_string_value(value);
	}
	return NULL;
}

/* Runs one request through the named adapter. */
static enum sender_status
run_raw(const char *provider, const char *method, const char *body, size_t len,
    const json_t *headers, const struct sender_secrets *secrets,
    struct sender_result *out, struct err *err)
{
	const struct sender *s = sender_find(provider);
	struct sender_request req = {
		.method = method,
		.body = body,
		.body_len = len,
		.header = json_header,
		.header_ctx = headers,
		.now_ms = PIN_MS,
	};
	enum sender_status st;

	ck_assert_ptr_nonnull(s);
	memset(out, 0, sizeof(*out));
	err_clear(err);
	st = s->handle(&req, secrets, out, err);
	if (st != SENDER_OK && st != SENDER_SUBSCRIPTION) {
		ck_assert_uint_eq(out->batch.count, 0);
		ck_assert_int_ne(err->status, 0);
	}
	return st;
}

/* The idx-th request of <provider>/headers.json. */
static json_t *
request_entry(const char *provider, size_t idx, json_t **doc)
{
	char *path = fixture_path(provider, "headers.json");
	json_error_t jerr;

	*doc = json_load_file(path, 0, &jerr);
	ck_assert_msg(*doc != NULL, "%s: %s", path, jerr.text);
	free(path);
	return json_array_get(json_object_get(*doc, "requests"), idx);
}

/*
 * Replays the idx-th request of headers.json; headers overrides the
 * recorded headers when not NULL.
 */
static enum sender_status
replay_with(const char *provider, size_t idx, const json_t *headers,
    const struct sender_secrets *secrets, struct sender_result *out,
    struct err *err)
{
	json_t *doc;
	json_t *entry = request_entry(provider, idx, &doc);
	char *path, *body;
	size_t len;
	enum sender_status st;

	ck_assert_ptr_nonnull(entry);
	path = fixture_path(
	    provider, json_string_value(json_object_get(entry, "file")));
	body = read_file(path, &len);
	st = run_raw(provider, "POST", body, len,
	    headers != NULL ? headers : json_object_get(entry, "headers"),
	    secrets, out, err);
	free(body);
	free(path);
	json_decref(doc);
	return st;
}

static enum sender_status
replay(const char *provider, size_t idx, const struct sender_secrets *secrets,
    struct sender_result *out, struct err *err)
{
	return replay_with(provider, idx, NULL, secrets, out, err);
}

/* The recorded headers of request idx with one header replaced or removed. */
static json_t *
headers_edit(
    const char *provider, size_t idx, const char *name, const char *value)
{
	json_t *doc;
	json_t *h = json_deep_copy(
	    json_object_get(request_entry(provider, idx, &doc), "headers"));

	json_decref(doc);
	if (value == NULL)
		json_object_del(h, name);
	else
		json_object_set_new(h, name, json_string(value));
	return h;
}

struct want {
	enum event_type type;
	enum bounce_kind bounce;
	const char *contact;
	const char *email;
	long long ms;
	unsigned flags;
};

static void
expect_events(const struct sender_result *out, const struct want *w, size_t n)
{
	ck_assert_uint_eq(out->batch.count, n);
	for (size_t i = 0; i < n; i++) {
		const struct event *ev = &out->batch.items[i];

		ck_assert_int_eq(ev->type, w[i].type);
		ck_assert_int_eq(ev->bounce, w[i].bounce);
		ck_assert_str_eq(ev->contact_id, w[i].contact);
		ck_assert_str_eq(ev->email, w[i].email);
		ck_assert_int_eq(ev->occurred_at_ms, w[i].ms);
		ck_assert_uint_eq(ev->flags, w[i].flags);
		ck_assert_int_eq(ev->verdict, VERDICT_NONE);
		ck_assert_ptr_nonnull(ev->event_id);
		ck_assert_ptr_nonnull(ev->message_id);
	}
}

/* Replays request idx and returns the event_id of event ev_idx.  Frees. */
static char *
event_id_of(const char *provider, size_t idx, size_t ev_idx,
    const struct sender_secrets *secrets)
{
	struct sender_result out;
	struct err err;
	char *id;

	ck_assert_int_eq(replay(provider, idx, secrets, &out, &err), SENDER_OK);
	ck_assert_uint_gt(out.batch.count, ev_idx);
	id = xstrdup(out.batch.items[ev_idx].event_id);
	sender_result_clear(&out);
	return id;
}

#define EXPECT(out, ...)                                                       \
	do {                                                                   \
		const struct want w_[] = { __VA_ARGS__ };                      \
		expect_events((out), w_, sizeof(w_) / sizeof(w_[0]));          \
	} while (0)

#define D EVENT_DELIVERED
#define O EVENT_OPEN
#define C EVENT_CLICK
#define B EVENT_BOUNCE
#define U EVENT_UNSUBSCRIBE
#define X EVENT_COMPLAINT
#define NB BOUNCE_NONE
#define HB BOUNCE_HARD
#define ALICE "crm-1001", "alice@example.com"
#define BOB "crm-1002", "bob@example.org"
#define CAROL "crm-1003", "carol@example.net"
#define DAVE "crm-1004", "dave@example.com"

/* ---------------------------------------------------------------------- */
/* Registry and shared helpers                                             */
/* ---------------------------------------------------------------------- */

START_TEST(test_registry)
{
	static const char *const names[] = { "sendgrid", "mailgun", "postmark",
		"ses", "sparkpost", "mandrill", "brevo", "mailjet" };
	size_t n = 0;

	for (size_t i = 0; i < 8; i++) {
		ck_assert_ptr_nonnull(sender_find(names[i]));
		ck_assert_str_eq(sender_find(names[i])->name, names[i]);
	}
	while (sender_all[n] != NULL)
		n++;
	ck_assert_uint_eq(n, 8);
	ck_assert_ptr_null(sender_find("SendGrid"));
	ck_assert_ptr_null(sender_find("nosuch"));
	ck_assert_ptr_null(sender_find(NULL));
}
END_TEST

START_TEST(test_base64)
{
	size_t len;
	unsigned char *raw = sender_base64_decode("aGVsbG8=", 8, &len);
	char *text;

	ck_assert_ptr_nonnull(raw);
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(memcmp(raw, "hello", 5), 0);
	free(raw);
	text = sender_base64_encode((const unsigned char *)"hello", 5);
	ck_assert_str_eq(text, "aGVsbG8=");
	free(text);
	raw = sender_base64_decode("aGVs\nbG8", 8, &len);
	ck_assert_ptr_nonnull(raw);
	ck_assert_uint_eq(len, 5);
	free(raw);
	ck_assert_ptr_null(sender_base64_decode("a$b=", 4, &len));
	ck_assert_ptr_null(sender_base64_decode("a", 1, &len));
	ck_assert_ptr_null(sender_base64_decode("aG=V", 4, &len));
}
END_TEST

START_TEST(test_equal_and_ids)
{
	const char *f1[] = { "open", "m1", "a@b.c", "1" };
	const char *f2[] = { "open", "m1", "a@b.c", "2" };
	const char *f3[] = { "open", "m1", NULL, "" };
	char *a = sender_composite_id('p', f1, 4);
	char *b = sender_composite_id('p', f1, 4);
	char *c = sender_composite_id('p', f2, 4);
	char *d = sender_composite_id('p', f3, 4);

	ck_assert(sender_equal_ct("abc", 3, "abc", 3));
	ck_assert(!sender_equal_ct("abc", 3, "abd", 3));
	ck_assert(!sender_equal_ct("abc", 3, "abcd", 4));
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, c);
	ck_assert_uint_eq(strlen(a), 33);
	ck_assert_int_eq(a[0], 'p');
	ck_assert_uint_eq(strspn(a + 1, "0123456789abcdef"), 32);
	ck_assert_uint_eq(strlen(d), 33);
	free(a);
	free(b);
	free(c);
	free(d);
}
END_TEST

START_TEST(test_form)
{
	static const char body[] = "b=2&a=x%2By+z%26&empty=&flag";
	struct sender_form form;
	const struct sender_form_field *f;

	ck_assert(sender_form_parse(body, strlen(body), &form));
	ck_assert_uint_eq(form.count, 4);
	sender_form_sort(&form);
	ck_assert_str_eq(form.fields[0].name, "a");
	ck_assert_str_eq(form.fields[0].value, "x+y z&");
	ck_assert_str_eq(form.fields[1].name, "b");
	f = sender_form_get(&form, "flag");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->value, "");
	ck_assert_ptr_null(sender_form_get(&form, "nosuch"));
	sender_form_clear(&form);
	/* Equal names keep their order. */
	ck_assert(sender_form_parse("b=2&a=1&b=1&c&b=0", 17, &form));
	sender_form_sort(&form);
	ck_assert_uint_eq(form.count, 5);
	ck_assert_str_eq(form.fields[0].name, "a");
	ck_assert_str_eq(form.fields[1].value, "2");
	ck_assert_str_eq(form.fields[2].value, "1");
	ck_assert_str_eq(form.fields[3].value, "0");
	ck_assert_str_eq(form.fields[4].name, "c");
	sender_form_clear(&form);
	ck_assert(!sender_form_parse("a=%4", 4, &form));
	ck_assert(!sender_form_parse("a=%zz", 5, &form));
	ck_assert_uint_eq(form.count, 0);
}
END_TEST

START_TEST(test_times)
{
	json_t *v;
	int64_t ms;

	v = json_integer(1767258005);
	ck_assert(sender_time_seconds(v, &ms));
	ck_assert_int_eq(ms, 1767258005000LL);
	json_decref(v);
	v = json_real(1767258005.123456);
	ck_assert(sender_time_seconds(v, &ms));
	ck_assert_int_eq(ms, 1767258005123LL);
	json_decref(v);
	v = json_real(1767258007.130001);
	ck_assert(sender_time_seconds(v, &ms));
	ck_assert_int_eq(ms, 1767258007130LL);
	json_decref(v);
	v = json_string("1767258102");
	ck_assert(sender_time_seconds(v, &ms));
	ck_assert_int_eq(ms, 1767258102000LL);
	json_decref(v);
	v = json_string("17672581x2");
	ck_assert(!sender_time_seconds(v, &ms));
	json_decref(v);
	v = json_true();
	ck_assert(!sender_time_seconds(v, &ms));
	ck_assert(!sender_time_seconds(NULL, &ms));
	v = json_integer(1767258005123LL);
	ck_assert(sender_time_millis(v, &ms));
	ck_assert_int_eq(ms, 1767258005123LL);
	json_decref(v);
	v = json_string("2026-01-01T09:00:05.1234567Z");
	ck_assert(sender_time_iso(v, &ms));
	ck_assert_int_eq(ms, 1767258005123LL);
	json_decref(v);
	v = json_string("2026-01-01T11:00:05.120+02:00");
	ck_assert(sender_time_iso(v, &ms));
	ck_assert_int_eq(ms, 1767258005120LL);
	json_decref(v);
	v = json_integer(5);
	ck_assert(!sender_time_iso(v, &ms));
	json_decref(v);
}
END_TEST

START_TEST(test_contact_text)
{
	char *c = sender_contact_from_json_text("{\"crm_contact_id\":\"c-9\"}");

	ck_assert_str_eq(c, "c-9");
	free(c);
	ck_assert_ptr_null(sender_contact_from_json_text("crm-1001"));
	ck_assert_ptr_null(sender_contact_from_json_text("{\"x\":1}"));
	ck_assert_ptr_null(sender_contact_from_json_text(NULL));
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Mapping tables                                                          */
/* ---------------------------------------------------------------------- */

typedef bool (*classify_fn)(const char *, const char *, struct sender_kind *);

struct map_case {
	classify_fn fn;
	const char *name;
	const char *detail;
	bool kept;
	enum event_type type;
	enum bounce_kind bounce;
	unsigned flags;
};

static const struct map_case map_cases[] = {
	{ sendgrid_classify, "delivered", NULL, true, D, NB, 0 },
	{ sendgrid_classify, "open", NULL, true, O, NB, 0 },
	{ sendgrid_classify, "click", NULL, true, C, NB, 0 },
	{ sendgrid_classify, "bounce", "bounce", true, B, HB, 0 },
	{ sendgrid_classify, "bounce", "blocked", true, B, BOUNCE_SOFT, 0 },
	{ sendgrid_classify, "spamreport", NULL, true, X, NB, 0 },
	{ sendgrid_classify, "unsubscribe", NULL, true, U, NB, 0 },
	{ sendgrid_classify, "group_unsubscribe", NULL, true, U, NB, 0 },
	{ sendgrid_classify, "processed", NULL, false, 0, 0, 0 },
	{ sendgrid_classify, "deferred", NULL, false, 0, 0, 0 },
	{ sendgrid_classify, "group_resubscribe", NULL, false, 0, 0, 0 },
	{ mailgun_classify, "delivered", NULL, true, D, NB, 0 },
	{ mailgun_classify, "opened", NULL, true, O, NB, 0 },
	{ mailgun_classify, "clicked", NULL, true, C, NB, 0 },
	{ mailgun_classify, "failed", "permanent", true, B, HB, 0 },
	{ mailgun_classify, "failed", "temporary", true, B, BOUNCE_SOFT, 0 },
	{ mailgun_classify, "unsubscribed", NULL, true, U, NB, 0 },
	{ mailgun_classify, "complained", NULL, true, X, NB, 0 },
	{ mailgun_classify, "accepted", NULL, false, 0, 0, 0 },
	{ postmark_classify, "Delivery", NULL, true, D, NB, 0 },
	{ postmark_classify, "Open", NULL, true, O, NB, 0 },
	{ postmark_classify, "Click", NULL, true, C, NB, 0 },
	{ postmark_classify, "Bounce", "HardBounce", true, B, HB, 0 },
	{ postmark_classify, "Bounce", "SoftBounce", true, B, BOUNCE_SOFT, 0 },
	{ postmark_classify, "Bounce", "Transient", true, B, BOUNCE_SOFT, 0 },
	{ postmark_classify, "Bounce", "AutoResponder", false, 0, 0, 0 },
	{ postmark_classify, "SpamComplaint", NULL, true, X, NB, 0 },
	{ postmark_classify, "SubscriptionChange", "true", true, U, NB, 0 },
	{ postmark_classify, "SubscriptionChange", "false", false, 0, 0, 0 },
	{ ses_classify, "Delivery", NULL, true, D, NB, 0 },
	{ ses_classify, "Open", NULL, true, O, NB, 0 },
	{ ses_classify, "Click", NULL, true, C, NB, 0 },
	{ ses_classify, "Bounce", "Permanent", true, B, HB, 0 },
	{ ses_classify, "Bounce", "Transient", true, B, BOUNCE_SOFT, 0 },
	{ ses_classify, "Complaint", NULL, true, X, NB, 0 },
	{ ses_classify, "Subscription", "true", true, U, NB, 0 },
	{ ses_classify, "Subscription", "false", false, 0, 0, 0 },
	{ ses_classify, "Send", NULL, false, 0, 0, 0 },
	{ ses_classify, "DeliveryDelay", NULL, false, 0, 0, 0 },
	{ sparkpost_classify, "delivery", NULL, true, D, NB, 0 },
	{ sparkpost_classify, "open", NULL, true, O, NB, 0 },
	{ sparkpost_classify, "initial_open", NULL, true, O, NB,
	    EVENT_FLAG_FIRST_OPEN },
	{ sparkpost_classify, "click", NULL, true, C, NB, 0 },
	{ sparkpost_classify, "bounce", "10", true, B, HB, 0 },
	{ sparkpost_classify, "bounce", "90", true, B, HB, 0 },
	{ sparkpost_classify, "bounce", "21", true, B, BOUNCE_SOFT, 0 },
	{ sparkpost_classify, "spam_complaint", NULL, true, X, NB, 0 },
	{ sparkpost_classify, "list_unsubscribe", NULL, true, U, NB, 0 },
	{ sparkpost_classify, "link_unsubscribe", NULL, true, U, NB, 0 },
	{ sparkpost_classify, "delay", NULL, false, 0, 0, 0 },
	{ sparkpost_classify, "injection", NULL, false, 0, 0, 0 },
	{ mandrill_classify, "delivered", NULL, true, D, NB, 0 },
	{ mandrill_classify, "open", NULL, true, O, NB, 0 },
	{ mandrill_classify, "click", NULL, true, C, NB, 0 },
	{ mandrill_classify, "hard_bounce", NULL, true, B, HB, 0 },
	{ mandrill_classify, "soft_bounce", NULL, true, B, BOUNCE_SOFT, 0 },
	{ mandrill_classify, "unsub", NULL, true, U, NB, 0 },
	{ mandrill_classify, "spam", NULL, true, X, NB, 0 },
	{ mandrill_classify, "deferral", NULL, false, 0, 0, 0 },
	{ mandrill_classify, "send", NULL, false, 0, 0, 0 },
	{ brevo_classify, "delivered", NULL, true, D, NB, 0 },
	{ brevo_classify, "opened", NULL, true, O, NB, 0 },
	{ brevo_classify, "unique_opened", NULL, true, O, NB,
	    EVENT_FLAG_FIRST_OPEN },
	{ brevo_classify, "proxy_open", NULL, true, O, NB,
	    EVENT_FLAG_SENDER_MACHINE },
	{ brevo_classify, "unique_proxy_open", NULL, true, O, NB,
	    EVENT_FLAG_SENDER_MACHINE | EVENT_FLAG_FIRST_OPEN },
	{ brevo_classify, "click", NULL, true, C, NB, 0 },
	{ brevo_classify, "hard_bounce", NULL, true, B, HB, 0 },
	{ brevo_classify, "soft_bounce", NULL, true, B, BOUNCE_SOFT, 0 },
	{ brevo_classify, "unsubscribe", NULL, true, U, NB, 0 },
	{ brevo_classify, "spam", NULL, true, X, NB, 0 },
	{ brevo_classify, "deferred", NULL, false, 0, 0, 0 },
	{ brevo_classify, "request", NULL, false, 0, 0, 0 },
	{ mailjet_classify, "sent", NULL, true, D, NB, 0 },
	{ mailjet_classify, "open", NULL, true, O, NB, 0 },
	{ mailjet_classify, "click", NULL, true, C, NB, 0 },
	{ mailjet_classify, "bounce", "true", true, B, HB, 0 },
	{ mailjet_classify, "bounce", "false", true, B, BOUNCE_SOFT, 0 },
	{ mailjet_classify, "spam", NULL, true, X, NB, 0 },
	{ mailjet_classify, "unsub", NULL, true, U, NB, 0 },
	{ mailjet_classify, "blocked", NULL, false, 0, 0, 0 },
};

START_TEST(test_mapping)
{
	const struct map_case *c = &map_cases[_i];
	struct sender_kind k = { EVENT_TYPE_COUNT, BOUNCE_NONE, 0xff };
	bool kept = c->fn(c->name, c->detail, &k);

	ck_assert_msg(kept == c->kept, "case %d (%s)", _i, c->name);
	if (kept) {
		ck_assert_int_eq(k.type, c->type);
		ck_assert_int_eq(k.bounce, c->bounce);
		ck_assert_uint_eq(k.flags, c->flags);
	}
	ck_assert(!c->fn(NULL, NULL, &k));
	ck_assert(!c->fn("no-such-event", NULL, &k));
}
END_TEST

/* ---------------------------------------------------------------------- */
/* SendGrid                                                                */
/* ---------------------------------------------------------------------- */

static char *sg_key_b64;

static void
sg_setup(void)
{
	char *path = fixture_path("sendgrid", "keys/public_key.b64");
	size_t len;

	sg_key_b64 = read_file(path, &len);
	free(path);
}

static void
sg_teardown(void)
{
	free(sg_key_b64);
	sg_key_b64 = NULL;
}

static struct sender_secrets
sg_secrets(void)
{
	struct sender_secrets s = { .public_key = sg_key_b64 };

	return s;
}

START_TEST(test_sendgrid_fixtures)
{
	struct sender_secrets s = sg_secrets();
	struct sender_result out;
	struct err err;
	char *click1, *click2;

	ck_assert_int_eq(replay("sendgrid", 0, &s, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, ALICE, 1767258005000LL, 0 },
	    { D, NB, BOB, 1767258006000LL, 0 },
	    { B, HB, CAROL, 1767258008000LL, 0 },
	    { O, NB, ALICE, 1767258300000LL, EVENT_FLAG_GMAIL_PROXY },
	    { C, NB, ALICE, 1767258320000LL, 0 });
	ck_assert_str_eq(
	    out.batch.items[0].event_id, "c2dfZGVsaXZlcmVkX2FsaWNl");
	ck_assert_str_eq(out.batch.items[0].message_id,
	    "dGVzdG1zZ2FsaWNlMDAx.filterdrecv-test-1-6755A000-1.0");
	ck_assert_str_eq(out.batch.items[0].campaign_id, "newsletter-2026-01");
	ck_assert_str_eq(out.batch.items[4].url,
	    "https://www.example.com/offers/january?utm_source=newsletter");
	ck_assert_str_eq(out.batch.items[4].ip, "192.0.2.10");
	ck_assert_ptr_null(out.batch.items[0].ip); /* sending IP not kept */
	sender_result_clear(&out);

	ck_assert_int_eq(replay("sendgrid", 1, &s, &out, &err), SENDER_OK);
	EXPECT(&out, { C, NB, ALICE, 1767258320000LL, 0 },
	    { U, NB, BOB, 1767258900000LL, 0 });
	sender_result_clear(&out);
	click1 = event_id_of("sendgrid", 0, 4, &s);
	click2 = event_id_of("sendgrid", 1, 0, &s);
	ck_assert_str_eq(click1, click2);
	ck_assert_str_eq(click1, "c2dfY2xpY2tfYWxpY2VfMDAx");
	free(click1);
	free(click2);

	ck_assert_int_eq(replay("sendgrid", 2, &s, &out, &err), SENDER_OK);
	EXPECT(
	    &out, { O, NB, BOB, 1767258045000LL, EVENT_FLAG_SENDER_MACHINE });
	ck_assert_str_eq(out.batch.items[0].user_agent, "Mozilla/5.0");
	ck_assert_str_eq(out.batch.items[0].ip, "17.58.63.101");
	sender_result_clear(&out);

	ck_assert_int_eq(replay("sendgrid", 3, &s, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, DAVE, 1767258100000LL, 0 },
	    { C, NB, DAVE, 1767258102000LL, 0 });
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("sendgrid", 4, &s, &out, &err), SENDER_MALFORMED);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.code, "malformed_body");

	ck_assert_int_eq(
	    replay("sendgrid", 5, &s, &out, &err), SENDER_UNAUTHORIZED);
	ck_assert_int_eq(err.status, 401);
	ck_assert_str_eq(err.code, "unauthorized");
}
END_TEST

START_TEST(test_sendgrid_auth)
{
	struct sender_secrets s = sg_secrets();
	struct sender_result out;
	struct err err, err2;
	json_t *h;
	char *pem_path = fixture_path("sendgrid", "keys/ec_public_key.pem");
	size_t len;
	char *pem = read_file(pem_path, &len);

	/* The same key as PEM. */
	s.public_key = pem;
	ck_assert_int_eq(replay("sendgrid", 0, &s, &out, &err), SENDER_OK);
	ck_assert_uint_eq(out.batch.count, 5);
	sender_result_clear(&out);
	s = sg_secrets();

	/* Missing, garbage and mismatched signatures: one and the same 401. */
	h = headers_edit(
	    "sendgrid", 0, "X-Twilio-Email-Event-Webhook-Signature", NULL);
	ck_assert_int_eq(
	    replay_with("sendgrid", 0, h, &s, &out, &err), SENDER_UNAUTHORIZED);
	json_decref(h);
	h = headers_edit("sendgrid", 0,
	    "X-Twilio-Email-Event-Webhook-Signature", "!!not base64!!");
	ck_assert_int_eq(replay_with("sendgrid", 0, h, &s, &out, &err2),
	    SENDER_UNAUTHORIZED);
	ck_assert_str_eq(err.message, err2.message);
	json_decref(h);
	/* The timestamp is signed too. */
	h = headers_edit("sendgrid", 0,
	    "X-Twilio-Email-Event-Webhook-Timestamp", "1767258701");
	ck_assert_int_eq(
	    replay_with("sendgrid", 0, h, &s, &out, &err), SENDER_UNAUTHORIZED);
	json_decref(h);

	/* A signature older than the replay window. */
	s.replay_window_s = 600;
	ck_assert_int_eq(
	    replay("sendgrid", 0, &s, &out, &err), SENDER_UNAUTHORIZED);
	s.replay_window_s = 86400;
	ck_assert_int_eq(replay("sendgrid", 0, &s, &out, &err), SENDER_OK);
	sender_result_clear(&out);

	/* Nothing configured, or a key that is not one. */
	s.public_key = NULL;
	ck_assert_int_eq(
	    replay("sendgrid", 0, &s, &out, &err), SENDER_NOT_CONFIGURED);
	s.public_key = "";
	ck_assert_int_eq(
	    replay("sendgrid", 0, &s, &out, &err), SENDER_NOT_CONFIGURED);
	s.public_key = "bm90IGEga2V5";
	ck_assert_int_eq(
	    replay("sendgrid", 0, &s, &out, &err), SENDER_NOT_CONFIGURED);
	free(pem);
	free(pem_path);
}
END_TEST

START_TEST(test_sendgrid_tampered_body)
{
	struct sender_secrets s = sg_secrets();
	struct sender_result out;
	struct err err;
	json_t *doc;
	json_t *entry = request_entry("sendgrid", 0, &doc);
	char *path = fixture_path("sendgrid", "01-batch-mixed.json");
	size_t len;
	char *body = read_file(path, &len);
	char *p = strstr(body, "crm-1003");

	ck_assert_ptr_nonnull(p);
	p[7] = '4';
	ck_assert_int_eq(run_raw("sendgrid", "POST", body, len,
			     json_object_get(entry, "headers"), &s, &out, &err),
	    SENDER_UNAUTHORIZED);
	free(body);
	free(path);
	json_decref(doc);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Mailgun                                                                 */
/* ---------------------------------------------------------------------- */

static const struct sender_secrets mg_secrets = { .signing_key = MG_KEY };

START_TEST(test_mailgun_fixtures)
{
	struct sender_result out;
	struct err err;
	char *a, *b;

	ck_assert_int_eq(
	    replay("mailgun", 0, &mg_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, ALICE, 1767258005123LL, 0 });
	ck_assert_str_eq(
	    out.batch.items[0].event_id, "2026-01-01/mgEvDlvAlice000001aa");
	ck_assert_str_eq(out.batch.items[0].message_id,
	    "20260101090000.aa11bb22cc33dd44@mg.example.com");
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("mailgun", 1, &mg_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { C, NB, ALICE, 1767258007130LL, 0 });
	ck_assert_str_eq(out.batch.items[0].ip, "198.51.100.77");
	ck_assert_ptr_nonnull(out.batch.items[0].url);
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("mailgun", 2, &mg_secrets, &out, &err), SENDER_OK);
	EXPECT(
	    &out, { O, NB, BOB, 1767258045500LL, EVENT_FLAG_SENDER_MACHINE });
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("mailgun", 3, &mg_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { B, HB, CAROL, 1767258008750LL, 0 });
	ck_assert_str_eq(
	    out.batch.items[0].event_id, "2026-01-01/mgEvFailCarolHard0004");
	sender_result_clear(&out);
	a = event_id_of("mailgun", 3, 0, &mg_secrets);
	b = event_id_of("mailgun", 3, 0, &mg_secrets);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);

	ck_assert_int_eq(
	    replay("mailgun", 4, &mg_secrets, &out, &err), SENDER_MALFORMED);
	ck_assert_int_eq(err.status, 400);
	ck_assert_int_eq(
	    replay("mailgun", 5, &mg_secrets, &out, &err), SENDER_UNAUTHORIZED);
	ck_assert_int_eq(err.status, 401);
}
END_TEST

START_TEST(test_mailgun_window_and_config)
{
	struct sender_secrets s = mg_secrets;
	struct sender_result out;
	struct err err;

	/* Signed at 09:00:06, received at 10:00:00. */
	s.replay_window_s = 300;
	ck_assert_int_eq(
	    replay("mailgun", 0, &s, &out, &err), SENDER_UNAUTHORIZED);
	s.replay_window_s = 7200;
	ck_assert_int_eq(replay("mailgun", 0, &s, &out, &err), SENDER_OK);
	sender_result_clear(&out);
	s.signing_key = "not-the-mailgun-signing-key";
	ck_assert_int_eq(
	    replay("mailgun", 0, &s, &out, &err), SENDER_UNAUTHORIZED);
	s.signing_key = NULL;
	ck_assert_int_eq(
	    replay("mailgun", 0, &s, &out, &err), SENDER_NOT_CONFIGURED);
	/* Not configured wins over a body that would not parse. */
	ck_assert_int_eq(
	    replay("mailgun", 4, &s, &out, &err), SENDER_NOT_CONFIGURED);
}
END_TEST

/* A Mailgun body signed with the test key around the given event-data. */
static char *
mailgun_body(const char *event_data)
{
	static const char ts[] = "1767261590";
	static const char token[] =
	    "0123456789abcdef0123456789abcdef0123456789";
	char *signed_text = xasprintf("%s%s", ts, token);
	unsigned char mac[64];
	char hex[129];
	size_t mac_len;
	char *body;

	ck_assert(sender_hmac(SENDER_SHA256, MG_KEY, strlen(MG_KEY),
	    signed_text, strlen(signed_text), mac, &mac_len));
	sender_hex(mac, mac_len, hex);
	body =
	    xasprintf("{\"signature\":{\"timestamp\":\"%s\",\"token\":\"%s\","
		      "\"signature\":\"%s\"},\"event-data\":%s}",
		ts, token, hex, event_data);
	free(signed_text);
	return body;
}

static enum sender_status
mailgun_run(const char *event_data, struct sender_result *out, struct err *err)
{
	char *body = mailgun_body(event_data);
	json_t *h = json_pack("{ss}", "Content-Type", "application/json");
	struct sender_secrets s = mg_secrets;
	enum sender_status st;

	s.replay_window_s = 300;
	st = run_raw("mailgun", "POST", body, strlen(body), h, &s, out, err);
	json_decref(h);
	free(body);
	return st;
}

START_TEST(test_mailgun_bot_flags)
{
	struct sender_result out;
	struct err err;

	ck_assert_int_eq(mailgun_run("{\"id\":\"x1\",\"event\":\"clicked\","
				     "\"timestamp\":1767261580.25,"
				     "\"recipient\":\"Dave@Example.com\","
				     "\"user-variables\":{\"crm_contact_id\":"
				     "\"crm-1004\"},\"message\":{\"headers\":{"
				     "\"message-id\":\"m1\"}},"
				     "\"client-info\":{\"bot\":\"generic\"}}",
			     &out, &err),
	    SENDER_OK);
	EXPECT(&out, { C, NB, DAVE, 1767261580250LL, EVENT_FLAG_SENDER_BOT });
	sender_result_clear(&out);

	ck_assert_int_eq(mailgun_run("{\"id\":\"x2\",\"event\":\"opened\","
				     "\"timestamp\":1767261580,"
				     "\"recipient\":\"dave@example.com\","
				     "\"user-variables\":{\"crm_contact_id\":"
				     "\"crm-1004\"},\"message\":{\"headers\":{"
				     "\"message-id\":\"m1\"}},"
				     "\"client-info\":{\"bot\":\"gmail\"}}",
			     &out, &err),
	    SENDER_OK);
	EXPECT(&out, { O, NB, DAVE, 1767261580000LL, EVENT_FLAG_GMAIL_PROXY });
	sender_result_clear(&out);

	/* Unused types are acknowledged and counted, not kept. */
	ck_assert_int_eq(mailgun_run("{\"id\":\"x3\",\"event\":\"accepted\","
				     "\"timestamp\":1767261580}",
			     &out, &err),
	    SENDER_OK);
	ck_assert_uint_eq(out.batch.count, 0);
	ck_assert_uint_eq(out.batch.ignored, 1);
	sender_result_clear(&out);

	/* A kept type without a recipient is malformed. */
	ck_assert_int_eq(mailgun_run("{\"id\":\"x4\",\"event\":\"opened\","
				     "\"timestamp\":1767261580}",
			     &out, &err),
	    SENDER_MALFORMED);
	ck_assert_int_eq(mailgun_run("[]", &out, &err), SENDER_MALFORMED);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Postmark                                                                */
/* ---------------------------------------------------------------------- */

static const struct sender_secrets pm_secrets = {
	.username = "pm-hook",
	.password = "test-pm-password-0001",
	.token = "test-pm-header-token-0001",
};

START_TEST(test_postmark_fixtures)
{
	struct sender_result out;
	struct err err;
	json_t *h;
	char *a, *b;

	ck_assert_int_eq(
	    replay("postmark", 0, &pm_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, ALICE, 1767258005123LL, 0 });
	ck_assert_str_eq(out.batch.items[0].message_id,
	    "7f3e2a10-1b2c-4d3e-8f40-000000001001");
	ck_assert_int_eq(out.batch.items[0].event_id[0], 'p');
	ck_assert_uint_eq(strlen(out.batch.items[0].event_id), 33);
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("postmark", 1, &pm_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { C, NB, ALICE, 1767258007123LL, 0 });
	ck_assert_str_eq(out.batch.items[0].ip, "198.51.100.77");
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("postmark", 2, &pm_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { O, NB, BOB, 1767258045500LL, EVENT_FLAG_FIRST_OPEN });
	ck_assert_str_eq(out.batch.items[0].user_agent, "Mozilla/5.0");
	ck_assert_str_eq(out.batch.items[0].ip, "17.58.63.101");
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("postmark", 3, &pm_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { B, HB, CAROL, 1767258008750LL, 0 });
	ck_assert_str_eq(out.batch.items[0].event_id, "880011223344");
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("postmark", 4, &pm_secrets, &out, &err), SENDER_MALFORMED);
	ck_assert_int_eq(
	    replay("postmark", 5, &pm_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { U, NB, BOB, 1767258900000LL, 0 });
	sender_result_clear(&out);

	ck_assert_int_eq(replay("postmark", 6, &pm_secrets, &out, &err),
	    SENDER_UNAUTHORIZED);
	/* Bad credentials are refused before the body is looked at. */
	h = headers_edit("postmark", 6, "X", "y");
	ck_assert_int_eq(replay_with("postmark", 4, h, &pm_secrets, &out, &err),
	    SENDER_UNAUTHORIZED);
	json_decref(h);

	a = event_id_of("postmark", 0, 0, &pm_secrets);
	b = event_id_of("postmark", 0, 0, &pm_secrets);
	ck_assert_str_eq(a, b);
	free(b);
	b = event_id_of("postmark", 1, 0, &pm_secrets);
	ck_assert_str_ne(a, b);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_postmark_auth_modes)
{
	struct sender_secrets s = { .token = "test-pm-header-token-0001" };
	struct sender_result out;
	struct err err;
	json_t *h;

	/* Header token alone. */
	h = headers_edit("postmark", 0, "Authorization", NULL);
	ck_assert_int_eq(
	    replay_with("postmark", 0, h, &s, &out, &err), SENDER_OK);
	sender_result_clear(&out);
	json_decref(h);
	/* Bearer token. */
	h = headers_edit("postmark", 0, "X-Webhook-Token", NULL);
	json_object_set_new(h, "Authorization",
	    json_string("Bearer test-pm-header-token-0001"));
	ck_assert_int_eq(
	    replay_with("postmark", 0, h, &s, &out, &err), SENDER_OK);
	sender_result_clear(&out);
	json_decref(h);
	/* Basic only configured: the header token is not enough. */
	s.token = NULL;
	s.username = "pm-hook";
	s.password = "test-pm-password-0001";
	h = headers_edit("postmark", 0, "Authorization", NULL);
	ck_assert_int_eq(
	    replay_with("postmark", 0, h, &s, &out, &err), SENDER_UNAUTHORIZED);
	json_decref(h);
	/* Nothing configured. */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(
	    replay("postmark", 0, &s, &out, &err), SENDER_NOT_CONFIGURED);
	ck_assert_str_eq(err.code, "webhook_not_configured");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* SES via SNS                                                             */
/* ---------------------------------------------------------------------- */

static char *ses_dir;

static struct sender_secrets
ses_secrets(void)
{
	struct sender_secrets s = { .cert_dir = ses_dir,
		.topic_arn = SES_TOPIC };

	return s;
}

static void
ses_setup(void)
{
	ses_dir = xasprintf("%s/webhooks/ses/keys", data_dir());
}

static void
ses_teardown(void)
{
	free(ses_dir);
	ses_dir = NULL;
}

/* Signs an SNS envelope with the test private key and returns its text. */
static char *
sns_sign(json_t *env, const char *version)
{
	static const char *const note[] = { "Message", "MessageId", "Subject",
		"Timestamp", "TopicArn", "Type", NULL };
	static const char *const conf[] = { "Message", "MessageId",
		"SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
		NULL };
	const char *type = json_string_value(json_object_get(env, "Type"));
	const char *const *keys =
	    strcmp(type, "Notification") == 0 ? note : conf;
	char *path = xasprintf(
	    "%s/webhooks/ses/keys/sns_test_private_key.pem", data_dir());
	FILE *f = fopen(path, "r");
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *text = xstrdup(""), *next, *b64, *out;
	unsigned char sig[512];
	size_t sig_len = sizeof(sig);

	ck_assert_ptr_nonnull(f);
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(pkey);
	for (; *keys != NULL; keys++) {
		const char *v = json_string_value(json_object_get(env, *keys));

		if (v == NULL)
			continue;
		next = xasprintf("%s%s\n%s\n", text, *keys, v);
		free(text);
		text = next;
	}
	ck_assert_int_eq(
	    EVP_DigestSignInit(ctx, NULL,
		strcmp(version, "1") == 0 ? EVP_sha1() : EVP_sha256(), NULL,
		pkey),
	    1);
	ck_assert_int_eq(EVP_DigestSign(ctx, sig, &sig_len,
			     (const unsigned char *)text, strlen(text)),
	    1);
	b64 = sender_base64_encode(sig, sig_len);
	json_object_set_new(env, "SignatureVersion", json_string(version));
	json_object_set_new(env, "Signature", json_string(b64));
	out = json_dumps(env, JSON_COMPACT);
	free(b64);
	free(text);
	free(path);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return out;
}

static enum sender_status
ses_run(const char *body, const struct sender_secrets *s,
    struct sender_result *out, struct err *err)
{
	json_t *h = json_pack("{ss}", "Content-Type", "text/plain");
	enum sender_status st =
	    run_raw("ses", "POST", body, strlen(body), h, s, out, err);

	json_decref(h);
	return st;
}

START_TEST(test_ses_fixtures)
{
	struct sender_secrets s = ses_secrets();
	struct sender_result out;
	struct err err;
	char *a, *b;

	ck_assert_int_eq(replay("ses", 0, &s, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, ALICE, 1767258005120LL, 0 });
	ck_assert_str_eq(out.batch.items[0].event_id,
	    "6a1f0c2e-0000-4000-8000-000000000001");
	ck_assert_str_eq(out.batch.items[0].message_id,
	    "0100019b7a6e0000-aaaa1111-2222-4333-8444-a11ce0000001-000000");
	sender_result_clear(&out);

	ck_assert_int_eq(replay("ses", 1, &s, &out, &err), SENDER_OK);
	EXPECT(&out, { C, NB, ALICE, 1767258007120LL, 0 });
	ck_assert_str_eq(out.batch.items[0].url,
	    "https://www.example.com/offers/january?utm_source=newsletter");
	sender_result_clear(&out);

	ck_assert_int_eq(replay("ses", 2, &s, &out, &err), SENDER_OK);
	EXPECT(&out, { O, NB, BOB, 1767258045500LL, 0 });
	ck_assert_str_eq(out.batch.items[0].user_agent, "Mozilla/5.0");
	ck_assert_str_eq(out.batch.items[0].ip, "17.58.63.101");
	sender_result_clear(&out);

	ck_assert_int_eq(replay("ses", 3, &s, &out, &err), SENDER_OK);
	EXPECT(&out, { B, HB, CAROL, 1767258008750LL, 0 });
	sender_result_clear(&out);
	a = event_id_of("ses", 3, 0, &s);
	b = event_id_of("ses", 3, 0, &s);
	ck_assert_str_eq(a, b);
	ck_assert_str_eq(a, "6a1f0c2e-0000-4000-8000-000000000004");
	free(a);
	free(b);

	ck_assert_int_eq(replay("ses", 4, &s, &out, &err), SENDER_MALFORMED);
	ck_assert_int_eq(replay("ses", 5, &s, &out, &err), SENDER_UNAUTHORIZED);
}
END_TEST

START_TEST(test_ses_checks)
{
	struct sender_secrets s = ses_secrets();
	struct sender_result out;
	struct err err;
	char *path = fixture_path("ses", "01-delivery-alice.json");
	size_t len;
	char *body = read_file(path, &len);
	json_t *env = json_loads(body, 0, NULL);
	char *text;

	/* Another topic than the configured one. */
	s.topic_arn = "arn:aws:sns:us-east-1:000000000000:other";
	ck_assert_int_eq(ses_run(body, &s, &out, &err), SENDER_UNAUTHORIZED);
	s = ses_secrets();
	s.topic_arn = NULL;
	ck_assert_int_eq(ses_run(body, &s, &out, &err), SENDER_OK);
	sender_result_clear(&out);

	/* SigningCertURL is not signed: its host must be checked. */
	json_object_set_new(env, "SigningCertURL",
	    json_string("https://sns.us-east-1.example.com/cert.pem"));
	text = json_dumps(env, JSON_COMPACT);
	ck_assert_int_eq(ses_run(text, &s, &out, &err), SENDER_UNAUTHORIZED);
	free(text);
	json_object_set_new(env, "SigningCertURL",
	    json_string("http://sns.us-east-1.amazonaws.com/x.pem"));
	text = json_dumps(env, JSON_COMPACT);
	ck_assert_int_eq(ses_run(text, &s, &out, &err), SENDER_UNAUTHORIZED);
	free(text);

	/* No certificate folder configured; an empty folder. */
	s.cert_dir = NULL;
	ck_assert_int_eq(ses_run(body, &s, &out, &err), SENDER_NOT_CONFIGURED);
	s.cert_dir = "/nonexistent-engagementd-certs";
	ck_assert_int_eq(ses_run(body, &s, &out, &err), SENDER_UNAUTHORIZED);

	/* Not an SNS envelope. */
	s = ses_secrets();
	ck_assert_int_eq(
	    ses_run("{\"a\":1}", &s, &out, &err), SENDER_MALFORMED);
	ck_assert_int_eq(ses_run("[1]", &s, &out, &err), SENDER_MALFORMED);
	json_decref(env);
	free(body);
	free(path);
}
END_TEST

START_TEST(test_ses_named_cert)
{
	struct sender_secrets s = ses_secrets();
	struct sender_result out;
	struct err err;
	char dir[] = "/tmp/check_senders_XXXXXX";
	char *src = fixture_path("ses", "keys/sns_test_signing_cert.pem");
	char *named, *decoy;
	size_t len;
	char *pem = read_file(src, &len);
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	named = xasprintf("%s/%s", dir,
	    "SimpleNotificationService-0000test0000test0000test0000test.pem");
	decoy = xasprintf("%s/other.pem", dir);
	f = fopen(named, "w");
	fwrite(pem, 1, len, f);
	fclose(f);
	s.cert_dir = dir;
	ck_assert_int_eq(replay("ses", 0, &s, &out, &err), SENDER_OK);
	ck_assert_uint_eq(out.batch.count, 1);
	sender_result_clear(&out);
	/* The named certificate is the only one tried when it exists. */
	rename(named, decoy);
	f = fopen(named, "w");
	fputs("not a certificate\n", f);
	fclose(f);
	ck_assert_int_eq(replay("ses", 0, &s, &out, &err), SENDER_UNAUTHORIZED);
	unlink(named);
	/* Without it, every *.pem is tried. */
	ck_assert_int_eq(replay("ses", 0, &s, &out, &err), SENDER_OK);
	sender_result_clear(&out);
	unlink(decoy);
	rmdir(dir);
	free(named);
	free(decoy);
	free(pem);
	free(src);
}
END_TEST

static json_t *
sns_envelope(const char *type, const char *message)
{
	return json_pack("{ss ss ss ss ss ss}", "Type", type, "MessageId",
	    "6a1f0c2e-0000-4000-8000-0000000000aa", "TopicArn", SES_TOPIC,
	    "Message", message, "Timestamp", "2026-01-01T09:59:00.000Z",
	    "SigningCertURL", SES_CERT_URL);
}

START_TEST(test_ses_subscription)
{
	struct sender_secrets s = ses_secrets();
	struct sender_result out;
	struct err err;
	json_t *env = sns_envelope("SubscriptionConfirmation",
	    "You have chosen to subscribe to the topic.");
	char *body;

	json_object_set_new(env, "Token", json_string("2336412f37fb687f5d51"));
	json_object_set_new(env, "SubscribeURL",
	    json_string(
		"https://sns.us-east-1.amazonaws.com/"
		"?Action=ConfirmSubscription&Token=2336412f37fb687f5d51"));
	body = sns_sign(env, "2");
	ck_assert_int_eq(ses_run(body, &s, &out, &err), SENDER_SUBSCRIPTION);
	ck_assert_str_eq(out.subscribe_url,
	    "https://sns.us-east-1.amazonaws.com/"
	    "?Action=ConfirmSubscription&Token=2336412f37fb687f5d51");
	ck_assert_uint_eq(out.batch.count, 0);
	sender_result_clear(&out);
	ck_assert_ptr_null(out.subscribe_url);
	free(body);

	/* The token is part of the signed string. */
	body = sns_sign(env, "1");
	{
		json_t *tampered = json_loads(body, 0, NULL);
		char *text;

		json_object_set_new(tampered, "Token", json_string("other"));
		text = json_dumps(tampered, JSON_COMPACT);
		ck_assert_int_eq(
		    ses_run(text, &s, &out, &err), SENDER_UNAUTHORIZED);
		free(text);
		json_decref(tampered);
	}
	free(body);
	json_decref(env);
}
END_TEST

START_TEST(test_ses_plain_text_and_multi)
{
	struct sender_secrets s = ses_secrets();
	struct sender_result out;
	struct err err;
	json_t *env = sns_envelope("Notification",
	    "Successfully validated SNS topic for Amazon SES event publishing.");
	char *body = sns_sign(env, "2");

	ck_assert_int_eq(ses_run(body, &s, &out, &err), SENDER_OK);
	ck_assert_uint_eq(out.batch.count, 0);
	sender_result_clear(&out);
	free(body);
	json_decref(env);

	/* One bounce notification for two recipients: two events, two ids. */
	env = sns_envelope("Notification",
	    "{\"notificationType\":\"Bounce\",\"mail\":{\"messageId\":\"m-2\","
	    "\"timestamp\":\"2026-01-01T09:00:00.000Z\",\"destination\":["
	    "\"a@example.com\",\"b@example.com\"],\"tags\":{}},\"bounce\":{"
	    "\"bounceType\":\"Transient\",\"timestamp\":"
	    "\"2026-01-01T09:01:00.000Z\",\"bouncedRecipients\":[{"
	    "\"emailAddress\":\"A@example.com\"},{\"emailAddress\":"
	    "\"b@example.com\"}]}}");
	body = sns_sign(env, "2");
	ck_assert_int_eq(ses_run(body, &s, &out, &err), SENDER_OK);
	ck_assert_uint_eq(out.batch.count, 2);
	ck_assert_int_eq(out.batch.items[0].bounce, BOUNCE_SOFT);
	ck_assert_str_eq(out.batch.items[0].email, "a@example.com");
	ck_assert_str_eq(out.batch.items[1].email, "b@example.com");
	ck_assert_ptr_null(out.batch.items[0].contact_id);
	ck_assert_int_eq(out.batch.items[1].occurred_at_ms, 1767258060000LL);
	ck_assert_str_ne(
	    out.batch.items[0].event_id, out.batch.items[1].event_id);
	ck_assert_str_eq(out.batch.items[1].event_id,
	    "6a1f0c2e-0000-4000-8000-0000000000aa#2");
	sender_result_clear(&out);
	free(body);
	json_decref(env);

	/* A Message that starts like JSON but is not. */
	env = sns_envelope("Notification", "{\"eventType\":");
	body = sns_sign(env, "2");
	ck_assert_int_eq(ses_run(body, &s, &out, &err), SENDER_MALFORMED);
	free(body);
	json_decref(env);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* SparkPost                                                               */
/* ---------------------------------------------------------------------- */

static const struct sender_secrets sp_secrets = {
	.username = "sp-hook",
	.password = "test-sp-password-0001",
};

START_TEST(test_sparkpost_fixtures)
{
	struct sender_result out;
	struct err err;
	char *a, *b;

	ck_assert_int_eq(
	    replay("sparkpost", 0, &sp_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, ALICE, 1767258005000LL, 0 },
	    { D, NB, BOB, 1767258006000LL, 0 },
	    { B, HB, CAROL, 1767258008000LL, 0 },
	    { O, NB, ALICE, 1767258300000LL, EVENT_FLAG_FIRST_OPEN },
	    { O, NB, ALICE, 1767258300000LL, 0 },
	    { C, NB, ALICE, 1767258320000LL, 0 });
	ck_assert_str_eq(out.batch.items[0].event_id, "92356927693800001");
	ck_assert_str_eq(out.batch.items[0].message_id, "0e0d5a1b2c3d4e5f1001");
	ck_assert_str_eq(out.batch.items[0].campaign_id, "newsletter-2026-01");
	ck_assert_str_eq(out.batch.items[5].url,
	    "https://www.example.com/offers/january?utm_source=newsletter");
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("sparkpost", 1, &sp_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { C, NB, ALICE, 1767258320000LL, 0 },
	    { U, NB, BOB, 1767258900000LL, 0 });
	sender_result_clear(&out);
	a = event_id_of("sparkpost", 0, 5, &sp_secrets);
	b = event_id_of("sparkpost", 1, 0, &sp_secrets);
	ck_assert_str_eq(a, b);
	ck_assert_str_eq(a, "92356927693800006");
	free(a);
	free(b);

	ck_assert_int_eq(
	    replay("sparkpost", 2, &sp_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { O, NB, BOB, 1767258045000LL, 0 });
	ck_assert_str_eq(out.batch.items[0].ip, "17.58.63.101");
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("sparkpost", 3, &sp_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, DAVE, 1767258100000LL, 0 },
	    { C, NB, DAVE, 1767258102000LL, 0 });
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("sparkpost", 4, &sp_secrets, &out, &err), SENDER_MALFORMED);
	ck_assert_int_eq(
	    replay("sparkpost", 5, &sp_secrets, &out, &err), SENDER_OK);
	ck_assert_uint_eq(out.batch.count, 0);
	sender_result_clear(&out);
	ck_assert_int_eq(replay("sparkpost", 6, &sp_secrets, &out, &err),
	    SENDER_UNAUTHORIZED);
}
END_TEST

START_TEST(test_sparkpost_shapes)
{
	struct sender_result out;
	struct err err;
	struct sender_secrets none = { 0 };
	json_t *h = headers_edit("sparkpost", 0, "X", NULL);
	static const char delay[] =
	    "[{\"msys\":{\"message_event\":{\"type\":\"delay\"}}}]";

	ck_assert_int_eq(
	    run_raw("sparkpost", "POST", "{}", 2, h, &sp_secrets, &out, &err),
	    SENDER_MALFORMED);
	ck_assert_int_eq(
	    run_raw("sparkpost", "POST", "[1]", 3, h, &sp_secrets, &out, &err),
	    SENDER_MALFORMED);
	ck_assert_int_eq(run_raw("sparkpost", "POST", delay, strlen(delay), h,
			     &sp_secrets, &out, &err),
	    SENDER_OK);
	ck_assert_uint_eq(out.batch.ignored, 1);
	sender_result_clear(&out);
	ck_assert_int_eq(
	    run_raw("sparkpost", "POST", "[]", 2, h, &none, &out, &err),
	    SENDER_NOT_CONFIGURED);
	ck_assert_int_eq(
	    run_raw("sparkpost", "POST", NULL, 0, h, &sp_secrets, &out, &err),
	    SENDER_MALFORMED);
	json_decref(h);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Mandrill                                                                */
/* ---------------------------------------------------------------------- */

static const struct sender_secrets md_secrets = {
	.signing_key = MD_KEY,
	.signed_url = MD_URL,
};

START_TEST(test_mandrill_fixtures)
{
	struct sender_result out;
	struct err err;
	char *a, *b;

	ck_assert_int_eq(
	    replay("mandrill", 0, &md_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, ALICE, 1767258005000LL, 0 },
	    { D, NB, BOB, 1767258006000LL, 0 },
	    { B, HB, CAROL, 1767258008000LL, 0 },
	    { O, NB, ALICE, 1767258300000LL, EVENT_FLAG_GMAIL_PROXY },
	    { C, NB, ALICE, 1767258320000LL, 0 });
	ck_assert_str_eq(
	    out.batch.items[0].message_id, "a1ce0000000000000000000000001001");
	ck_assert_int_eq(out.batch.items[0].event_id[0], 'm');
	ck_assert_str_ne(
	    out.batch.items[3].event_id, out.batch.items[4].event_id);
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("mandrill", 1, &md_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { C, NB, ALICE, 1767258320000LL, 0 },
	    { U, NB, BOB, 1767258900000LL, 0 });
	sender_result_clear(&out);
	a = event_id_of("mandrill", 0, 4, &md_secrets);
	b = event_id_of("mandrill", 1, 0, &md_secrets);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);

	ck_assert_int_eq(
	    replay("mandrill", 2, &md_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { O, NB, BOB, 1767258045000LL, 0 });
	sender_result_clear(&out);
	ck_assert_int_eq(
	    replay("mandrill", 3, &md_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, DAVE, 1767258100000LL, 0 },
	    { C, NB, DAVE, 1767258102000LL, 0 });
	sender_result_clear(&out);
	ck_assert_int_eq(
	    replay("mandrill", 4, &md_secrets, &out, &err), SENDER_MALFORMED);
	ck_assert_int_eq(replay("mandrill", 5, &md_secrets, &out, &err),
	    SENDER_UNAUTHORIZED);
}
END_TEST

START_TEST(test_mandrill_auth)
{
	struct sender_secrets s = md_secrets;
	struct sender_result out;
	struct err err;
	json_t *h = headers_edit("mandrill", 0, "X-Mandrill-Signature", NULL);

	ck_assert_int_eq(
	    replay_with("mandrill", 0, h, &s, &out, &err), SENDER_UNAUTHORIZED);
	/* The URL is signed: another one fails. */
	s.signed_url = "https://hooks.example.com/webhooks/mandrill/";
	ck_assert_int_eq(
	    replay("mandrill", 0, &s, &out, &err), SENDER_UNAUTHORIZED);
	s.signed_url = NULL;
	ck_assert_int_eq(
	    replay("mandrill", 0, &s, &out, &err), SENDER_NOT_CONFIGURED);
	s = md_secrets;
	s.signing_key = "";
	ck_assert_int_eq(
	    replay("mandrill", 0, &s, &out, &err), SENDER_NOT_CONFIGURED);
	/* The URL check: HEAD, no body, no signature, maybe no key yet. */
	ck_assert_int_eq(
	    run_raw("mandrill", "HEAD", NULL, 0, h, &s, &out, &err), SENDER_OK);
	ck_assert_uint_eq(out.batch.count, 0);
	sender_result_clear(&out);
	ck_assert_int_eq(
	    run_raw("mandrill", "POST", "a=%G1", 5, h, &md_secrets, &out, &err),
	    SENDER_MALFORMED);
	json_decref(h);
}
END_TEST

START_TEST(test_mandrill_sorted_fields)
{
	/* Fields are signed sorted by name, values decoded. */
	static const char body[] = "zeta=last&mandrill_events=%5B%5D&alpha=a+b";
	static const char signed_text[] =
	    MD_URL "alphaa bmandrill_events[]zetalast";
	unsigned char mac[64];
	size_t mac_len;
	char *sig;
	json_t *h;
	struct sender_result out;
	struct err err;

	ck_assert(sender_hmac(SENDER_SHA1, MD_KEY, strlen(MD_KEY), signed_text,
	    strlen(signed_text), mac, &mac_len));
	sig = sender_base64_encode(mac, mac_len);
	h = json_pack("{ss}", "X-Mandrill-Signature", sig);
	ck_assert_int_eq(run_raw("mandrill", "POST", body, strlen(body), h,
			     &md_secrets, &out, &err),
	    SENDER_OK);
	ck_assert_uint_eq(out.batch.count, 0);
	sender_result_clear(&out);
	/* The same fields in another order sign the same way. */
	ck_assert_int_eq(run_raw("mandrill", "POST",
			     "alpha=a%20b&zeta=last&mandrill_events=[]", 40, h,
			     &md_secrets, &out, &err),
	    SENDER_OK);
	sender_result_clear(&out);
	/* A changed value does not. */
	ck_assert_int_eq(run_raw("mandrill", "POST",
			     "alpha=a+c&zeta=last&mandrill_events=[]", 38, h,
			     &md_secrets, &out, &err),
	    SENDER_UNAUTHORIZED);
	json_decref(h);
	free(sig);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Brevo                                                                   */
/* ---------------------------------------------------------------------- */

static const struct sender_secrets bv_secrets = {
	.username = "brevo-hook",
	.password = "test-brevo-password-0001",
	.token = "test-brevo-bearer-token-0001",
};

START_TEST(test_brevo_fixtures)
{
	struct sender_result out;
	struct err err;
	char *a, *b;

	ck_assert_int_eq(
	    replay("brevo", 0, &bv_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, ALICE, 1767258005123LL, 0 });
	ck_assert_str_eq(out.batch.items[0].message_id,
	    "<202601010900.1001aa@relay.example.net>");
	ck_assert_str_eq(out.batch.items[0].campaign_id, "newsletter-2026-01");
	sender_result_clear(&out);
	ck_assert_int_eq(
	    replay("brevo", 1, &bv_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { C, NB, ALICE, 1767258007123LL, 0 });
	ck_assert_str_eq(out.batch.items[0].url,
	    "https://www.example.com/offers/january?utm_source=newsletter");
	sender_result_clear(&out);
	ck_assert_int_eq(
	    replay("brevo", 2, &bv_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { O, NB, BOB, 1767258045123LL,
			 EVENT_FLAG_SENDER_MACHINE | EVENT_FLAG_FIRST_OPEN });
	sender_result_clear(&out);
	ck_assert_int_eq(
	    replay("brevo", 3, &bv_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { B, HB, CAROL, 1767258008123LL, 0 });
	sender_result_clear(&out);
	ck_assert_int_eq(
	    replay("brevo", 4, &bv_secrets, &out, &err), SENDER_MALFORMED);
	ck_assert_int_eq(
	    replay("brevo", 5, &bv_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { O, NB, ALICE, 1767258300123LL, EVENT_FLAG_FIRST_OPEN });
	sender_result_clear(&out);

	/* Bearer token: accepted, and the same event id as with basic. */
	a = event_id_of("brevo", 0, 0, &bv_secrets);
	b = event_id_of("brevo", 6, 0, &bv_secrets);
	ck_assert_str_eq(a, b);
	ck_assert_int_eq(a[0], 'b');
	free(a);
	free(b);
	ck_assert_int_eq(
	    replay("brevo", 7, &bv_secrets, &out, &err), SENDER_UNAUTHORIZED);
}
END_TEST

START_TEST(test_brevo_auth_modes)
{
	struct sender_secrets s = bv_secrets;
	struct sender_result out;
	struct err err;

	/* Token only: the basic-auth request is refused, bearer accepted. */
	s.username = s.password = NULL;
	ck_assert_int_eq(
	    replay("brevo", 0, &s, &out, &err), SENDER_UNAUTHORIZED);
	ck_assert_int_eq(replay("brevo", 6, &s, &out, &err), SENDER_OK);
	sender_result_clear(&out);
	/* Basic only: the bearer request is refused. */
	s = bv_secrets;
	s.token = NULL;
	ck_assert_int_eq(
	    replay("brevo", 6, &s, &out, &err), SENDER_UNAUTHORIZED);
	/* A username without a password configures nothing. */
	s.password = NULL;
	ck_assert_int_eq(
	    replay("brevo", 0, &s, &out, &err), SENDER_NOT_CONFIGURED);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Mailjet                                                                 */
/* ---------------------------------------------------------------------- */

static const struct sender_secrets mj_secrets = {
	.username = "mj-hook",
	.password = "test-mj-password-0001",
};

START_TEST(test_mailjet_fixtures)
{
	struct sender_result out;
	struct err err;
	char *a, *b;

	ck_assert_int_eq(
	    replay("mailjet", 0, &mj_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, ALICE, 1767258005000LL, 0 },
	    { D, NB, BOB, 1767258006000LL, 0 },
	    { B, HB, CAROL, 1767258008000LL, 0 },
	    { O, NB, ALICE, 1767258300000LL, EVENT_FLAG_GMAIL_PROXY },
	    { C, NB, ALICE, 1767258320000LL, 0 });
	ck_assert_str_eq(out.batch.items[0].message_id, "288230376151711001");
	ck_assert_str_eq(out.batch.items[0].campaign_id, "newsletter-2026-01");
	ck_assert_int_eq(out.batch.items[0].event_id[0], 'j');
	sender_result_clear(&out);

	ck_assert_int_eq(
	    replay("mailjet", 1, &mj_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { C, NB, ALICE, 1767258320000LL, 0 },
	    { U, NB, BOB, 1767258900000LL, 0 });
	sender_result_clear(&out);
	a = event_id_of("mailjet", 0, 4, &mj_secrets);
	b = event_id_of("mailjet", 1, 0, &mj_secrets);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);

	ck_assert_int_eq(
	    replay("mailjet", 2, &mj_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { O, NB, BOB, 1767258045000LL, 0 });
	ck_assert_str_eq(out.batch.items[0].user_agent, "Mozilla/5.0");
	sender_result_clear(&out);
	ck_assert_int_eq(
	    replay("mailjet", 3, &mj_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { D, NB, DAVE, 1767258100000LL, 0 },
	    { C, NB, DAVE, 1767258102000LL, 0 });
	sender_result_clear(&out);
	ck_assert_int_eq(
	    replay("mailjet", 4, &mj_secrets, &out, &err), SENDER_MALFORMED);
	ck_assert_int_eq(
	    replay("mailjet", 5, &mj_secrets, &out, &err), SENDER_OK);
	EXPECT(&out, { X, NB, ALICE, 1767261600000LL, 0 });
	sender_result_clear(&out);
	ck_assert_int_eq(
	    replay("mailjet", 6, &mj_secrets, &out, &err), SENDER_UNAUTHORIZED);
	ck_assert_int_eq(err.status, 401);
}
END_TEST

START_TEST(test_mailjet_shapes)
{
	struct sender_result out;
	struct err err;
	struct sender_secrets none = { 0 };
	json_t *h = headers_edit("mailjet", 0, "X", NULL);
	static const char soft[] =
	    "{\"event\":\"bounce\",\"time\":1767258008,\"MessageID\":\"7\","
	    "\"email\":\"x@example.com\",\"hard_bounce\":false}";

	ck_assert_int_eq(run_raw("mailjet", "POST", soft, strlen(soft), h,
			     &mj_secrets, &out, &err),
	    SENDER_OK);
	ck_assert_uint_eq(out.batch.count, 1);
	ck_assert_int_eq(out.batch.items[0].bounce, BOUNCE_SOFT);
	ck_assert_ptr_null(out.batch.items[0].contact_id);
	sender_result_clear(&out);
	ck_assert_int_eq(
	    run_raw("mailjet", "POST", "\"x\"", 3, h, &mj_secrets, &out, &err),
	    SENDER_MALFORMED);
	ck_assert_int_eq(run_raw("mailjet", "POST", "[{\"time\":1}]", 12, h,
			     &mj_secrets, &out, &err),
	    SENDER_MALFORMED);
	ck_assert_int_eq(
	    run_raw("mailjet", "POST", "[]", 2, h, &none, &out, &err),
	    SENDER_NOT_CONFIGURED);
	json_decref(h);
}
END_TEST

/* ---------------------------------------------------------------------- */

static Suite *
senders_suite(void)
{
	Suite *s = suite_create("senders");
	TCase *tc;

	tc = tcase_create("common");
	tcase_add_test(tc, test_registry);
	tcase_add_test(tc, test_base64);
	tcase_add_test(tc, test_equal_and_ids);
	tcase_add_test(tc, test_form);
	tcase_add_test(tc, test_times);
	tcase_add_test(tc, test_contact_text);
	tcase_add_loop_test(tc, test_mapping, 0,
	    (int)(sizeof(map_cases) / sizeof(map_cases[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("sendgrid");
	tcase_add_checked_fixture(tc, sg_setup, sg_teardown);
	tcase_add_test(tc, test_sendgrid_fixtures);
	tcase_add_test(tc, test_sendgrid_auth);
	tcase_add_test(tc, test_sendgrid_tampered_body);
	suite_add_tcase(s, tc);

	tc = tcase_create("mailgun");
	tcase_add_test(tc, test_mailgun_fixtures);
	tcase_add_test(tc, test_mailgun_window_and_config);
	tcase_add_test(tc, test_mailgun_bot_flags);
	suite_add_tcase(s, tc);

	tc = tcase_create("postmark");
	tcase_add_test(tc, test_postmark_fixtures);
	tcase_add_test(tc, test_postmark_auth_modes);
	suite_add_tcase(s, tc);

	tc = tcase_create("ses");
	tcase_add_checked_fixture(tc, ses_setup, ses_teardown);
	tcase_add_test(tc, test_ses_fixtures);
	tcase_add_test(tc, test_ses_checks);
	tcase_add_test(tc, test_ses_named_cert);
	tcase_add_test(tc, test_ses_subscription);
	tcase_add_test(tc, test_ses_plain_text_and_multi);
	suite_add_tcase(s, tc);

	tc = tcase_create("sparkpost");
	tcase_add_test(tc, test_sparkpost_fixtures);
	tcase_add_test(tc, test_sparkpost_shapes);
	suite_add_tcase(s, tc);

	tc = tcase_create("mandrill");
	tcase_add_test(tc, test_mandrill_fixtures);
	tcase_add_test(tc, test_mandrill_auth);
	tcase_add_test(tc, test_mandrill_sorted_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("brevo");
	tcase_add_test(tc, test_brevo_fixtures);
	tcase_add_test(tc, test_brevo_auth_modes);
	suite_add_tcase(s, tc);

	tc = tcase_create("mailjet");
	tcase_add_test(tc, test_mailjet_fixtures);
	tcase_add_test(tc, test_mailjet_shapes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(senders_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
