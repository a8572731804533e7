// requant's NVFP4 kernels for the FP4 verifier (verify-fp4): activation quantization to NVFP4 blocks and the W4A4
// product emulated in float32. Compiled by NVRTC like kernels.cu (no #include). Every float operation is an explicit
// round-to-nearest intrinsic (__fmul_rn, __fadd_rn, __fdiv_rn), so NVRTC cannot contract anything into an FMA and the
// results are the same floats as the Java references (dev.requant.runtime.fp4.Nvfp4Activations, W4a4Reference).

// E4M3FN encoding, round to nearest even, magnitudes clamped to 448 first (Float8.e4m3FromFloatSaturating).
__device__ __forceinline__ unsigned char e4m3_sat(float f) {
    unsigned sign = (__float_as_uint(f) >> 24) & 0x80u;
    float a = fabsf(f);
    if (a != a) return (unsigned char) (sign | 0x7Fu);
    if (a > 448.0f) a = 448.0f;
    unsigned code;
    if (a < 0.015625f) {                       // below 2^-6: subnormal step 2^-9 (a * 512 is exact)
        code = (unsigned) rintf(__fmul_rn(a, 512.0f));
    } else {
        unsigned ab = __float_as_uint(a);
        unsigned exp = ((ab >> 23) & 0xFFu) - 127u + 7u;
        unsigned man = ab & 0x7FFFFFu;
        unsigned keep = man >> 20, rest = man & 0xFFFFFu;
        if (rest > 0x80000u || (rest == 0x80000u && (keep & 1u))) keep++;
        code = (exp << 3) + keep;
    }
    if (code > 0x7Fu) code = 0x7Fu;
    return (unsigned char) (sign | code);
}

__device__ __forceinline__ float e4m3_value(unsigned char b) {
    unsigned exp = (b >> 3) & 0xFu, man = b & 7u;
    float v;
    if (exp == 0xFu && man == 7u) v = __uint_as_float(0x7FC00000u);
    else if (exp == 0u) v = __fmul_rn((float) man, 0.001953125f);
    else v = __uint_as_float(((exp - 7u + 127u) << 23) | (man << 20));
    return (b & 0x80u) ? -v : v;
}

// ggml_ue4m3_to_fp32 doubled: the full E4M3 value of a GGML NVFP4 scale byte, 0x7F (NaN) and the sign ignored as ggml does.
__device__ __forceinline__ float ue4m3_value(unsigned char b) {
    if (b == 0u || b == 0x7Fu) return 0.0f;
    return e4m3_value((unsigned char) (b & 0x7Fu));
}

__device__ __forceinline__ float e2m1_value(unsigned c) {
    const float mag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    float m = mag[c & 7u];
    return (c & 8u) ? -m : m;
}

// Nearest E2M1, ties to even, saturating at 6 (cvt.rn.satfinite.e2m1x2.f32), sign from v < 0.
__device__ __forceinline__ unsigned e2m1_rne(float v) {
    float a = fabsf(v);
    unsigned c;
    if (!(a > 0.25f)) c = 0u;
    else if (a < 0.75f) c = 1u;
    else if (a <= 1.25f) c = 2u;
    else if (a < 1.75f) c = 3u;
    else if (a <= 2.5f) c = 4u;
    else if (a < 3.5f) c = 5u;
    else if (a <= 5.0f) c = 6u;
    else c = 7u;
    return v < 0.0f ? (c | 8u) : c;
}

// The block scale byte e4m3(gs * amax/6) of 16 values and the multiplier gs / e4m3(sf) (0 for a zero scale) that
// takes them to E2M1 codes (Nvfp4Activations.quantizeRow).
__device__ __forceinline__ unsigned char block_scale(const float * xb, float gs, float * out_scale) {
    float amax = 0.0f;
    for (int j = 0; j < 16; j++) amax = fmaxf(amax, fabsf(xb[j]));
    unsigned char sf = e4m3_sat(__fmul_rn(gs, __fdiv_rn(amax, 6.0f)));
    float sfv = e4m3_value(sf);
    *out_scale = sfv == 0.0f ? 0.0f : __fdiv_rn(gs, sfv);
    return sf;
}

// One thread per 16-value block: block scale byte e4m3(gs * amax/6), codes e2m1(x * gs/e4m3(sf)), one code per byte.
extern "C" __global__ void nvfp4_quantize_act(const float * __restrict__ x, int rows, int cols, float gs,
                                              unsigned char * __restrict__ codes, unsigned char * __restrict__ scales) {
    long long nb = (long long) rows * (cols / 16);
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= nb) return;
    const float * xb = x + i * 16;
    float out_scale;
    unsigned char sf = block_scale(xb, gs, &out_scale);
    scales[i] = sf;
    for (int j = 0; j < 16; j++) codes[i * 16 + j] = (unsigned char) e2m1_rne(__fmul_rn(xb[j], out_scale));
}

