/*
 * check_route.c - unit tests of path matching and percent-decoding
 * (src/http/route.c): what a path segment and a query value decode to,
 * which escapes are refused, and how templates, parameters and method
 * lists match.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/route.h"

/* Decodes a C string; NULL when http_percent_decode refuses it. */
static char *
decode(const char *text, bool plus_is_space)
{
	return http_percent_decode(text, strlen(text), plus_is_space);
}

static void
assert_decodes(const char *text, bool plus, const char *want)
{
	char *got = decode(text, plus);

	ck_assert_msg(got != NULL, "\"%s\" was refused", text);
	ck_assert_str_eq(got, want);
	free(got);
}

static void
assert_refused(const char *text, bool plus)
{
	char *got = decode(text, plus);

	ck_assert_msg(got == NULL, "\"%s\" decoded to \"%s\"", text, got);
}

/* ---------------------------------------------------------------------- */
/* http_percent_decode                                                     */
/* ---------------------------------------------------------------------- */

START_TEST(test_decode_plain_and_escapes)
{
	assert_decodes("", false, "");
	assert_decodes("crm-42_x.y~z", false, "crm-42_x.y~z");
	assert_decodes("%41%42c", false, "ABc");
	assert_decodes("a%2fb%2Fc", false, "a/b/c");
	assert_decodes("%e2%82%AC", false, "\xe2\x82\xac");
	assert_decodes("100%25", false, "100%");
	assert_decodes("%7e", true, "~");
}
END_TEST

START_TEST(test_decode_plus_only_in_queries)
{
	assert_decodes("a+b", false, "a+b");
	assert_decodes("a+b", true, "a b");
	assert_decodes("a%2Bb", true, "a+b");
	assert_decodes("++", true, "  ");
	assert_decodes("%20", false, " ");
}
END_TEST

START_TEST(test_decode_refuses_nul)
{
	char raw[] = { 'a', '\0', 'b' };

	assert_refused("%00", false);
	assert_refused("%00", true);
	assert_refused("abc%00def", false);
	/* A raw NUL inside the given length is refused too. */
	ck_assert_ptr_null(http_percent_decode(raw, sizeof(raw), false));
	/* %0 followed by a non-zero digit is an ordinary control byte. */
	assert_decodes("%01", false, "\x01");
}
END_TEST

START_TEST(test_decode_refuses_bad_escapes)
{
	assert_refused("%", false);
	assert_refused("a%", false);
	assert_refused("%4", false);
	assert_refused("a%4", true);
	assert_refused("%zz", false);
	assert_refused("%g1", false);
	assert_refused("%1g", false);
	assert_refused("% 41", false);
	assert_refused("%%41", false);
	assert_refused("%+1", true);
}
END_TEST

START_TEST(test_decode_stops_at_len)
{
	/* Only len bytes are read: an escape cut by len is broken. */
	char *got = http_percent_decode("ab%41", 2, false);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, "ab");
	free(got);
	ck_assert_ptr_null(http_percent_decode("ab%41", 4, false));
	got = http_percent_decode("%41%42", 3, false);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, "A");
	free(got);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* http_route_match                                                        */
/* ---------------------------------------------------------------------- */

START_TEST(test_match_literal)
{
	struct http_match m;

	ck_assert_int_eq(http_route_match("/healthz", "/healthz", &m), 1);
	ck_assert_int_eq(m.count, 0);
	ck_assert_int_eq(http_route_match("/healthz", "/healthzz", &m), 0);
	ck_assert_int_eq(http_route_match("/healthz", "/health", &m), 0);
	ck_assert_int_eq(http_route_match("/healthz", "/HEALTHZ", &m), 0);
	ck_assert_int_eq(http_route_match("/v1/events", "/v1/event", &m), 0);
	ck_assert_int_eq(http_route_match("/v1/events", "/v1", &m), 0);
	ck_assert_int_eq(http_route_match("/v1", "/v1/events", &m), 0);
	ck_assert_int_eq(m.count, 0);
}
END_TEST

START_TEST(test_match_parameter)
{
	struct http_match m;

	ck_assert_int_eq(http_route_match("/v1/contacts/{contact_id}/scorecard",
			     "/v1/contacts/crm-42/scorecard", &m),
	    1);
	ck_assert_int_eq(m.count, 1);
	ck_assert_str_eq(m.names[0], "contact_id");
	ck_assert_str_eq(m.values[0], "crm-42");
	http_match_clear(&m);
	ck_assert_int_eq(m.count, 0);

	ck_assert_int_eq(http_route_match("/v1/webhooks/{provider}/{account}",
			     "/v1/webhooks/sendgrid/17", &m),
	    1);
	ck_assert_int_eq(m.count, 2);
	ck_assert_str_eq(m.names[0], "provider");
	ck_assert_str_eq(m.values[0], "sendgrid");
	ck_assert_str_eq(m.names[1], "account");
	ck_assert_str_eq(m.values[1], "17");
	http_match_clear(&m);

	/* One template segment takes exactly one path segment. */
	ck_assert_int_eq(http_route_match("/v1/webhooks/{provider}",
			     "/v1/webhooks/sendgrid/17", &m),
	    0);
	ck_assert_int_eq(m.count, 0);
}
END_TEST

