/*
 * fuzz_native.c - libFuzzer harness for the native event body
 * (ingest_parse_native, the parser behind POST /v1/events).
 *
 * The body is handed over exactly as libFuzzer gives it, without a
 * terminating NUL, as the HTTP layer does.  Whatever the bytes, the parser
 * must either refuse the whole body with a 400/413 or account for every
 * element: accepted ones must pass ingest_validate and carry an id.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/timeutil.h"
#include "ingest/ingest.h"
#include "fuzz_check.h"

#define MAX_EVENTS 64
/* 2026-01-01T10:00:00Z: fixed so that a crash reproduces on another day. */
#define PIN_MS 1767261600000LL

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	time_pin(PIN_MS);
	return 0;
}

static void
check_event(const struct event *ev)
{
	char why[160];

	FUZZ_CHECK((int)ev->type >= 0 && ev->type < EVENT_TYPE_COUNT);
	FUZZ_CHECK(ev->event_id != NULL && ev->event_id[0] != '\0');
	FUZZ_CHECK(ingest_validate(ev, why, sizeof(why)));
	FUZZ_CHECK(ev->type == EVENT_BOUNCE || ev->bounce == BOUNCE_NONE);
	FUZZ_CHECK(ev->type != EVENT_BOUNCE || ev->bounce != BOUNCE_NONE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event_batch batch = { 0 };
	struct ingest_rejection *rejected = NULL;
	size_t rejected_count = 0;
	struct err err = { 0 };
	bool ok;

	ok = ingest_parse_native((const char *)data, size, MAX_EVENTS, &batch,
	    &rejected, &rejected_count, &err);
	if (!ok) {
		FUZZ_CHECK(err.status == 400 || err.status == 413);
		FUZZ_CHECK(err.code[0] != '\0' && err.message[0] != '\0');
		FUZZ_CHECK(batch.count == 0 && rejected_count == 0);
	} else {
		FUZZ_CHECK(!err_is_set(&err));
		FUZZ_CHECK(batch.count + rejected_count >= 1);
		FUZZ_CHECK(batch.count + rejected_count <= MAX_EVENTS);
		for (size_t i = 0; i < batch.count; i++)
			check_event(&batch.items[i]);
		for (size_t i = 0; i < rejected_count; i++) {
			FUZZ_CHECK(rejected[i].index < MAX_EVENTS);
			FUZZ_CHECK(rejected[i].error[0] != '\0');
			FUZZ_CHECK(i == 0 ||
				   rejected[i].index > rejected[i - 1].index);
		}
	}
	free(rejected);
	event_batch_clear(&batch);
	return 0;
}
