#!/usr/bin/env bash
# The CUDA dequantizer's element function (ggml_element in kernels.cu, with the IQ grids CudaKernels.source() puts in
# front of it) built for the host with g++ and compared bit for bit with the formats module's decoders on random
# blocks of every type CudaKernels.reads: a check of the kernels' arithmetic on a machine without a GPU (the GPU test is
# DequantKernelTest). Needs g++ and python3; builds the formats and cuda modules.
#   scripts/dequant-host-check.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
requant_find_jdk
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$root" && mvn -B -q -o -pl cuda -am compile >/dev/null)
cp="$root/formats/target/classes:$root/cuda/target/classes:$(find ~/.m2 -name 'slf4j-api-*.jar' | head -1)"
java=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector -cp "$cp")
cat > "$tmp/Source.java" <<'J'
public class Source { public static void main(String[] a) throws Exception {
    java.nio.file.Files.writeString(java.nio.file.Path.of(a[0]), dev.requant.cuda.CudaKernels.source()); } }
J
"${java[@]}" "$tmp/Source.java" "$tmp/kernels.cu" 2>&1 | grep -v "incubator" || true
python3 - "$tmp/kernels.cu" "$tmp/harness.cpp" <<'P'
import sys
text = open(sys.argv[1]).read()
# everything up to the imatrix kernels: the types, the helpers and ggml_element
lines = text.split('\n')
cut = next(i for i, l in enumerate(lines) if l.startswith('// ---') and l.endswith('imatrix'))
text = '\n'.join(lines[:cut]) + '\n'
def drop(sig, t):
    i = t.index(sig); s = t.rfind('\n', 0, i) + 1; k = t.index('{', i); depth = 0
    while True:
        depth += {'{': 1, '}': -1}.get(t[k], 0)
        if depth == 0: return t[:s] + t[k + 1:]
        k += 1
for sig in ['float f16_to_f32(f16_t h)', 'f16_t f32_to_f16(float f)', 'float warp_sum(float v)', 'float warp_max(float v)',
            'float block_sum(float v, float * scratch)', 'float block_max(float v, float * scratch)']:
    text = drop(sig, text)
shim = r'''#include <cstdio>
#include <cstring>
#include <cmath>
#include <vector>
#define __device__
#define __forceinline__ inline
#define __restrict__
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
static inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
static inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
static inline unsigned __popc(unsigned x) { return __builtin_popcount(x); }
static inline float f16_to_f32(unsigned short h) { _Float16 f; memcpy(&f, &h, 2); return (float) f; }
'''
main = r'''
int main(int argc, char ** argv) {
    FILE * f = fopen(argv[1], "rb"); int type; long long n, nb; long bad = 0, total = 0;
    while (fread(&type, 4, 1, f) == 1) {
        if (fread(&n, 8, 1, f) != 1 || fread(&nb, 8, 1, f) != 1) return 2;
        std::vector<unsigned char> b(nb); std::vector<float> ref(n);
        if (fread(b.data(), 1, nb, f) != (size_t) nb || fread(ref.data(), 4, n, f) != (size_t) n) return 2;
        long differ = 0;
        for (long long j = 0; j < n; j++) {
            float v = ggml_element(b.data(), type, j);
            bool same = __float_as_uint(v) == __float_as_uint(ref[j]) || (std::isnan(v) && std::isnan(ref[j]));
            if (!same && differ++ < 3) printf("type %d element %lld: kernel %g, decoder %g\n", type, j, v, ref[j]);
        }
        printf("type %2d: %8lld elements, %ld differ\n", type, n, differ); bad += differ; total += n;
    }
    printf("%ld elements, %ld differ\n", total, bad); return bad != 0;
}
'''
open(sys.argv[2], 'w').write(shim + text.replace('#pragma unroll', '') + main)
P
g++ -O1 -ffp-contract=off -std=c++17 -w "$tmp/harness.cpp" -o "$tmp/harness"
"${java[@]}" "$root/scripts/dequant-host/DequantBlocks.java" "$tmp/blocks.bin" 2>&1 | grep -v "incubator" || true
"$tmp/harness" "$tmp/blocks.bin"
