package dev.requant.formats.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Split GGUF sets as tools/gguf-split writes them and llama_model_loader reads them: the plan (which tensor goes in
 * which shard for --split-max-tensors and --split-max-size, the error gguf-split stops with, --no-tensor-first-split),
 * the split keys and their order, the file names, a write/read round trip through {@link GgufShards}, and the
 * loader's refusals.
 */
class GgufSplitTest {
    @TempDir Path tmp;

    static GgufMetadata metadata() {
        return new GgufMetadata().put("general.architecture", GgufValue.string("llama"))
                .put("general.name", GgufValue.string("split test")).put("llama.block_count", GgufValue.u32(2));
    }

    /** F32 tensors of {@code sizes[i]} elements (4 bytes each). */
    static List<GgufTensorSpec> tensors(int... sizes) {
        List<GgufTensorSpec> t = new ArrayList<>();
        for (int i = 0; i < sizes.length; i++) t.add(new GgufTensorSpec("t" + i, GgmlType.F32, new long[] {sizes[i]}));
        return t;
    }

    static List<List<String>> names(List<GgufSplitWriter.Shard> shards) {
        return shards.stream().map(s -> s.tensors().stream().map(GgufTensorSpec::name).toList()).toList();
    }

    @Test
    void byTensorCountEveryShardButTheLastHoldsTheLimit() {
        var shards = GgufSplitWriter.plan(metadata(), tensors(8, 8, 8, 8, 8, 8, 8, 8, 8, 8), GgufSplitWriter.Limit.tensors(4), false);
        assertThat(names(shards)).containsExactly(List.of("t0", "t1", "t2", "t3"), List.of("t4", "t5", "t6", "t7"), List.of("t8", "t9"));
        assertThat(names(GgufSplitWriter.plan(metadata(), tensors(8, 8, 8, 8), GgufSplitWriter.Limit.tensors(4), false)))
                .containsExactly(List.of("t0", "t1", "t2", "t3"));
    }

    @Test
    void bySizeTensorBytesArePaddedTo32AndMetadataIsNotCounted() {
        // 9 floats = 36 bytes, padded 64; 8 floats = 32 bytes: the limit 96 fits 64 + 32, not 64 + 64
        var shards = GgufSplitWriter.plan(metadata(), tensors(9, 8, 9, 9, 8, 8, 8), GgufSplitWriter.Limit.bytes(96), false);
        assertThat(names(shards)).containsExactly(List.of("t0", "t1"), List.of("t2"), List.of("t3", "t4"), List.of("t5", "t6"));
    }

