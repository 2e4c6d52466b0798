/*
 * check_summary.c - store_summary_advance, the merge's fast path for a
 * contact summary, against a recomputation from all of the contact's
 * messages.
 *
 * A reference contact keeps its messages' states; random merges change
 * some of them the way stored events do (times and counts only grow, a
 * message may be marked rebuilt), and after each merge the summary the
 * fast path produced must equal the recomputed one.  When the fast path
 * declines, the recomputation takes its place, as in the merge.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/events.h"

#define MAX_MSGS 400

struct ref_msg {
	char id[16];
	struct store_message_state st;
	bool bounced, untracked;
	int64_t opened_ms, clicked_ms;
};

struct ref_contact {
	struct ref_msg msgs[MAX_MSGS];
	int count;
	int64_t clock_us; /* the newest event time so far */
};

static unsigned long long rng = 0x2545f4914f6cdd1dULL;

static unsigned
rnd(unsigned bound)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % bound);
}

static int
key_cmp(const struct ref_msg *a, const struct ref_msg *b)
{
	if (a->st.order_us != b->st.order_us)
		return a->st.order_us < b->st.order_us ? -1 : 1;
	return strcmp(a->id, b->id);
}

static int
ref_sort(const void *pa, const void *pb)
{
	return key_cmp(
	    *(struct ref_msg *const *)pa, *(struct ref_msg *const *)pb);
}

/* The summary as the recomputing SQL derives it from every message. */
static void
recompute(const struct ref_contact *c, struct store_touched *t)
{
	const struct ref_msg *sorted[MAX_MSGS];
	uint8_t seq[MAX_MSGS];
	int n = 0;
	int64_t pk = t->contact_pk;

	memset(t, 0, sizeof(*t));
	t->contact_pk = pk;
	t->last_open_ms = t->last_click_ms = -1;
	for (int i = 0; i < c->count; i++)
		sorted[i] = &c->msgs[i];
	qsort(sorted, (size_t)c->count, sizeof(sorted[0]), ref_sort);
	for (int i = 0; i < c->count; i++) {
		const struct ref_msg *m = sorted[i];

		t->delivered += m->st.delivered;
		t->summary.clicks += m->st.clicked;
		t->machine_opens += m->st.machine_opens;
		t->scanner_clicks += m->st.scanner_clicks;
		if (m->opened_ms > t->last_open_ms)
			t->last_open_ms = m->opened_ms;
		if (m->clicked_ms > t->last_click_ms)
			t->last_click_ms = m->clicked_ms;
		if (!m->st.observable)
			continue;
		seq[n++] = m->st.opened;
		if (m->st.opened) {
			t->summary.x++;
			t->summary.t_x = n;
		}
		t->tail = STORE_TAIL_SET;
		t->tail_order_us = m->st.order_us;
		snprintf(t->tail_message_id, sizeof(t->tail_message_id), "%s",
		    m->id);
	}
	t->summary.n = n;
	t->summary.history_len = n < MODEL_HISTORY_MAX ? n : MODEL_HISTORY_MAX;
	memcpy(t->summary.history, seq + (n - t->summary.history_len),
	    (size_t)t->summary.history_len);
}

static void
set_observable(struct ref_msg *m)
{
	m->st.observable = m->st.delivered && !m->bounced && !m->untracked &&
			   (m->st.opened || m->st.machine_opens == 0);
}

/* One stored event's effect on a message at time at_us. */
static void
apply_event(struct ref_msg *m, int64_t at_us, unsigned kind)
{
	int64_t at_ms = at_us / 1000;

	if (at_us < m->st.order_us)
		m->st.order_us = at_us;
	switch (kind) {
	case 0: /* delivered */
		m->st.delivered = true;
		break;
	case 1: /* a human open */
		m->st.delivered = m->st.opened = true;
		if (at_ms > m->opened_ms)
			m->opened_ms = at_ms;
		break;
	case 2: /* a machine open */
		m->st.machine_opens++;
		break;
	case 3: /* a human click */
		m->st.delivered = m->st.opened = m->st.clicked = true;
		if (at_ms > m->opened_ms)
			m->opened_ms = at_ms;
		if (at_ms > m->clicked_ms)
			m->clicked_ms = at_ms;
		break;
	case 4: /* a scanner's click */
		m->st.scanner_clicks++;
		break;
	default: /* a hard bounce */
		m->bounced = true;
		break;
	}
	set_observable(m);
}

