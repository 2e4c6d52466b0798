/*
 * spool.c - the local spool for database outages (see include/ingest/spool.h
 * and docs/reliability.md).
 *
 * Layout of [spool] dir:
 *
 *   spool.dat           append-only records, oldest first
 *   spool.pos           the durable read position: everything before it has
 *                       been committed to PostgreSQL
 *   rejected/spool.dat  records the database refused for good, same format
 *
 * A record is a 32-byte header followed by its payload.  The header, all
 * integers little-endian:
 *
 *   0  magic "\xffESP"  (0xff never occurs in the ASCII-only payload, so a
 *                        reader that lost its place can look for it)
 *   4  u16 format version (1)
 *   6  u16 flags (0)
 *   8  u32 payload length
 *  12  u32 CRC-32C of the payload
 *  16  i64 wall-clock milliseconds when the record was written
 *  24  u32 reserved (0)
 *  28  u32 CRC-32C of bytes 0..27, so a damaged length is never trusted
 *
 * The payload is one JSON object (ASCII only): account_id, provider,
 * received_ms and the request's events with every field of struct event,
 * verdicts included; IP addresses are already reduced by the privacy rules.
 *
 * Durability: an append writes the record and returns only after an
 * fdatasync that covers it.  Appenders queue on a mutex to write; the first
 * one to need a flush does it for everyone written so far, the others wait
 * for it (group flush).  The loader reads only up to the flushed end.  An
 * fdatasync error leaves the unflushed tail cut off and the spool refusing
 * appends until restart, because after such an error the kernel may have
 * dropped the pages and nothing written since can be trusted.
 *
 * Loading: after a record is committed, spool.pos is rewritten and flushed;
 * when it reaches the end, spool.dat is truncated to zero.  A crash between
 * the commit and the position write replays the record, which the database
 * de-duplicates by event id.  At open, records from the position on are
 * checked: a damaged record followed by good ones is left for the loader to
 * skip, a damaged tail (a write cut short by a crash) is truncated.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/xmalloc.h"
#include "ingest/spool.h"

#define SPOOL_VERSION 1
#define DATA_NAME "spool.dat"
#define POS_NAME "spool.pos"
#define REJECTED_DIR "rejected"
#define POS_SIZE 16
#define SCAN_CHUNK 65536

static const unsigned char spool_magic[4] = { 0xff, 'E', 'S', 'P' };
static const unsigned char pos_magic[4] = { 0xff, 'E', 'S', 'O' };

struct spool {
	char *dir;
	int fd;     /* spool.dat */
	int pos_fd; /* spool.pos */
	int64_t max_bytes;
	pthread_mutex_t lock;
	pthread_cond_t flushed; /* a group flush finished */
	pthread_cond_t wake;    /* the loader: new records or stop */
	uint64_t size;          /* bytes written to spool.dat */
	uint64_t synced;        /* bytes covered by a finished fdatasync */
	uint64_t pos;           /* durable read position */
	int64_t oldest_ms;      /* written time of the record at pos; 0 none */
	bool flushing;
	bool broken; /* an fdatasync failed: appends refused */
	/* loader */
	pthread_t loader;
	bool loader_running;
	bool stopping;
	spool_load_fn load;
	void *load_ctx;
	int retry_min_ms;
	int retry_max_ms;
};

struct rec_header {
	uint32_t length;
	uint32_t crc;
	int64_t created_ms;
};

/* ---- CRC-32C, table-driven, reflected polynomial 0x82F63B78 ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t
spool_crc32c(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t c = 0xFFFFFFFFu;

	pthread_once(&crc_once, crc_init);
	for (size_t i = 0; i < len; i++)
		c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

/* ---- little-endian fields ---- */

static void
put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void
header_encode(
    unsigned char *out, uint32_t length, uint32_t crc, int64_t created_ms)
{
	memset(out, 0, SPOOL_HEADER_SIZE);
	memcpy(out, spool_magic, 4);
	out[4] = SPOOL_VERSION;
	put_u32(out + 8, length);
	put_u32(out + 12, crc);
	put_u64(out + 16, (uint64_t)created_ms);
	put_u32(out + 28, spool_crc32c(out, 28));
}

