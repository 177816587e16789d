/*
 * json.c - single-pass JSON validation and minification (see json.h).
 *
 * The grammar is RFC 8259's:
 *
 *   value  = object / array / string / number / "true" / "false" / "null"
 *   number = [ "-" ] ( "0" / %x31-39 *DIGIT ) [ "." 1*DIGIT ]
 *            [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]
 *   string = '"' *( unescaped / "\" ( ["\/bfnrt] / "u" 4HEXDIG ) ) '"'
 *   ws     = *( %x20 / %x09 / %x0A / %x0D )
 *
 * States of the loop below: what may come next at the current nesting.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "json.h"

enum json_state {
	JS_VALUE,          /* a value must come */
	JS_VALUE_OR_CLOSE, /* just after '[': a value or ']' */
	JS_KEY_OR_CLOSE,   /* just after '{': a key or '}' */
	JS_KEY,            /* after ',' in an object */
	JS_COLON,          /* after a key */
	JS_AFTER,          /* after a value: ',' or a closer, or the end */
};

struct json_ctx {
	const unsigned char *in;
	size_t len, i;
	char *out;
	size_t o;
	struct lcerr *err;
};

static int json_fail(struct json_ctx *c, const char *what)
{
	return lcerr_set(c->err, -EINVAL, "invalid JSON at byte %zu: %s",
			 c->i, what);
}

/* Length of the UTF-8 sequence at p (1..4), or 0 if invalid/truncated. */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
	unsigned char b = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, k;

	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		n = 2;
	else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		if (b == 0xe0)
			lo = 0xa0;          /* no overlongs */
		else if (b == 0xed)
			hi = 0x9f;          /* no UTF-16 surrogates */
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;          /* nothing above U+10FFFF */
	} else
		return 0;
	if (avail < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (k = 2; k < n; k++)
		if (p[k] < 0x80 || p[k] > 0xbf)
			return 0;
	return n;
}

static int is_hex(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	       (ch >= 'A' && ch <= 'F');
}

static int json_string(struct json_ctx *c)
{
	size_t start = c->i;

	c->i++; /* opening quote */
	while (c->i < c->len) {
		unsigned char ch;

		/* the common case: plain ASCII, nothing to look at */
		while (c->i < c->len && c->in[c->i] >= 0x20 &&
		       c->in[c->i] < 0x80 && c->in[c->i] != '"' &&
		       c->in[c->i] != '\\')
			c->i++;
		if (c->i == c->len)
			break;
		ch = c->in[c->i];

		if (ch == '"') {
			c->i++;
			memmove(c->out + c->o, c->in + start, c->i - start);
			c->o += c->i - start;
			return 0;
		}
		if (ch == '\\') {
			unsigned char e;

			if (c->i + 1 >= c->len)
				break;
			e = c->in[c->i + 1];
			if (e == 'u') {
				size_t k;

				if (c->i + 6 > c->len)
					break;
				for (k = 2; k < 6; k++)
					if (!is_hex(c->in[c->i + k])) {
						c->i += k;
						return json_fail(c, "bad \\u escape");
					}
				c->i += 6;
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || !e) {
				c->i++;
				return json_fail(c, "bad escape in string");
			}
			c->i += 2;
			continue;
		}
		if (ch < 0x20)
			return json_fail(c, "control character in string");
		if (ch >= 0x80) {
			size_t n = utf8_seq(c->in + c->i, c->len - c->i);

			if (!n)
				return lcerr_set(c->err, -EINVAL,
						 "invalid UTF-8 at byte %zu",
						 c->i);
			c->i += n;
			continue;
		}
		c->i++;
	}
	return json_fail(c, "unterminated string");
}

static size_t json_digits(struct json_ctx *c)
{
	size_t n = 0;

	while (c->i < c->len && c->in[c->i] >= '0' && c->in[c->i] <= '9') {
		c->i++;
		n++;
	}
	return n;
}

static int json_number(struct json_ctx *c)
{
	size_t start = c->i;

	if (c->in[c->i] == '-')
		c->i++;
	if (c->i < c->len && c->in[c->i] == '0') {
		c->i++;
	} else if (!json_digits(c)) {
		return json_fail(c, "bad number");
	}
	if (c->i < c->len && c->in[c->i] == '.') {
		c->i++;
		if (!json_digits(c))
			return json_fail(c, "bad number: digits must follow '.'");
	}
	if (c->i < c->len && (c->in[c->i] == 'e' || c->in[c->i] == 'E')) {
		c->i++;
		if (c->i < c->len && (c->in[c->i] == '+' || c->in[c->i] == '-'))
			c->i++;
		if (!json_digits(c))
			return json_fail(c, "bad number: bad exponent");
	}
	if (c->i < c->len && ((c->in[c->i] >= '0' && c->in[c->i] <= '9') ||
			      c->in[c->i] == '.'))
		return json_fail(c, "bad number");
	memmove(c->out + c->o, c->in + start, c->i - start);
	c->o += c->i - start;
	return 0;
}

