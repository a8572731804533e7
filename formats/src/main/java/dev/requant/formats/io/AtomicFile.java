package dev.requant.formats.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * An output file that only appears under its name once it is complete: bytes go to a hidden temporary file beside
 * the target, {@link #commit()} syncs it and renames it over the target, and {@link #close()} without a commit deletes
 * it. A crash at any point leaves either the old target or the new one, never a half-written file; and no temporary
 * file outlives its process for long: it is removed when the process is stopped (SIGTERM, Ctrl-C), and one left by a
 * killed process is removed by the next writer of the same target ({@link TemporaryFiles}).
 */
public final class AtomicFile implements AutoCloseable {
    /** Suffix of the temporary files, so stale ones from a killed process are recognisable. */
    public static final String TEMP_SUFFIX = TemporaryFiles.SUFFIX;

    private final Path target;
    private final Path temp;
    private final FileChannel channel;
    private boolean committed;
    private volatile boolean closed;
    /** Whether a {@link #writeBackInBackground} flush is running. */
    private final java.util.concurrent.atomic.AtomicBoolean flushing = new java.util.concurrent.atomic.AtomicBoolean();

    private AtomicFile(Path target, Path temp, FileChannel channel) {
        this.target = target;
        this.temp = temp;
        this.channel = channel;
    }

    public static AtomicFile create(Path target) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null && !Files.isDirectory(dir)) {
            throw new IOException(target + ": output directory " + dir + " does not exist");
        }
        if (Files.isDirectory(abs)) throw new IOException(target + ": is a directory");
        TemporaryFiles.sweepStale(abs);
        Path temp = TemporaryFiles.beside(abs, null);
        TemporaryFiles.register(temp);
        try {
            FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.READ);
            return new AtomicFile(abs, temp, ch);
        } catch (IOException | RuntimeException e) {
            TemporaryFiles.release(temp);
            throw e;
        }
    }

    public Path target() { return target; }

    public Path tempPath() { return temp; }

    /** The channel to write through; it belongs to this object and is closed by commit or close. */
    public FileChannel channel() { return channel; }

    /**
     * Starts flushing what has been written so far to the device on a daemon thread, unless a flush is still running.
     * A large output then reaches the disk while the rest of it is still being computed, and {@link #commit()}'s sync
     * waits only for the tail: without it the kernel kept a whole conversion's output (0.6 GB) dirty in the page cache
     * until the commit, which then waited 0.35 s or more with nothing else to do. Safety does not depend on it: the
     * commit syncs everything again, and a failure here (the file closed meanwhile) is left for the commit to meet.
     */
    public void writeBackInBackground() {
        if (closed || !flushing.compareAndSet(false, true)) return;
        Thread.ofPlatform().daemon().name("requant-writeback").start(() -> {
            try {
                if (!closed) channel.force(false);
            } catch (IOException | RuntimeException ignored) {
                // closed while flushing, or a device error that the commit's own sync reports
            } finally {
                flushing.set(false);
            }
        });
    }

    /** Flushes the data to the device, renames the file into place, and syncs the directory entry. */
    public void commit() throws IOException {
        if (closed) throw new IllegalStateException("already closed");
        channel.force(true);
        channel.close();
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
        }
        TemporaryFiles.release(temp);
        committed = true;
        closed = true;
        syncDirectory(target.getParent());
    }

    /**
     * Publishes a complete file written by someone else (e.g. a step executor) under its final name the same way
     * {@link #commit()} does: syncs its data, renames it over {@code target} atomically, syncs the directory.
     */
    public static void moveIntoPlace(Path complete, Path target) throws IOException {
        try (FileChannel ch = FileChannel.open(complete, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        Path abs = target.toAbsolutePath();
        try {
            Files.move(complete, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(complete, abs, StandardCopyOption.REPLACE_EXISTING);
        }
        syncDirectory(abs.getParent());
    }

    private static void syncDirectory(Path dir) {
        if (dir == null) return;
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // Not every file system lets a directory be opened for sync; the rename is still atomic.
        }
    }

    public boolean committed() { return committed; }

    @Override
    public void close() throws IOException {
        if (closed) return;
        closed = true;
        try {
            channel.close();
        } finally {
            Files.deleteIfExists(temp);
            TemporaryFiles.release(temp);
        }
    }
}
