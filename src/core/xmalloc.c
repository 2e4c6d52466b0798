/*
 * xmalloc.c - allocation wrappers that abort on exhaustion.
 *
 * Writing the message with write(2) keeps this free of the logging module,
 * which itself allocates nothing but may be the one that ran out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xmalloc.h"

static void
xmalloc_die(size_t size)
{
	char line[160];
	int len;

	len = snprintf(line, sizeof(line),
	    "{\"level\":\"error\",\"msg\":\"out of memory allocating %zu bytes\"}\n",
	    size);
	if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0) {
		/* nothing left to report to */
	}
	abort();
}

void *
xmalloc(size_t size)
{
	void *ptr = malloc(size == 0 ? 1 : size);

	if (ptr == NULL)
		xmalloc_die(size);
	return ptr;
}

void *
xcalloc(size_t count, size_t size)
{
	void *ptr = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);

	if (ptr == NULL)
		xmalloc_die(count * size);
	return ptr;
}

void *
xrealloc(void *ptr, size_t size)
{
	void *grown = realloc(ptr, size == 0 ? 1 : size);

	if (grown == NULL)
		xmalloc_die(size);
	return grown;
}

char *
xstrdup(const char *s)
{
	return s == NULL ? NULL : xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t len)
{
	char *copy = xmalloc(len + 1);

	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *out;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		xmalloc_die(0);
	out = xmalloc((size_t)len + 1);
	va_start(ap, fmt);
	vsnprintf(out, (size_t)len + 1, fmt, ap);
	va_end(ap);
	return out;
}
