package dev.requant.formats.gguf;

/**
 * The GGUF metadata keys requant writes or reads, in one table grouped as gguf-py's {@code Keys}
 * (gguf-py/gguf/constants.py; llama-arch.cpp LLM_KV_*). Per-architecture keys ({@code {arch}.context_length}) are
 * methods taking the architecture name, the value of {@link General#ARCHITECTURE}. A key is spelled here and nowhere
 * else, so a writer and the reader of the same key cannot drift apart.
 */
public final class GgufKeys {
    private GgufKeys() {}

    /** {@code general.*}: file-level keys and the authorship block (Metadata.set_gguf_meta_model). */
    public static final class General {
        private General() {}

        public static final String TYPE = "general.type";
        public static final String ARCHITECTURE = "general.architecture";
        public static final String QUANTIZATION_VERSION = "general.quantization_version";
        public static final String ALIGNMENT = "general.alignment";
        public static final String FILE_TYPE = "general.file_type";

        // recommended sampler parameters
        public static final String SAMPLING_SEQUENCE = "general.sampling.sequence";
        public static final String SAMPLING_TOP_K = "general.sampling.top_k";
        public static final String SAMPLING_TOP_P = "general.sampling.top_p";
        public static final String SAMPLING_MIN_P = "general.sampling.min_p";
        public static final String SAMPLING_XTC_PROBABILITY = "general.sampling.xtc_probability";
        public static final String SAMPLING_XTC_THRESHOLD = "general.sampling.xtc_threshold";
        public static final String SAMPLING_TEMP = "general.sampling.temp";
        public static final String SAMPLING_PENALTY_LAST_N = "general.sampling.penalty_last_n";
        public static final String SAMPLING_PENALTY_REPEAT = "general.sampling.penalty_repeat";
        public static final String SAMPLING_MIROSTAT = "general.sampling.mirostat";
        public static final String SAMPLING_MIROSTAT_TAU = "general.sampling.mirostat_tau";
        public static final String SAMPLING_MIROSTAT_ETA = "general.sampling.mirostat_eta";

        // authorship
        public static final String NAME = "general.name";
        public static final String AUTHOR = "general.author";
        public static final String VERSION = "general.version";
        public static final String ORGANIZATION = "general.organization";
        public static final String FINETUNE = "general.finetune";
        public static final String BASENAME = "general.basename";
        public static final String DESCRIPTION = "general.description";
        public static final String QUANTIZED_BY = "general.quantized_by";
        public static final String SIZE_LABEL = "general.size_label";

        // licensing
        public static final String LICENSE = "general.license";
        public static final String LICENSE_NAME = "general.license.name";
        public static final String LICENSE_LINK = "general.license.link";

        // the converted model, and the model it was converted from
        public static final String URL = "general.url";
        public static final String DOI = "general.doi";
        public static final String UUID = "general.uuid";
        public static final String REPO_URL = "general.repo_url";
        public static final String SOURCE_URL = "general.source.url";
        public static final String SOURCE_DOI = "general.source.doi";
        public static final String SOURCE_UUID = "general.source.uuid";
        public static final String SOURCE_REPO_URL = "general.source.repo_url";

        // base models and datasets: a count, then general.base_model.{id}.{field} per entry
        public static final String BASE_MODEL_COUNT = "general.base_model.count";
        public static final String DATASET_COUNT = "general.dataset.count";

        /** {@code general.base_model.{id}.{field}}, field one of name, author, version, organization, ... repo_url. */
        public static String baseModel(int id, String field) { return "general.base_model." + id + "." + field; }

        /** {@code general.dataset.{id}.{field}}, with the fields of {@link #baseModel}. */
        public static String dataset(int id, String field) { return "general.dataset." + id + "." + field; }

        public static final String TAGS = "general.tags";
        public static final String LANGUAGES = "general.languages";
    }

    /** {@code {arch}.*}: model hyperparameters (gguf-py Keys.LLM). */
    public static final class LLM {
        private LLM() {}

        public static String contextLength(String arch) { return arch + ".context_length"; }
        public static String embeddingLength(String arch) { return arch + ".embedding_length"; }
        public static String blockCount(String arch) { return arch + ".block_count"; }
        /** A UINT32, or an INT32 array of one width per layer. */
        public static String feedForwardLength(String arch) { return arch + ".feed_forward_length"; }
        public static String expertFeedForwardLength(String arch) { return arch + ".expert_feed_forward_length"; }
        public static String expertCount(String arch) { return arch + ".expert_count"; }
        public static String expertUsedCount(String arch) { return arch + ".expert_used_count"; }
        public static String finalLogitSoftcapping(String arch) { return arch + ".final_logit_softcapping"; }
        /** Gemma 4's per-layer input (PLE) width. */
        public static String embeddingLengthPerLayerInput(String arch) { return arch + ".embedding_length_per_layer_input"; }
    }

