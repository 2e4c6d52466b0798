/*
 * check_summaries.c - the per-contact summaries (n, x, t_x and the open
 * history) stay right whatever order events arrive in.
 *
 * For random contacts a generator draws messages (delivered or not, opened
 * by a person, by Apple's proxy only, clicked, bounced) and knows the true
 * summary.  The same events go to three contacts: to one in a single
 * clean, ordered batch; to one in time order over many small batches,
 * which the merge must handle by increment alone (the metrics say which
 * contacts were recomputed); to the last shuffled, split into small
 * batches, with every event sent once or twice, which mostly takes the
 * full recomputation.  All must end with the true summary, and every
 * stored summary must equal one recomputed here from the messages.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CONTACTS 12
#define MAX_MESSAGES 40
#define MAX_EVENTS (MAX_MESSAGES * 4)

struct gen_event {
	char json[512];
	long ts;
};

struct truth {
	int n, x, t_x;
	char history[MAX_MESSAGES + 1];
	int delivered;
	int machine_opens;
};

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned
rnd(unsigned bound)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % bound);
}

static void
add(struct gen_event *evs, int *count, const char *contact, int id,
    const char *type, int msg, long ts, const char *extra)
{
	struct gen_event *e = &evs[(*count)++];

	e->ts = ts;
	snprintf(e->json, sizeof(e->json),
	    "{\"event_id\":\"%s-%d\",\"type\":\"%s\",\"contact_id\":\"%s\","
	    "\"message_id\":\"%s-m%d\",\"occurred_at\":%ld%s}",
	    contact, id, type, contact, contact, msg, ts, extra);
}

/* Draws one contact's events for contact id `who`; fills truth. */
static int
generate(const char *who, struct gen_event *evs, struct truth *t)
{
	int count = 0, id = 0, messages = 5 + (int)rnd(MAX_MESSAGES - 5);
	long base = 1764000000L; /* late November 2025 */

	memset(t, 0, sizeof(*t));
	for (int m = 0; m < messages; m++) {
		long ts = base + m * 86400L;
		unsigned kind = rnd(10);
		bool bounced = kind == 0, human = kind >= 6,
		     machine = kind == 4 || kind == 5 || kind == 9,
		     click_only = kind == 3;

		if (bounced) {
			add(evs, &count, who, id++, "bounce", m, ts,
			    ",\"bounce_type\":\"hard\"");
			continue;
		}
		add(evs, &count, who, id++, "delivered", m, ts, "");
		t->delivered++;
		if (machine) {
			add(evs, &count, who, id++, "open", m, ts + 2,
			    ",\"user_agent\":\"Mozilla/5.0\","
			    "\"ip\":\"17.58.63.101\"");
			t->machine_opens++;
		}
		if (human) {
			add(evs, &count, who, id++, "open", m, ts + 3600,
			    ",\"user_agent\":\"Thunderbird\"");
			if (rnd(2))
				add(evs, &count, who, id++, "click", m,
				    ts + 3700, ",\"url\":\"https://x.test/\"");
		}
		if (click_only) {
			/* a click without a tracked open still means read */
			add(evs, &count, who, id++, "click", m, ts + 7200,
			    ",\"url\":\"https://x.test/c\"");
			human = true;
		}
		if (!human && machine)
			continue; /* only a machine open: not observable */
		t->history[t->n++] = human ? '1' : '0';
		if (human) {
			t->x++;
			t->t_x = t->n;
		}
	}
	t->history[t->n] = '\0';
	return count;
}

static void
post_batch(struct harness_server *srv, struct gen_event **evs, int count)
{
	static char body[256 * 1024];
	struct harness_reply reply;
	size_t used = 0;
	long status;

	body[used++] = '[';
	for (int i = 0; i < count; i++)
		used += (size_t)snprintf(body + used, sizeof(body) - used,
		    "%s%s", i > 0 ? "," : "", evs[i]->json);
	body[used++] = ']';
	body[used] = '\0';
	status = harness_send_json(srv, "POST", "/v1/events", body, &reply);
	ck_assert_msg(status == 202, "batch: %ld %s", status, reply.body);
	harness_reply_free(&reply);
}

static void
check_contact(const char *db, const char *who, const struct truth *t)
{
	char sql[256], text[512];

	snprintf(sql, sizeof(sql),
	    "SELECT n || ',' || x || ',' || t_x || ',' || history || ',' ||"
	    " messages_delivered || ',' || machine_opens FROM contacts"
	    " WHERE crm_id = '%s'",
	    who);
	harness_sql_text(db, sql, text, sizeof(text));
	{
		char want[512];

		snprintf(want, sizeof(want), "%d,%d,%d,%s,%d,%d", t->n, t->x,
		    t->t_x, t->history, t->delivered, t->machine_opens);
		ck_assert_msg(strcmp(text, want) == 0, "%s: got %s, want %s",
		    who, text, want);
	}
}

