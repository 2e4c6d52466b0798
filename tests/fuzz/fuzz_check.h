/*
 * fuzz_check.h - the one assertion the fuzz harnesses share.
 *
 * A broken invariant must stop libFuzzer with a crash so that the input is
 * saved; assert(3) would vanish under -DNDEBUG, so this never compiles
 * away.
 */
#ifndef ENGAGEMENTD_FUZZ_CHECK_H
#define ENGAGEMENTD_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",       \
			    __FILE__, __LINE__, #cond);                        \
			abort();                                               \
		}                                                              \
	} while (0)

#endif
