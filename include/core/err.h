/*
 * err.h - a caller-owned error record shared by every layer.
 *
 * A fallible function takes a struct err * and fills it when it fails; the
 * first error set wins, so a low-level cause is not overwritten by a vaguer
 * message from a caller.  The HTTP layer turns the record into the contract's
 * JSON error body: {"error":{"code":...,"message":...}}.
 */
#ifndef ENGAGEMENTD_CORE_ERR_H
#define ENGAGEMENTD_CORE_ERR_H

#include <stdbool.h>

#define MUST_CHECK __attribute__((warn_unused_result))
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))

struct err {
	int status;        /* HTTP status the error maps to, 0 while unset */
	char code[40];     /* snake_case code for clients */
	char message[256]; /* short client-facing text, no internals */
};

/* Records an error unless one is already set.  err may be NULL. */
void err_set(struct err *err, int status, const char *code, const char *fmt,
    ...) PRINTF_LIKE(4, 5);

/* True once err_set has recorded something. */
bool err_is_set(const struct err *err);

/* Forgets the recorded error so the record can be reused. */
void err_clear(struct err *err);

#endif
