// requant's CUDA kernels. Compiled at first use by NVRTC into a cubin for the GPU's own architecture
// (--gpu-architecture=sm_XX) and cached on disk (KernelCache). No #include: NVRTC declares the device intrinsics
// itself, and the bf16/f16 conversions below need none of cuda_bf16.h / cuda_fp16.h.
//
// Conventions: activations are float32 (llama.cpp keeps them in F32 between ops); matrices are row-major with an
// explicit row stride in elements; element counts that can pass 2^31 are long long. Every kernel is checked against
// a plain Java scalar reference (cuda/src/test).

typedef unsigned short bf16_t;
typedef unsigned short f16_t;

// GGML type ids (ggml.h) understood by the dequantizing kernels.
#define GGML_F32 0
#define GGML_F16 1
#define GGML_Q4_0 2
#define GGML_Q4_1 3
#define GGML_Q5_0 6
#define GGML_Q5_1 7
#define GGML_Q8_0 8
#define GGML_Q2_K 10
#define GGML_Q3_K 11
#define GGML_Q4_K 12
#define GGML_Q5_K 13
#define GGML_Q6_K 14
#define GGML_IQ2_XXS 16
#define GGML_IQ2_XS 17
#define GGML_IQ3_XXS 18
#define GGML_IQ1_S 19
#define GGML_IQ4_NL 20
#define GGML_IQ3_S 21
#define GGML_IQ2_S 22
#define GGML_IQ4_XS 23
#define GGML_IQ1_M 29
#define GGML_BF16 30
#define GGML_TQ1_0 34
#define GGML_TQ2_0 35
#define GGML_MXFP4 39
#define GGML_NVFP4 40
#define GGML_Q1_0 41
#define GGML_Q2_0 42

// The IQ grids' value tables (iq2xxs_grid ... iq1s_grid of ggml-common.h, one byte per element) are not written
// here: CudaKernels.source() puts them in front of this file, generated from the formats module's grids (IqGridValues)
// as iq_grid_2xxs, iq_grid_2xs, iq_grid_2s, iq_grid_3xxs, iq_grid_3s (unsigned char) and iq_grid_1s (signed char).

__device__ __forceinline__ float bf16_to_f32(bf16_t h) { return __uint_as_float(((unsigned) h) << 16); }

