package dev.requant.converter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.testmodels.Golden;
import dev.requant.testmodels.ReleasedGemma3Layout;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * requant convert --mmproj against the pinned llama.cpp's convert_hf_to_gguf.py --mmproj, byte for byte, on the tiny
 * checkpoints transformers made (testmodels/mmproj/data, see its README): for each checkpoint and output type the
 * Python converter's GGUF is the reference. A mismatch is reported as the first differing key or tensor.
 */
class MmprojReferenceTest {
    static final Path DATA = Golden.projectRoot().resolve("testmodels/mmproj/data");

    @TempDir Path tmp;

    static Stream<Arguments> cases() {
        List<Arguments> a = new ArrayList<>();
        // gemma4-mm-tiny's f32 reference is left out of the repository (1.4 MB; its types follow the bf16 rules)
        for (FileType t : List.of(FileType.F16, FileType.BF16, FileType.Q8_0)) a.add(Arguments.of("gemma4-mm-tiny", t));
        for (FileType t : List.of(FileType.F16, FileType.BF16, FileType.F32, FileType.Q8_0)) a.add(Arguments.of("gemma4-unified-mm-tiny", t));
        for (FileType t : List.of(FileType.F16, FileType.BF16, FileType.F32, FileType.Q8_0)) a.add(Arguments.of(GEMMA3_RELEASED, t));
        return a.stream();
    }

    /**
     * gemma3-mm-tiny renamed to the released checkpoints' layout (run-gemma3-released.sh), which the Python converter
     * maps; the copy is made here by {@link ReleasedGemma3Layout} rather than kept twice in the repository.
     */
    static final String GEMMA3_RELEASED = "gemma3-mm-tiny-released";
    /** md5 of the renamed model.safetensors the reference run converted (data/README.md, from the run's log.txt). */
    static final String GEMMA3_RELEASED_MD5 = "a9dc3d260b5a24b9c40027baf34c9b8a";

    /** The checkpoint folder of a case; the released Gemma 3 copy keeps the folder name, which gives general.name. */
    private Path checkpoint(String model) throws IOException {
        if (!model.equals(GEMMA3_RELEASED)) return DATA.resolve(model);
        return ReleasedGemma3Layout.write(DATA.resolve("gemma3-mm-tiny"), tmp.resolve("released").resolve("gemma3-mm-tiny"));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesConvertHfToGguf(String model, FileType type) throws IOException {
        Path reference = DATA.resolve(model + ".mmproj-" + type.cliName() + ".gguf");
        assertThat(reference).as("reference made by testmodels/mmproj/run.sh").exists();
        Path out = tmp.resolve("mine.gguf");
        try (ConversionPlan plan = MmprojPlanner.plan(checkpoint(model), ConversionSettings.of(type))) {
            GgufConversion.write(plan, out, null);
        }
        assertThat(difference(reference, out)).as("first difference from %s", reference.getFileName()).isEmpty();
        assertThat(Files.mismatch(reference, out)).as("byte identity with %s", reference.getFileName()).isEqualTo(-1L);
    }

    /** The Java rename writes exactly the safetensors file the reference run renamed with released_layout.py and converted. */
    @Test
    void releasedLayoutCopyIsTheFileTheReferenceRunConverted() throws IOException, NoSuchAlgorithmException {
        Path dir = checkpoint(GEMMA3_RELEASED);
        byte[] md5 = MessageDigest.getInstance("MD5").digest(Files.readAllBytes(dir.resolve("model.safetensors")));
        assertThat(HexFormat.of().formatHex(md5)).isEqualTo(GEMMA3_RELEASED_MD5);
    }

    /**
     * transformers 5.17 saves Gemma3ForConditionalGeneration's SigLIP as {@code vision_tower.embeddings.*} /
     * {@code vision_tower.encoder.*} (released checkpoints: {@code vision_tower.vision_model.*}), which the pinned
     * convert_hf_to_gguf.py cannot map ("Can not map tensor 'vision_tower.embeddings.patch_embedding.bias'", the run's
     * log). requant refuses the same tensor with a clear error instead of writing a file the Python converter would not.
     * The text config's layer_types (sliding, full) are not llama.cpp's gemma3 pattern: the text conversion refuses them,
     * the projector conversion, like the Python converter's, does not read them.
     */
    @Test
    void gemma3SavedByTransformers5IsRefusedLikeThePythonConverterRefusesIt() {
        Path dir = DATA.resolve("gemma3-mm-tiny");
        assertThatThrownBy(() -> MmprojPlanner.plan(dir, ConversionSettings.of(FileType.F16)))
                .isInstanceOf(FormatException.class).hasMessageContaining("model.safetensors")
                .hasMessageContaining("'vision_tower.embeddings.patch_embedding.bias'").hasMessageContaining("no mmproj GGUF name");
        assertThatThrownBy(() -> GemmaPlanner.plan(dir, ConversionSettings.of(FileType.F16)))
                .isInstanceOf(FormatException.class).hasMessageContaining("config.json").hasMessageContaining("layer_types[1] is full_attention");
    }

    /**
     * The first difference in keys (order, types, values), tensor infos or tensor bytes, or "" (the softplus of
     * gemma4's audio per_dim_scale included: {@link SleefFloat} rounds as torch's SLEEF kernels do).
     */
    static String difference(Path expected, Path actual) throws IOException {
        try (GgufFile e = GgufFile.open(expected); GgufFile a = GgufFile.open(actual)) {
            List<Map.Entry<String, GgufValue>> ek = new ArrayList<>(e.metadata().asMap().entrySet());
            List<Map.Entry<String, GgufValue>> ak = new ArrayList<>(a.metadata().asMap().entrySet());
            for (int i = 0; i < Math.max(ek.size(), ak.size()); i++) {
                if (i >= ek.size()) return "extra key " + ak.get(i).getKey();
                if (i >= ak.size()) return "missing key " + ek.get(i).getKey() + " = " + ek.get(i).getValue();
                if (!ek.get(i).getKey().equals(ak.get(i).getKey())) return "key #" + i + ": expected " + ek.get(i).getKey() + ", got " + ak.get(i).getKey();
                if (!ek.get(i).getValue().equals(ak.get(i).getValue())) {
                    return "key " + ek.get(i).getKey() + ": expected " + ek.get(i).getValue() + ", got " + ak.get(i).getValue();
                }
            }
            List<GgufTensorInfo> et = e.tensors(), at = a.tensors();
            for (int i = 0; i < Math.max(et.size(), at.size()); i++) {
                if (i >= et.size()) return "extra tensor " + at.get(i).name();
                if (i >= at.size()) return "missing tensor " + et.get(i).name();
                GgufTensorInfo x = et.get(i), y = at.get(i);
                if (!x.name().equals(y.name()) || x.type() != y.type() || !java.util.Arrays.equals(x.ne(), y.ne()) || x.offset() != y.offset()) {
                    return "tensor #" + i + ": expected " + x.name() + " " + x.type() + " " + java.util.Arrays.toString(x.ne()) + " @" + x.offset()
                            + ", got " + y.name() + " " + y.type() + " " + java.util.Arrays.toString(y.ne()) + " @" + y.offset();
                }
                long m = e.tensorData(x).mismatch(a.tensorData(y));
                if (m >= 0) {
                    return "tensor " + x.name() + " (" + x.type() + "): bytes differ from offset " + m + " (expected "
                            + e.tensorData(x).get(ValueLayout.JAVA_BYTE, m) + ", got " + a.tensorData(y).get(ValueLayout.JAVA_BYTE, m) + ")";
                }
            }
            return "";
        }
    }
}
