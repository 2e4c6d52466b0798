/*
 * check_config.c - unit tests of the configuration loader: defaults, every
 * value type and its bounds, error messages with file:line, environment
 * overrides and aliases, secrets, the sample INI files under
 * tests/data/config and the shipped config.example.ini.
 */
#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "core/config.h"

extern char **environ;

static const char *
data_dir(void)
{
	const char *dir = getenv("ENGAGEMENTD_TEST_DATA");

	return dir != NULL && dir[0] != '\0' ? dir : "tests/data";
}

/* Removes every ENGAGEMENTD_ variable but the test data location. */
static void
clear_env(void)
{
	bool again = true;

	while (again) {
		again = false;
		for (char **e = environ; *e != NULL; e++) {
			char name[256];
			size_t len = strcspn(*e, "=");

			if (strncmp(*e, "ENGAGEMENTD_", 12) != 0 ||
			    len >= sizeof(name))
				continue;
			memcpy(name, *e, len);
			name[len] = '\0';
			if (strcmp(name, "ENGAGEMENTD_TEST_DATA") == 0)
				continue;
			unsetenv(name);
			again = true; /* environ changed under us */
			break;
		}
	}
}

/* Writes text to a fresh temporary file; returns its path (static). */
static const char *
write_temp_ini(const char *text)
{
	static char path[64];
	int fd;
	size_t len = strlen(text);

	snprintf(path, sizeof(path), "/tmp/check_config_XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static bool
load_text(struct config *cfg, const char *text, struct err *err)
{
	const char *path = write_temp_ini(text);
	bool ok = config_load(cfg, path, err);

	unlink(path);
	return ok;
}

static void
assert_value(const struct config *cfg, const char *section, const char *name,
    const char *expected)
{
	char buf[512];

	ck_assert_msg(config_format_value(cfg, section, name, buf, sizeof(buf)),
	    "no key [%s] %s", section, name);
	ck_assert_str_eq(buf, expected);
}

/* ---- defaults ---- */

START_TEST(test_defaults)
{
	struct config cfg;
	struct err err = { 0 };

	ck_assert(config_load(&cfg, NULL, &err));
	ck_assert_str_eq(cfg.listen, "127.0.0.1:8080");
	ck_assert_int_eq(cfg.threads, 0);
	ck_assert_int_eq(cfg.max_body_bytes, 4194304);
	ck_assert_int_eq(cfg.max_batch_events, 5000);
	ck_assert_int_eq(cfg.max_connections, 1024);
	ck_assert_int_eq(cfg.connection_timeout_s, 30);
	ck_assert_int_eq(cfg.rate_limit_per_s, 0);
	ck_assert_int_eq(cfg.rate_limit_burst, 100);
	ck_assert_str_eq(cfg.database_url, "postgresql:///engagementd");
	ck_assert_int_eq(cfg.pool_size, 0);
	ck_assert_int_eq(cfg.statement_timeout_ms, 10000);
	ck_assert_str_eq(cfg.api_key, "");
	ck_assert_str_eq(cfg.log_level, "info");
	ck_assert(cfg.access_log);
	ck_assert_str_eq(cfg.clock_pin, "");
	ck_assert_int_eq(cfg.scanner_window_s, 10);
	ck_assert_ptr_nonnull(strstr(cfg.scanner_user_agents, "proofpoint"));
	ck_assert_str_eq(cfg.machine_open_cidrs, "17.0.0.0/8");
	ck_assert(cfg.store_ip);
	ck_assert_int_eq(cfg.ip_truncate, 1);
	ck_assert(cfg.spool_enabled);
	ck_assert_str_eq(cfg.spool_dir, ".local/spool");
	ck_assert_int_eq(cfg.spool_max_bytes, 1073741824);
	ck_assert(cfg.cache_enabled);
	ck_assert_int_eq(cfg.cache_max_bytes, 50331648);
	ck_assert_int_eq(cfg.cache_ttl_s, 300);
	ck_assert_int_eq(cfg.min_observable, 3);
	ck_assert_double_eq(cfg.green_score, 70);
	ck_assert_double_eq(cfg.yellow_score, 40);
	ck_assert_double_eq(cfg.orange_score, 20);
	ck_assert_double_eq(cfg.risk_medium, 25);
	ck_assert_double_eq(cfg.risk_elevated, 50);
	ck_assert_double_eq(cfg.risk_high, 75);
	ck_assert_int_eq(cfg.refit_interval_s, 3600);
	ck_assert_int_eq(cfg.min_fit_contacts, 50);
	for (int i = 0; i < CFG_SENDER_COUNT; i++) {
		const struct config_sender *s = &cfg.senders[i];

		ck_assert_str_eq(s->public_key, "");
		ck_assert_str_eq(s->signing_key, "");
		ck_assert_str_eq(s->signed_url, "");
		ck_assert_str_eq(s->cert_dir, "");
		ck_assert_str_eq(s->topic_arn, "");
		ck_assert_str_eq(s->username, "");
		ck_assert_str_eq(s->password, "");
		ck_assert_str_eq(s->token, "");
		ck_assert_int_eq(
		    s->replay_window_s, i == CFG_MAILGUN ? 300 : 0);
	}
	ck_assert(!err_is_set(&err));
	config_free(&cfg);
	ck_assert_ptr_null(cfg.listen);
	config_free(&cfg); /* twice is harmless */
}
END_TEST

START_TEST(test_sender_names)
{
	ck_assert_str_eq(config_sender_name(CFG_SENDGRID), "sendgrid");
	ck_assert_str_eq(config_sender_name(CFG_MAILGUN), "mailgun");
	ck_assert_str_eq(config_sender_name(CFG_POSTMARK), "postmark");
	ck_assert_str_eq(config_sender_name(CFG_SES), "ses");
	ck_assert_str_eq(config_sender_name(CFG_SPARKPOST), "sparkpost");
	ck_assert_str_eq(config_sender_name(CFG_MANDRILL), "mandrill");
	ck_assert_str_eq(config_sender_name(CFG_BREVO), "brevo");
	ck_assert_str_eq(config_sender_name(CFG_MAILJET), "mailjet");
	ck_assert_ptr_null(config_sender_name(CFG_SENDER_COUNT));
}
END_TEST

/* ---- value types and bounds, driven through the environment ---- */

struct env_case {
	const char *var;
	const char *value;
	bool ok;
	const char *section; /* when ok: the key and its formatted value */
	const char *name;
	const char *expected;
};

static const struct env_case env_cases[] = {
	/* int: bounds inclusive, strict digits */
	{ "ENGAGEMENTD_HTTP_THREADS", "256", true, "http", "threads", "256" },
	{ "ENGAGEMENTD_HTTP_THREADS", "257", false },
	{ "ENGAGEMENTD_HTTP_THREADS", "-1", false },
	{ "ENGAGEMENTD_HTTP_THREADS", "+7", true, "http", "threads", "7" },
	{ "ENGAGEMENTD_HTTP_THREADS", "4x", false },
	{ "ENGAGEMENTD_HTTP_THREADS", " 4", false },
	{ "ENGAGEMENTD_HTTP_THREADS", "", false },
	{ "ENGAGEMENTD_HTTP_THREADS", "99999999999999999999", false },
	{ "ENGAGEMENTD_HTTP_MAX_BODY_BYTES", "1073741824", true, "http",
	    "max_body_bytes", "1073741824" },
	{ "ENGAGEMENTD_HTTP_MAX_BODY_BYTES", "1073741825", false },
	{ "ENGAGEMENTD_HTTP_MAX_BATCH_EVENTS", "0", false },
	{ "ENGAGEMENTD_INGEST_SCANNER_WINDOW_S", "3600", true, "ingest",
	    "scanner_window_s", "3600" },
	{ "ENGAGEMENTD_INGEST_SCANNER_WINDOW_S", "3601", false },
	/* int64 */
	{ "ENGAGEMENTD_SPOOL_MAX_BYTES", "10995116277760", true, "spool",
	    "max_bytes", "10995116277760" },
	{ "ENGAGEMENTD_SPOOL_MAX_BYTES", "-5", false },
	{ "ENGAGEMENTD_SPOOL_MAX_BYTES", "1.5", false },
	/* double */
	{ "ENGAGEMENTD_MODEL_RISK_HIGH", "99.25", true, "model", "risk_high",
	    "99.25" },
	{ "ENGAGEMENTD_MODEL_RISK_HIGH", "100.5", false },
	{ "ENGAGEMENTD_MODEL_RISK_HIGH", "inf", false },
	{ "ENGAGEMENTD_MODEL_RISK_HIGH", "80%", false },
	/* bool */
	{ "ENGAGEMENTD_LOG_ACCESS_LOG", "off", true, "log", "access_log",
	    "false" },
	{ "ENGAGEMENTD_LOG_ACCESS_LOG", "ON", true, "log", "access_log",
	    "true" },
	{ "ENGAGEMENTD_LOG_ACCESS_LOG", "1", true, "log", "access_log",
	    "true" },
	{ "ENGAGEMENTD_LOG_ACCESS_LOG", "2", false },
	{ "ENGAGEMENTD_INGEST_IP_TRUNCATE", "no", true, "ingest", "ip_truncate",
	    "false" },
	/* strings with checks */
	{ "ENGAGEMENTD_HTTP_LISTEN", "[::1]:0", true, "http", "listen",
	    "[::1]:0" },
	{ "ENGAGEMENTD_HTTP_LISTEN", "host:65536", false },
	{ "ENGAGEMENTD_HTTP_LISTEN", ":80", false },
	{ "ENGAGEMENTD_LOG_LEVEL", "warn", true, "log", "level", "warn" },
	{ "ENGAGEMENTD_CLOCK_PIN", "2026-07-01T12:00:00.250+02:00", true,
	    "clock", "pin", "2026-07-01T12:00:00.250+02:00" },
	{ "ENGAGEMENTD_CLOCK_PIN", "2026-13-01T00:00:00Z", false },
	{ "ENGAGEMENTD_INGEST_MACHINE_OPEN_CIDRS", "", true, "ingest",
	    "machine_open_cidrs", "" },
	{ "ENGAGEMENTD_INGEST_MACHINE_OPEN_CIDRS", "2620:149::/129", false },
	{ "ENGAGEMENTD_INGEST_MACHINE_OPEN_CIDRS", "10.0.0.1", false },
	{ "ENGAGEMENTD_SPOOL_DIR", "", false },
	{ "ENGAGEMENTD_BREVO_TOKEN", "test-brevo-bearer-token-0001", true,
	    "brevo", "token", "test-brevo-bearer-token-0001" },
	{ "ENGAGEMENTD_MAILJET_REPLAY_WINDOW_S", "86401", false },
	/* line breaks: only where a PEM key may go */
	{ "ENGAGEMENTD_SENDGRID_PUBLIC_KEY",
	    "-----BEGIN PUBLIC KEY-----\r\nMFkw\n-----END PUBLIC KEY-----\n",
	    true, "sendgrid", "public_key",
	    "-----BEGIN PUBLIC KEY-----\r\nMFkw\n-----END PUBLIC KEY-----\n" },
	{ "ENGAGEMENTD_MANDRILL_SIGNED_URL", "https://hooks.example.com/\n",
	    false },
	{ "ENGAGEMENTD_SENDGRID_PUBLIC_KEY", "MFkw\tEw", false },
};

START_TEST(test_env_values)
{
	const struct env_case *c = &env_cases[_i];
	struct config cfg;
	struct err err = { 0 };
	bool ok;

	setenv(c->var, c->value, 1);
	ok = config_load(&cfg, NULL, &err);
	unsetenv(c->var);
	ck_assert_msg(ok == c->ok, "%s=\"%s\": expected %s, got %s (%s)",
	    c->var, c->value, c->ok ? "ok" : "error", ok ? "ok" : "error",
	    err.message);
	if (ok) {
		assert_value(&cfg, c->section, c->name, c->expected);
	} else {
		char prefix[128];

		snprintf(prefix, sizeof(prefix),
		    "environment %s: invalid value", c->var);
		ck_assert_msg(strncmp(err.message, prefix, strlen(prefix)) == 0,
		    "message \"%s\" does not name %s", err.message, c->var);
		ck_assert_str_eq(err.code, "config_invalid");
	}
	config_free(&cfg);
}
END_TEST

/* ---- environment precedence ---- */

START_TEST(test_env_wins_over_file)
{
	struct config cfg;
	struct err err = { 0 };

	setenv("ENGAGEMENTD_HTTP_THREADS", "12", 1);
	setenv("ENGAGEMENTD_MAILGUN_SIGNING_KEY", "from-env", 1);
	ck_assert(load_text(&cfg,
	    "[http]\nthreads = 3\nmax_connections = 77\n"
	    "[mailgun]\nsigning_key = from-file\n",
	    &err));
	unsetenv("ENGAGEMENTD_HTTP_THREADS");
	unsetenv("ENGAGEMENTD_MAILGUN_SIGNING_KEY");
	ck_assert_int_eq(cfg.threads, 12);
	ck_assert_int_eq(cfg.max_connections, 77); /* file still applies */
	ck_assert_str_eq(cfg.senders[CFG_MAILGUN].signing_key, "from-env");
	config_free(&cfg);
}
END_TEST

START_TEST(test_aliases)
{
	struct config cfg;
	struct err err = { 0 };

	setenv("ENGAGEMENTD_LISTEN", "127.0.0.1:9999", 1);
	setenv("ENGAGEMENTD_DATABASE_URL", "postgresql://u@db/x", 1);
	setenv("ENGAGEMENTD_API_KEY", "ek_live_abc", 1);
	setenv("ENGAGEMENTD_LOG_LEVEL", "debug", 1);
	ck_assert(load_text(
	    &cfg, "[http]\nlisten = 0.0.0.0:1\n[log]\nlevel = error\n", &err));
	ck_assert_str_eq(cfg.listen, "127.0.0.1:9999");
	ck_assert_str_eq(cfg.database_url, "postgresql://u@db/x");
	ck_assert_str_eq(cfg.api_key, "ek_live_abc");
	ck_assert_str_eq(cfg.log_level, "debug");
	config_free(&cfg);

	/* The per-key name wins over the alias. */
	setenv("ENGAGEMENTD_HTTP_LISTEN", "127.0.0.1:7777", 1);
	ck_assert(config_load(&cfg, NULL, &err));
	ck_assert_str_eq(cfg.listen, "127.0.0.1:7777");
	config_free(&cfg);
	clear_env();
}
END_TEST

START_TEST(test_bad_alias_named)
{
	struct config cfg;
	struct err err = { 0 };

	setenv("ENGAGEMENTD_LOG_LEVEL", "loud", 1);
	ck_assert(!config_load(&cfg, NULL, &err));
	unsetenv("ENGAGEMENTD_LOG_LEVEL");
	ck_assert_str_eq(err.message,
	    "environment ENGAGEMENTD_LOG_LEVEL: invalid value \"loud\" for "
	    "[log] level: expected debug, info, warning or error");
	config_free(&cfg);
}
END_TEST

/* ---- secrets ---- */

START_TEST(test_secret_env_not_echoed)
{
	static const char *const vars[] = { "ENGAGEMENTD_API_KEY",
		"ENGAGEMENTD_AUTH_API_KEY", "ENGAGEMENTD_MANDRILL_SIGNING_KEY",
		"ENGAGEMENTD_POSTMARK_PASSWORD", "ENGAGEMENTD_BREVO_TOKEN" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		struct config cfg;
		struct err err = { 0 };

		setenv(vars[i], "topsecret\nvalue", 1);
		ck_assert(!config_load(&cfg, NULL, &err));
		unsetenv(vars[i]);
		ck_assert_ptr_nonnull(strstr(err.message, vars[i]));
		ck_assert_ptr_nonnull(strstr(err.message, "invalid value for"));
		ck_assert_ptr_null(strstr(err.message, "topsecret"));
		config_free(&cfg);
	}
}
END_TEST

/* ---- messages and cross-key checks ---- */

START_TEST(test_unknown_key_message)
{
	struct config cfg;
	struct err err = { 0 };
	const char *path = write_temp_ini("; comment\n[log]\nlevel = info\n"
					  "colour = yes\n");
	char expected[256];

	ck_assert(!config_load(&cfg, path, &err));
	snprintf(expected, sizeof(expected),
	    "%s:4: unknown key \"colour\" in section [log]", path);
	ck_assert_str_eq(err.message, expected);
	unlink(path);
	config_free(&cfg);
}
END_TEST

START_TEST(test_missing_file)
{
	struct config cfg;
	struct err err = { 0 };

	ck_assert(!config_load(&cfg, "/nonexistent/engagementd.ini", &err));
	ck_assert_ptr_nonnull(
	    strstr(err.message, "could not open /nonexistent/engagementd.ini"));
	config_free(&cfg);
}
END_TEST

START_TEST(test_risk_order)
{
	struct config cfg;
	struct err err = { 0 };

	ck_assert(!load_text(&cfg, "[model]\nrisk_elevated = 80\n", &err));
	ck_assert_ptr_nonnull(
	    strstr(err.message, "risk_elevated <= risk_high"));
	config_free(&cfg);

	err_clear(&err);
	ck_assert(load_text(&cfg,
	    "[model]\nrisk_medium = 10\nrisk_elevated = 10\nrisk_high = 10\n",
	    &err));
	ck_assert_double_eq(cfg.risk_elevated, 10);
	config_free(&cfg);
}
END_TEST

START_TEST(test_format_value_unknown)
{
	struct config cfg;
	struct err err = { 0 };
	char buf[16];

	ck_assert(config_load(&cfg, NULL, &err));
	ck_assert(!config_format_value(&cfg, "http", "nope", buf, sizeof(buf)));
	ck_assert(
	    !config_format_value(&cfg, "nope", "listen", buf, sizeof(buf)));
	/* A short buffer truncates instead of overflowing. */
	ck_assert(config_format_value(&cfg, "http", "listen", buf, 5));
	ck_assert_str_eq(buf, "127.");
	config_free(&cfg);
}
END_TEST

/* ---- sample files: each states its expected result in its comments ---- */

struct sample_expect {
	bool ok;
	char message[256];
	char absent[256];
	char values[16][256];
	int value_count;
};

static void
read_expectations(const char *path, struct sample_expect *ex)
{
	FILE *fp = fopen(path, "r");
	char line[256]; /* fits every field below after its prefix */

	ck_assert_msg(fp != NULL, "cannot open %s", path);
	memset(ex, 0, sizeof(*ex));
	ex->ok = true;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "; expect: error") == 0)
			ex->ok = false;
		else if (strncmp(line, "; message: ", 11) == 0)
			snprintf(
			    ex->message, sizeof(ex->message), "%s", line + 11);
		else if (strncmp(line, "; absent: ", 10) == 0)
			snprintf(
			    ex->absent, sizeof(ex->absent), "%s", line + 10);
		else if (strncmp(line, "; value: ", 9) == 0 &&
			 ex->value_count < 16)
			snprintf(
			    ex->values[ex->value_count++], 256, "%s", line + 9);
	}
	fclose(fp);
}

