package dev.requant.formats.io;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The temporary files and folders requant writes outputs through ({@link AtomicFile}, the NVFP4 checkpoint writers):
 * hidden names beside the target that say who owns them, {@code .NAME.p<pid>@<host>.<random>[.<tag>].tmp-requant};
 * removal of this process's ones when it is stopped (SIGTERM, SIGINT/Ctrl-C: a shutdown hook); and removal of the
 * ones a process that no longer runs left behind (SIGKILL, a crash, a power cut), whenever a new one is made for the
 * same target.
 *
 * <p>A temporary file is only ever taken from a dead owner: its pid no longer runs on this host. Files of other
 * hosts (a shared network folder) and of live processes are left alone, whoever they are. Files named by older
 * requant versions ({@code .NAME.<random>.tmp-requant}, no owner) are removed once untouched for
 * {@link #LEGACY_IDLE} (a live writer writes continuously).
 */
public final class TemporaryFiles {
    private TemporaryFiles() {}

    /** Suffix of every temporary file and folder. */
    public static final String SUFFIX = ".tmp-requant";

    /** How long an owner-less temporary file of an older requant must be untouched before it is swept. */
    public static final Duration LEGACY_IDLE = Duration.ofHours(1);

    private static final long PID = ProcessHandle.current().pid();
    private static final String HOST = host();
    private static final Pattern OWNED = Pattern.compile("p(\\d+)@([A-Za-z0-9-]*)\\.[0-9a-f]+(\\.[a-z0-9]+)?" + Pattern.quote(SUFFIX));
    private static final Pattern LEGACY = Pattern.compile("[0-9a-f]+(\\.[a-z0-9]+)?" + Pattern.quote(SUFFIX));

    private static final Set<Path> LIVE = ConcurrentHashMap.newKeySet();
    private static volatile boolean hookInstalled;

    /** A fresh temporary name beside {@code target} (absolute), owned by this process; {@code tag} may be null. */
    public static Path beside(Path target, String tag) {
        Path abs = target.toAbsolutePath();
        String name = "." + abs.getFileName() + ".p" + PID + "@" + HOST + "." + Long.toHexString(ThreadLocalRandom.current().nextLong())
                + (tag == null ? "" : "." + tag) + SUFFIX;
        Path dir = abs.getParent();
        return dir == null ? Path.of(name) : dir.resolve(name);
    }

    /** Removes {@code temp} (a file, or a folder and everything in it) if this process is stopped before {@link #release}. */
    public static void register(Path temp) {
        installHook();
        LIVE.add(temp.toAbsolutePath());
    }

    /** {@code temp} was renamed into place or deleted: the shutdown hook no longer touches it. */
    public static void release(Path temp) {
        LIVE.remove(temp.toAbsolutePath());
    }

    /**
     * Removes the temporary files and folders of {@code target} whose owner no longer runs on this host (and unowned
     * ones of older versions that have been idle for {@link #LEGACY_IDLE}); returns how many. Never throws: a file that
     * cannot be removed stays for the next run.
     */
    public static int sweepStale(Path target) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null || !Files.isDirectory(dir)) return 0;
        String prefix = "." + abs.getFileName() + ".";
        int n = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, p -> {
            String f = p.getFileName().toString();
            return f.startsWith(prefix) && f.endsWith(SUFFIX);
        })) {
            for (Path p : ds) {
                String rest = p.getFileName().toString().substring(prefix.length());
                if (stale(p, rest) && delete(p)) n++;
            }
        } catch (IOException | RuntimeException ignored) {
            // an unreadable folder: the writer's own create reports what matters
        }
        return n;
    }

    private static boolean stale(Path p, String rest) throws IOException {
        Matcher m = OWNED.matcher(rest);
        if (m.matches()) {
            if (!m.group(2).equals(HOST)) return false;
            long pid = Long.parseLong(m.group(1));
            return pid != PID && !alive(pid);
        }
        if (LEGACY.matcher(rest).matches() && Files.isRegularFile(p)) {
            Instant modified = Files.getLastModifiedTime(p).toInstant();
            return modified.isBefore(Instant.now().minus(LEGACY_IDLE));
        }
        return false;
    }

    private static boolean alive(long pid) {
        Optional<ProcessHandle> h = ProcessHandle.of(pid);
        return h.isPresent() && h.get().isAlive();
    }

    private static synchronized void installHook() {
        if (hookInstalled) return;
        Thread hook = new Thread(() -> {
            for (Path p : LIVE) delete(p);
        }, "requant-remove-temporary-files");
        Runtime.getRuntime().addShutdownHook(hook);
        hookInstalled = true;
    }

    /** Deletes a file, or a folder with its contents; false when nothing was removed. */
    static boolean delete(Path p) {
        try {
            if (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                try (Stream<Path> s = Files.walk(p)) {
                    for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
                }
                return true;
            }
            return Files.deleteIfExists(p);
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** This host's name as it goes into temporary names: letters, digits and '-', at most 32 characters. */
    private static String host() {
        String h = null;
        try {
            h = Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        if (h == null || h.isEmpty()) h = System.getenv("HOSTNAME");
        if (h == null || h.isEmpty()) h = "localhost";
        h = h.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9-]", "-");
        return h.length() > 32 ? h.substring(0, 32) : h;
    }

    /** This process's owner tag, {@code p<pid>@<host>} (tests). */
    static String owner() { return "p" + PID + "@" + HOST; }
}
