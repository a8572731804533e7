package dev.requant.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.nvfp4.Fp8Linear;
import dev.requant.formats.nvfp4.Nvfp4Checkpoint;
import dev.requant.formats.nvfp4.QuantizationConfig;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** What inspect says about a pre-quantized folder: the declaration and the NVFP4 / FP8 weights found, by scale granularity. */
record QuantizedSummary(QuantizationConfig config, int nvfp4, int expertGroups, int experts, Map<String, Integer> fp8, int auxiliary) {
    /** The summary, or null for a float checkpoint. */
    static QuantizedSummary of(Path dir, SafetensorsCheckpoint ck) throws IOException {
        QuantizationConfig qc = QuantizationConfig.read(dir);
        if (qc.kind() == QuantizationConfig.Kind.NONE) return null;
        Nvfp4Checkpoint q = Nvfp4Checkpoint.scan(ck, qc);
        Map<String, Integer> fp8 = new TreeMap<>();
        for (Fp8Linear f : q.fp8().values()) {
            String g = f.granularity().name().toLowerCase(Locale.ROOT) + (f.blockRows() > 0 ? " " + f.blockRows() + "x" + f.blockCols() : "");
            fp8.merge(f.dtype().name() + " " + g, 1, Integer::sum);
        }
        int experts = q.experts().stream().mapToInt(dev.requant.formats.nvfp4.Nvfp4Experts::count).sum();
        return new QuantizedSummary(qc, q.nvfp4().size(), q.experts().size(), experts, fp8, q.auxiliaryNames().size());
    }

    String declaration() {
        StringBuilder sb = new StringBuilder(config.method() == null ? "?" : config.method());
        if (config.algo() != null) sb.append(' ').append(config.algo());
        if (config.format() != null) sb.append(' ').append(config.format());
        return sb.toString();
    }

    String text() {
        StringBuilder sb = new StringBuilder(declaration()).append(" (").append(config.source().getFileName()).append("): ");
        sb.append(nvfp4).append(" NVFP4 weight").append(nvfp4 == 1 ? "" : "s");
        if (expertGroups > 0) sb.append(", ").append(expertGroups).append(" NVFP4 expert groups (").append(experts).append(" experts)");
        fp8.forEach((k, n) -> sb.append(", ").append(n).append(" FP8 (").append(k).append(")"));
        return sb.append(", ").append(auxiliary).append(" scale tensors").toString();
    }

    ObjectNode json() {
        ObjectNode o = PrettyJson.mapper().createObjectNode();
        o.put("method", config.method());
        o.put("algo", config.algo());
        o.put("format", config.format());
        o.put("source", config.source().getFileName().toString());
        o.put("nvfp4_weights", nvfp4);
        o.put("nvfp4_expert_groups", expertGroups);
        o.put("nvfp4_experts", experts);
        ObjectNode f = o.putObject("fp8_weights");
        fp8.forEach(f::put);
        o.put("scale_tensors", auxiliary);
        return o;
    }
}
