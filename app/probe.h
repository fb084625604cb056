/* probe.h — the machine's yardsticks for `huginn bench`: read bandwidth and
 * peak f32 FMA throughput, both measured with the widest vectors the CPU
 * has (AVX-512, AVX2+FMA, NEON), independent of the engine's kernels. */
#ifndef HG_PROBE_H
#define HG_PROBE_H

/* Read bandwidth in GB/s: `threads` threads sum their parts of a 2 GiB
 * buffer with vector loads; best of 5.  0 when the buffer can't be had. */
double probe_bandwidth(int threads);
/* Peak f32 FMA GFLOP/s: 12 (x86) or 16 (ARM) independent FMA chains per thread. */
double probe_peak_gflops(int threads);
/* The vector ISA both probes use here: "avx512", "avx2", "neon", "scalar". */
const char *probe_isa(void);
/* The FMA peak with the vectors of `isa` (one of probe_isa's names, at most
 * as wide as the CPU's). */
double probe_peak_gflops_isa(int threads, const char *isa);
/* The probe ISA for the kernels' vectors (hg_kernels_vectors()): the same
 * name, never wider than probe_isa(). */
const char *probe_kernels_isa(const char *vectors);

#endif
