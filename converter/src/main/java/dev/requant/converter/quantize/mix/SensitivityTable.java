package dev.requant.converter.quantize.mix;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.ggml.GgmlType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The measured cost of every (tensor, type) pair of a model, the input of {@link MixSolver}; saved as JSON so that a
 * solve at another budget does not measure again.
 *
 * <p>Two modes. {@code measured}: every option's KLD comes from the model's own output with only that tensor in that
 * type. {@code proxy}: only the probe type is measured per tensor (its sensitivity); another type's cost is that KLD
 * times the ratio of importance-weighted squared errors, {@code kld(probe) · err(type) / err(probe)} -- quadratic in
 * the error, as a KLD is for small perturbations. {@link #proxyRankCorrelation} says how well the proxy tracks the
 * measurement on a table measured in full.
 *
 * @param model the input file's name
 * @param probe the type measured in proxy mode (the menu's smallest: the largest error, the clearest signal)
 * @param referenceNll the reference's mean NLL on the scored tokens (ln PPL)
 */
public record SensitivityTable(String model, int nCtx, int chunks, long scoredTokens, double referenceNll, Mode mode, String probe,
                               List<TensorSensitivity> tensors) {
    public enum Mode {
        MEASURED, PROXY;

        public String cliName() { return name().toLowerCase(java.util.Locale.ROOT); }
    }

    public SensitivityTable {
        tensors = List.copyOf(tensors);
    }

    public TensorSensitivity tensor(String name) {
        return tensors.stream().filter(t -> t.name().equals(name)).findFirst().orElse(null);
    }

    /** The cost the solver minimises: the measured KLD (never below 0), or the proxy estimate where not measured. */
    public static double cost(TensorSensitivity t, MixOption o, String probe) {
        if (o.measured()) return Math.max(0, o.kld());
        MixOption p = t.options().stream().filter(x -> x.label().equals(probe) && x.measured()).findFirst()
                .orElseThrow(() -> new IllegalStateException(t.name() + ": the probe " + probe + " was not measured"));
        return proxy(p, o);
    }

    static double proxy(MixOption probe, MixOption o) {
        if (o.weightedError() == 0) return 0;
        if (probe.weightedError() == 0) return Math.max(0, probe.kld());
        return Math.max(0, probe.kld()) * o.weightedError() / probe.weightedError();
    }

    public double cost(TensorSensitivity t, MixOption o) {
        return cost(t, o, probe);
    }

    /**
     * Spearman's rank correlation between the measured KLD and the proxy estimate from {@code probeLabel}, over every
     * measured option other than the probe itself (NaN when fewer than 3 pairs).
     */
    public double proxyRankCorrelation(String probeLabel) {
        List<double[]> pairs = new ArrayList<>();
        for (TensorSensitivity t : tensors) {
            MixOption p = t.options().stream().filter(x -> x.label().equals(probeLabel) && x.measured()).findFirst().orElse(null);
            if (p == null) continue;
            for (MixOption o : t.options()) {
                if (o == p || !o.measured()) continue;
                pairs.add(new double[] {o.kld(), proxy(p, o)});
            }
        }
        if (pairs.size() < 3) return Double.NaN;
        double[] a = ranks(pairs.stream().mapToDouble(x -> x[0]).toArray());
        double[] b = ranks(pairs.stream().mapToDouble(x -> x[1]).toArray());
        return pearson(a, b);
    }

    /** Ranks 1..n, ties sharing their mean rank. */
    static double[] ranks(double[] v) {
        Integer[] idx = new Integer[v.length];
        for (int i = 0; i < v.length; i++) idx[i] = i;
        Arrays.sort(idx, Comparator.comparingDouble(i -> v[i]));
        double[] r = new double[v.length];
        for (int i = 0; i < v.length;) {
            int j = i;
            while (j + 1 < v.length && v[idx[j + 1]] == v[idx[i]]) j++;
            double mean = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) r[idx[k]] = mean;
            i = j + 1;
        }
        return r;
    }

    static double pearson(double[] a, double[] b) {
        double ma = Arrays.stream(a).average().orElse(0), mb = Arrays.stream(b).average().orElse(0);
        double sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.length; i++) {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        return sab / Math.sqrt(saa * sbb);
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    public String toJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("model", model);
        root.put("n_ctx", nCtx);
        root.put("chunks", chunks);
        root.put("scored_tokens", scoredTokens);
        root.put("reference_nll", referenceNll);
        root.put("mode", mode.cliName());
        root.put("probe", probe);
        ArrayNode ts = root.putArray("tensors");
        for (TensorSensitivity t : tensors) {
            ObjectNode n = ts.addObject();
            n.put("name", t.name());
            n.put("elements", t.elements());
            n.put("input_bytes", t.inputBytes());
            ArrayNode os = n.putArray("options");
            for (MixOption o : t.options()) {
                ObjectNode on = os.addObject();
                on.put("type", o.requested().ggmlName());
                on.put("output", o.output().ggmlName());
                on.put("lattice", o.lattice());
                on.put("bytes", o.bytes());
                if (o.measured()) on.put("kld", o.kld());
                else on.putNull("kld");
                on.put("weighted_error", o.weightedError());
            }
        }
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n";
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Reads a table written by {@link #toJson}; a file of another shape is a one-line error naming it. */
    public static SensitivityTable read(Path file) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new dev.requant.formats.FormatException(file, "not a sensitivity table (bad JSON: " + e.getOriginalMessage() + ")");
        }
        try {
            List<TensorSensitivity> ts = new ArrayList<>();
            for (JsonNode n : req(root, "tensors")) {
                List<MixOption> os = new ArrayList<>();
                for (JsonNode on : req(n, "options")) {
                    JsonNode k = req(on, "kld");
                    os.add(new MixOption(type(req(on, "type").asText()), type(req(on, "output").asText()), req(on, "lattice").asBoolean(),
                            req(on, "bytes").asLong(), k.isNull() ? Double.NaN : k.asDouble(), req(on, "weighted_error").asDouble()));
                }
                ts.add(new TensorSensitivity(req(n, "name").asText(), req(n, "elements").asLong(), req(n, "input_bytes").asLong(), os));
            }
            return new SensitivityTable(req(root, "model").asText(), req(root, "n_ctx").asInt(), req(root, "chunks").asInt(),
                    req(root, "scored_tokens").asLong(), req(root, "reference_nll").asDouble(),
                    Mode.valueOf(req(root, "mode").asText().toUpperCase(java.util.Locale.ROOT)), req(root, "probe").asText(), ts);
        } catch (IllegalArgumentException e) {
            throw new dev.requant.formats.FormatException(file, "not a sensitivity table: " + e.getMessage());
        }
    }

    private static JsonNode req(JsonNode n, String key) {
        JsonNode v = n == null ? null : n.get(key);
        if (v == null) throw new IllegalArgumentException("missing \"" + key + "\"");
        return v;
    }

    private static GgmlType type(String name) {
        return GgmlType.byName(name).orElseThrow(() -> new IllegalArgumentException("unknown type \"" + name + "\""));
    }
}
