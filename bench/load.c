/*
 * load.c - the load client of `make bench` (bench/run.sh drives it).
 *
 *   load webhook   signed SendGrid batches from concurrent senders
 *   load single    one native event per request over many connections
 *   load copy      the same rows as `webhook`, COPYed straight into the
 *                  events table of another database: the baseline
 *   load keygen F  a throwaway P-256 key pair: private PEM to F, public
 *                  key (base64 DER) to stdout
 *
 * Every command derives its events from the same deterministic generator,
 * so `webhook` and `copy` given the same tag and range write the same rows.
 * The result is one line of key=value pairs on stdout for the script.
 *
 * HTTP is spoken over plain sockets with keep-alive: a general client
 * library would put its own cost next to the service's, and the service
 * only needs Content-Length framing.  Signing happens here, before the
 * clock of a request starts, so its cost stays on the client's side.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/xmalloc.h"

/* Event times start here (2026-01-01T00:00:00Z); round r is r steps (an
 * hour by default) later, so a click never falls inside the scanner window
 * after its delivery. */
#define LOAD_T0 1767225600LL
#define LOAD_MAX_LAT 2000000
#define LOAD_IO_TIMEOUT_S 120

/* ---- growable text ---------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
};

static void
buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	while (b->len + more + 1 > b->cap)
		b->cap = b->cap != 0 ? b->cap * 2 : 4096;
	b->p = xrealloc(b->p, b->cap);
}

static void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* ---- the event generator ---------------------------------------------- */

enum load_type {
	LOAD_DELIVERED = 1,
	LOAD_OPEN = 2,
	LOAD_CLICK = 3,
	LOAD_BOUNCE = 4,
	LOAD_UNSUBSCRIBE = 5,
};

struct gen {
	const char *tag;    /* makes event and message ids unique per run */
	const char *prefix; /* CRM ids are prefix + contact number */
	uint64_t contacts;
	uint64_t mul; /* coprime with contacts: spreads a batch over them */
	int64_t t_offset;
	int64_t step; /* seconds between a contact's rounds */
};