    @Test
    void aTensorOverTheLimitGetsAShardOfItsOwnUnlessItIsTheFirst() {
        var shards = GgufSplitWriter.plan(metadata(), tensors(8, 100, 8), GgufSplitWriter.Limit.bytes(64), false);
        assertThat(names(shards)).containsExactly(List.of("t0"), List.of("t1"), List.of("t2"));
        assertThatThrownBy(() -> GgufSplitWriter.plan(metadata(), tensors(100, 8), GgufSplitWriter.Limit.bytes(64), false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'t0'").hasMessageContaining("no tensors");
    }

    @Test
    void noTensorFirstSplitLeavesTheMetadataAlone() {
        var shards = GgufSplitWriter.plan(metadata(), tensors(8, 8, 8), GgufSplitWriter.Limit.tensors(2), true);
        assertThat(names(shards)).containsExactly(List.of(), List.of("t0", "t1"), List.of("t2"));
        assertThat(shards.get(0).metadata().contains("general.architecture")).isTrue();
        assertThat(shards.get(1).metadata().contains("general.architecture")).isFalse();
    }

    @Test
    void splitKeysComeLastInGgufSplitsOrderWithLlamaCppsTypes() {
        GgufMetadata in = metadata().put(GgufKeys.Split.COUNT, GgufValue.u16(7)); // a stale key from an earlier split
        var shards = GgufSplitWriter.plan(in, tensors(8, 8, 8), GgufSplitWriter.Limit.tensors(2), false);
        assertThat(shards.get(0).metadata().keys()).containsExactly("general.architecture", "general.name", "llama.block_count",
                GgufKeys.Split.NO, GgufKeys.Split.TENSORS_COUNT, GgufKeys.Split.COUNT);
        assertThat(shards.get(1).metadata().keys()).containsExactly(GgufKeys.Split.NO, GgufKeys.Split.TENSORS_COUNT, GgufKeys.Split.COUNT);
        for (int i = 0; i < 2; i++) {
            GgufMetadata m = shards.get(i).metadata();
            assertThat(m.get(GgufKeys.Split.NO).orElseThrow()).isEqualTo(GgufValue.u16(i));
            assertThat(m.get(GgufKeys.Split.COUNT).orElseThrow()).isEqualTo(GgufValue.u16(2));
            assertThat(m.get(GgufKeys.Split.TENSORS_COUNT).orElseThrow()).isEqualTo(GgufValue.i32(3));
        }
    }

    @Test
    void sizesParseAsGgufSplitReadsThemAndNothingLooser() {
        assertThat(GgufSplitWriter.Limit.parseSize("50G").maxBytes()).isEqualTo(50_000_000_000L);
        assertThat(GgufSplitWriter.Limit.parseSize("300M").maxBytes()).isEqualTo(300_000_000L);
        for (String bad : List.of("1.5G", "50", "50GB", "0M", "-3G", "G")) {
            assertThatThrownBy(() -> GgufSplitWriter.Limit.parseSize(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(bad);
        }
    }

    @Test
    void namesAreLlamaSplitPath() {
        Path prefix = tmp.resolve("model-Q4_K_M");
        assertThat(GgufSplit.path(prefix, 0, 3).getFileName()).hasToString("model-Q4_K_M-00001-of-00003.gguf");
        assertThat(GgufSplit.path(prefix, 2, 3)).isEqualTo(tmp.resolve("model-Q4_K_M-00003-of-00003.gguf"));
        assertThat(GgufSplit.prefix(tmp.resolve("m-00002-of-00003.gguf"), 1, 3)).contains(tmp.resolve("m"));
        assertThat(GgufSplit.prefix(tmp.resolve("m-00002-of-00003.gguf"), 0, 3)).isEmpty();
        assertThat(GgufSplit.prefix(tmp.resolve("-00001-of-00003.gguf"), 0, 3)).isEmpty();
    }

    /** Writes the tensors with random bytes as a split set; returns the bytes per tensor name, in order. */
    static List<byte[]> writeSplit(Path prefix, GgufMetadata md, List<GgufTensorSpec> specs, GgufSplitWriter.Limit limit,
            boolean noTensorFirst) throws IOException {
        Random r = new Random(5);
        List<byte[]> data = new ArrayList<>();
        try (GgufSplitWriter w = GgufSplitWriter.create(prefix, md, specs, limit, noTensorFirst)) {
            for (GgufTensorSpec s : specs) {
                byte[] b = new byte[(int) s.byteSize()];
                r.nextBytes(b);
                data.add(b);
                w.writeTensor(s.name(), MemorySegment.ofArray(b));
            }
            w.commit();
        }
        return data;
    }

    @Test
    void aWrittenSetReadsBackAsOneModel() throws IOException {
        List<GgufTensorSpec> specs = List.of(new GgufTensorSpec("token_embd.weight", GgmlType.Q8_0, new long[] {64, 10}),
                new GgufTensorSpec("blk.0.attn_norm.weight", GgmlType.F32, new long[] {7}),
                new GgufTensorSpec("blk.0.ffn_up.weight", GgmlType.Q4_K, new long[] {256, 3}),
                new GgufTensorSpec("blk.1.ffn_up.weight", GgmlType.BF16, new long[] {33, 2}),
                new GgufTensorSpec("output.weight", GgmlType.Q6_K, new long[] {256, 2}));
        Path prefix = tmp.resolve("model");
        List<byte[]> data = writeSplit(prefix, metadata(), specs, GgufSplitWriter.Limit.tensors(2), false);
        try (Stream<Path> files = Files.list(tmp)) {
            assertThat(files.map(p -> p.getFileName().toString()).sorted().toList())
                    .containsExactly("model-00001-of-00003.gguf", "model-00002-of-00003.gguf", "model-00003-of-00003.gguf");
        }
        try (GgufShards m = GgufShards.open(GgufSplit.path(prefix, 0, 3))) {
            assertThat(m.isSplit()).isTrue();
            assertThat(m.files()).hasSize(3);
            assertThat(m.metadata().getString("general.name")).contains("split test");
            assertThat(m.tensors().stream().map(GgufShards.Tensor::name).toList()).isEqualTo(specs.stream().map(GgufTensorSpec::name).toList());
            for (int i = 0; i < specs.size(); i++) {
                GgufShards.Tensor t = m.tensor(specs.get(i).name()).orElseThrow();
                assertThat(t.info().spec()).isEqualTo(specs.get(i));
                assertThat(m.data(t).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(data.get(i));
                assertThat(m.fileOf(t).path().getFileName().toString()).endsWith(String.format("-%05d-of-00003.gguf", i / 2 + 1));
            }
            // each shard is a GGUF of its own: tensors from offset 0, aligned to 32
            GgufFile second = m.files().get(1);
            assertThat(second.metadata().size()).isEqualTo(3);
            assertThat(second.tensors().getFirst().offset()).isZero();
            assertThat(second.tensors().get(1).offset()).isEqualTo(GgufFile.pad(specs.get(2).byteSize(), 32));
        }
    }

    @Test
    void anUnsplitFileIsAModelOfOneShard() throws IOException {
        Path p = tmp.resolve("plain.gguf");
        try (GgufWriter w = GgufWriter.create(p, metadata(), tensors(8))) {
            w.writeTensor("t0", MemorySegment.ofArray(new byte[32]));
            w.commit();
        }
        try (GgufShards m = GgufShards.open(p)) {
            assertThat(m.isSplit()).isFalse();
            assertThat(m.tensors()).hasSize(1);
            assertThat(m.path()).isEqualTo(p);
        }
    }

    @Test
    void anEmptyFirstShardStillOpensTheRest() throws IOException {
        Path prefix = tmp.resolve("meta-first");
        List<byte[]> data = writeSplit(prefix, metadata(), tensors(8, 8, 8), GgufSplitWriter.Limit.tensors(2), true);
        try (GgufShards m = GgufShards.open(GgufSplit.path(prefix, 0, 3))) {
            assertThat(m.files().getFirst().tensors()).isEmpty();
            assertThat(m.tensors()).hasSize(3);
            assertThat(m.data(m.tensor("t2").orElseThrow()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(data.get(2));
        }
    }

    @Test
    void theLoadersRefusalsNameTheFileAndTheProblem() throws IOException {
        Path prefix = tmp.resolve("m");
        writeSplit(prefix, metadata(), tensors(8, 8, 8), GgufSplitWriter.Limit.tensors(1), false);
        Path first = GgufSplit.path(prefix, 0, 3), second = GgufSplit.path(prefix, 1, 3), third = GgufSplit.path(prefix, 2, 3);

        assertThatThrownBy(() -> GgufShards.open(second)).isInstanceOf(FormatException.class)
                .hasMessageContaining(second.toString()).hasMessageContaining("shard 2 of 3").hasMessageContaining("first shard");

        Path renamed = tmp.resolve("renamed.gguf");
        Files.copy(first, renamed);
        assertThatThrownBy(() -> GgufShards.open(renamed)).isInstanceOf(FormatException.class).hasMessageContaining("-00001-of-00003.gguf");

        Path moved = tmp.resolve("third.bak");
        Files.move(third, moved);
        assertThatThrownBy(() -> GgufShards.open(first)).isInstanceOf(FormatException.class)
                .hasMessageContaining("shard 3 of 3 is missing").hasMessageContaining(third.toString());

        // shard 2 where shard 3 belongs: wrong split.no
        Files.copy(second, third);
        assertThatThrownBy(() -> GgufShards.open(first)).isInstanceOf(FormatException.class)
                .hasMessageContaining(third.toString()).hasMessageContaining("split.no is 1, expected 2");
        Files.delete(third);
        Files.move(moved, third);

        // the same tensor in two shards
        Path dupPrefix = tmp.resolve("dup");
        writeSplit(dupPrefix, metadata(), tensors(8, 8), GgufSplitWriter.Limit.tensors(1), false);
        GgufMetadata shard2 = new GgufMetadata().put(GgufKeys.Split.NO, GgufValue.u16(1))
                .put(GgufKeys.Split.TENSORS_COUNT, GgufValue.i32(2)).put(GgufKeys.Split.COUNT, GgufValue.u16(2));
        Path dupSecond = GgufSplit.path(dupPrefix, 1, 2);
        Files.delete(dupSecond);
        try (GgufWriter w = GgufWriter.create(dupSecond, shard2, tensors(8))) {
            w.writeTensor("t0", MemorySegment.ofArray(new byte[32]));
            w.commit();
        }
        assertThatThrownBy(() -> GgufShards.open(GgufSplit.path(dupPrefix, 0, 2))).isInstanceOf(FormatException.class)
                .hasMessageContaining("'t0'").hasMessageContaining("duplicated");
    }

    @Test
    void theSplitKeysMustAddUp() throws IOException {
        // split.tensors.count says 5, the shards hold 2
        Path prefix = tmp.resolve("count");
        GgufMetadata first = metadata().put(GgufKeys.Split.NO, GgufValue.u16(0)).put(GgufKeys.Split.TENSORS_COUNT, GgufValue.i32(5))
                .put(GgufKeys.Split.COUNT, GgufValue.u16(2));
        GgufMetadata second = new GgufMetadata().put(GgufKeys.Split.NO, GgufValue.u16(1)).put(GgufKeys.Split.TENSORS_COUNT, GgufValue.i32(5))
                .put(GgufKeys.Split.COUNT, GgufValue.u16(2));
        writeOne(GgufSplit.path(prefix, 0, 2), first, "a");
        writeOne(GgufSplit.path(prefix, 1, 2), second, "b");
        assertThatThrownBy(() -> GgufShards.open(GgufSplit.path(prefix, 0, 2))).isInstanceOf(FormatException.class)
                .hasMessageContaining("split.tensors.count is 5 but the 2 shards hold 2 tensors");

        // split.count as UINT32: llama.cpp's get_key refuses the type
        Path typed = tmp.resolve("typed-00001-of-00002.gguf");
        writeOne(typed, metadata().put(GgufKeys.Split.COUNT, GgufValue.u32(2)), "a");
        assertThatThrownBy(() -> GgufShards.open(typed)).isInstanceOf(FormatException.class)
                .hasMessageContaining(typed.toString()).hasMessageContaining("split.count has type UINT32");
    }

    static void writeOne(Path p, GgufMetadata md, String tensor) throws IOException {
        try (GgufWriter w = GgufWriter.create(p, md, List.of(new GgufTensorSpec(tensor, GgmlType.F32, new long[] {8})))) {
            w.writeTensor(tensor, MemorySegment.ofArray(new byte[32]));
            w.commit();
        }
    }

    @Test
    void nothingAppearsUntilCommitAndAnAbandonedWriteLeavesNoFiles() throws IOException {
        Path prefix = tmp.resolve("abandoned");
        try (GgufSplitWriter w = GgufSplitWriter.create(prefix, metadata(), tensors(8, 8, 8), GgufSplitWriter.Limit.tensors(1), false)) {
            w.writeTensor("t0", MemorySegment.ofArray(new byte[32]));
            w.writeTensor("t1", MemorySegment.ofArray(new byte[32]));
            assertThatThrownBy(w::commit).isInstanceOf(IllegalStateException.class).hasMessageContaining("'t2'");
        }
        try (Stream<Path> files = Files.list(tmp)) {
            assertThat(files.toList()).isEmpty();
        }
    }
}
