package dev.requant.converter;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.testmodels.Golden;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
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
        for (String model : List.of("gemma3-mm-tiny", "gemma4-mm-tiny", "gemma4-unified-mm-tiny")) {
            for (FileType t : List.of(FileType.F16, FileType.BF16, FileType.F32, FileType.Q8_0)) a.add(Arguments.of(model, t));
        }
        return a.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesConvertHfToGguf(String model, FileType type) throws IOException {
        Path reference = DATA.resolve(model + ".mmproj-" + type.cliName() + ".gguf");
        assertThat(reference).as("reference made by testmodels/mmproj/run.sh").exists();
        Path out = tmp.resolve("mine.gguf");
        try (ConversionPlan plan = MmprojPlanner.plan(DATA.resolve(model), ConversionSettings.of(type))) {
            GgufConversion.write(plan, out, null);
        }
        assertThat(difference(reference, out)).as("first difference from %s", reference.getFileName()).isEmpty();
        assertThat(Files.mismatch(reference, out)).as("byte identity with %s", reference.getFileName()).isEqualTo(-1L);
    }

    /** The first difference in keys (order, types, values), tensor infos or tensor bytes, or "". */
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