    /** {@code {arch}.attention.*} (gguf-py Keys.Attention). */
    public static final class Attention {
        private Attention() {}

        public static String headCount(String arch) { return arch + ".attention.head_count"; }
        /** A UINT32, or an INT32 array of one count per layer. */
        public static String headCountKv(String arch) { return arch + ".attention.head_count_kv"; }
        public static String keyLength(String arch) { return arch + ".attention.key_length"; }
        public static String valueLength(String arch) { return arch + ".attention.value_length"; }
        public static String keyLengthSwa(String arch) { return arch + ".attention.key_length_swa"; }
        public static String valueLengthSwa(String arch) { return arch + ".attention.value_length_swa"; }
        public static String layerNormRmsEpsilon(String arch) { return arch + ".attention.layer_norm_rms_epsilon"; }
        public static String causal(String arch) { return arch + ".attention.causal"; }
        public static String slidingWindow(String arch) { return arch + ".attention.sliding_window"; }
        /** Gemma 4: a BOOL array, true for sliding layers; Gemma 3: an optional integer period. */
        public static String slidingWindowPattern(String arch) { return arch + ".attention.sliding_window_pattern"; }
        public static String sharedKvLayers(String arch) { return arch + ".attention.shared_kv_layers"; }
    }

    /** {@code {arch}.rope.*} (gguf-py Keys.Rope). */
    public static final class Rope {
        private Rope() {}

        public static String dimensionCount(String arch) { return arch + ".rope.dimension_count"; }
        public static String dimensionCountSwa(String arch) { return arch + ".rope.dimension_count_swa"; }
        public static String freqBase(String arch) { return arch + ".rope.freq_base"; }
        public static String freqBaseSwa(String arch) { return arch + ".rope.freq_base_swa"; }
        public static String scalingType(String arch) { return arch + ".rope.scaling.type"; }
        public static String scalingFactor(String arch) { return arch + ".rope.scaling.factor"; }
    }

    /** {@code clip.*}: the file-level keys of a multimodal projector (mmproj) GGUF (gguf-py Keys.Clip). */
    public static final class Clip {
        private Clip() {}

        public static final String PROJECTOR_TYPE = "clip.projector_type";
        public static final String HAS_VISION_ENCODER = "clip.has_vision_encoder";
        public static final String HAS_AUDIO_ENCODER = "clip.has_audio_encoder";
        public static final String USE_GELU = "clip.use_gelu";
    }

    /** {@code clip.vision.*}: the vision encoder of an mmproj GGUF (gguf-py Keys.ClipVision). */
    public static final class ClipVision {
        private ClipVision() {}

        /** For files with vision and audio: each encoder names its projector type. */
        public static final String PROJECTOR_TYPE = "clip.vision.projector_type";
        public static final String IMAGE_SIZE = "clip.vision.image_size";
        public static final String PATCH_SIZE = "clip.vision.patch_size";
        public static final String EMBEDDING_LENGTH = "clip.vision.embedding_length";
        public static final String FEED_FORWARD_LENGTH = "clip.vision.feed_forward_length";
        /** The text model's hidden size, which the projector's output must match. */
        public static final String PROJECTION_DIM = "clip.vision.projection_dim";
        public static final String BLOCK_COUNT = "clip.vision.block_count";
        public static final String IMAGE_MEAN = "clip.vision.image_mean";
        public static final String IMAGE_STD = "clip.vision.image_std";
        public static final String HEAD_COUNT = "clip.vision.attention.head_count";
        public static final String LAYERNORM_EPS = "clip.vision.attention.layer_norm_epsilon";
        public static final String PROJECTOR_SCALE_FACTOR = "clip.vision.projector.scale_factor";
    }

    /** {@code clip.audio.*}: the audio encoder of an mmproj GGUF (gguf-py Keys.ClipAudio). */
    public static final class ClipAudio {
        private ClipAudio() {}

        public static final String PROJECTOR_TYPE = "clip.audio.projector_type";
        public static final String NUM_MEL_BINS = "clip.audio.num_mel_bins";
        public static final String EMBEDDING_LENGTH = "clip.audio.embedding_length";
        public static final String FEED_FORWARD_LENGTH = "clip.audio.feed_forward_length";
        public static final String PROJECTION_DIM = "clip.audio.projection_dim";
        public static final String BLOCK_COUNT = "clip.audio.block_count";
        public static final String HEAD_COUNT = "clip.audio.attention.head_count";
        public static final String LAYERNORM_EPS = "clip.audio.attention.layer_norm_epsilon";
    }

