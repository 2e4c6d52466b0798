/*
 * fuzz_senders.c - libFuzzer harness for the eight mail-sender adapters
 * (sender_find(name)->handle).
 *
 * Input layout:
 *   byte 0        selector: bits 0-2 pick the sender (in the order of
 *                 sender_names below), bit 3 asks for signed mode
 *   "@" block     optional: if the next byte is '@', the lines after it up
 *                 to an empty line are request headers "Name: value"; the
 *                 pseudo-header ":method" sets the method
 *   the rest      the raw body, handed over without a terminating NUL
 *
 * Unsigned mode sends the body with the sender's plausible headers but
 * without credentials, so the adapters' authentication (and its rejection
 * path) sees whatever the input carries.  Signed mode computes valid
 * credentials for the fuzzed body, so the parsing and mapping code behind
 * authentication is reached: Basic credentials (Postmark, SparkPost,
 * Brevo, Mailjet), the form's HMAC-SHA1 (Mandrill), an ECDSA signature
 * under a key made at start-up (SendGrid), and for the senders that sign
 * inside the body (Mailgun's HMAC, SES's SNS RSA signature) the body is
 * parsed, re-signed and re-serialised, so malformed JSON stays unsigned.
 *
 * ENGAGEMENTD_FUZZ_SENDER=<name> forces the sender and
 * ENGAGEMENTD_FUZZ_SIGN=0|1 forces the mode; byte 0 is consumed anyway so
 * that one corpus serves every setting.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/err.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "senders/common.h"
#include "senders/sender.h"
#include "fuzz_check.h"

/* 2026-01-01T10:00:00Z, the clock the fixtures were recorded against. */
#define PIN_MS 1767261600000LL
#define MAX_HEADERS 32
/* Room left for the credentials signed mode adds after the input's own. */
#define MAX_INPUT_HEADERS 24
#define DEFAULT_SG_TIMESTAMP "1767261590"
#define MANDRILL_URL "https://hooks.example.com/webhooks/mandrill"
#define SES_TOPIC "arn:aws:sns:us-east-1:000000000000:ses-crm-events"

enum sender_index {
	IX_SENDGRID,
	IX_MAILGUN,
	IX_POSTMARK,
	IX_SES,
	IX_SPARKPOST,
	IX_MANDRILL,
	IX_BREVO,
	IX_MAILJET,
	IX_COUNT
};

static const char *const sender_names[IX_COUNT] = { "sendgrid", "mailgun",
	"postmark", "ses", "sparkpost", "mandrill", "brevo", "mailjet" };

/* Headers every request of that sender carries, credentials aside. */
static const char *const default_headers[IX_COUNT][4] = {
	{ "Content-Type", "application/json;charset=utf-8", "User-Agent",
	    "SendGrid Event API" },
	{ "Content-Type", "application/json", NULL, NULL },
	{ "Content-Type", "application/json", NULL, NULL },
	{ "Content-Type", "text/plain; charset=UTF-8", "x-amz-sns-topic-arn",
	    SES_TOPIC },
	{ "Content-Type", "application/json", "X-MessageSystems-Batch-ID",
	    "0f1e2d3c-0000-4000-8000-000000000001" },
	{ "Content-Type", "application/x-www-form-urlencoded", NULL, NULL },
	{ "Content-Type", "application/json", NULL, NULL },
	{ "Content-Type", "application/json", NULL, NULL },
};

