package dev.requant.formats.tokenizer;

import dev.requant.formats.FormatException;
import dev.requant.formats.io.InputFiles;
import dev.requant.formats.io.Utf8StringList;
import java.io.IOException;
import java.nio.file.Path;
import java.util.AbstractList;
import java.util.Arrays;
import java.util.List;
import java.util.RandomAccess;

/**
 * A SentencePiece {@code tokenizer.model} (proto2 {@code ModelProto} of google/sentencepiece
 * src/sentencepiece_model.proto), read with a hand-written wire-format parser. Only the fields a GGUF conversion or a
 * tokenizer needs are kept; unknown fields are skipped by wire type.
 */
public record SentencePieceModel(Pieces pieces, TrainerSpec trainer, NormalizerSpec normalizer) {
    public SentencePieceModel(List<Piece> pieces, TrainerSpec trainer, NormalizerSpec normalizer) {
        this(Pieces.of(pieces), trainer, normalizer);
    }

    /** {@code message SentencePiece { optional string piece = 1; optional float score = 2; optional Type type = 3 [default = NORMAL]; }} */
    public record Piece(String text, float score, TokenType type) {}

    /**
     * The pieces as three tables, the texts as UTF-8 bytes ({@link Utf8StringList}); a {@link Piece} is made when one
     * is read. A conversion copies the texts into the GGUF vocabulary without decoding them.
     */
    public static final class Pieces extends AbstractList<Piece> implements RandomAccess {
        private final Utf8StringList texts;
        private final float[] scores;
        private final byte[] types;

        private Pieces(Utf8StringList texts, float[] scores, byte[] types) {
            this.texts = texts;
            this.scores = scores;
            this.types = types;
        }

        static Pieces of(List<Piece> pieces) {
            if (pieces instanceof Pieces p) return p;
            Builder b = new Builder();
            for (Piece p : pieces) b.add(p.text(), p.score(), p.type());
            return b.build();
        }

        @Override
        public int size() { return scores.length; }

        @Override
        public Piece get(int i) {
            return new Piece(texts.get(i), scores[i], type(i));
        }

        /** The texts, indexed as the pieces. */
        public Utf8StringList texts() { return texts; }

        public float score(int i) { return scores[i]; }

        public TokenType type(int i) { return TokenType.byId(types[i]).orElseThrow(); }

        /** {@link #type}'s id. */
        public int typeId(int i) { return types[i]; }

        /** The scores of the first {@code count} pieces into {@code dst}. */
        public void copyScores(int count, float[] dst) {
            System.arraycopy(scores, 0, dst, 0, count);
        }

        private static final class Builder {
            private final Utf8StringList.Builder texts = new Utf8StringList.Builder(1024, 16 * 1024);
            private float[] scores = new float[1024];
            private byte[] types = new byte[1024];

            /** Room for one more score and type; returns its index. */
            private int next() {
                int i = texts.size();
                if (i == scores.length) {
                    scores = Arrays.copyOf(scores, 2 * i);
                    types = Arrays.copyOf(types, 2 * i);
                }
                return i;
            }

            void add(String text, float score, TokenType type) {
                int i = next();
                scores[i] = score;
                types[i] = (byte) type.id();
                texts.add(text);
            }

            /** For the parser: the text is already appended to {@link #texts}. */
            void set(int i, float score, TokenType type) {
                scores[i] = score;
                types[i] = (byte) type.id();
            }

            Pieces build() {
                int n = texts.size();
                return new Pieces(texts.build(), Arrays.copyOf(scores, n), Arrays.copyOf(types, n));
            }
        }
    }

    /**
     * The TrainerSpec fields worth reading: {@code model_type = 3} (UNIGRAM=1, BPE=2, WORD=3, CHAR=4),
     * {@code vocab_size = 4}, {@code treat_whitespace_as_suffix = 24}, {@code byte_fallback = 35},
     * {@code unk_id = 40} (default 0), {@code bos_id = 41} (1), {@code eos_id = 42} (2), {@code pad_id = 43} (-1).
     */
    public record TrainerSpec(int modelType, int vocabSize, boolean treatWhitespaceAsSuffix, boolean byteFallback,
                              int unkId, int bosId, int eosId, int padId) {
        public static final int UNIGRAM = 1;
        public static final int BPE = 2;
    }

