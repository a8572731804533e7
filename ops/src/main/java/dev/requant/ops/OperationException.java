package dev.requant.ops;

import dev.requant.converter.quantize.QuantizeException;
import dev.requant.converter.quantize.QuantizePolicyException;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.formats.FormatException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.concurrent.CancellationException;

/**
 * Why an operation did not finish, typed by what the caller should do about it: {@link BadInputException} (fix the
 * input; never retried), {@link EnvironmentException} (the machine: I/O, a full disk, no GPU; may be retried) or
 * {@link CancelledException}. The message is one line for the user, naming the file where there is one.
 */
public abstract sealed class OperationException extends Exception
        permits BadInputException, EnvironmentException, CancelledException {
    protected OperationException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * The typed form of what a library threw. Bad files ({@link FormatException}), missing or unreadable inputs and
     * invalid requests ({@link IllegalArgumentException} from the libraries' checks) are bad input; other I/O and an
     * unusable GPU are the environment; cancellation and interrupts are cancellation. Anything else is not an
     * operation failure but a bug, and is returned as it is (as an {@link IllegalStateException} wrapping it when it is
     * checked).
     */
    public static OperationException classify(Throwable t) {
        if (t instanceof UncheckedIOException u && u.getCause() != null) t = u.getCause();
        return switch (t) {
            case OperationException o -> o;
            case CancellationException c -> new CancelledException(c.getMessage() == null ? "cancelled" : c.getMessage(), c);
            case InterruptedException i -> new CancelledException("interrupted", i);
            case ClosedByInterruptException c -> new CancelledException("interrupted", c);
            case InterruptedIOException i -> new CancelledException("interrupted", i);
            case FormatException f -> new BadInputException(f.getMessage(), f);
            case QuantizeException q -> new BadInputException(q.getMessage(), q);
            case QuantizePolicyException q -> new BadInputException(q.getMessage(), q);
            case NoSuchFileException n -> new BadInputException(n.getFile() + ": no such file or directory", n);
            case AccessDeniedException a -> new BadInputException(a.getFile() + ": permission denied", a);
            case FileAlreadyExistsException f -> new BadInputException(f.getFile() + ": already exists", f);
            case NotDirectoryException n -> new BadInputException(n.getFile() + ": not a folder", n);
            case CudaUnavailableException c -> new EnvironmentException(c.getMessage(), c);
            case IOException io -> new EnvironmentException(io.getMessage() == null ? io.toString() : io.getMessage(), io);
            case IllegalArgumentException i -> new BadInputException(i.getMessage(), i);
            default -> null;
        };
    }

    /** {@link #classify}, or the throwable itself rethrown when it is a bug. */
    public static OperationException of(Throwable t) {
        OperationException o = classify(t);
        if (o != null) return o;
        if (t instanceof RuntimeException r) throw r;
        if (t instanceof Error e) throw e;
        throw new IllegalStateException(t);
    }
}