/* Checks one "[section] name = value" expectation. */
static void
check_expected_value(
    const struct config *cfg, const char *path, const char *spec)
{
	char section[64], name[64], buf[512];
	const char *eq = strstr(spec, " =");
	const char *want;

	ck_assert_msg(
	    sscanf(spec, "[%63[^]]] %63s", section, name) == 2 && eq != NULL,
	    "%s: bad value line \"%s\"", path, spec);
	want = eq[2] == ' ' ? eq + 3 : eq + 2;
	ck_assert_msg(config_format_value(cfg, section, name, buf, sizeof(buf)),
	    "%s: no key [%s] %s", path, section, name);
	ck_assert_msg(strcmp(buf, want) == 0,
	    "%s: [%s] %s is \"%s\", not \"%s\"", path, section, name, buf,
	    want);
}

static int
sample_filter(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return len > 4 && strcmp(d->d_name + len - 4, ".ini") == 0;
}

START_TEST(test_sample_files)
{
	struct dirent **names;
	char dir[512];
	int n, good = 0, bad = 0;

	snprintf(dir, sizeof(dir), "%s/config", data_dir());
	n = scandir(dir, &names, sample_filter, alphasort);
	ck_assert_msg(n > 0, "no samples in %s", dir);
	for (int i = 0; i < n; i++) {
		struct sample_expect ex;
		struct config cfg;
		struct err err = { 0 };
		char path[1024];
		bool ok;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		read_expectations(path, &ex);
		ok = config_load(&cfg, path, &err);
		ck_assert_msg(ok == ex.ok, "%s: expected %s, got %s (%s)", path,
		    ex.ok ? "ok" : "an error", ok ? "ok" : "an error",
		    err.message);
		if (ok) {
			ck_assert_msg(!err_is_set(&err), "%s", path);
			for (int v = 0; v < ex.value_count; v++)
				check_expected_value(&cfg, path, ex.values[v]);
			good++;
		} else {
			ck_assert_msg(
			    ex.message[0] != '\0', "%s: no message line", path);
			ck_assert_msg(strstr(err.message, ex.message) != NULL,
			    "%s: message \"%s\" lacks \"%s\"", path,
			    err.message, ex.message);
			if (ex.message[0] == ':')
				ck_assert_msg(strncmp(err.message, path,
						  strlen(path)) == 0,
				    "%s: message \"%s\" does not start with "
				    "the file name",
				    path, err.message);
			if (ex.absent[0] != '\0')
				ck_assert_msg(
				    strstr(err.message, ex.absent) == NULL,
				    "%s: message echoes \"%s\"", path,
				    ex.absent);
			bad++;
		}
		config_free(&cfg);
		free(names[i]);
	}
	free(names);
	ck_assert_int_ge(good, 5);
	ck_assert_int_ge(bad, 10);
}
END_TEST