// Round to nearest even, NaN kept quiet: ggml_compute_fp32_to_bf16 (ggml-impl.h).
__device__ __forceinline__ bf16_t f32_to_bf16(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16_t) ((u >> 16) | 0x40u);
    return (bf16_t) ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ float f16_to_f32(f16_t h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

// Round to nearest even (the f16 attention operands, as llama.cpp's F16 KV cache holds K and V).
__device__ __forceinline__ f16_t f32_to_f16(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// Macros and helpers of math.h spelled out, so the file needs no header under NVRTC.
#define NEG_INF __int_as_float(0xff800000)
__device__ __forceinline__ bool finite_f32(float x) { return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u; }
__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over a block of at most 1024 threads; every thread gets the result. `scratch` holds 32 floats.
__device__ __forceinline__ float block_sum(float v, float * scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < nwarps ? scratch[lane] : 0.0f;
    return warp_sum(v);
}

// Max over a block of at most 1024 threads; every thread gets the result. `scratch` holds 32 floats.
__device__ __forceinline__ float block_max(float v, float * scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < nwarps ? scratch[lane] : NEG_INF;
    return warp_max(v);
}

__device__ __forceinline__ unsigned short load_u16(const unsigned char * p) { return (unsigned short) (p[0] | (p[1] << 8)); }
__device__ __forceinline__ unsigned load_u32(const unsigned char * p) {
    return (unsigned) p[0] | ((unsigned) p[1] << 8) | ((unsigned) p[2] << 16) | ((unsigned) p[3] << 24);
}

// kvalues_mxfp4 (ggml-common.h): twice the E2M1 value of each code; the block scales are halved to match.
__device__ __forceinline__ float fp4_doubled(int code) {
    const signed char v[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    return (float) v[code & 15];
}

// ggml_e8m0_to_fp32_half: 2^(e-128) (e < 2: the subnormals 2^-128, 2^-127).
__device__ __forceinline__ float e8m0_half(unsigned e) {
    return __uint_as_float(e < 2 ? (0x00200000u << e) : ((e - 1) << 23));
}

// ggml_ue4m3_to_fp32 halved (ggml-impl.h): 0 and 0x7F give 0.
__device__ __forceinline__ float ue4m3_half(unsigned code) {
    if (code == 0 || code == 0x7F) return 0.0f;
    const int exp = (code >> 3) & 15, man = code & 7;
    // every step is exact: man / 2^9, (1 + man/8) times a power of two
    const float raw = exp == 0 ? __fmul_rn((float) man, 1.0f / 512.0f)
                               : __fmul_rn(1.0f + (float) man * 0.125f, __uint_as_float((unsigned) (exp - 7 + 127) << 23));
    return __fmul_rn(raw, 0.5f);
}

// kvalues_iq4nl (ggml-common.h)
__device__ __forceinline__ float iq4nl_value(int code) {
    const signed char v[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    return (float) v[code & 15];
}

// ksigns_iq2xs[s7] & kmask_iq2xs[j]: bit j of the sign byte whose eighth bit makes the count of minus signs even.
__device__ __forceinline__ bool iq_sign(unsigned s7, int j) {
    const unsigned s = s7 | ((__popc(s7) & 1u) << 7);
    return (s >> j) & 1u;
}

// d * (0.5f + s) * 0.25f of IQ2_XXS/IQ2_XS/IQ2_S (0.5f for IQ3_XXS), left to right as the C code is written.
__device__ __forceinline__ float iq_half_scale(float d, unsigned s, float k) {
    return __fmul_rn(__fmul_rn(d, __fadd_rn(0.5f, (float) s)), k);
}

// One element of an IQ grid point (value byte times db), signed: db * grid[j] * (minus ? -1.f : 1.f).
__device__ __forceinline__ float iq_signed(float db, float grid, bool minus) {
    return __fmul_rn(__fmul_rn(db, grid), minus ? -1.0f : 1.0f);
}

// get_scale_min_k4 (ggml-quants.c): the 6-bit scale (m = 0) or min (m = 1) of sub-block j of a Q4_K/Q5_K block.
__device__ __forceinline__ int k4_scale(const unsigned char * q, int j, int m) {
    if (j < 4) return q[j + 4 * m] & 63;
    return m == 0 ? ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)) : ((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
}

// One element of a GGML tensor (blocks never cross rows, so j may run over several rows), exactly as the
// dequantize_row_* functions of ggml-quants.c compute it, products and sums rounded one at a time as the C code
// is written (__fmul_rn/__fadd_rn: NVRTC would otherwise contract them into FMAs). The formats module's BlockCodec
// decoders are the reference (DequantKernelTest).
__device__ __forceinline__ float ggml_element(const unsigned char * row, int type, long long j) {
    switch (type) {
        case GGML_F32: return ((const float *) row)[j];
        case GGML_F16: return f16_to_f32(((const f16_t *) row)[j]);
        case GGML_BF16: return bf16_to_f32(((const bf16_t *) row)[j]);
        case GGML_Q8_0: {
            const unsigned char * b = row + (j >> 5) * 34;
            const float d = f16_to_f32(load_u16(b));
            return __fmul_rn((float) ((const signed char *) (b + 2))[j & 31], d);
        }
        case GGML_Q4_0: {
            const unsigned char * b = row + (j >> 5) * 18;
            const float d = f16_to_f32(load_u16(b));
            const int l = (int) (j & 31);
            const int q = l < 16 ? (b[2 + l] & 0x0F) : (b[2 + l - 16] >> 4);
            return __fmul_rn((float) (q - 8), d);
        }
        case GGML_Q4_1: {
            const unsigned char * b = row + (j >> 5) * 20;
            const float d = f16_to_f32(load_u16(b)), m = f16_to_f32(load_u16(b + 2));
            const int l = (int) (j & 31);
            const int q = l < 16 ? (b[4 + l] & 0x0F) : (b[4 + l - 16] >> 4);
            return __fadd_rn(__fmul_rn((float) q, d), m);
        }
        case GGML_Q5_0:
        case GGML_Q5_1: {
            const bool one = type == GGML_Q5_1;
            const unsigned char * b = row + (j >> 5) * (one ? 24 : 22);
            const float d = f16_to_f32(load_u16(b));
            const unsigned char * hq = b + (one ? 4 : 2);
            const unsigned qh = load_u32(hq);
            const unsigned char * qs = hq + 4;
            const int l = (int) (j & 31);
            const int q = l < 16 ? ((qs[l] & 0x0F) | (((qh >> l) << 4) & 0x10)) : ((qs[l - 16] >> 4) | ((qh >> (l - 16 + 12)) & 0x10));
            if (!one) return __fmul_rn((float) (q - 16), d);
            return __fadd_rn(__fmul_rn((float) q, d), f16_to_f32(load_u16(b + 2)));
        }
        case GGML_Q4_K:
        case GGML_Q5_K: {
            // d f16, dmin f16, 12 bytes of 6-bit scales/mins; Q5_K then 32 bytes of high bits; 128 bytes of nibbles.
            // Element l of the 256: 64-wide group g = l/64, low nibbles for l%64 < 32 (sub-block 2g), high for the rest.
            const bool five = type == GGML_Q5_K;
            const unsigned char * b = row + (j >> 8) * (five ? 176 : 144);
            const float d = f16_to_f32(load_u16(b)), dmin = f16_to_f32(load_u16(b + 2));
            const int l = (int) (j & 255), g = l >> 6, hi = (l >> 5) & 1, i = l & 31;
            const int sub = 2 * g + hi;
            const float dl = __fmul_rn(d, (float) k4_scale(b + 4, sub, 0));
            const float ml = __fmul_rn(dmin, (float) k4_scale(b + 4, sub, 1));
            const unsigned char * qs = b + (five ? 48 : 16) + 32 * g;
            int q = hi ? (qs[i] >> 4) : (qs[i] & 0xF);
            if (five && (b[16 + i] & (1 << sub))) q += 16;
            return __fadd_rn(__fmul_rn(dl, (float) q), -ml);
        }
        case GGML_Q6_K: {
            // ql[128], qh[64], scales[16] int8, d f16. Element l: 128-half n = l/128, r = l%128, quarter k = r/32.
            const unsigned char * b = row + (j >> 8) * 210;
            const float d = f16_to_f32(load_u16(b + 208));
            const int l = (int) (j & 255), n = l >> 7, r = l & 127, k = r >> 5, i = r & 31;
            const unsigned char * ql = b + 64 * n;
            const unsigned char * qh = b + 128 + 32 * n;
            const signed char * sc = (const signed char *) (b + 192 + 8 * n);
            const int low = (k & 1) ? ql[i + 32] : ql[i];
            const int q = ((k >= 2 ? (low >> 4) : (low & 0xF)) | (((qh[i] >> (2 * k)) & 3) << 4)) - 32;
            return __fmul_rn(__fmul_rn(d, (float) sc[i / 16 + 2 * k]), (float) q);
        }
        case GGML_MXFP4: {
            const unsigned char * b = row + (j >> 5) * 17;
            const int l = (int) (j & 31);
            const int q = l < 16 ? (b[1 + l] & 0x0F) : (b[1 + l - 16] >> 4);
            return __fmul_rn(fp4_doubled(q), e8m0_half(b[0]));
        }
        case GGML_NVFP4: {
            // 4 UE4M3 scales (one per 16), then 32 bytes: sub-block s holds bytes 8s..8s+7, low nibbles first
            const unsigned char * b = row + (j >> 6) * 36;
            const int l = (int) (j & 63), s = l >> 4, i = l & 15;
            const unsigned char byte = b[4 + 8 * s + (i & 7)];
            const int q = i < 8 ? (byte & 0x0F) : (byte >> 4);
            return __fmul_rn(fp4_doubled(q), ue4m3_half(b[s]));
        }
        case GGML_Q2_K: {
            // scales[16] (low nibble scale, high nibble min), qs[64], d, dmin. Element l: 128-half h, shift pair s,
            // sixteen-element half (sub-block is = 8h + 2s + half).
            const unsigned char * b = row + (j >> 8) * 84;
            const float d = f16_to_f32(load_u16(b + 80)), dmin = f16_to_f32(load_u16(b + 82));
            const int l = (int) (j & 255), h = l >> 7, s = (l >> 5) & 3, half = (l >> 4) & 1, i = l & 15;
            const int sc = b[8 * h + 2 * s + half];
            const int q = (b[16 + 32 * h + 16 * half + i] >> (2 * s)) & 3;
            return __fsub_rn(__fmul_rn(__fmul_rn(d, (float) (sc & 0xF)), (float) q), __fmul_rn(dmin, (float) (sc >> 4)));
        }
        case GGML_Q3_K: {
            // hmask[32], qs[64], 12 bytes of 6-bit scales, d. Sub-block is = 8h + 2s + half as in Q2_K.
            const unsigned char * b = row + (j >> 8) * 110;
            const float d = f16_to_f32(load_u16(b + 108));
            const int l = (int) (j & 255), h = l >> 7, s = (l >> 5) & 3, half = (l >> 4) & 1, i = l & 15;
            const int is = 8 * h + 2 * s + half;
            const unsigned char * sc = b + 96;
            const int lo = is < 8 ? (sc[is] & 0xF) : (sc[is - 8] >> 4);
            const int hi = (sc[8 + (is & 3)] >> (2 * (is >> 2))) & 3;
            const float dl = __fmul_rn(d, (float) ((lo | (hi << 4)) - 32));
            const int q = (b[32 + 32 * h + 16 * half + i] >> (2 * s)) & 3;
            const int m = (b[16 * half + i] >> (4 * h + s)) & 1;
            return __fmul_rn(dl, (float) (q - (m ? 0 : 4)));
        }
        case GGML_TQ1_0: {
            // qs[48] (5 trits a byte: 32 bytes x 5, then 16 x 5), qh[4] (4 trits a byte), d
            const unsigned char * b = row + (j >> 8) * 54;
            const float d = f16_to_f32(load_u16(b + 52));
            const int l = (int) (j & 255);
            int byte, n;
            if (l < 160) { byte = b[l & 31]; n = l >> 5; }
            else if (l < 240) { byte = b[32 + ((l - 160) & 15)]; n = (l - 160) >> 4; }
            else { byte = b[48 + ((l - 240) & 3)]; n = (l - 240) >> 2; }
            const int pow3[5] = {1, 3, 9, 27, 81};
            const int q = (byte * pow3[n]) & 0xFF;
            return __fmul_rn((float) (((q * 3) >> 8) - 1), d);
        }
        case GGML_TQ2_0: {
            const unsigned char * b = row + (j >> 8) * 66;
            const float d = f16_to_f32(load_u16(b + 64));
            const int l = (int) (j & 255), h = l >> 7, s = (l >> 5) & 3, i = l & 31;
            return __fmul_rn((float) (((b[32 * h + i] >> (2 * s)) & 3) - 1), d);
        }
        case GGML_Q1_0: {
            // d, then 128 bits: 1 is +d, 0 is -d
            const unsigned char * b = row + (j >> 7) * 18;
            const float d = f16_to_f32(load_u16(b));
            const int l = (int) (j & 127);
            return ((b[2 + (l >> 3)] >> (l & 7)) & 1) ? d : -d;
        }
        case GGML_Q2_0: {
            const unsigned char * b = row + (j >> 6) * 18;
            const float d = f16_to_f32(load_u16(b));
            const int l = (int) (j & 63);
            return __fmul_rn((float) (((b[2 + (l >> 2)] >> (2 * (l & 3))) & 3) - 1), d);
        }
        case GGML_IQ4_NL: {
            const unsigned char * b = row + (j >> 5) * 18;
            const float d = f16_to_f32(load_u16(b));
            const int l = (int) (j & 31);
            return __fmul_rn(d, iq4nl_value(l < 16 ? b[2 + l] : (b[2 + l - 16] >> 4)));
        }
        case GGML_IQ4_XS: {
            // d, scales_h (2 bits per 32), scales_l[4] (4 bits per 32), qs[128]
            const unsigned char * b = row + (j >> 8) * 136;
            const float d = f16_to_f32(load_u16(b));
            const int l = (int) (j & 255), ib = l >> 5, r = l & 31;
            const int ls = ((b[4 + (ib >> 1)] >> (4 * (ib & 1))) & 0xF) | (((load_u16(b + 2) >> (2 * ib)) & 3) << 4);
            const int q = b[8 + 16 * ib + (r & 15)];
            return __fmul_rn(__fmul_rn(d, (float) (ls - 32)), iq4nl_value(r < 16 ? q : (q >> 4)));
        }
        case GGML_IQ2_XXS: {
            // d, then per 32 elements two u32: four grid indices (bytes), and 4 x 7 sign bits + a 4-bit scale
            const unsigned char * b = row + (j >> 8) * 66;
            const float d = f16_to_f32(load_u16(b));
            const int l = (int) (j & 255), ib = l >> 5, g = (l >> 3) & 3, e = l & 7;
            const unsigned char * q = b + 2 + 8 * ib;
            const unsigned aux = load_u32(q + 4);
            const float db = iq_half_scale(d, aux >> 28, 0.25f);
            return iq_signed(db, (float) iq_grid_2xxs[8 * q[g] + e], iq_sign((aux >> (7 * g)) & 127, e));
        }
        case GGML_IQ2_XS: {
            // d, qs u16[32] (9-bit index, 7 sign bits), scales[8] (a nibble per 16 elements)
            const unsigned char * b = row + (j >> 8) * 74;
            const float d = f16_to_f32(load_u16(b));
            const int l = (int) (j & 255), ib = l >> 5, g = (l >> 3) & 3, e = l & 7;
            const unsigned q = load_u16(b + 2 + 2 * (4 * ib + g));
            const float db = iq_half_scale(d, (b[66 + ib] >> (4 * (g >> 1))) & 0xF, 0.25f);
            return iq_signed(db, (float) iq_grid_2xs[8 * (q & 511) + e], iq_sign(q >> 9, e));
        }
        case GGML_IQ2_S: {
            // d, qs[32] index low bytes, signs[32], qh[8] (2 index bits per group), scales[8]
            const unsigned char * b = row + (j >> 8) * 82;
            const float d = f16_to_f32(load_u16(b));
            const int l = (int) (j & 255), ib = l >> 5, g = (l >> 3) & 3, e = l & 7;
            const int idx = b[2 + 4 * ib + g] | ((b[66 + ib] << (8 - 2 * g)) & 0x300);
            const float db = iq_half_scale(d, (b[74 + ib] >> (4 * (g >> 1))) & 0xF, 0.25f);
            return iq_signed(db, (float) iq_grid_2s[8 * idx + e], (b[34 + 4 * ib + g] >> e) & 1);
        }
        case GGML_IQ3_XXS: {
            // d, qs[64] grid indices (two 4-element points per 8 elements), 8 u32 of 4 x 7 sign bits + a 4-bit scale
            const unsigned char * b = row + (j >> 8) * 98;
            const float d = f16_to_f32(load_u16(b));
            const int l = (int) (j & 255), ib = l >> 5, g = (l >> 3) & 3, e = l & 7;
            const unsigned aux = load_u32(b + 66 + 4 * ib);
            const float db = iq_half_scale(d, aux >> 28, 0.5f);
            const int point = b[2 + 8 * ib + 2 * g + (e >> 2)];
            return iq_signed(db, (float) iq_grid_3xxs[4 * point + (e & 3)], iq_sign((aux >> (7 * g)) & 127, e));
        }
        case GGML_IQ3_S: {
            // d, qs[64], qh[8] (the ninth index bit of each point), signs[32], scales[4] (a nibble per 32)
            const unsigned char * b = row + (j >> 8) * 110;
            const float d = f16_to_f32(load_u16(b));
            const int l = (int) (j & 255), ib = l >> 5, g = (l >> 3) & 3, e = l & 7, p = e >> 2;
            const int qh = b[66 + ib];
            const int idx = b[2 + 8 * ib + 2 * g + p] | ((qh << (8 - 2 * g - p)) & 256);
            const float db = __fmul_rn(d, (float) (1 + 2 * ((b[106 + (ib >> 1)] >> (4 * (ib & 1))) & 0xF)));
            return iq_signed(db, (float) iq_grid_3s[4 * idx + (e & 3)], (b[74 + 4 * ib + g] >> e) & 1);
        }
        case GGML_IQ1_S: {
            // d, qs[32] index low bytes, qh u16[8]: 3 index bits per point, a 3-bit scale, the delta's sign
            const unsigned char * b = row + (j >> 8) * 50;
            const float d = f16_to_f32(load_u16(b));
            const int l = (int) (j & 255), ib = l >> 5, g = (l >> 3) & 3, e = l & 7;
            const unsigned qh = load_u16(b + 34 + 2 * ib);
            const float dl = __fmul_rn(d, (float) (2 * ((qh >> 12) & 7) + 1));
            const float delta = (qh & 0x8000) ? -0.125f : 0.125f;
            const int idx = b[2 + 4 * ib + g] | (((qh >> (3 * g)) & 7) << 8);
            return __fmul_rn(dl, __fadd_rn((float) iq_grid_1s[8 * idx + e], delta));
        }
        case GGML_IQ1_M: {
            // qs[32], qh[16] (3 index bits and the delta's sign per point), scales u16[4]: 3-bit scales and the f16
            // super-block scale in the top nibbles
            const unsigned char * b = row + (j >> 8) * 56;
            const unsigned s0 = load_u16(b + 48), s1 = load_u16(b + 50), s2 = load_u16(b + 52), s3 = load_u16(b + 54);
            const float d = f16_to_f32((f16_t) ((s0 >> 12) | ((s1 >> 8) & 0x00F0) | ((s2 >> 4) & 0x0F00) | (s3 & 0xF000)));
            const int l = (int) (j & 255), ib = l >> 5, g = (l >> 3) & 3, e = l & 7;
            const unsigned sc = load_u16(b + 48 + 2 * (ib >> 1));
            const float dl = __fmul_rn(d, (float) (2 * ((sc >> (6 * (ib & 1) + 3 * (g >> 1))) & 7) + 1));
            const int qh = b[32 + 2 * ib + (g >> 1)];
            const int idx = b[4 * ib + g] | ((qh << ((g & 1) ? 4 : 8)) & 0x700);
            const float delta = (qh & ((g & 1) ? 0x80 : 0x08)) ? -0.125f : 0.125f;
            return __fmul_rn(dl, __fadd_rn((float) iq_grid_1s[8 * idx + e], delta));
        }
        default: return __int_as_float(0x7fc00000);
    }
}

// ------------------------------------------------------------------------------------------------- imatrix

// llama-imatrix's dense collection (collect_imatrix, MUL_MAT): sums[j] += x[r][j]^2 for every row r, in row order,
// as separate float32 multiply and add (no FMA: the tool is built without one), starting from the running sum. One
// thread per column keeps llama.cpp's order, so for the same activations the sums are bit-identical. Loads are
// batched 8 rows ahead; the additions stay in order. `first_bad` receives the lowest column whose sum is not finite
// (llama-imatrix aborts on one); initialise it to INT_MAX.
extern "C" __global__ void imatrix_dense(const float * __restrict__ x, long long row_stride, int rows, int cols,
                                         float * __restrict__ sums, int * first_bad) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    float acc = sums[j];
    const float * p = x + j;
    int r = 0;
    for (; r + 8 <= rows; r += 8) {
        float v[8];
#pragma unroll
        for (int u = 0; u < 8; ++u) v[u] = p[(long long) (r + u) * row_stride];
#pragma unroll
        for (int u = 0; u < 8; ++u) acc = __fadd_rn(acc, __fmul_rn(v[u], v[u]));
    }
    for (; r < rows; ++r) {
        const float v = p[(long long) r * row_stride];
        acc = __fadd_rn(acc, __fmul_rn(v, v));
    }
    sums[j] = acc;
    if (!finite_f32(acc)) atomicMin(first_bad, j);
}

// llama-imatrix's MUL_MAT_ID collection: for expert ex, for each slot, for each token whose slot selects ex,
// sums[ex][j] += x^2 and counts[ex] += 1, in that loop order. x holds `input_rows` rows per token (1: broadcast
// to every slot, or `slots`). Grid: (ceil(cols/block), experts).
extern "C" __global__ void imatrix_experts(const float * __restrict__ x, const int * __restrict__ ids, int tokens,
                                           int slots, int input_rows, int cols, int experts, float * __restrict__ sums,
                                           unsigned long long * counts, int * first_bad) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    const int ex = blockIdx.y;
    if (j >= cols || ex >= experts) return;
    float acc = sums[(long long) ex * cols + j];
    unsigned long long n = 0;
    for (int s = 0; s < slots; ++s) {
        for (int t = 0; t < tokens; ++t) {
            if (ids[(long long) t * slots + s] != ex) continue;
            const float v = x[((long long) t * input_rows + (s % input_rows)) * cols + j];
            acc = __fadd_rn(acc, __fmul_rn(v, v));
            ++n;
        }
    }
    sums[(long long) ex * cols + j] = acc;
    if (j == 0) counts[ex] += n;
    if (!finite_f32(acc)) atomicMin(first_bad, ex * cols + j);
}

// ------------------------------------------------------------------------------------------------- norms

// y = x / sqrt(mean(x^2) + eps) * w per row (ggml rms_norm followed by mul; w == nullptr for the weightless V norm).
// One block per row; w has n elements and applies to every row (per-head q/k norms use rows = tokens * heads).
extern "C" __global__ void rms_norm(const float * __restrict__ x, long long x_stride, const float * __restrict__ w,
                                    float * __restrict__ y, long long y_stride, int n, float eps) {
    __shared__ float scratch[32];
    const float * xr = x + (long long) blockIdx.x * x_stride;
    float * yr = y + (long long) blockIdx.x * y_stride;
    float s = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += xr[i] * xr[i];
    s = block_sum(s, scratch);
    const float scale = 1.0f / sqrtf(s / (float) n + eps); // ggml: 1.0f/sqrtf(mean + eps)
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = xr[i] * scale;
        yr[i] = w ? v * w[i] : v;
    }
}

// ------------------------------------------------------------------------------------------------- rope

// NEOX rope in place on x[token][head][dim] (ggml_rope_ext with GGML_ROPE_TYPE_NEOX, ext_factor 0): for pair
// i < n_rot/2, theta = freq_scale * pos * base^(-2i/n_rot) / ff[i], rotating (x[i], x[i + n_rot/2]); dims >= n_rot
// pass through. ff (rope_freqs) may be nullptr; Gemma 4's proportional rope puts 1e30 there for the pairs it leaves
// alone.
extern "C" __global__ void rope_neox(float * x, long long token_stride, const int * __restrict__ pos, int tokens,
                                     int heads, int head_dim, int n_rot, float freq_base, float freq_scale,
                                     const float * __restrict__ ff) {
    const long long idx = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    const int half = n_rot / 2;
    const long long total = (long long) tokens * heads * half;
    if (idx >= total) return;
    const int i = (int) (idx % half);
    const int h = (int) ((idx / half) % heads);
    const int t = (int) (idx / ((long long) half * heads));
    const float theta_scale = powf(freq_base, -2.0f / (float) n_rot);
    float theta = (float) pos[t] * powf(theta_scale, (float) i);
    if (ff) theta /= ff[i];
    theta *= freq_scale;
    float sn, cs;
    sincosf(theta, &sn, &cs);
    float * v = x + (long long) t * token_stride + (long long) h * head_dim;
    const float x0 = v[i], x1 = v[i + half];
    v[i] = x0 * cs - x1 * sn;
    v[i + half] = x0 * sn + x1 * cs;
}

// ------------------------------------------------------------------------------------------------- attention

#define ATT_WARPS 4
#define ATT_MAXC 16 // head_dim / 32 at most: head_dim <= 512

// softmax(q·k * scale [softcapped], masked) · v, float32, one block of ATT_WARPS warps per (query, head, sequence).
// q/o: [seq][q_token][head][dim]; k/v: [seq][kv_token][kv_head][dim] with the given token and sequence strides.
// Query i sits at position q_pos0 + i and sees key k iff k <= q_pos0 + i and, with window > 0,
// q_pos0 + i - k < window (llama_hparams::is_masked_swa). GQA: head h reads kv head h / (heads / kv_heads).
// Each warp walks every ATT_WARPS-th key with an online softmax; the warps' partial results are merged at the end.
extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32)
attention(const float * __restrict__ q, long long q_tok, long long q_seq,
          const float * __restrict__ k, const float * __restrict__ v, long long kv_tok, long long kv_seq,
          float * __restrict__ o, long long o_tok, long long o_seq,
          int n_kv, int heads, int kv_heads, int head_dim, int q_pos0, int window, float scale, float softcap) {
    __shared__ float part_m[ATT_WARPS], part_l[ATT_WARPS];
    extern __shared__ float part_acc[]; // ATT_WARPS * head_dim
    const int qi = blockIdx.x, h = blockIdx.y, seq = blockIdx.z;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int nc = head_dim >> 5;
    const int kvh = h / (heads / kv_heads);
    const float * qr = q + seq * q_seq + qi * q_tok + (long long) h * head_dim;
    float qv[ATT_MAXC], acc[ATT_MAXC];
#pragma unroll
    for (int c = 0; c < ATT_MAXC; ++c) {
        qv[c] = c < nc ? qr[lane + 32 * c] : 0.0f;
        acc[c] = 0.0f;
    }
    const int qpos = q_pos0 + qi;
    const int kmax = imin(qpos, n_kv - 1);
    const int kmin = window > 0 ? imax(0, qpos - window + 1) : 0;
    float m = NEG_INF, l = 0.0f;
    for (int kk = kmin + warp; kk <= kmax; kk += ATT_WARPS) {
        const float * kr = k + seq * kv_seq + kk * kv_tok + (long long) kvh * head_dim;
        float d = 0.0f;
#pragma unroll
        for (int c = 0; c < ATT_MAXC; ++c) if (c < nc) d += qv[c] * kr[lane + 32 * c];
        float s = warp_sum(d) * scale;
        if (softcap > 0.0f) s = softcap * tanhf(s / softcap);
        const float m_new = fmaxf(m, s);
        const float corr = expf(m - m_new);
        const float p = expf(s - m_new);
        l = l * corr + p;
        const float * vr = v + seq * kv_seq + kk * kv_tok + (long long) kvh * head_dim;
#pragma unroll
        for (int c = 0; c < ATT_MAXC; ++c) if (c < nc) acc[c] = acc[c] * corr + p * vr[lane + 32 * c];
        m = m_new;
    }
    if (lane == 0) {
        part_m[warp] = m;
        part_l[warp] = l;
    }
#pragma unroll
    for (int c = 0; c < ATT_MAXC; ++c) if (c < nc) part_acc[warp * head_dim + lane + 32 * c] = acc[c];
    __syncthreads();
    float mm = NEG_INF;
    for (int w = 0; w < ATT_WARPS; ++w) mm = fmaxf(mm, part_m[w]);
    float ll = 0.0f;
    for (int w = 0; w < ATT_WARPS; ++w) ll += part_l[w] * (part_l[w] > 0.0f ? expf(part_m[w] - mm) : 0.0f);
    float * orow = o + seq * o_seq + qi * o_tok + (long long) h * head_dim;
    for (int dd = threadIdx.x; dd < head_dim; dd += blockDim.x) {
        float sacc = 0.0f;
        for (int w = 0; w < ATT_WARPS; ++w) {
            if (part_l[w] > 0.0f) sacc += part_acc[w * head_dim + dd] * expf(part_m[w] - mm);
        }
        orow[dd] = ll > 0.0f ? sacc / ll : 0.0f;
    }
}

