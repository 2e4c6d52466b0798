/*
 * config.c - the configuration key table, INI parsing and environment
 * overrides (see include/core/config.h).
 *
 * One static table describes every key: defaults, parsing, bounds, the
 * printed reference and the checks on config.example.ini all come from it,
 * so adding a key means adding one row.  String fields are always non-NULL
 * after config_load ("" when unset), so callers test value[0], not NULL.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "core/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"

enum key_type {
	KEY_STRING,
	KEY_INT,
	KEY_INT64,
	KEY_DOUBLE,
	KEY_BOOL,
	KEY_BOOL_INT, /* a yes/no value kept in an int field */
};

/* The value is a secret: never echoed in messages. */
#define KEY_SECRET 0x1
/* Line breaks are allowed (a PEM key given through the environment). */
#define KEY_MULTILINE 0x2

/* Extra check on a string value; fills reason when it rejects. */
typedef bool (*key_check_fn)(const char *value, char *reason, size_t len);

struct config_key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset;
	const char *def;
	double min; /* numeric bounds, inclusive */
	double max;
	unsigned flags;
	key_check_fn check;
	const char *help;
};

struct config_section {
	const char *name;
	const char *help;
};

static bool check_listen(const char *value, char *reason, size_t len);
static bool check_not_empty(const char *value, char *reason, size_t len);
static bool check_log_level(const char *value, char *reason, size_t len);
static bool check_clock_pin(const char *value, char *reason, size_t len);
static bool check_cidrs(const char *value, char *reason, size_t len);

#define FIELD(f) offsetof(struct config, f)
#define SENDER(id, f) offsetof(struct config, senders[id].f)
#define DEFAULT_SCANNER_AGENTS                                                 \
	"barracuda,proofpoint,mimecast,symantec,forcepoint,trendmicro,"        \
	"messagelabs,fortiguard,bitdefender,safelinks"

/* The nine keys every sender section has; each sender uses some. */
#define SENDER_KEYS(id, sect, replay)                                          \
	{ sect, "public_key", KEY_STRING, SENDER(id, public_key), "", 0, 0,    \
		KEY_MULTILINE, NULL,                                           \
		"webhook verification key: base64 DER, or PEM via the "        \
		"environment" },                                               \
	    { sect, "signing_key", KEY_STRING, SENDER(id, signing_key), "", 0, \
		    0, KEY_SECRET, NULL,                                       \
		    "shared secret of the webhook signature (HMAC)" },         \
	    { sect, "signed_url", KEY_STRING, SENDER(id, signed_url), "", 0,   \
		    0, 0, NULL,                                                \
		    "webhook URL exactly as registered with the sender" },     \
	    { sect, "cert_dir", KEY_STRING, SENDER(id, cert_dir), "", 0, 0, 0, \
		    NULL, "directory of trusted PEM signing certificates" },   \
	    { sect, "topic_arn", KEY_STRING, SENDER(id, topic_arn), "", 0, 0,  \
		    0, NULL, "the only notification topic accepted" },         \
	    { sect, "username", KEY_STRING, SENDER(id, username), "", 0, 0, 0, \
		    NULL, "basic-auth user expected on webhook calls" },       \
	    { sect, "password", KEY_STRING, SENDER(id, password), "", 0, 0,    \
		    KEY_SECRET, NULL,                                          \
		    "basic-auth password expected on webhook calls" },         \
	    { sect, "token", KEY_STRING, SENDER(id, token), "", 0, 0,          \
		    KEY_SECRET, NULL,                                          \
		    "shared token expected on webhook calls" },                \
	{                                                                      \
		sect, "replay_window_s", KEY_INT, SENDER(id, replay_window_s), \
		    replay, 0, 86400, 0, NULL,                                 \
		    "reject signatures older than this many seconds; 0: off"   \
	}

