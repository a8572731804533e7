package dev.requant.ops.quantize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.formats.gguf.FileType;
import dev.requant.ops.BadInputException;
import dev.requant.ops.OperationContext;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QuantizeTest {
    @TempDir
    Path dir;

    @Test
    void theTableSaysThisBuildMakesEveryLlamaQuantizeType() {
        // a row set back to not producible is refused before the input is read, with the one line below
        for (FileType t : FileType.values()) assertThat(t.producible()).as(t.name()).isTrue();
        assertThat(FileType.IQ2_XXS.notProducibleMessage()).startsWith("IQ2_XXS cannot be made by this build of requant (it can make Q1_0, ");
    }

    @Test
    void outputFolderIsCheckedBeforeWork() throws Exception {
        Path in = Files.writeString(dir.resolve("in.gguf"), "not read");
        assertThatThrownBy(() -> new Quantize().run(Quantize.Request.of(in, dir.resolve("nodir/o.gguf"), FileType.Q8_0), OperationContext.quiet()))
                .isInstanceOf(BadInputException.class).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> new Quantize().run(Quantize.Request.of(in, in, FileType.Q8_0), OperationContext.quiet()))
                .isInstanceOf(BadInputException.class).hasMessageContaining("is also an input");
    }
}
