package dev.requant.formats.nvfp4;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Small Hugging Face folders written by hand for the NVFP4 tests (formats cannot use testmodels). */
final class TinyFolder {
    private final Map<String, SafetensorsWriter.Spec> specs = new LinkedHashMap<>();
    private final Map<String, byte[]> data = new LinkedHashMap<>();

    TinyFolder bf16(String name, long rows, long cols, float[] values) {
        ByteBuffer b = ByteBuffer.allocate((int) (rows * cols * 2)).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putShort(BFloat16.fromFloat(v));
        return raw(name, SafetensorsDtype.BF16, new long[] {rows, cols}, b.array());
    }

    TinyFolder raw(String name, SafetensorsDtype dtype, long[] shape, byte[] bytes) {
        specs.put(name, new SafetensorsWriter.Spec(name, dtype, shape));
        data.put(name, bytes);
        return this;
    }

    TinyFolder f32(String name, long[] shape, float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putFloat(x);
        return raw(name, SafetensorsDtype.F32, shape, b.array());
    }

    Path write(Path dir, String configJson) throws IOException {
        Files.createDirectories(dir);
        List<SafetensorsWriter.Spec> list = new ArrayList<>(specs.values());
        try (SafetensorsWriter w = SafetensorsWriter.create(dir.resolve("model.safetensors"), Map.of("format", "pt"), list)) {
            for (SafetensorsWriter.Spec s : list) w.write(s.name(), data.get(s.name()));
            w.commit();
        }
        Files.writeString(dir.resolve("config.json"), configJson);
        return dir;
    }

    /** Weight-like values: Gaussian rows with a few outliers and, in some blocks, tiny magnitudes (subnormal scales). */
    static float[] weights(long seed, int rows, int cols) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            double g = r.nextGaussian() * 0.02;
            if (r.nextInt(200) == 0) g *= 12;
            if ((i / 16) % 37 == 5) g *= 1e-4;
            v[i] = BFloat16.round((float) g);
        }
        return v;
    }
}
