package dev.requant.formats.ggml;

import java.io.IOException;

/**
 * One open tensor of some container, as {@link TensorEncoder} writes it: what was declared for it (name, type, bytes
 * still expected), then its bytes in order; closing it ends the tensor. The codecs know nothing about file formats:
 * a container's open tensor implements this (GgufWriter's does).
 */
public interface EncoderSink extends TensorEncoder.ChunkSink, AutoCloseable {
    /** The tensor's name, for error messages. */
    String name();

    /** The type the container declared for the tensor; the encoder refuses to write another. */
    GgmlType type();

    /** Bytes still to be written. */
    long remaining();

    /** Ends the tensor; the container checks that all its bytes were written. */
    @Override
    void close() throws IOException;
}
