package dev.requant.converter.export;

import dev.requant.formats.safetensors.SafetensorsDtype;
import java.util.Locale;

/**
 * What {@code requant export} writes.
 *
 * @param dtype the float type of the dense weights (BF16, as transformers saves Gemma, or F32)
 * @param hfClass the transformers class named in config.json ({@code Gemma3ForCausalLM}, {@code Gemma4ForCausalLM},
 *     {@code Gemma4UnifiedForCausalLM}), or null to choose from the GGUF
 * @param keepNvfp4 whether NVFP4 weights stay NVFP4 (a ModelOpt folder with the same codes and scales) or are
 *     dequantized to {@code dtype}
 * @param maxShardBytes the most tensor bytes one safetensors file holds (transformers' default is 5 GB)
 */
public record ExportSettings(Dtype dtype, String hfClass, boolean keepNvfp4, long maxShardBytes) {
    public static final long DEFAULT_SHARD_BYTES = 5_000_000_000L;

    /** The float types a Hugging Face Gemma checkpoint is saved in. */
    public enum Dtype {
        BF16(SafetensorsDtype.BF16, "bfloat16"),
        F32(SafetensorsDtype.F32, "float32");

        private final SafetensorsDtype safetensors;
        private final String torchName;

        Dtype(SafetensorsDtype safetensors, String torchName) {
            this.safetensors = safetensors;
            this.torchName = torchName;
        }

        public SafetensorsDtype safetensors() { return safetensors; }

        /** config.json's {@code dtype} value. */
        public String torchName() { return torchName; }

        public static Dtype parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "bf16", "bfloat16" -> BF16;
                case "f32", "fp32", "float32" -> F32;
                default -> throw new IllegalArgumentException("unknown dtype '" + s + "' (choose bf16 or f32)");
            };
        }
    }

    public ExportSettings {
        if (dtype == null) throw new IllegalArgumentException("dtype is required");
        if (maxShardBytes <= 0) throw new IllegalArgumentException("maxShardBytes must be positive");
    }

    public static ExportSettings of(Dtype dtype) {
        return new ExportSettings(dtype, null, true, DEFAULT_SHARD_BYTES);
    }

    public ExportSettings withHfClass(String c) { return new ExportSettings(dtype, c, keepNvfp4, maxShardBytes); }

    public ExportSettings withKeepNvfp4(boolean k) { return new ExportSettings(dtype, hfClass, k, maxShardBytes); }

    public ExportSettings withMaxShardBytes(long b) { return new ExportSettings(dtype, hfClass, keepNvfp4, b); }
}
