/*
 * main.c - start-up, the command line, signals and the shutdown order.
 *
 *   engagementd [--config FILE] [serve]     serve HTTP (default)
 *   engagementd [--config FILE] migrate     apply migrations and exit
 *   engagementd [--config FILE] refit [ACCOUNT]
 *   engagementd [--config FILE] key create|list|revoke ...
 *   engagementd [--config FILE] account create|list ...
 *
 * Shutdown order on SIGTERM/SIGINT: refuse new writes and finish requests
 * in flight, including the writes waiting for their group commit (each has
 * committed or spooled before answering), stop the background thread,
 * stop the spool's loader and close the spool (what it still holds is
 * loaded at the next start), stop the committer threads, stop the
 * scorecard cache's listener, then close the database pool.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "core/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "http/http.h"
#include "http/ratelimit.h"
#include "ingest/group.h"
#include "ingest/spool.h"
#include "store/db.h"
#include "store/fits.h"
#include "store/keys.h"
#include "store/migrate.h"
#include "store/scorecache.h"
#include "store/scoresync.h"
#include "store/secrets.h"

#define ENGAGEMENTD_VERSION "0.1.0"

static const char usage_text[] =
    "usage: engagementd [--config FILE] [COMMAND]\n"
    "\n"
    "commands:\n"
    "  serve                      serve HTTP (the default)\n"
    "  migrate                    apply the database migrations and exit\n"
    "  refit [ACCOUNT]            refit the scoring model now\n"
    "  key create ACCOUNT [LABEL] print a new API key (shown once)\n"
    "  key list ACCOUNT           list an account's keys (prefixes only)\n"
    "  key revoke ACCOUNT PREFIX  revoke a key by its 8-character prefix\n"
    "  account create NAME        create an account\n"
    "  account list               list accounts\n"
    "  webhook set ACCOUNT PROVIDER NAME VALUE|-\n"
    "                             set an account's webhook credential\n"
    "                             (- reads VALUE from standard input)\n"
    "  webhook unset ACCOUNT PROVIDER NAME\n"
    "  webhook list ACCOUNT       list credential names, never values\n"
    "\n"
    "options:\n"
    "  --config FILE              INI configuration (config.example.ini)\n"
    "  --help-config              print every configuration key\n"
    "  --version                  print the version\n";

/* State shared by the serve command's threads. */
struct service {
	struct config cfg;
	struct api_context ctx;
	pthread_t background;
	struct scorecache *cache;            /* NULL when disabled */
	struct scoresync_listener *listener; /* keeps it in step */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	bool migrated_at_start;
};

static struct service service;

static void
apply_basics(const struct config *cfg)
{
	enum log_level level = LOG_INFO;
	int64_t pinned;

	if (log_level_parse(cfg->log_level, &level))
		log_set_level(level);
	if (cfg->clock_pin != NULL && cfg->clock_pin[0] != '\0' &&
	    time_parse_iso8601(cfg->clock_pin, &pinned)) {
		time_pin(pinned);
		log_warning(
		    "the service clock is pinned to %s", cfg->clock_pin);
	}
}

static int
default_pool_size(const struct config *cfg)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (cfg->pool_size > 0)
		return cfg->pool_size;
	/* per core: a group's statements, the previous group's COMMIT and
	 * the reads */
	return cores > 0 ? (int)cores * 3 : 6;
}

/* Migrates and makes sure the configured key exists; false if the
 * database cannot do it yet. */
static bool
prepare_database(struct service *svc)
{
	struct err err = { 0 };
	PGconn *conn = db_pool_acquire(svc->ctx.pool, 2000, &err);
	bool ok;

	if (conn == NULL)
		return false;
	ok = migrate_apply(conn, &err);
	if (ok && svc->cfg.api_key != NULL && svc->cfg.api_key[0] != '\0')
		ok = keys_ensure(conn, 1, svc->cfg.api_key, "configured", &err);
	db_pool_release(svc->ctx.pool, conn, !ok);
	if (ok)
		atomic_store(&svc->ctx.migrations_current, true);
	return ok;
}

static bool
wait_or_stop(struct service *svc, int seconds)
{
	struct timespec until;
	bool stopping;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&svc->lock);
	while (!svc->stopping &&
	       pthread_cond_timedwait(&svc->wake, &svc->lock, &until) == 0)
		;
	stopping = svc->stopping;
	pthread_mutex_unlock(&svc->lock);
	return !stopping;
}

