package dev.requant.formats.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.io.IOException;

/**
 * JSON text as Jackson's tree ({@link JsonNode}), read by jackson-core's streaming parser and built with
 * {@link JsonNodeFactory}: the tree {@code ObjectMapper.readTree} builds with its default settings (integers as int,
 * long or BigInteger nodes, other numbers as doubles, a repeated key's last value, no input at all a
 * {@link MissingNode}), without an ObjectMapper. A conversion reads a few JSON files before its first tensor, and
 * there an ObjectMapper cost 40-50 ms of class initialisation (its default date format) and its tree deserializer
 * about as much again of a JVM that has compiled nothing yet (BENCHMARKS.md, "Start-up of the QAT conversion").
 */
public final class JsonTree {
    private JsonTree() {}

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final JsonFactory LENIENT = new JsonFactory();
    /** For safetensors headers, as strict as the reference library: no repeated key, nothing after the value. */
    private static final JsonFactory STRICT = JsonFactory.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    public static JsonNode read(File file) throws IOException {
        try (JsonParser p = LENIENT.createParser(file)) {
            return root(p, false);
        }
    }

    /** One JSON value and nothing after it (spaces aside); a key given twice in an object is an error. */
    public static JsonNode readStrict(byte[] json) throws IOException {
        try (JsonParser p = STRICT.createParser(json)) {
            return root(p, true);
        }
    }

    private static JsonNode root(JsonParser p, boolean alone) throws IOException {
        JsonToken t = p.nextToken();
        if (t == null) return MissingNode.getInstance();
        JsonNode v = value(p, t);
        if (alone && (t = p.nextToken()) != null) throw new JsonParseException(p, "Trailing token (of type " + t + ") found after value");
        return v;
    }

    private static JsonNode value(JsonParser p, JsonToken t) throws IOException {
        if (t == null) throw new JsonParseException(p, "Unexpected end-of-input");
        return switch (t) {
            case START_OBJECT -> object(p);
            case START_ARRAY -> array(p);
            case VALUE_STRING -> NODES.textNode(p.getText());
            case VALUE_NUMBER_INT -> switch (p.getNumberType()) {
                case INT -> NODES.numberNode(p.getIntValue());
                case LONG -> NODES.numberNode(p.getLongValue());
                default -> NODES.numberNode(p.getBigIntegerValue());
            };
            case VALUE_NUMBER_FLOAT -> NODES.numberNode(p.getDoubleValue());
            case VALUE_TRUE -> NODES.booleanNode(true);
            case VALUE_FALSE -> NODES.booleanNode(false);
            case VALUE_NULL -> NODES.nullNode();
            default -> throw new JsonParseException(p, "Unexpected token (" + t + ")");
        };
    }

    private static ObjectNode object(JsonParser p) throws IOException {
        ObjectNode o = NODES.objectNode();
        for (String name = p.nextFieldName(); name != null; name = p.nextFieldName()) o.set(name, value(p, p.nextToken()));
        return o;
    }

    private static ArrayNode array(JsonParser p) throws IOException {
        ArrayNode a = NODES.arrayNode();
        for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) a.add(value(p, t));
        return a;
    }
}
