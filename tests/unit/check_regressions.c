/*
 * check_regressions.c - one test per defect the fuzz harnesses found
 * (docs/fuzzing.md), each asserting the behaviour the contract asks for.
 *
 * The inputs that first showed them are kept under tests/fuzz/crashes/;
 * the tests here rebuild the smallest request that shows the same defect
 * so that they read on their own.  Overflow defects only abort under the
 * sanitizer build (make asan); where a wrapped value can be chosen, the
 * test also picks one that misleads the release build.
 */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/xmalloc.h"
#include "http/route.h"
#include "senders/common.h"
#include "senders/sender.h"

#define PIN_MS 1767261600000LL /* 2026-01-01T10:00:00Z */
#define MG_KEY "mg-test-signing-key-4f7d2c9a1b"

/*
 * Seconds whose product with 1000 wraps around int64_t to exactly PIN_MS:
 * (PIN_MS + 125 * 2^64) / 1000.  A replay check that multiplies without
 * looking sees a signature made "now"; the time is 73 billion years away.
 */
#define WRAPS_TO_NOW "2305843010980955552"
#define HUGE_SECONDS "99999999999999999999"

/* ---------------------------------------------------------------------- */
/* Request plumbing                                                        */
/* ---------------------------------------------------------------------- */

struct header_pair {
	const char *name;
	const char *value;
};

/* Headers of one test request, NULL-name terminated. */
static const char *
pair_lookup(const void *ctx, const char *name)
{
	for (const struct header_pair *h = ctx; h->name != NULL; h++)
		if (strcasecmp(h->name, name) == 0)
			return h->value;
	return NULL;
}

static enum sender_status
run(const char *sender, const char *body, const struct header_pair *headers,
    const struct sender_secrets *secrets, struct sender_result *out,
    struct err *err)
{
	struct sender_request req = {
		.method = "POST",
		.body = body,
		.body_len = strlen(body),
		.header = pair_lookup,
		.header_ctx = headers,
		.now_ms = PIN_MS,
	};
	const struct sender *s = sender_find(sender);

	ck_assert_ptr_nonnull(s);
	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	return s->handle(&req, secrets, out, err);
}

/* ---------------------------------------------------------------------- */
/* http_method_listed: empty method                                        */
/* ---------------------------------------------------------------------- */

/*
 * tests/fuzz/crashes/route-method-listed-empty-method: a method list that
 * starts with a space holds an empty "word" which matched an empty method.
 * Wrong in src/http/route.c, http_method_listed.
 */
