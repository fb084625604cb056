#!/bin/sh
# bench_cpu.sh [HUGINN] — this CPU's speed figures at the full Huginn-0125 shape
# (random weights made in memory, no file needed), as the README's speed table
# gives them: decode at 32 steps (ratio to the bandwidth bound of the probe run
# right before and after), prefill of 64 tokens at 4 steps (ratio to the FMA
# peak of the vectors the kernels use), and one core-block pass over 1..16
# positions (a speculative verify pass or a diffusion wave).  `make bench`.
#
# Environment: BENCH_WEIGHTS (default "q8_0 bf16"), BENCH_THREADS (default 2),
# BENCH_WAVES=0 skips the passes, BENCH_SHAPE (default huginn-0125; tiny or
# demo for a quick check of this script); HUGINN_KERNELS and HUGINN_NO_AMX pass through
# to huginn (HUGINN_KERNELS=avx2 measures the AVX2 kernels on an AVX-512 CPU).
# Needs about 7.5 GB of memory for bf16, 4 GB for q8_0.
set -u
H=${1:-./huginn}
WEIGHTS=${BENCH_WEIGHTS:-q8_0 bf16}
THREADS=${BENCH_THREADS:-2}
WAVES=${BENCH_WAVES:-1}
SHAPE=${BENCH_SHAPE:-huginn-0125}

if [ ! -x "$H" ]; then
    echo "bench_cpu.sh: $H: no such executable (build it first: make)" >&2
    exit 2
fi
case "$THREADS" in '' | *[!0-9]*) echo "bench_cpu.sh: BENCH_THREADS must be a number" >&2; exit 2 ;; esac
set -- $WEIGHTS
if [ $# = 0 ]; then
    echo "bench_cpu.sh: BENCH_WEIGHTS names no weight type (q8_0, bf16, q4, f32)" >&2
    exit 2
fi
FIRST=$1

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# field FILE KEY: a scalar of bench's flat JSON object
field() { sed -n "s/.*\"$2\": \"\{0,1\}\([^,\"}]*\).*/\1/p" "$1"; }

run() { # run NAME ARGS...: one bench, its JSON in $tmp/NAME
    name=$1
    shift
    if ! "$H" bench --shape "$SHAPE" --threads "$THREADS" --json "$@" >"$tmp/$name" 2>"$tmp/$name.err"; then
        echo "bench_cpu.sh: huginn bench $*: $(tail -n 1 "$tmp/$name.err")" >&2
        exit 1
    fi
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
[ -n "$cpu" ] || cpu=$(uname -m)
echo "cpu: $cpu · shape $SHAPE · $THREADS threads · HUGINN_KERNELS=${HUGINN_KERNELS:-(auto)}${HUGINN_NO_AMX:+ · HUGINN_NO_AMX=$HUGINN_NO_AMX}"

for W in $WEIGHTS; do
    run dec-$W --weights "$W" --steps 32 --prompt-tokens 1 --decode-tokens 3
    f=$tmp/dec-$W
    awk -v w="$W" -v k="$(field "$f" kernels)" -v s="$(field "$f" decode_s_per_token)" \
        -v b="$(field "$f" bound_s_per_token)" -v r="$(field "$f" ratio_to_bound)" \
        -v b0="$(field "$f" bandwidth_before_gbs)" -v b1="$(field "$f" bandwidth_after_gbs)" \
        'BEGIN { printf "decode  %-5s %-11s %7.3f s/token  bound %.3f s (probe %.1f/%.1f GB/s)  %3.0f%% of the bound\n", w, k, s, b, b0, b1, 100 * r }'
    run pre-$W --weights "$W" --steps 4 --prompt-tokens 64 --decode-tokens 1
    f=$tmp/pre-$W
    awk -v w="$W" -v k="$(field "$f" kernels)" -v g="$(field "$f" prefill_gflops)" \
        -v p="$(field "$f" kernel_peak_gflops)" -v i="$(field "$f" kernel_isa)" -v r="$(field "$f" prefill_ratio_to_kernel_peak)" \
        -v a="$(field "$f" amx)" \
        'BEGIN { printf "prefill %-5s %-11s %7.1f GFLOP/s%s  %s FMA peak %.1f GFLOP/s  %3.0f%% of the peak\n", w, k, g, a == "true" ? " (AMX)" : "", i, p, 100 * r }'
done
if [ "$WAVES" != 0 ]; then
    W=$FIRST
    run wave --weights "$W" --steps 1 --prompt-tokens 1 --decode-tokens 1 --wave-widths 1,2,4,8,16
    sed -n 's/.*"pass_s_by_width": {\([^}]*\)}.*/\1/p' "$tmp/wave" | tr ',' '\n' | tr -d ' "' |
        awk -F: -v w="$W" '{ t[$1] = $2; o[++n] = $1 }
            END { printf "passes  %-5s width:ms", w; for (i = 1; i <= n; i++) printf " %s:%.1f", o[i], 1000 * t[o[i]];
                  if (t[1] > 0 && t[4] > 0) printf "  (4 positions cost %.2fx one)", t[4] / t[1]; printf "\n" }'
fi
exit 0
