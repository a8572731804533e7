package dev.requant.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

/**
 * The indented JSON every {@code --json} option prints. Created on first use: picocli instantiates every subcommand at
 * start-up, and a mapper in a static field of each would load Jackson (a tenth of a second) for commands that never
 * print JSON.
 */
final class PrettyJson {
    private PrettyJson() {}

    private static final class Holder {
        static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    }

    static ObjectMapper mapper() { return Holder.MAPPER; }
}