// ------------------------------------------------------------------------------------------------- ffn

// out = gelu(gate) * up with llama.cpp's tanh GELU, 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))); up == nullptr gives
// gelu(gate) alone. Rows of n_cols with their own strides, so a fused [gate | up] GEMM output works in place.
extern "C" __global__ void gelu_tanh_mul(const float * gate, long long gate_stride, const float * up,
                                         long long up_stride, float * out, long long out_stride, int rows, int cols) {
    const long long idx = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long) rows * cols) return;
    const long long r = idx / cols;
    const int c = (int) (idx % cols);
    const float x = gate[r * gate_stride + c];
    const float g = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * x * (1.0f + 0.044715f * x * x)));
    out[r * out_stride + c] = up ? g * up[r * up_stride + c] : g;
}

// ------------------------------------------------------------------------------------------------- embeddings

// out[t] = row ids[t] of a GGML table (any type ggml_element reads), times scale (Gemma: sqrt(n_embd)).
// One block per token.
extern "C" __global__ void get_rows(const unsigned char * __restrict__ table, int type, long long row_bytes,
                                    const int * __restrict__ ids, int cols, float scale, float * __restrict__ out,
                                    long long out_stride) {
    const int t = blockIdx.x;
    const unsigned char * row = table + (long long) ids[t] * row_bytes;
    float * o = out + (long long) t * out_stride;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) o[j] = ggml_element(row, type, j) * scale;
}

