/* test_platform.c — core/platform.c: the portable address wait under the
 * thread pool (HUGINN_PORTABLE_WAIT=1 is set before anything runs, so this
 * suite takes the path of systems without futex; test_kernels' pool test
 * takes the futex), the executable's directory, the resident size, random
 * bytes, the CPUs a thread may use (its affinity) and the CPU feature bits
 * against what the compiler reports. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_setaffinity, CPU_* */
#endif
#include "testutil.h"
#include "kernels.h"
#include "platform.h"
#include "pool.h"

#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

static _Atomic int hits[4];

static void count_task(void *arg, int ith, int nth)
{
    (void)arg;
    assert_true(ith >= 0 && ith < nth);
    atomic_fetch_add(&hits[ith], 1);
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Workers fall asleep between tasks (each pause is longer than their spin),
 * so every task must wake them through the portable wait. */
static void test_pool_portable_wait(void **state)
{
    (void)state;
    assert_int_equal(hg_wait_is_native(), 0);
    hg_pool *p = hg_pool_new(3);
    assert_non_null(p);
    for (int i = 0; i < 4; i++) atomic_store(&hits[i], 0);
    for (int i = 0; i < 30; i++) {
        nap_ms(10);
        hg_pool_run(p, count_task, NULL);
    }
    for (int i = 0; i < 200; i++) hg_pool_run(p, count_task, NULL); /* and back to back */
    for (int t = 0; t < 3; t++) assert_int_equal(atomic_load(&hits[t]), 230);
    nap_ms(10);
    hg_pool_free(p); /* wakes the sleeping workers to quit: would hang if lost */
}

/* A wake before the wait is not lost: the waiter sees the changed value. */
static void test_wait_value_changed(void **state)
{
    (void)state;
    _Atomic unsigned v = 1;
    hg_wake_all_on_address(&v);
    hg_wait_on_address(&v, 0); /* *addr != val: returns at once */
    assert_int_equal(atomic_load(&v), 1);
}

static void test_process(void **state)
{
    (void)state;
    char dir[4096];
    assert_int_equal(hg_exe_dir(dir, sizeof dir), 0);
    size_t n = strlen(dir);
    assert_true(n >= 6 && !strcmp(dir + n - 6, "/tests")); /* this binary is BUILD/tests/test_platform */
    assert_int_equal(hg_exe_dir(dir, 4), -1);               /* too small: refused, not cut */
    assert_true(hg_rss_bytes() > 100000);
    unsigned char a[32] = {0}, b[32] = {0};
    assert_int_equal(hg_random_bytes(a, sizeof a), 0);
    assert_int_equal(hg_random_bytes(b, sizeof b), 0);
    assert_true(memcmp(a, b, sizeof a) != 0);
}

/* The feature bits agree with the compiler's own detection where both
 * exist, and the variant chosen is one the bits allow. */
/* The default thread count follows the CPUs this thread may run on (as
 * taskset or a container's cpuset leave them), not the machine's: more
 * threads than usable cores made each pool task wait for a time slice. */
static void test_usable_cpus(void **state)
{
    (void)state;
    int n = hg_usable_cpus();
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    assert_true(n >= 1 && n <= online);
#if defined(__linux__)
    cpu_set_t all, one;
    assert_int_equal(sched_getaffinity(0, sizeof all, &all), 0);
    assert_int_equal(n, CPU_COUNT(&all));
    int first = 0;
    while (!CPU_ISSET(first, &all)) first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    int pinned = hg_usable_cpus();
    assert_int_equal(sched_setaffinity(0, sizeof all, &all), 0);
    assert_int_equal(pinned, 1);
    assert_int_equal(hg_usable_cpus(), n);
#endif
}

static void test_cpu_features(void **state)
{
    (void)state;
    const char *name = hg_kernels_active()->name;
#if defined(__x86_64__)
    unsigned f = hg_x86_features();
    __builtin_cpu_init();
    assert_int_equal(!!(f & HG_X86_AVX2), !!__builtin_cpu_supports("avx2"));
    assert_int_equal(!!(f & HG_X86_FMA), !!__builtin_cpu_supports("fma"));
    assert_int_equal(!!(f & HG_X86_AVX512F), !!__builtin_cpu_supports("avx512f"));
    assert_int_equal(hg_arm_features(), 0);
    print_message("x86 features 0x%x, kernels %s\n", f, name);
#elif defined(__aarch64__)
    unsigned f = hg_arm_features();
    assert_true(f & HG_ARM_ASIMD);
    assert_int_equal(hg_x86_features(), 0);
    assert_int_equal(hg_amx_request_permission(), -1);
    if (!getenv("HUGINN_KERNELS")) assert_true(!strncmp(name, "neon", 4));
    if (!strcmp(name, "neon-dotprod")) assert_true(f & HG_ARM_DOTPROD);
    if (!strcmp(name, "neon-bf16")) assert_true((f & HG_ARM_DOTPROD) && (f & HG_ARM_BF16));
    if (!strcmp(name, "neon-i8mm")) assert_true((f & HG_ARM_BF16) && (f & HG_ARM_I8MM));
    print_message("arm features: dotprod %d bf16 %d i8mm %d, kernels %s\n", !!(f & HG_ARM_DOTPROD),
                  !!(f & HG_ARM_BF16), !!(f & HG_ARM_I8MM), name);
#else
    print_message("kernels %s\n", name);
#endif
}

int main(void)
{
    setenv("HUGINN_PORTABLE_WAIT", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_portable_wait),
        cmocka_unit_test(test_wait_value_changed),
        cmocka_unit_test(test_process),
        cmocka_unit_test(test_usable_cpus),
        cmocka_unit_test(test_cpu_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
