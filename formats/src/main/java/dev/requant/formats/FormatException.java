package dev.requant.formats;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file that does not follow its format. The message always names the file, and where the position is known, the
 * byte offset and the field that was being read, so a user can find the bad bytes with a hex dump.
 */
public final class FormatException extends IOException {
    private final Path file;
    private final long offset;
    private final String field;
    private final String problem;

    public FormatException(Path file, long offset, String field, String problem) {
        super(describe(file, offset, field, problem));
        this.file = file;
        this.offset = offset;
        this.field = field;
        this.problem = problem;
    }

    /** A problem that is about the file as a whole (no single byte offset). */
    public FormatException(Path file, String problem) {
        this(file, -1, null, problem);
    }

    public FormatException(Path file, String problem, Throwable cause) {
        this(file, -1, null, problem);
        initCause(cause);
    }

    private static String describe(Path file, long offset, String field, String problem) {
        StringBuilder sb = new StringBuilder();
        sb.append(file == null ? "<memory>" : file.toString()).append(": ").append(problem);
        if (offset >= 0 || field != null) {
            sb.append(" (");
            if (offset >= 0) sb.append("at byte ").append(offset);
            if (offset >= 0 && field != null) sb.append(", ");
            if (field != null) sb.append("field ").append(field);
            sb.append(')');
        }
        return sb.toString();
    }

    public Path file() { return file; }

    /** Byte offset of the problem, or -1 when it concerns the whole file. */
    public long offset() { return offset; }

    /** The field being read, or null. */
    public String field() { return field; }

    /** What is wrong, without the file and position. */
    public String problem() { return problem; }
}
