package dev.requant.testmodels.hostile;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The corpus of hostile inputs for requant's readers and commands (issue 18): malformed GGUF models, safetensors
 * files, Hugging Face folders, configs, imatrix files, and inputs that attack the machine (deep nesting, huge counts,
 * FIFOs, symlinks out of the model folder, backtracking regexes, terminal escapes). Every case is built from the valid
 * {@link BaseInputs} by one deterministic change, and says which commands must refuse it and with what message.
 *
 * <p>Used by the CLI test that runs every case in-process ({@code HostileCorpusTest}) and by {@code bench/hostile.sh},
 * which runs every case as a separate process, kills writers mid-write, and prints the counts per outcome. A new
 * reader adds its family here (a class like {@link SafetensorsCases}) and both pick it up.
 */
public final class HostileCorpus {
    private HostileCorpus() {}

    public static List<HostileCase> all(BaseInputs base) throws IOException {
        List<HostileCase> all = new ArrayList<>();
        all.addAll(EnvironmentCases.cases());
        all.addAll(TerminalCases.cases());
        all.addAll(SafetensorsCases.cases());
        all.addAll(CheckpointCases.cases());
        all.addAll(ImatrixCases.cases());
        all.addAll(GgufCases.cases(base));
        Set<String> ids = new HashSet<>();
        for (HostileCase c : all) {
            if (!ids.add(c.id())) throw new IllegalStateException("duplicate case id " + c.id());
        }
        return List.copyOf(all);
    }

    /** Writes a case's inputs into {@code dir} (created empty, with an empty {@code out} folder for the outputs). */
    public static Path materialize(HostileCase c, Path dir, BaseInputs base) throws IOException {
        java.nio.file.Files.createDirectories(dir.resolve("out"));
        c.setup().write(dir, base);
        return dir;
    }
}
