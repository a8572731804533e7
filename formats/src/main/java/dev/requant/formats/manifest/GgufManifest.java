package dev.requant.formats.manifest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufTensorInfo;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufValueType;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * A GGUF file described as JSON in the schema of the golden manifests (../shared/golden/llamacpp/*.manifest.json):
 * every key with its type and value, long arrays as length + SHA-256 of their Python JSON + first 8 values, and per
 * tensor its name, type, dims, offset, size, first 72 bytes and (optionally) SHA-256. requant's output can therefore
 * be diffed against llama.cpp's key by key and tensor by tensor.
 */
public final class GgufManifest {
    public static final int ARRAY_HEAD = 8;
    public static final int TENSOR_HEAD_BYTES = 72;
    private static final ObjectMapper JSON = new ObjectMapper();

    private GgufManifest() {}

    /**
     * @param hash compute SHA-256 of every tensor and of the whole file (reads all data)
     * @param fullArrays write arrays in full as "values" instead of length/hash/head
     */
    public static ObjectNode of(GgufFile f, boolean hash, boolean fullArrays) {
        ObjectNode root = JSON.createObjectNode();
        root.put("file", f.path() == null ? null : f.path().toString());
        if (hash) root.put("file_sha256", sha256(f.mapping()));
        root.put("file_size", f.fileSize());
        root.put("alignment", f.alignment());
        root.put("data_offset", f.dataOffset());
        ObjectNode kv = root.putObject("kv");
        kv.set("GGUF.version", scalar("UINT32", JSON.getNodeFactory().numberNode(f.version())));
        kv.set("GGUF.tensor_count", scalar("UINT64", JSON.getNodeFactory().numberNode(f.tensors().size())));
        kv.set("GGUF.kv_count", scalar("UINT64", JSON.getNodeFactory().numberNode(f.metadata().size())));
        for (var e : f.metadata().asMap().entrySet()) kv.set(e.getKey(), value(e.getValue(), fullArrays));
        ArrayNode tensors = root.putArray("tensors");
        for (GgufTensorInfo t : f.tensors()) {
            ObjectNode n = tensors.addObject();
            n.put("name", t.name());
            n.put("type", t.type().name());
            n.put("type_id", t.type().id());
            ArrayNode ne = n.putArray("ne");
            for (long d : t.ne()) ne.add(d);
            n.put("offset", t.offset());
            n.put("n_bytes", t.byteSize());
            MemorySegment data = f.tensorData(t);
            if (hash) n.put("sha256", sha256(data));
            byte[] head = data.asSlice(0, Math.min(TENSOR_HEAD_BYTES, data.byteSize())).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            n.put("head_hex", HexFormat.of().formatHex(head));
        }
        return root;
    }

    private static ObjectNode scalar(String type, JsonNode value) {
        ObjectNode n = JSON.createObjectNode();
        n.put("type", type);
        n.set("value", value);
        return n;
    }

    static ObjectNode value(GgufValue v, boolean fullArrays) {
        if (v.type() != GgufValueType.ARRAY) return scalar(v.type().name(), scalarNode(v.type(), v.value()));
        GgufArray a = v.asArray();
        ObjectNode n = JSON.createObjectNode();
        n.put("array_of", a.elementType().name());
        if (fullArrays) {
            ArrayNode values = n.putArray("values");
            for (int i = 0; i < a.length(); i++) values.add(element(a, i));
            return n;
        }
        n.put("len", a.length());
        n.put("sha256", arraySha256(a));
        ArrayNode head = n.putArray("head");
        for (int i = 0; i < Math.min(ARRAY_HEAD, a.length()); i++) head.add(element(a, i));
        return n;
    }

    private static JsonNode element(GgufArray a, int i) {
        if (a.elementType() == GgufValueType.ARRAY) {
            ArrayNode inner = JSON.createArrayNode();
            GgufArray x = a.arrays()[i];
            for (int j = 0; j < x.length(); j++) inner.add(element(x, j));
            return inner;
        }
        return scalarNode(a.elementType(), a.get(i));
    }

    private static JsonNode scalarNode(GgufValueType type, Object v) {
        var nf = JSON.getNodeFactory();
        return switch (type) {
            case UINT64 -> nf.numberNode(new java.math.BigInteger(Long.toUnsignedString((Long) v)));
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, INT64 -> nf.numberNode((Long) v);
            case FLOAT32 -> nf.numberNode((double) (Float) v); // gguf-py widens to a Python float
            case FLOAT64 -> nf.numberNode((Double) v);
            case BOOL -> nf.booleanNode((Boolean) v);
            case STRING -> nf.textNode((String) v);
            case ARRAY -> throw new IllegalArgumentException("array");
        };
    }

    /** SHA-256 of {@code json.dumps(values)} as the golden manifests compute it. */
    public static String arraySha256(GgufArray a) {
        StringBuilder sb = new StringBuilder(a.length() * 8 + 2);
        appendPython(sb, a);
        MessageDigest md = sha();
        return HexFormat.of().formatHex(md.digest(sb.toString().getBytes(StandardCharsets.US_ASCII)));
    }

    private static void appendPython(StringBuilder sb, GgufArray a) {
        sb.append('[');
        for (int i = 0; i < a.length(); i++) {
            if (i > 0) sb.append(", ");
            switch (a.elementType()) {
                case STRING -> PythonJson.appendString(sb, a.strings()[i]);
                case FLOAT32 -> sb.append(PythonJson.repr(a.floats()[i]));
                case FLOAT64 -> sb.append(PythonJson.repr(a.doubles()[i]));
                case BOOL -> sb.append(a.bools()[i] ? "true" : "false");
                case ARRAY -> appendPython(sb, a.arrays()[i]);
                case UINT64 -> sb.append(Long.toUnsignedString(a.longs()[i]));
                default -> sb.append(a.get(i));
            }
        }
        sb.append(']');
    }

    public static String sha256(MemorySegment data) {
        MessageDigest md = sha();
        final long chunk = 1 << 24;
        for (long off = 0; off < data.byteSize(); off += chunk) {
            md.update(data.asSlice(off, Math.min(chunk, data.byteSize() - off)).asByteBuffer());
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static MessageDigest sha() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
