/*
 * ses.c - the Amazon SES adapter (event publishing through an SNS topic).
 *
 * SNS posts an envelope whose Message is the SES event as a JSON string.
 * The envelope is signed with RSA (SignatureVersion 1: SHA-1, 2: SHA-256)
 * over a canonical string built from some of its fields, so the envelope
 * must be parsed before it can be checked.  The signing certificate is
 * never fetched: the operator places trusted certificates in cert_dir and
 * the service only reads them, after checking that SigningCertURL points
 * at an SNS host.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/xmalloc.h"
#include "senders/adapters.h"

static const struct sender_name_kind ses_events[] = {
	{ "Delivery", { EVENT_DELIVERED, BOUNCE_NONE, 0 } },
	{ "Open", { EVENT_OPEN, BOUNCE_NONE, 0 } },
	{ "Click", { EVENT_CLICK, BOUNCE_NONE, 0 } },
	{ "Complaint", { EVENT_COMPLAINT, BOUNCE_NONE, 0 } },
	{ NULL, { 0, 0, 0 } },
};

bool
ses_classify(
    const char *event_type, const char *detail, struct sender_kind *kind)
{
	if (event_type == NULL)
		return false;
	kind->flags = 0;
	kind->bounce = BOUNCE_NONE;
	if (strcmp(event_type, "Bounce") == 0) {
		/* Transient and Undetermined may still get through later. */
		kind->type = EVENT_BOUNCE;
		kind->bounce =
		    detail != NULL && strcmp(detail, "Permanent") == 0
			? BOUNCE_HARD
			: BOUNCE_SOFT;
		return true;
	}
	if (strcmp(event_type, "Subscription") == 0) {
		/* Only "unsubscribe from everything" is an unsubscribe. */
		kind->type = EVENT_UNSUBSCRIBE;
		return detail != NULL && strcmp(detail, "true") == 0;
	}
	/* Send, Reject, DeliveryDelay, Rendering Failure: not kept */
	return sender_lookup_kind(ses_events, event_type, kind);
}

/* ---------------------------------------------------------------------- */
/* Signature                                                               */
/* ---------------------------------------------------------------------- */

static const char *const notification_keys[] = { "Message", "MessageId",
	"Subject", "Timestamp", "TopicArn", "Type", NULL };
static const char *const confirmation_keys[] = { "Message", "MessageId",
	"SubscribeURL", "Timestamp", "Token", "TopicArn", "Type", NULL };

/*
 * The string SNS signs: "key\nvalue\n" for each key in order.  Subject is
 * the only optional one; any other missing key makes the envelope
 * unverifiable (NULL).  Caller frees.
 */
static char *
string_to_sign(const json_t *root, bool notification)
{
	const char *const *keys =
	    notification ? notification_keys : confirmation_keys;
	char *text = xstrdup("");

	for (; *keys != NULL; keys++) {
		const char *v = json_string_value(json_object_get(root, *keys));
		char *next;

		if (v == NULL) {
			if (strcmp(*keys, "Subject") == 0)
				continue;
			free(text);
			return NULL;
		}
		next = xasprintf("%s%s\n%s\n", text, *keys, v);
		free(text);
		text = next;
	}
	return text;
}

/* sns.<region>.amazonaws.com, or .amazonaws.com.cn in China. */
static bool
sns_host(const char *host, size_t len)
{
	static const char *const suffixes[] = { ".amazonaws.com",
		".amazonaws.com.cn", NULL };

	if (len < 4 || strncmp(host, "sns.", 4) != 0)
		return false;
	for (const char *const *s = suffixes; *s != NULL; s++) {
		size_t slen = strlen(*s);
		size_t rlen;

		if (len <= 4 + slen ||
		    strncmp(host + len - slen, *s, slen) != 0)
			continue;
		rlen = len - 4 - slen;
		if (rlen < 3)
			continue;
		for (size_t i = 0; i < rlen; i++) {
			char c = host[4 + i];

			if (!isalnum((unsigned char)c) && c != '-')
				return false;
		}
		return true;
	}
	return false;
}