static void
refit_all(struct service *svc)
{
	struct err err = { 0 };
	PGconn *conn = db_pool_acquire(svc->ctx.pool, 2000, &err);
	PGresult *res;

	if (conn == NULL)
		return;
	res = db_exec(conn, "list accounts for refit",
	    "SELECT account_id FROM accounts ORDER BY account_id", 0, NULL,
	    &err);
	db_pool_release(svc->ctx.pool, conn, res == NULL);
	for (int r = 0; res != NULL && r < PQntuples(res); r++) {
		struct model_fit_report report;

		err_clear(&err);
		if (!fits_refit(svc->ctx.pool, db_int64(res, r, 0),
			&svc->ctx.thresholds, &report, &err))
			log_warning("scheduled refit failed: %s", err.message);
	}
	PQclear(res);
}

/*
 * The background thread: finishes migrations once the database answers
 * (the service serves /healthz meanwhile), then refits on the schedule.
 */
static void *
background_main(void *arg)
{
	struct service *svc = arg;
	int64_t next_refit;

	while (!svc->migrated_at_start && !prepare_database(svc))
		if (!wait_or_stop(svc, 2))
			return NULL;
	next_refit = time_mono_us() + svc->cfg.refit_interval_s * 1000000LL;
	while (wait_or_stop(svc, 5)) {
		if (svc->cfg.refit_interval_s > 0 &&
		    time_mono_us() >= next_refit) {
			refit_all(svc);
			next_refit = time_mono_us() +
				     svc->cfg.refit_interval_s * 1000000LL;
		}
	}
	return NULL;
}

static bool
init_context(struct service *svc, struct err *err)
{
	struct api_context *ctx = &svc->ctx;
	const struct config *cfg = &svc->cfg;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	memset(ctx, 0, sizeof(*ctx));
	ctx->cfg = cfg;
	ctx->pool = db_pool_new(cfg->database_url, default_pool_size(cfg),
	    cfg->statement_timeout_ms);
	model_thresholds_default(&ctx->thresholds);
	ctx->thresholds.min_observable = cfg->min_observable;
	ctx->thresholds.green_score = cfg->green_score;
	ctx->thresholds.yellow_score = cfg->yellow_score;
	ctx->thresholds.orange_score = cfg->orange_score;
	ctx->thresholds.risk_medium = cfg->risk_medium;
	ctx->thresholds.risk_elevated = cfg->risk_elevated;
	ctx->thresholds.risk_high = cfg->risk_high;
	ctx->ingest.pool = ctx->pool;
	ctx->ingest.thresholds = ctx->thresholds;
	ctx->ingest.store_ip = cfg->store_ip;
	ctx->ingest.truncate_ip = cfg->ip_truncate;
	ctx->ingest.max_batch_events = (size_t)cfg->max_batch_events;
	ctx->ingest.max_groups = (int)(cores > 0 ? cores : 1);
	ctx->ingest.schema_ready = &ctx->migrations_current;
	if (cfg->rate_limit_per_s > 0)
		ctx->limiter =
		    ratelimit_new(cfg->rate_limit_per_s, cfg->rate_limit_burst);
	api_ctx = ctx;
	if (!verdict_rules_init(&ctx->ingest.rules, cfg->machine_open_cidrs,
		cfg->scanner_user_agents, cfg->scanner_window_s, err))
		return false;
	ctx->ingest.rules.burst_links = cfg->scanner_burst_links;
	ctx->ingest.rules.burst_window_s = cfg->scanner_burst_window_s;
	return true;
}

/*
 * Makes the scorecard cache and starts listening for other processes'
 * writes, unless [cache] enabled = false.  The cache answers nothing until
 * the listener is connected.
 */
static void
start_cache(struct service *svc)
{
	const struct config *cfg = &svc->cfg;

	if (!cfg->cache_enabled) {
		log_info("the scorecard cache is disabled");
		return;
	}
	svc->cache = scorecache_new(
	    (size_t)cfg->cache_max_bytes, cfg->cache_ttl_s * 1000LL);
	scoresync_install(svc->cache);
	svc->listener = scoresync_listener_start(svc->cache, cfg->database_url);
}

static void
stop_cache(struct service *svc)
{
	scoresync_listener_stop(svc->listener);
	svc->listener = NULL;
	scoresync_install(NULL);
	scorecache_free(svc->cache);
	svc->cache = NULL;
}

/* Opens the spool and starts its loader, unless [spool] enabled = false. */
static bool
start_spool(struct service *svc, struct err *err)
{
	struct ingest *ing = &svc->ctx.ingest;

	if (!svc->cfg.spool_enabled) {
		log_info("the spool is disabled: requests get 503 while the "
			 "database cannot commit");
		return true;
	}
	if (!spool_open(
		svc->cfg.spool_dir, svc->cfg.spool_max_bytes, &ing->spool, err))
		return false;
	spool_loader_start(ing->spool, ingest_load_spooled, ing);
	return true;
}

static int
wait_for_signal(void)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigwait(&set, &sig);
	return sig;
}

