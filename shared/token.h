/*
 * token.h - publish and admin tokens.
 *
 * When LOGCAST_PUBLISH_TOKEN (or LOGCAST_ADMIN_TOKEN) is set, requests
 * must present it, as "Authorization: Bearer <token>" or, for WebSockets,
 * as ?token=.  Comparison takes time that depends only on the length of
 * what the client sent, never on how much of the secret it got right.
 * Tokens are never logged: callers report "missing or wrong token" only.
 */
#ifndef TOKEN_H
#define TOKEN_H

#include <stddef.h>

/* Constant-time equality of given[0..glen) and want[0..wlen). */
int token_equal(const char *given, size_t glen, const char *want, size_t wlen);

/*
 * Is the request allowed?  `want` is the configured token (NULL or empty:
 * no token required, always 1).  `authorization` is the Authorization
 * header (may be NULL).  Returns 1 allowed, 0 missing or wrong.
 */
int token_check_bearer(const char *authorization, const char *want);

/* Same for a token given directly (the ?token= of a WebSocket). */
int token_check(const char *given, const char *want);

#endif
