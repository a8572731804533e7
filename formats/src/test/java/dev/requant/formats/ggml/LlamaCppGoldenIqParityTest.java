package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.formats.SharedFiles;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.manifest.GgufManifest;
import dev.requant.formats.safetensors.SafetensorsFile;
import dev.requant.formats.safetensors.SafetensorsTensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Reproduces llama-quantize's bytes for every 2-D tensor of the golden gemma3-tiny quantizations
 * (../shared/golden/llamacpp/gemma3-tiny.{mode}.{TYPE}.manifest.json), starting from the Hugging Face safetensors:
 * llama-quantize read the BF16 GGUF, whose 2-D weights are byte-identical to the safetensors data (matched here by
 * SHA-256 against gemma3-tiny.bf16.manifest.json), widened them to f32 exactly and encoded each row. The type of
 * each tensor is read from the manifest (under --pure every 2-D tensor, the tied token_embd included, gets the
 * ftype's type; in the mix files token_embd becomes Q6_K). With --imatrix, importance = in_sum2 / counts from the
 * golden imatrix; tensors without an entry (token_embd) are encoded without, as llama-quantize does. Encoding runs
 * through {@link TensorEncoder} on 2 threads with the default (fast where enabled) codecs.
 */
class LlamaCppGoldenIqParityTest {
    static SafetensorsFile safetensors;
    static GgufFile imatrix;
    static final Map<String, SafetensorsTensor> SOURCE = new HashMap<>();

    @BeforeAll
    static void open() throws Exception {
        safetensors = SafetensorsFile.open(SharedFiles.golden("hf/gemma3-tiny/model.safetensors"));
        imatrix = GgufFile.open(SharedFiles.golden("llamacpp/gemma3-tiny.imatrix.gguf"));
        Map<String, String> bySha = new HashMap<>();
        for (JsonNode t : manifest("bf16").get("tensors")) {
            if (t.get("ne").size() == 2 && t.get("type").asText().equals("BF16")) {
                bySha.put(t.get("sha256").asText(), t.get("name").asText());
            }
        }
        for (SafetensorsTensor t : safetensors.tensors()) {
            String name = bySha.get(GgufManifest.sha256(safetensors.data(t)));
            if (name != null) SOURCE.put(name, t);
        }
    }

    @AfterAll
    static void close() {
        safetensors.close();
        imatrix.close();
    }

    static JsonNode manifest(String mode) throws IOException {
        return new ObjectMapper().readTree(SharedFiles.golden("llamacpp/gemma3-tiny." + mode + ".manifest.json").toFile());
    }

    /** llama-quantize's load_imatrix: in_sum2[i] / (float) lround(counts), or null without an entry. */
    static float[] importance(String tensor) {
        var sums = imatrix.tensor(tensor + ".in_sum2");
        var counts = imatrix.tensor(tensor + ".counts");
        if (sums.isEmpty() || counts.isEmpty()) return null;
        float count = Math.round(imatrix.tensorData(counts.get()).get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0));
        MemorySegment s = imatrix.tensorData(sums.get());
        float[] w = new float[(int) (s.byteSize() / 4)];
        for (int i = 0; i < w.length; i++) {
            float v = s.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), i);
            w[i] = count > 0f ? v / count : 1f;
        }
        return w;
    }

    @Test
    void everyTwoDimensionalWeightHasItsSafetensorsSource() {
        assertThat(SOURCE).hasSize(43).containsKey("token_embd.weight");
    }

    @ParameterizedTest
    @ValueSource(strings = {"pure.Q8_0", "pure.Q4_0", "pure.Q4_1", "pure.Q4_K", "pure.Q6_K", "pure.MXFP4_MOE",
            "mix.Q4_0", "mix.Q8_0", "imat-pure.Q4_0", "imat-pure.Q4_1", "imat-pure.Q4_K", "imat-pure.Q6_K", "imat-mix.Q4_0",
            "imat-pure.IQ3_XXS", "imat-pure.IQ3_S", "imat-mix.IQ3_S", "imat-mix.IQ3_XS", "imat-mix.IQ3_M",
            "imat-mix.IQ3_XXS", "imat-mix.IQ2_M", "imat-mix.IQ2_S", "imat-pure.IQ1_M",
            // these also hold Q2_K tensors (ffn_down, attn_v), whose codec came from the codecs-k branch
            "imat-mix.IQ2_XXS", "imat-mix.IQ2_XS", "imat-mix.IQ1_S", "imat-mix.IQ1_M"})
    void everyTwoDimensionalTensorMatchesLlamaQuantize(String mode) throws Exception {
        assertThat(matchTensors(mode, false)).isEqualTo(43);
    }

    /**
     * The codec that reproduces the golden files' tensors of {@code type}. They were made by llama.cpp of August 2026,
     * whose IQ1_M encoder scored each split by summing its elements; llama.cpp PR 28706 (September 2026, in the
     * pinned libllama that the registered codec matches) sums prefix sums instead, which rounds differently.
     */
    static BlockCodec goldenCodec(GgmlType type) {
        return type == GgmlType.IQ1_M ? new IQ1_MCodec(true) : BlockCodec.of(type);
    }

    /**
     * The registered IQ1_M codec is the pinned build's (LlamaCppIqParityTest checks it against libllama), not the one
     * that made the golden files: if this fails, the goldens were remade with the pinned build and
     * {@link #goldenCodec} should go.
     */
    @Test
    void goldenIq1mComesFromTheSearchBeforeThePinnedBuild() throws Exception {
        JsonNode golden = null;
        for (JsonNode t : manifest("imat-pure.IQ1_M").get("tensors")) if (t.get("name").asText().equals("token_embd.weight")) golden = t;
        SafetensorsTensor src = SOURCE.get("token_embd.weight");
        String[] sha = new String[2];
        BlockCodec[] codecs = {BlockCodec.of(GgmlType.IQ1_M), new IQ1_MCodec(true)};
        try (TensorEncoder encoder = new TensorEncoder(2)) {
            for (int i = 0; i < 2; i++) {
                MessageDigest md = MessageDigest.getInstance("SHA-256");
                encoder.encode(RowSource.ofBf16(safetensors.data(src), 256, 1024), codecs[i], null, md::update, TensorEncoder.Progress.NONE);
                sha[i] = HexFormat.of().formatHex(md.digest());
            }
        }
        assertThat(sha[1]).isEqualTo(golden.get("sha256").asText());
        assertThat(sha[0]).isNotEqualTo(sha[1]);
    }

    /** Encodes the 2-D tensors of a golden manifest and compares SHA-256; returns how many were compared. */
    static int matchTensors(String mode, boolean skipTypesWithoutCodec) throws Exception {
        boolean withImatrix = mode.startsWith("imat-");
        List<String> mismatches = new ArrayList<>();
        int checked = 0, weighted = 0;
        try (TensorEncoder encoder = new TensorEncoder(2)) {
            for (JsonNode t : manifest(mode).get("tensors")) {
                if (t.get("ne").size() != 2) continue;
                String name = t.get("name").asText();
                GgmlType type = GgmlType.valueOf(t.get("type").asText());
                if (skipTypesWithoutCodec && !BlockCodec.supported().contains(type)) continue;
                SafetensorsTensor src = SOURCE.get(name);
                int n = t.get("ne").get(0).asInt();
                long rows = t.get("ne").get(1).asLong();
                float[] w = withImatrix ? importance(name) : null;
                if (w != null) weighted++;
                MessageDigest md = MessageDigest.getInstance("SHA-256");
                long[] bytes = {0};
                encoder.encode(RowSource.ofBf16(safetensors.data(src), n, rows), goldenCodec(type), w, chunk -> {
                    bytes[0] += chunk.remaining();
                    md.update(chunk);
                }, TensorEncoder.Progress.NONE);
                assertThat(bytes[0]).isEqualTo(t.get("n_bytes").asLong());
                String got = HexFormat.of().formatHex(md.digest());
                if (!got.equals(t.get("sha256").asText())) mismatches.add(name + " " + type);
                checked++;
            }
        }
        assertThat(mismatches).as(mode).isEmpty();
        if (!skipTypesWithoutCodec) assertThat(weighted).isEqualTo(withImatrix ? 42 : 0); // all but token_embd have an imatrix entry
        return checked;
    }

    /** The golden imatrix's own tensors decode with the codecs (they are F32). */
    @Test
    void imatrixTensorsDecode() {
        for (GgufTensorInfo t : imatrix.tensors()) {
            BlockCodec c = BlockCodec.of(t.type());
            int n = (int) t.ne()[0];
            float[] out = new float[n];
            c.decode(imatrix.tensorData(t), 0, out, 0, n);
            assertThat(out[0]).isEqualTo(imatrix.tensorData(t).get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0));
        }
    }
}
