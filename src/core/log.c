/*
 * log.c - JSON log lines on stderr (see include/core/log.h).
 *
 * Each line is formatted into a stack buffer and handed to the kernel with a
 * single write(2).  The buffer is capped at PIPE_BUF so that a line written
 * to a pipe (the usual case under a container runtime or a supervisor) is
 * atomic: lines from concurrent threads or processes never interleave.
 * Nothing here allocates, so the module stays usable when memory runs out.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* PIPE_BUF is 4096 on Linux; the line (newline included) never exceeds it. */
#define LOG_LINE_MAX PIPE_BUF
/* Room kept at the end of a line for the closing text after truncation. */
#define LOG_TAIL_RESERVE 24

static _Atomic int log_min_level = LOG_INFO;

static const char *const log_level_names[] = { "debug", "info", "warning",
	"error" };

/* A line under construction; overflow sets truncated instead of writing. */
struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;
	size_t limit; /* bytes usable for content before the tail */
	bool truncated;
};

void
log_set_level(enum log_level level)
{
	atomic_store(&log_min_level, (int)level);
}

bool
log_level_parse(const char *name, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "debug", LOG_DEBUG },
		{ "info", LOG_INFO },
		{ "warning", LOG_WARNING },
		{ "warn", LOG_WARNING },
		{ "error", LOG_ERROR },
	};

	if (name == NULL)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			if (out != NULL)
				*out = names[i].level;
			return true;
		}
	}
	return false;
}

bool
log_enabled(enum log_level level)
{
	return (int)level >= atomic_load(&log_min_level);
}

/* ---- building a line ---- */

static void
line_raw(struct log_line *line, const char *text, size_t len)
{
	if (line->truncated || line->len + len > line->limit) {
		line->truncated = true;
		return;
	}
	memcpy(line->buf + line->len, text, len);
	line->len += len;
}

static void
line_cstr(struct log_line *line, const char *text)
{
	line_raw(line, text, strlen(text));
}

/*
 * Length of the well-formed UTF-8 sequence at s (at most avail bytes), or 0
 * when the bytes there are not one: overlong forms, surrogates and code
 * points past U+10FFFF count as malformed.
 */
static size_t
utf8_sequence_len(const unsigned char *s, size_t avail)
{
	size_t need;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		need = 2;
		cp = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		need = 3;
		cp = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		need = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (avail < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return need;
}

/*
 * Appends text as the body of a JSON string.  A character that does not fit
 * is dropped whole, so a truncated string still ends on a character
 * boundary and the line stays valid JSON.
 */
static void
line_escaped(struct log_line *line, const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	char esc[8];

	while (i < len && !line->truncated) {
		size_t n = utf8_sequence_len(s + i, len - i);

		if (n == 0) {
			line_cstr(line, "\xEF\xBF\xBD"); /* U+FFFD */
			i++;
			continue;
		}
		if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)s[i];
			line_raw(line, esc, 2);
		} else if (s[i] == '\n') {
			line_cstr(line, "\\n");
		} else if (s[i] == '\r') {
			line_cstr(line, "\\r");
		} else if (s[i] == '\t') {
			line_cstr(line, "\\t");
		} else if (s[i] < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
			line_cstr(line, esc);
		} else {
			line_raw(line, text + i, n);
		}
		i += n;
	}
}

static void
line_string(struct log_line *line, const char *text)
{
	line_cstr(line, "\"");
	line_escaped(line, text, strlen(text));
	line_cstr(line, "\"");
}

static void
line_start(struct log_line *line, enum log_level level)
{
	struct timespec now;
	struct tm tm;
	char ts[96];
	int level_index = (int)level;

	line->len = 0;
	line->truncated = false;
	line->limit = sizeof(line->buf) - LOG_TAIL_RESERVE;
	if (level_index < LOG_DEBUG || level_index > LOG_ERROR)
		level_index = LOG_ERROR;

	/* Wall-clock time on purpose: the service clock may be pinned. */
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, now.tv_nsec / 1000000);
	line_cstr(line, "{\"ts\":\"");
	line_cstr(line, ts);
	line_cstr(line, "\",\"level\":\"");
	line_cstr(line, log_level_names[level_index]);
	line_cstr(line, "\",\"msg\":");
}

/*
 * Closes the open JSON string or object after a truncation.  The reserve
 * past limit always has room for this tail.
 */
static void
line_finish_and_write(struct log_line *line, bool in_string)
{
	const char *tail;
	size_t off = 0;

	if (line->truncated) {
		tail = in_string ? "\",\"truncated\":true}\n"
				 : ",\"truncated\":true}\n";
	} else {
		tail = "}\n";
	}
	memcpy(line->buf + line->len, tail, strlen(tail));
	line->len += strlen(tail);

	while (off < line->len) {
		ssize_t n =
		    write(STDERR_FILENO, line->buf + off, line->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* stderr is gone; nothing else can report it */
		off += (size_t)n;
	}
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	struct log_line line;
	char msg[LOG_LINE_MAX];
	va_list ap;
	int len;

	if (!log_enabled(level))
		return;

	va_start(ap, fmt);
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (len < 0)
		len = 0;
	if ((size_t)len >= sizeof(msg))
		len = (int)sizeof(msg) - 1;

	line_start(&line, level);
	line_cstr(&line, "\"");
	line_escaped(&line, msg, (size_t)len);
	if (line.truncated) {
		line_finish_and_write(&line, true);
		return;
	}
	line_cstr(&line, "\"");
	line_finish_and_write(&line, false);
}

/*
 * True when text is a JSON number or literal, so it may be written raw; a
 * value that is not is quoted instead, which keeps the line valid.
 */
static bool
is_json_scalar(const char *s)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0 ||
	    strcmp(s, "null") == 0)
		return true;
	if (*s == '-')
		s++;
	if (*s == '0') {
		s++;
	} else if (*s >= '1' && *s <= '9') {
		while (*s >= '0' && *s <= '9')
			s++;
	} else {
		return false;
	}
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

void
log_kv(enum log_level level, const char *msg, ...)
{
	struct log_line line;
	const char *key;
	va_list ap;

	if (!log_enabled(level))
		return;

	line_start(&line, level);
	line_string(&line, msg != NULL ? msg : "");
	if (line.truncated) {
		line_finish_and_write(&line, true);
		return;
	}
	va_start(ap, msg);
	while ((key = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);
		size_t pair_start = line.len;

		line_cstr(&line, ",");
		line_string(&line, key);
		line_cstr(&line, ":");
		if (value == NULL)
			line_cstr(&line, "null");
		else if (value[0] == '=' && is_json_scalar(value + 1))
			line_cstr(&line, value + 1);
		else
			line_string(&line, value[0] == '=' ? value + 1 : value);
		if (line.truncated) {
			/* Drop the pair that did not fit whole. */
			line.len = pair_start;
			break;
		}
	}
	va_end(ap);

	line_finish_and_write(&line, false);
}

void
log_mask_email(const char *email, char *buf, size_t buflen)
{
	const char *at;
	size_t first;

	if (buf == NULL || buflen == 0)
		return;
	if (email == NULL || (at = strrchr(email, '@')) == NULL) {
		snprintf(buf, buflen, "***");
		return;
	}
	/* Keep the whole first character even when it is multi-byte. */
	first = at == email ? 0
			    : utf8_sequence_len((const unsigned char *)email,
				  (size_t)(at - email));
	if (first == 0 && at != email)
		first = 1;
	snprintf(buf, buflen, "%.*s***%s", (int)first, email, at);
}
