package dev.requant.converter.qat;

/** An encoder that keeps a QAT lattice where it finds one, and counts what it found. */
public interface LatticeCodec {
    /** Everything encoded so far, by all threads. */
    LatticeStats stats();
}
