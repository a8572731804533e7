"""Runs the crosscheck binary over the corpus and prints SHA-256 per (operation, type, variant, row kind)."""
import hashlib, struct, subprocess, sys

exe, commit = sys.argv[1], sys.argv[2]
N, ROWS, KINDS, SEED = 768, 48, 12, 20260821
TYPES = [("f32", 0, 4, 1), ("f16", 1, 2, 1), ("bf16", 30, 2, 1), ("q4_0", 2, 18, 32), ("q4_1", 3, 20, 32),
         ("q5_0", 6, 22, 32), ("q5_1", 7, 24, 32), ("q8_0", 8, 34, 32), ("q4_K", 12, 144, 256),
         ("q5_K", 13, 176, 256), ("q6_K", 14, 210, 256), ("mxfp4", 39, 17, 32), ("nvfp4", 40, 36, 64)]
# fp16 fields (byte offsets in a block) whose NaNs are compared without their sign: a NaN scale only comes from NaN
# inputs, and its sign depends on the operand order a compiler picks for commutative float ops (gcc vs HotSpot).
FP16_FIELDS = {"f16": [0], "q4_0": [0], "q4_1": [0, 2], "q5_0": [0], "q5_1": [0, 2], "q8_0": [0], "q4_K": [0, 2],
               "q5_K": [0, 2], "q6_K": [208]}


def canonical(name, size, data):
    b = bytearray(data)
    for blk in range(0, len(b), size):
        for off in FP16_FIELDS.get(name, []):
            v = b[blk + off] | b[blk + off + 1] << 8
            if (v & 0x7C00) == 0x7C00 and (v & 0x3FF):
                b[blk + off], b[blk + off + 1] = 0x00, 0x7E
    return bytes(b)


print(f"# ggml {commit}: N={N} ROWS={ROWS} KINDS={KINDS} SEED={SEED}; made by bench/ggml-crosscheck/crosscheck.sh")
for name, tid, size, blck in TYPES:
    row = N // blck * size
    for imat in (0, 1):
        data = subprocess.run([exe, "encode", str(tid), str(N), str(ROWS), str(imat), str(SEED)],
                              check=True, capture_output=True).stdout
        assert len(data) == row * ROWS
        data = canonical(name, size, data)
        for kind in range(KINDS):
            h = hashlib.sha256()
            for r in range(kind, ROWS, KINDS):
                h.update(data[r * row:(r + 1) * row])
            print("encode", name, "imatrix" if imat else "ref", kind, h.hexdigest())
    data = subprocess.run([exe, "decode", str(tid), str(N), str(ROWS), str(SEED)], check=True, capture_output=True).stdout
    vals = struct.unpack(f"<{N * ROWS}I", data)
    canon = [0x7FC00000 if (v & 0x7F800000) == 0x7F800000 and (v & 0x7FFFFF) else v for v in vals]
    print("decode", name, "-", "-", hashlib.sha256(struct.pack(f"<{len(canon)}I", *canon)).hexdigest())
