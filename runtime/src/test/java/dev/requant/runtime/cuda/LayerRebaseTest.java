package dev.requant.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.cuda.DeviceBuffer;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A streamed layer's device record moved from the upload buffer it was converted in to its own (no GPU involved):
 * every tensor and every low half moves by the same distance, sizes and absent tensors stay.
 */
class LayerRebaseTest {
    private static DeviceBuffer b(long address, long bytes) { return new DeviceBuffer(address, bytes); }

    @Test
    void everyTensorAndLowHalfMoves() {
        long base = 1L << 32;
        DeviceBuffer qkv = b(base + 1024, 4096), qkvLo = b(base + 8192, 4096), down = b(base + 16384, 512);
        CudaGemmaWeights.Moe moe = new CudaGemmaWeights.Moe(b(base, 16), b(base + 256, 64), b(base + 512, 16), b(base + 768, 16),
                b(base + 20480, 16), b(base + 24576, 2048), null, b(base + 32768, 1024));
        CudaGemmaWeights.Layer l = new CudaGemmaWeights.Layer(b(base, 256), qkv, 12, b(base + 512, 64), null, b(base + 12288, 256),
                b(base + 13000, 16), b(base + 14000, 16), b(base + 15000, 128), down, b(base + 17000, 16), null, null, null, moe,
                Map.of(qkv.address(), qkvLo));
        long delta = 3L << 30;
        CudaGemmaWeights.Layer r = l.rebased(delta);
        assertThat(r.qkv()).isEqualTo(b(base + 1024 + delta, 4096));
        assertThat(r.low(r.qkv())).isEqualTo(b(base + 8192 + delta, 4096));
        assertThat(r.low(qkv)).as("the old address is not in the moved layer").isNull();
        assertThat(r.low(r.down())).isNull();
        assertThat(r.down()).isEqualTo(b(base + 16384 + delta, 512));
        assertThat(r.qkvRows()).isEqualTo(12);
        assertThat(r.kNorm()).isNull();
        assertThat(r.inpGate()).isNull();
        assertThat(r.moe().up()).isNull();
        assertThat(r.moe().down()).isEqualTo(b(base + 32768 + delta, 1024));
        assertThat(r.moe().gateUp()).isEqualTo(b(base + 24576 + delta, 2048));
        assertThat(r.rebased(-delta)).isEqualTo(l);
    }
}
