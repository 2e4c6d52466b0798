/*
 * common.c - helpers shared by the mail-sender adapters (see
 * include/senders/common.h): outcomes, credential checks, base64, HMAC and
 * digests through libcrypto, form decoding, JSON access and time formats.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "senders/common.h"

/* ---------------------------------------------------------------------- */
/* Outcomes                                                                */
/* ---------------------------------------------------------------------- */

enum sender_status
sender_unauthorized(struct err *err)
{
	/* One message for every cause, so a caller learns nothing from it. */
	err_set(err, 401, "unauthorized",
	    "webhook signature or credentials missing or invalid");
	return SENDER_UNAUTHORIZED;
}

enum sender_status
sender_malformed(struct err *err, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(err, 400, "malformed_body", "%s", msg);
	return SENDER_MALFORMED;
}

enum sender_status
sender_not_configured(struct err *err, const char *sender, const char *what)
{
	err_set(err, 503, "webhook_not_configured",
	    "webhooks from %s are not configured for this account (%s)", sender,
	    what);
	return SENDER_NOT_CONFIGURED;
}

enum sender_status
sender_finish(struct sender_result *out, enum sender_status st)
{
	if (st != SENDER_OK && st != SENDER_SUBSCRIPTION)
		sender_result_clear(out);
	return st;
}

/* ---------------------------------------------------------------------- */
/* Credentials                                                             */
/* ---------------------------------------------------------------------- */

bool
sender_is_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

bool
sender_equal_ct(const void *a, size_t alen, const void *b, size_t blen)
{
	/*
	 * Compare against ourselves when lengths differ so the time taken
	 * does not depend on where the contents first differ.
	 */
	if (alen != blen) {
		(void)CRYPTO_memcmp(a, a, alen);
		return false;
	}
	return CRYPTO_memcmp(a, b, alen) == 0;
}

static bool
str_equal_ct(const char *given, const char *expected)
{
	return given != NULL && expected != NULL &&
	       sender_equal_ct(
		   given, strlen(given), expected, strlen(expected));
}

const char *
sender_header(const struct sender_request *req, const char *name)
{
	if (req->header == NULL)
		return NULL;
	return req->header(req->header_ctx, name);
}

/* Returns the text after "<scheme> " in an Authorization value, or NULL. */
static const char *
auth_param(const char *authorization, const char *scheme)
{
	size_t n = strlen(scheme);

	if (authorization == NULL ||
	    strncasecmp(authorization, scheme, n) != 0 ||
	    authorization[n] != ' ')
		return NULL;
	authorization += n;
	while (*authorization == ' ')
		authorization++;
	return authorization;
}

static bool
basic_matches(const char *authorization, const char *user, const char *pass)
{
	const char *param = auth_param(authorization, "Basic");
	unsigned char *raw;
	char *expected;
	size_t raw_len;
	bool ok;

	if (param == NULL)
		return false;
	raw = sender_base64_decode(param, strlen(param), &raw_len);
	if (raw == NULL)
		return false;
	expected = xasprintf("%s:%s", user, pass);
	ok = sender_equal_ct(raw, raw_len, expected, strlen(expected));
	free(expected);
	free(raw);
	return ok;
}

enum sender_status
sender_check_http_auth(const struct sender_request *req,
    const struct sender_secrets *secrets, const char *sender,
    const char *header_token, struct err *err)
{
	bool have_basic = sender_is_set(secrets->username) &&
			  sender_is_set(secrets->password);
	bool have_token = sender_is_set(secrets->token);
	const char *authorization = sender_header(req, "Authorization");

	if (!have_basic && !have_token)
		return sender_not_configured(
		    err, sender, "username and password, or token");
	if (have_basic &&
	    basic_matches(authorization, secrets->username, secrets->password))
		return SENDER_OK;
	if (have_token &&
	    str_equal_ct(auth_param(authorization, "Bearer"), secrets->token))
		return SENDER_OK;
	if (have_token && header_token != NULL &&
	    str_equal_ct(sender_header(req, header_token), secrets->token))
		return SENDER_OK;
	return sender_unauthorized(err);
}

