#!/usr/bin/env bash
# Times `requant inspect` on a 10 GiB GGUF (sparse data, a real-sized Gemma 3 header) with a 256 MB heap cap.
# usage: bench/inspect.sh [GIB]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. scripts/jdk.sh; requant_find_jdk
gib=${1:-10}
mkdir -p bench/out
./requant --version >/dev/null 2>&1   # builds the jar if needed
file=bench/out/sparse-${gib}g.gguf
[ -f "$file" ] || "$JAVA_HOME/bin/java" -cp formats/target/classes bench/MakeSparseGguf.java "$file" "$gib"
ls -ls "$file"
for run in 1 2 3; do
  /usr/bin/time -f "run $run: %e s wall, %M KB max RSS" env REQUANT_JAVA_OPTS="-Xmx256m" ./requant inspect "$file" > /dev/null
done
REQUANT_JAVA_OPTS="-Xmx256m -Xlog:gc:stderr" ./requant inspect "$file" 2>&1 >/dev/null | grep -E "Pause|Using" | tail -3 || true