/* The test-only secrets of tests/data/webhooks (see docs/webhooks.md). */
static struct sender_secrets secrets[IX_COUNT] = {
	[IX_SENDGRID] = { .replay_window_s = 86400 },
	[IX_MAILGUN] = { .signing_key = "mg-test-signing-key-4f7d2c9a1b",
	    .replay_window_s = 86400 },
	[IX_POSTMARK] = { .username = "pm-hook",
	    .password = "test-pm-password-0001",
	    .token = "test-pm-header-token-0001" },
	[IX_SES] = { .topic_arn = SES_TOPIC },
	[IX_SPARKPOST] = { .username = "sp-hook",
	    .password = "test-sp-password-0001" },
	[IX_MANDRILL] = { .signing_key = "test-mandrill-webhook-key-0001",
	    .signed_url = MANDRILL_URL },
	[IX_BREVO] = { .username = "brevo-hook",
	    .password = "test-brevo-password-0001",
	    .token = "test-brevo-bearer-token-0001" },
	[IX_MAILJET] = { .username = "mj-hook",
	    .password = "test-mj-password-0001" },
};

struct header {
	char *name;
	char *value;
};

struct headers {
	struct header items[MAX_HEADERS];
	size_t count;
};

static int forced_sender = -1; /* from ENGAGEMENTD_FUZZ_SENDER */
static int forced_sign = -1;   /* from ENGAGEMENTD_FUZZ_SIGN */
static bool verbose;           /* ENGAGEMENTD_FUZZ_VERBOSE: one line a run */
static EVP_PKEY *sg_key;       /* made at start-up, signs SendGrid bodies */
static char *sg_public_pem;
static char *sg_fixture_key; /* the fixtures' key, for unsigned mode */
static EVP_PKEY *ses_key;    /* the test SNS key, when the fixtures exist */
static char *ses_cert_dir;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---------------------------------------------------------------------- */
/* Set-up                                                                  */
/* ---------------------------------------------------------------------- */

static void
make_sendgrid_key(void)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long len;

	sg_key = EVP_EC_gen("P-256");
	FUZZ_CHECK(sg_key != NULL && bio != NULL);
	FUZZ_CHECK(PEM_write_bio_PUBKEY(bio, sg_key) == 1);
	len = BIO_get_mem_data(bio, &pem);
	FUZZ_CHECK(len > 0);
	sg_public_pem = xstrndup(pem, (size_t)len);
	BIO_free(bio);
	secrets[IX_SENDGRID].public_key = sg_public_pem;
}

static const char *
data_dir(void)
{
	const char *data = getenv("ENGAGEMENTD_TEST_DATA");

	return data != NULL && data[0] != '\0' ? data : "tests/data";
}

/*
 * Unsigned mode checks SendGrid requests against the fixtures' public key,
 * so a seed carrying a recorded signature still verifies.
 */
static void
load_sendgrid_fixture_key(void)
{
	char *path =
	    xasprintf("%s/webhooks/sendgrid/keys/public_key.b64", data_dir());
	FILE *f = fopen(path, "r");
	char line[512];

	if (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		sg_fixture_key = xstrdup(line);
	}
	if (f != NULL)
		fclose(f);
	if (sg_fixture_key == NULL)
		fprintf(stderr, "fuzz_senders: no %s\n", path);
	free(path);
}

