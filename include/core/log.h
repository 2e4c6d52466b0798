/*
 * log.h - one JSON object per line on stderr.
 *
 * Every line starts with "ts" (UTC, RFC 3339 with milliseconds), "level" and
 * "msg", then optional context keys.  Log collectors read this without a
 * parser of their own.  Messages follow the house wording: lower case, no
 * final period, "could not X: reason".  Never pass a secret or a full e-mail
 * address; log_mask_email exists for the latter.
 */
#ifndef ENGAGEMENTD_CORE_LOG_H
#define ENGAGEMENTD_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARNING, LOG_ERROR };

/* Sets the lowest level written.  Thread-safe to call at start-up only. */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warning" (or "warn"), "error". */
bool log_level_parse(const char *name, enum log_level *out);

/* True when a line at level would be written. */
bool log_enabled(enum log_level level);

/* Writes a line with just ts, level and msg (printf-formatted). */
void log_msg(enum log_level level, const char *fmt, ...) PRINTF_LIKE(2, 3);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/*
 * Writes a line with context: after msg come the keys and values given as
 * alternating const char * pairs, ending with NULL, e.g.
 *   log_kv(LOG_INFO, "request done", "method", "GET", "status", "=200", NULL)
 * A value starting with '=' is written raw (a number); any other value is
 * written as a JSON string, escaped.
 */
void log_kv(enum log_level level, const char *msg, ...)
    __attribute__((sentinel));

/*
 * Writes a masked form of an e-mail address into buf: the first character
 * of the local part, "***", and the domain ("a***@example.com").
 */
void log_mask_email(const char *email, char *buf, size_t buflen);

#endif
