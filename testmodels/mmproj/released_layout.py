# Rewrites a Gemma3ForConditionalGeneration folder saved by transformers 5 (vision_tower.embeddings.*, model.language_model.*)
# into the layout of the released Gemma 3 checkpoints (vision_tower.vision_model.*, language_model.model.*), which the
# pinned convert_hf_to_gguf.py --mmproj maps. Bytes of every tensor stay as they are; only names (and the text config's
# layer_types, to llama.cpp's gemma3 pattern) change. Needs only the Python standard library.
# usage: python3 released_layout.py SRC_DIR DST_DIR
import json, os, shutil, struct, sys

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
RENAMES = [("vision_tower.embeddings.", "vision_tower.vision_model.embeddings."),
           ("vision_tower.encoder.", "vision_tower.vision_model.encoder."),
           ("vision_tower.post_layernorm.", "vision_tower.vision_model.post_layernorm."),
           ("vision_tower.head.", "vision_tower.vision_model.head."),  # skipped by the converter, as for tinygemma3
           ("model.language_model.", "language_model.model.")]


def rename(n):
    for a, b in RENAMES:
        if n.startswith(a):
            return b + n[len(a):]
    return n


with open(os.path.join(src, "model.safetensors"), "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
meta = header.pop("__metadata__", None)
out = {}
blobs = []
off = 0
for name in sorted(header, key=rename):
    h = header[name]
    a, b = h["data_offsets"]
    out[rename(name)] = {"dtype": h["dtype"], "shape": h["shape"], "data_offsets": [off, off + b - a]}
    blobs.append(data[a:b])
    off += b - a
if meta is not None:
    out = {"__metadata__": meta, **out}
hb = json.dumps(out, separators=(",", ":")).encode()
hb += b" " * ((8 - len(hb) % 8) % 8)
with open(os.path.join(dst, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hb)))
    f.write(hb)
    for blob in blobs:
        f.write(blob)
for fn in os.listdir(src):
    if fn != "model.safetensors" and os.path.isfile(os.path.join(src, fn)):
        shutil.copy(os.path.join(src, fn), os.path.join(dst, fn))
cfg = json.load(open(os.path.join(dst, "config.json")))
tc = cfg.get("text_config", {})
if tc.get("layer_types"):
    tc["layer_types"] = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(len(tc["layer_types"]))]
json.dump(cfg, open(os.path.join(dst, "config.json"), "w"), indent=2)
print("wrote", dst, len(out), "tensors")
