package dev.requant.ops;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;

/**
 * The checks every operation makes on its output paths before it starts working, so that a long run never ends in
 * "no such folder": the folder exists and is writable, a file output is not a folder, and no output is one of the
 * inputs.
 */
public final class OutputPaths {
    private OutputPaths() {}

    /** A file the operation will write (atomically, beside its final name). */
    public static void checkFile(Path output, Collection<Path> inputs) throws BadInputException {
        if (output == null) return;
        if (Files.isDirectory(output)) throw new BadInputException(output + ": is a folder; give the output file name");
        checkParent(output);
        for (Path in : inputs) {
            if (in != null && same(in, output)) throw new BadInputException(output + ": is also an input; choose another output");
        }
    }

    public static void checkFile(Path output, Path... inputs) throws BadInputException {
        checkFile(output, java.util.Arrays.stream(inputs).filter(java.util.Objects::nonNull).toList());
    }

    /** A folder the operation will create (or fill, when it exists and is empty). */
    public static void checkNewFolder(Path output) throws BadInputException {
        if (Files.exists(output)) {
            if (!Files.isDirectory(output)) throw new BadInputException(output + ": exists and is not a folder; choose a new output");
            try (var s = Files.list(output)) {
                if (s.findAny().isPresent()) throw new BadInputException(output + ": exists and is not empty; choose a new output");
            } catch (IOException e) {
                throw new BadInputException(output + ": cannot be read (" + e.getMessage() + ")", e);
            }
        }
        checkParent(output);
    }

    private static void checkParent(Path output) throws BadInputException {
        Path parent = output.toAbsolutePath().normalize().getParent();
        if (parent == null) return;
        if (!Files.isDirectory(parent)) throw new BadInputException(output + ": folder " + parent + " does not exist");
        if (!Files.isWritable(parent)) throw new BadInputException(output + ": folder " + parent + " is not writable");
    }

    private static boolean same(Path a, Path b) {
        try {
            if (Files.exists(a) && Files.exists(b)) return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
        return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
    }
}
