/*
 * fuzz_time.c - libFuzzer harness for time_parse_iso8601.
 *
 * Every sender's timestamps and the native occurred_at go through this
 * parser.  Besides memory errors it checks that an accepted time lies in
 * the four-digit years the grammar allows and that formatting it and
 * parsing the result gives the same instant back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "fuzz_check.h"

/* 0000-01-01 minus a day and 9999-12-31 plus a day, for offsets. */
#define EARLIEST_MS (-62167219200000LL - 86400000LL)
#define LATEST_MS (253402300800000LL + 86400000LL)
/* 0001-01-01 and 9999-12-31: the range time_format_iso8601 writes. */
#define FORMAT_FROM_MS (-62135596800000LL)
#define FORMAT_TO_MS (253402214400000LL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	int64_t ms = 0, again = 0;
	char buf[64];

	if (time_parse_iso8601(text, &ms)) {
		FUZZ_CHECK(ms >= EARLIEST_MS && ms <= LATEST_MS);
		if (ms >= FORMAT_FROM_MS && ms < FORMAT_TO_MS) {
			time_format_iso8601(ms, buf, sizeof(buf));
			FUZZ_CHECK(time_parse_iso8601(buf, &again));
			FUZZ_CHECK(again == ms);
		}
	}
	free(text);
	return 0;
}
