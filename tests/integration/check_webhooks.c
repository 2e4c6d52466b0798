/*
 * check_webhooks.c - every mail sender's fixtures, replayed against the
 * real binary and a real PostgreSQL in the order the fixture table gives,
 * with the service clock pinned to 2026-01-01T10:00:00Z.
 *
 * Each step checks the answer's status and the number of event rows it
 * added and recognised as duplicates; each sender then checks the totals
 * (rows, machine opens, scanner clicks, Gmail proxy opens), that every
 * stored event found its CRM contact, and the wrong-credential case.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

struct step {
	const char *file;    /* NULL ends the list */
	const char *variant; /* headers.json variant */
	const char *method;  /* NULL: POST */
	int status;
	int stored;
	int dedup;
};

struct sender_case {
	const char *provider;
	const char *ini;
	struct step steps[12];
	int rows, machine_opens, bot_clicks, gmail_proxy;
};

static const char *
data_dir(void)
{
	const char *d = getenv("ENGAGEMENTD_TEST_DATA");

	return d != NULL ? d : "tests/data";
}

static char sendgrid_ini[512];
static char ses_ini[512];

static const struct sender_case cases[] = {
	{ "sendgrid", sendgrid_ini,
	    { { "01-batch-mixed.json", "valid", NULL, 200, 5, 0 },
		{ "02-batch-redelivery-duplicate.json", "valid", NULL, 200, 1,
		    1 },
		{ "03-apple-machine-open.json", "valid", NULL, 200, 1, 0 },
		{ "04-scanner-click-2s-after-delivery.json", "valid", NULL, 200,
		    2, 0 },
		{ "05-malformed-truncated.json", "valid", NULL, 400, 0, 0 },
		{ "06-bad-signature.json", "bad-signature", NULL, 401, 0, 0 },
		{ NULL } },
	    9, 1, 1, 1 },
	{ "mailgun",
	    "[mailgun]\nsigning_key = mg-test-signing-key-4f7d2c9a1b\n"
	    "replay_window_s = 0\n",
	    { { "01-delivered-alice.json", "valid", NULL, 200, 1, 0 },
		{ "02-clicked-scanner-2s-after-delivery.json", "valid", NULL,
		    200, 1, 0 },
		{ "03-opened-apple-mpp.json", "valid", NULL, 200, 1, 0 },
		{ "04-failed-permanent-carol.json", "valid", NULL, 200, 1, 0 },
		{ "05-malformed-truncated.json", "valid", NULL, 400, 0, 0 },
		{ "06-bad-signature.json", "bad-signature", NULL, 401, 0, 0 },
		{ "04-failed-permanent-carol.json", "valid", NULL, 200, 0, 1 },
		{ NULL } },
	    4, 1, 1, 0 },
	{ "postmark",
	    "[postmark]\nusername = pm-hook\npassword = test-pm-password-0001\n"
	    "token = test-pm-header-token-0001\n",
	    { { "01-delivery-alice.json", "valid", NULL, 200, 1, 0 },
		{ "02-click-scanner-2s-after-delivery.json", "valid", NULL, 200,
		    1, 0 },
		{ "03-open-apple-mpp.json", "valid", NULL, 200, 1, 0 },
		{ "04-bounce-hard-carol.json", "valid", NULL, 200, 1, 0 },
		{ "05-malformed-truncated.json", "valid", NULL, 400, 0, 0 },
		{ "06-subscription-change-bob.json", "valid", NULL, 200, 1, 0 },
		{ "01-delivery-alice.json", "bad-auth", NULL, 401, 0, 0 },
		{ "04-bounce-hard-carol.json", "valid", NULL, 200, 0, 1 },
		{ NULL } },
	    5, 1, 1, 0 },
	{ "ses", ses_ini,
	    { { "01-delivery-alice.json", "valid", NULL, 200, 1, 0 },
		{ "02-click-scanner-2s-after-delivery.json", "valid", NULL, 200,
		    1, 0 },
		{ "03-open-apple-mpp.json", "valid", NULL, 200, 1, 0 },
		{ "04-bounce-permanent-carol.json", "valid", NULL, 200, 1, 0 },
		{ "05-malformed-truncated.json", "valid", NULL, 400, 0, 0 },
		{ "06-bad-signature.json", "bad-signature", NULL, 401, 0, 0 },
		{ "04-bounce-permanent-carol.json", "valid", NULL, 200, 0, 1 },
		{ NULL } },
	    4, 1, 1, 0 },
	{ "sparkpost",
	    "[sparkpost]\nusername = sp-hook\npassword = test-sp-password-0001\n",
	    { { "01-batch-mixed.json", "valid", NULL, 200, 6, 0 },
		{ "02-batch-redelivery-duplicate.json", "valid", NULL, 200, 1,
		    1 },
		{ "03-apple-machine-open.json", "valid", NULL, 200, 1, 0 },
		{ "04-scanner-click-2s-after-delivery.json", "valid", NULL, 200,
		    2, 0 },
		{ "05-malformed-truncated.json", "valid", NULL, 400, 0, 0 },
		{ "06-ping-empty-msys.json", "valid", NULL, 200, 0, 0 },
		{ "01-batch-mixed.json", "bad-auth", NULL, 401, 0, 0 },
		{ NULL } },
	    10, 1, 1, 0 },
	{ "mandrill",
	    "[mandrill]\nsigning_key = test-mandrill-webhook-key-0001\n"
	    "signed_url = https://hooks.example.com/webhooks/mandrill\n",
	    { { "01-batch-mixed.txt", "valid", NULL, 200, 5, 0 },
		{ "02-batch-redelivery-duplicate.txt", "valid", NULL, 200, 1,
		    1 },
		{ "03-apple-machine-open.txt", "valid", NULL, 200, 1, 0 },
		{ "04-scanner-click-2s-after-delivery.txt", "valid", NULL, 200,
		    2, 0 },
		{ "05-malformed-truncated.txt", "valid", NULL, 400, 0, 0 },
		{ "06-bad-signature.txt", "bad-signature", NULL, 401, 0, 0 },
		{ "01-batch-mixed.txt", "valid", "HEAD", 200, 0, 0 },
		{ NULL } },
	    9, 1, 1, 1 },
	{ "brevo",
	    "[brevo]\nusername = brevo-hook\npassword = test-brevo-password-0001\n"
	    "token = test-brevo-bearer-token-0001\n",
	    { { "01-delivered-alice.json", "valid", NULL, 200, 1, 0 },
		{ "02-click-scanner-2s-after-delivery.json", "valid", NULL, 200,
		    1, 0 },
		{ "03-proxy-open-apple-mpp.json", "valid", NULL, 200, 1, 0 },
		{ "04-hard-bounce-carol.json", "valid", NULL, 200, 1, 0 },
		{ "05-malformed-truncated.json", "valid", NULL, 400, 0, 0 },
		{ "06-unique-opened-alice.json", "valid", NULL, 200, 1, 0 },
		{ "01-delivered-alice.json", "valid-bearer", NULL, 200, 0, 1 },
		{ "01-delivered-alice.json", "bad-auth", NULL, 401, 0, 0 },
		{ "04-hard-bounce-carol.json", "valid", NULL, 200, 0, 1 },
		{ NULL } },
	    5, 1, 1, 0 },
	{ "mailjet",
	    "[mailjet]\nusername = mj-hook\npassword = test-mj-password-0001\n",
	    { { "01-batch-mixed.json", "valid", NULL, 200, 5, 0 },
		{ "02-batch-redelivery-duplicate.json", "valid", NULL, 200, 1,
		    1 },
		{ "03-apple-machine-open.json", "valid", NULL, 200, 1, 0 },
		{ "04-scanner-click-2s-after-delivery.json", "valid", NULL, 200,
		    2, 0 },
		{ "05-malformed-truncated.json", "valid", NULL, 400, 0, 0 },
		{ "06-single-event-ungrouped-spam.json", "valid", NULL, 200, 1,
		    0 },
		{ "01-batch-mixed.json", "bad-auth", NULL, 401, 0, 0 },
		{ NULL } },
	    10, 1, 1, 1 },
};

