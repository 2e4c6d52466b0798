/*
 * route.c - path templates and percent-decoding, apart from the server so
 * that they can be tested and fuzzed without a socket.
 *
 * Matching works on the raw, still-encoded path: a template segment
 * "{name}" takes one whole encoded segment, which is decoded only after
 * the match.  So "%2F" inside an id stays part of the id.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "http/route.h"

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
http_percent_decode(const char *text, size_t len, bool plus_is_space)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '%') {
			int hi, lo;

			if (i + 2 >= len)
				goto bad;
			hi = hex_value(text[i + 1]);
			lo = hex_value(text[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (text[i] == '\0') {
			goto bad;
		} else if (text[i] == '+' && plus_is_space) {
			out[o++] = ' ';
		} else {
			out[o++] = text[i];
		}
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

bool
http_method_listed(const char *methods, const char *method)
{
	size_t mlen = strlen(method);
	const char *p = methods;

	if (mlen == 0)
		return false;
	while (*p == ' ')
		p++;
	while (*p != '\0') {
		size_t word = strcspn(p, " ");

		if (word == mlen && strncmp(p, method, mlen) == 0)
			return true;
		p += word;
		while (*p == ' ')
			p++;
	}
	return false;
}

void
http_match_clear(struct http_match *m)
{
	for (int i = 0; i < m->count; i++) {
		free(m->names[i]);
		free(m->values[i]);
	}
	m->count = 0;
}

int
http_route_match(const char *pattern, const char *path, struct http_match *m)
{
	const char *p = pattern, *u = path;

	m->count = 0;
	while (*p != '\0' && *u != '\0') {
		size_t plen = strcspn(p, "/"), ulen = strcspn(u, "/");

		if (plen > 2 && p[0] == '{' && p[plen - 1] == '}') {
			if (ulen == 0 || m->count == HTTP_MAX_PARAMS)
				goto no;
			m->names[m->count] = xstrndup(p + 1, plen - 2);
			m->values[m->count] =
			    http_percent_decode(u, ulen, false);
			m->count++;
			if (m->values[m->count - 1] == NULL) {
				http_match_clear(m);
				return -1;
			}
		} else if (plen != ulen || strncmp(p, u, plen) != 0) {
			goto no;
		}
		p += plen;
		u += ulen;
		if (*p == '/' && *u == '/') {
			p++;
			u++;
		} else if (*p != *u) {
			goto no;
		}
	}
	if (*p == '\0' && *u == '\0')
		return 1;
no:
	http_match_clear(m);
	return 0;
}
