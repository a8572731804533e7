/* The cross-check corpus: rows of floats built from splitmix64 so that C and Java (GgmlCrosscheckTest) make the
 * same inputs bit for bit. Kinds cycle with the row index (see next_row). */
#include <stdint.h>
#include <string.h>

static uint64_t cc_state;

static uint64_t cc_next(void) {
    uint64_t z = (cc_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static float cc_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* uniform in [-1, 1), exact multiple of 2^-23 */
static float cc_uniform(void) { return (float)((int32_t)(cc_next() >> 40) - (1 << 23)) * 0x1p-23f; }

#define CC_KINDS 12

static void cc_row(int kind, float * x, int n) {
    for (int i = 0; i < n; i++) {
        float v;
        switch (kind) {
            case 0: v = cc_uniform(); break;
            case 1: v = cc_uniform() * 0.001f; break;
            case 2: { float u = cc_uniform(); v = u * u * u * 4.0f; break; }
            case 3: v = (float)((int)(cc_next() % 9) - 4); break;
            case 4: v = 0.0f; break;
            case 5: v = (cc_next() % 29 == 0) ? cc_uniform() * 3.0f : 0.0f; break;
            case 6: v = cc_bits((uint32_t)(cc_next() & 0x807FFFFFu)); break;
            case 7: v = cc_uniform() * 0x1p-120f; break;
            case 8: v = cc_uniform() * 3.0e38f; break;
            case 9: { uint64_t r = cc_next(); v = (r % 16 == 0) ? ((r >> 8) & 1 ? INFINITY : -INFINITY) : cc_uniform(); break; }
            case 10: { uint64_t r = cc_next(); v = (r % 16 == 0) ? cc_bits(((r >> 8) & 1 ? 0xFFC00000u : 0x7FC00000u)) : cc_uniform(); break; }
            default: { uint32_t u = (uint32_t)(cc_next() >> 32); if (((u >> 23) & 0xFF) == 0xFF) u &= 0xBFFFFFFFu; v = cc_bits(u); break; }
        }
        x[i] = v;
    }
}

/* importance: one in 8 columns 0, else uniform in (0, 4] */
static void cc_importance(float * w, int n) {
    for (int i = 0; i < n; i++) {
        uint64_t r = cc_next();
        w[i] = (r % 8 == 0) ? 0.0f : (float)((r >> 40) + 1) * 0x1p-22f;
    }
}