/* ---- the example file and the printed table ---- */

struct key_list {
	char keys[128][80];
	int count;
};

static int
collect_key(
    void *user, const char *section, const char *name, const char *value)
{
	struct key_list *list = user;

	(void)value;
	ck_assert_int_lt(list->count, 128);
	snprintf(list->keys[list->count++], 80, "%s.%s", section, name);
	return 1;
}

static bool
list_has(const struct key_list *list, const char *key)
{
	for (int i = 0; i < list->count; i++) {
		if (strcmp(list->keys[i], key) == 0)
			return true;
	}
	return false;
}

/* Loads path and checks every key of the table has its default value. */
static void
assert_file_matches_defaults(const char *path, const struct key_list *keys)
{
	struct config defaults, loaded;
	struct err err = { 0 };

	ck_assert(config_load(&defaults, NULL, &err));
	ck_assert_msg(
	    config_load(&loaded, path, &err), "%s: %s", path, err.message);
	for (int i = 0; i < keys->count; i++) {
		char section[40], name[40], a[512], b[512];

		ck_assert_int_eq(
		    sscanf(keys->keys[i], "%39[^.].%39s", section, name), 2);
		ck_assert(config_format_value(
		    &defaults, section, name, a, sizeof(a)));
		ck_assert(
		    config_format_value(&loaded, section, name, b, sizeof(b)));
		ck_assert_msg(strcmp(a, b) == 0,
		    "%s: [%s] %s is \"%s\", default \"%s\"", path, section,
		    name, b, a);
	}
	config_free(&defaults);
	config_free(&loaded);
}