#define CLOCK_INI "[clock]\npin = 2026-01-01T10:00:00Z\n"

static void
build_ini(void)
{
	char path[1024];
	FILE *f;
	char key[256] = "";

	snprintf(path, sizeof(path), "%s/webhooks/sendgrid/keys/public_key.b64",
	    data_dir());
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(key, sizeof(key), f));
	fclose(f);
	key[strcspn(key, "\r\n")] = '\0';
	snprintf(sendgrid_ini, sizeof(sendgrid_ini),
	    "[sendgrid]\npublic_key = %s\n", key);
	snprintf(ses_ini, sizeof(ses_ini),
	    "[ses]\ncert_dir = %s/webhooks/ses/keys\n", data_dir());
}

static long
count(const char *db, const char *sql)
{
	return harness_sql_int(db, sql);
}

static void
replay(const struct sender_case *c)
{
	struct harness_server srv;
	char db[1024], ini[2048], path[128];
	long before = 0;

	build_ini();
	harness_db_create(c->provider, db, sizeof(db));
	snprintf(ini, sizeof(ini), "%s%s", CLOCK_INI, c->ini);
	harness_server_start(&srv, db, ini);
	snprintf(path, sizeof(path), "/v1/webhooks/%s", c->provider);
	for (const struct step *s = c->steps; s->file != NULL; s++) {
		struct harness_reply reply;
		char **headers =
		    harness_fixture_headers(c->provider, s->file, s->variant);
		size_t len;
		char *body = harness_fixture(c->provider, s->file, &len);
		const char *method = s->method != NULL ? s->method : "POST";
		long status, after;

		status = harness_http(&srv, method, path,
		    (const char *const *)headers,
		    strcmp(method, "HEAD") == 0 ? NULL : body,
		    strcmp(method, "HEAD") == 0 ? 0 : len, &reply);
		ck_assert_msg(status == s->status,
		    "%s %s (%s): status %ld, want %d: %s", c->provider, s->file,
		    s->variant, status, s->status, reply.body);
		after = count(db, "SELECT count(*) FROM events");
		ck_assert_msg(after - before == s->stored,
		    "%s %s: %ld rows stored, want %d", c->provider, s->file,
		    after - before, s->stored);
		if (status == 200 && strcmp(method, "POST") == 0) {
			json_t *j = harness_json_parse(reply.body);

			ck_assert_int_eq(json_integer_value(
					     json_object_get(j, "duplicates")),
			    s->dedup);
			ck_assert_int_eq(
			    json_integer_value(json_object_get(j, "accepted")),
			    s->stored);
			json_decref(j);
		}
		before = after;
		harness_reply_free(&reply);
		harness_headers_free(headers);
		free(body);
	}
	ck_assert_int_eq(count(db, "SELECT count(*) FROM events"), c->rows);
	ck_assert_int_eq(count(db, "SELECT count(*) FROM events"
				   " WHERE type = 2 AND verdict = 2"),
	    c->machine_opens);
	ck_assert_int_eq(count(db, "SELECT count(*) FROM events"
				   " WHERE type = 3 AND verdict = 3"),
	    c->bot_clicks);
	ck_assert_int_eq(count(db, "SELECT count(*) FROM events"
				   " WHERE (flags & 4) <> 0"),
	    c->gmail_proxy);
	/* every event reached its CRM contact, and the addresses match */
	ck_assert_int_eq(count(db, "SELECT count(*) FROM events e JOIN contacts"
				   " c USING (account_id, contact_pk)"
				   " WHERE c.crm_id IS NULL"),
	    0);
	ck_assert_int_eq(count(db, "SELECT count(*) FROM contacts WHERE"
				   " (crm_id, email) NOT IN (('crm-1001',"
				   " 'alice@example.com'), ('crm-1002',"
				   " 'bob@example.org'), ('crm-1003',"
				   " 'carol@example.net'), ('crm-1004',"
				   " 'dave@example.com'))"),
	    0);
	/* the hard bounce suppresses carol whatever her score */
	ck_assert_int_eq(count(db, "SELECT count(*) FROM contacts WHERE"
				   " crm_id = 'crm-1003' AND hard_bounced"),
	    1);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}

START_TEST(sender_fixtures)
{
	replay(&cases[_i]);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("webhooks");
	TCase *tc = tcase_create("fixtures");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(
	    tc, sender_fixtures, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
