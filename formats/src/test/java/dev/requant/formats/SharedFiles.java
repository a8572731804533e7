package dev.requant.formats;

import java.nio.file.Path;

/**
 * The golden files for this module's tests. formats sits below testmodels (which has the full locator), so it reads
 * the location the build passes as the system property requant.shared.
 */
public final class SharedFiles {
    private SharedFiles() {}

    public static Path golden(String relative) {
        String shared = System.getProperty("requant.shared");
        if (shared == null) throw new IllegalStateException("run through Maven: requant.shared is not set");
        return Path.of(shared, "golden").resolve(relative);
    }
}