/* False when the bytes are not a header this version wrote. */
static bool
header_decode(const unsigned char *in, struct rec_header *h)
{
	if (memcmp(in, spool_magic, 4) != 0 ||
	    get_u32(in + 28) != spool_crc32c(in, 28))
		return false;
	if (in[4] != SPOOL_VERSION || in[5] != 0)
		return false;
	h->length = get_u32(in + 8);
	h->crc = get_u32(in + 12);
	h->created_ms = (int64_t)get_u64(in + 16);
	return h->length <= SPOOL_MAX_PAYLOAD;
}

/* ---- small file helpers ---- */

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return true;
}

static bool
pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return true;
}

static bool
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	bool ok;

	if (fd < 0)
		return false;
	ok = fsync(fd) == 0;
	close(fd);
	return ok;
}

/* mkdir -p with mode 0700 for what it creates. */
static bool
make_dirs(const char *path)
{
	char *copy = xstrdup(path);
	bool ok = true;

	for (char *p = copy + 1; ok && *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		ok = mkdir(copy, 0700) == 0 || errno == EEXIST;
		*p = '/';
	}
	if (ok)
		ok = mkdir(copy, 0700) == 0 || errno == EEXIST;
	free(copy);
	return ok;
}

/*
 * Opens dir/name, creating it; a new file's directory entry is flushed
 * so the file survives a crash.  Returns -1 on failure.
 */
static int
open_durable(const char *dir, const char *name, int flags)
{
	char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, flags | O_CLOEXEC, 0600);
	bool created = false;

	if (fd < 0 && errno == ENOENT) {
		fd = open(path, flags | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		created = fd >= 0;
	}
	if (created && (fsync(fd) != 0 || !fsync_dir(dir))) {
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* ---- gauges ---- */

static void
publish_locked(struct spool *sp)
{
	int64_t pending = (int64_t)(sp->size - sp->pos);
	int64_t age = 0;

	if (sp->oldest_ms > 0 && pending > 0) {
		age = (wall_ms() - sp->oldest_ms) / 1000;
		if (age < 0)
			age = 0;
	}
	metrics_gauge_set(GAUGE_SPOOL_BYTES, pending);
	metrics_gauge_set(GAUGE_SPOOL_OLDEST_AGE_S, age);
}

uint64_t
spool_pending_bytes(struct spool *sp)
{
	uint64_t pending;

	pthread_mutex_lock(&sp->lock);
	pending = sp->size - sp->pos;
	pthread_mutex_unlock(&sp->lock);
	return pending;
}

/* ---- reading records ---- */

/*
 * Reads and checks the record at off, which must end by limit.  On success
 * *payload (caller frees, NUL-terminated) holds its payload.
 */
static bool
read_record(struct spool *sp, uint64_t off, uint64_t limit,
    struct rec_header *h, char **payload)
{
	unsigned char head[SPOOL_HEADER_SIZE];
	char *buf;

	*payload = NULL;
	if (off + SPOOL_HEADER_SIZE > limit ||
	    !pread_full(sp->fd, head, sizeof(head), off) ||
	    !header_decode(head, h) ||
	    off + SPOOL_HEADER_SIZE + h->length > limit)
		return false;
	buf = xmalloc((size_t)h->length + 1);
	if (!pread_full(sp->fd, buf, h->length, off + SPOOL_HEADER_SIZE) ||
	    spool_crc32c(buf, h->length) != h->crc) {
		free(buf);
		return false;
	}
	buf[h->length] = '\0';
	*payload = buf;
	return true;
}

/*
 * Finds the first intact record starting after from and before limit,
 * looking for the magic.  Returns its offset, or limit when there is none.
 */
static uint64_t
find_next_record(struct spool *sp, uint64_t from, uint64_t limit)
{
	unsigned char *chunk = xmalloc(SCAN_CHUNK);
	uint64_t off = from, found = limit;

	while (off < limit && found == limit) {
		size_t want = limit - off < SCAN_CHUNK ? (size_t)(limit - off)
						       : SCAN_CHUNK;

		if (!pread_full(sp->fd, chunk, want, off))
			break;
		for (size_t i = 0; i + 4 <= want; i++) {
			struct rec_header h;
			char *payload;

			if (memcmp(chunk + i, spool_magic, 4) != 0)
				continue;
			if (read_record(sp, off + i, limit, &h, &payload)) {
				free(payload);
				found = off + i;
				break;
			}
		}
		/* a magic split across two chunks is seen by the next one */
		off += want > 3 ? want - 3 : want;
	}
	free(chunk);
	return found;
}

/* ---- the payload ---- */

static void
set_string(json_t *obj, const char *key, const char *value)
{
	if (value != NULL)
		json_object_set_new(obj, key, json_string(value));
}

static json_t *
event_to_json(const struct event *ev)
{
	json_t *o = json_object();

	set_string(o, "event_id", ev->event_id);
	json_object_set_new(o, "type", json_integer(ev->type));
	set_string(o, "contact_id", ev->contact_id);
	set_string(o, "email", ev->email);
	set_string(o, "message_id", ev->message_id);
	set_string(o, "campaign_id", ev->campaign_id);
	json_object_set_new(
	    o, "occurred_at_ms", json_integer(ev->occurred_at_ms));
	set_string(o, "url", ev->url);
	set_string(o, "user_agent", ev->user_agent);
	set_string(o, "ip", ev->ip);
	json_object_set_new(o, "bounce", json_integer(ev->bounce));
	json_object_set_new(o, "flags", json_integer(ev->flags));
	json_object_set_new(o, "verdict", json_integer(ev->verdict));
	return o;
}

/* The payload text (ASCII only).  Caller frees. */
static char *
payload_encode(int64_t account_id, const char *provider, int64_t received_ms,
    const struct event_batch *batch)
{
	json_t *root = json_object();
	json_t *events = json_array();
	char *text;

	for (size_t i = 0; i < batch->count; i++)
		json_array_append_new(events, event_to_json(&batch->items[i]));
	json_object_set_new(root, "account_id", json_integer(account_id));
	json_object_set_new(root, "provider", json_string(provider));
	json_object_set_new(root, "received_ms", json_integer(received_ms));
	json_object_set_new(root, "events", events);
	text = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(root);
	if (text == NULL)
		abort(); /* only when out of memory */
	return text;
}

static bool
get_string(json_t *o, const char *key, char **out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v))
		return false;
	*out = xstrdup(json_string_value(v));
	return true;
}