    /**
     * {@code name = 1}, {@code add_dummy_prefix = 3} (default true), {@code remove_extra_whitespaces = 4} (true),
     * {@code escape_whitespaces = 5} (true). The precompiled charsmap (field 2) is not kept.
     */
    public record NormalizerSpec(String name, boolean addDummyPrefix, boolean removeExtraWhitespaces, boolean escapeWhitespaces) {}

    public static SentencePieceModel read(Path file) throws IOException {
        // real models are a few MB; the bound keeps a hostile one from asking for GBs of heap
        return parse(file, InputFiles.readAll(file, "SentencePiece model", 256L << 20));
    }

    /** Parses the bytes of a tokenizer.model; {@code file} only names it in errors. */
    public static SentencePieceModel parse(Path file, byte[] bytes) throws FormatException {
        ProtoReader r = new ProtoReader(file, bytes);
        Pieces.Builder pieces = new Pieces.Builder();
        TrainerSpec trainer = new TrainerSpec(1, 8000, false, false, 0, 1, 2, -1);
        NormalizerSpec normalizer = new NormalizerSpec("", true, true, true);
        while (r.hasMore()) {
            int key = r.key("ModelProto");
            int field = key >>> 3, wire = key & 7;
            if (field == 1 && wire == ProtoReader.LEN) {
                int index = pieces.next();
                piece(r.message("pieces", index), index, pieces);
            } else if (field == 2 && wire == ProtoReader.LEN) {
                trainer = trainer(r.message("trainer_spec"));
            } else if (field == 3 && wire == ProtoReader.LEN) {
                normalizer = normalizer(r.message("normalizer_spec"));
            } else {
                r.skip(wire, "ModelProto field " + field);
            }
        }
        if (pieces.texts.size() == 0) throw new FormatException(file, "is not a SentencePiece model: it has no pieces");
        return new SentencePieceModel(pieces.build(), trainer, normalizer);
    }

    /**
     * Piece {@code index} into {@code pieces}: its text appended to their texts, its score and type set. {@code r}
     * names its errors pieces[index] (no name is built per piece unless one is wrong).
     */
    private static void piece(ProtoReader r, int index, Pieces.Builder pieces) throws FormatException {
        int texts = pieces.texts.size();
        float score = 0f;
        TokenType type = TokenType.NORMAL;
        while (r.hasMore()) {
            int key = r.key("");
            int field = key >>> 3, wire = key & 7;
            if (field == 1 && wire == ProtoReader.LEN) {
                if (pieces.texts.size() > texts) pieces.texts.removeLast(); // a field given twice: the last one counts
                r.string("piece", pieces.texts);
            } else if (field == 2 && wire == ProtoReader.FIXED32) {
                score = r.float32("score");
            } else if (field == 3 && wire == ProtoReader.VARINT) {
                int at = r.position();
                long t = r.varint("type");
                type = t >= 1 && t <= 6 ? TokenType.byId((int) t).orElseThrow()
                        : failType(r, at, t);
            } else {
                r.skip(wire, "field " + field);
            }
        }
        if (pieces.texts.size() == texts) throw r.error(r.position(), "", "piece " + index + " has no text");
        pieces.set(index, score, type);
    }

    private static TokenType failType(ProtoReader r, int at, long t) throws FormatException {
        throw r.error(at, "type", "unknown piece type " + t);
    }