/*
 * Checks SigningCertURL and returns its file name (borrowed from url), or
 * NULL when the URL is not an SNS certificate URL.
 */
static const char *
cert_basename(const char *url)
{
	const char *host, *slash, *base;

	if (url == NULL || strncmp(url, "https://", 8) != 0)
		return NULL;
	host = url + 8;
	slash = strchr(host, '/');
	if (slash == NULL || !sns_host(host, (size_t)(slash - host)))
		return NULL;
	base = strrchr(slash, '/') + 1;
	if (base[0] == '.' || strlen(base) < 5 ||
	    strcmp(base + strlen(base) - 4, ".pem") != 0)
		return NULL;
	for (const char *p = base; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._-", *p) == NULL)
			return NULL;
	return base;
}

static bool
cert_current(X509 *cert, int64_t now_ms)
{
	time_t now = (time_t)(now_ms / 1000);

	if (now_ms <= 0)
		return true;
	return X509_cmp_time(X509_get0_notBefore(cert), &now) < 0 &&
	       X509_cmp_time(X509_get0_notAfter(cert), &now) > 0;
}

static bool
verify_with_cert(const char *path, enum sender_digest digest, const char *text,
    const unsigned char *sig, size_t sig_len, int64_t now_ms)
{
	FILE *f = fopen(path, "r");
	X509 *cert = NULL;
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx = NULL;
	bool ok = false;

	if (f == NULL)
		return false;
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (cert == NULL || !cert_current(cert, now_ms))
		goto out;
	pkey = X509_get0_pubkey(cert);
	ctx = EVP_MD_CTX_new();
	ok = pkey != NULL && EVP_PKEY_is_a(pkey, "RSA") && ctx != NULL &&
	     EVP_DigestVerifyInit(ctx, NULL,
		 digest == SENDER_SHA1 ? EVP_sha1() : EVP_sha256(), NULL,
		 pkey) == 1 &&
	     EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)text,
		 strlen(text)) == 1;
out:
	EVP_MD_CTX_free(ctx);
	X509_free(cert);
	return ok;
}

static bool
has_pem_suffix(const char *name)
{
	size_t len = strlen(name);

	return name[0] != '.' && len > 4 && strcmp(name + len - 4, ".pem") == 0;
}

/*
 * Tries the certificate named like the URL's file, else every *.pem of
 * cert_dir.  True when one of them verifies the signature.
 */
static bool
verify_in_dir(const char *dir, const char *base, enum sender_digest digest,
    const char *text, const unsigned char *sig, size_t sig_len, int64_t now_ms)
{
	char *path = xasprintf("%s/%s", dir, base);
	FILE *probe = fopen(path, "r");
	DIR *d;
	struct dirent *de;
	bool ok = false;

	if (probe != NULL) {
		fclose(probe);
		ok = verify_with_cert(path, digest, text, sig, sig_len, now_ms);
		free(path);
		return ok;
	}
	free(path);
	d = opendir(dir);
	if (d == NULL)
		return false;
	while (!ok && (de = readdir(d)) != NULL) {
		if (!has_pem_suffix(de->d_name))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		ok = verify_with_cert(path, digest, text, sig, sig_len, now_ms);
		free(path);
	}
	closedir(d);
	return ok;
}

static enum sender_status
authenticate(const json_t *root, bool notification,
    const struct sender_request *req, const struct sender_secrets *secrets,
    struct err *err)
{
	const char *version = sender_json_str(root, "SignatureVersion");
	const char *sig_b64 = sender_json_str(root, "Signature");
	const char *base =
	    cert_basename(sender_json_str(root, "SigningCertURL"));
	const char *topic = sender_json_str(root, "TopicArn");
	enum sender_digest digest;
	unsigned char *sig = NULL;
	char *text = NULL;
	size_t sig_len = 0;
	bool ok = false;

