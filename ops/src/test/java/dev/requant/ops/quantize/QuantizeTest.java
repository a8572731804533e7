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
    void aTypeThisBuildCannotMakeIsRefusedBeforeTheInputIsRead() {
        Path missing = dir.resolve("never-read.gguf");
        for (FileType t : FileType.values()) {
            if (t.producible()) continue;
            assertThatThrownBy(() -> new Quantize().run(Quantize.Request.of(missing, dir.resolve("o.gguf"), t), OperationContext.quiet()))
                    .isInstanceOf(BadInputException.class).hasMessage(t.notProducibleMessage());
        }
        assertThat(dir.resolve("o.gguf")).doesNotExist();
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