static void
load_ses_key(void)
{
	const char *data = data_dir();
	char *path;
	FILE *f;

	ses_cert_dir = xasprintf("%s/webhooks/ses/keys", data);
	secrets[IX_SES].cert_dir = ses_cert_dir;
	path = xasprintf("%s/sns_test_private_key.pem", ses_cert_dir);
	f = fopen(path, "r");
	if (f != NULL) {
		ses_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (ses_key == NULL)
		fprintf(
		    stderr, "fuzz_senders: no %s; SES stays unsigned\n", path);
	free(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *name = getenv("ENGAGEMENTD_FUZZ_SENDER");
	const char *sign = getenv("ENGAGEMENTD_FUZZ_SIGN");

	(void)argc;
	(void)argv;
	time_pin(PIN_MS);
	for (int i = 0; name != NULL && i < IX_COUNT; i++)
		if (strcmp(name, sender_names[i]) == 0)
			forced_sender = i;
	if (name != NULL && name[0] != '\0' && forced_sender < 0) {
		fprintf(stderr, "fuzz_senders: unknown sender \"%s\"\n", name);
		exit(2);
	}
	if (sign != NULL && sign[0] != '\0')
		forced_sign = strcmp(sign, "0") != 0;
	verbose = getenv("ENGAGEMENTD_FUZZ_VERBOSE") != NULL;
	for (int i = 0; i < IX_COUNT; i++)
		FUZZ_CHECK(sender_find(sender_names[i]) != NULL);
	make_sendgrid_key();
	load_sendgrid_fixture_key();
	load_ses_key();
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Headers                                                                 */
/* ---------------------------------------------------------------------- */

/* Later entries win, so credentials added last override fuzzed ones. */
static const char *
header_lookup(const void *ctx, const char *name)
{
	const struct headers *h = ctx;

	for (size_t i = h->count; i > 0; i--)
		if (strcasecmp(h->items[i - 1].name, name) == 0)
			return h->items[i - 1].value;
	return NULL;
}

static void
header_add(struct headers *h, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	if (h->count == MAX_HEADERS)
		return;
	h->items[h->count].name = xstrndup(name, name_len);
	h->items[h->count].value = xstrndup(value, value_len);
	h->count++;
}

static void
header_set(struct headers *h, const char *name, const char *value)
{
	header_add(h, name, strlen(name), value, strlen(value));
}

static void
headers_clear(struct headers *h)
{
	for (size_t i = 0; i < h->count; i++) {
		free(h->items[i].name);
		free(h->items[i].value);
	}
	h->count = 0;
}

/*
 * Reads the "@" block at *p (see the top of the file) into h, leaving *p
 * and *len at the body.
 */
static void
read_header_block(const uint8_t **p, size_t *len, struct headers *h)
{
	const char *s = (const char *)*p + 1;
	const char *end = (const char *)*p + *len;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *line_end = nl != NULL ? nl : end;
		const char *colon = memchr(s, ':', (size_t)(line_end - s));
		const char *value;

		if (line_end == s) {
			s = nl != NULL ? nl + 1 : end;
			break;
		}
		/* ":method" starts with the colon; look past it. */
		if (colon == s)
			colon = memchr(s + 1, ':', (size_t)(line_end - s - 1));
		if (colon != NULL && h->count < MAX_INPUT_HEADERS) {
			value = colon + 1;
			while (value < line_end && *value == ' ')
				value++;
			header_add(h, s, (size_t)(colon - s), value,
			    (size_t)(line_end - value));
		}
		s = nl != NULL ? nl + 1 : end;
	}
	*len = (size_t)(end - s);
	*p = (const uint8_t *)s;
}

/* ---------------------------------------------------------------------- */
/* Signing                                                                 */
/* ---------------------------------------------------------------------- */

static void
sign_basic(int ix, struct headers *h, bool bearer)
{
	const struct sender_secrets *s = &secrets[ix];
	char *pair, *b64, *value;

	if (bearer && s->token != NULL) {
		value = xasprintf("Bearer %s", s->token);
	} else {
		pair = xasprintf("%s:%s", s->username, s->password);
		b64 = sender_base64_encode(
		    (const unsigned char *)pair, strlen(pair));
		value = xasprintf("Basic %s", b64);
		free(pair);
		free(b64);
	}
	header_set(h, "Authorization", value);
	free(value);
}

static void
sign_sendgrid(struct headers *h, const char *body, size_t len)
{
	const char *ts =
	    header_lookup(h, "X-Twilio-Email-Event-Webhook-Timestamp");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[128];
	size_t sig_len = sizeof(sig);
	char *b64;

	if (ts == NULL) {
		header_set(h, "X-Twilio-Email-Event-Webhook-Timestamp",
		    DEFAULT_SG_TIMESTAMP);
		ts = DEFAULT_SG_TIMESTAMP;
	}
	FUZZ_CHECK(ctx != NULL);
	FUZZ_CHECK(
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, sg_key) == 1);
	FUZZ_CHECK(EVP_DigestSignUpdate(ctx, ts, strlen(ts)) == 1);
	FUZZ_CHECK(len == 0 || EVP_DigestSignUpdate(ctx, body, len) == 1);
	FUZZ_CHECK(EVP_DigestSignFinal(ctx, sig, &sig_len) == 1);
	EVP_MD_CTX_free(ctx);
	b64 = sender_base64_encode(sig, sig_len);
	header_set(h, "X-Twilio-Email-Event-Webhook-Signature", b64);
	free(b64);
}

/* Mandrill signs the URL, then each decoded field sorted by name. */
static void
sign_mandrill(struct headers *h, const char *body, size_t len)
{
	const struct sender_secrets *s = &secrets[IX_MANDRILL];
	struct sender_form form;
	size_t total = strlen(s->signed_url), off;
	unsigned char mac[64];
	size_t mac_len;
	char *text, *b64;

	if (!sender_form_parse(body != NULL ? body : "", len, &form))
		return;
	sender_form_sort(&form);
	for (size_t i = 0; i < form.count; i++)
		total += form.fields[i].name_len + form.fields[i].value_len;
	text = xmalloc(total + 1);
	off = strlen(s->signed_url);
	memcpy(text, s->signed_url, off);
	for (size_t i = 0; i < form.count; i++) {
		memcpy(
		    text + off, form.fields[i].name, form.fields[i].name_len);
		off += form.fields[i].name_len;
		memcpy(
		    text + off, form.fields[i].value, form.fields[i].value_len);
		off += form.fields[i].value_len;
	}
	FUZZ_CHECK(sender_hmac(SENDER_SHA1, s->signing_key,
	    strlen(s->signing_key), text, off, mac, &mac_len));
	b64 = sender_base64_encode(mac, mac_len);
	header_set(h, "X-Mandrill-Signature", b64);
	free(b64);
	free(text);
	sender_form_clear(&form);
}

/* Rewrites signature.signature; false when the body has nowhere to put it. */
static bool
sign_mailgun(json_t *root)
{
	const struct sender_secrets *s = &secrets[IX_MAILGUN];
	json_t *sig = json_object_get(root, "signature");
	char *ts = sender_json_text(json_object_get(sig, "timestamp"));
	const char *token = sender_json_str(sig, "token");
	unsigned char mac[64];
	char hex[129];
	size_t mac_len;
	char *text;

	if (!json_is_object(sig) || ts == NULL || token == NULL) {
		free(ts);
		return false;
	}
	text = xasprintf("%s%s", ts, token);
	FUZZ_CHECK(sender_hmac(SENDER_SHA256, s->signing_key,
	    strlen(s->signing_key), text, strlen(text), mac, &mac_len));
	sender_hex(mac, mac_len, hex);
	json_object_set_new(sig, "signature", json_string(hex));
	free(text);
	free(ts);
	return true;
}

/* The SNS string to sign: "key\nvalue\n" in this order, Subject optional. */
static char *
sns_text(const json_t *root)
{
	static const char *const notification[] = { "Message", "MessageId",
		"Subject", "Timestamp", "TopicArn", "Type", NULL };
	static const char *const confirmation[] = { "Message", "MessageId",
		"SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
		NULL };
	const char *type = sender_json_str(root, "Type");
	const char *const *keys;
	char *text = xstrdup("");

	if (type == NULL) {
		free(text);
		return NULL;
	}
	keys = strcmp(type, "Notification") == 0 ? notification : confirmation;
	for (; *keys != NULL; keys++) {
		const char *v = json_string_value(json_object_get(root, *keys));
		char *next;

		if (v == NULL && strcmp(*keys, "Subject") == 0)
			continue;
		if (v == NULL) {
			free(text);
			return NULL;
		}
		next = xasprintf("%s%s\n%s\n", text, *keys, v);
		free(text);
		text = next;
	}
	return text;
}

static bool
sign_ses(json_t *root)
{
	const char *version = sender_json_str(root, "SignatureVersion");
	char *text = ses_key != NULL ? sns_text(root) : NULL;
	EVP_MD_CTX *ctx;
	unsigned char sig[1024];
	size_t sig_len = sizeof(sig);
	char *b64;

	if (text == NULL)
		return false;
	ctx = EVP_MD_CTX_new();
	FUZZ_CHECK(ctx != NULL);
	FUZZ_CHECK(
	    EVP_DigestSignInit(ctx, NULL,
		version != NULL && strcmp(version, "1") == 0 ? EVP_sha1()
							     : EVP_sha256(),
		NULL, ses_key) == 1);
	FUZZ_CHECK(EVP_DigestSignUpdate(ctx, text, strlen(text)) == 1);
	FUZZ_CHECK(EVP_DigestSignFinal(ctx, sig, &sig_len) == 1);
	EVP_MD_CTX_free(ctx);
	b64 = sender_base64_encode(sig, sig_len);
	json_object_set_new(root, "Signature", json_string(b64));
	free(b64);
	free(text);
	return true;
}

/*
 * For the senders whose signature lives in the body: a re-signed copy of
 * the body (caller frees), or NULL to send the original bytes.
 */
static char *
resign_body(int ix, const char *body, size_t len)
{
	json_t *root = json_loadb(body != NULL ? body : "", len, 0, NULL);
	bool signed_now = false;
	char *out = NULL;

	if (json_is_object(root))
		signed_now =
		    ix == IX_MAILGUN ? sign_mailgun(root) : sign_ses(root);
	if (signed_now)
		out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

/* ---------------------------------------------------------------------- */
/* Checks                                                                  */
/* ---------------------------------------------------------------------- */

static void
check_event(const struct event *ev)
{
	FUZZ_CHECK((int)ev->type >= 0 && ev->type < EVENT_TYPE_COUNT);
	FUZZ_CHECK(ev->event_id != NULL && ev->event_id[0] != '\0');
	FUZZ_CHECK(ev->type == EVENT_BOUNCE || ev->bounce == BOUNCE_NONE);
	FUZZ_CHECK(ev->type != EVENT_BOUNCE || ev->bounce != BOUNCE_NONE);
	FUZZ_CHECK(ev->verdict == VERDICT_NONE);
	if (ev->email != NULL) {
		FUZZ_CHECK(strchr(ev->email, '@') != NULL);
		for (const char *p = ev->email; *p != '\0'; p++)
			FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'));
	}
	FUZZ_CHECK(ev->email != NULL || ev->contact_id != NULL);
}

static void
check_outcome(int ix, enum sender_status st, const struct sender_result *out,
    const struct err *err)
{
	switch (st) {
	case SENDER_OK:
		FUZZ_CHECK(!err_is_set(err));
		FUZZ_CHECK(out->subscribe_url == NULL);
		for (size_t i = 0; i < out->batch.count; i++)
			check_event(&out->batch.items[i]);
		break;
	case SENDER_SUBSCRIPTION:
		FUZZ_CHECK(ix == IX_SES);
		FUZZ_CHECK(out->subscribe_url != NULL);
		FUZZ_CHECK(out->batch.count == 0);
		break;
	case SENDER_UNAUTHORIZED:
		FUZZ_CHECK(err->status == 401);
		FUZZ_CHECK(out->batch.count == 0 && out->subscribe_url == NULL);
		break;
	case SENDER_MALFORMED:
		FUZZ_CHECK(err->status == 400);
		FUZZ_CHECK(out->batch.count == 0 && out->subscribe_url == NULL);
		break;
	case SENDER_NOT_CONFIGURED:
		FUZZ_CHECK(err_is_set(err));
		FUZZ_CHECK(out->batch.count == 0 && out->subscribe_url == NULL);
		break;
	default:
		FUZZ_CHECK(!"unknown sender status");
	}
}

/* With no secrets, only Mandrill's HEAD check may succeed. */
static void
run_unconfigured(const struct sender *s, const struct sender_request *req)
{
	const struct sender_secrets none = { 0 };
	struct sender_result out;
	struct err err = { 0 };
	enum sender_status st;

	memset(&out, 0, sizeof(out));
	st = s->handle(req, &none, &out, &err);
	if (st == SENDER_OK)
		FUZZ_CHECK(strcmp(s->name, "mandrill") == 0 &&
			   strcasecmp(req->method, "HEAD") == 0 &&
			   out.batch.count == 0);
	else
		FUZZ_CHECK(st == SENDER_NOT_CONFIGURED);
	sender_result_clear(&out);
}

/* ---------------------------------------------------------------------- */
/* Entry point                                                             */
/* ---------------------------------------------------------------------- */

static void
add_credentials(
    int ix, struct headers *h, const char *body, size_t len, bool bearer)
{
	switch (ix) {
	case IX_SENDGRID:
		sign_sendgrid(h, body, len);
		break;
	case IX_MANDRILL:
		sign_mandrill(h, body, len);
		break;
	case IX_POSTMARK:
	case IX_SPARKPOST:
	case IX_BREVO:
	case IX_MAILJET:
		sign_basic(ix, h, bearer);
		break;
	default:
		break; /* Mailgun and SES sign inside the body */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct headers h = { .count = 0 };
	struct sender_request req;
	struct sender_secrets use;
	struct sender_result out;
	struct err err = { 0 };
	const struct sender *s;
	char *resigned = NULL;
	const char *method;
	enum sender_status st;
	bool sign;
	int ix;

	if (size == 0)
		return 0;
	ix = forced_sender >= 0 ? forced_sender : data[0] & 7;
	sign = forced_sign >= 0 ? forced_sign : (data[0] & 8) != 0;
	data++;
	size--;
	for (int i = 0; i < 4 && default_headers[ix][i] != NULL; i += 2)
		header_set(
		    &h, default_headers[ix][i], default_headers[ix][i + 1]);
	if (size > 0 && data[0] == '@')
		read_header_block(&data, &size, &h);
	s = sender_find(sender_names[ix]);
	method = header_lookup(&h, ":method");

	memset(&req, 0, sizeof(req));
	req.method = method != NULL ? method : "POST";
	req.body = size > 0 ? (const char *)data : NULL;
	req.body_len = size;
	req.header = header_lookup;
	req.header_ctx = &h;
	req.now_ms = PIN_MS;
	if (sign && (ix == IX_MAILGUN || ix == IX_SES)) {
		resigned = resign_body(ix, req.body, req.body_len);
		if (resigned != NULL) {
			req.body = resigned;
			req.body_len = strlen(resigned);
		}
	}
	if (sign)
		add_credentials(ix, &h, req.body, req.body_len, size % 2 == 1);

	use = secrets[ix];
	if (ix == IX_SENDGRID && !sign && sg_fixture_key != NULL)
		use.public_key = sg_fixture_key;
	memset(&out, 0, sizeof(out));
	st = s->handle(&req, &use, &out, &err);
	if (verbose)
		fprintf(stderr,
		    "%s %s: status %d, %zu events, %zu ignored%s%s\n", s->name,
		    sign ? "signed" : "unsigned", (int)st, out.batch.count,
		    out.batch.ignored, st ? ": " : "", st ? err.message : "");
	check_outcome(ix, st, &out, &err);
	sender_result_clear(&out);
	FUZZ_CHECK(out.batch.count == 0 && out.subscribe_url == NULL);
	run_unconfigured(s, &req);

	free(resigned);
	headers_clear(&h);
	return 0;
}
