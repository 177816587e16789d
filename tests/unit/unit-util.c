/*
 * unit-util.c - crc32c, strict number parsing and strbuf bounds.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "crc32c.h"
#include "parse.h"
#include "strbuf.h"
#include "tap.h"

/* the table version, to compare with whatever crc32c() picked */
uint32_t crc32c_under_test(uint32_t crc, const void *data, size_t len);
#define crc32c crc32c_under_test
#include "crc32c.c"   /* from shared/, on the include path */
#undef crc32c

int main(void)
{
	unsigned char big[4099];
	uint64_t v = 7;
	struct strbuf sb;
	size_t i;

	ok(crc32c_under_test(0, "123456789", 9) == 0xe3069283u, "crc32c check value");
	ok(crc32c_sw(0, (const unsigned char *)"123456789", 9) == 0xe3069283u, "table crc32c check value");
	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7 + 3);
	ok(crc32c_under_test(0, big + 1, sizeof(big) - 1) == crc32c_sw(0, big + 1, sizeof(big) - 1),
	   "hardware and table agree on unaligned data");
	ok(crc32c_under_test(crc32c_under_test(0, big, 100), big + 100, 200) ==
	   crc32c_under_test(0, big, 300), "crc32c can be extended");

	ok(!parse_u64("0", 0, 10, &v) && v == 0, "parse 0");
	ok(!parse_u64("9223372036854775807", 0, INT64_MAX, &v) && v == INT64_MAX, "parse 2^63-1");
	ok(parse_u64("9223372036854775808", 0, INT64_MAX, &v) == -ERANGE, "2^63 out of range");
	ok(parse_u64("99999999999999999999", 0, UINT64_MAX, &v) == -ERANGE, "overflow is a range error");
	ok(parse_u64("-1", 0, 10, &v) == -EINVAL, "negative refused");
	ok(parse_u64("abc", 0, 10, &v) == -EINVAL, "letters refused");
	ok(parse_u64("", 0, 10, &v) == -EINVAL, "empty refused");
	ok(parse_u64(" 1", 0, 10, &v) == -EINVAL && parse_u64("1 ", 0, 10, &v) == -EINVAL, "spaces refused");
	ok(parse_u64("+1", 0, 10, &v) == -EINVAL, "plus refused");
	ok(parse_u64("0", 1, 10, &v) == -ERANGE && parse_u64("11", 1, 10, &v) == -ERANGE, "range bounds");
	ok(!parse_duration_ms("5m", 2, UINT64_MAX, &v) && v == 300000, "5m");
	ok(!parse_duration_ms("250ms", 5, UINT64_MAX, &v) && v == 250, "250ms");
	ok(!parse_duration_ms("2", 1, UINT64_MAX, &v) && v == 2000, "bare number is seconds");
	ok(!parse_duration_ms("10h", 3, UINT64_MAX, &v) && v == 36000000, "10h");
	ok(parse_duration_ms("5x", 2, UINT64_MAX, &v) == -EINVAL, "bad unit");
	ok(parse_duration_ms("s", 1, UINT64_MAX, &v) == -EINVAL, "no number");
	ok(parse_duration_ms("2d", 2, 86400000, &v) == -ERANGE, "above the maximum");

	strbuf_init(&sb, 8);
	ok(!strbuf_addstr(&sb, "12345678") && sb.len == 8, "strbuf fills to its bound");
	ok(strbuf_addch(&sb, 'x') == -E2BIG && sb.len == 8 && !strcmp(sb.buf, "12345678"),
	   "strbuf refuses past its bound and keeps its content");
	strbuf_release(&sb);
	ok(sb.buf && sb.len == 0 && sb.buf[0] == '\0', "released strbuf is empty, not NULL");
	ok(!strbuf_addf(&sb, "%d-%s", 42, "x") && !strcmp(sb.buf, "42-x"), "strbuf_addf");
	strbuf_release(&sb);
	return tap_done();
}