// y[t * ldy + o] = alpha * sum_b (sum_j e2m1(a) e2m1(w)) * (e4m3(sa) * ue4m3(sw)), blocks in ascending order.
// Weights are GGML NVFP4 rows: 36-byte super-blocks of 64 (4 scale bytes, then 32 bytes: element j of sub-block s in
// the low nibble of qs[8s + j], element j + 8 in the high nibble). Grid: x over outputs, y over activation rows.
extern "C" __global__ void nvfp4_w4a4_emulated(const unsigned char * __restrict__ codes, const unsigned char * __restrict__ scales,
                                               int n_rows, const unsigned char * __restrict__ weight, int out_rows, int cols,
                                               float alpha, float * __restrict__ y, int ldy) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    int t = blockIdx.y;
    if (o >= out_rows || t >= n_rows) return;
    int nb = cols / 16;
    const unsigned char * w = weight + (long long) o * (cols / 64) * 36;
    const unsigned char * a = codes + (long long) t * cols;
    const unsigned char * sa = scales + (long long) t * nb;
    float acc = 0.0f;
    for (int b = 0; b < nb; b++) {
        const unsigned char * sb = w + (b / 4) * 36;
        int s = b % 4;
        float dot = 0.0f;
        for (int j = 0; j < 8; j++) {
            unsigned q = sb[4 + s * 8 + j];
            dot = __fadd_rn(dot, __fmul_rn(e2m1_value(a[b * 16 + j]), e2m1_value(q & 0xFu)));
        }
        for (int j = 0; j < 8; j++) {
            unsigned q = sb[4 + s * 8 + j];
            dot = __fadd_rn(dot, __fmul_rn(e2m1_value(a[b * 16 + 8 + j]), e2m1_value(q >> 4)));
        }
        float sc = __fmul_rn(e4m3_value(sa[b]), ue4m3_value(sb[s]));
        acc = __fadd_rn(acc, __fmul_rn(dot, sc));
    }
    y[(long long) t * ldy + o] = __fmul_rn(acc, alpha);
}

// ---------------------------------------------------------------- W4A4 inside the forward session
// The session keeps its bf16 GEMMs and feeds them NVFP4-quantized activations instead of the float ones: each value
// becomes e2m1(code) * e4m3(sf) * s_in, which is the activation the emulated W4A4 product multiplies (its alpha
// carries s_in), then split into bf16 halves as every GEMM input of the session is (kernels.cu's store_bf16_split).

// The bits of max |x| over n floats, atomically into *out (zero it first): non-negative floats order as their bits.
extern "C" __global__ void nvfp4_amax(const float * __restrict__ x, long long n, unsigned * __restrict__ out) {
    __shared__ float part[32];
    float m = 0.0f;
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        m = fmaxf(m, fabsf(x[i]));
    }
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = m;
    __syncthreads();
    if (threadIdx.x < 32) {
        m = threadIdx.x < (blockDim.x + 31) / 32 ? part[threadIdx.x] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        if (threadIdx.x == 0) atomicMax(out, __float_as_uint(m));
    }
}

// Round to nearest even, NaN kept quiet (kernels.cu's f32_to_bf16: ggml_compute_fp32_to_bf16).
__device__ __forceinline__ unsigned short nvfp4_bf16(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short) ((u >> 16) | 0x40u);
    return (unsigned short) ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// One thread per 16-value block of rows x cols (row stride cols): the block quantized as nvfp4_quantize_act does with
// s_in = input_scale when it is positive, else the dynamic amax_bits / (6 * 448) of W4a4MatMul (1 for an all-zero
// input); written back as values e2m1 * e4m3 * s_in in bf16 halves hi (+ lo when given).
extern "C" __global__ void nvfp4_fake_quant_split(const float * __restrict__ x, int rows, int cols, float input_scale,
                                                  const unsigned * __restrict__ amax_bits, unsigned short * __restrict__ hi,
                                                  unsigned short * __restrict__ lo) {
    long long nb = (long long) rows * (cols / 16);
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= nb) return;
    float s_in = input_scale;
    if (!(s_in > 0.0f)) {
        float amax = __uint_as_float(*amax_bits);
        s_in = amax > 0.0f ? __fdiv_rn(amax, 2688.0f) : 1.0f;
    }
    float gs = __fdiv_rn(1.0f, s_in);
    const float * xb = x + i * 16;
    float out_scale;
    float sfv = e4m3_value(block_scale(xb, gs, &out_scale));
    for (int j = 0; j < 16; j++) {
        float v = __fmul_rn(__fmul_rn(e2m1_value(e2m1_rne(__fmul_rn(xb[j], out_scale))), sfv), s_in);
        unsigned short h = nvfp4_bf16(v);
        hi[i * 16 + j] = h;
        if (lo) lo[i * 16 + j] = nvfp4_bf16(__fsub_rn(v, __uint_as_float(((unsigned) h) << 16)));
    }
}