    private static TrainerSpec trainer(ProtoReader r) throws FormatException {
        int modelType = 1, vocabSize = 8000, unk = 0, bos = 1, eos = 2, pad = -1;
        boolean suffix = false, byteFallback = false;
        while (r.hasMore()) {
            int key = r.key("trainer_spec");
            int field = key >>> 3, wire = key & 7;
            if (wire == ProtoReader.VARINT) {
                switch (field) {
                    case 3 -> modelType = r.int32("trainer_spec.model_type");
                    case 4 -> vocabSize = r.int32("trainer_spec.vocab_size");
                    case 24 -> suffix = r.bool("trainer_spec.treat_whitespace_as_suffix");
                    case 35 -> byteFallback = r.bool("trainer_spec.byte_fallback");
                    case 40 -> unk = r.int32("trainer_spec.unk_id");
                    case 41 -> bos = r.int32("trainer_spec.bos_id");
                    case 42 -> eos = r.int32("trainer_spec.eos_id");
                    case 43 -> pad = r.int32("trainer_spec.pad_id");
                    default -> r.varint("trainer_spec field " + field);
                }
            } else {
                r.skip(wire, "trainer_spec field " + field);
            }
        }
        return new TrainerSpec(modelType, vocabSize, suffix, byteFallback, unk, bos, eos, pad);
    }

    private static NormalizerSpec normalizer(ProtoReader r) throws FormatException {
        String name = "";
        boolean dummy = true, removeWs = true, escape = true;
        while (r.hasMore()) {
            int key = r.key("normalizer_spec");
            int field = key >>> 3, wire = key & 7;
            if (field == 1 && wire == ProtoReader.LEN) name = r.string("normalizer_spec.name");
            else if (field == 3 && wire == ProtoReader.VARINT) dummy = r.bool("normalizer_spec.add_dummy_prefix");
            else if (field == 4 && wire == ProtoReader.VARINT) removeWs = r.bool("normalizer_spec.remove_extra_whitespaces");
            else if (field == 5 && wire == ProtoReader.VARINT) escape = r.bool("normalizer_spec.escape_whitespaces");
            else r.skip(wire, "normalizer_spec field " + field);
        }
        return new NormalizerSpec(name, dummy, removeWs, escape);
    }

    /**
     * The model as protobuf bytes, with the fields this record keeps (for generated test and demo tokenizers): what
     * {@link #parse} reads back to an equal record.
     */
    public byte[] toBytes() {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (Piece p : pieces) {
            java.io.ByteArrayOutputStream m = new java.io.ByteArrayOutputStream();
            lenField(m, 1, p.text().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            tag(m, 2, 5);
            int bits = Float.floatToRawIntBits(p.score());
            for (int k = 0; k < 4; k++) m.write(bits >>> (8 * k));
            varintField(m, 3, p.type().id());
            lenField(out, 1, m.toByteArray());
        }
        java.io.ByteArrayOutputStream t = new java.io.ByteArrayOutputStream();
        varintField(t, 3, trainer.modelType());
        varintField(t, 4, trainer.vocabSize());
        varintField(t, 24, trainer.treatWhitespaceAsSuffix() ? 1 : 0);
        varintField(t, 35, trainer.byteFallback() ? 1 : 0);
        varintField(t, 40, trainer.unkId());
        varintField(t, 41, trainer.bosId());
        varintField(t, 42, trainer.eosId());
        varintField(t, 43, trainer.padId());
        lenField(out, 2, t.toByteArray());
        java.io.ByteArrayOutputStream n = new java.io.ByteArrayOutputStream();
        lenField(n, 1, normalizer.name().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        varintField(n, 3, normalizer.addDummyPrefix() ? 1 : 0);
        varintField(n, 4, normalizer.removeExtraWhitespaces() ? 1 : 0);
        varintField(n, 5, normalizer.escapeWhitespaces() ? 1 : 0);
        lenField(out, 3, n.toByteArray());
        return out.toByteArray();
    }

    private static void tag(java.io.ByteArrayOutputStream o, int field, int wire) {
        varint(o, ((long) field << 3) | wire);
    }

    /** Negative int32 values are sign-extended to 10-byte varints, as protobuf encodes them. */
    private static void varintField(java.io.ByteArrayOutputStream o, int field, long v) {
        tag(o, field, 0);
        varint(o, v);
    }

    private static void lenField(java.io.ByteArrayOutputStream o, int field, byte[] b) {
        tag(o, field, 2);
        varint(o, b.length);
        o.writeBytes(b);
    }

    private static void varint(java.io.ByteArrayOutputStream o, long v) {
        while ((v & ~0x7FL) != 0) {
            o.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        o.write((int) v);
    }
}