/* The value of a counter on /metrics. */
static long
metric(struct harness_server *srv, const char *name)
{
	struct harness_reply reply;
	char line[128];
	const char *at;
	long value = -1;

	/* the sample line, not the # HELP and # TYPE lines */
	snprintf(line, sizeof(line), "\n%s ", name);
	ck_assert_int_eq(harness_get(srv, "/metrics", &reply), 200);
	at = strstr(reply.body, line);
	if (at != NULL)
		value = strtol(at + strlen(line), NULL, 10);
	harness_reply_free(&reply);
	ck_assert_msg(value >= 0, "no %s on /metrics", name);
	return value;
}

/* Contacts whose stored n, x, t_x or history differ from a recomputation
 * over their messages in send order. */
static long
summaries_off(const char *db)
{
	return harness_sql_int(db,
	    "SELECT count(*) FROM contacts c LEFT JOIN LATERAL ("
	    " SELECT count(*) AS n, count(*) FILTER (WHERE opened) AS x,"
	    " coalesce(max(pos) FILTER (WHERE opened), 0) AS t_x,"
	    " coalesce(right(string_agg(CASE WHEN opened THEN '1' ELSE '0'"
	    "  END, '' ORDER BY pos), 256), '') AS history"
	    " FROM (SELECT opened, row_number() OVER (ORDER BY order_at,"
	    "  message_id COLLATE \"C\") AS pos FROM messages m"
	    "  WHERE m.account_id = c.account_id AND m.contact_pk = c.contact_pk"
	    "  AND observable) q) r ON true"
	    " WHERE (c.n, c.x, c.t_x, c.history) IS DISTINCT FROM"
	    " (r.n, r.x, r.t_x, r.history)");
}

START_TEST(any_order_gives_the_true_summary)
{
	static struct gen_event clean[MAX_EVENTS], messy[MAX_EVENTS],
	    ordered[MAX_EVENTS];
	static struct gen_event *order[MAX_EVENTS * 2];
	struct harness_server srv;
	char db[1024];

	harness_db_create("summaries", db, sizeof(db));
	harness_server_start(&srv, db, "[clock]\npin = 2026-01-01T10:00:00Z\n");
	for (int c = 0; c < CONTACTS; c++) {
		char a[32], b[32], o[32];
		struct truth ta, tb, to;
		int na, nb, no, k = 0;
		long recomputed, advanced;

		snprintf(a, sizeof(a), "clean-%d", c);
		snprintf(b, sizeof(b), "messy-%d", c);
		snprintf(o, sizeof(o), "ordered-%d", c);
		rng_state += 0x1234567ULL * (unsigned)(c + 1);
		{
			unsigned long long saved = rng_state;

			na = generate(a, clean, &ta);
			rng_state = saved;
			no = generate(o, ordered, &to);
			rng_state = saved;
			nb = generate(b, messy, &tb);
		}
		ck_assert_int_eq(na, nb);
		ck_assert_int_eq(na, no);
		for (int i = 0; i < na; i++)
			order[i] = &clean[i];
		post_batch(&srv, order, na);

		/* in time order, in batches of 1..7: no recomputation */
		recomputed =
		    metric(&srv, "engagementd_summaries_recomputed_total");
		advanced = metric(&srv, "engagementd_summaries_advanced_total");
		for (int i = 0; i < no; i++)
			order[i] = &ordered[i];
		for (int i = 0; i < no;) {
			int size = 1 + (int)rnd(7);

			if (size > no - i)
				size = no - i;
			post_batch(&srv, order + i, size);
			i += size;
		}
		ck_assert_int_eq(
		    metric(&srv, "engagementd_summaries_recomputed_total"),
		    recomputed);
		ck_assert_int_gt(
		    metric(&srv, "engagementd_summaries_advanced_total"),
		    advanced);

		/* shuffled, each event once or twice, in batches of 1..7 */
		for (int i = 0; i < nb; i++) {
			order[k++] = &messy[i];
			if (rnd(3) == 0)
				order[k++] = &messy[i];
		}
		for (int i = k - 1; i > 0; i--) {
			int j = (int)rnd((unsigned)i + 1);
			struct gen_event *tmp = order[i];

			order[i] = order[j];
			order[j] = tmp;
		}
		for (int i = 0; i < k;) {
			int size = 1 + (int)rnd(7);

			if (size > k - i)
				size = k - i;
			post_batch(&srv, order + i, size);
			i += size;
		}
		check_contact(db, a, &ta);
		check_contact(db, b, &tb);
		check_contact(db, o, &to);
	}
	/* the shuffled feeds took the recomputation too */
	ck_assert_int_gt(
	    metric(&srv, "engagementd_summaries_recomputed_total"), 0);
	ck_assert_int_eq(summaries_off(db), 0);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("summaries");
	TCase *tc = tcase_create("order");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, any_order_gives_the_true_summary);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
