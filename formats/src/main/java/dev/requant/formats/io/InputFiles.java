package dev.requant.formats.io;

import dev.requant.formats.FormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The files requant reads must be regular files. Opening a FIFO for reading blocks until someone writes to it (forever,
 * for a FIFO planted in a model folder), and a device such as /dev/zero never ends; a folder is not what was meant.
 * These checks come before any open, and an optional file (a tokenizer_config.json, a model card) that exists but is
 * not a regular file is an error too, not silently skipped.
 */
public final class InputFiles {
    private InputFiles() {}

    /** Fails unless {@code file} exists and is a regular file (symbolic links followed). */
    public static void requireRegular(Path file, String kind) throws IOException {
        if (!Files.exists(file)) throw new NoSuchFileException(file.toString(), null, "no such " + kind);
        if (Files.isDirectory(file)) throw new FormatException(file, "is a directory, not a " + kind);
        if (!Files.isRegularFile(file)) throw notRegular(file, kind);
    }

    /** Whether an optional input exists: false when it does not, true for a regular file, an error for anything else. */
    public static boolean present(Path file, String kind) throws IOException {
        if (!Files.exists(file)) return false;
        if (!Files.isRegularFile(file)) throw notRegular(file, kind);
        return true;
    }

    private static FormatException notRegular(Path file, String kind) {
        return new FormatException(file, "is not a regular file (a FIFO, device or socket?); requant reads a " + kind + " only from a regular file");
    }

    /** The largest text file read whole (a calibration text, a model card, a chat template); docs/limits.md. */
    public static final long MAX_TEXT_BYTES = 1L << 30;

    /** A whole file of at most {@code maxBytes}, which must be regular. */
    public static byte[] readAll(Path file, String kind, long maxBytes) throws IOException {
        requireRegular(file, kind);
        long size = Files.size(file);
        if (size > maxBytes) {
            throw new FormatException(file, "is " + size + " bytes; requant reads a " + kind + " of at most " + (maxBytes >> 20) + " MiB");
        }
        return Files.readAllBytes(file);
    }

    /** A whole text file, which must be regular and valid UTF-8 (the error gives the byte offset of the first bad byte). */
    public static String readText(Path file, String kind) throws IOException {
        byte[] b = readAll(file, kind, MAX_TEXT_BYTES);
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(b);
        try {
            return utf8.decode(in).toString();
        } catch (CharacterCodingException e) {
            throw new FormatException(file, in.position(), null, "is not valid UTF-8 text");
        }
    }
}
