/*
 * check_ingest.c - the parts of the write path that need no database: the
 * native event parser and its validation, machine/scanner verdicts, time
 * parsing, e-mail normalisation and array literals for batch parameters.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "ingest/ingest.h"
#include "ingest/verdict.h"
#include "store/pgarray.h"

#define NOW_MS 1767261600000LL /* 2026-01-01T10:00:00Z */

static void
pin_clock(void)
{
	time_pin(NOW_MS);
}

static bool
parse(const char *body, struct event_batch *batch,
    struct ingest_rejection **rej, size_t *nrej, struct err *err)
{
	memset(batch, 0, sizeof(*batch));
	return ingest_parse_native(
	    body, strlen(body), 100, batch, rej, nrej, err);
}

START_TEST(native_object_and_array)
{
	struct event_batch b;
	struct ingest_rejection *rej;
	size_t nrej;
	struct err err = { 0 };

	ck_assert(parse("{\"type\":\"open\",\"contact_id\":\"c1\","
			"\"email\":\" Ann@Example.COM \",\"message_id\":\"m1\","
			"\"occurred_at\":\"2025-12-31T23:00:00.5+01:00\","
			"\"user_agent\":\"x GoogleImageProxy y\","
			"\"machine_open\":true}",
	    &b, &rej, &nrej, &err));
	ck_assert_int_eq(b.count, 1);
	ck_assert_int_eq(nrej, 0);
	ck_assert_int_eq(b.items[0].type, EVENT_OPEN);
	ck_assert_str_eq(b.items[0].email, "ann@example.com");
	ck_assert_int_eq(b.items[0].occurred_at_ms, 1767218400500LL);
	ck_assert_uint_eq(b.items[0].flags,
	    EVENT_FLAG_SENDER_MACHINE | EVENT_FLAG_GMAIL_PROXY);
	/* no event_id: a stable key derived from the event */
	ck_assert_int_eq(strncmp(b.items[0].event_id, "h:", 2), 0);
	ck_assert_int_eq(strlen(b.items[0].event_id), 34);
	event_batch_clear(&b);
	free(rej);

	ck_assert(parse("[{\"type\":\"bounce\",\"email\":\"a@b.co\","
			"\"occurred_at\":1767258000,\"bounce_type\":\"soft\"},"
			"{\"type\":\"click\",\"contact_id\":\"c\","
			"\"occurred_at\":1767258000},"
			"{\"type\":\"delivered\",\"contact_id\":\"c\","
			"\"message_id\":\"m\",\"occurred_at\":1767258000.25,"
			"\"tracked\":false}]",
	    &b, &rej, &nrej, &err));
	ck_assert_int_eq(b.count, 2);
	ck_assert_int_eq(b.items[0].bounce, BOUNCE_SOFT);
	ck_assert_int_eq(b.items[1].occurred_at_ms, 1767258000250LL);
	ck_assert_uint_eq(b.items[1].flags, EVENT_FLAG_NO_TRACKING);
	ck_assert_int_eq(nrej, 1);
	ck_assert_int_eq(rej[0].index, 1);
	ck_assert_ptr_nonnull(strstr(rej[0].error, "message_id"));
	event_batch_clear(&b);
	free(rej);
}
END_TEST

START_TEST(native_same_event_same_key)
{
	const char *body = "{\"type\":\"click\",\"contact_id\":\"c\","
			   "\"message_id\":\"m\",\"occurred_at\":1767258000,"
			   "\"url\":\"https://x.test/\"}";
	struct event_batch a, b;
	struct ingest_rejection *rej;
	size_t nrej;
	struct err err = { 0 };

	ck_assert(parse(body, &a, &rej, &nrej, &err));
	free(rej);
	ck_assert(parse(body, &b, &rej, &nrej, &err));
	free(rej);
	ck_assert_str_eq(a.items[0].event_id, b.items[0].event_id);
	event_batch_clear(&a);
	event_batch_clear(&b);
}
END_TEST

