/*
 * check_log.c - unit tests of the JSON log lines: every line must parse as
 * JSON (checked with jansson), escape what JSON requires, replace invalid
 * UTF-8, stay whole under truncation and concurrency, and mask addresses.
 */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"

/* stderr is pointed at a temporary file while a test logs. */
static int saved_stderr = -1;
static char capture_path[64];

static void
capture_start(void)
{
	int fd;

	snprintf(capture_path, sizeof(capture_path), "/tmp/check_log_XXXXXX");
	fd = mkstemp(capture_path);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	close(fd);
}

/* Restores stderr and returns what was logged.  Caller frees. */
static char *
capture_end(void)
{
	FILE *fp;
	char *text;
	long len;

	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fp = fopen(capture_path, "rb");
	ck_assert_ptr_nonnull(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	text = calloc(1, (size_t)len + 1);
	ck_assert_int_eq(fread(text, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	unlink(capture_path);
	return text;
}

static int
count_lines(const char *text)
{
	int n = 0;

	for (const char *p = text; *p; p++)
		n += *p == '\n';
	return n;
}

/* Parses the single line in text as a JSON object; caller decrefs. */
static json_t *
parse_line(const char *text)
{
	json_error_t error;
	json_t *obj;

	ck_assert_int_eq(count_lines(text), 1);
	ck_assert_int_eq(text[strlen(text) - 1], '\n');
	obj = json_loads(text, 0, &error);
	ck_assert_msg(obj != NULL, "not JSON (%s): %s", error.text, text);
	ck_assert(json_is_object(obj));
	return obj;
}

static const char *
str_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	ck_assert_msg(json_is_string(v), "no string \"%s\"", key);
	return json_string_value(v);
}

START_TEST(test_basic_line)
{
	char *text;
	json_t *obj;
	int64_t ts_ms;
	struct timespec now;

	log_set_level(LOG_INFO);
	/* The service clock may be pinned; log times are still real. */
	time_pin(946684800000LL); /* 2000-01-01 */
	capture_start();
	log_info("started %d workers on %s", 4, "127.0.0.1:8080");
	text = capture_end();
	time_pin(0);

	ck_assert_msg(strncmp(text, "{\"ts\":\"", 7) == 0, "%s", text);
	ck_assert_ptr_nonnull(strstr(text, "\",\"level\":\"info\",\"msg\":\""));
	obj = parse_line(text);
	ck_assert_str_eq(str_of(obj, "level"), "info");
	ck_assert_str_eq(
	    str_of(obj, "msg"), "started 4 workers on 127.0.0.1:8080");
	ck_assert_int_eq(strlen(str_of(obj, "ts")), 24);
	ck_assert_int_eq(str_of(obj, "ts")[23], 'Z');
	ck_assert_int_eq(str_of(obj, "ts")[19], '.');
	ck_assert(time_parse_iso8601(str_of(obj, "ts"), &ts_ms));
	clock_gettime(CLOCK_REALTIME, &now);
	ck_assert_int_le(llabs((long long)now.tv_sec * 1000 - ts_ms), 5000);
	ck_assert_int_eq(json_object_size(obj), 3);
	json_decref(obj);
	free(text);
}
END_TEST

START_TEST(test_levels)
{
	enum log_level lv;
	char *text;

	ck_assert(log_level_parse("debug", &lv));
	ck_assert_int_eq(lv, LOG_DEBUG);
	ck_assert(log_level_parse("INFO", &lv));
	ck_assert_int_eq(lv, LOG_INFO);
	ck_assert(log_level_parse("warn", &lv));
	ck_assert_int_eq(lv, LOG_WARNING);
	ck_assert(log_level_parse("warning", &lv));
	ck_assert_int_eq(lv, LOG_WARNING);
	ck_assert(log_level_parse("error", &lv));
	ck_assert_int_eq(lv, LOG_ERROR);
	ck_assert(!log_level_parse("verbose", &lv));
	ck_assert(!log_level_parse("", &lv));
	ck_assert(!log_level_parse(NULL, &lv));

	log_set_level(LOG_WARNING);
	ck_assert(!log_enabled(LOG_INFO));
	ck_assert(log_enabled(LOG_WARNING));
	ck_assert(log_enabled(LOG_ERROR));
	capture_start();
	log_debug("hidden debug");
	log_info("hidden info");
	log_kv(LOG_INFO, "hidden kv", "k", "v", NULL);
	log_warning("shown warning");
	log_error("shown error");
	text = capture_end();
	ck_assert_int_eq(count_lines(text), 2);
	ck_assert_ptr_null(strstr(text, "hidden"));
	ck_assert_ptr_nonnull(
	    strstr(text, "\"level\":\"warning\",\"msg\":\"shown warning\""));
	ck_assert_ptr_nonnull(
	    strstr(text, "\"level\":\"error\",\"msg\":\"shown error\""));
	free(text);
	log_set_level(LOG_INFO);
}
END_TEST

/* Raw message bytes and what a JSON parser must read back. */
static const struct {
	const char *raw;
	const char *decoded;
} escape_cases[] = {
	{ "say \"hi\"", "say \"hi\"" },
	{ "back\\slash", "back\\slash" },
	{ "two\nlines\r\n", "two\nlines\r\n" },
	{ "tab\there", "tab\there" },
	{ "bell\x07 unit\x1f del\x7f", "bell\x07 unit\x1f del\x7f" },
	{ "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80",
	    "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80" },
	{ "bad \xff byte", "bad \xef\xbf\xbd byte" },
	{ "overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd" },
	{ "surrogate \xed\xa0\x80",
	    "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "too big \xf4\x90\x80\x80",
	    "too big \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd" },
	{ "lone continuation \x80!", "lone continuation \xef\xbf\xbd!" },
};

START_TEST(test_escaping)
{
	char *text;
	json_t *obj;

	log_set_level(LOG_INFO);
	capture_start();
	log_info("%s", escape_cases[_i].raw);
	text = capture_end();
	obj = parse_line(text);
	ck_assert_str_eq(str_of(obj, "msg"), escape_cases[_i].decoded);
	/* Control characters never reach the line raw. */
	for (const char *p = text; *p != '\n'; p++)
		ck_assert_int_ge((unsigned char)*p, 0x20);
	json_decref(obj);
	free(text);
}
END_TEST

START_TEST(test_escape_forms)
{
	char *text;

	capture_start();
	log_info("a\"b\\c\nd\x01");
	text = capture_end();
	ck_assert_ptr_nonnull(
	    strstr(text, "\"msg\":\"a\\\"b\\\\c\\nd\\u0001\"}"));
	free(text);
}
END_TEST

START_TEST(test_kv)
{
	char *text;
	json_t *obj;

	log_set_level(LOG_INFO);
	capture_start();
	log_kv(LOG_INFO, "request done", "req", "=83", "method", "GET", "route",
	    "/v1/contacts/{id}/scorecard", "status", "=200", "ms", "=3.5",
	    "quoted \"key\"", "va\"lue\n", "notnum", "=12abc", "flag", "=true",
	    "none", NULL, NULL);
	text = capture_end();
	ck_assert_ptr_nonnull(
	    strstr(text, "\"msg\":\"request done\",\"req\":83,"));
	obj = parse_line(text);
	ck_assert_str_eq(str_of(obj, "msg"), "request done");
	ck_assert_int_eq(json_integer_value(json_object_get(obj, "req")), 83);
	ck_assert_str_eq(str_of(obj, "method"), "GET");
	ck_assert_str_eq(str_of(obj, "route"), "/v1/contacts/{id}/scorecard");
	ck_assert_int_eq(
	    json_integer_value(json_object_get(obj, "status")), 200);
	ck_assert_double_eq(json_real_value(json_object_get(obj, "ms")), 3.5);
	ck_assert_str_eq(str_of(obj, "quoted \"key\""), "va\"lue\n");
	ck_assert_str_eq(str_of(obj, "notnum"), "12abc");
	ck_assert(json_is_true(json_object_get(obj, "flag")));
	ck_assert(json_is_null(json_object_get(obj, "none")));
	json_decref(obj);
	free(text);
}
END_TEST

START_TEST(test_truncation)
{
	size_t big = 20000;
	char *msg = malloc(big + 1);
	char *text;
	json_t *obj;
	const char *got;

	/* Three-byte characters, so a cut could land mid-character. */
	for (size_t i = 0; i + 3 <= big; i += 3)
		memcpy(msg + i, "\xe2\x9c\x93", 3);
	msg[big - big % 3] = '\0';

	capture_start();
	log_error("%s", msg);
	log_kv(LOG_ERROR, "long value", "short", "kept", "long", msg, "after",
	    "dropped", NULL);
	log_kv(LOG_ERROR, msg, "k", "v", NULL);
	text = capture_end();
	ck_assert_int_eq(count_lines(text), 3);

	for (char *line = text; *line != '\0';) {
		char *nl = strchr(line, '\n');
		json_error_t error;

		ck_assert_int_le(nl - line + 1, 4096);
		obj = json_loadb(line, (size_t)(nl - line), 0, &error);
		ck_assert_msg(obj != NULL, "not JSON: %s", error.text);
		ck_assert(json_is_true(json_object_get(obj, "truncated")));
		got = str_of(obj, "msg");
		if (strcmp(got, "long value") == 0) {
			ck_assert_str_eq(str_of(obj, "short"), "kept");
			ck_assert_ptr_null(json_object_get(obj, "long"));
			ck_assert_ptr_null(json_object_get(obj, "after"));
		} else {
			ck_assert_int_gt(strlen(got), 3000);
			ck_assert_int_eq(strlen(got) % 3, 0);
			ck_assert(strncmp(got, msg, strlen(got)) == 0);
		}
		json_decref(obj);
		line = nl + 1;
	}
	free(text);
	free(msg);
}
END_TEST

#define THREADS 4
#define LINES_PER_THREAD 300

static void *
log_worker(void *arg)
{
	long id = (long)arg;
	char pad[600];

	memset(pad, 'a' + (int)id, sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int i = 0; i < LINES_PER_THREAD; i++)
		log_info("thread %ld line %d %s", id, i, pad);
	return NULL;
}

START_TEST(test_threads_do_not_interleave)
{
	pthread_t threads[THREADS];
	char *text;
	int lines = 0;

	log_set_level(LOG_INFO);
	capture_start();
	for (long t = 0; t < THREADS; t++)
		pthread_create(&threads[t], NULL, log_worker, (void *)t);
	for (int t = 0; t < THREADS; t++)
		pthread_join(threads[t], NULL);
	text = capture_end();

	for (char *line = text; *line != '\0'; lines++) {
		char *nl = strchr(line, '\n');
		json_error_t error;
		json_t *obj = json_loadb(line, (size_t)(nl - line), 0, &error);

		ck_assert_msg(
		    obj != NULL, "line %d not JSON: %s", lines, error.text);
		json_decref(obj);
		line = nl + 1;
	}
	ck_assert_int_eq(lines, THREADS * LINES_PER_THREAD);
	free(text);
}
END_TEST

static const struct {
	const char *email;
	const char *masked;
} mask_cases[] = {
	{ "alice@example.com", "a***@example.com" },
	{ "b@x.org", "b***@x.org" },
	{ "\xc3\xa9mile@example.fr", "\xc3\xa9***@example.fr" },
	{ "odd@local@example.com", "o***@example.com" },
	{ "@example.com", "***@example.com" },
	{ "not-an-address", "***" },
	{ "", "***" },
};

START_TEST(test_mask_email)
{
	char buf[64];

	for (size_t i = 0; i < sizeof(mask_cases) / sizeof(mask_cases[0]);
	     i++) {
		log_mask_email(mask_cases[i].email, buf, sizeof(buf));
		ck_assert_str_eq(buf, mask_cases[i].masked);
		ck_assert_ptr_null(strstr(buf, "alice"));
	}
	log_mask_email(NULL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "***");

	/* Short buffers truncate and stay terminated. */
	log_mask_email("alice@example.com", buf, 6);
	ck_assert_str_eq(buf, "a***@");
	strcpy(buf, "untouched");
	log_mask_email("alice@example.com", buf, 0);
	ck_assert_str_eq(buf, "untouched");
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc;

	tc = tcase_create("lines");
	tcase_add_test(tc, test_basic_line);
	tcase_add_test(tc, test_levels);
	tcase_add_test(tc, test_kv);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_threads_do_not_interleave);
	suite_add_tcase(s, tc);

	tc = tcase_create("escaping");
	tcase_add_loop_test(tc, test_escaping, 0,
	    (int)(sizeof(escape_cases) / sizeof(escape_cases[0])));
	tcase_add_test(tc, test_escape_forms);
	suite_add_tcase(s, tc);

	tc = tcase_create("mask");
	tcase_add_test(tc, test_mask_email);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