START_TEST(test_method_listed_empty_method)
{
	ck_assert(!http_method_listed(" GET", ""));
	ck_assert(!http_method_listed("  ", ""));
	ck_assert(!http_method_listed(" \x9f]21B", ""));
	/* The lists themselves still work. */
	ck_assert(http_method_listed(" GET", "GET"));
	ck_assert(!http_method_listed("GET", ""));
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Mailgun: replay window overflow                                         */
/* ---------------------------------------------------------------------- */

/* A Mailgun body with signature.timestamp ts, signed with MG_KEY. */
static char *
mailgun_body(const char *ts, bool sign)
{
	const char *token =
	    "f3a1c9d2e8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8";
	unsigned char mac[64];
	char hex[129] = "00";
	size_t mac_len;
	char *text = xasprintf("%s%s", ts, token);
	json_t *root;
	char *body;

	if (sign) {
		ck_assert(sender_hmac(SENDER_SHA256, MG_KEY, strlen(MG_KEY),
		    text, strlen(text), mac, &mac_len));
		sender_hex(mac, mac_len, hex);
	}
	root = json_pack("{s{ssssss}s{sssfssss}}", "signature", "token", token,
	    "timestamp", ts, "signature", hex, "event-data", "id",
	    "mgEvRegression01", "timestamp", 1767261590.0, "event", "delivered",
	    "recipient", "alice@example.com");
	ck_assert_ptr_nonnull(root);
	body = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	free(text);
	return body;
}

/*
 * tests/fuzz/crashes/senders-mailgun-timestamp-overflow: the replay check
 * multiplies the signature's seconds by 1000 in int64_t, which overflows
 * for a huge timestamp (undefined behaviour, an abort under UBSan) before
 * the HMAC is even checked.  Wrong in src/senders/mailgun.c,
 * signature_fresh.  The contract: a timestamp outside the replay window
 * is a 401, however far outside.
 */
START_TEST(test_mailgun_timestamp_overflow)
{
	const struct header_pair headers[] = {
		{ "Content-Type", "application/json" }, { NULL, NULL }
	};
	struct sender_secrets secrets = { .signing_key = MG_KEY,
		.replay_window_s = 300 };
	struct sender_result out;
	struct err err;
	const char *stamps[] = { HUGE_SECONDS, "-" HUGE_SECONDS, WRAPS_TO_NOW,
		"9223372036854775807" };

	for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
		/* unsigned: rejected before any key is used */
		char *body = mailgun_body(stamps[i], false);

		ck_assert_int_eq(
		    run("mailgun", body, headers, &secrets, &out, &err),
		    SENDER_UNAUTHORIZED);
		ck_assert_int_eq(err.status, 401);
		ck_assert_uint_eq(out.batch.count, 0);
		sender_result_clear(&out);
		free(body);

		/* correctly signed, yet far outside the window */
		body = mailgun_body(stamps[i], true);
		ck_assert_msg(run("mailgun", body, headers, &secrets, &out,
				  &err) == SENDER_UNAUTHORIZED,
		    "timestamp %s passed a 300 s replay window", stamps[i]);
		ck_assert_uint_eq(out.batch.count, 0);
		sender_result_clear(&out);
		free(body);
	}
}
END_TEST

/* ---------------------------------------------------------------------- */
/* SendGrid: replay window overflow                                        */
/* ---------------------------------------------------------------------- */

static EVP_PKEY *sg_key;
static char *sg_public_pem;

static void
sendgrid_key_setup(void)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long len;

	sg_key = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(sg_key);
	ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, sg_key), 1);
	len = BIO_get_mem_data(bio, &pem);
	sg_public_pem = xstrndup(pem, (size_t)len);
	BIO_free(bio);
}

static void
sendgrid_key_teardown(void)
{
	EVP_PKEY_free(sg_key);
	free(sg_public_pem);
	sg_key = NULL;
	sg_public_pem = NULL;
}

/* base64 ECDSA signature of ts followed by body.  Caller frees. */
static char *
sendgrid_sign(const char *ts, const char *body)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[128];
	size_t sig_len = sizeof(sig);

	ck_assert_int_eq(
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, sg_key), 1);
	ck_assert_int_eq(EVP_DigestSignUpdate(ctx, ts, strlen(ts)), 1);
	ck_assert_int_eq(EVP_DigestSignUpdate(ctx, body, strlen(body)), 1);
	ck_assert_int_eq(EVP_DigestSignFinal(ctx, sig, &sig_len), 1);
	EVP_MD_CTX_free(ctx);
	return sender_base64_encode(sig, sig_len);
}

/*
 * tests/fuzz/crashes/senders-sendgrid-timestamp-overflow: the same
 * overflow in the timestamp header's replay check, also reached before the
 * signature is verified.  Wrong in src/senders/sendgrid.c,
 * timestamp_fresh.
 */
