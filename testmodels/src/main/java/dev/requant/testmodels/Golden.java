package dev.requant.testmodels;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the shared golden files are: ../shared/golden beside the checkout. The build passes the location as the
 * system property {@code requant.shared}; otherwise the folders above the working directory are searched, so a test
 * run from an IDE finds it too. Tests read the files in place and never copy them into the project.
 */
public final class Golden {
    private Golden() {}

    public static Path shared() {
        String prop = System.getProperty("requant.shared");
        if (prop != null && Files.isDirectory(Path.of(prop, "golden"))) return Path.of(prop).normalize();
        String env = System.getenv("REQUANT_SHARED");
        if (env != null && Files.isDirectory(Path.of(env, "golden"))) return Path.of(env).normalize();
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path s = p.resolveSibling("shared");
            if (Files.isDirectory(s.resolve("golden"))) return s;
        }
        throw new IllegalStateException("../shared/golden not found (set -Drequant.shared or REQUANT_SHARED)");
    }

    public static Path root() { return shared().resolve("golden"); }

    /** A Hugging Face checkpoint folder under golden/hf, e.g. "gemma3-tiny". */
    public static Path hf(String name) { return root().resolve("hf").resolve(name); }

    /** A llama.cpp output under golden/llamacpp, e.g. "gemma3-tiny.bf16.manifest.json". */
    public static Path llamacpp(String name) { return root().resolve("llamacpp").resolve(name); }

    public static Path text(String name) { return root().resolve("text").resolve(name); }

    /** The project checkout (the build passes it as requant.root). */
    public static Path projectRoot() {
        String prop = System.getProperty("requant.root");
        if (prop != null) return Path.of(prop);
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("requant")) && Files.isRegularFile(p.resolve("pom.xml"))) return p;
        }
        throw new IllegalStateException("project root not found");
    }
}