static const struct config_key config_keys[] = {
	/* section, name, type, field, default, min, max, flags, check, help */
	{ "http", "listen", KEY_STRING, FIELD(listen), "127.0.0.1:8080", 0, 0,
	    0, check_listen, "address and port to serve on, host:port" },
	{ "http", "threads", KEY_INT, FIELD(threads), "0", 0, 256, 0, NULL,
	    "threads polling connections (epoll); 0: one per core" },
	{ "http", "max_body_bytes", KEY_INT, FIELD(max_body_bytes), "4194304",
	    1024, 1073741824, 0, NULL, "largest request body accepted" },
	{ "http", "max_batch_events", KEY_INT, FIELD(max_batch_events), "5000",
	    1, 100000, 0, NULL, "most events accepted in one request" },
	{ "http", "max_connections", KEY_INT, FIELD(max_connections), "1024", 1,
	    100000, 0, NULL, "most client connections open at once" },
	{ "http", "connection_timeout_s", KEY_INT, FIELD(connection_timeout_s),
	    "30", 0, 3600, 0, NULL, "idle connection timeout; 0: none" },
	{ "http", "rate_limit_per_s", KEY_INT, FIELD(rate_limit_per_s), "0", 0,
	    1000000, 0, NULL, "requests per second per API key; 0: no limit" },
	{ "http", "rate_limit_burst", KEY_INT, FIELD(rate_limit_burst), "100",
	    1, 1000000, 0, NULL, "requests an idle API key may send at once" },

	{ "database", "url", KEY_STRING, FIELD(database_url),
	    "postgresql:///engagementd", 0, 0, 0, check_not_empty,
	    "libpq connection URI or conninfo string" },
	{ "database", "pool_size", KEY_INT, FIELD(pool_size), "0", 0, 1024, 0,
	    NULL, "database connections; 0: three per core" },
	{ "database", "statement_timeout_ms", KEY_INT,
	    FIELD(statement_timeout_ms), "10000", 0, 3600000, 0, NULL,
	    "longest a statement may run; 0: no limit" },

	{ "auth", "api_key", KEY_STRING, FIELD(api_key), "", 0, 0, KEY_SECRET,
	    NULL, "key of the default account, created at start if missing" },

	{ "log", "level", KEY_STRING, FIELD(log_level), "info", 0, 0, 0,
	    check_log_level,
	    "lowest level written: debug, info, warning, error" },
	{ "log", "access_log", KEY_BOOL, FIELD(access_log), "true", 0, 0, 0,
	    NULL, "one info line per finished request" },

	{ "clock", "pin", KEY_STRING, FIELD(clock_pin), "", 0, 0, 0,
	    check_clock_pin,
	    "RFC 3339 time the service clock is fixed at; "
	    "empty: real time (tests only)" },

	{ "ingest", "scanner_window_s", KEY_INT, FIELD(scanner_window_s), "10",
	    0, 3600, 0, NULL,
	    "a click this soon after delivery is a link scanner's; 0: off" },
	{ "ingest", "scanner_burst_links", KEY_INT, FIELD(scanner_burst_links),
	    "3", 0, 1000, 0, NULL,
	    "clicks on this many different links of one message within the burst window are a scanner's; 0: off" },
	{ "ingest", "scanner_burst_window_s", KEY_INT,
	    FIELD(scanner_burst_window_s), "2", 0, 3600, 0, NULL,
	    "the burst window, in seconds" },
	{ "ingest", "scanner_user_agents", KEY_STRING,
	    FIELD(scanner_user_agents), DEFAULT_SCANNER_AGENTS, 0, 0, 0, NULL,
	    "comma-separated user-agent substrings of link scanners "
	    "(case-insensitive)" },
	{ "ingest", "machine_open_cidrs", KEY_STRING, FIELD(machine_open_cidrs),
	    "17.0.0.0/8", 0, 0, 0, check_cidrs,
	    "comma-separated networks whose opens are machine opens" },
	{ "ingest", "store_ip", KEY_BOOL, FIELD(store_ip), "true", 0, 0, 0,
	    NULL, "keep the client IP address of opens and clicks" },
	{ "ingest", "ip_truncate", KEY_BOOL_INT, FIELD(ip_truncate), "true", 0,
	    0, 0, NULL, "keep only the /24 of IPv4 and the /48 of IPv6" },

	{ "spool", "enabled", KEY_BOOL, FIELD(spool_enabled), "true", 0, 0, 0,
	    NULL,
	    "write requests to a local spool while the database is down" },
	{ "spool", "dir", KEY_STRING, FIELD(spool_dir), ".local/spool", 0, 0, 0,
	    check_not_empty, "directory of the spool files" },
	{ "spool", "max_bytes", KEY_INT64, FIELD(spool_max_bytes), "1073741824",
	    0, 1125899906842624.0, 0, NULL,
	    "spool size limit in bytes; a full spool answers 503" },

	{ "cache", "enabled", KEY_BOOL, FIELD(cache_enabled), "true", 0, 0, 0,
	    NULL, "keep recently read scorecard rows in memory" },
	{ "cache", "max_bytes", KEY_INT64, FIELD(cache_max_bytes), "50331648",
	    65536, 1099511627776.0, 0, NULL,
	    "memory the cache may hold, in bytes; the oldest unread go first" },
	{ "cache", "ttl_s", KEY_INT, FIELD(cache_ttl_s), "300", 1, 86400, 0,
	    NULL,
	    "seconds a cached row is trusted at most (edits made without the "
	    "service are seen after this)" },

	{ "model", "min_observable", KEY_INT, FIELD(min_observable), "3", 1,
	    1000, 0, NULL,
	    "observable messages needed before a contact "
	    "leaves the gray band" },
	{ "model", "green_score", KEY_DOUBLE, FIELD(green_score), "70", 0, 100,
	    0, NULL, "lowest score of the green band" },
	{ "model", "yellow_score", KEY_DOUBLE, FIELD(yellow_score), "40", 0,
	    100, 0, NULL, "lowest score of the yellow band" },
	{ "model", "orange_score", KEY_DOUBLE, FIELD(orange_score), "20", 0,
	    100, 0, NULL, "lowest score of the orange band; below: red" },
	{ "model", "risk_medium", KEY_DOUBLE, FIELD(risk_medium), "25", 0, 100,
	    0, NULL, "lowest risk meter labelled medium" },
	{ "model", "risk_elevated", KEY_DOUBLE, FIELD(risk_elevated), "50", 0,
	    100, 0, NULL, "lowest risk meter labelled elevated" },
	{ "model", "risk_high", KEY_DOUBLE, FIELD(risk_high), "75", 0, 100, 0,
	    NULL, "lowest risk meter labelled high" },
	{ "model", "refit_interval_s", KEY_INT, FIELD(refit_interval_s), "3600",
	    0, 604800, 0, NULL, "seconds between model refits; 0: on demand" },
	{ "model", "min_fit_contacts", KEY_INT, FIELD(min_fit_contacts), "50",
	    1, 100000000, 0, NULL, "contacts needed before a refit is tried" },

	SENDER_KEYS(CFG_SENDGRID, "sendgrid", "0"),
	SENDER_KEYS(CFG_MAILGUN, "mailgun", "300"),
	SENDER_KEYS(CFG_POSTMARK, "postmark", "0"),
	SENDER_KEYS(CFG_SES, "ses", "0"),
	SENDER_KEYS(CFG_SPARKPOST, "sparkpost", "0"),
	SENDER_KEYS(CFG_MANDRILL, "mandrill", "0"),
	SENDER_KEYS(CFG_BREVO, "brevo", "0"),
	SENDER_KEYS(CFG_MAILJET, "mailjet", "0"),
};

