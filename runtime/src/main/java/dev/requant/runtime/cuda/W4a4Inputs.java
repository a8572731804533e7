package dev.requant.runtime.cuda;

import dev.requant.cuda.CudaDevice;
import dev.requant.cuda.CudaStream;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.cuda.DeviceBuffer;
import dev.requant.cuda.Nvfp4Kernels;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.runtime.model.LayerWeights;
import dev.requant.runtime.model.WeightTensor;
import java.util.Map;

/**
 * W4A4 inside a GPU forward session ({@link CudaSession#useW4a4}): before each product with an NVFP4 layer matrix,
 * the float input is quantized to NVFP4 blocks as {@code runtime.fp4.W4a4MatMul} quantizes it on the CPU (the
 * weight's {@code input_scale}, or a dynamic {@code amax / (6·448)} of the product's whole input) and handed to the
 * session's bf16 GEMMs as its values {@code e2m1 · e4m3 · s_in}. The products then differ from the CPU emulation's by
 * GEMM rounding only, where the activations feeding them agree; a code that sits on a rounding boundary can flip.
 */
final class W4a4Inputs implements AutoCloseable {
    private final CudaDevice device;
    private final Nvfp4Kernels kernels;
    private final Map<String, Float> inputScales;
    private final DeviceBuffer amax;
    private long staticCalls, dynamicCalls;

    W4a4Inputs(CudaDevice device, Map<String, Float> inputScales) throws CudaUnavailableException {
        this.device = device;
        this.kernels = Nvfp4Kernels.load(device);
        this.inputScales = Map.copyOf(inputScales);
        this.amax = device.allocate(4);
    }

    /** Whether products with {@code t} take quantized inputs: a 2-D NVFP4 matrix, as W4a4MatMul decides. */
    static boolean applies(WeightTensor t) {
        return t != null && t.type() == GgmlType.NVFP4 && t.matrices() == 1;
    }

    /**
     * The first NVFP4 matrix whose product the CPU's W4A4 would quantize but the session's W4A4 does not reach (the
     * per-layer model projection, a router), or null when every one is a layer matrix the session handles.
     */
    static String unreached(GemmaWeights w) {
        if (applies(w.perLayerModelProj())) return w.perLayerModelProj().name();
        for (LayerWeights lw : w.layers()) {
            if (lw.hasMoe() && applies(lw.moe().gateInp())) return lw.moe().gateInp().name();
        }
        return null;
    }

    /**
     * Writes the quantized {@code rows × cols} input {@code src} of a product with {@code t} into the bf16 halves
     * {@code hi}/{@code lo} ({@code lo} may be null); {@code amaxDone} says whether {@code src}'s dynamic amax is already
     * computed for this input. Returns whether it is now.
     */
    boolean quantize(CudaStream s, WeightTensor t, DeviceBuffer src, int rows, int cols, DeviceBuffer hi, DeviceBuffer lo, boolean amaxDone) {
        Float v = inputScales.get(t.name());
        if (v != null && Float.isFinite(v) && v > 0f) {
            staticCalls++;
            kernels.fakeQuantSplit(s, src, rows, cols, v, amax, hi, lo);
            return amaxDone;
        }
        dynamicCalls++;
        if (!amaxDone) {
            device.fill32(amax, 0, s);
            kernels.amax(s, src, (long) rows * cols, amax);
        }
        kernels.fakeQuantSplit(s, src, rows, cols, -1f, amax, hi, lo);
        return true;
    }

    /** Whether these are the input scales this quantizes with. */
    boolean scales(Map<String, Float> inputScales) { return this.inputScales.equals(inputScales); }

    /** Products with a static / a dynamic input scale since construction or {@link #resetCalls}. */
    long[] calls() { return new long[] {staticCalls, dynamicCalls}; }

    void resetCalls() {
        staticCalls = 0;
        dynamicCalls = 0;
    }

    @Override
    public void close() {
        device.free(amax);
        kernels.close();
    }
}
