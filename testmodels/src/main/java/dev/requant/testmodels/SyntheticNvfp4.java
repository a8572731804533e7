package dev.requant.testmodels;

import dev.requant.formats.nvfp4.Nvfp4CheckpointWriter;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.formats.nvfp4.Nvfp4Quantizer;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Synthetic NVFP4 checkpoints: a {@link SyntheticCheckpoint} (BF16, {@link RealisticWeights} by default) quantized
 * with ModelOpt's math into ModelOpt's or compressed-tensors' export layout, every attention and MLP projection of
 * the decoder layers (q/k/v and gate/up sharing their global scale as ModelOpt does), embeddings and norms left in
 * BF16. The largest block of each fusion group has block scale 448, as in real exports.
 *
 * <pre>{@code
 * Path bf16 = SyntheticCheckpoint.gemma3().weights(RealisticWeights.of(1)).write(tmp.resolve("bf16"));
 * Path nvfp4 = SyntheticNvfp4.write(bf16, tmp.resolve("nvfp4"), Nvfp4Format.MODELOPT, Map.of());
 * }</pre>
 */
public final class SyntheticNvfp4 {
    private static final Pattern LINEAR = Pattern.compile("(.*\\.layers\\.\\d+\\.)(self_attn\\.[qkvo]_proj|mlp\\.(gate|up|down)_proj)\\.weight");

    private SyntheticNvfp4() {}

    /** The decoder projections of a checkpoint, the ones ModelOpt's default NVFP4 config quantizes in a Gemma. */
    public static Set<String> decoderLinears(Path bf16) throws IOException {
        Set<String> out = new LinkedHashSet<>();
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(bf16)) {
            for (SafetensorsCheckpoint.Entry e : ck.entries()) if (LINEAR.matcher(e.name()).matches()) out.add(e.name());
        }
        return out;
    }

    /** ModelOpt's fusion groups: q/k/v of a layer share one global scale, gate/up another. */
    public static String fusionGroup(String weight) {
        Matcher m = LINEAR.matcher(weight);
        if (!m.matches()) return null;
        String p = m.group(2);
        if (p.matches("self_attn\\.[qkv]_proj")) return m.group(1) + "qkv";
        if (p.matches("mlp\\.(gate|up)_proj")) return m.group(1) + "gate_up";
        return null;
    }

    /**
     * Quantizes the decoder projections of {@code bf16} into {@code out}.
     *
     * @param inputAmax calibrated activation maxima by module (empty: a weight-only W4A16 checkpoint)
     */
    public static Path write(Path bf16, Path out, Nvfp4Format format, Map<String, Float> inputAmax) throws IOException {
        Nvfp4CheckpointWriter.Plan plan = new Nvfp4CheckpointWriter.Plan(format, Nvfp4Quantizer.of(format),
                decoderLinears(bf16), null, inputAmax, SyntheticNvfp4::fusionGroup, List.of("lm_head", "model.embed_tokens"));
        Nvfp4CheckpointWriter.write(bf16, out, plan, null);
        return out;
    }
}