START_TEST(test_sendgrid_timestamp_overflow)
{
	const char *body = "[{\"event\":\"delivered\",\"email\":"
			   "\"alice@example.com\",\"timestamp\":1767261590,"
			   "\"sg_event_id\":\"sg-regression-1\"}]";
	struct sender_secrets secrets = { .public_key = sg_public_pem,
		.replay_window_s = 600 };
	const char *stamps[] = { HUGE_SECONDS, "-" HUGE_SECONDS, WRAPS_TO_NOW };
	struct sender_result out;
	struct err err;

	for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
		char *sig = sendgrid_sign(stamps[i], body);
		struct header_pair bogus[] = {
			{ "X-Twilio-Email-Event-Webhook-Timestamp", stamps[i] },
			{ "X-Twilio-Email-Event-Webhook-Signature",
			    "MEUCIQ==" },
			{ NULL, NULL }
		};
		struct header_pair good[] = {
			{ "X-Twilio-Email-Event-Webhook-Timestamp", stamps[i] },
			{ "X-Twilio-Email-Event-Webhook-Signature", sig },
			{ NULL, NULL }
		};

		ck_assert_int_eq(
		    run("sendgrid", body, bogus, &secrets, &out, &err),
		    SENDER_UNAUTHORIZED);
		sender_result_clear(&out);
		ck_assert_msg(run("sendgrid", body, good, &secrets, &out,
				  &err) == SENDER_UNAUTHORIZED,
		    "timestamp %s passed a 600 s replay window", stamps[i]);
		ck_assert_uint_eq(out.batch.count, 0);
		sender_result_clear(&out);
		free(sig);
	}
}
END_TEST

/* ---------------------------------------------------------------------- */
/* SparkPost: leak on an event without a type                              */
/* ---------------------------------------------------------------------- */

/* Bytes the C library's allocator has handed out and not taken back. */
static size_t
heap_in_use(void)
{
	return mallinfo2().uordblks;
}

/*
 * tests/fuzz/crashes/senders-sparkpost-leak-no-type: an event with a
 * "bounce_class" but no "type" is refused with a 400, and the copy of the
 * bounce class made before the check is never freed.  Wrong in
 * src/senders/sparkpost.c, parse_event.  Measured with the allocator's
 * own count, so the release build shows it too (the sanitizer build's
 * leak checker reports it at exit).
 */
START_TEST(test_sparkpost_no_type_leaks_nothing)
{
	const char *body = "[{\"msys\":{\"message_event\":{"
			   "\"bounce_class\":\"10\",\"timestamp\":"
			   "\"1767258008\",\"rcpt_to\":\"carol@example.net\","
			   "\"event_id\":\"92356927693800003\"}}}]";
	const struct header_pair headers[] = { { "Content-Type",
						   "application/json" },
		{ "Authorization",
		    "Basic c3AtaG9vazp0ZXN0LXNwLXBhc3N3b3JkLTAwMDE=" },
		{ NULL, NULL } };
	const struct sender_secrets secrets = { .username = "sp-hook",
		.password = "test-sp-password-0001" };
	struct sender_result out;
	struct err err;
	size_t before;

	ck_assert_int_eq(run("sparkpost", body, headers, &secrets, &out, &err),
	    SENDER_MALFORMED);
	ck_assert_int_eq(err.status, 400);
	ck_assert_uint_eq(out.batch.count, 0);
	sender_result_clear(&out);

	before = heap_in_use();
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(
		    run("sparkpost", body, headers, &secrets, &out, &err),
		    SENDER_MALFORMED);
		sender_result_clear(&out);
	}
	/* 200 leaked copies would hold at least 200 * 16 bytes. */
	ck_assert_uint_lt(heap_in_use() - before, 1024);
}
END_TEST

static Suite *
regressions_suite(void)
{
	Suite *s = suite_create("regressions");
	TCase *route = tcase_create("route");
	TCase *mailgun = tcase_create("mailgun");
	TCase *sendgrid = tcase_create("sendgrid");
	TCase *sparkpost = tcase_create("sparkpost");

	tcase_add_test(route, test_method_listed_empty_method);
	suite_add_tcase(s, route);
	tcase_add_test(mailgun, test_mailgun_timestamp_overflow);
	suite_add_tcase(s, mailgun);
	tcase_add_checked_fixture(
	    sendgrid, sendgrid_key_setup, sendgrid_key_teardown);
	tcase_add_test(sendgrid, test_sendgrid_timestamp_overflow);
	suite_add_tcase(s, sendgrid);
	tcase_add_test(sparkpost, test_sparkpost_no_type_leaks_nothing);
	suite_add_tcase(s, sparkpost);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(regressions_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