static void
table_keys(struct key_list *list, const char *path)
{
	FILE *fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	config_print_table(fp);
	fclose(fp);
	memset(list, 0, sizeof(*list));
	ck_assert_int_eq(ini_parse(path, collect_key, list), 0);
}

START_TEST(test_print_table)
{
	struct key_list keys;
	char path[] = "/tmp/check_config_table_XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	table_keys(&keys, path);
	/* 37 service keys and 9 for each of the 8 senders. */
	ck_assert_int_eq(keys.count, 37 + 9 * CFG_SENDER_COUNT);
	ck_assert(list_has(&keys, "cache.ttl_s"));
	ck_assert(list_has(&keys, "http.listen"));
	ck_assert(list_has(&keys, "mailjet.replay_window_s"));
	assert_file_matches_defaults(path, &keys);
	unlink(path);
}
END_TEST

START_TEST(test_example_file)
{
	struct key_list table, example;
	char path[] = "/tmp/check_config_table_XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	table_keys(&table, path);
	unlink(path);

	memset(&example, 0, sizeof(example));
	ck_assert_int_eq(
	    ini_parse("config.example.ini", collect_key, &example), 0);
	for (int i = 0; i < table.count; i++)
		ck_assert_msg(list_has(&example, table.keys[i]),
		    "config.example.ini lacks %s", table.keys[i]);
	for (int i = 0; i < example.count; i++)
		ck_assert_msg(list_has(&table, example.keys[i]),
		    "config.example.ini has unknown %s", example.keys[i]);
	ck_assert_int_eq(example.count, table.count);
	assert_file_matches_defaults("config.example.ini", &table);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("defaults");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_sender_names);
	tcase_add_test(tc, test_format_value_unknown);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_loop_test(tc, test_env_values, 0,
	    (int)(sizeof(env_cases) / sizeof(env_cases[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("environment");
	tcase_add_test(tc, test_env_wins_over_file);
	tcase_add_test(tc, test_aliases);
	tcase_add_test(tc, test_bad_alias_named);
	tcase_add_test(tc, test_secret_env_not_echoed);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_test(tc, test_unknown_key_message);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_risk_order);
	tcase_add_test(tc, test_sample_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("reference");
	tcase_add_test(tc, test_print_table);
	tcase_add_test(tc, test_example_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	clear_env();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