// ------------------------------------------------------------------------------------------------- conversions

// n elements of a GGML tensor (whole rows, blocks never cross them) to float32 (out_bf16 = 0) or bfloat16, times
// `scale` when it is not 1 (a tensor's output scale, one float multiply as the host decoder does it).
extern "C" __global__ void dequantize(const unsigned char * __restrict__ src, int type, long long n,
                                      void * __restrict__ dst, int out_bf16, float scale) {
    const long long j = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n) return;
    float v = ggml_element(src, type, j);
    if (scale != 1.0f) v = __fmul_rn(v, scale);
    if (out_bf16) ((bf16_t *) dst)[j] = f32_to_bf16(v);
    else ((float *) dst)[j] = v;
}

extern "C" __global__ void f32_to_bf16_kernel(const float * __restrict__ x, bf16_t * __restrict__ y, long long n) {
    const long long j = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (j < n) y[j] = f32_to_bf16(x[j]);
}

// ------------------------------------------------------------------------------------------------- elementwise

// y += x (residual connections).
extern "C" __global__ void add_f32(float * y, const float * __restrict__ x, long long n) {
    const long long j = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (j < n) y[j] += x[j];
}

// y *= s.
extern "C" __global__ void scale_f32(float * y, float s, long long n) {
    const long long j = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (j < n) y[j] *= s;
}