/* ---------------------------------------------------------------------- */
/* base64, HMAC, digests                                                   */
/* ---------------------------------------------------------------------- */

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

unsigned char *
sender_base64_decode(const char *text, size_t len, size_t *out_len)
{
	unsigned char *out = xmalloc(len / 4 * 3 + 3);
	unsigned acc = 0;
	size_t n = 0, bits = 0, pad = 0, digits = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		int v;

		if (isspace(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		v = b64_value(c);
		if (v < 0 || pad > 0)
			goto bad;
		digits++;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* A lone sixth bit-group cannot end a valid encoding. */
	if (digits % 4 == 1 || pad > 2 || (pad > 0 && (digits + pad) % 4 != 0))
		goto bad;
	*out_len = n;
	return out;
bad:
	free(out);
	return NULL;
}

char *
sender_base64_encode(const unsigned char *data, size_t len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc((len + 2) / 3 * 4 + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)data[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

bool
sender_hmac(enum sender_digest digest, const void *key, size_t key_len,
    const void *data, size_t data_len, unsigned char *mac, size_t *mac_len)
{
	const EVP_MD *md = digest == SENDER_SHA1 ? EVP_sha1() : EVP_sha256();
	unsigned int len = 0;

	if (HMAC(md, key, (int)key_len, data, data_len, mac, &len) == NULL)
		return false;
	*mac_len = len;
	return true;
}

void
sender_hex(const unsigned char *data, size_t len, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[data[i] >> 4];
		hex[2 * i + 1] = digits[data[i] & 15];
	}
	hex[2 * len] = '\0';
}

char *
sender_composite_id(char prefix, const char *const *fields, size_t count)
{
	static const char sep = 0x1f;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok;

	if (ctx == NULL)
		abort();
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	for (size_t i = 0; ok && i < count; i++) {
		const char *f = fields[i] != NULL ? fields[i] : "";

		if (i > 0)
			ok = EVP_DigestUpdate(ctx, &sep, 1) == 1;
		ok = ok && EVP_DigestUpdate(ctx, f, strlen(f)) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &md_len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		abort(); /* SHA-256 does not fail short of a broken libcrypto */
	sender_hex(md, md_len, hex);
	return xasprintf("%c%.32s", prefix, hex);
}

/* ---------------------------------------------------------------------- */
/* Forms                                                                   */
/* ---------------------------------------------------------------------- */

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

/* Decodes s[0..len) into a new NUL-terminated buffer; false on bad %XX. */
static bool
form_decode(const char *s, size_t len, char **out, size_t *out_len)
{
	char *buf = xmalloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			buf[n++] = ' ';
		} else if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= len) {
				free(buf);
				return false;
			}
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0) {
				free(buf);
				return false;
			}
			buf[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			buf[n++] = s[i];
		}
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return true;
}

static bool
form_add(struct sender_form *form, const char *pair, size_t len)
{
	const char *eq = memchr(pair, '=', len);
	size_t name_len = eq != NULL ? (size_t)(eq - pair) : len;
	struct sender_form_field f;

	memset(&f, 0, sizeof(f));
	if (!form_decode(pair, name_len, &f.name, &f.name_len))
		return false;
	if (eq == NULL) {
		f.value = xstrdup("");
	} else if (!form_decode(
		       eq + 1, len - name_len - 1, &f.value, &f.value_len)) {
		free(f.name);
		return false;
	}
	if (form->count == form->capacity) {
		form->capacity = form->capacity == 0 ? 4 : form->capacity * 2;
		form->fields = xrealloc(
		    form->fields, form->capacity * sizeof(*form->fields));
	}
	f.position = form->count;
	form->fields[form->count++] = f;
	return true;
}

bool
sender_form_parse(const char *body, size_t len, struct sender_form *form)
{
	size_t start = 0;

	memset(form, 0, sizeof(*form));
	while (start < len) {
		const char *amp = memchr(body + start, '&', len - start);
		size_t end = amp != NULL ? (size_t)(amp - body) : len;

		if (end > start && !form_add(form, body + start, end - start)) {
			sender_form_clear(form);
			return false;
		}
		start = end + 1;
	}
	return true;
}

static int
field_cmp(const void *a, const void *b)
{
	const struct sender_form_field *fa = a, *fb = b;
	int c = strcmp(fa->name, fb->name);

	if (c != 0)
		return c;
	return fa->position < fb->position ? -1 : fa->position > fb->position;
}

void
sender_form_sort(struct sender_form *form)
{
	/*
	 * qsort, not a simple quadratic sort: the form is sorted before the
	 * signature is checked, so its size is chosen by whoever sends it.
	 */
	if (form->count > 1)
		qsort(form->fields, form->count, sizeof(*form->fields),
		    field_cmp);
}

const struct sender_form_field *
sender_form_get(const struct sender_form *form, const char *name)
{
	for (size_t i = 0; i < form->count; i++)
		if (strcmp(form->fields[i].name, name) == 0)
			return &form->fields[i];
	return NULL;
}

void
sender_form_clear(struct sender_form *form)
{
	for (size_t i = 0; i < form->count; i++) {
		free(form->fields[i].name);
		free(form->fields[i].value);
	}
	free(form->fields);
	memset(form, 0, sizeof(*form));
}

/* ---------------------------------------------------------------------- */
/* JSON                                                                    */
/* ---------------------------------------------------------------------- */

enum sender_status
sender_parse_json(
    const struct sender_request *req, json_t **out, struct err *err)
{
	json_error_t jerr;

	*out = NULL;
	if (req->body == NULL || req->body_len == 0)
		return sender_malformed(err, "empty body");
	*out = json_loadb(req->body, req->body_len, 0, &jerr);
	if (*out == NULL)
		return sender_malformed(err,
		    "body is not valid JSON: %s at line %d", jerr.text,
		    jerr.line);
	return SENDER_OK;
}

const char *
sender_json_str(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	const char *s = json_string_value(v);

	return s != NULL && s[0] != '\0' ? s : NULL;
}

json_t *
sender_json_path(const json_t *obj, ...)
{
	json_t *cur = (json_t *)obj;
	const char *key;
	va_list ap;

	va_start(ap, obj);
	while (cur != NULL && (key = va_arg(ap, const char *)) != NULL)
		cur = json_object_get(cur, key);
	va_end(ap);
	return cur;
}

char *
sender_json_text(const json_t *value)
{
	double d;

	if (json_is_string(value))
		return json_string_length(value) > 0
			   ? xstrdup(json_string_value(value))
			   : NULL;
	if (json_is_integer(value))
		return xasprintf(
		    "%" JSON_INTEGER_FORMAT, json_integer_value(value));
	if (json_is_real(value)) {
		d = json_real_value(value);
		if (d == floor(d) && fabs(d) < 9e15)
			return xasprintf("%.0f", d);
	}
	return NULL;
}

char *
sender_contact_from_json_text(const char *text)
{
	json_t *root;
	char *contact = NULL;
	const char *s;

	if (text == NULL)
		return NULL;
	root = json_loads(text, 0, NULL);
	if (root == NULL)
		return NULL;
	s = sender_json_str(root, SENDER_CONTACT_KEY);
	if (s != NULL)
		contact = xstrdup(s);
	json_decref(root);
	return contact;
}

/* ---------------------------------------------------------------------- */
/* Times                                                                   */
/* ---------------------------------------------------------------------- */

/* Parses decimal text, optionally with a fraction, as a double. */
static bool
numeric_text(const char *s, double *out)
{
	char *end;

	if (s == NULL || !(isdigit((unsigned char)s[0]) || s[0] == '-'))
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0' && isfinite(*out);
}

static bool
scaled_ms(const json_t *value, double scale, int64_t *ms)
{
	double d;

	if (json_is_integer(value)) {
		json_int_t i = json_integer_value(value);

		if (scale == 1.0) {
			*ms = (int64_t)i;
			return true;
		}
		d = (double)i;
	} else if (json_is_real(value)) {
		d = json_real_value(value);
	} else if (!numeric_text(json_string_value(value), &d)) {
		return false;
	}
	/*
	 * Round to the microsecond first: fractions such as .123456 are not
	 * exact in binary, and truncating the product directly could lose a
	 * millisecond.
	 */
	if (!isfinite(d) || fabs(d * scale) > 9.0e15)
		return false;
	*ms = (int64_t)floor((double)llround(d * scale * 1000.0) / 1000.0);
	return true;
}

enum sender_status
sender_each_event(const json_t *root, bool lone_object, sender_event_fn parse,
    struct sender_result *out, struct err *err)
{
	enum sender_status st = SENDER_OK;
	const json_t *item;
	size_t i;

	if (lone_object && json_is_object(root))
		return parse(root, 0, out, err);
	if (!json_is_array(root))
		return sender_malformed(
		    err, lone_object ? "expected a JSON object or array"
				     : "expected a JSON array of events");
	json_array_foreach(root, i, item)
	{
		st = parse(item, i, out, err);
		if (st != SENDER_OK)
			break;
	}
	return st;
}

enum sender_status
sender_handle_json_events(const struct sender_request *req,
    const struct sender_secrets *secrets, const char *sender, bool lone_object,
    sender_event_fn parse, struct sender_result *out, struct err *err)
{
	json_t *root = NULL;
	enum sender_status st;

	st = sender_check_http_auth(req, secrets, sender, NULL, err);
	if (st == SENDER_OK)
		st = sender_parse_json(req, &root, err);
	if (st == SENDER_OK)
		st = sender_each_event(root, lone_object, parse, out, err);
	json_decref(root);
	return sender_finish(out, st);
}

bool
sender_timestamp_fresh(const char *text, int64_t now_ms, int64_t window_s)
{
	int64_t now_s = now_ms / 1000;
	long long secs;
	char *end;

	errno = 0;
	secs = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		return false;
	if (window_s <= 0)
		return true;
	/* compare in seconds, where neither side can overflow: a timestamp
	 * near the type's limits must not wrap into the window */
	return secs >= now_s - window_s && secs <= now_s + window_s;
}

bool
sender_time_seconds(const json_t *value, int64_t *ms)
{
	return scaled_ms(value, 1000.0, ms);
}

bool
sender_time_millis(const json_t *value, int64_t *ms)
{
	return scaled_ms(value, 1.0, ms);
}

bool
sender_time_iso(const json_t *value, int64_t *ms)
{
	return time_parse_iso8601(json_string_value(value), ms);
}

/* ---------------------------------------------------------------------- */
/* Building events                                                         */
/* ---------------------------------------------------------------------- */

bool
sender_lookup_kind(const struct sender_name_kind *table, const char *name,
    struct sender_kind *kind)
{
	if (name == NULL)
		return false;
	for (const struct sender_name_kind *row = table; row->name; row++) {
		if (strcmp(row->name, name) == 0) {
			*kind = row->kind;
			return true;
		}
	}
	return false;
}

struct event *
sender_push(struct sender_result *out, const struct sender_kind *kind)
{
	struct event *ev = event_batch_push(&out->batch);

	ev->type = kind->type;
	ev->bounce = kind->type == EVENT_BOUNCE ? kind->bounce : BOUNCE_NONE;
	ev->flags = kind->flags;
	ev->verdict = VERDICT_NONE;
	return ev;
}

bool
sender_set_email(struct event *ev, const char *email)
{
	free(ev->email);
	ev->email = xstrdup(email);
	if (ev->email != NULL && event_normalize_email(ev->email))
		return true;
	free(ev->email);
	ev->email = NULL;
	return false;
}

unsigned
sender_ua_flags(const char *user_agent)
{
	if (user_agent != NULL &&
	    strstr(user_agent, "GoogleImageProxy") != NULL)
		return EVENT_FLAG_GMAIL_PROXY;
	return 0;
}

void
sender_set_client(
    struct event *ev, const char *url, const char *user_agent, const char *ip)
{
	if (url != NULL && url[0] != '\0')
		ev->url = xstrdup(url);
	if (user_agent != NULL && user_agent[0] != '\0')
		ev->user_agent = xstrdup(user_agent);
	if (ip != NULL && ip[0] != '\0')
		ev->ip = xstrdup(ip);
	ev->flags |= sender_ua_flags(user_agent);
}
