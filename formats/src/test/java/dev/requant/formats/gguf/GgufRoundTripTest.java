package dev.requant.formats.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.SharedFiles;
import dev.requant.formats.ggml.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufRoundTripTest {
    @TempDir Path tmp;

    /** Every tensor of a file, rewritten from its own bytes. */
    static void rewrite(GgufFile in, Path out) throws IOException {
        List<GgufTensorSpec> specs = in.tensors().stream().map(GgufTensorInfo::spec).toList();
        try (GgufWriter w = GgufWriter.create(out, in.metadata(), specs)) {
            for (GgufTensorInfo t : in.tensors()) w.writeTensor(t.name(), in.tensorData(t));
            w.commit();
        }
    }

    @Test
    void llamaCppImatrixFileIsRewrittenByteForByte() throws IOException {
        Path golden = SharedFiles.golden("llamacpp/gemma3-tiny.imatrix.gguf");
        Path out = tmp.resolve("copy.gguf");
        try (GgufFile in = GgufFile.open(golden)) {
            assertThat(in.version()).isEqualTo(3);
            assertThat(in.metadata().getString("general.type")).contains("imatrix");
            assertThat(in.metadata().getLong("imatrix.chunk_count")).contains(40L);
            assertThat(in.tensors()).hasSize(84);
            rewrite(in, out);
        }
        assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(golden));
    }

    @Test
    void everyValueTypeSurvivesAWriteAndRead() throws IOException {
        GgufMetadata md = new GgufMetadata()
                .put("general.alignment", GgufValue.u32(64))
                .put("u8", GgufValue.u8(255)).put("i8", GgufValue.i8(-128))
                .put("u16", GgufValue.u16(65535)).put("i16", GgufValue.i16(-32768))
                .put("u32", GgufValue.u32(0xFFFFFFFFL)).put("i32", GgufValue.i32(Integer.MIN_VALUE))
                .put("u64", GgufValue.u64(-1L)).put("i64", GgufValue.i64(Long.MIN_VALUE))
                .put("f32", GgufValue.f32(-0.0f)).put("f64", GgufValue.f64(Math.PI))
                .put("bool", GgufValue.bool(true)).put("empty-string", GgufValue.string(""))
                .put("unicode", GgufValue.string("▁Grüße 𝄞 \u0000 nul"))
                .put("a.u8", GgufValue.array(new GgufArray(GgufValueType.UINT8, new byte[] {1, (byte) 200})))
                .put("a.i16", GgufValue.array(new GgufArray(GgufValueType.INT16, new short[] {-1, 7})))
                .put("a.i32", GgufValue.array(GgufArray.ofInt32(3, -4, 5)))
                .put("a.u64", GgufValue.array(new GgufArray(GgufValueType.UINT64, new long[] {-1L})))
                .put("a.f32", GgufValue.array(GgufArray.ofFloat32(1.5f, Float.NaN, Float.NEGATIVE_INFINITY)))
                .put("a.f64", GgufValue.array(new GgufArray(GgufValueType.FLOAT64, new double[] {1e300})))
                .put("a.bool", GgufValue.array(GgufArray.ofBool(true, false)))
                .put("a.str", GgufValue.array(GgufArray.ofStrings("<pad>", "", "▁the")))
                .put("a.empty", GgufValue.array(GgufArray.ofInt32()));
        Random r = new Random(1);
        List<GgufTensorSpec> specs = List.of(
                new GgufTensorSpec("a", GgmlType.F32, new long[] {3, 1}),          // trailing 1 kept, as gguf-py writes it
                new GgufTensorSpec("b", GgmlType.Q8_0, new long[] {64, 2}),
                new GgufTensorSpec("c", GgmlType.BF16, new long[] {5}),
                new GgufTensorSpec("d", GgmlType.NVFP4, new long[] {128, 1, 2, 1}));
        List<byte[]> data = new ArrayList<>();
        Path out = tmp.resolve("all.gguf");
        try (GgufWriter w = GgufWriter.create(out, md, specs)) {
            for (GgufTensorSpec s : specs) {
                byte[] b = new byte[(int) s.byteSize()];
                r.nextBytes(b);
                data.add(b);
                try (var sink = w.beginTensor(s.name())) {
                    sink.write(b, 0, b.length / 2);
                    sink.write(b, b.length / 2, b.length - b.length / 2);
                }
            }
            w.commit();
        }
        try (GgufFile in = GgufFile.open(out)) {
            assertThat(in.metadata()).isEqualTo(md);
            assertThat(in.alignment()).isEqualTo(64);
            assertThat(in.dataOffset() % 64).isZero();
            assertThat(in.tensors().stream().map(GgufTensorInfo::spec).toList()).isEqualTo(specs);
            for (int i = 0; i < specs.size(); i++) {
                GgufTensorInfo t = in.tensors().get(i);
                assertThat(t.offset() % 64).isZero();
                assertThat(in.tensorData(t).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(data.get(i));
            }
            assertThat(in.fileSize()).as("last tensor padded too").isEqualTo(in.dataOffset() + in.tensors().getLast().offset()
                    + GgufFile.pad(in.tensors().getLast().byteSize(), 64));
            Path again = tmp.resolve("again.gguf");
            rewrite(in, again);
            assertThat(Files.readAllBytes(again)).isEqualTo(Files.readAllBytes(out));
        }
    }

    @Test
    void nestedArraysAreReadButNotWritten() throws IOException {
        // gguf-py encodes an inner array as [uint32 type][uint64 count][elements]
        var b = new GgufBytes().header(3, 0, 1).str("nested");
        b.b.i32(GgufValueType.ARRAY.id()).i32(GgufValueType.ARRAY.id()).i64(2)
                .i32(GgufValueType.INT32.id()).i64(2).i32(1).i32(2)
                .i32(GgufValueType.STRING.id()).i64(1).ggufString("x");
        GgufFile f = GgufFile.parse(Path.of("nested.gguf"), MemorySegment.ofArray(b.bytes()));
        GgufArray outer = f.metadata().getArray("nested").orElseThrow();
        assertThat(outer.arrays()[0].ints()).containsExactly(1, 2);
        assertThat(outer.arrays()[1].strings()).containsExactly("x");
        assertThat(f.llamaCppIncompatibilities()).hasSize(1);
        assertThatThrownBy(() -> GgufWriter.encodeHeader(f.metadata(), List.of()))
                .hasMessageContaining("nested array");
    }

    @Test
    void failedWriteLeavesNoFile() throws IOException {
        Path out = tmp.resolve("partial.gguf");
        List<GgufTensorSpec> specs = List.of(new GgufTensorSpec("a", GgmlType.F32, new long[] {4}));
        try (GgufWriter w = GgufWriter.create(out, new GgufMetadata(), specs)) {
            assertThatThrownBy(w::commit).hasMessageContaining("only 0 of 1");
        }
        try (var s = Files.list(tmp)) {
            assertThat(s).isEmpty();
        }
    }

    @Test
    void writerRefusesWhatLlamaCppCannotRead() {
        assertThatThrownBy(() -> GgufWriter.encodeHeader(new GgufMetadata().put("general.alignment", GgufValue.i32(32)), List.of()))
                .hasMessageContaining("UINT32 power of two");
        assertThatThrownBy(() -> GgufWriter.encodeHeader(new GgufMetadata(),
                List.of(new GgufTensorSpec("x".repeat(64), GgmlType.F32, new long[] {1}))))
                .hasMessageContaining("63");
        assertThatThrownBy(() -> GgufWriter.encodeHeader(new GgufMetadata(),
                List.of(new GgufTensorSpec("q", GgmlType.Q4_0, new long[] {30}))))
                .hasMessageContaining("block size 32");
    }

    @Test
    void fixedSizeValuesCanBeFilledInAfterTheTensors() throws IOException {
        GgufMetadata md = new GgufMetadata().put("stat.fraction", GgufValue.f32(0f)).put("stat.count", GgufValue.u64(0))
                .put("name", GgufValue.string("abc"));
        List<GgufTensorSpec> specs = List.of(new GgufTensorSpec("t", GgmlType.F32, new long[] {8}));
        Path out = tmp.resolve("stats.gguf");
        try (GgufWriter w = GgufWriter.create(out, md, specs)) {
            w.writeTensor("t", MemorySegment.ofArray(new byte[32]));
            w.updateValue("stat.fraction", GgufValue.f32(0.75f));
            w.updateValue("stat.count", GgufValue.u64(12345));
            w.updateValue("name", GgufValue.string("xyz"));
            assertThatThrownBy(() -> w.updateValue("name", GgufValue.string("longer"))).hasMessageContaining("cannot replace");
            assertThatThrownBy(() -> w.updateValue("stat.count", GgufValue.u32(1))).hasMessageContaining("cannot replace");
            w.commit();
        }
        try (GgufFile f = GgufFile.open(out)) {
            assertThat(f.metadata().getFloat("stat.fraction")).contains(0.75f);
            assertThat(f.metadata().getLong("stat.count")).contains(12345L);
            assertThat(f.metadata().getString("name")).contains("xyz");
            assertThat(f.tensorData(f.tensors().getFirst()).byteSize()).isEqualTo(32);
        }
    }
}
