/*
 * route.h - path-template matching and percent-decoding for the HTTP layer.
 */
#ifndef ENGAGEMENTD_HTTP_ROUTE_H
#define ENGAGEMENTD_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_PARAMS 4

/* The parameters a match captured; names and values owned. */
struct http_match {
	char *names[HTTP_MAX_PARAMS];
	char *values[HTTP_MAX_PARAMS];
	int count;
};

/*
 * Decodes len bytes of percent-encoding into a fresh string (caller frees);
 * plus_is_space for query values.  Returns NULL for a malformed escape, an
 * encoded NUL or a raw NUL byte: no identifier may contain one.
 */
char *http_percent_decode(const char *text, size_t len, bool plus_is_space);

/* True when method is one of the space-separated words of methods. */
bool http_method_listed(const char *methods, const char *method);

/*
 * Matches the raw path against pattern ("/v1/contacts/{contact_id}").
 * Returns 1 and fills m on a match, 0 when it does not match, -1 when it
 * matches but a parameter is badly encoded.  m is empty unless 1.
 */
int http_route_match(
    const char *pattern, const char *path, struct http_match *m);

/* Frees what a match captured. */
void http_match_clear(struct http_match *m);

#endif
