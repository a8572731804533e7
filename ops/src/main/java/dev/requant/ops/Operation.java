package dev.requant.ops;

/**
 * One use case of requant (convert, quantize, collect an imatrix, evaluate, ...): a typed request in, a typed result
 * out. The CLI parses arguments into the request and prints the result; the queue's executors and the tests build
 * requests directly, so nothing goes through an argv.
 *
 * <p>Failures are typed ({@link OperationException}): {@link BadInputException} (the input or the request is wrong;
 * repeating it cannot help), {@link EnvironmentException} (I/O, a full disk, no GPU: may be retried) and
 * {@link CancelledException}. Any other exception is a bug.
 */
@FunctionalInterface
public interface Operation<Q, R> {
    R run(Q request, OperationContext context) throws OperationException;
}
