/*
 * timeutil.c - the service clock and UTC timestamp parsing/formatting.
 *
 * Parsing is our own rather than strptime(3) because the senders use
 * fractions of up to seven digits and several offset spellings, and
 * strptime neither handles fractions nor is locale-independent.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "core/timeutil.h"

static _Atomic int64_t pinned_ms;

void
time_pin(int64_t fixed_ms)
{
	atomic_store(&pinned_ms, fixed_ms);
}

int64_t
time_now_ms(void)
{
	struct timespec ts;
	int64_t pinned = atomic_load(&pinned_ms);

	if (pinned != 0)
		return pinned;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (civil calendar). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly width digits; false if any is not a digit. */
static bool
read_digits(const char **p, int width, int *out)
{
	int value = 0;

	for (int i = 0; i < width; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		value = value * 10 + ((*p)[i] - '0');
	}
	*p += width;
	*out = value;
	return true;
}

static bool
parse_offset(const char **p, int *offset_min)
{
	int sign, hours, minutes = 0;

	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		*offset_min = 0;
		return true;
	}
	if (**p != '+' && **p != '-')
		return false;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (!read_digits(p, 2, &hours))
		return false;
	if (**p == ':')
		(*p)++;
	if (isdigit((unsigned char)**p) && !read_digits(p, 2, &minutes))
		return false;
	if (hours > 23 || minutes > 59)
		return false;
	*offset_min = sign * (hours * 60 + minutes);
	return true;
}

bool
time_parse_iso8601(const char *text, int64_t *out_ms)
{
	const char *p = text;
	int year, mon, day, hour, min, sec, millis = 0, offset_min = 0;
	int64_t secs;

	if (text == NULL || !read_digits(&p, 4, &year) || *p++ != '-' ||
	    !read_digits(&p, 2, &mon) || *p++ != '-' ||
	    !read_digits(&p, 2, &day))
		return false;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return false;
	p++;
	if (!read_digits(&p, 2, &hour) || *p++ != ':' ||
	    !read_digits(&p, 2, &min) || *p++ != ':' ||
	    !read_digits(&p, 2, &sec))
		return false;
	if (*p == '.' || *p == ',') {
		int digits = 0;

		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		for (; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 3)
				millis = millis * 10 + (*p - '0');
		for (; digits < 3; digits++)
			millis *= 10;
	}
	if (!parse_offset(&p, &offset_min) || *p != '\0')
		return false;
	if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
	    hour > 23 || min > 59 || sec > 60)
		return false;
	secs = days_from_civil(year, mon, day) * 86400 + hour * 3600 +
	       min * 60 + sec - (int64_t)offset_min * 60;
	*out_ms = secs * 1000 + millis;
	return true;
}

void
time_format_iso8601(int64_t ms, char *buf, size_t buflen)
{
	time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int millis = (int)(ms - (int64_t)secs * 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, millis);
}

bool
time_is_plausible(int64_t ms)
{
	const int64_t year_2000_ms = 946684800000LL;
	const int64_t day_ms = 86400000LL;

	return ms >= year_2000_ms && ms <= time_now_ms() + day_ms;
}