START_TEST(native_whole_body_errors)
{
	static const struct {
		const char *body;
		int status;
	} cases[] = {
		{ "", 400 },
		{ "[", 400 },
		{ "[]", 400 },
		{ "\"open\"", 400 },
		{ "{\"type\":\"open\",\"type\":\"click\"}", 400 },
	};
	struct event_batch b;
	struct ingest_rejection *rej;
	size_t nrej;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err err = { 0 };

		ck_assert_msg(!parse(cases[i].body, &b, &rej, &nrej, &err),
		    "case %zu parsed", i);
		ck_assert_int_eq(err.status, cases[i].status);
		ck_assert_int_eq(b.count, 0);
		free(rej);
	}
}
END_TEST

START_TEST(native_event_errors)
{
	static const char *const bodies[] = {
		"{\"type\":\"opened\",\"contact_id\":\"c\",\"occurred_at\":1767258000}",
		"{\"type\":\"open\",\"message_id\":\"m\",\"occurred_at\":1767258000}",
		"{\"type\":\"open\",\"contact_id\":\"c\",\"message_id\":\"m\"}",
		"{\"type\":\"open\",\"contact_id\":\"c\",\"message_id\":\"m\","
		"\"occurred_at\":\"yesterday\"}",
		"{\"type\":\"open\",\"contact_id\":\"c\",\"message_id\":\"m\","
		"\"occurred_at\":946684799}",
		"{\"type\":\"open\",\"contact_id\":\"c\",\"message_id\":\"m\","
		"\"occurred_at\":1767400000}",
		"{\"type\":\"open\",\"contact_id\":7,\"message_id\":\"m\","
		"\"occurred_at\":1767258000}",
		"{\"type\":\"open\",\"contact_id\":\"\",\"message_id\":\"m\","
		"\"occurred_at\":1767258000}",
		"{\"type\":\"open\",\"email\":\"no-at-sign\",\"message_id\":\"m\","
		"\"occurred_at\":1767258000}",
		"{\"type\":\"bounce\",\"contact_id\":\"c\",\"bounce_type\":\"x\","
		"\"occurred_at\":1767258000}",
		"{\"type\":\"open\",\"contact_id\":\"c\",\"message_id\":\"m\","
		"\"occurred_at\":1767258000,\"machine_open\":\"yes\"}",
		"{\"event_id\":\"\",\"type\":\"open\",\"contact_id\":\"c\","
		"\"message_id\":\"m\",\"occurred_at\":1767258000}",
	};
	struct event_batch b;
	struct ingest_rejection *rej;
	size_t nrej;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct err err = { 0 };

		ck_assert_msg(parse(bodies[i], &b, &rej, &nrej, &err),
		    "case %zu: whole body refused", i);
		ck_assert_msg(
		    b.count == 0 && nrej == 1, "case %zu accepted", i);
		free(rej);
		event_batch_clear(&b);
	}
}
END_TEST

START_TEST(batch_limit_is_413)
{
	struct event_batch b = { 0 };
	struct ingest_rejection *rej;
	size_t nrej;
	struct err err = { 0 };
	const char *two = "[{\"type\":\"open\"},{\"type\":\"open\"}]";

	ck_assert(
	    !ingest_parse_native(two, strlen(two), 1, &b, &rej, &nrej, &err));
	ck_assert_int_eq(err.status, 413);
}
END_TEST

static void
decide(const struct verdict_rules *rules, enum event_type type, const char *ua,
    const char *ip, unsigned flags, enum event_verdict want)
{
	struct event ev = { 0 };

	ev.type = type;
	ev.user_agent = (char *)ua;
	ev.ip = (char *)ip;
	ev.flags = flags;
	verdict_decide(rules, &ev);
	ck_assert_msg(ev.verdict == want, "%s/%s: %s, want %s", ua ? ua : "-",
	    ip ? ip : "-", event_verdict_name(ev.verdict),
	    event_verdict_name(want));
}

