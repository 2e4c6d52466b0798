/*
 * xmalloc.h - allocation helpers with one out-of-memory policy.
 *
 * The service cannot do anything useful without memory, so these log the
 * failure and abort instead of returning NULL.  Every allocation of our own
 * goes through them; jansson and libpq results are checked where they return.
 */
#ifndef ENGAGEMENTD_CORE_XMALLOC_H
#define ENGAGEMENTD_CORE_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Returns a copy of s, or NULL when s is NULL.  Caller frees. */
char *xstrdup(const char *s);
/* Returns a NUL-terminated copy of the first len bytes of s.  Caller frees. */
char *xstrndup(const char *s, size_t len);
/* printf into a fresh string.  Caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
