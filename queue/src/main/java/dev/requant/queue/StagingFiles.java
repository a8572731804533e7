package dev.requant.queue;

import dev.requant.formats.io.AtomicFile;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a step's executor writes before the queue publishes the result: {@code .NAME.stepID.tmp-requant} beside the
 * final output (hidden, and with {@link AtomicFile#TEMP_SUFFIX} so it is recognisable as debris after a crash). The
 * name is fixed per step, so the next holder of the step's lease finds and removes what a dead worker left.
 */
final class StagingFiles {
    private StagingFiles() {}

    static Path stagingFor(Path output, long stepId) {
        return output.resolveSibling("." + output.getFileName() + ".step" + stepId + AtomicFile.TEMP_SUFFIX);
    }

    /**
     * Deletes the staging file of this step and the temporary files of writers that wrote it through AtomicFile
     * ({@code .<staging name>.<random>.tmp-requant}). Only the lease holder calls this, so nothing live is removed.
     */
    static int removeDebris(Path output, long stepId) throws IOException {
        Path staging = stagingFor(output, stepId);
        Path dir = staging.getParent();
        if (dir == null || !Files.isDirectory(dir)) return 0;
        String name = staging.getFileName().toString();
        int n = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String f = p.getFileName().toString();
                boolean mine = f.equals(name) || (f.startsWith("." + name + ".") && f.endsWith(AtomicFile.TEMP_SUFFIX));
                if (mine && Files.deleteIfExists(p)) n++;
            }
        }
        return n;
    }
}