struct gen_event {
	uint64_t contact;
	uint64_t message;
	int type;
	int64_t at;
};

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static uint64_t
gcd(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static void
gen_init(struct gen *g, const char *tag, const char *prefix, uint64_t contacts,
    int64_t t_offset, int64_t step)
{
	g->tag = tag;
	g->prefix = prefix;
	g->contacts = contacts > 0 ? contacts : 1;
	g->mul = 2654435761ULL % g->contacts;
	if (g->mul == 0)
		g->mul = 1;
	while (gcd(g->mul, g->contacts) != 1)
		g->mul++;
	g->t_offset = t_offset;
	g->step = step > 0 ? step : 3600;
}

/* Event j: round j / contacts of contact (j mod contacts) permuted.  Even
 * rounds deliver a message, odd rounds open or click it, with a sprinkle
 * of bounces and unsubscribes. */
static void
gen_event(const struct gen *g, uint64_t j, struct gen_event *ev)
{
	uint64_t round = j / g->contacts;
	uint64_t h;

	ev->contact = (j % g->contacts) * g->mul % g->contacts;
	ev->message = round / 2;
	ev->at = LOAD_T0 + g->t_offset + (int64_t)round * g->step +
		 (int64_t)(ev->contact % 3000);
	h = mix(ev->contact * 1000003ULL + ev->message);
	if (round % 2 == 0)
		ev->type = h % 499 == 0 ? LOAD_BOUNCE : LOAD_DELIVERED;
	else if (h % 997 == 0)
		ev->type = LOAD_UNSUBSCRIBE;
	else
		ev->type = h % 3 == 0 ? LOAD_CLICK : LOAD_OPEN;
}

static const char *
sendgrid_name(int type)
{
	switch (type) {
	case LOAD_DELIVERED:
		return "delivered";
	case LOAD_OPEN:
		return "open";
	case LOAD_CLICK:
		return "click";
	case LOAD_BOUNCE:
		return "bounce";
	default:
		return "unsubscribe";
	}
}

static void
sendgrid_event(struct buf *b, const struct gen *g, uint64_t j)
{
	struct gen_event ev;

	gen_event(g, j, &ev);
	buf_printf(b,
	    "{\"email\":\"u%" PRIu64
	    "@%s.bench.example\",\"timestamp\":%" PRId64
	    ",\"event\":\"%s\",\"sg_event_id\":\"%s-%" PRIu64 "\","
	    "\"sg_message_id\":\"%s.%" PRIu64 ".%" PRIu64 ".filter0001\","
	    "\"category\":[\"campaign-%" PRIu64 "\"],"
	    "\"crm_contact_id\":\"%s%" PRIu64 "\"",
	    ev.contact, g->prefix, ev.at, sendgrid_name(ev.type), g->tag, j,
	    g->tag, ev.contact, ev.message, ev.message % 50, g->prefix,
	    ev.contact);
	if (ev.type == LOAD_OPEN || ev.type == LOAD_CLICK)
		buf_printf(b,
		    ",\"useragent\":\"Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
		    "\",\"ip\":\"198.51.100.%d\"",
		    (int)(ev.contact % 200) + 1);
	if (ev.type == LOAD_CLICK)
		buf_printf(b, ",\"url\":\"https://shop.example/p/%" PRIu64 "\"",
		    ev.message % 97);
	if (ev.type == LOAD_BOUNCE)
		buf_printf(b, ",\"type\":\"bounce\",\"reason\":\"550 5.1.1\"");
	buf_printf(b, "}");
}

static void
sendgrid_batch(
    struct buf *b, const struct gen *g, uint64_t first, uint64_t count)
{
	b->len = 0;
	buf_printf(b, "[");
	for (uint64_t k = 0; k < count; k++) {
		if (k > 0)
			buf_printf(b, ",\n");
		sendgrid_event(b, g, first + k);
	}
	buf_printf(b, "]");
}

static const char *
native_name(int type)
{
	return type == LOAD_DELIVERED ? "delivered" : sendgrid_name(type);
}

static void
native_event(struct buf *b, const struct gen *g, uint64_t j)
{
	struct gen_event ev;

	gen_event(g, j, &ev);
	b->len = 0;
	buf_printf(b,
	    "{\"event_id\":\"%s-%" PRIu64 "\",\"type\":\"%s\","
	    "\"contact_id\":\"%s%" PRIu64 "\",\"message_id\":\"%s.%" PRIu64
	    ".%" PRIu64 "\",\"campaign_id\":\"campaign-%" PRIu64 "\","
	    "\"occurred_at\":%" PRId64 "%s}",
	    g->tag, j, native_name(ev.type), g->prefix, ev.contact, g->tag,
	    ev.contact, ev.message, ev.message % 50, ev.at,
	    ev.type == LOAD_BOUNCE ? ",\"bounce_type\":\"hard\"" : "");
}

/* One events row in COPY text format, as the service would store it:
 * contact_pk is contact + 1 in the baseline database. */
static void
copy_row(struct buf *b, const struct gen *g, uint64_t j, const char *now)
{
	struct gen_event ev;
	time_t at;
	struct tm tm;
	char when[32];

	gen_event(g, j, &ev);
	at = (time_t)ev.at;
	gmtime_r(&at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S+00", &tm);
	buf_printf(b,
	    "1\tsendgrid\t%s-%" PRIu64 "\t%" PRIu64 "\t%d\t%s.%" PRIu64
	    ".%" PRIu64 ".filter0001\tcampaign-%" PRIu64 "\t%s\t%s\t",
	    g->tag, j, ev.contact + 1, ev.type, g->tag, ev.contact, ev.message,
	    ev.message % 50, when, now);
	if (ev.type == LOAD_CLICK)
		buf_printf(
		    b, "https://shop.example/p/%" PRIu64 "\t", ev.message % 97);
	else
		buf_printf(b, "\\N\t");
	if (ev.type == LOAD_OPEN || ev.type == LOAD_CLICK)
		buf_printf(b,
		    "Mozilla/5.0 (Windows NT 10.0; Win64; x64)\t198.51.100.0\t");
	else
		buf_printf(b, "\\N\t\\N\t");
	buf_printf(b, "%d\t0\t%d\n", ev.type == LOAD_BOUNCE ? 1 : 0,
	    ev.type == LOAD_DELIVERED || ev.type == LOAD_BOUNCE ? 0 : 1);
}

/* ---- a minimal keep-alive HTTP/1.1 client ----------------------------- */

struct conn {
	int fd;
	int port;
	char *in;
	size_t in_len, in_cap;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool
conn_open(struct conn *c)
{
	struct sockaddr_in sa;
	struct timeval limit = { .tv_sec = LOAD_IO_TIMEOUT_S };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)c->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* a service that stops answering fails the run instead of hanging it */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(c->fd);
		c->fd = -1;
		return false;
	}
	c->in_len = 0;
	return true;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static bool
send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool
fill_more(struct conn *c)
{
	ssize_t n;

	if (c->in_cap - c->in_len < 4096) {
		c->in_cap = c->in_cap != 0 ? c->in_cap * 2 : 16384;
		c->in = xrealloc(c->in, c->in_cap);
	}
	do
		n = recv(
		    c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	return true;
}

/* Reads one response; returns its status, or -1 when the connection broke.
 * Sets *closing when the server will close the connection. */
static int
read_response(struct conn *c, bool *closing)
{
	char *end;
	const char *cl;
	size_t head, body = 0, total;
	int status;

	c->in_len = 0;
	while ((end = c->in_len > 0 ? strstr(c->in, "\r\n\r\n") : NULL) == NULL)
		if (!fill_more(c))
			return -1;
	head = (size_t)(end - c->in) + 4;
	if (sscanf(c->in, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	cl = strcasestr(c->in, "\r\ncontent-length:");
	if (cl != NULL && cl < end)
		body = strtoul(cl + 17, NULL, 10);
	*closing = strcasestr(c->in, "\r\nconnection: close") != NULL;
	total = head + body;
	while (c->in_len < total)
		if (!fill_more(c))
			return -1;
	return status;
}

/* Sends one request, reconnecting once if a kept-alive connection was
 * closed under us.  Returns the status, or -1. */
static int
conn_request(
    struct conn *c, const char *head, const char *body, size_t body_len)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		bool closing = false;
		int status;

		if (c->fd < 0 && !conn_open(c))
			return -1;
		if (send_all(c->fd, head, strlen(head)) &&
		    send_all(c->fd, body, body_len)) {
			status = read_response(c, &closing);
			if (status > 0) {
				if (closing)
					conn_close(c);
				return status;
			}
		}
		conn_close(c);
	}
	return -1;
}

/* The "accepted" count of the last answer on c; 0 if it has none. */
static uint64_t
answer_accepted(const struct conn *c)
{
	const char *body = c->in != NULL ? strstr(c->in, "\r\n\r\n") : NULL;
	const char *at = body != NULL ? strstr(body, "\"accepted\":") : NULL;

	return at != NULL ? strtoull(at + 11, NULL, 10) : 0;
}

/* ---- signing ---------------------------------------------------------- */

static EVP_PKEY *
key_load(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pkey;

	if (f == NULL) {
		fprintf(stderr, "load: cannot open key \"%s\"\n", path);
		exit(2);
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL) {
		fprintf(stderr, "load: \"%s\" holds no private key\n", path);
		exit(2);
	}
	return pkey;
}

/* Base64 of the ECDSA-SHA256 signature of ts followed by body; caller
 * frees. */
static char *
sign_b64(EVP_PKEY *pkey, const char *ts, const char *body, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[160];
	size_t sig_len = sizeof(sig);
	char *out = xmalloc(4 * sizeof(sig) / 3 + 8);

	if (ctx == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSignUpdate(ctx, ts, strlen(ts)) != 1 ||
	    EVP_DigestSignUpdate(ctx, body, len) != 1 ||
	    EVP_DigestSignFinal(ctx, sig, &sig_len) != 1) {
		fprintf(stderr, "load: could not sign a batch\n");
		exit(2);
	}
	EVP_MD_CTX_free(ctx);
	EVP_EncodeBlock((unsigned char *)out, sig, (int)sig_len);
	return out;
}

/* Writes a new P-256 private key to path and prints the public key as
 * base64 DER, the form the service's [sendgrid] public_key takes. */
static int
keygen(const char *path)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	unsigned char *der = NULL;
	int der_len = pkey != NULL ? i2d_PUBKEY(pkey, &der) : -1;
	char *b64;
	FILE *f;

	if (der_len <= 0 || (f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "load: could not make a key pair\n");
		return 2;
	}
	if (PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		fprintf(stderr, "load: could not write \"%s\"\n", path);
		fclose(f);
		return 2;
	}
	fclose(f);
	b64 = xmalloc(4 * (size_t)der_len / 3 + 8);
	EVP_EncodeBlock((unsigned char *)b64, der, der_len);
	printf("%s\n", b64);
	free(b64);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	return 0;
}

/* ---- options and shared run state ------------------------------------- */

struct opts {
	const char *cmd;
	int port;
	const char *key_file;
	const char *api_key;
	const char *db_url;
	const char *tag;
	const char *prefix;
	uint64_t contacts;
	uint64_t first, count;
	int batch;
	int threads;
	double seconds;
	int64_t t_offset;
	int64_t step;
};

struct run {
	const struct opts *o;
	struct gen gen;
	EVP_PKEY *pkey;
	atomic_uint_fast64_t next;
	atomic_uint_fast64_t done;
	atomic_uint_fast64_t accepted;
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t errors;
	atomic_int first_bad_status;
	double deadline;
	pthread_mutex_t lat_lock;
	double *lat;
	size_t lat_count;
};

static void
note_error(struct run *r, int status)
{
	int zero = 0;

	atomic_fetch_add(&r->errors, 1);
	atomic_compare_exchange_strong(&r->first_bad_status, &zero, status);
}

static void
note_latencies(struct run *r, const double *lat, size_t n)
{
	pthread_mutex_lock(&r->lat_lock);
	for (size_t i = 0; i < n && r->lat_count < LOAD_MAX_LAT; i++)
		r->lat[r->lat_count++] = lat[i];
	pthread_mutex_unlock(&r->lat_lock);
}

/* Claims the next range of events; false when the run is over. */
static bool
claim(struct run *r, uint64_t size, uint64_t *first, uint64_t *count)
{
	uint64_t at = atomic_fetch_add(&r->next, size);

	if (at >= r->o->count)
		return false;
	*first = r->o->first + at;
	*count = r->o->count - at < size ? r->o->count - at : size;
	return true;
}

/* ---- load webhook ----------------------------------------------------- */

static void *
webhook_thread(void *arg)
{
	struct run *r = arg;
	struct conn c = { .fd = -1, .port = r->o->port };
	struct buf body = { 0 }, head = { 0 };
	double *lat = xcalloc(4096, sizeof(*lat));
	size_t nlat = 0;
	uint64_t first, count;

	while (claim(r, (uint64_t)r->o->batch, &first, &count)) {
		char ts[24];
		char *sig;
		double t;
		int status;

		sendgrid_batch(&body, &r->gen, first, count);
		snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
		sig = sign_b64(r->pkey, ts, body.p, body.len);
		head.len = 0;
		buf_printf(&head,
		    "POST /v1/webhooks/sendgrid HTTP/1.1\r\n"
		    "Host: 127.0.0.1\r\nUser-Agent: SendGrid Event API\r\n"
		    "Content-Type: application/json\r\n"
		    "X-Twilio-Email-Event-Webhook-Signature: %s\r\n"
		    "X-Twilio-Email-Event-Webhook-Timestamp: %s\r\n"
		    "Content-Length: %zu\r\n\r\n",
		    sig, ts, body.len);
		free(sig);
		t = now_s();
		status = conn_request(&c, head.p, body.p, body.len);
		if (nlat < 4096)
			lat[nlat++] = now_s() - t;
		atomic_fetch_add(&r->requests, 1);
		if (status == 200) {
			atomic_fetch_add(&r->done, count);
			atomic_fetch_add(&r->accepted, answer_accepted(&c));
		} else
			note_error(r, status);
	}
	note_latencies(r, lat, nlat);
	conn_close(&c);
	free(c.in);
	free(body.p);
	free(head.p);
	free(lat);
	return NULL;
}

/* ---- load single ------------------------------------------------------ */

static void *
single_thread(void *arg)
{
	struct run *r = arg;
	struct conn c = { .fd = -1, .port = r->o->port };
	struct buf body = { 0 }, head = { 0 };
	double *lat = xcalloc(65536, sizeof(*lat));
	size_t nlat = 0;
	uint64_t first, count;

	while (now_s() < r->deadline && claim(r, 1, &first, &count)) {
		double t;
		int status;

		native_event(&body, &r->gen, first);
		head.len = 0;
		buf_printf(&head,
		    "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		    "Authorization: Bearer %s\r\n"
		    "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n\r\n",
		    r->o->api_key, body.len);
		t = now_s();
		status = conn_request(&c, head.p, body.p, body.len);
		if (nlat < 65536)
			lat[nlat++] = now_s() - t;
		atomic_fetch_add(&r->requests, 1);
		if (status == 202 || status == 200) {
			atomic_fetch_add(&r->done, 1);
			atomic_fetch_add(&r->accepted, answer_accepted(&c));
		} else
			note_error(r, status);
	}
	note_latencies(r, lat, nlat);
	conn_close(&c);
	free(c.in);
	free(body.p);
	free(head.p);
	free(lat);
	return NULL;
}

/* ---- load copy -------------------------------------------------------- */

static const char SQL_COPY[] =
    "COPY events (account_id, provider, event_key, contact_pk, type,"
    " message_id, campaign_id, occurred_at, received_at, url, user_agent,"
    " ip, bounce, flags, verdict) FROM STDIN";

static bool
copy_batch(PGconn *pg, const struct buf *rows)
{
	PGresult *res = PQexec(pg, SQL_COPY);
	bool ok = PQresultStatus(res) == PGRES_COPY_IN;

	PQclear(res);
	if (!ok)
		return false;
	if (PQputCopyData(pg, rows->p, (int)rows->len) != 1 ||
	    PQputCopyEnd(pg, NULL) != 1)
		return false;
	while ((res = PQgetResult(pg)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			ok = false;
		PQclear(res);
	}
	return ok;
}

static void *
copy_thread(void *arg)
{
	struct run *r = arg;
	PGconn *pg = PQconnectdb(r->o->db_url);
	struct buf rows = { 0 };
	uint64_t first, count;
	char now[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%d %H:%M:%S+00", &tm);
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "load: %s", PQerrorMessage(pg));
		note_error(r, -2);
		PQfinish(pg);
		return NULL;
	}
	while (claim(r, (uint64_t)r->o->batch, &first, &count)) {
		rows.len = 0;
		for (uint64_t k = 0; k < count; k++)
			copy_row(&rows, &r->gen, first + k, now);
		atomic_fetch_add(&r->requests, 1);
		if (copy_batch(pg, &rows)) {
			atomic_fetch_add(&r->done, count);
		} else {
			fprintf(stderr, "load: COPY failed: %s",
			    PQerrorMessage(pg));
			note_error(r, -3);
		}
	}
	free(rows.p);
	PQfinish(pg);
	return NULL;
}

/* ---- main ------------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
percentile(const double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0.0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: load keygen FILE | load webhook|single|copy [--port N]"
	    " [--key FILE]"
	    " [--api-key K] [--db URL] [--tag T] [--prefix P]"
	    " [--contacts N] [--first J] [--count N] [--batch N]"
	    " [--threads N] [--seconds S] [--t-offset S] [--step S]\n");
	exit(2);
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	if (argc < 2)
		usage();
	*o = (struct opts){ .cmd = argv[1],
		.port = 8080,
		.tag = "ev",
		.prefix = "c-",
		.contacts = 1000,
		.count = 1000,
		.batch = 1000,
		.threads = 8,
		.seconds = 1e9,
		.api_key = "" };
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (strcmp(k, "--port") == 0)
			o->port = atoi(v);
		else if (strcmp(k, "--key") == 0)
			o->key_file = v;
		else if (strcmp(k, "--api-key") == 0)
			o->api_key = v;
		else if (strcmp(k, "--db") == 0)
			o->db_url = v;
		else if (strcmp(k, "--tag") == 0)
			o->tag = v;
		else if (strcmp(k, "--prefix") == 0)
			o->prefix = v;
		else if (strcmp(k, "--contacts") == 0)
			o->contacts = strtoull(v, NULL, 10);
		else if (strcmp(k, "--first") == 0)
			o->first = strtoull(v, NULL, 10);
		else if (strcmp(k, "--count") == 0)
			o->count = strtoull(v, NULL, 10);
		else if (strcmp(k, "--batch") == 0)
			o->batch = atoi(v);
		else if (strcmp(k, "--threads") == 0)
			o->threads = atoi(v);
		else if (strcmp(k, "--seconds") == 0)
			o->seconds = atof(v);
		else if (strcmp(k, "--t-offset") == 0)
			o->t_offset = strtoll(v, NULL, 10);
		else if (strcmp(k, "--step") == 0)
			o->step = strtoll(v, NULL, 10);
		else
			usage();
	}
	if (o->threads < 1 || o->batch < 1)
		usage();
}

static void
report(struct run *r, double elapsed)
{
	uint64_t done = atomic_load(&r->done);

	qsort(r->lat, r->lat_count, sizeof(*r->lat), cmp_double);
	printf("events=%" PRIu64 " accepted=%" PRIu64 " requests=%" PRIu64
	       " errors=%" PRIu64
	       " first_bad_status=%d seconds=%.3f rate=%.1f p50_ms=%.2f"
	       " p99_ms=%.2f\n",
	    done, (uint64_t)atomic_load(&r->accepted),
	    (uint64_t)atomic_load(&r->requests),
	    (uint64_t)atomic_load(&r->errors),
	    atomic_load(&r->first_bad_status), elapsed,
	    elapsed > 0 ? (double)done / elapsed : 0.0,
	    percentile(r->lat, r->lat_count, 0.50) * 1000.0,
	    percentile(r->lat, r->lat_count, 0.99) * 1000.0);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct run r;
	void *(*fn)(void *);
	pthread_t *th;
	double start;

	if (argc == 3 && strcmp(argv[1], "keygen") == 0)
		return keygen(argv[2]);
	parse_opts(argc, argv, &o);
	memset(&r, 0, sizeof(r));
	r.o = &o;
	pthread_mutex_init(&r.lat_lock, NULL);
	r.lat = xcalloc(LOAD_MAX_LAT, sizeof(*r.lat));
	gen_init(&r.gen, o.tag, o.prefix, o.contacts, o.t_offset, o.step);
	if (strcmp(o.cmd, "webhook") == 0) {
		if (o.key_file == NULL)
			usage();
		r.pkey = key_load(o.key_file);
		fn = webhook_thread;
	} else if (strcmp(o.cmd, "single") == 0) {
		fn = single_thread;
	} else if (strcmp(o.cmd, "copy") == 0) {
		if (o.db_url == NULL)
			usage();
		fn = copy_thread;
	} else {
		usage();
	}

	th = xcalloc((size_t)o.threads, sizeof(*th));
	start = now_s();
	r.deadline = start + o.seconds;
	for (int i = 0; i < o.threads; i++)
		if (pthread_create(&th[i], NULL, fn, &r) != 0) {
			fprintf(stderr, "load: cannot start a thread\n");
			return 2;
		}
	for (int i = 0; i < o.threads; i++)
		pthread_join(th[i], NULL);
	report(&r, now_s() - start);

	EVP_PKEY_free(r.pkey);
	free(th);
	free(r.lat);
	return atomic_load(&r.errors) == 0 ? 0 : 1;
}
