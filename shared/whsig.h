/*
 * whsig.h - Standard Webhooks 1.0 secrets and signatures.
 *
 * A webhook secret is "whsec_" followed by the standard (padded) base64 of
 * 24 to 64 random bytes; those bytes are the HMAC key.  A delivery carries
 *
 *   webhook-id:         msg_<channel>_<id>   (same on every retry)
 *   webhook-timestamp:  unix seconds of the attempt
 *   webhook-signature:  v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
 *
 * and a receiver accepts it when one of the space-separated v1 signatures
 * matches (compared in constant time) and the timestamp is within its
 * tolerance.  The dispatcher signs with whsig_sign(); the demo receiver and
 * the unit test verify with whsig_verify().
 *
 * A struct whsig holds the decoded key in an OpenSSL EVP_MAC context that
 * is re-used for every signature, so signing costs one HMAC and no
 * allocation.  It is not thread-safe: one struct per thread.
 *
 * Ownership: whsig_init() allocates; whsig_release() frees (and is safe on
 * a zeroed or already released struct).
 */
#ifndef WHSIG_H
#define WHSIG_H

#include <stddef.h>
#include <stdint.h>

#include "lcerr.h"

#define WHSIG_PREFIX      "whsec_"
#define WHSIG_KEY_MIN     24
#define WHSIG_KEY_MAX     64
#define WHSIG_KEY_NEW     32                 /* bytes in a generated secret */
/* "whsec_" + base64 of WHSIG_KEY_MAX bytes + NUL */
#define WHSIG_SECRET_MAX  (6 + ((WHSIG_KEY_MAX + 2) / 3) * 4 + 1)
/* "v1," + base64 of 32 bytes (44) + NUL */
#define WHSIG_SIG_MAX     (3 + 44 + 1)
#define WHSIG_TOLERANCE_S 300                /* receivers: +-5 minutes */

struct whsig {
	void *ctx;                 /* EVP_MAC_CTX with the key loaded */
};

/*
 * Check the syntax of a secret: "whsec_" + padded base64 of WHSIG_KEY_MIN
 * to WHSIG_KEY_MAX bytes.  0, or -EINVAL with the reason in `err`.
 */
int whsig_secret_check(const char *secret, struct lcerr *err);

/*
 * Make a new secret from WHSIG_KEY_NEW bytes of getrandom() into `out`
 * (at least WHSIG_SECRET_MAX bytes).  0, or negative (-EIO when the
 * kernel has no randomness to give) with `err` set.
 */
int whsig_secret_generate(char *out, size_t outlen, struct lcerr *err);

/*
 * Load the key of `secret` (checked as by whsig_secret_check()).  0, or
 * -EINVAL (bad secret) / -ENOMEM / -EIO (OpenSSL failed) with `err` set;
 * on error `s` needs no release.
 */
int whsig_init(struct whsig *s, const char *secret, struct lcerr *err);

void whsig_release(struct whsig *s);

/*
 * Sign: write "v1,<base64>" (NUL-terminated) to `out` (outlen >=
 * WHSIG_SIG_MAX).  `msg_id` is the webhook-id, `ts` the webhook-timestamp.
 * 0, or -EIO if OpenSSL fails, -E2BIG if `out` is too small.
 */
int whsig_sign(struct whsig *s, const char *msg_id, uint64_t ts,
	       const void *body, size_t len, char *out, size_t outlen);

/*
 * Verify a webhook-signature header value (one or more space-separated
 * "version,signature" items; only v1 items count) for `msg_id`, the
 * timestamp text `ts` (as sent, decimal) and `body`.  Returns 1 when a v1
 * signature matches, 0 when none does, -EINVAL when `ts` is not a decimal
 * number.  The timestamp's tolerance is the caller's check.
 */
int whsig_verify(struct whsig *s, const char *msg_id, const char *ts,
		 const void *body, size_t len, const char *header);

/*
 * Strict standard base64 (RFC 4648 section 4, padded): decode `in` into
 * `out` (room for `outlen` bytes).  Returns the decoded length, -EINVAL
 * for anything that is not canonical padded base64, -E2BIG if it does not
 * fit.
 */
int whsig_b64_decode(const char *in, size_t len, unsigned char *out,
		     size_t outlen);

#endif