// y = cap * tanh(y / cap): Gemma's final logit softcapping.
extern "C" __global__ void softcap_f32(float * y, float cap, long long n) {
    const long long j = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (j < n) y[j] = cap * tanhf(y[j] / cap);
}

// ================================================================================================= forward pass
// Kernels of the batched Gemma forward pass that importance-matrix collection runs (runtime/cuda): fused norms that
// also write the bf16 GEMM input, Q/K/V preparation into the head-major f16 layout the attention GEMMs read, the
// causal softmax between those GEMMs, and a two-pass imatrix accumulation that spreads rows over the whole GPU.

// A GEMM input as bf16: hi = bf16(v) and, when lo is given, lo = bf16(v - hi), so that W·hi + W·lo carries v to
// about 2^-16 instead of bf16's 2^-9 (two bf16 GEMMs instead of float32 ones).
__device__ __forceinline__ void store_bf16_split(float v, bf16_t * hi, bf16_t * lo, long long i) {
    const bf16_t h = f32_to_bf16(v);
    hi[i] = h;
    if (lo) lo[i] = f32_to_bf16(v - bf16_to_f32(h));
}

// y = rmsnorm(x) * w per row of n (w may be null), as (x * scale) * w like ggml's rms_norm + mul. With accumulate,
// y += that (the residual add after Gemma's post-norms); otherwise y = that. yb, when given, receives the bf16 of the
// normalized row (the next GEMM's input), and yl (may be null) the bf16 of what yb misses (store_bf16_split). y may be
// null (bf16 only). One block per row.
extern "C" __global__ void rms_norm_fused(const float * __restrict__ x, long long x_stride, const float * __restrict__ w,
                                          float * y, long long y_stride, bf16_t * __restrict__ yb, bf16_t * __restrict__ yl,
                                          long long yb_stride, int n, float eps, int accumulate) {
    __shared__ float scratch[32];
    const float * xr = x + (long long) blockIdx.x * x_stride;
    float s = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += xr[i] * xr[i];
    s = block_sum(s, scratch);
    const float scale = 1.0f / sqrtf(s / (float) n + eps);
    float * yr = y ? y + (long long) blockIdx.x * y_stride : nullptr;
    bf16_t * ybr = yb ? yb + (long long) blockIdx.x * yb_stride : nullptr;
    bf16_t * ylr = yl ? yl + (long long) blockIdx.x * yb_stride : nullptr;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = xr[i] * scale;
        if (w) v = v * w[i];
        if (yr) yr[i] = accumulate ? yr[i] + v : v;
        if (ybr) store_bf16_split(v, ybr, ylr, i);
    }
}

