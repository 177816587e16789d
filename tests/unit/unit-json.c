/*
 * unit-json.c - json_minify() against valid and invalid inputs.
 */
#include <errno.h>
#include <string.h>

#include "json.h"
#include "tap.h"

static int minifies(const char *in, const char *want)
{
	struct lcerr err = LCERR_INIT;
	char out[1024];
	size_t n;

	if (json_minify(in, strlen(in), out, &n, &err))
		return 0;
	return n == strlen(want) && !memcmp(out, want, n);
}

static int rejects(const char *in, size_t len, const char *msg_part)
{
	struct lcerr err = LCERR_INIT;
	char out[1024];
	size_t n;

	if (json_minify(in, len, out, &n, &err) != -EINVAL)
		return 0;
	return !msg_part || strstr(err.msg, msg_part) != NULL;
}

#define REJECTS(s, part) rejects(s, sizeof(s) - 1, part)

int main(void)
{
	char buf[64];
	size_t n;
	struct strbuf sb;
	char deep[2 * JSON_MAX_DEPTH + 10];

	ok(minifies("{ \"a\" : [ 1 , 2 ] }", "{\"a\":[1,2]}"), "whitespace outside strings removed");
	ok(minifies("\" keep  spaces \"", "\" keep  spaces \""), "whitespace inside strings kept");
	ok(minifies("0.1", "0.1"), "0.1 kept byte for byte");
	ok(minifies("12345678901234567890", "12345678901234567890"), "big integers kept");
	ok(minifies("{\"b\":1,\"a\":2}", "{\"b\":1,\"a\":2}"), "key order kept");
	ok(minifies("-0.5e+10", "-0.5e+10"), "exponent kept");
	ok(minifies("\t\r\n true \n", "true"), "scalar with surrounding whitespace");
	ok(minifies("null", "null") && minifies("false", "false"), "literals");
	ok(minifies("[]", "[]") && minifies("{ }", "{}"), "empty containers");
	ok(minifies("\"\\u00e9\\n\\\"\"", "\"\\u00e9\\n\\\"\""), "escapes kept as written");
	ok(minifies("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""), "2, 3 and 4 byte UTF-8");
	ok(minifies("\"\\ud83d\\ude00\"", "\"\\ud83d\\ude00\""), "surrogate pair escape");

	ok(REJECTS("", "empty"), "empty body");
	ok(REJECTS("   ", "empty") || REJECTS("   ", "end"), "only whitespace");
	ok(REJECTS("{", "end"), "unterminated object");
	ok(REJECTS("[1,]", NULL), "trailing comma");
	ok(REJECTS("{\"a\" 1}", "':'"), "missing colon");
	ok(REJECTS("{a:1}", "key"), "unquoted key");
	ok(REJECTS("01", NULL), "leading zero");
	ok(REJECTS("1.", "'.'"), "dot without digits");
	ok(REJECTS("+1", NULL), "leading plus");
	ok(REJECTS("1e", "exponent"), "empty exponent");
	ok(REJECTS("NaN", NULL) && REJECTS("Infinity", NULL), "NaN and Infinity");
	ok(REJECTS("tru", NULL) && REJECTS("nul", NULL), "truncated literals");
	ok(REJECTS("1 2", "trailing"), "two values");
	ok(REJECTS("\"a\x01\"", "control"), "raw control character in string");
	ok(REJECTS("\"a\nb\"", "control"), "raw newline in string");
	ok(REJECTS("\"\\x\"", "escape"), "bad escape");
	ok(REJECTS("\"\\u12g4\"", "\\u"), "bad unicode escape");
	ok(REJECTS("\"\xff\"", "UTF-8"), "byte 0xff");
	ok(REJECTS("\"\xc3\x28\"", "UTF-8"), "bad continuation byte");
	ok(REJECTS("\"\xc0\xaf\"", "UTF-8"), "overlong encoding");
	ok(REJECTS("\"\xed\xa0\x80\"", "UTF-8"), "UTF-8 encoded surrogate");
	ok(REJECTS("\"\xf4\x90\x80\x80\"", "UTF-8"), "above U+10FFFF");
	ok(REJECTS("\"\xe2\x82\"", "UTF-8"), "truncated sequence");
	ok(REJECTS("\xef\xbb\xbf{}", "byte order mark"), "BOM refused");
	ok(rejects("[1,\0]", 5, NULL), "NUL byte");
	ok(REJECTS("[1}", NULL) && REJECTS("{\"a\":1]", NULL), "mismatched brackets");

	memset(deep, '[', JSON_MAX_DEPTH);
	memset(deep + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
	deep[2 * JSON_MAX_DEPTH] = '\0';
	ok(minifies(deep, deep), "nesting of %d accepted", JSON_MAX_DEPTH);
	memmove(deep + 1, deep, 2 * JSON_MAX_DEPTH + 1);
	deep[0] = '[';
	memcpy(deep + 2 * JSON_MAX_DEPTH + 1, "]", 2);
	ok(REJECTS(deep, "deep") || rejects(deep, strlen(deep), "deep"), "nesting of %d refused", JSON_MAX_DEPTH + 1);

	snprintf(buf, sizeof(buf), "%s", " [ 1 , { \"k\" : \"v\" } ] ");
	ok(!json_minify(buf, strlen(buf), buf, &n, NULL) && n == 13 &&
	   !memcmp(buf, "[1,{\"k\":\"v\"}]", 13), "minify in place");

	strbuf_init(&sb, 0);
	json_add_string(&sb, "a\"b\\c\n\x01\xff", 8);
	ok(!strcmp(sb.buf, "\"a\\\"b\\\\c\\u000a\\u0001\xef\xbf\xbd\""), "json_add_string escapes and replaces bad UTF-8: %s", sb.buf);
	strbuf_release(&sb);
	return tap_done();
}