static bool
get_int(json_t *o, const char *key, long long lo, long long hi, long long *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return false;
	*out = json_integer_value(v);
	return *out >= lo && *out <= hi;
}

static bool
event_from_json(json_t *o, struct event *ev)
{
	long long type, when, bounce, flags, verdict;

	if (!json_is_object(o) ||
	    !get_int(o, "type", 0, EVENT_TYPE_COUNT - 1, &type) ||
	    !get_int(o, "occurred_at_ms", INT64_MIN, INT64_MAX, &when) ||
	    !get_int(o, "bounce", BOUNCE_NONE, BOUNCE_SOFT, &bounce) ||
	    !get_int(o, "flags", 0, UINT32_MAX, &flags) ||
	    !get_int(o, "verdict", VERDICT_NONE, VERDICT_UNKNOWN, &verdict))
		return false;
	ev->type = (enum event_type)type;
	ev->occurred_at_ms = when;
	ev->bounce = (enum bounce_kind)bounce;
	ev->flags = (unsigned)flags;
	ev->verdict = (enum event_verdict)verdict;
	return get_string(o, "event_id", &ev->event_id) &&
	       get_string(o, "contact_id", &ev->contact_id) &&
	       get_string(o, "email", &ev->email) &&
	       get_string(o, "message_id", &ev->message_id) &&
	       get_string(o, "campaign_id", &ev->campaign_id) &&
	       get_string(o, "url", &ev->url) &&
	       get_string(o, "user_agent", &ev->user_agent) &&
	       get_string(o, "ip", &ev->ip);
}