#define CONFIG_KEY_COUNT (sizeof(config_keys) / sizeof(config_keys[0]))

/* Order of enum config_sender_id. */
static const char *const config_sender_names[CFG_SENDER_COUNT] = { "sendgrid",
	"mailgun", "postmark", "ses", "sparkpost", "mandrill", "brevo",
	"mailjet" };

static const struct config_section config_sections[] = {
	{ "http", "HTTP server and request limits" },
	{ "database", "PostgreSQL connection" },
	{ "auth", "API keys" },
	{ "log", "JSON log lines on stderr" },
	{ "clock", "service clock" },
	{ "ingest", "event intake: machine opens and link scanners" },
	{ "spool", "local spool used while the database cannot commit" },
	{ "cache", "scorecard cache (docs/cache.md)" },
	{ "model", "scorecard bands and model fitting" },
	{ "sendgrid", "SendGrid uses public_key (ECDSA verification key)" },
	{ "mailgun", "Mailgun uses signing_key and replay_window_s" },
	{ "postmark", "Postmark uses username and password, or token" },
	{ "ses", "Amazon SES (via SNS) uses cert_dir and topic_arn" },
	{ "sparkpost", "SparkPost uses username and password" },
	{ "mandrill", "Mandrill uses signing_key and signed_url" },
	{ "brevo", "Brevo uses username and password, or token" },
	{ "mailjet", "Mailjet uses username and password" },
};

