/*
 * config.h - the service's configuration: one table of keys, read from an
 * INI file (inih) and overridden by the environment.
 *
 * Every key [section] name can be set as ENGAGEMENTD_<SECTION>_<NAME> in
 * upper case; the environment wins over the file.  The contract's short
 * names ENGAGEMENTD_LISTEN, ENGAGEMENTD_DATABASE_URL, ENGAGEMENTD_API_KEY and
 * ENGAGEMENTD_LOG_LEVEL are aliases kept for compatibility; when an alias and
 * the per-key name are both set, the per-key name wins.
 *
 * After config_load every string field is non-NULL: "" when unset.
 * config.example.ini lists every key with its default; `engagementd
 * --help-config` prints the same table.
 */
#ifndef ENGAGEMENTD_CORE_CONFIG_H
#define ENGAGEMENTD_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

/* Secrets of one mail sender for the default account. */
struct config_sender {
	char *public_key;
	char *signing_key;
	char *signed_url;
	char *cert_dir;
	char *topic_arn;
	char *username;
	char *password;
	char *token;
	int replay_window_s;
};

enum config_sender_id {
	CFG_SENDGRID = 0,
	CFG_MAILGUN,
	CFG_POSTMARK,
	CFG_SES,
	CFG_SPARKPOST,
	CFG_MANDRILL,
	CFG_BREVO,
	CFG_MAILJET,
	CFG_SENDER_COUNT
};

struct config {
	/* [http] */
	char *listen;         /* host:port, "127.0.0.1:8080" */
	int threads;          /* 0: one per core */
	int max_body_bytes;   /* request body limit */
	int max_batch_events; /* events in one request */
	int max_connections;
	int connection_timeout_s;
	int rate_limit_per_s; /* per API key; 0 disables */
	int rate_limit_burst;
	/* [database] */
	char *database_url; /* libpq URI or conninfo */
	int pool_size;      /* 0: two per core */
	int statement_timeout_ms;
	/* [auth] */
	char *api_key; /* key for the default account, made at start */
	/* [log] */
	char *log_level;
	bool access_log;
	/* [clock] */
	char *clock_pin; /* RFC 3339; empty: real time.  Tests only. */
	/* [ingest] */
	int scanner_window_s;    /* click this soon after delivery: scanner */
	int scanner_burst_links; /* distinct links clicked in a burst ... */
	int scanner_burst_window_s; /* ... within this many seconds: scanner */
	char *scanner_user_agents;  /* comma-separated substrings */
	char *machine_open_cidrs;   /* Apple proxy ranges, comma-separated */
	bool store_ip;              /* false: IPs are not kept */
	int ip_truncate;            /* keep /24 of IPv4, /48 of IPv6 when set */
	/* [spool] */
	bool spool_enabled;
	char *spool_dir;
	int64_t spool_max_bytes;
	/* [cache] */
	bool cache_enabled;
	int64_t cache_max_bytes; /* entries and index, all shards */
	int cache_ttl_s;         /* longest an entry is trusted */
	/* [model] */
	int min_observable;
	double green_score;
	double yellow_score;
	double orange_score;
	double risk_medium;
	double risk_elevated;
	double risk_high;
	int refit_interval_s; /* 0: only on demand */
	int min_fit_contacts;
	/* [sendgrid], [mailgun], ... */
	struct config_sender senders[CFG_SENDER_COUNT];
};

/*
 * Fills cfg with defaults, then the file at path (NULL: none), then the
 * environment.  On failure err names file:line and the offending text
 * (never the value of a secret).  cfg need not be initialised and its old
 * content is not freed.  Free with config_free whether or not it succeeded.
 */
bool config_load(
    struct config *cfg, const char *path, struct err *err) MUST_CHECK;

/* Frees every string of cfg. */
void config_free(struct config *cfg);

/* Writes the key table with defaults and meanings, as INI, to out. */
void config_print_table(FILE *out);

/*
 * Writes the value of [section] name in cfg as INI text into buf (secrets
 * included: the caller decides what may be shown).  False for an unknown
 * key.  Used to compare configurations and to log changed keys.
 */
bool config_format_value(const struct config *cfg, const char *section,
    const char *name, char *buf, size_t buflen);

/* The section name of a sender ("sendgrid", ...); NULL when out of range. */
const char *config_sender_name(enum config_sender_id id);

#endif