    /** {@code split.*}: the shard keys of a model split over several files (gguf-split). */
    public static final class Split {
        private Split() {}

        public static final String NO = "split.no";
        public static final String COUNT = "split.count";
        public static final String TENSORS_COUNT = "split.tensors.count";
    }

    /** {@code tokenizer.*} (gguf-py Keys.Tokenizer, llama-arch.cpp LLM_KV_TOKENIZER_*). */
    public static final class Tokenizer {
        private Tokenizer() {}

        public static final String MODEL = "tokenizer.ggml.model";
        public static final String PRE = "tokenizer.ggml.pre";
        public static final String TOKENS = "tokenizer.ggml.tokens";
        public static final String SCORES = "tokenizer.ggml.scores";
        public static final String TOKEN_TYPE = "tokenizer.ggml.token_type";
        public static final String MERGES = "tokenizer.ggml.merges";
        public static final String BOS_ID = "tokenizer.ggml.bos_token_id";
        public static final String EOS_ID = "tokenizer.ggml.eos_token_id";
        public static final String EOT_ID = "tokenizer.ggml.eot_token_id";
        public static final String EOM_ID = "tokenizer.ggml.eom_token_id";
        public static final String UNK_ID = "tokenizer.ggml.unknown_token_id";
        /** "seperator" is llama.cpp's spelling. */
        public static final String SEP_ID = "tokenizer.ggml.seperator_token_id";
        public static final String PAD_ID = "tokenizer.ggml.padding_token_id";
        public static final String MASK_ID = "tokenizer.ggml.mask_token_id";
        public static final String ADD_BOS = "tokenizer.ggml.add_bos_token";
        public static final String ADD_EOS = "tokenizer.ggml.add_eos_token";
        public static final String ADD_SEP = "tokenizer.ggml.add_sep_token";
        public static final String ADD_SPACE_PREFIX = "tokenizer.ggml.add_space_prefix";
        public static final String REMOVE_EXTRA_WS = "tokenizer.ggml.remove_extra_whitespaces";
        public static final String SUPPRESS_TOKENS = "tokenizer.ggml.suppress_tokens";
        public static final String NORMALIZER_LOWERCASE = "tokenizer.ggml.normalizer.lowercase";
        public static final String CHAT_TEMPLATE = "tokenizer.chat_template";
        /** The names of the named chat templates. */
        public static final String CHAT_TEMPLATES = "tokenizer.chat_templates";

        /** {@code tokenizer.chat_template.{name}}: a named chat template. */
        public static String chatTemplate(String name) { return CHAT_TEMPLATE + "." + name; }
    }

    /** {@code imatrix.*}: the metadata of a llama-imatrix GGUF (general.type "imatrix"). */
    public static final class IMatrix {
        private IMatrix() {}

        public static final String CHUNK_COUNT = "imatrix.chunk_count";
        public static final String CHUNK_SIZE = "imatrix.chunk_size";
        public static final String DATASETS = "imatrix.datasets";
    }

    /** {@code quantize.imatrix.*}: what llama-quantize records of the imatrix it used (tools/quantize LLM_KV_QUANTIZE_*). */
    public static final class Quantize {
        private Quantize() {}

        public static final String IMATRIX_FILE = "quantize.imatrix.file";
        public static final String IMATRIX_DATASET = "quantize.imatrix.dataset";
        public static final String IMATRIX_ENTRIES_COUNT = "quantize.imatrix.entries_count";
        public static final String IMATRIX_CHUNKS_COUNT = "quantize.imatrix.chunks_count";
    }

    /** {@code requant.qat.*}: requant's own record of a QAT lattice conversion (llama.cpp ignores them). */
    public static final class Qat {
        private Qat() {}

        public static final String PREFIX = "requant.qat.";
        public static final String MODE = PREFIX + "mode";
        public static final String LATTICE_TENSORS = PREFIX + "lattice_tensors";
        public static final String BLOCKS = PREFIX + "blocks";
        public static final String EXACT_BLOCKS = PREFIX + "exact_blocks";

        /** {@code requant.qat.exact_fraction.{class}}: the share of a tensor class's blocks that lie on the lattice. */
        public static String exactFraction(String tensorClass) { return PREFIX + "exact_fraction." + tensorClass; }
    }
}
