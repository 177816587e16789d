/*
 * tap.h - a tiny TAP producer for the C unit tests in tests/unit.
 *
 *   ok(cond, "what %s", ...)   one test
 *   return tap_done();          plan line; exit status 1 if any failed
 *
 * The shell harness (test_unit_program in test-lib.sh) re-emits these as
 * tests of the wrapping tNNNN script.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3)))
static int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
