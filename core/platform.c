/* platform.c — the OS- and architecture-specific calls (see platform.h).
 * Every #if on the OS or the CPU outside the kernel files is here. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#include "platform.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <linux/futex.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/syscall.h>
#define HG_HAVE_FUTEX 1
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif
#endif

/* ------------------------------------------------------ address wait */

/* The portable wait: one mutex and condition variable for every address.
 * The waiter checks *addr under the mutex and the waker broadcasts under it,
 * so a change made before the wake is never missed; waking threads of other
 * addresses only costs them a re-check. */
static pthread_mutex_t wait_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cv = PTHREAD_COND_INITIALIZER;

static void wait_portable(_Atomic unsigned *addr, unsigned val)
{
    pthread_mutex_lock(&wait_mu);
    if (atomic_load(addr) == val) pthread_cond_wait(&wait_cv, &wait_mu);
    pthread_mutex_unlock(&wait_mu);
}

static void wake_portable(void)
{
    pthread_mutex_lock(&wait_mu);
    pthread_cond_broadcast(&wait_cv);
    pthread_mutex_unlock(&wait_mu);
}

#ifdef HG_HAVE_FUTEX
/* HUGINN_PORTABLE_WAIT=1 (read once) uses the fallback on Linux too, so it
 * is tested where futex exists. */
static int use_portable(void)
{
    static _Atomic int state; /* 0 unknown, 1 futex, 2 portable */
    int s = atomic_load_explicit(&state, memory_order_relaxed);
    if (!s) {
        const char *e = getenv("HUGINN_PORTABLE_WAIT");
        s = e && *e && strcmp(e, "0") ? 2 : 1;
        atomic_store(&state, s);
    }
    return s == 2;
}
#endif

void hg_wait_on_address(_Atomic unsigned *addr, unsigned val)
{
#ifdef HG_HAVE_FUTEX
    if (!use_portable()) {
        syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
        return;
    }
#endif
    wait_portable(addr, val);
}

void hg_wake_all_on_address(_Atomic unsigned *addr)
{
#ifdef HG_HAVE_FUTEX
    if (!use_portable()) {
        syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, 1 << 30, NULL, NULL, 0);
        return;
    }
#endif
    (void)addr;
    wake_portable();
}

int hg_wait_is_native(void)
{
#ifdef HG_HAVE_FUTEX
    return !use_portable();
#else
    return 0;
#endif
}

/* ------------------------------------------------------------ process */

int hg_exe_dir(char *out, size_t cap)
{
#if defined(__linux__)
    if (cap < 2) return -1;
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1) return -1;
    out[n] = 0;
    char *slash = strrchr(out, '/');
    if (!slash) return -1;
    if (slash == out) slash[1] = 0; /* the root directory */
    else *slash = 0;
    return 0;
#else
    /* macOS: _NSGetExecutablePath + realpath; FreeBSD: sysctl KERN_PROC_PATHNAME */
    (void)out;
    (void)cap;
    return -1;
#endif
}

int hg_usable_cpus(void)
{
#if defined(__linux__)
    /* the CPUs this thread may run on (taskset, a container's cpuset),
     * which may be fewer than the machine has */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

size_t hg_rss_bytes(void)
{
#if defined(__linux__)
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
#else
    return 0; /* macOS: task_info(MACH_TASK_BASIC_INFO).resident_size */
#endif
}

int hg_random_bytes(void *buf, size_t n)
{
#if defined(__linux__)
    return getrandom(buf, n, 0) == (ssize_t)n ? 0 : -1;
#else
    (void)buf;
    (void)n;
    return -1; /* macOS: getentropy(buf, n) for n <= 256 */
#endif
}

/* ------------------------------------------------------------ the CPU */

int hg_amx_request_permission(void)
{
#if defined(__linux__) && defined(__x86_64__)
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 ? 0 : -1;
#else
    return -1;
#endif
}

unsigned hg_x86_features(void)
{
    unsigned f = 0;
#if defined(__x86_64__) || defined(__i386__)
    static _Atomic unsigned cached; /* features | 1u << 31 once known */
    unsigned c = atomic_load_explicit(&cached, memory_order_relaxed);
    if (c) return c & ~(1u << 31);
    unsigned a, b, cx, d, max = __get_cpuid_max(0, NULL);
    if (max >= 1 && __get_cpuid(1, &a, &b, &cx, &d) && (cx & (1u << 27))) { /* OSXSAVE */
        unsigned lo, hi;
        __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        int avx_os = (lo & 0x6) == 0x6, avx512_os = avx_os && (lo & 0xe0) == 0xe0;
        if (avx_os && (cx & (1u << 28))) { /* AVX */
            if (cx & (1u << 12)) f |= HG_X86_FMA;
            if (cx & (1u << 29)) f |= HG_X86_F16C;
            if (max >= 7) {
                __cpuid_count(7, 0, a, b, cx, d);
                if (b & (1u << 5)) f |= HG_X86_AVX2;
                if (avx512_os) {
                    if (b & (1u << 16)) f |= HG_X86_AVX512F;
                    if (b & (1u << 30)) f |= HG_X86_AVX512BW;
                    if (b & (1u << 31)) f |= HG_X86_AVX512VL;
                    if (cx & (1u << 11)) f |= HG_X86_AVX512VNNI;
                }
                if (d & (1u << 24)) f |= HG_X86_AMX_TILE;
                if (d & (1u << 22)) f |= HG_X86_AMX_BF16;
                unsigned sub = a;
                if (sub >= 1) {
                    __cpuid_count(7, 1, a, b, cx, d);
                    if (a & (1u << 4)) f |= HG_X86_AVXVNNI;
                    if (avx512_os && (a & (1u << 5))) f |= HG_X86_AVX512BF16;
                }
            }
        }
    }
    atomic_store_explicit(&cached, f | 1u << 31, memory_order_relaxed);
#endif
    return f;
}

unsigned hg_arm_features(void)
{
    unsigned f = 0;
#if defined(__aarch64__)
    f |= HG_ARM_ASIMD;
#if defined(__linux__)
    /* the bit values of the kernel's uapi <asm/hwcap.h>, spelled out so
     * older headers build too */
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    if (hw & (1ul << 20)) f |= HG_ARM_DOTPROD; /* HWCAP_ASIMDDP */
    if (hw2 & (1ul << 14)) f |= HG_ARM_BF16;   /* HWCAP2_BF16   */
    if (hw2 & (1ul << 13)) f |= HG_ARM_I8MM;   /* HWCAP2_I8MM   */
#endif
#endif
    return f;
}

void *hg_alloc_streamed(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge) return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    size_t n = (bytes + huge - 1) & ~(huge - 1);
    void *p = NULL;
    if (posix_memalign(&p, huge, n) != 0) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, n, MADV_HUGEPAGE); /* advice: no huge pages is no error */
#endif
    return p;
}

void hg_drop_file_cache(int fd)
{
#if defined(__linux__) && defined(POSIX_FADV_DONTNEED)
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
#else
    (void)fd; /* macOS: fcntl(F_NOCACHE) before reading would do it */
#endif
}