/* Fills rec from payload; false (rec cleared) when it does not fit. */
static bool
payload_decode(const char *payload, size_t len, struct spool_record *rec)
{
	json_t *root = json_loadb(payload, len, 0, NULL);
	json_t *events = json_object_get(root, "events");
	long long account, received;
	bool ok =
	    json_is_array(events) &&
	    get_int(root, "account_id", INT64_MIN, INT64_MAX, &account) &&
	    get_int(root, "received_ms", INT64_MIN, INT64_MAX, &received) &&
	    json_is_string(json_object_get(root, "provider"));

	if (ok) {
		rec->account_id = account;
		rec->received_ms = received;
		rec->provider = xstrdup(
		    json_string_value(json_object_get(root, "provider")));
	}
	for (size_t i = 0; ok && i < json_array_size(events); i++)
		ok = event_from_json(
		    json_array_get(events, i), event_batch_push(&rec->batch));
	json_decref(root);
	if (!ok)
		spool_record_clear(rec);
	return ok;
}

void
spool_record_clear(struct spool_record *rec)
{
	free(rec->provider);
	event_batch_clear(&rec->batch);
	memset(rec, 0, sizeof(*rec));
}

/* ---- the read position ---- */

static bool
pos_write(struct spool *sp, uint64_t pos)
{
	unsigned char buf[POS_SIZE];

	memcpy(buf, pos_magic, 4);
	put_u64(buf + 4, pos);
	put_u32(buf + 12, spool_crc32c(buf, 12));
	return pwrite_full(sp->pos_fd, buf, sizeof(buf), 0) &&
	       fdatasync(sp->pos_fd) == 0;
}

/* The saved position; 0 (everything replays) when missing or damaged. */
static uint64_t
pos_read(struct spool *sp)
{
	unsigned char buf[POS_SIZE];
	struct stat st;

	if (fstat(sp->pos_fd, &st) != 0 || st.st_size == 0)
		return 0;
	if (st.st_size != POS_SIZE ||
	    !pread_full(sp->pos_fd, buf, POS_SIZE, 0) ||
	    memcmp(buf, pos_magic, 4) != 0 ||
	    get_u32(buf + 12) != spool_crc32c(buf, 12)) {
		log_kv(LOG_WARNING,
		    "spool read position is damaged; loading from the start",
		    "dir", sp->dir, NULL);
		return 0;
	}
	return get_u64(buf + 4);
}

/* The written time of the record at sp->pos, 0 when there is none. */
static int64_t
oldest_locked(struct spool *sp)
{
	unsigned char head[SPOOL_HEADER_SIZE];
	struct rec_header h;

	if (sp->pos + SPOOL_HEADER_SIZE > sp->synced ||
	    !pread_full(sp->fd, head, sizeof(head), sp->pos) ||
	    !header_decode(head, &h))
		return 0;
	return h.created_ms;
}

/*
 * Moves the durable read position to pos; once everything is loaded and
 * nothing is being written, empties the file.  Called by the loader only.
 */
/* Empties the file once everything in it is loaded; false if it cannot. */
static bool
truncate_locked(struct spool *sp)
{
	if (ftruncate(sp->fd, 0) != 0)
		return false;
	sp->size = sp->synced = sp->pos = 0;
	/* a crash before the position is rewritten finds it past the end,
	 * which reads as empty; but a stale position must never hide new
	 * records, so without it the spool takes no more writes */
	if (fdatasync(sp->fd) != 0 || !pos_write(sp, 0)) {
		log_kv(LOG_ERROR,
		    "could not reset the spool read position; it refuses writes until restart",
		    "dir", sp->dir, "error", strerror(errno), NULL);
		sp->broken = true;
	}
	return true;
}

/*
 * Moves the durable read position to pos; once everything is loaded and
 * nothing is being written, empties the file.  Called by the loader only.
 */
