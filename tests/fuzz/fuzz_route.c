/*
 * fuzz_route.c - libFuzzer harness for path matching and percent-decoding
 * (http_route_match, http_percent_decode, http_method_listed).
 *
 * The first byte picks what the rest of the input feeds:
 *   0  http_percent_decode of a path segment, compared with a plain
 *      reference decoder written here
 *   1  the same for a query value ('+' is a space)
 *   2  http_route_match of the rest as a path against every route the
 *      service serves
 *   3  http_route_match with a fuzzed template: "template\0path"
 *   4  http_method_listed: "methods\0method"
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "http/route.h"
#include "fuzz_check.h"

/* The templates of src/api/routes.c. */
static const char *const templates[] = {
	"/healthz",
	"/readyz",
	"/metrics",
	"/v1/events",
	"/v1/webhooks/{provider}",
	"/v1/webhooks/{provider}/{account}",
	"/v1/contacts/{contact_id}/scorecard",
	"/v1/scorecard",
	"/v1/scorecards",
	"/v1/contacts",
	"/v1/contacts/{contact_id}",
	"/v1/admin/refit",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes into out (len + 1 bytes); false where the contract says NULL. */
static bool
reference_decode(const unsigned char *in, size_t len, bool plus, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int value = in[i];

		if (in[i] == '%') {
			if (len - i < 3 || hex_digit(in[i + 1]) < 0 ||
			    hex_digit(in[i + 2]) < 0)
				return false;
			value =
			    hex_digit(in[i + 1]) * 16 + hex_digit(in[i + 2]);
			i += 2;
		} else if (in[i] == '+' && plus) {
			value = ' ';
		}
		if (value == 0)
			return false;
		out[o++] = (char)value;
	}
	out[o] = '\0';
	return true;
}

static void
fuzz_decode(const uint8_t *data, size_t size, bool plus)
{
	char *want = xmalloc(size + 1);
	bool valid = reference_decode(data, size, plus, want);
	char *got = http_percent_decode((const char *)data, size, plus);

	FUZZ_CHECK(valid == (got != NULL));
	if (got != NULL)
		FUZZ_CHECK(strcmp(got, want) == 0);
	free(got);
	free(want);
}

static int
count_params(const char *template)
{
	int n = 0;

	for (const char *p = template; *p != '\0'; p++)
		n += *p == '{';
	return n;
}

static void
match_one(const char *template, const char *path, bool known)
{
	struct http_match m;
	int r = http_route_match(template, path, &m);

	FUZZ_CHECK(r == -1 || r == 0 || r == 1);
	FUZZ_CHECK(r == 1 || m.count == 0);
	FUZZ_CHECK(m.count >= 0 && m.count <= HTTP_MAX_PARAMS);
	if (r == 1 && known)
		FUZZ_CHECK(m.count == count_params(template));
	if (r == 1 && count_params(template) == 0)
		FUZZ_CHECK(strcmp(template, path) == 0);
	for (int i = 0; i < m.count; i++) {
		FUZZ_CHECK(m.names[i] != NULL && m.names[i][0] != '\0');
		FUZZ_CHECK(m.values[i] != NULL && m.values[i][0] != '\0');
	}
	http_match_clear(&m);
	FUZZ_CHECK(m.count == 0);
}

static void
fuzz_known_routes(const uint8_t *data, size_t size)
{
	char *path = xstrndup((const char *)data, size);

	for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++)
		match_one(templates[i], path, true);
	free(path);
}

/* Splits "a\0b" into two strings; b is empty without a NUL. */
static void
split(const uint8_t *data, size_t size, char **a, char **b)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t alen = nul != NULL ? (size_t)(nul - data) : size;

	*a = xstrndup((const char *)data, alen);
	*b = nul != NULL ? xstrndup((const char *)nul + 1, size - alen - 1)
			 : xstrdup("");
}

static void
fuzz_template(const uint8_t *data, size_t size)
{
	char *template, *path;

	split(data, size, &template, &path);
	match_one(template, path, false);
	free(template);
	free(path);
}

static void
fuzz_methods(const uint8_t *data, size_t size)
{
	char *methods, *method;

	split(data, size, &methods, &method);
	if (http_method_listed(methods, method))
		FUZZ_CHECK(
		    method[0] != '\0' && strstr(methods, method) != NULL);
	free(methods);
	free(method);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fuzz_decode(data + 1, size - 1, false);
		break;
	case 1:
		fuzz_decode(data + 1, size - 1, true);
		break;
	case 2:
		fuzz_known_routes(data + 1, size - 1);
		break;
	case 3:
		fuzz_template(data + 1, size - 1);
		break;
	default:
		fuzz_methods(data + 1, size - 1);
		break;
	}
	return 0;
}