START_TEST(test_match_encoded_slash_stays_in_id)
{
	struct http_match m;

	ck_assert_int_eq(http_route_match("/v1/contacts/{contact_id}/scorecard",
			     "/v1/contacts/crm%2F42/scorecard", &m),
	    1);
	ck_assert_int_eq(m.count, 1);
	ck_assert_str_eq(m.values[0], "crm/42");
	http_match_clear(&m);

	ck_assert_int_eq(http_route_match("/v1/contacts/{contact_id}",
			     "/v1/contacts/a%2fb%2Fc", &m),
	    1);
	ck_assert_str_eq(m.values[0], "a/b/c");
	http_match_clear(&m);

	/* A plus in a path is a plus, not a space. */
	ck_assert_int_eq(http_route_match("/v1/contacts/{contact_id}",
			     "/v1/contacts/a+b%20c", &m),
	    1);
	ck_assert_str_eq(m.values[0], "a+b c");
	http_match_clear(&m);
}
END_TEST

START_TEST(test_match_bad_parameter_encoding)
{
	struct http_match m;

	ck_assert_int_eq(http_route_match("/v1/contacts/{contact_id}",
			     "/v1/contacts/crm%0042", &m),
	    -1);
	ck_assert_int_eq(m.count, 0);
	ck_assert_int_eq(http_route_match("/v1/contacts/{contact_id}",
			     "/v1/contacts/crm%4", &m),
	    -1);
	ck_assert_int_eq(m.count, 0);
	ck_assert_int_eq(http_route_match("/v1/webhooks/{provider}/{account}",
			     "/v1/webhooks/mailgun/%zz", &m),
	    -1);
	ck_assert_int_eq(m.count, 0);
	/* A bad escape in a segment that does not match is just no match. */
	ck_assert_int_eq(
	    http_route_match("/v1/contacts", "/v1/contacts%zz", &m), 0);
}
END_TEST

START_TEST(test_match_trailing_and_empty_segments)
{
	struct http_match m;

	ck_assert_int_eq(http_route_match("/healthz", "/healthz/", &m), 0);
	ck_assert_int_eq(http_route_match("/v1/contacts/{contact_id}",
			     "/v1/contacts/crm-42/", &m),
	    0);
	ck_assert_int_eq(m.count, 0);
	ck_assert_int_eq(
	    http_route_match("/v1/contacts/{contact_id}", "/v1/contacts/", &m),
	    0);
	ck_assert_int_eq(http_route_match("/v1/contacts/{contact_id}/scorecard",
			     "/v1/contacts//scorecard", &m),
	    0);
	ck_assert_int_eq(m.count, 0);
	ck_assert_int_eq(
	    http_route_match("/v1/contacts", "/v1//contacts", &m), 0);
}
END_TEST

START_TEST(test_match_too_many_params)
{
	struct http_match m;

	ck_assert_int_eq(
	    http_route_match("/{a}/{b}/{c}/{d}", "/1/2/3/4", &m), 1);
	ck_assert_int_eq(m.count, HTTP_MAX_PARAMS);
	ck_assert_str_eq(m.values[3], "4");
	http_match_clear(&m);

	/* Past HTTP_MAX_PARAMS the template cannot match at all. */
	ck_assert_int_eq(
	    http_route_match("/{a}/{b}/{c}/{d}/{e}", "/1/2/3/4/5", &m), 0);
	ck_assert_int_eq(m.count, 0);
}
END_TEST

START_TEST(test_match_braces_need_a_name)
{
	struct http_match m;

	/* "{}" is not a parameter: it matches itself literally. */
	ck_assert_int_eq(http_route_match("/x/{}", "/x/{}", &m), 1);
	ck_assert_int_eq(m.count, 0);
	ck_assert_int_eq(http_route_match("/x/{}", "/x/1", &m), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* http_method_listed                                                      */
/* ---------------------------------------------------------------------- */

START_TEST(test_method_lists)
{
	ck_assert(http_method_listed("GET", "GET"));
	ck_assert(http_method_listed("POST HEAD", "POST"));
	ck_assert(http_method_listed("POST HEAD", "HEAD"));
	ck_assert(!http_method_listed("POST HEAD", "GET"));
	ck_assert(!http_method_listed("POST HEAD", "PO"));
	ck_assert(!http_method_listed("POST HEAD", "POSTHEAD"));
	ck_assert(!http_method_listed("POST HEAD", "POST HEAD"));
	ck_assert(!http_method_listed("POST", "post"));
	ck_assert(!http_method_listed("GETX", "GET"));
	ck_assert(http_method_listed("GET  PUT ", "PUT"));
	ck_assert(!http_method_listed("", "GET"));
	ck_assert(!http_method_listed("", ""));
}
END_TEST

static Suite *
route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *dec = tcase_create("percent_decode");
	TCase *match = tcase_create("route_match");
	TCase *methods = tcase_create("method_listed");

	tcase_add_test(dec, test_decode_plain_and_escapes);
	tcase_add_test(dec, test_decode_plus_only_in_queries);
	tcase_add_test(dec, test_decode_refuses_nul);
	tcase_add_test(dec, test_decode_refuses_bad_escapes);
	tcase_add_test(dec, test_decode_stops_at_len);
	suite_add_tcase(s, dec);
	tcase_add_test(match, test_match_literal);
	tcase_add_test(match, test_match_parameter);
	tcase_add_test(match, test_match_encoded_slash_stays_in_id);
	tcase_add_test(match, test_match_bad_parameter_encoding);
	tcase_add_test(match, test_match_trailing_and_empty_segments);
	tcase_add_test(match, test_match_too_many_params);
	tcase_add_test(match, test_match_braces_need_a_name);
	suite_add_tcase(s, match);
	tcase_add_test(methods, test_method_lists);
	suite_add_tcase(s, methods);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(route_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