static bool
advance(struct spool *sp, uint64_t pos, struct err *err)
{
	bool ok;

	pthread_mutex_lock(&sp->lock);
	ok = pos == sp->size && sp->synced == sp->size && !sp->flushing &&
	     truncate_locked(sp);
	if (!ok) {
		ok = pos_write(sp, pos);
		if (ok)
			sp->pos = pos;
	}
	if (ok) {
		sp->oldest_ms = oldest_locked(sp);
	} else {
		log_kv(LOG_ERROR, "could not save the spool read position",
		    "dir", sp->dir, "error", strerror(errno), NULL);
		err_set(err, 500, "spool_failed",
		    "could not save the spool read position");
	}
	publish_locked(sp);
	pthread_mutex_unlock(&sp->lock);
	return ok;
}

bool
spool_consume(struct spool *sp, const struct spool_record *rec, struct err *err)
{
	return advance(sp, rec->end, err);
}

/* Appends the raw bytes of [off, end) to rejected/spool.dat, flushed. */
static bool
copy_aside(struct spool *sp, uint64_t off, uint64_t end)
{
	char *dir = xasprintf("%s/%s", sp->dir, REJECTED_DIR);
	size_t len = (size_t)(end - off);
	unsigned char *buf = xmalloc(len > 0 ? len : 1);
	int fd = -1;
	bool ok = false;

	if (!make_dirs(dir) || !pread_full(sp->fd, buf, len, off))
		goto out;
	fd = open_durable(dir, DATA_NAME, O_WRONLY | O_APPEND);
	if (fd < 0)
		goto out;
	ok = write(fd, buf, len) == (ssize_t)len && fdatasync(fd) == 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(dir);
	return ok;
}

static bool
reject_range(struct spool *sp, uint64_t off, uint64_t end, const char *why,
    struct err *err)
{
	char offset[32], bytes[32];

	snprintf(offset, sizeof(offset), "=%" PRIu64, off);
	snprintf(bytes, sizeof(bytes), "=%" PRIu64, end - off);
	if (!copy_aside(sp, off, end)) {
		log_kv(LOG_ERROR, "could not move a spool record aside", "dir",
		    sp->dir, "offset", offset, "error", strerror(errno), NULL);
		err_set(err, 500, "spool_failed",
		    "could not move a spool record aside");
		return false;
	}
	log_kv(LOG_ERROR, "spool record moved aside to rejected/", "dir",
	    sp->dir, "offset", offset, "bytes", bytes, "reason", why, NULL);
	return advance(sp, end, err);
}

bool
spool_reject(struct spool *sp, const struct spool_record *rec, const char *why,
    struct err *err)
{
	return reject_range(sp, rec->offset, rec->end, why, err);
}

int
spool_next(struct spool *sp, struct spool_record *rec, struct err *err)
{
	for (;;) {
		struct rec_header h;
		char *payload;
		uint64_t pos, limit, next;

		pthread_mutex_lock(&sp->lock);
		pos = sp->pos;
		limit = sp->synced;
		pthread_mutex_unlock(&sp->lock);
		memset(rec, 0, sizeof(*rec));
		if (pos >= limit)
			return 0;
		if (!read_record(sp, pos, limit, &h, &payload)) {
			char offset[32], bytes[32];

			next = find_next_record(sp, pos + 1, limit);
			snprintf(offset, sizeof(offset), "=%" PRIu64, pos);
			snprintf(bytes, sizeof(bytes), "=%" PRIu64, next - pos);
			log_kv(LOG_ERROR, "skipped a damaged spool record",
			    "dir", sp->dir, "offset", offset, "bytes", bytes,
			    NULL);
			if (!advance(sp, next, err))
				return -1;
			continue;
		}
		next = pos + SPOOL_HEADER_SIZE + h.length;
		if (!payload_decode(payload, h.length, rec)) {
			free(payload);
			if (!reject_range(
				sp, pos, next, "unreadable content", err))
				return -1;
			continue;
		}
		free(payload);
		rec->created_ms = h.created_ms;
		rec->offset = pos;
		rec->end = next;
		return 1;
	}
}

/* ---- appending ---- */