/*
 * The contract's short names.  They are applied before the per-key names,
 * so ENGAGEMENTD_HTTP_LISTEN wins over ENGAGEMENTD_LISTEN when both are set.
 */
static const struct {
	const char *env;
	const char *section;
	const char *name;
} config_aliases[] = {
	{ "ENGAGEMENTD_LISTEN", "http", "listen" },
	{ "ENGAGEMENTD_DATABASE_URL", "database", "url" },
	{ "ENGAGEMENTD_API_KEY", "auth", "api_key" },
	{ "ENGAGEMENTD_LOG_LEVEL", "log", "level" },
};

/* ---- value checks ---- */

static bool
check_not_empty(const char *value, char *reason, size_t len)
{
	if (value[0] != '\0')
		return true;
	snprintf(reason, len, "must not be empty");
	return false;
}

static bool
check_listen(const char *value, char *reason, size_t len)
{
	const char *colon = strrchr(value, ':');
	char *end;
	long port;

	if (colon == NULL || colon == value || colon[1] == '\0') {
		snprintf(reason, len, "expected host:port");
		return false;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || !isdigit((unsigned char)colon[1]) ||
	    port < 0 || port > 65535) {
		snprintf(reason, len, "port must be a number from 0 to 65535");
		return false;
	}
	return true;
}

static bool
check_log_level(const char *value, char *reason, size_t len)
{
	if (log_level_parse(value, NULL))
		return true;
	snprintf(reason, len, "expected debug, info, warning or error");
	return false;
}

static bool
check_clock_pin(const char *value, char *reason, size_t len)
{
	int64_t ms;

	if (value[0] == '\0' || time_parse_iso8601(value, &ms))
		return true;
	snprintf(reason, len, "expected an RFC 3339 time");
	return false;
}

/* One "address/prefix" item, surrounding blanks already removed. */
static bool
cidr_valid(const char *item, size_t item_len)
{
	char text[64];
	unsigned char addr[16];
	char *slash, *end;
	long bits;
	int family;

	if (item_len == 0 || item_len >= sizeof(text))
		return false;
	memcpy(text, item, item_len);
	text[item_len] = '\0';
	slash = strchr(text, '/');
	if (slash == NULL || !isdigit((unsigned char)slash[1]))
		return false;
	*slash = '\0';
	family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(family, text, addr) != 1)
		return false;
	errno = 0;
	bits = strtol(slash + 1, &end, 10);
	return errno == 0 && *end == '\0' && bits >= 0 &&
	       bits <= (family == AF_INET ? 32 : 128);
}

