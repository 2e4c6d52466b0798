/*
 * pgarray.c - PostgreSQL array literals (see include/store/pgarray.h).
 *
 * Inside a quoted element only '"' and '\' need a backslash; the value is
 * still passed as a bound parameter, so this is framing, not SQL quoting.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/pgarray.h"

static void
reserve(struct pgarray *arr, size_t extra)
{
	if (arr->len + extra + 2 <= arr->cap)
		return;
	while (arr->len + extra + 2 > arr->cap)
		arr->cap = arr->cap == 0 ? 256 : arr->cap * 2;
	arr->buf = xrealloc(arr->buf, arr->cap);
}

void
pgarray_init(struct pgarray *arr)
{
	memset(arr, 0, sizeof(*arr));
	reserve(arr, 1);
	arr->buf[arr->len++] = '{';
}

static void
separator(struct pgarray *arr)
{
	if (arr->count++ > 0) {
		reserve(arr, 1);
		arr->buf[arr->len++] = ',';
	}
}

void
pgarray_text(struct pgarray *arr, const char *value)
{
	separator(arr);
	if (value == NULL) {
		reserve(arr, 4);
		memcpy(arr->buf + arr->len, "NULL", 4);
		arr->len += 4;
		return;
	}
	reserve(arr, strlen(value) * 2 + 2);
	arr->buf[arr->len++] = '"';
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			arr->buf[arr->len++] = '\\';
		arr->buf[arr->len++] = *p;
	}
	arr->buf[arr->len++] = '"';
}

void
pgarray_int(struct pgarray *arr, int64_t value)
{
	separator(arr);
	reserve(arr, 24);
	arr->len +=
	    (size_t)snprintf(arr->buf + arr->len, 24, "%" PRId64, value);
}

const char *
pgarray_finish(struct pgarray *arr)
{
	reserve(arr, 1);
	arr->buf[arr->len++] = '}';
	arr->buf[arr->len] = '\0';
	return arr->buf;
}

void
pgarray_free(struct pgarray *arr)
{
	free(arr->buf);
	memset(arr, 0, sizeof(*arr));
}
