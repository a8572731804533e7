package dev.requant.converter.export;

import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** The bytes of one exported safetensors tensor, produced when the writer reaches it (streamed, never all in memory). */
public interface TensorBytes {
    void writeTo(SafetensorsWriter.TensorSink sink) throws IOException;

    /** Stored bytes taken as they are (a slice of the GGUF's mapping). */
    static TensorBytes stored(MemorySegment bytes) {
        return sink -> sink.write(bytes);
    }

    /** One float32 value (a per-tensor scale). */
    static TensorBytes f32(float v) {
        return sink -> sink.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, v));
    }
}