static bool
check_cidrs(const char *value, char *reason, size_t len)
{
	const char *p = value;

	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		const char *stop = comma != NULL ? comma : p + strlen(p);
		const char *start = p;

		while (start < stop && isspace((unsigned char)*start))
			start++;
		while (stop > start && isspace((unsigned char)stop[-1]))
			stop--;
		if (!cidr_valid(start, (size_t)(stop - start))) {
			snprintf(reason, len,
			    "\"%.*s\" is not a network such as 17.0.0.0/8",
			    (int)(stop - start), start);
			return false;
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return true;
}

/* ---- parsing one value ---- */

/* Strict decimal integer: optional sign, digits, nothing else. */
static bool
parse_integer(const char *text, long long *out)
{
	const char *digits = text + (text[0] == '-' || text[0] == '+');
	char *end;

	if (!isdigit((unsigned char)digits[0]))
		return false;
	errno = 0;
	*out = strtoll(text, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool
parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool
parse_number(const struct config_key *key, const char *text, double *out,
    char *reason, size_t len)
{
	long long ival;
	char *end;

	if (key->type == KEY_DOUBLE) {
		errno = 0;
		*out = strtod(text, &end);
		if (text[0] == '\0' || isspace((unsigned char)text[0]) ||
		    *end != '\0' || errno != 0 || !isfinite(*out)) {
			snprintf(reason, len, "expected a number");
			return false;
		}
	} else {
		if (!parse_integer(text, &ival)) {
			snprintf(reason, len, "expected a whole number");
			return false;
		}
		*out = (double)ival;
	}
	if (*out < key->min || *out > key->max) {
		snprintf(reason, len, "must be between %.15g and %.15g",
		    key->min, key->max);
		return false;
	}
	return true;
}

static bool
has_control_chars(const char *text, bool allow_line_breaks)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (allow_line_breaks && (*p == '\n' || *p == '\r'))
			continue;
		if (*p < 0x20 || *p == 0x7f)
			return true;
	}
	return false;
}

/* Parses text for key and stores it in cfg; reason says why it failed. */
static bool
key_assign(struct config *cfg, const struct config_key *key, const char *text,
    char *reason, size_t len)
{
	char *slot = (char *)cfg + key->offset;
	double number;
	bool flag;

	switch (key->type) {
	case KEY_STRING:
		if (has_control_chars(text, key->flags & KEY_MULTILINE)) {
			snprintf(reason, len, "contains control characters");
			return false;
		}
		if (key->check != NULL && !key->check(text, reason, len))
			return false;
		free(*(char **)slot);
		*(char **)slot = xstrdup(text);
		return true;
	case KEY_INT:
	case KEY_INT64:
	case KEY_DOUBLE:
		if (!parse_number(key, text, &number, reason, len))
			return false;
		if (key->type == KEY_INT)
			*(int *)slot = (int)number;
		else if (key->type == KEY_INT64)
			*(int64_t *)slot = (int64_t)number;
		else
			*(double *)slot = number;
		return true;
	case KEY_BOOL:
	case KEY_BOOL_INT:
		if (!parse_bool(text, &flag)) {
			snprintf(reason, len, "expected true or false");
			return false;
		}
		if (key->type == KEY_BOOL)
			*(bool *)slot = flag;
		else
			*(int *)slot = flag;
		return true;
	}
	log_error("unknown config key type %d", (int)key->type);
	abort();
}

static const struct config_key *
key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	}
	return NULL;
}

/*
 * Reports a rejected value; where names where it came from ("file:line" or
 * "environment NAME").  Secret values are not repeated.
 */
static void
report_invalid(struct err *err, const char *where, const struct config_key *key,
    const char *value, const char *reason)
{
	if (key->flags & KEY_SECRET)
		err_set(err, 500, "config_invalid",
		    "%s: invalid value for [%s] %s: %s", where, key->section,
		    key->name, reason);
	else
		err_set(err, 500, "config_invalid",
		    "%s: invalid value \"%s\" for [%s] %s: %s", where, value,
		    key->section, key->name, reason);
}

/* ---- the INI file ---- */

struct config_file_state {
	struct config *cfg;
	struct err *err;
	const char *path;
	FILE *fp;
	int line;          /* lines handed to inih so far */
	int max_line;      /* inih's line buffer size */
	int too_long_line; /* first line over the length limit, or 0 */
	int handler_error; /* line of the first rejected key, or 0 */
	bool seen[CONFIG_KEY_COUNT];
};

/*
 * Reads one line for inih, counting lines so the handler knows where it is.
 * inih's fixed line buffer would split a longer line in two and parse the
 * rest as a line of its own, so an over-long line stops the parse instead.
 */
static char *
config_read_line(char *str, int num, void *stream)
{
	struct config_file_state *st = stream;
	size_t len;
	int c;

	st->max_line = num;
	if (st->too_long_line != 0 || fgets(str, num, st->fp) == NULL)
		return NULL;
	st->line++;
	len = strlen(str);
	if (len > 0 && str[len - 1] == '\n')
		return str;
	c = fgetc(st->fp);
	if (c == EOF)
		return str;
	st->too_long_line = st->line;
	return NULL;
}

