/*
 * crc32c.h -- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of the durable log's frames (wal.h). Two implementations of one
 * function: the SSE4.2 crc32 instruction (x86-64, chosen at run time with
 * cpuid) and a portable byte table. Both give the same value; the unit test
 * (tests/unit/check_wal.c) checks each against the RFC 3720 test vectors.
 *
 * Hand-written rather than a library: Debian 12 has no small CRC-32C
 * library package in the project's dependency set (libcrc32c is the kernel's;
 * zlib's crc32 is the other polynomial), and the code is 100 lines.
 */
#ifndef RD_CRC32C_H
#define RD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extends crc (0 for a new checksum) with buf[0..len): rd_crc32c(0, "123456789", 9)
 * is 0xE3069283, and rd_crc32c(rd_crc32c(0, a, n), b, m) is the CRC of a||b.
 * Borrows buf. Never fails; thread-safe.
 */
uint32_t rd_crc32c(uint32_t crc, const void *buf, size_t len);
/* The portable table version (always available). */
uint32_t rd_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* The SSE4.2 version; call only when rd_crc32c_hw_available() is 1. */
uint32_t rd_crc32c_hw(uint32_t crc, const void *buf, size_t len);
/* 1 when this CPU has SSE4.2 (and the build is x86-64), else 0. */
int rd_crc32c_hw_available(void);

#endif
