/*
 * pgarray.h - builds PostgreSQL array literals ("{...}") to pass a whole
 * column of values as one statement parameter, so a batch becomes one
 * parameterised INSERT ... SELECT FROM unnest(...) instead of a statement
 * per row.
 */
#ifndef ENGAGEMENTD_STORE_PGARRAY_H
#define ENGAGEMENTD_STORE_PGARRAY_H

#include <stddef.h>
#include <stdint.h>

struct pgarray {
	char *buf;
	size_t len;
	size_t cap;
	size_t count;
};

/* Starts an empty array literal. */
void pgarray_init(struct pgarray *arr);

/* Appends a text element, quoted and escaped; NULL appends SQL NULL. */
void pgarray_text(struct pgarray *arr, const char *value);

/* Appends an integer element. */
void pgarray_int(struct pgarray *arr, int64_t value);

/* Closes the literal and returns it (owned by arr, valid until free). */
const char *pgarray_finish(struct pgarray *arr);

void pgarray_free(struct pgarray *arr);

#endif