static int
config_ini_handler(
    void *user, const char *section, const char *name, const char *value)
{
	struct config_file_state *st = user;
	const struct config_key *key = key_find(section, name);
	char where[300];
	char reason[160];

	if (st->handler_error != 0)
		return 0;
	snprintf(where, sizeof(where), "%s:%d", st->path, st->line);
	if (key == NULL) {
		err_set(st->err, 500, "config_invalid",
		    "%s: unknown key \"%s\" in section [%s]", where, name,
		    section);
		st->handler_error = st->line;
		return 0;
	}
	if (st->seen[key - config_keys]) {
		err_set(st->err, 500, "config_invalid",
		    "%s: duplicate key \"%s\" in section [%s]", where, name,
		    section);
		st->handler_error = st->line;
		return 0;
	}
	st->seen[key - config_keys] = true;
	if (!key_assign(st->cfg, key, value, reason, sizeof(reason))) {
		report_invalid(st->err, where, key, value, reason);
		st->handler_error = st->line;
		return 0;
	}
	return 1;
}

static bool
config_load_file(struct config *cfg, const char *path, struct err *err)
{
	struct config_file_state st;
	int bad_line;

	memset(&st, 0, sizeof(st));
	st.cfg = cfg;
	st.err = err;
	st.path = path;
	st.fp = fopen(path, "r");
	if (st.fp == NULL) {
		err_set(err, 500, "config_invalid", "could not open %s: %s",
		    path, strerror(errno));
		return false;
	}
	bad_line =
	    ini_parse_stream(config_read_line, &st, config_ini_handler, &st);
	fclose(st.fp);

	if (st.too_long_line != 0 &&
	    (st.handler_error == 0 || st.too_long_line < st.handler_error)) {
		err_set(err, 500, "config_invalid",
		    "%s:%d: line too long (at most %d characters)", path,
		    st.too_long_line, st.max_line - 2);
		return false;
	}
	/* inih reports its own syntax errors by line, before ours if earlier.
	 */
	if (bad_line > 0 &&
	    (st.handler_error == 0 || bad_line < st.handler_error)) {
		err_set(err, 500, "config_invalid",
		    "%s:%d: syntax error: expected [section] or name = value",
		    path, bad_line);
		return false;
	}
	if (bad_line < 0) {
		err_set(err, 500, "config_invalid", "could not read %s", path);
		return false;
	}
	return st.handler_error == 0;
}

/* ---- environment ---- */

static bool
config_apply_env_value(struct config *cfg, const char *var,
    const struct config_key *key, struct err *err)
{
	const char *value = getenv(var);
	char where[128];
	char reason[160];

	if (value == NULL)
		return true;
	if (key_assign(cfg, key, value, reason, sizeof(reason)))
		return true;
	snprintf(where, sizeof(where), "environment %s", var);
	report_invalid(err, where, key, value, reason);
	return false;
}

static void
env_name_of(const struct config_key *key, char *buf, size_t len)
{
	snprintf(buf, len, "ENGAGEMENTD_%s_%s", key->section, key->name);
	for (char *p = buf; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

static bool
config_load_env(struct config *cfg, struct err *err)
{
	char var[96];

	for (size_t i = 0;
	     i < sizeof(config_aliases) / sizeof(config_aliases[0]); i++) {
		const struct config_key *key =
		    key_find(config_aliases[i].section, config_aliases[i].name);

		if (!config_apply_env_value(
			cfg, config_aliases[i].env, key, err))
			return false;
	}
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		env_name_of(&config_keys[i], var, sizeof(var));
		if (!config_apply_env_value(cfg, var, &config_keys[i], err))
			return false;
	}
	return true;
}

/* ---- whole configuration ---- */

/* Checks that need more than one key. */
static bool
config_check_relations(const struct config *cfg, struct err *err)
{
	if (!(cfg->green_score >= cfg->yellow_score &&
		cfg->yellow_score >= cfg->orange_score)) {
		err_set(err, 500, "config_invalid",
		    "invalid [model] bands: need green_score >= yellow_score >= orange_score (have %g, %g, %g)",
		    cfg->green_score, cfg->yellow_score, cfg->orange_score);
		return false;
	}
	if (!(cfg->risk_medium <= cfg->risk_elevated &&
		cfg->risk_elevated <= cfg->risk_high)) {
		err_set(err, 500, "config_invalid",
		    "invalid [model] risk labels: need risk_medium <= risk_elevated <= risk_high (have %g, %g, %g)",
		    cfg->risk_medium, cfg->risk_elevated, cfg->risk_high);
		return false;
	}
	return true;
}

static void
config_set_defaults(struct config *cfg)
{
	char reason[160];

	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		if (!key_assign(cfg, &config_keys[i], config_keys[i].def,
			reason, sizeof(reason))) {
			log_error("bad default for [%s] %s: %s",
			    config_keys[i].section, config_keys[i].name,
			    reason);
			abort();
		}
	}
}

