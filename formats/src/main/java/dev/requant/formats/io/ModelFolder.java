package dev.requant.formats.io;

import dev.requant.formats.FormatException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model folder's files stay in the folder. A file in it that is a symbolic link to somewhere else is refused, so a
 * downloaded folder cannot make requant read (and quote in an error message) a file of the user's that has nothing to
 * do with the model, such as a shard linked to ~/.ssh/id_rsa. One layout is allowed because it is how models arrive:
 * the Hugging Face cache, whose {@code snapshots/<revision>/} files link to {@code ../../blobs/<hash>}.
 */
public final class ModelFolder {
    private ModelFolder() {}

    /** Fails on the first file of {@code dir} that links out of it (dangling links are left to the readers). */
    public static void checkLinks(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return;
        Path real = dir.toRealPath();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, Files::isSymbolicLink)) {
            for (Path link : ds) checkInside(dir, real, link);
        }
    }

    /** Fails unless {@code file} (a file named by the folder, say by its index) lies in {@code dir} or its hub blobs. */
    public static void checkInside(Path dir, Path file) throws IOException {
        checkInside(dir, dir.toRealPath(), file);
    }

    private static void checkInside(Path dir, Path realDir, Path file) throws IOException {
        Path target;
        try {
            target = file.toRealPath();
        } catch (IOException dangling) {
            return;  // the reader reports it as missing
        }
        if (Files.isDirectory(target)) return;
        if (target.startsWith(realDir)) return;
        Path blobs = hubBlobs(realDir);
        if (blobs != null && target.startsWith(blobs)) return;
        throw new FormatException(file, "is a symbolic link to " + target + ", outside the model folder " + dir
                + "; requant does not follow such links (copy the file into the folder)");
    }

    /** {@code .../models--org--name/blobs} for a Hugging Face cache snapshot folder, else null. */
    private static Path hubBlobs(Path realDir) {
        Path snapshots = realDir.getParent();
        if (snapshots == null || snapshots.getFileName() == null || !snapshots.getFileName().toString().equals("snapshots")) return null;
        Path repo = snapshots.getParent();
        return repo == null ? null : repo.resolve("blobs");
    }
}
