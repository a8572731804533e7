package dev.requant.testmodels;

import dev.requant.llamacpp.LlamaCppEngine;
import org.opentest4j.TestAbortedException;

/**
 * The real llama.cpp for tests ({@link LlamaCppEngine}). {@link #forTests()} skips the calling test with a visible
 * reason when node or the package is missing, unless the environment variable {@value #REQUIRE_ENV} is set (test.sh
 * sets it, so CI cannot skip silently): then a missing llama.cpp fails the test.
 */
public final class LlamaCppProbe {
    public static final String REQUIRE_ENV = "REQUANT_REQUIRE_INTEROP";

    private LlamaCppProbe() {}

    /** The engine, or a skipped test (a failed one when {@value #REQUIRE_ENV} is set). */
    public static LlamaCppEngine forTests() {
        LlamaCppEngine.Availability a = LlamaCppEngine.find();
        if (a.engine() != null) return a.engine();
        String env = System.getenv(REQUIRE_ENV);
        if (env != null && !env.isEmpty() && !env.equals("0")) {
            throw new AssertionError("llama.cpp interop is required (" + REQUIRE_ENV + "=" + env + ") but unavailable: " + a.reason());
        }
        throw new TestAbortedException("llama.cpp interop not available: " + a.reason());
    }
}