// Q, K and V of one layer from the fused projection qkv[token][ld] (Q at column q_off, K at k_off, V at v_off; a
// k_eq_v layer passes v_off = k_off) into head-major f16 tensors: Q as [seq][head][pos][head_dim], K and V as
// [seq][kv_head][pos][head_dim], where token t is position t % seq_len of sequence t / seq_len. Q and K heads are
// RMS-normalized with their weights and rotated (NEOX: pair i < n_rot/2 of position p by the angle whose cosine and
// sine are rope_cos/rope_sin[p * n_rot/2 + i], a table made on the host like the CPU's Rope); V heads are normalized
// without weight when v_norm (Gemma 4) and copied otherwise.
// Grid: (tokens, n_head + 2 * n_kv) blocks (n_head alone when n_kv == 0: a KV-shared layer); dynamic shared memory
// head_dim floats.
extern "C" __global__ void qkv_prep(const float * __restrict__ qkv, long long ld, int q_off, int k_off, int v_off,
                                    const float * __restrict__ q_norm, const float * __restrict__ k_norm, int v_norm,
                                    int n_head, int n_kv, int head_dim, int n_rot, int seq_len,
                                    const float * __restrict__ rope_cos, const float * __restrict__ rope_sin, float eps,
                                    f16_t * __restrict__ qh, f16_t * __restrict__ kh, f16_t * __restrict__ vh) {
    extern __shared__ float buf[];
    __shared__ float scratch[32];
    const int t = blockIdx.x, slot = blockIdx.y;
    const int seq = t / seq_len, p = t % seq_len;
    const float * src;
    const float * w;
    f16_t * dst;
    bool norm = true, rope = true;
    if (slot < n_head) {
        src = qkv + (long long) t * ld + q_off + (long long) slot * head_dim;
        w = q_norm;
        dst = qh + (((long long) seq * n_head + slot) * seq_len + p) * head_dim;
    } else if (slot < n_head + n_kv) {
        const int h = slot - n_head;
        src = qkv + (long long) t * ld + k_off + (long long) h * head_dim;
        w = k_norm;
        dst = kh + (((long long) seq * n_kv + h) * seq_len + p) * head_dim;
    } else {
        const int h = slot - n_head - n_kv;
        src = qkv + (long long) t * ld + v_off + (long long) h * head_dim;
        w = nullptr;
        norm = v_norm != 0;
        rope = false;
        dst = vh + (((long long) seq * n_kv + h) * seq_len + p) * head_dim;
    }
    float ss = 0.0f;
    for (int i = threadIdx.x; i < head_dim; i += blockDim.x) {
        const float v = src[i];
        buf[i] = v;
        ss += v * v;
    }
    ss = block_sum(ss, scratch); // also a barrier for buf
    if (norm) {
        const float scale = 1.0f / sqrtf(ss / (float) head_dim + eps);
        for (int i = threadIdx.x; i < head_dim; i += blockDim.x) {
            float v = buf[i] * scale;
            if (w) v = v * w[i];
            buf[i] = v;
        }
    }
    __syncthreads();
    const int half = n_rot / 2;
    for (int i = threadIdx.x; i < head_dim; i += blockDim.x) {
        if (rope && i < half) {
            const float cs = rope_cos[(long long) p * half + i], sn = rope_sin[(long long) p * half + i];
            const float x0 = buf[i], x1 = buf[i + half];
            dst[i] = f32_to_f16(x0 * cs - x1 * sn);
            dst[i + half] = f32_to_f16(x0 * sn + x1 * cs);
        } else if (!rope || i >= n_rot) {
            dst[i] = f32_to_f16(buf[i]);
        }
    }
}

// Masked softmax of attention scores into f16 probabilities. s and p hold `batches` blocks of `rows` rows of n
// scores (row-major, block stride rows * n); row r of a block is the query at position r % n (a GQA group's query
// heads are stacked). It sees keys k <= pos, and with window > 0 only pos - k < window (llama_hparams::is_masked_swa);
// masked entries get probability 0. Grid: (rows, batches).
extern "C" __global__ void softmax_causal(const float * __restrict__ s, f16_t * __restrict__ p, int rows, int n,
                                          int window) {
    __shared__ float scratch[32];
    const long long row = (long long) blockIdx.y * rows + blockIdx.x;
    const float * sr = s + row * n;
    f16_t * pr = p + row * n;
    const int pos = blockIdx.x % n;
    const int lo = window > 0 ? imax(0, pos - window + 1) : 0;
    float m = NEG_INF;
    for (int k = lo + threadIdx.x; k <= pos; k += blockDim.x) m = fmaxf(m, sr[k]);
    m = block_max(m, scratch);
    float sum = 0.0f;
    for (int k = lo + threadIdx.x; k <= pos; k += blockDim.x) sum += expf(sr[k] - m);
    sum = block_sum(sum, scratch);
    const float inv = 1.0f / sum;
    for (int k = threadIdx.x; k < n; k += blockDim.x) {
        pr[k] = f32_to_f16(k >= lo && k <= pos ? expf(sr[k] - m) * inv : 0.0f);
    }
}

// Attention output from head-major o[seq][head][pos][head_dim] back to token-major y[token][head * head_dim] (float32,
// the attn_output weight's observed input) and its bf16 split yb/yl (that GEMM's input; yl may be null). One block
// per token.
extern "C" __global__ void attn_gather(const float * __restrict__ o, float * __restrict__ y, bf16_t * __restrict__ yb,
                                       bf16_t * __restrict__ yl, int n_head, int head_dim, int seq_len) {
    const int t = blockIdx.x;
    const int width = n_head * head_dim;
    const int seq = t / seq_len, p = t % seq_len;
    const long long row = (long long) t * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        const int h = i / head_dim, d = i - h * head_dim;
        const float v = o[(((long long) seq * n_head + h) * seq_len + p) * head_dim + d];
        y[row + i] = v;
        store_bf16_split(v, yb, yl, row + i);
    }
}