/* Waits until the record ending at end is flushed; false if it never is. */
static bool
flush_locked(struct spool *sp, uint64_t end)
{
	while (!sp->broken && sp->synced < end) {
		uint64_t target;
		int rc;

		if (sp->flushing) {
			pthread_cond_wait(&sp->flushed, &sp->lock);
			continue;
		}
		sp->flushing = true;
		target = sp->size;
		pthread_mutex_unlock(&sp->lock);
		rc = fdatasync(sp->fd);
		pthread_mutex_lock(&sp->lock);
		sp->flushing = false;
		if (rc == 0) {
			sp->synced = target;
		} else {
			log_kv(LOG_ERROR,
			    "could not flush the spool; it refuses writes until restart",
			    "dir", sp->dir, "error", strerror(errno), NULL);
			sp->broken = true;
			if (ftruncate(sp->fd, (off_t)sp->synced) == 0)
				sp->size = sp->synced;
		}
		pthread_cond_broadcast(&sp->flushed);
	}
	return sp->synced >= end;
}

static bool
write_locked(struct spool *sp, const unsigned char *head, const char *payload,
    size_t len, uint64_t *end, struct err *err)
{
	uint64_t total = SPOOL_HEADER_SIZE + (uint64_t)len;

	if (sp->broken) {
		err_set(err, 503, "spool_unavailable",
		    "the spool cannot take writes");
		return false;
	}
	if ((int64_t)(sp->size + total) > sp->max_bytes) {
		err_set(err, 503, "spool_full", "the spool is full");
		return false;
	}
	if (!pwrite_full(sp->fd, head, SPOOL_HEADER_SIZE, sp->size) ||
	    !pwrite_full(sp->fd, payload, len, sp->size + SPOOL_HEADER_SIZE)) {
		log_kv(LOG_ERROR, "could not write to the spool", "dir",
		    sp->dir, "error", strerror(errno), NULL);
		/* our bytes are the only ones past size: cut them off */
		if (ftruncate(sp->fd, (off_t)sp->size) != 0)
			sp->broken = true;
		err_set(err, 503, "spool_unavailable",
		    "could not write to the spool");
		return false;
	}
	if (sp->size == sp->pos)
		sp->oldest_ms = (int64_t)get_u64(head + 16);
	sp->size += total;
	*end = sp->size;
	return true;
}

bool
spool_append(struct spool *sp, int64_t account_id, const char *provider,
    int64_t received_ms, const struct event_batch *batch, struct err *err)
{
	unsigned char head[SPOOL_HEADER_SIZE];
	char *payload =
	    payload_encode(account_id, provider, received_ms, batch);
	size_t len = strlen(payload);
	uint64_t end = 0;
	bool ok = false;

	if (len > SPOOL_MAX_PAYLOAD) {
		err_set(err, 503, "spool_full",
		    "the request is too large to spool");
		free(payload);
		return false;
	}
	header_encode(
	    head, (uint32_t)len, spool_crc32c(payload, len), wall_ms());
	pthread_mutex_lock(&sp->lock);
	if (write_locked(sp, head, payload, len, &end, err)) {
		ok = flush_locked(sp, end);
		if (!ok)
			err_set(err, 503, "spool_unavailable",
			    "could not flush the spool");
	}
	publish_locked(sp);
	if (ok)
		pthread_cond_signal(&sp->wake);
	pthread_mutex_unlock(&sp->lock);
	free(payload);
	if (ok)
		metrics_add(METRIC_SPOOLED_REQUESTS, 1);
	return ok;
}

/* ---- opening and recovery ---- */

/* Cuts the file at off after a crash left a partial record there. */
static void
cut_tail(struct spool *sp, uint64_t off)
{
	char offset[32], bytes[32];

	snprintf(offset, sizeof(offset), "=%" PRIu64, off);
	snprintf(bytes, sizeof(bytes), "=%" PRIu64, sp->size - off);
	log_kv(LOG_WARNING, "spool ends in a torn record; cut off", "dir",
	    sp->dir, "offset", offset, "bytes", bytes, NULL);
	if (ftruncate(sp->fd, (off_t)off) != 0 || fdatasync(sp->fd) != 0) {
		/* the loader skips what is left, as damage in the middle */
		log_kv(LOG_ERROR, "could not cut the spool's torn tail", "dir",
		    sp->dir, "error", strerror(errno), NULL);
		return;
	}
	sp->size = off;
}