bool
config_load(struct config *cfg, const char *path, struct err *err)
{
	memset(cfg, 0, sizeof(*cfg));
	config_set_defaults(cfg);
	if (path != NULL && !config_load_file(cfg, path, err))
		return false;
	if (!config_load_env(cfg, err))
		return false;
	return config_check_relations(cfg, err);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		char **slot;

		if (config_keys[i].type != KEY_STRING)
			continue;
		slot = (char **)((char *)cfg + config_keys[i].offset);
		free(*slot);
		*slot = NULL;
	}
}

bool
config_format_value(const struct config *cfg, const char *section,
    const char *name, char *buf, size_t buflen)
{
	const struct config_key *key = key_find(section, name);
	const char *slot;

	if (key == NULL || buf == NULL || buflen == 0)
		return false;
	slot = (const char *)cfg + key->offset;
	switch (key->type) {
	case KEY_STRING:
		snprintf(buf, buflen, "%s",
		    *(char *const *)slot != NULL ? *(char *const *)slot : "");
		return true;
	case KEY_INT:
		snprintf(buf, buflen, "%d", *(const int *)slot);
		return true;
	case KEY_INT64:
		snprintf(
		    buf, buflen, "%lld", (long long)*(const int64_t *)slot);
		return true;
	case KEY_DOUBLE:
		snprintf(buf, buflen, "%.15g", *(const double *)slot);
		return true;
	case KEY_BOOL:
		snprintf(
		    buf, buflen, "%s", *(const bool *)slot ? "true" : "false");
		return true;
	case KEY_BOOL_INT:
		snprintf(
		    buf, buflen, "%s", *(const int *)slot ? "true" : "false");
		return true;
	}
	log_error("unknown config key type %d", (int)key->type);
	abort();
}

static const char *
type_hint(const struct config_key *key, char *buf, size_t len)
{
	switch (key->type) {
	case KEY_STRING:
		return key->flags & KEY_SECRET ? "secret string" : "string";
	case KEY_INT:
	case KEY_INT64:
		snprintf(buf, len, "integer %.0f..%.0f", key->min, key->max);
		return buf;
	case KEY_DOUBLE:
		snprintf(buf, len, "number %.15g..%.15g", key->min, key->max);
		return buf;
	case KEY_BOOL:
	case KEY_BOOL_INT:
		return "true or false";
	}
	return "?";
}

void
config_print_table(FILE *out)
{
	char hint[80];
	char var[96];

	fprintf(out,
	    "; engagementd configuration keys and their defaults.\n"
	    "; Each key can also be set as ENGAGEMENTD_<SECTION>_<NAME>.\n");
	for (size_t s = 0;
	     s < sizeof(config_sections) / sizeof(config_sections[0]); s++) {
		fprintf(out, "\n[%s]\n; %s\n", config_sections[s].name,
		    config_sections[s].help);
		for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
			const struct config_key *key = &config_keys[i];

			if (strcmp(key->section, config_sections[s].name) != 0)
				continue;
			env_name_of(key, var, sizeof(var));
			fprintf(out, "; %s\n;   %s, or env %s\n%s =%s%s\n",
			    key->help, type_hint(key, hint, sizeof(hint)), var,
			    key->name, key->def[0] != '\0' ? " " : "",
			    key->def);
		}
	}
}

const char *
config_sender_name(enum config_sender_id id)
{
	if ((int)id < 0 || id >= CFG_SENDER_COUNT)
		return NULL;
	return config_sender_names[id];
}
