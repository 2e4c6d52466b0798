/*
 * err.c - the caller-owned error record (see include/core/err.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

void
err_set(struct err *err, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err->status != 0)
		return;
	err->status = status;
	snprintf(err->code, sizeof(err->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

bool
err_is_set(const struct err *err)
{
	return err != NULL && err->status != 0;
}

void
err_clear(struct err *err)
{
	if (err != NULL)
		memset(err, 0, sizeof(*err));
}
