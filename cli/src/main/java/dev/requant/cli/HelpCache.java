package dev.requant.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import picocli.CommandLine;

/**
 * `requant --help` from a file: the top-level help is the same for every run of one jar, but rendering it costs a
 * cold JVM half a second of picocli (building the model of the command and of every subcommand's name and
 * description). The ./requant launcher names a folder with -Drequant.help.cache (and empties it when the jar is
 * rebuilt); the first `--help` renders the text with and without ANSI styles into it, later ones print the file that
 * matches what picocli would choose. Without the property, or for anything but a bare --help / -h, picocli answers.
 */
final class HelpCache {
    private HelpCache() {}

    /** Prints the cached top-level help and returns true, or returns false when picocli must answer. */
    static boolean print(String[] args) {
        String dir = System.getProperty("requant.help.cache");
        if (dir == null || args.length != 1 || !(args[0].equals("--help") || args[0].equals("-h"))) return false;
        try {
            boolean ansi = CommandLine.Help.Ansi.AUTO.enabled();
            Path file = Path.of(dir, ansi ? "help.ansi" : "help.txt");
            if (!Files.isRegularFile(file)) {
                Files.createDirectories(file.getParent());
                write(Path.of(dir, "help.txt"), render(CommandLine.Help.Ansi.OFF));
                write(Path.of(dir, "help.ansi"), render(CommandLine.Help.Ansi.ON));
            }
            byte[] text = Files.readAllBytes(file);
            System.out.write(text);
            System.out.flush();
            return true;
        } catch (IOException | RuntimeException e) {
            return false; // no cache: picocli renders it as always
        }
    }

    /** The top-level usage as picocli prints it for --help. */
    static String render(CommandLine.Help.Ansi ansi) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8)) {
            CommandTree.forArgs("--help").usage(out, ansi);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    private static void write(Path file, String text) throws IOException {
        Path tmp = Files.createTempFile(file.getParent(), ".help", ".tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