static struct ref_msg *
new_message(struct ref_contact *c, int64_t at_us)
{
	struct ref_msg *m = &c->msgs[c->count];

	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "m%03u", rnd(1000));
	for (int i = 0; i < c->count; i++)
		if (strcmp(c->msgs[i].id, m->id) == 0)
			return NULL; /* ids are unique per contact */
	c->count++;
	m->st.order_us = at_us;
	m->opened_ms = m->clicked_ms = -1;
	return m;
}

static int
change_sort(const void *pa, const void *pb)
{
	const struct store_message_change *a = pa, *b = pb;

	if (a->after.order_us != b->after.order_us)
		return a->after.order_us < b->after.order_us ? -1 : 1;
	return strcmp(a->message_id, b->message_id);
}

static void
assert_same(const struct store_touched *got, const struct store_touched *want)
{
	ck_assert_int_eq(got->summary.n, want->summary.n);
	ck_assert_int_eq(got->summary.x, want->summary.x);
	ck_assert_int_eq(got->summary.t_x, want->summary.t_x);
	ck_assert_int_eq(got->summary.history_len, want->summary.history_len);
	ck_assert(memcmp(got->summary.history, want->summary.history,
		      (size_t)want->summary.history_len) == 0);
	ck_assert_int_eq(got->summary.clicks, want->summary.clicks);
	ck_assert_int_eq(got->delivered, want->delivered);
	ck_assert_int_eq(got->machine_opens, want->machine_opens);
	ck_assert_int_eq(got->scanner_clicks, want->scanner_clicks);
	ck_assert_int_eq(got->last_open_ms, want->last_open_ms);
	ck_assert_int_eq(got->last_click_ms, want->last_click_ms);
	/* the tail is exact, or a bound above every observable message */
	if (want->tail == STORE_TAIL_SET) {
		ck_assert_int_eq(got->tail, STORE_TAIL_SET);
		ck_assert(got->tail_order_us > want->tail_order_us ||
			  (got->tail_order_us == want->tail_order_us &&
			      strcmp(got->tail_message_id,
				  want->tail_message_id) >= 0));
	}
}

/*
 * Runs merges on one contact: in_order draws events only in time order,
 * each on the newest message or a new one after it; otherwise events may
 * be late, land on any message, and mark messages rebuilt.  Returns how
 * many merges the fast path declined.
 */
static int
run_contact(struct ref_contact *c, int merges, bool in_order)
{
	static struct store_message_change changes[64];
	static struct ref_msg before[64];
	struct store_touched t, want;
	int declined = 0;

	memset(c, 0, sizeof(*c));
	c->clock_us = 1767225600000000LL;
	memset(&t, 0, sizeof(t));
	t.last_open_ms = t.last_click_ms = -1;
	for (int k = 0; k < merges; k++) {
		int events = 1 + (int)rnd(6), nchanged = 0;
		int touched_idx[64];

		for (int e = 0; e < events && c->count < MAX_MSGS - 1; e++) {
			struct ref_msg *m = NULL;
			bool created = false;
			int64_t at;
			int idx, seen = -1;

			c->clock_us += 1000 * (1 + rnd(5000000));
			at = c->clock_us;
			if (!in_order && rnd(4) == 0)
				at -= 1000LL * rnd(900000000);
			if (c->count == 0 || rnd(3) == 0) {
				m = new_message(c, at);
				if (m == NULL)
					continue;
				created = true;
			} else if (in_order) {
				/* the newest message by key */
				m = &c->msgs[0];
				for (int i = 1; i < c->count; i++)
					if (key_cmp(&c->msgs[i], m) > 0)
						m = &c->msgs[i];
			} else {
				m = &c->msgs[rnd((unsigned)c->count)];
			}
			idx = (int)(m - c->msgs);
			for (int i = 0; i < nchanged; i++)
				if (touched_idx[i] == idx)
					seen = i;
			if (seen < 0) {
				touched_idx[nchanged] = idx;
				before[nchanged] = *m;
				if (created) /* no stored row before */
					memset(&before[nchanged].st, 0,
					    sizeof(before[nchanged].st));
				nchanged++;
			}
			apply_event(m, at, rnd(in_order ? 4 : 6));
		}
		for (int i = 0; i < nchanged; i++) {
			struct store_message_change *ch = &changes[i];
			const struct ref_msg *m = &c->msgs[touched_idx[i]];

			memset(ch, 0, sizeof(*ch));
			ch->message_id = m->id;
			ch->before = before[i].st;
			ch->after = m->st;
			ch->opened_ms = m->opened_ms;
			ch->clicked_ms = m->clicked_ms;
			ch->recomputed = !in_order && rnd(20) == 0;
		}
		qsort(
		    changes, (size_t)nchanged, sizeof(changes[0]), change_sort);
		want.contact_pk = t.contact_pk;
		recompute(c, &want);
		if (store_summary_advance(&t, changes, (size_t)nchanged)) {
			assert_same(&t, &want);
		} else {
			declined++;
			t = want;
		}
	}
	return declined;
}

