/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every log record.
 *
 * CRC-32C rather than zlib's CRC-32 because x86-64 (SSE4.2) and ARMv8 have
 * an instruction for it, so checking every record on every read costs
 * little; a table-driven version is used where the instruction is missing.
 */
#ifndef CRC32C_H
#define CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend `crc` (0 to start) over `len` bytes of `data`. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