// out = gelu_tanh(gate) * up (up null: gelu alone) per row of cols, also as the bf16 split outb/outl (the next GEMM's
// input; outl may be null). One block per row.
extern "C" __global__ void geglu(const float * gate, long long gate_stride, const float * up, long long up_stride,
                                 float * out, long long out_stride, bf16_t * __restrict__ outb, bf16_t * __restrict__ outl,
                                 long long outb_stride, int cols) {
    const long long r = blockIdx.x;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float x = gate[r * gate_stride + c];
        const float g = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * x * (1.0f + 0.044715f * x * x)));
        const float v = up ? g * up[r * up_stride + c] : g;
        out[r * out_stride + c] = v;
        store_bf16_split(v, outb, outl, r * outb_stride + c);
    }
}

// hi/lo bf16 split of n floats (store_bf16_split), lo may be null.
extern "C" __global__ void f32_to_bf16_split(const float * __restrict__ x, bf16_t * __restrict__ hi,
                                             bf16_t * __restrict__ lo, long long n) {
    const long long j = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (j < n) store_bf16_split(x[j], hi, lo, j);
}

// Gemma 4 per-layer inputs (project_per_layer_inputs): for token t and layer l, v = proj[t][l*pd + i] * proj_scale,
// normalized with w, then ple[t][l*pd + i] = (v + ple[t][l*pd + i]) * in_scale. Grid (tokens, layers); shared pd floats.
extern "C" __global__ void ple_combine(const float * __restrict__ proj, float * __restrict__ ple, long long stride,
                                       int pd, const float * __restrict__ w, float proj_scale, float in_scale, float eps) {
    extern __shared__ float buf[];
    __shared__ float scratch[32];
    const long long o = (long long) blockIdx.x * stride + (long long) blockIdx.y * pd;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < pd; i += blockDim.x) {
        const float v = proj[o + i] * proj_scale;
        buf[i] = v;
        ss += v * v;
    }
    ss = block_sum(ss, scratch);
    const float scale = 1.0f / sqrtf(ss / (float) pd + eps);
    for (int i = threadIdx.x; i < pd; i += blockDim.x) {
        const float v = (buf[i] * scale) * w[i];
        ple[o + i] = (v + ple[o + i]) * in_scale;
    }
}

// imatrix accumulation in two passes, for many rows: imatrix_partial sums x^2 of each column over segments of
// IMX_SEG rows (grid (ceil(cols/block), segments), coalesced row reads), then imatrix_reduce adds the segments, in
// order, to the running float32 sums. Not llama-imatrix's exact summation order (imatrix_dense keeps that); the
// difference is float rounding, well under the forward pass's own.
#define IMX_SEG 64

// Σ px[r * row_stride]² over n rows, eight loads in flight: the one order both partial kernels sum in.
__device__ __forceinline__ float column_squares(const float * __restrict__ px, long long row_stride, int n) {
    float acc = 0.0f;
    int r = 0;
    for (; r + 8 <= n; r += 8) {
        float v[8];
#pragma unroll
        for (int u = 0; u < 8; ++u) v[u] = px[(long long) (r + u) * row_stride];
#pragma unroll
        for (int u = 0; u < 8; ++u) acc += v[u] * v[u];
    }
    for (; r < n; ++r) {
        const float v = px[(long long) r * row_stride];
        acc += v * v;
    }
    return acc;
}
extern "C" __global__ void imatrix_partial(const float * __restrict__ x, long long row_stride, int rows, int cols,
                                           float * __restrict__ partial) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    const int r0 = blockIdx.y * IMX_SEG;
    partial[(long long) blockIdx.y * cols + j] = column_squares(x + (long long) r0 * row_stride + j, row_stride, imin(rows, r0 + IMX_SEG) - r0);
}

extern "C" __global__ void imatrix_reduce(const float * __restrict__ partial, int segments, int cols,
                                          float * __restrict__ sums, int * first_bad) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    float t = 0.0f;
    for (int s = 0; s < segments; ++s) t += partial[(long long) s * cols + j];
    const float acc = sums[j] + t;
    sums[j] = acc;
    if (!finite_f32(acc)) atomicMin(first_bad, j);
}

// The same two passes for the experts of a MoE layer in two launches instead of two per expert: segment s covers
// rows [seg_row[s], seg_row[s] + seg_n[s]) (seg_n <= IMX_SEG), each expert's rows cut from its first row on as
// imatrix_partial cuts them; expert i (of `experts` that received rows) owns segments [seg_first[i], seg_first[i+1])
// and its sums sit at sums + expert_id[i] * cols. Same arithmetic in the same order as imatrix_partial/imatrix_reduce
// called per expert: the same float sums, bit for bit.
extern "C" __global__ void imatrix_partial_seg(const float * __restrict__ x, long long row_stride,
                                               const int * __restrict__ seg_row, const int * __restrict__ seg_n, int cols,
                                               float * __restrict__ partial) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    const int r0 = seg_row[blockIdx.y];
    partial[(long long) blockIdx.y * cols + j] = column_squares(x + (long long) r0 * row_stride + j, row_stride, seg_n[blockIdx.y]);
}

extern "C" __global__ void imatrix_reduce_seg(const float * __restrict__ partial, const int * __restrict__ seg_first,
                                              const int * __restrict__ expert_id, int cols, float * __restrict__ sums,
                                              int * first_bad) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    const int i = blockIdx.y;
    float t = 0.0f;
    for (int s = seg_first[i]; s < seg_first[i + 1]; ++s) t += partial[(long long) s * cols + j];
    float * ps = sums + (long long) expert_id[i] * cols + j;
    const float acc = *ps + t;
    *ps = acc;
    if (!finite_f32(acc)) atomicMin(first_bad, j);
}

// ------------------------------------------------------------------------------------------------- eval scores

// y[r][cols[i]] = -inf for every row (the suppressed tokens of the LM head). One thread per (row, id).
extern "C" __global__ void suppress_tokens(float * y, long long ld, int rows, const int * __restrict__ ids, int n_ids) {
    const long long k = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= (long long) rows * n_ids) return;
    y[(k / n_ids) * ld + ids[k % n_ids]] = NEG_INF;
}

__device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the block in double; every thread gets it. `scratch` holds 32 doubles.
__device__ __forceinline__ double block_sum_d(double v, double * scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
    v = warp_sum_d(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < nwarps ? scratch[lane] : 0.0;
    return warp_sum_d(v);
}

// The largest value and its first index over the block; every thread gets both. Scratch: 32 floats, 32 ints.
__device__ __forceinline__ void block_argmax(float & v, int & i, float * sv, int * si) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
    }
    __syncthreads();
    if (lane == 0) { sv[warp] = v; si[warp] = i; }
    __syncthreads();
    v = lane < nwarps ? sv[lane] : NEG_INF;
    i = lane < nwarps ? si[lane] : 0x7fffffff;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
    }
}

