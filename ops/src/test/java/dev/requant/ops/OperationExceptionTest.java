package dev.requant.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.requant.cuda.CudaUnavailableException;
import dev.requant.formats.FormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.CancellationException;
import org.junit.jupiter.api.Test;

class OperationExceptionTest {
    @Test
    void libraryFailuresGetTheirType() {
        assertThat(OperationException.classify(new FormatException(Path.of("m.gguf"), "truncated"))).isInstanceOf(BadInputException.class)
                .hasMessage("m.gguf: truncated");
        assertThat(OperationException.classify(new NoSuchFileException("x.gguf"))).isInstanceOf(BadInputException.class)
                .hasMessage("x.gguf: no such file or directory");
        assertThat(OperationException.classify(new UncheckedIOException(new FormatException(Path.of("a"), "bad")))).isInstanceOf(BadInputException.class);
        assertThat(OperationException.classify(new IOException("No space left on device"))).isInstanceOf(EnvironmentException.class);
        assertThat(OperationException.classify(new CudaUnavailableException("no libcuda.so.1"))).isInstanceOf(EnvironmentException.class);
        assertThat(OperationException.classify(new CancellationException("cancelled"))).isInstanceOf(CancelledException.class);
        assertThat(OperationException.classify(new InterruptedException())).isInstanceOf(CancelledException.class);
        assertThat(OperationException.classify(new IllegalArgumentException("-c must be positive"))).isInstanceOf(BadInputException.class);
    }

    @Test
    void aBugStaysABug() {
        assertThat(OperationException.classify(new NullPointerException())).isNull();
        assertThatThrownBy(() -> OperationException.of(new NullPointerException("x"))).isInstanceOf(NullPointerException.class);
    }

    @Test
    void cancellationIsPolledFromTheContext() {
        boolean[] stop = {false};
        OperationContext ctx = new OperationContext(Progress.NONE, s -> { }, () -> stop[0]);
        ctx.checkCancelled();
        stop[0] = true;
        assertThatThrownBy(ctx::checkCancelled).isInstanceOf(CancellationException.class);
    }
}