static int
cmd_serve(struct service *svc)
{
	struct http_limits limits;
	struct http_server *srv;
	struct err err = { 0 };
	char port[16];
	int sig;

	if (!init_context(svc, &err)) {
		log_error("%s", err.message);
		return 1;
	}
	pthread_mutex_init(&svc->lock, NULL);
	pthread_cond_init(&svc->wake, NULL);
	memset(&limits, 0, sizeof(limits));
	limits.max_body_bytes = (size_t)svc->cfg.max_body_bytes;
	limits.max_connections = (unsigned)svc->cfg.max_connections;
	limits.connection_timeout_s = (unsigned)svc->cfg.connection_timeout_s;
	limits.threads = (unsigned)svc->cfg.threads;
	limits.access_log = svc->cfg.access_log;
	/* Migrate before listening when the database answers, so the first
	 * request finds the schema; otherwise the background thread keeps
	 * trying while /healthz serves and /readyz says 503. */
	if (prepare_database(svc))
		svc->migrated_at_start = true;
	start_cache(svc);
	/* before the spool's loader, which commits through them */
	group_start(&svc->ctx.ingest);
	if (!start_spool(svc, &err)) {
		log_error("%s", err.message);
		group_stop();
		stop_cache(svc);
		return 1;
	}
	srv = http_server_start(svc->cfg.listen, api_routes, &limits, &err);
	if (srv == NULL) {
		log_error("%s", err.message);
		spool_close(svc->ctx.ingest.spool);
		group_stop();
		stop_cache(svc);
		return 1;
	}
	snprintf(port, sizeof(port), "=%u", http_server_port(srv));
	log_kv(LOG_INFO, "listening", "listen", svc->cfg.listen, "port", port,
	    "version", ENGAGEMENTD_VERSION, NULL);
	pthread_create(&svc->background, NULL, background_main, svc);

	sig = wait_for_signal();
	log_info("stopping on signal %d", sig);
	http_server_stop(srv);
	pthread_mutex_lock(&svc->lock);
	svc->stopping = true;
	pthread_cond_broadcast(&svc->wake);
	pthread_mutex_unlock(&svc->lock);
	pthread_join(svc->background, NULL);
	spool_close(svc->ctx.ingest.spool);
	svc->ctx.ingest.spool = NULL;
	group_stop();
	stop_cache(svc);
	verdict_rules_free(&svc->ctx.ingest.rules);
	ratelimit_free(svc->ctx.limiter);
	db_pool_free(svc->ctx.pool);
	log_info("stopped");
	return 0;
}

