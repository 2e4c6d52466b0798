/*
 * timeutil.h - the service clock and the time formats the senders use.
 *
 * Times travel through the service as milliseconds since the Unix epoch in
 * UTC (int64_t).  The clock can be pinned by configuration so that tests can
 * replay signed fixtures whose timestamps lie in the past.
 */
#ifndef ENGAGEMENTD_CORE_TIMEUTIL_H
#define ENGAGEMENTD_CORE_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIME_MS_PER_SEC 1000LL

/* Pins the clock to fixed_ms (ms since epoch); 0 returns to the real clock. */
void time_pin(int64_t fixed_ms);

/* Current time in ms since the epoch (the pinned value when pinned). */
int64_t time_now_ms(void);

/* Monotonic time in microseconds, for durations only. */
int64_t time_mono_us(void);

/*
 * Parses an RFC 3339 / ISO 8601 timestamp ("2026-01-01T09:00:05.1234567Z",
 * "+02:00" offsets, a space instead of 'T') into ms since the epoch, UTC.
 * Fractions beyond milliseconds are truncated.  Returns false on bad input.
 */
bool time_parse_iso8601(const char *text, int64_t *out_ms);

/* Formats ms since the epoch as "2026-01-01T09:00:05.123Z" into buf. */
void time_format_iso8601(int64_t ms, char *buf, size_t buflen);

/* Rejects times before 2000-01-01 or more than a day after now. */
bool time_is_plausible(int64_t ms);

#endif
