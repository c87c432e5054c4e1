/*
 * crc32c.c -- CRC-32C, hardware (SSE4.2 crc32 instruction) and table
 * versions; see crc32c.h. The table is built once (pthread_once) from the
 * polynomial, so no 1 KB literal has to be checked by eye. The hardware path
 * is compiled with __attribute__((target("sse4.2"))) so the rest of the
 * build keeps its baseline -march, and is only called after cpuid says so.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RD_CRC32C_X86 1
#include <nmmintrin.h>
#else
#define RD_CRC32C_X86 0
#endif

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

static uint32_t crc_table[256];     /* crc_table[b]: CRC of the byte b */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Fills crc_table (run once). */
static void
crc_table_init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[b] = c;
	}
}

/* Byte at a time: ~0.5 GB/s, enough for a fallback (the log is bound by fdatasync). */
uint32_t
rd_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	pthread_once(&crc_once, crc_table_init);
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if RD_CRC32C_X86
/* 8 bytes per crc32 instruction, the head and tail a byte at a time. */
__attribute__((target("sse4.2"))) uint32_t
rd_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t c = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8); /* aligned here; memcpy keeps UBSan quiet */
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

int
rd_crc32c_hw_available(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}
#else
uint32_t
rd_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return rd_crc32c_sw(crc, buf, len);
}

int
rd_crc32c_hw_available(void)
{
	return 0;
}
#endif

/* Dispatches; the cpuid answer is cached (relaxed atomics: every thread computes the same value). */
uint32_t
rd_crc32c(uint32_t crc, const void *buf, size_t len)
{
	static int hw = -1;
	int h = __atomic_load_n(&hw, __ATOMIC_RELAXED);
	if (h < 0) {
		h = rd_crc32c_hw_available();
		__atomic_store_n(&hw, h, __ATOMIC_RELAXED);
	}
	return h ? rd_crc32c_hw(crc, buf, len) : rd_crc32c_sw(crc, buf, len);
}
