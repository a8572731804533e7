package dev.requant.converter.quantize.mix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.FormatException;
import dev.requant.formats.ggml.GgmlType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SensitivityTableTest {
    @TempDir Path dir;

    static SensitivityTable table() {
        return new SensitivityTable("m.gguf", 64, 2, 62, 3.5, SensitivityTable.Mode.PROXY, "q4_0", List.of(
                new TensorSensitivity("a.weight", 1024, 2048, List.of(
                        new MixOption(GgmlType.Q4_0, GgmlType.Q4_0, false, 576, 0.02, 8.0),
                        new MixOption(GgmlType.Q8_0, GgmlType.Q8_0, false, 1088, Double.NaN, 0.5),
                        new MixOption(GgmlType.Q4_0, GgmlType.Q4_0, true, 576, Double.NaN, 0.0)))));
    }

    @Test
    void jsonRoundTripAndProxyCosts() throws Exception {
        SensitivityTable t = table();
        Path f = Files.writeString(dir.resolve("t.json"), t.toJson());
        SensitivityTable back = SensitivityTable.read(f);
        assertThat(back.toJson()).isEqualTo(t.toJson());
        TensorSensitivity a = back.tensor("a.weight");
        assertThat(back.cost(a, a.option("q4_0"))).isEqualTo(0.02);
        assertThat(back.cost(a, a.option("q8_0"))).isCloseTo(0.02 * 0.5 / 8.0, org.assertj.core.data.Offset.offset(1e-15));
        assertThat(back.cost(a, a.option("q4_0@lattice"))).isZero();
    }

    @Test
    void rankCorrelation() {
        assertThat(SensitivityTable.ranks(new double[] {3, 1, 2, 2})).containsExactly(4, 1, 2.5, 2.5);
        assertThat(SensitivityTable.pearson(new double[] {1, 2, 3}, new double[] {2, 4, 6})).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(SensitivityTable.pearson(new double[] {1, 2, 3}, new double[] {3, 2, 1})).isCloseTo(-1.0, org.assertj.core.data.Offset.offset(1e-12));
    }

    @Test
    void anotherJsonIsOneLineNamingTheFile() throws Exception {
        Path f = Files.writeString(dir.resolve("x.json"), "{\"model\": \"m\"}");
        assertThatThrownBy(() -> SensitivityTable.read(f)).isInstanceOf(FormatException.class).hasMessageContaining("x.json")
                .hasMessageContaining("not a sensitivity table");
        Path g = Files.writeString(dir.resolve("y.json"), "{not json");
        assertThatThrownBy(() -> SensitivityTable.read(g)).isInstanceOf(FormatException.class).hasMessageContaining("bad JSON");
    }
}
