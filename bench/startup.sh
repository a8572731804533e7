#!/usr/bin/env bash
# Start-up cost of the launcher and the JVM (issue 17): wall time of --version and --help as whole processes, and,
# for a few real commands, when their work begins (REQUANT_STARTUP_REPORT=1 makes the CLI print the milliseconds
# from the process start, launcher included, to the moment the operation starts). Uses hyperfine when installed.
# Usage: bench/startup.sh [RUNS]   (default 20; builds nothing: run ./requant --version once first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
golden=../shared/golden/hf/gemma3-tiny
./requant convert "$golden" -o "$tmp/t.gguf" --type bf16 >/dev/null 2>&1
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
if command -v hyperfine >/dev/null; then
    hyperfine -N -w 3 -r "$runs" 'java -version' './requant --version' './requant --help' 2>&1 | grep -E 'Benchmark|Time \(mean'
else
    for c in './requant --version' './requant --help'; do
        s=$(date +%s%N); for _ in $(seq "$runs"); do $c >/dev/null; done; e=$(date +%s%N)
        echo "$c: mean $(( (e - s) / runs / 1000000 )) ms"
    done
fi
work_start() { # median of RUNS "work starts N ms" lines of one command
    for _ in $(seq "$runs"); do
        REQUANT_STARTUP_REPORT=1 "$@" 2>&1 >/dev/null | sed -n 's/^requant: startup: work starts \([0-9]*\) ms.*/\1/p'
    done | sort -n | awk '{a[NR]=$1} END {printf "min %d ms, median %d ms, max %d ms\n", a[1], a[int((NR+1)/2)], a[NR]}'
}
echo "work starts, inspect:         $(work_start ./requant inspect "$tmp/t.gguf")"
echo "work starts, convert:         $(work_start ./requant convert "$golden" -o "$tmp/c.gguf" --type q8_0)"
echo "work starts, quantize:        $(work_start ./requant quantize "$tmp/t.gguf" "$tmp/q.gguf" Q4_K_M 2)"
echo "work starts, eval:            $(work_start ./requant eval --base "$tmp/t.gguf" --compare "$tmp/t.gguf" --text ../shared/golden/text/$(ls ../shared/golden/text | head -1) --chunks 1 -c 64)"
