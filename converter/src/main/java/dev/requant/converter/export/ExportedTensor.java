package dev.requant.converter.export;

import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsWriter;

/**
 * One safetensors tensor of an export: its checkpoint name, dtype and row-major shape, the GGUF tensor it comes from,
 * what is done to it (for the dry-run), and its bytes.
 */
public record ExportedTensor(String name, SafetensorsDtype dtype, long[] shape, String ggufName, String transform, TensorBytes bytes) {
    public SafetensorsWriter.Spec spec() { return new SafetensorsWriter.Spec(name, dtype, shape); }

    public long byteSize() { return spec().byteSize(); }
}