	if (version == NULL || sig_b64 == NULL || base == NULL)
		goto out;
	if (strcmp(version, "1") == 0)
		digest = SENDER_SHA1;
	else if (strcmp(version, "2") == 0)
		digest = SENDER_SHA256;
	else
		goto out;
	if (sender_is_set(secrets->topic_arn) &&
	    (topic == NULL || strcmp(topic, secrets->topic_arn) != 0))
		goto out;
	text = string_to_sign(root, notification);
	sig = sender_base64_decode(sig_b64, strlen(sig_b64), &sig_len);
	if (text == NULL || sig == NULL || sig_len == 0)
		goto out;
	ok = verify_in_dir(
	    secrets->cert_dir, base, digest, text, sig, sig_len, req->now_ms);
out:
	free(sig);
	free(text);
	return ok ? SENDER_OK : sender_unauthorized(err);
}

/* ---------------------------------------------------------------------- */
/* SES events                                                              */
/* ---------------------------------------------------------------------- */

/* "Bounce" -> "bounce": the object that details an event type. */
static const json_t *
detail_object(const json_t *ses, const char *event_type)
{
	char key[32];
	size_t i;

	for (i = 0; event_type[i] != '\0' && i + 1 < sizeof(key); i++)
		key[i] = event_type[i];
	key[i] = '\0';
	key[0] = (char)tolower((unsigned char)key[0]);
	return json_object_get(ses, key);
}

/* Who the event is about: one entry per affected recipient. */
static json_t *
recipients(const json_t *ses, const char *event_type, const json_t *detail)
{
	json_t *list = json_array();
	const json_t *src = NULL, *item;
	size_t i;

	if (strcmp(event_type, "Bounce") == 0)
		src = json_object_get(detail, "bouncedRecipients");
	else if (strcmp(event_type, "Complaint") == 0)
		src = json_object_get(detail, "complainedRecipients");
	else if (strcmp(event_type, "Delivery") == 0)
		src = json_object_get(detail, "recipients");
	json_array_foreach(src, i, item)
	{
		const char *addr = json_is_string(item)
				       ? json_string_value(item)
				       : sender_json_str(item, "emailAddress");

		if (addr != NULL)
			json_array_append_new(list, json_string(addr));
	}
	/* Opens and clicks do not say who acted: the first destination. */
	if (json_array_size(list) == 0) {
		const json_t *dest = json_array_get(
		    sender_json_path(ses, "mail", "destination", NULL), 0);

		if (json_is_string(dest))
			json_array_append(list, (json_t *)dest);
	}
	return list;
}

static const char *
classify_detail(const char *event_type, const json_t *detail)
{
	if (strcmp(event_type, "Subscription") == 0)
		return json_is_true(sender_json_path(detail,
			   "newTopicPreferences", "unsubscribeAll", NULL))
			   ? "true"
			   : "false";
	return sender_json_str(detail, "bounceType");
}

static enum sender_status
fill_event(struct event *ev, const json_t *ses, const json_t *detail,
    const char *email, struct err *err)
{
	const json_t *mail = json_object_get(ses, "mail");
	const json_t *tags = json_object_get(mail, "tags");

	if (!sender_set_email(ev, email))
		return sender_malformed(
		    err, "SES event has an invalid recipient");
	if (!sender_time_iso(
		json_object_get(detail, "timestamp"), &ev->occurred_at_ms) &&
	    !sender_time_iso(
		json_object_get(mail, "timestamp"), &ev->occurred_at_ms))
		return sender_malformed(
		    err, "SES event has no valid timestamp");
	ev->message_id = xstrdup(sender_json_str(mail, "messageId"));
	ev->contact_id = sender_json_text(
	    json_array_get(json_object_get(tags, SENDER_CONTACT_KEY), 0));
	ev->campaign_id = sender_json_text(
	    json_array_get(json_object_get(tags, "campaign_id"), 0));
	if (ev->type == EVENT_OPEN || ev->type == EVENT_CLICK)
		sender_set_client(ev, sender_json_str(detail, "link"),
		    sender_json_str(detail, "userAgent"),
		    sender_json_str(detail, "ipAddress"));
	return SENDER_OK;
}

static enum sender_status
parse_ses_event(const json_t *ses, const char *sns_id,
    struct sender_result *out, struct err *err)
{
	const char *et = sender_json_str(ses, "eventType");
	const json_t *detail;
	struct sender_kind kind;
	json_t *rcpts;
	size_t n;
	enum sender_status st = SENDER_OK;