/*
 * Checks the records from the read position on.  A damaged record with an
 * intact one after it stays for the loader to skip; a damaged tail is cut.
 */
static void
recover(struct spool *sp)
{
	uint64_t off = sp->pos;

	while (off < sp->size) {
		struct rec_header h;
		char *payload;
		uint64_t next;

		if (read_record(sp, off, sp->size, &h, &payload)) {
			free(payload);
			if (sp->oldest_ms == 0)
				sp->oldest_ms = h.created_ms;
			off += SPOOL_HEADER_SIZE + h.length;
			continue;
		}
		next = find_next_record(sp, off + 1, sp->size);
		if (next == sp->size) {
			cut_tail(sp, off);
			return;
		}
		off = next;
	}
}

static bool
open_files(struct spool *sp, struct err *err)
{
	struct stat st;

	if (!make_dirs(sp->dir)) {
		err_set(err, 500, "spool_failed",
		    "cannot create the spool directory \"%s\": %s", sp->dir,
		    strerror(errno));
		return false;
	}
	sp->fd = open_durable(sp->dir, DATA_NAME, O_RDWR);
	sp->pos_fd = open_durable(sp->dir, POS_NAME, O_RDWR);
	if (sp->fd < 0 || sp->pos_fd < 0 || fstat(sp->fd, &st) != 0) {
		err_set(err, 500, "spool_failed",
		    "cannot open the spool in \"%s\": %s", sp->dir,
		    strerror(errno));
		return false;
	}
	if (flock(sp->fd, LOCK_EX | LOCK_NB) != 0) {
		err_set(err, 500, "spool_failed",
		    "the spool in \"%s\" is in use by another process",
		    sp->dir);
		return false;
	}
	sp->size = sp->synced = (uint64_t)st.st_size;
	return true;
}

bool
spool_open(
    const char *dir, int64_t max_bytes, struct spool **out, struct err *err)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));

	*out = NULL;
	sp->dir = xstrdup(dir);
	sp->fd = sp->pos_fd = -1;
	sp->max_bytes = max_bytes;
	sp->retry_min_ms = 1000;
	sp->retry_max_ms = 5000;
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->flushed, NULL);
	pthread_cond_init(&sp->wake, NULL);
	if (!open_files(sp, err)) {
		spool_close(sp);
		return false;
	}
	sp->pos = pos_read(sp);
	/* a position past the end: the file was emptied, the position not
	 * yet rewritten */
	if (sp->pos > sp->size)
		sp->pos = 0;
	recover(sp);
	if (sp->pos > sp->size)
		sp->pos = sp->size;
	sp->synced = sp->size;
	publish_locked(sp);
	if (sp->size > sp->pos) {
		char bytes[32];

		snprintf(bytes, sizeof(bytes), "=%" PRIu64, sp->size - sp->pos);
		log_kv(LOG_INFO, "spool holds requests to load", "dir", sp->dir,
		    "bytes", bytes, NULL);
	}
	*out = sp;
	return true;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	spool_loader_stop(sp);
	if (sp->fd >= 0)
		close(sp->fd);
	if (sp->pos_fd >= 0)
		close(sp->pos_fd);
	pthread_mutex_destroy(&sp->lock);
	pthread_cond_destroy(&sp->flushed);
	pthread_cond_destroy(&sp->wake);
	free(sp->dir);
	free(sp);
}

/* ---- the loader ---- */

void
spool_set_retry(struct spool *sp, int min_ms, int max_ms)
{
	pthread_mutex_lock(&sp->lock);
	sp->retry_min_ms = min_ms;
	sp->retry_max_ms = max_ms;
	pthread_mutex_unlock(&sp->lock);
}

/* Sleeps up to ms or until woken; false when the loader must stop. */
static bool
loader_wait(struct spool *sp, int ms)
{
	struct timespec until;
	bool go;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sp->lock);
	if (!sp->stopping)
		pthread_cond_timedwait(&sp->wake, &sp->lock, &until);
	publish_locked(sp);
	go = !sp->stopping;
	pthread_mutex_unlock(&sp->lock);
	return go;
}