static int json_literal(struct json_ctx *c)
{
	static const char *const lits[] = { "true", "false", "null" };
	size_t k;

	for (k = 0; k < 3; k++) {
		size_t n = strlen(lits[k]);

		if (c->len - c->i >= n && !memcmp(c->in + c->i, lits[k], n)) {
			memmove(c->out + c->o, lits[k], n);
			c->o += n;
			c->i += n;
			return 0;
		}
	}
	return json_fail(c, "unexpected character");
}

int json_minify(const char *in, size_t len, char *out, size_t *outlen,
		struct lcerr *err)
{
	struct json_ctx c = { (const unsigned char *)in, len, 0, out, 0, err };
	unsigned char stack[JSON_MAX_DEPTH / 8];  /* bit set = object */
	enum json_state st = JS_VALUE;
	int depth = 0, rc;

	if (len >= 3 && !memcmp(in, "\xef\xbb\xbf", 3))
		return json_fail(&c, "byte order mark is not allowed");
	for (;;) {
		unsigned char ch;
		int top_is_obj;

		while (c.i < len && (in[c.i] == ' ' || in[c.i] == '\t' ||
				     in[c.i] == '\n' || in[c.i] == '\r'))
			c.i++;
		if (c.i == len) {
			if (st == JS_AFTER && depth == 0)
				break;
			return json_fail(&c, c.i == 0 ? "empty body"
						      : "unexpected end");
		}
		ch = c.in[c.i];
		top_is_obj = depth &&
			     (stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
		switch (st) {
		case JS_VALUE_OR_CLOSE:
			if (ch == ']')
				goto close;
			/* fall through */
		case JS_VALUE:
			if (ch == '{' || ch == '[') {
				if (depth == JSON_MAX_DEPTH)
					return json_fail(&c, "nested too deeply");
				if (ch == '{')
					stack[depth / 8] |= (unsigned char)(1u << (depth % 8));
				else
					stack[depth / 8] &= (unsigned char)~(1u << (depth % 8));
				depth++;
				c.out[c.o++] = (char)ch;
				c.i++;
				st = ch == '{' ? JS_KEY_OR_CLOSE : JS_VALUE_OR_CLOSE;
				continue;
			}
			if (ch == '"')
				rc = json_string(&c);
			else if (ch == '-' || (ch >= '0' && ch <= '9'))
				rc = json_number(&c);
			else
				rc = json_literal(&c);
			if (rc)
				return rc;
			st = JS_AFTER;
			continue;
		case JS_KEY_OR_CLOSE:
			if (ch == '}')
				goto close;
			/* fall through */
		case JS_KEY:
			if (ch != '"')
				return json_fail(&c, "expected a string key");
			rc = json_string(&c);
			if (rc)
				return rc;
			st = JS_COLON;
			continue;
		case JS_COLON:
			if (ch != ':')
				return json_fail(&c, "expected ':'");
			c.out[c.o++] = ':';
			c.i++;
			st = JS_VALUE;
			continue;
		case JS_AFTER:
			if (depth == 0)
				return json_fail(&c, "trailing characters");
			if (ch == ',') {
				c.out[c.o++] = ',';
				c.i++;
				st = top_is_obj ? JS_KEY : JS_VALUE;
				continue;
			}
			if ((ch == '}' && top_is_obj) || (ch == ']' && !top_is_obj))
				goto close;
			return json_fail(&c, top_is_obj ? "expected ',' or '}'"
						       : "expected ',' or ']'");
		}
close:
		depth--;
		c.out[c.o++] = (char)ch;
		c.i++;
		st = JS_AFTER;
	}
	*outlen = c.o;
	return 0;
}

int json_add_string(struct strbuf *sb, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	int rc = strbuf_addch(sb, '"');

	while (!rc && i < len) {
		unsigned char ch = p[i];
		size_t n;

		if (ch == '"' || ch == '\\') {
			char esc[2] = { '\\', (char)ch };

			rc = strbuf_add(sb, esc, 2);
			i++;
		} else if (ch < 0x20) {
			char esc[6] = { '\\', 'u', '0', '0', hex[ch >> 4],
					hex[ch & 15] };

			rc = strbuf_add(sb, esc, 6);
			i++;
		} else if (ch < 0x80) {
			rc = strbuf_addch(sb, ch);
			i++;
		} else if ((n = utf8_seq(p + i, len - i)) != 0) {
			rc = strbuf_add(sb, p + i, n);
			i += n;
		} else {
			rc = strbuf_add(sb, "\xef\xbf\xbd", 3);
			i++;
		}
	}
	return rc ? rc : strbuf_addch(sb, '"');
}