/* Opens one connection for the administrative commands. */
static PGconn *
admin_connect(const struct config *cfg)
{
	PGconn *conn = PQconnectdb(cfg->database_url);

	if (PQstatus(conn) != CONNECTION_OK) {
		log_error("could not connect to the database: %s",
		    PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	/* server notices ("already exists, skipping") are not for the
	 * operator */
	db_quiet_notices(conn);
	return conn;
}

static int
cmd_migrate(const struct config *cfg)
{
	struct err err = { 0 };
	PGconn *conn = admin_connect(cfg);
	bool ok;

	if (conn == NULL)
		return 1;
	ok = migrate_apply(conn, &err);
	PQfinish(conn);
	if (ok)
		log_info("migrations are current (version %d)",
		    migrate_latest_version());
	return ok ? 0 : 1;
}

static bool
account_by_name(PGconn *conn, const char *name, int64_t *id)
{
	struct err err = { 0 };
	int found = keys_account_id(conn, name, id, &err);

	if (found == 0)
		log_error("no account named \"%s\"", name);
	return found == 1;
}

static int
cmd_key(const struct config *cfg, int argc, char **argv)
{
	struct err err = { 0 };
	PGconn *conn;
	int64_t account;
	int rc = 1;

	if (argc < 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	conn = admin_connect(cfg);
	if (conn == NULL)
		return 1;
	if (!account_by_name(conn, argv[1], &account))
		goto out;
	if (strcmp(argv[0], "create") == 0) {
		char key[96];

		if (keys_create(conn, account, argc > 2 ? argv[2] : "", key,
			sizeof(key), &err)) {
			printf("%s\n", key);
			rc = 0;
		}
	} else if (strcmp(argv[0], "list") == 0) {
		rc = keys_list(conn, account, stdout, &err) ? 0 : 1;
	} else if (strcmp(argv[0], "revoke") == 0 && argc > 2) {
		int done = keys_revoke(conn, account, argv[2], &err);

		if (done == 0)
			log_error("no active key with prefix \"%s\"", argv[2]);
		rc = done == 1 ? 0 : 1;
	} else {
		fputs(usage_text, stderr);
		rc = 2;
	}
out:
	PQfinish(conn);
	return rc;
}

static int
cmd_account(const struct config *cfg, int argc, char **argv)
{
	struct err err = { 0 };
	PGconn *conn;
	int64_t id;
	int rc = 1;

	if (argc < 1) {
		fputs(usage_text, stderr);
		return 2;
	}
	conn = admin_connect(cfg);
	if (conn == NULL)
		return 1;
	if (strcmp(argv[0], "create") == 0 && argc > 1) {
		int64_t existing;

		if (keys_account_id(conn, argv[1], &existing, &err) == 1) {
			log_error(
			    "an account named \"%s\" exists already", argv[1]);
		} else if (keys_account_create(conn, argv[1], &id, &err)) {
			printf("%" PRId64 "\t%s\n", id, argv[1]);
			rc = 0;
		}
	} else if (strcmp(argv[0], "list") == 0) {
		rc = keys_account_list(conn, stdout, &err) ? 0 : 1;
	} else {
		fputs(usage_text, stderr);
		rc = 2;
	}
	PQfinish(conn);
	return rc;
}

/* Reads one line from standard input, for secrets kept out of argv. */
static char *
read_secret_line(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len = getline(&line, &cap, stdin);

	if (len < 0) {
		free(line);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static int
cmd_webhook(const struct config *cfg, int argc, char **argv)
{
	struct err err = { 0 };
	char *value = NULL;
	PGconn *conn;
	int64_t account;
	int rc = 1;

	if (argc < 2 || (strcmp(argv[0], "list") != 0 && argc < 4) ||
	    (strcmp(argv[0], "set") == 0 && argc < 5)) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (argc >= 4 && !secrets_name_valid(argv[3])) {
		log_error("\"%s\" is not a webhook credential name", argv[3]);
		return 2;
	}
	conn = admin_connect(cfg);
	if (conn == NULL)
		return 1;
	if (!account_by_name(conn, argv[1], &account))
		goto out;
	if (strcmp(argv[0], "list") == 0) {
		rc = secrets_list(conn, account, stdout, &err) ? 0 : 1;
	} else if (strcmp(argv[0], "set") == 0) {
		value = strcmp(argv[4], "-") == 0 ? read_secret_line()
						  : strdup(argv[4]);
		if (value != NULL &&
		    secrets_set(conn, account, argv[2], argv[3], value, &err))
			rc = 0;
	} else if (strcmp(argv[0], "unset") == 0) {
		rc = secrets_unset(conn, account, argv[2], argv[3], &err) == 1
			 ? 0
			 : 1;
	} else {
		fputs(usage_text, stderr);
		rc = 2;
	}
out:
	free(value);
	PQfinish(conn);
	return rc;
}

static int
cmd_refit(struct service *svc, int argc, char **argv)
{
	struct model_fit_report report;
	struct err err = { 0 };
	int64_t account = 1;
	PGconn *conn;
	int rc = 1;

	if (!init_context(svc, &err))
		return 1;
	if (argc > 0) {
		conn = admin_connect(&svc->cfg);
		if (conn == NULL || !account_by_name(conn, argv[0], &account)) {
			PQfinish(conn);
			goto out;
		}
		PQfinish(conn);
	}
	if (fits_refit(
		svc->ctx.pool, account, &svc->ctx.thresholds, &report, &err)) {
		printf("contacts %zu, patterns %zu, loglik %.4f, %s\n",
		    report.contacts, report.patterns, report.loglik,
		    report.chosen);
		rc = 0;
	} else {
		log_error("refit failed: %s", err.message);
	}
out:
	verdict_rules_free(&svc->ctx.ingest.rules);
	db_pool_free(svc->ctx.pool);
	return rc;
}

int
main(int argc, char **argv)
{
	struct err err = { 0 };
	const char *config_path = NULL;
	sigset_t set;
	int i = 1, rc;

	while (i < argc && strncmp(argv[i], "--", 2) == 0) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config_path = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("engagementd %s\n", ENGAGEMENTD_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--help-config") == 0) {
			config_print_table(stdout);
			return 0;
		} else {
			fputs(usage_text,
			    strcmp(argv[i], "--help") == 0 ? stdout : stderr);
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	/* Signals are taken by sigwait in the main thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!config_load(&service.cfg, config_path, &err)) {
		log_error("%s", err.message);
		config_free(&service.cfg);
		return 2;
	}
	apply_basics(&service.cfg);
	if (i >= argc || strcmp(argv[i], "serve") == 0)
		rc = cmd_serve(&service);
	else if (strcmp(argv[i], "migrate") == 0)
		rc = cmd_migrate(&service.cfg);
	else if (strcmp(argv[i], "refit") == 0)
		rc = cmd_refit(&service, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "key") == 0)
		rc = cmd_key(&service.cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "account") == 0)
		rc = cmd_account(&service.cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "webhook") == 0)
		rc = cmd_webhook(&service.cfg, argc - i - 1, argv + i + 1);
	else {
		fputs(usage_text, stderr);
		rc = 2;
	}
	config_free(&service.cfg);
	return rc;
}
