/*
 * lcerr.c - error records for library code (see lcerr.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lcerr.h"

static void lcerr_vset(struct lcerr *err, int code, const char *fmt,
		       va_list ap)
{
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int lcerr_set(struct lcerr *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	lcerr_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int lcerr_sys(struct lcerr *err, int code, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	if (!err)
		return code;
	va_start(ap, fmt);
	lcerr_vset(err, code, fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	snprintf(err->msg + len, sizeof(err->msg) - len, ": %s",
		 strerror(-code));
	return code;
}

void lcerr_clear(struct lcerr *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}