START_TEST(verdicts)
{
	struct verdict_rules rules;
	struct err err = { 0 };

	ck_assert(verdict_rules_init(&rules, "17.0.0.0/8, 2a01:b740::/32",
	    "Proofpoint, barracuda", 10, &err));
	decide(&rules, EVENT_OPEN, "Mozilla/5.0", "17.58.63.101", 0,
	    VERDICT_MACHINE);
	decide(&rules, EVENT_OPEN, "Mozilla/5.0", "2a01:b740:a42::1", 0,
	    VERDICT_MACHINE);
	decide(&rules, EVENT_OPEN, "Mozilla/5.0", "18.58.63.101", 0,
	    VERDICT_HUMAN);
	decide(&rules, EVENT_OPEN, "Mozilla/5.0 (Macintosh)", "17.1.1.1", 0,
	    VERDICT_HUMAN);
	decide(&rules, EVENT_OPEN, NULL, NULL, EVENT_FLAG_SENDER_MACHINE,
	    VERDICT_MACHINE);
	decide(&rules, EVENT_OPEN, "x GoogleImageProxy", "66.249.1.1",
	    EVENT_FLAG_GMAIL_PROXY, VERDICT_HUMAN);
	decide(&rules, EVENT_CLICK, "Mozilla/5.0 PROOFPOINT url defense", NULL,
	    0, VERDICT_SCANNER);
	decide(
	    &rules, EVENT_CLICK, "Mozilla/5.0", "17.1.1.1", 0, VERDICT_HUMAN);
	decide(&rules, EVENT_CLICK, NULL, NULL, EVENT_FLAG_SENDER_BOT,
	    VERDICT_SCANNER);
	decide(
	    &rules, EVENT_UNSUBSCRIBE, "barracuda", NULL, 0, VERDICT_SCANNER);
	decide(&rules, EVENT_DELIVERED, "Mozilla/5.0", "17.1.1.1", 0,
	    VERDICT_NONE);
	verdict_rules_free(&rules);

	ck_assert(!verdict_rules_init(&rules, "17.0.0.0/33", "", 10, &err));
	ck_assert(!verdict_rules_init(&rules, "not-an-ip", "", 10, &err));
}
END_TEST

START_TEST(time_formats)
{
	int64_t ms;

	ck_assert(time_parse_iso8601("2026-01-01T09:00:05.1234567Z", &ms));
	ck_assert_int_eq(ms, 1767258005123LL);
	ck_assert(time_parse_iso8601("2026-01-01 10:00:05-01:00", &ms));
	ck_assert_int_eq(ms, 1767265205000LL);
	ck_assert(time_parse_iso8601("2024-02-29T00:00:00+0000", &ms));
	ck_assert(!time_parse_iso8601("2025-02-29T00:00:00Z", &ms));
	ck_assert(!time_parse_iso8601("2026-01-01T09:00:05", &ms));
	ck_assert(!time_parse_iso8601("2026-13-01T09:00:05Z", &ms));
	ck_assert(!time_parse_iso8601("2026-01-01T09:00:05Zjunk", &ms));
	ck_assert(!time_parse_iso8601("", &ms));
	{
		char buf[40];

		time_format_iso8601(1767258005123LL, buf, sizeof(buf));
		ck_assert_str_eq(buf, "2026-01-01T09:00:05.123Z");
	}
}
END_TEST

START_TEST(email_normalisation)
{
	char a[] = "  Bob@Example.ORG\t", b[] = "a@b", c[] = "x y@z.co",
	     d[] = "@x.co", e[] = "a@@b.co";

	ck_assert(event_normalize_email(a));
	ck_assert_str_eq(a, "bob@example.org");
	ck_assert(!event_normalize_email(b));
	ck_assert(!event_normalize_email(c));
	ck_assert(!event_normalize_email(d));
	ck_assert(!event_normalize_email(e));
}
END_TEST

START_TEST(array_literals)
{
	struct pgarray arr;

	pgarray_init(&arr);
	pgarray_text(&arr, "plain");
	pgarray_text(&arr, NULL);
	pgarray_text(&arr, "quo\"te and back\\slash, {brace}");
	pgarray_int(&arr, -42);
	ck_assert_str_eq(pgarray_finish(&arr),
	    "{\"plain\",NULL,\"quo\\\"te and back\\\\slash, {brace}\",-42}");
	pgarray_free(&arr);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ingest");
	TCase *tc = tcase_create("ingest");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, pin_clock, NULL);
	tcase_add_test(tc, native_object_and_array);
	tcase_add_test(tc, native_same_event_same_key);
	tcase_add_test(tc, native_whole_body_errors);
	tcase_add_test(tc, native_event_errors);
	tcase_add_test(tc, batch_limit_is_413);
	tcase_add_test(tc, verdicts);
	tcase_add_test(tc, time_formats);
	tcase_add_test(tc, email_normalisation);
	tcase_add_test(tc, array_literals);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
