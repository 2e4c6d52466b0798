/*
 * fuzz_config.c - libFuzzer harness for the configuration file reader
 * (config_load on a file holding the fuzzed bytes).
 *
 * The bytes are written to an anonymous in-memory file that config_load
 * opens through /proc/self/fd, so no temporary file is left behind when
 * libFuzzer stops on a crash.  The environment's ENGAGEMENTD_* variables
 * are removed first: only the file may decide the outcome.  Beyond memory
 * errors the harness checks that an accepted file yields values within
 * their documented bounds and that a rejected secret is never echoed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "fuzz_check.h"

extern char **environ;

static int mem_fd = -1;
static char mem_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
drop_service_environment(void)
{
	char name[256];
	bool again = true;

	while (again) {
		again = false;
		for (char **e = environ; *e != NULL; e++) {
			size_t len = strcspn(*e, "=");

			if (strncmp(*e, "ENGAGEMENTD_", 12) != 0 ||
			    len >= sizeof(name))
				continue;
			memcpy(name, *e, len);
			name[len] = '\0';
			unsetenv(name);
			again = true;
			break;
		}
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	drop_service_environment();
	mem_fd = memfd_create("engagementd-fuzz-config", 0);
	FUZZ_CHECK(mem_fd >= 0);
	snprintf(mem_path, sizeof(mem_path), "/proc/self/fd/%d", mem_fd);
	return 0;
}

static void
write_input(const uint8_t *data, size_t size)
{
	size_t done = 0;

	FUZZ_CHECK(ftruncate(mem_fd, 0) == 0);
	while (done < size) {
		ssize_t n =
		    pwrite(mem_fd, data + done, size - done, (off_t)done);

		FUZZ_CHECK(n > 0);
		done += (size_t)n;
	}
}

static void
check_accepted(const struct config *cfg)
{
	char buf[512];

	FUZZ_CHECK(cfg->listen != NULL && cfg->listen[0] != '\0');
	FUZZ_CHECK(cfg->database_url != NULL && cfg->api_key != NULL);
	FUZZ_CHECK(cfg->log_level != NULL && cfg->clock_pin != NULL);
	FUZZ_CHECK(cfg->threads >= 0 && cfg->threads <= 256);
	FUZZ_CHECK(cfg->max_body_bytes >= 1024);
	FUZZ_CHECK(cfg->max_batch_events >= 1);
	FUZZ_CHECK(cfg->green_score >= cfg->yellow_score);
	FUZZ_CHECK(cfg->yellow_score >= cfg->orange_score);
	FUZZ_CHECK(cfg->risk_medium <= cfg->risk_elevated);
	FUZZ_CHECK(cfg->risk_elevated <= cfg->risk_high);
	for (int i = 0; i < CFG_SENDER_COUNT; i++) {
		const struct config_sender *s = &cfg->senders[i];

		FUZZ_CHECK(s->public_key != NULL && s->signing_key != NULL);
		FUZZ_CHECK(s->username != NULL && s->password != NULL);
		FUZZ_CHECK(s->token != NULL && s->signed_url != NULL);
		FUZZ_CHECK(
		    s->replay_window_s >= 0 && s->replay_window_s <= 86400);
	}
	FUZZ_CHECK(
	    config_format_value(cfg, "http", "listen", buf, sizeof(buf)));
	FUZZ_CHECK(strcmp(buf, cfg->listen) == 0 || strlen(cfg->listen) >= 511);
}

/*
 * The key a "file:line: invalid value \"...\" for [section] name: reason"
 * message is about: the last " for [" ends the quoted value, whatever the
 * value holds.  Copies the name into buf; false for other messages.
 */
static bool
quoted_key(const char *message, char *buf, size_t len)
{
	const char *p = strstr(message, "invalid value \""), *last = NULL;
	const char *name;
	size_t n;

	if (p == NULL)
		return false;
	while ((p = strstr(p + 1, "\" for [")) != NULL)
		last = p;
	if (last == NULL || (name = strstr(last, "] ")) == NULL)
		return false;
	name += 2;
	n = strcspn(name, ":");
	snprintf(buf, len, "%.*s", (int)n, name);
	return true;
}

/* A rejected secret is named by key only, never quoted. */
static void
check_rejected(const struct err *err)
{
	char key[64];

	FUZZ_CHECK(err->status == 500 && err->message[0] != '\0');
	if (quoted_key(err->message, key, sizeof(key))) {
		FUZZ_CHECK(strcmp(key, "signing_key") != 0);
		FUZZ_CHECK(strcmp(key, "password") != 0);
		FUZZ_CHECK(strcmp(key, "token") != 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct err err = { 0 };

	write_input(data, size);
	if (config_load(&cfg, mem_path, &err))
		check_accepted(&cfg);
	else
		check_rejected(&err);
	config_free(&cfg);
	return 0;
}
