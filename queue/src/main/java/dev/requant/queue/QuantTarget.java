package dev.requant.queue;

import dev.requant.formats.gguf.FileType;

/**
 * One quantization a job asks for: a file type, and whether it is made with the job's imatrix.
 *
 * @param label the part of the output name after the model name ({@code NAME-LABEL.gguf}) and the job's entry in
 *     {@code queue status}: the type name, {@code i1-TYPE} for the imatrix ("i1") recipe's types
 */
public record QuantTarget(FileType type, boolean withImatrix, String label) {}