// max_j l[j] with its first index, then Σ_double expf(l[j] - max): the two passes FastTokenScores starts with.
__device__ __forceinline__ double row_max_sumexp(const float * l, int n, float & max, int & imax, float * sv, int * si,
                                                 double * sd) {
    float m = NEG_INF;
    int im = 0x7fffffff;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float v = l[j];
        if (v > m) { m = v; im = j; } // strided in increasing j: the first index of a tie stays
    }
    block_argmax(m, im, sv, si);
    double s = 0.0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) s += (double) expf(l[j] - m);
    max = m;
    imax = im;
    return block_sum_d(s, sd);
}

// The reference's scored rows (FastTokenScores.BaseRow.setFromLogits): per row of `n` logits, log-probs
// logp = l - (max + log Σexp) into `base`, their first arg-max, nll = shift - l[target] (float) and
// nll_exact = -((double)(l[target] - max) - log Σexp). One block per row.
extern "C" __global__ void score_base(const float * __restrict__ logits, int n, const int * __restrict__ targets,
                                      float * __restrict__ base, int * __restrict__ argmax, float * __restrict__ base_nll,
                                      float * __restrict__ nll, double * __restrict__ nll_exact) {
    __shared__ float sv[32];
    __shared__ int si[32];
    __shared__ double sd[32];
    const long long r = blockIdx.x;
    const float * l = logits + r * n;
    float * lp = base + r * n;
    float max;
    int imax;
    const double sum = row_max_sumexp(l, n, max, imax, sv, si, sd);
    const float shift = max + (float) log(sum);
    float best = NEG_INF;
    int ib = 0x7fffffff;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float v = l[j] - shift;
        lp[j] = v;
        if (v > best) { best = v; ib = j; }
    }
    block_argmax(best, ib, sv, si);
    if (threadIdx.x == 0) {
        const int tok = targets[r];
        argmax[r] = ib;
        const float nl = shift - l[tok];
        base_nll[r] = nl;
        nll[r] = nl;
        nll_exact[r] = -((double) (l[tok] - max) - log(sum));
    }
}

// A compared model's scored rows against the reference's (FastTokenScores.kld): nll, KLD = Σ_double over the
// vocabulary of p_b · (logp_b - l + shift) for p_b = expf(logp_b) > 0 (each term in float, as the CPU forms it),
// Δp = expf(-nll) - expf(-nll_base), and whether the first arg-maxes agree. One block per row.
extern "C" __global__ void score_kld(const float * __restrict__ logits, int n, const int * __restrict__ targets,
                                     const float * __restrict__ base, const int * __restrict__ argmax,
                                     const float * __restrict__ base_nll, float * __restrict__ nll,
                                     float * __restrict__ nll_base, double * __restrict__ kld, float * __restrict__ p_diff,
                                     int * __restrict__ same_top) {
    __shared__ float sv[32];
    __shared__ int si[32];
    __shared__ double sd[32];
    const long long r = blockIdx.x;
    const float * l = logits + r * n;
    const float * lb = base + r * n;
    float max;
    int imax;
    const double sum = row_max_sumexp(l, n, max, imax, sv, si, sd);
    const float lse = (float) log(sum);
    const float shift = max + lse;
    double acc = 0.0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float lpb = lb[j];
        const float p = expf(lpb);
        if (p > 0.0f) acc += (double) (p * (lpb - l[j] + shift));
    }
    acc = block_sum_d(acc, sd);
    if (threadIdx.x == 0) {
        const int tok = targets[r];
        const float nl = max + lse - l[tok];
        const float nb = base_nll[r];
        nll[r] = nl;
        nll_base[r] = nb;
        kld[r] = acc;
        p_diff[r] = expf(-nl) - expf(-nb);
        same_top[r] = imax == argmax[r] ? 1 : 0;
    }
}

// ------------------------------------------------------------------------------------------------- mixture of experts

// The Gemma 4 router after its GEMM (MoeBlock): per token, softmax over the n_exp logits (max, expf, the sum in
// double, one float reciprocal), the top k by probability (ties: the lower expert first), weights p / Σ_top p (the
// sum in double). ids and weights in selection order. One thread per token; n_exp <= 256.
extern "C" __global__ void moe_route(const float * __restrict__ logits, int tokens, int n_exp, int k,
                                     int * __restrict__ ids, float * __restrict__ weights) {
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= tokens) return;
    const float * l = logits + (long long) t * n_exp;
    float max = NEG_INF;
    for (int e = 0; e < n_exp; ++e) max = fmaxf(max, l[e]);
    double sum = 0.0;
    for (int e = 0; e < n_exp; ++e) sum += (double) expf(l[e] - max);
    const float inv = (float) (1.0 / sum);
    unsigned taken[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double top = 0.0;
    for (int j = 0; j < k; ++j) {
        int best = -1;
        float bp = 0.0f;
        for (int e = 0; e < n_exp; ++e) {
            if (taken[e >> 5] & (1u << (e & 31))) continue;
            const float p = expf(l[e] - max) * inv;
            if (best < 0 || p > bp) { best = e; bp = p; }
        }
        taken[best >> 5] |= 1u << (best & 31);
        ids[(long long) t * k + j] = best;
        weights[(long long) t * k + j] = bp;
        top += (double) bp;
    }
    for (int j = 0; j < k; ++j) weights[(long long) t * k + j] = (float) ((double) weights[(long long) t * k + j] / top);
}

// dst[i] = src[rows[i]] (f32 rows of n), with its bf16 split into dstb / dstl (dstl may be null). One block per row.
extern "C" __global__ void gather_rows(const float * __restrict__ src, const int * __restrict__ rows, int n,
                                       float * __restrict__ dst, bf16_t * __restrict__ dstb, bf16_t * __restrict__ dstl) {
    const long long i = blockIdx.x;
    const int r = rows[i];  // negative: a padding row of a batched expert GEMM, zeros
    const float * s = src + (long long) (r < 0 ? 0 : r) * n;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float v = r < 0 ? 0.0f : s[j];
        dst[i * n + j] = v;
        store_bf16_split(v, dstb, dstl, i * n + j);
    }
}

// out[t] = Σ_j w[t][j] · d[pos[t][j]] over the k rows a token was routed to, added in ascending row order (the
// expert order of MoeBlock, as the rows are grouped by expert). One block per token.
extern "C" __global__ void moe_combine(const float * __restrict__ d, const int * __restrict__ pos,
                                       const float * __restrict__ w, int k, int n, float * __restrict__ out) {
    const long long t = blockIdx.x;
    int p[16];
    float ww[16];
    for (int j = 0; j < k; ++j) { p[j] = pos[t * k + j]; ww[j] = w[t * k + j]; }
    for (int a = 1; a < k; ++a) {
        for (int b = a; b > 0 && p[b - 1] > p[b]; --b) {
            const int tp = p[b]; p[b] = p[b - 1]; p[b - 1] = tp;
            const float tw = ww[b]; ww[b] = ww[b - 1]; ww[b - 1] = tw;
        }
    }
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < k; ++j) acc += ww[j] * d[(long long) p[j] * n + i];
        out[t * n + i] = acc;
    }
}
