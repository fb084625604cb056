/* platform.h — everything that depends on the operating system or on the
 * CPU architecture outside the SIMD kernels, in one place: waiting on an
 * address (futex), the spin-wait hint, the running executable's path, the
 * resident set size, random bytes, the AMX permission request and ARM CPU
 * features.  Porting to another OS means reimplementing platform.c; the rest
 * of the tree calls only these functions (see README, "Porting").
 *
 * Linux gets futex(2), /proc, getrandom(2), arch_prctl(2) and
 * getauxval(3); elsewhere each falls back to something portable (a
 * pthread condition variable for the wait, time and pid for the seed) or
 * reports "unknown" (0, -1) so callers take their plain path. */
#ifndef HG_PLATFORM_H
#define HG_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Block while *addr == val (may return early, spuriously); wake every thread
 * blocked on addr.  The waker changes *addr before waking, so a waiter that
 * re-checks after waking never misses a change. */
void hg_wait_on_address(_Atomic unsigned *addr, unsigned val);
void hg_wake_all_on_address(_Atomic unsigned *addr);
/* 1 when hg_wait_on_address uses the OS's address wait (futex), 0 for the
 * portable mutex + condition variable fallback. */
int hg_wait_is_native(void);

/* The spin-wait hint: x86 `pause`, ARM `yield`, nothing elsewhere. */
static inline void hg_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

/* Directory of the running executable (no trailing slash) into out;
 * 0 on success, -1 when unknown or too long. */
int hg_exe_dir(char *out, size_t cap);
/* The CPUs this thread may run on: its affinity mask on Linux (taskset, a
 * container's cpuset), else the online processors; at least 1. */
int hg_usable_cpus(void);
/* Resident set size of this process in bytes; 0 when unknown. */
size_t hg_rss_bytes(void);
/* n bytes from the OS's random source; 0 on success, -1 when unavailable. */
int hg_random_bytes(void *buf, size_t n);
/* Memory for weights that are streamed every token: 64-byte aligned, and
 * from 2 MiB up on 2 MiB boundaries with the OS asked for huge pages (Linux
 * madvise MADV_HUGEPAGE: far fewer TLB misses while the weights stream).
 * Released with free(); NULL when out of memory. */
void *hg_alloc_streamed(size_t bytes);
/* Drop a file's pages from the OS cache once it has been read into memory
 * (posix_fadvise DONTNEED where there is one). */
void hg_drop_file_cache(int fd);
/* Ask the OS for the AMX tile state (Linux arch_prctl ARCH_REQ_XCOMP_PERM);
 * 0 when granted, -1 otherwise (and on every non-x86 target). */
int hg_amx_request_permission(void);

/* x86 CPU features (CPUID, with the OS's XSAVE state checked for AVX and
 * AVX-512; 0 on other targets).  The same on gcc and clang, whose
 * __builtin_cpu_supports() know different feature names. */
enum {
    HG_X86_AVX2 = 1 << 0,
    HG_X86_FMA = 1 << 1,
    HG_X86_F16C = 1 << 2,
    HG_X86_AVX512F = 1 << 3,
    HG_X86_AVX512BW = 1 << 4,
    HG_X86_AVX512VL = 1 << 5,
    HG_X86_AVX512VNNI = 1 << 6,
    HG_X86_AVX512BF16 = 1 << 7,
    HG_X86_AVXVNNI = 1 << 8,     /* VEX-encoded VNNI (Alder Lake, Zen 5)       */
    HG_X86_AMX_TILE = 1 << 9,    /* the OS must still grant the tile state     */
    HG_X86_AMX_BF16 = 1 << 10,
};
unsigned hg_x86_features(void);

/* ARM64 CPU features (HWCAP on Linux; 0 elsewhere and on other targets). */
enum {
    HG_ARM_ASIMD = 1 << 0,   /* NEON (always on AArch64)                */
    HG_ARM_DOTPROD = 1 << 1, /* SDOT/UDOT (asimddp)                     */
    HG_ARM_BF16 = 1 << 2,    /* BFDOT/BFMMLA/BFCVT                      */
    HG_ARM_I8MM = 1 << 3,    /* SMMLA/USDOT                             */
};
unsigned hg_arm_features(void);

#endif
