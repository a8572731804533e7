package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;
import java.util.Locale;

/**
 * The --type choices: the GGML type of the tensors no rule forces to F32, and general.file_type (gguf-py
 * LlamaFileType). AUTO is resolved from the checkpoint as convert_hf_to_gguf.py --outtype auto does.
 */
public enum OutType {
    F32(GgmlType.F32, 0),
    F16(GgmlType.F16, 1),
    BF16(GgmlType.BF16, 32),
    Q8_0(GgmlType.Q8_0, 7),
    Q4_0(GgmlType.Q4_0, 2),
    AUTO(null, -1);

    private final GgmlType type;
    private final int fileType;

    OutType(GgmlType type, int fileType) {
        this.type = type;
        this.fileType = fileType;
    }

    public GgmlType ggmlType() {
        if (type == null) throw new IllegalStateException("AUTO is resolved against a checkpoint first");
        return type;
    }

    /** general.file_type (LlamaFileType: ALL_F32=0, MOSTLY_F16=1, MOSTLY_Q4_0=2, MOSTLY_Q8_0=7, MOSTLY_BF16=32). */
    public int fileType() { return fileType; }

    public String cliName() { return name().toLowerCase(Locale.ROOT); }

    public static OutType parse(String s) {
        for (OutType t : values()) if (t.cliName().equalsIgnoreCase(s)) return t;
        throw new IllegalArgumentException("unknown type '" + s + "' (choose f32, f16, bf16, q8_0, q4_0 or auto)");
    }
}
