// llama-quantize's pipeline for `--pure IN OUT TYPE NTHREAD` on a BF16/F32 GGUF, driven by ggml's own code, for a
// same-machine speed comparison (bench/encode.sh; BENCHMARKS.md "Block codecs"). llama-quantize itself links all of
// libllama; this keeps the steps that cost time and calls the same ggml functions, in the same order, as
// llama_model_quantize_impl (src/llama-quant.cpp): mmap the input (MAP_POPULATE, as llama_mmap prefetches), write a
// placeholder header, then per tensor: widen to f32 on nthread threads (llama_tensor_dequantize_impl), quantize in
// row chunks of at least 32*512 values on nthread workers with ggml_quantize_chunk + ggml_validate_row_data
// (llama_tensor_quantize_impl), write the bytes and the zero padding (std::ofstream), finally the real header.
// Written for this benchmark; not part of the build.
#include "ggml.h"
#include "gguf.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static void to_f32(const ggml_tensor * t, const void * data, std::vector<float> & out, int nthread) {
    const int64_t n = ggml_nelements(t);
    out.resize(n);
    if (t->type == GGML_TYPE_F32) { memcpy(out.data(), data, n * sizeof(float)); return; }
    const auto * traits = ggml_get_type_traits(t->type);
    const int64_t blck = ggml_blck_size(t->type), bsz = ggml_type_size(t->type);
    const int64_t nblocks = n / blck, per = (nblocks + nthread - 1) / nthread;
    std::vector<std::thread> workers;
    for (int i = 0; i < nthread; i++) {
        const int64_t b0 = i * per, b1 = std::min(nblocks, b0 + per);
        if (b0 >= b1) break;
        workers.emplace_back([=, &out] { traits->to_float((const char *) data + b0 * bsz, out.data() + b0 * blck, (b1 - b0) * blck); });
    }
    for (auto & w : workers) w.join();
}

static size_t quantize(ggml_type type, const float * f32, void * dst, int64_t nrows, int64_t n_per_row, int nthread) {
    const int64_t min_chunk = 32 * 512;
    const int64_t chunk = n_per_row >= min_chunk ? n_per_row : n_per_row * ((min_chunk + n_per_row - 1) / n_per_row);
    const int64_t rows_per_chunk = chunk / n_per_row;
    const size_t row_size = ggml_row_size(type, n_per_row);
    std::mutex mutex;
    int64_t counter = 0;
    bool valid = true;
    auto compute = [&] {
        while (true) {
            int64_t first;
            { std::lock_guard<std::mutex> lock(mutex); first = counter; counter += rows_per_chunk; if (first >= nrows) return; }
            const int64_t this_rows = std::min(nrows - first, rows_per_chunk);
            size_t size = ggml_quantize_chunk(type, f32, dst, first * n_per_row, this_rows, n_per_row, nullptr);
            if (!ggml_validate_row_data(type, (char *) dst + first * row_size, size)) { std::lock_guard<std::mutex> l(mutex); valid = false; }
        }
    };
    const int nuse = (int) std::min<int64_t>(nthread, (nrows + rows_per_chunk - 1) / rows_per_chunk);
    std::vector<std::thread> workers;
    for (int i = 0; i < nuse - 1; i++) workers.emplace_back(compute);
    compute();
    for (auto & w : workers) w.join();
    if (!valid) throw std::runtime_error("quantized data validation failed");
    return nrows * row_size;
}

int main(int argc, char ** argv) {
    if (argc < 4) { fprintf(stderr, "usage: quantize_pipeline IN.gguf OUT.gguf TYPE [NTHREAD]\n"); return 2; }
    const auto t0 = std::chrono::steady_clock::now();
    ggml_type type = strcmp(argv[3], "Q8_0") == 0 ? GGML_TYPE_Q8_0 : strcmp(argv[3], "Q4_0") == 0 ? GGML_TYPE_Q4_0 : GGML_TYPE_COUNT;
    if (type == GGML_TYPE_COUNT) { fprintf(stderr, "TYPE must be Q4_0 or Q8_0\n"); return 2; }
    const int nthread = argc > 4 ? atoi(argv[4]) : 2;
    ggml_context * meta = nullptr;
    gguf_init_params params = {true, &meta};
    gguf_context * in = gguf_init_from_file(argv[1], params);
    if (!in) { fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
    int fd = open(argv[1], O_RDONLY);
    struct stat st; fstat(fd, &st);
    const char * map = (const char *) mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    const size_t data_off = gguf_get_data_offset(in);

    gguf_context * out = gguf_init_empty();
    gguf_set_kv(out, in);
    gguf_set_val_u32(out, "general.quantization_version", GGML_QNT_VERSION);
    gguf_set_val_u32(out, "general.file_type", type == GGML_TYPE_Q4_0 ? 2 : 7);
    const int64_t n_tensors = gguf_get_n_tensors(in);
    std::vector<ggml_tensor *> tensors;
    for (int64_t i = 0; i < n_tensors; i++) {
        ggml_tensor * t = ggml_get_tensor(meta, gguf_get_tensor_name(in, i));
        tensors.push_back(t);
        gguf_add_tensor(out, t);
    }
    auto quantizes = [&](const ggml_tensor * t) {
        return ggml_n_dims(t) >= 2 && (t->type == GGML_TYPE_BF16 || t->type == GGML_TYPE_F16 || t->type == GGML_TYPE_F32)
            && t->ne[0] % ggml_blck_size(type) == 0;
    };
    for (auto * t : tensors) if (quantizes(t)) gguf_set_tensor_type(out, t->name, type);

    std::ofstream fout(argv[2], std::ios::binary);
    const size_t meta_size = gguf_get_meta_size(out);
    std::vector<char> zeros(meta_size, 0);
    fout.write(zeros.data(), meta_size);
    std::vector<float> f32;
    std::vector<char> qbuf;
    const size_t align = gguf_get_alignment(out);
    for (int64_t i = 0; i < n_tensors; i++) {
        ggml_tensor * t = tensors[i];
        const char * data = map + data_off + gguf_get_tensor_offset(in, i);
        size_t size;
        const char * bytes;
        if (quantizes(t)) {
            to_f32(t, data, f32, nthread);
            qbuf.resize(ggml_row_size(type, t->ne[0]) * ggml_nrows(t));
            size = quantize(type, f32.data(), qbuf.data(), ggml_nrows(t), t->ne[0], nthread);
            bytes = qbuf.data();
        } else {
            size = ggml_nbytes(t);
            bytes = data;
        }
        fout.write(bytes, size);
        const size_t pad = GGML_PAD(size, align) - size;
        fout.write(zeros.data(), std::min(pad, zeros.size()));
        if (pad > zeros.size()) { std::vector<char> z(pad, 0); fout.write(z.data(), pad); }
    }
    fout.seekp(0);
    std::vector<char> header(meta_size);
    gguf_get_meta_data(out, header.data());
    fout.write(header.data(), meta_size);
    fout.close();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fprintf(stderr, "quantize_pipeline: %s -> %s %s with %d threads in %.3f s\n", argv[1], argv[2], argv[3], nthread, s);
    return 0;
}
