/*
 * whsig.c - Standard Webhooks secrets and HMAC-SHA256 signatures (see
 * whsig.h).
 *
 * OpenSSL 3 does the cryptography: EVP_MAC "HMAC" with SHA-256, and
 * EVP_EncodeBlock / EVP_DecodeBlock for base64.  EVP_DecodeBlock is
 * lenient (it skips white space and does not report padding), so every
 * base64 text is checked here first and the padding subtracted by hand.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "parse.h"
#include "whsig.h"

static int b64_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int whsig_b64_decode(const char *in, size_t len, unsigned char *out,
		     size_t outlen)
{
	size_t i, pad = 0;
	int n;

	if (!len || len % 4 || len > (size_t)1 << 30)
		return -EINVAL;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++)
		if (!b64_char((unsigned char)in[i]))
			return -EINVAL;
	if (outlen < len / 4 * 3)
		return -E2BIG;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n != len / 4 * 3)
		return -EINVAL;
	return n - (int)pad;
}

/* Decode the key of a secret into key[WHSIG_KEY_MAX + 2]: its length, or
 * -EINVAL with the reason. */
static int secret_key(const char *secret, unsigned char *key, size_t keylen,
		      struct lcerr *err)
{
	size_t plen = strlen(WHSIG_PREFIX), len;
	int n;

	if (!secret || strncmp(secret, WHSIG_PREFIX, plen))
		return lcerr_set(err, -EINVAL,
				 "secret must start with \"" WHSIG_PREFIX "\"");
	len = strlen(secret + plen);
	if (len > WHSIG_SECRET_MAX - 1 - plen)
		return lcerr_set(err, -EINVAL,
				 "secret too long: its key must be %d to %d bytes",
				 WHSIG_KEY_MIN, WHSIG_KEY_MAX);
	n = whsig_b64_decode(secret + plen, len, key, keylen);
	if (n < 0)
		return lcerr_set(err, -EINVAL,
				 "secret must be \"" WHSIG_PREFIX "\" followed by "
				 "standard padded base64");
	if (n < WHSIG_KEY_MIN || n > WHSIG_KEY_MAX) {
		OPENSSL_cleanse(key, keylen);
		return lcerr_set(err, -EINVAL,
				 "secret's key is %d bytes; it must be %d to %d",
				 n, WHSIG_KEY_MIN, WHSIG_KEY_MAX);
	}
	return n;
}

int whsig_secret_check(const char *secret, struct lcerr *err)
{
	unsigned char key[WHSIG_KEY_MAX + 3];
	int n = secret_key(secret, key, sizeof(key), err);

	OPENSSL_cleanse(key, sizeof(key));
	return n < 0 ? n : 0;
}

int whsig_secret_generate(char *out, size_t outlen, struct lcerr *err)
{
	unsigned char key[WHSIG_KEY_NEW];
	size_t plen = strlen(WHSIG_PREFIX), got = 0;

	if (outlen < WHSIG_SECRET_MAX)
		return lcerr_set(err, -E2BIG, "secret buffer too small");
	while (got < sizeof(key)) {
		ssize_t n = getrandom(key + got, sizeof(key) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return lcerr_sys(err, -errno, "getrandom");
		}
		got += (size_t)n;
	}
	memcpy(out, WHSIG_PREFIX, plen);
	EVP_EncodeBlock((unsigned char *)out + plen, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

int whsig_init(struct whsig *s, const char *secret, struct lcerr *err)
{
	unsigned char key[WHSIG_KEY_MAX + 3];
	OSSL_PARAM params[2];
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx = NULL;
	int n;

	s->ctx = NULL;
	n = secret_key(secret, key, sizeof(key), err);
	if (n < 0)
		return n;
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac)
		ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);     /* the context keeps its own reference */
	if (!ctx) {
		OPENSSL_cleanse(key, sizeof(key));
		return lcerr_set(err, -ENOMEM, "cannot set up HMAC-SHA256");
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, key, (size_t)n, params)) {
		OPENSSL_cleanse(key, sizeof(key));
		EVP_MAC_CTX_free(ctx);
		return lcerr_set(err, -EIO, "cannot load the HMAC key");
	}
	OPENSSL_cleanse(key, sizeof(key));
	s->ctx = ctx;
	return 0;
}

void whsig_release(struct whsig *s)
{
	EVP_MAC_CTX_free(s->ctx);
	s->ctx = NULL;
}

/* HMAC-SHA256 of "<id>.<ts>.<body>" into mac[32]. */
static int hmac(struct whsig *s, const char *msg_id, const char *ts,
		const void *body, size_t len, unsigned char *mac)
{
	EVP_MAC_CTX *ctx = s->ctx;
	size_t outl = 0;

	if (!ctx || !EVP_MAC_init(ctx, NULL, 0, NULL) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
	    (len && !EVP_MAC_update(ctx, body, len)) ||
	    !EVP_MAC_final(ctx, mac, &outl, 32) || outl != 32)
		return -EIO;
	return 0;
}

static int format_sig(const unsigned char *mac, char *out, size_t outlen)
{
	if (outlen < WHSIG_SIG_MAX)
		return -E2BIG;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, 32);
	return 0;
}

int whsig_sign(struct whsig *s, const char *msg_id, uint64_t ts,
	       const void *body, size_t len, char *out, size_t outlen)
{
	unsigned char mac[32];
	char tsbuf[24];
	int rc;

	snprintf(tsbuf, sizeof(tsbuf), "%llu", (unsigned long long)ts);
	rc = hmac(s, msg_id, tsbuf, body, len, mac);
	if (!rc)
		rc = format_sig(mac, out, outlen);
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

int whsig_verify(struct whsig *s, const char *msg_id, const char *ts,
		 const void *body, size_t len, const char *header)
{
	unsigned char mac[32];
	char want[WHSIG_SIG_MAX];
	const char *p = header;
	uint64_t v;
	int found = 0;

	if (!ts || parse_u64(ts, 0, UINT64_MAX, &v))
		return -EINVAL;
	if (!header || hmac(s, msg_id, ts, body, len, mac) ||
	    format_sig(mac, want, sizeof(want)))
		return 0;
	/* want is "v1,<44 chars>"; compare each v1 item of the same length */
	while (*p) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n == strlen(want) && !strncmp(p, "v1,", 3) &&
		    !CRYPTO_memcmp(p, want, n))
			found = 1;
		p += n;
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	return found;
}