START_TEST(in_order_merges_take_the_fast_path)
{
	static struct ref_contact c;

	for (int contact = 0; contact < 50; contact++)
		ck_assert_int_eq(run_contact(&c, 120, true), 0);
}
END_TEST

START_TEST(any_merge_ends_in_the_recomputed_summary)
{
	static struct ref_contact c;
	int declined = 0, merges = 0;

	for (int contact = 0; contact < 200; contact++) {
		declined += run_contact(&c, 80, false);
		merges += 80;
	}
	/* both paths ran */
	ck_assert_int_gt(declined, 0);
	ck_assert_int_lt(declined, merges);
}
END_TEST

START_TEST(history_longer_than_kept)
{
	static struct ref_contact c;
	int declined = run_contact(&c, 330, true);

	/* the history window moves on; only a newest message leaving the
	 * sequence, with nothing appended after it, needs the message
	 * before the window and so a recomputation */
	ck_assert_int_gt(c.count, MODEL_HISTORY_MAX + 20);
	ck_assert_int_lt(declined, 330);
}
END_TEST

static void
one_message(
    struct store_touched *t, const char *id, int64_t order_us, bool opened)
{
	struct store_message_change ch;

	memset(&ch, 0, sizeof(ch));
	ch.message_id = id;
	ch.after.order_us = order_us;
	ch.after.delivered = ch.after.observable = true;
	ch.after.opened = opened;
	ch.opened_ms = ch.clicked_ms = -1;
	ck_assert(store_summary_advance(t, &ch, 1));
}

START_TEST(declines_what_it_cannot_place)
{
	struct store_touched t, saved;
	struct store_message_change ch;

	memset(&t, 0, sizeof(t));
	t.last_open_ms = t.last_click_ms = -1;
	one_message(&t, "b", 2000, true);
	one_message(&t, "c", 3000, false);
	ck_assert_int_eq(t.summary.n, 2);
	ck_assert_int_eq(t.summary.x, 1);
	ck_assert_int_eq(t.summary.t_x, 1);
	ck_assert_str_eq(t.tail_message_id, "c");
	saved = t;

	/* a new message before the end */
	memset(&ch, 0, sizeof(ch));
	ch.message_id = "a";
	ch.after.order_us = 2500;
	ch.after.delivered = ch.after.observable = true;
	ch.opened_ms = ch.clicked_ms = -1;
	ck_assert(!store_summary_advance(&t, &ch, 1));
	ck_assert(memcmp(&t, &saved, sizeof(t)) == 0);

	/* same time as the end, smaller id: before it, byte order */
	ch.after.order_us = 3000;
	ck_assert(!store_summary_advance(&t, &ch, 1));
	/* same time, larger id: after it */
	ch.message_id = "d";
	ck_assert(store_summary_advance(&t, &ch, 1));
	ck_assert_int_eq(t.summary.n, 3);
	t = saved;

	/* an older message opened late */
	memset(&ch, 0, sizeof(ch));
	ch.message_id = "b";
	ch.before.order_us = ch.after.order_us = 2000;
	ch.before.delivered = ch.after.delivered = true;
	ch.before.observable = ch.after.observable = true;
	ch.after.opened = true;
	ch.opened_ms = ch.clicked_ms = -1;
	ck_assert(!store_summary_advance(&t, &ch, 1));

	/* the newest opened in place */
	ch.message_id = "c";
	ch.before.order_us = ch.after.order_us = 3000;
	ck_assert(store_summary_advance(&t, &ch, 1));
	ck_assert_int_eq(t.summary.x, 2);
	ck_assert_int_eq(t.summary.t_x, 2);
	t = saved;

	/* a message rebuilt after a verdict flip */
	ch.recomputed = true;
	ck_assert(!store_summary_advance(&t, &ch, 1));

	/* a summary written before the tail was kept */
	t.tail = STORE_TAIL_UNKNOWN;
	ck_assert(!store_summary_advance(&t, NULL, 0));
	t = saved;
	ck_assert(store_summary_advance(&t, NULL, 0));
	ck_assert(memcmp(&t, &saved, sizeof(t)) == 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("summary");
	TCase *tc = tcase_create("advance");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, in_order_merges_take_the_fast_path);
	tcase_add_test(tc, any_merge_ends_in_the_recomputed_summary);
	tcase_add_test(tc, history_longer_than_kept);
	tcase_add_test(tc, declines_what_it_cannot_place);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