	if (et == NULL)
		et = sender_json_str(ses, "notificationType");
	if (et == NULL || !json_is_object(json_object_get(ses, "mail")))
		return sender_malformed(
		    err, "Message is not an SES event (no eventType or mail)");
	detail = detail_object(ses, et);
	if (!ses_classify(et, classify_detail(et, detail), &kind)) {
		out->batch.ignored++;
		return SENDER_OK;
	}
	rcpts = recipients(ses, et, detail);
	n = json_array_size(rcpts);
	if (n == 0)
		st = sender_malformed(err, "SES event names no recipient");
	for (size_t i = 0; st == SENDER_OK && i < n; i++) {
		struct event *ev = sender_push(out, &kind);

		/* SNS keeps MessageId on retries; one suffix per recipient. */
		ev->event_id = n == 1 ? xstrdup(sns_id)
				      : xasprintf("%s#%zu", sns_id, i + 1);
		st = fill_event(ev, ses, detail,
		    json_string_value(json_array_get(rcpts, i)), err);
	}
	json_decref(rcpts);
	return st;
}

static enum sender_status
parse_notification(
    const json_t *root, struct sender_result *out, struct err *err)
{
	const char *message =
	    json_string_value(json_object_get(root, "Message"));
	const char *sns_id = sender_json_str(root, "MessageId");
	const char *p = message;
	json_t *ses;
	enum sender_status st;

	if (message == NULL || sns_id == NULL)
		return sender_malformed(err, "no \"Message\" or \"MessageId\"");
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '{') {
		/* SES's "Successfully validated SNS topic ..." and the like. */
		return SENDER_OK;
	}
	ses = json_loads(message, 0, NULL);
	if (!json_is_object(ses)) {
		json_decref(ses);
		return sender_malformed(err, "\"Message\" is not valid JSON");
	}
	st = parse_ses_event(ses, sns_id, out, err);
	json_decref(ses);
	return st;
}

static enum sender_status
dispatch(const json_t *root, const struct sender_request *req,
    const struct sender_secrets *secrets, struct sender_result *out,
    struct err *err)
{
	const char *type = sender_json_str(root, "Type");
	const char *hdr = sender_header(req, "x-amz-sns-message-type");
	bool notification;
	enum sender_status st;

	if (type == NULL)
		return sender_malformed(
		    err, "not an SNS message (no \"Type\")");
	if (hdr != NULL && strcmp(hdr, type) != 0)
		return sender_malformed(
		    err, "x-amz-sns-message-type does not match \"Type\"");
	notification = strcmp(type, "Notification") == 0;
	if (!notification && strcmp(type, "SubscriptionConfirmation") != 0 &&
	    strcmp(type, "UnsubscribeConfirmation") != 0)
		return sender_malformed(
		    err, "unknown SNS message type \"%s\"", type);
	st = authenticate(root, notification, req, secrets, err);
	if (st != SENDER_OK)
		return st;
	if (notification)
		return parse_notification(root, out, err);
	if (strcmp(type, "UnsubscribeConfirmation") == 0)
		return SENDER_OK;
	out->subscribe_url = xstrdup(sender_json_str(root, "SubscribeURL"));
	if (out->subscribe_url == NULL)
		return sender_malformed(err, "no \"SubscribeURL\"");
	return SENDER_SUBSCRIPTION;
}

static enum sender_status
ses_handle(const struct sender_request *req,
    const struct sender_secrets *secrets, struct sender_result *out,
    struct err *err)
{
	json_t *root = NULL;
	enum sender_status st;

	if (!sender_is_set(secrets->cert_dir))
		return sender_finish(
		    out, sender_not_configured(err, "ses", "cert_dir"));
	st = sender_parse_json(req, &root, err);
	if (st == SENDER_OK)
		st = json_is_object(root)
			 ? dispatch(root, req, secrets, out, err)
			 : sender_malformed(err, "expected a JSON object");
	json_decref(root);
	return sender_finish(out, st);
}

const struct sender ses_sender = {
	.name = "ses",
	.handle = ses_handle,
};
