package dev.requant.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class HelpCacheTest {
    @Test
    void theCachedHelpIsWhatPicocliPrints(@TempDir Path dir) throws Exception {
        CliRun live = CliRun.of("--help");
        assertThat(HelpCache.render(CommandLine.Help.Ansi.OFF)).isEqualTo(live.out());
        assertThat(HelpCache.render(CommandLine.Help.Ansi.ON)).contains("\u001b[").isNotEqualTo(live.out())
                .satisfies(s -> assertThat(s.replaceAll("\u001b\\[[0-9;]*m", "")).isEqualTo(live.out()));

        String saved = System.getProperty("requant.help.cache");
        PrintStream out = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setProperty("requant.help.cache", dir.resolve("cache").toString());
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            assertThat(HelpCache.print(new String[] {"--help"})).isTrue();  // renders and stores
            assertThat(HelpCache.print(new String[] {"-h"})).isTrue();      // from the file
            assertThat(HelpCache.print(new String[] {"quantize", "--help"})).isFalse();
            assertThat(HelpCache.print(new String[] {})).isFalse();
        } finally {
            System.setOut(out);
            if (saved == null) System.clearProperty("requant.help.cache"); else System.setProperty("requant.help.cache", saved);
        }
        assertThat(Files.list(dir.resolve("cache")).map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("help.txt", "help.ansi");
        String once = Files.readString(dir.resolve("cache/help.txt"));
        assertThat(once).isEqualTo(live.out());
        assertThat(buf.toString(StandardCharsets.UTF_8).replaceAll("\u001b\\[[0-9;]*m", "")).isEqualTo(once + once);
    }
}