/* The loader's memory between records. */
struct loader_state {
	int delay_ms;      /* next wait after a failure */
	int failures;      /* consecutive SPOOL_LOAD_FAILED on one record */
	bool said_waiting; /* the "waiting for the database" line is out */
};

/* After a commit; false when the loader must stop. */
static bool
loaded_one(struct spool *sp, struct spool_record *rec, struct loader_state *st)
{
	struct err err = { 0 };

	metrics_add(METRIC_SPOOL_LOADED, 1);
	if (st->said_waiting)
		log_kv(LOG_INFO, "spool loading resumed", "dir", sp->dir, NULL);
	st->said_waiting = false;
	st->failures = 0;
	st->delay_ms = sp->retry_min_ms;
	/* the record comes again (a duplicate): not too often */
	if (!spool_consume(sp, rec, &err))
		return loader_wait(sp, sp->retry_max_ms);
	return loader_wait(sp, 0);
}

/* Handles a failed commit; false when the loader must stop. */
static bool
failed_one(struct spool *sp, struct spool_record *rec, enum spool_load res,
    const struct err *why, struct loader_state *st)
{
	struct err err = { 0 };
	int delay = st->delay_ms;

	if (res == SPOOL_LOAD_FAILED && ++st->failures >= SPOOL_REJECT_AFTER) {
		st->failures = 0;
		return spool_reject(sp, rec, why->message, &err) ||
		       loader_wait(sp, delay);
	}
	if (res == SPOOL_LOAD_FAILED) {
		char attempt[16];

		snprintf(attempt, sizeof(attempt), "=%d", st->failures);
		log_kv(LOG_WARNING,
		    "the database refused a spooled request; will retry", "dir",
		    sp->dir, "attempt", attempt, "reason", why->message, NULL);
	} else {
		/* only refusals in a row, the database answering, count */
		st->failures = 0;
		if (!st->said_waiting)
			log_kv(LOG_WARNING, "spool waits for the database",
			    "dir", sp->dir, "reason", why->message, NULL);
	}
	st->said_waiting = true;
	st->delay_ms =
	    delay * 2 > sp->retry_max_ms ? sp->retry_max_ms : delay * 2;
	return loader_wait(sp, delay);
}

static void *
loader_main(void *arg)
{
	struct spool *sp = arg;
	struct loader_state st = { sp->retry_min_ms, 0, false };
	bool go = true;

	while (go) {
		struct spool_record rec;
		struct err err = { 0 };
		enum spool_load res;
		int got = spool_next(sp, &rec, &err);

		if (got <= 0) {
			/* empty: wake on the next append; -1 was logged */
			go =
			    loader_wait(sp, got == 0 ? 1000 : sp->retry_max_ms);
			continue;
		}
		res = sp->load(sp->load_ctx, &rec, &err);
		if (res == SPOOL_LOAD_OK)
			go = loaded_one(sp, &rec, &st);
		else
			go = failed_one(sp, &rec, res, &err, &st);
		spool_record_clear(&rec);
	}
	return NULL;
}

void
spool_loader_start(struct spool *sp, spool_load_fn load, void *ctx)
{
	pthread_mutex_lock(&sp->lock);
	sp->load = load;
	sp->load_ctx = ctx;
	sp->stopping = false;
	sp->loader_running = true;
	pthread_mutex_unlock(&sp->lock);
	pthread_create(&sp->loader, NULL, loader_main, sp);
}

void
spool_loader_stop(struct spool *sp)
{
	pthread_mutex_lock(&sp->lock);
	if (!sp->loader_running) {
		pthread_mutex_unlock(&sp->lock);
		return;
	}
	sp->stopping = true;
	pthread_cond_broadcast(&sp->wake);
	pthread_mutex_unlock(&sp->lock);
	pthread_join(sp->loader, NULL);
	pthread_mutex_lock(&sp->lock);
	sp->loader_running = false;
	pthread_mutex_unlock(&sp->lock);
}
