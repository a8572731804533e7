# Tiny multimodal Gemma checkpoints made by transformers, and their GGUFs made by the pinned llama.cpp
# convert_hf_to_gguf.py (--mmproj, and the text model), as test data for requant issue 20.
#
# Called by run.sh (which sets up PYTHONPATH and a yaml shim when needed). Each family is built on its own and every
# failure is logged with its traceback; the job never stops at the first error, so one run gives as much as it can.
#
# usage: python3 make_mm.py --llsrc DIR --tokenizer DIR --work DIR [--families a,b,c]
import argparse, json, os, platform, subprocess, sys, tarfile, time, traceback
from concurrent.futures import ThreadPoolExecutor

ap = argparse.ArgumentParser()
ap.add_argument("--llsrc", required=True, help="folder with convert_hf_to_gguf.py, conversion/ and gguf-py/")
ap.add_argument("--tokenizer", required=True, help="folder with tokenizer.model and tokenizer_config.json")
ap.add_argument("--work", required=True, help="output folder (checkpoints, GGUFs, logs)")
ap.add_argument("--families", default="gemma3-mm-tiny,gemma4-mm-tiny,gemma4-unified-mm-tiny")
ap.add_argument("--convert-timeout", type=int, default=150)
args = ap.parse_args()

WORK = os.path.abspath(args.work)
os.makedirs(WORK, exist_ok=True)
LOG = open(os.path.join(WORK, "log.txt"), "a")
T0 = time.time()


def log(*a):
    s = "[%6.1fs] " % (time.time() - T0) + " ".join(str(x) for x in a)
    print(s, flush=True)
    LOG.write(s + "\n")
    LOG.flush()


versions = {"python": sys.version.split()[0], "platform": platform.platform()}
for mod in ("torch", "transformers", "numpy", "safetensors", "sentencepiece", "tokenizers", "yaml", "huggingface_hub",
            "PIL", "torchvision"):
    try:
        m = __import__(mod)
        versions[mod] = getattr(m, "__version__", "present")
        if mod == "yaml" and getattr(m, "REQUANT_SHIM", False):
            versions[mod] = "shim (run.sh)"
    except Exception as e:  # noqa: BLE001 -- only recording what the machine has
        versions[mod] = "missing: " + type(e).__name__
commit_file = os.path.join(args.llsrc, "LLAMA_CPP_COMMIT")
versions["llama.cpp"] = open(commit_file).read().strip() if os.path.exists(commit_file) else "unknown"
json.dump(versions, open(os.path.join(WORK, "versions.json"), "w"), indent=1)
log("versions", json.dumps(versions))

import torch  # noqa: E402
import transformers  # noqa: E402

torch.set_num_threads(4)

# Text tower shared by all three: the tokenizer carried in has 1024 pieces, so the vocabulary matches it.
TEXT = dict(vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, head_dim=32, max_position_embeddings=1024, sliding_window=32,
            layer_types=["sliding_attention", "full_attention"])
# token ids inside the small vocabulary (the defaults point past it)
G3_TOKENS = dict(boi_token_index=1000, eoi_token_index=1001, image_token_index=1002)
G4_TOKENS = dict(boi_token_id=1000, eoi_token_id=1001, image_token_id=1002, video_token_id=1003, boa_token_id=1004,
                 eoa_token_index=1005, audio_token_id=1006)


def cls(name):
    c = getattr(transformers, name, None)
    if c is None:
        raise RuntimeError("transformers %s has no %s" % (transformers.__version__, name))
    return c


def family_config(name):
    if name == "gemma3-mm-tiny":
        text = dict(TEXT)
        vision = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                      image_size=64, patch_size=8)
        c = cls("Gemma3Config")(text_config=text, vision_config=vision, mm_tokens_per_image=16, **G3_TOKENS)
        return c, "Gemma3ForConditionalGeneration", dict(image_seq_length=16)
    if name == "gemma4-mm-tiny":
        text = dict(TEXT, global_head_dim=64, vocab_size_per_layer_input=1024, hidden_size_per_layer_input=8,
                    num_kv_shared_layers=0, enable_moe_block=False)
        # standardize and clipped linears on, so that std_bias/std_scale and the clip bounds are exercised too
        vision = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=2, head_dim=32, patch_size=16, pooling_kernel_size=3,
                      position_embedding_size=64, standardize=True, use_clipped_linears=True)
        audio = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, subsampling_conv_channels=[16, 8],
                     output_proj_dims=64)
        c = cls("Gemma4Config")(text_config=text,
                                vision_config=vision, audio_config=audio, **G4_TOKENS)
        return c, "Gemma4ForConditionalGeneration", {}
    if name == "gemma4-unified-mm-tiny":
        text = dict(TEXT, global_head_dim=64, num_kv_shared_layers=0)
        vision = dict(patch_size=4, pooling_kernel_size=2, mm_embed_dim=64, mm_posemb_size=32, output_proj_dims=64)
        audio = dict(audio_embed_dim=64)
        c = cls("Gemma4UnifiedConfig")(text_config=text,
                                       vision_config=vision, audio_config=audio, **G4_TOKENS)
        return c, "Gemma4UnifiedForConditionalGeneration", {}
    raise ValueError(name)


IMAGE_PROCESSORS = {
    "gemma3-mm-tiny": ["Gemma3ImageProcessor", "Gemma3ImageProcessorPil", "Gemma3ImageProcessorFast"],
    "gemma4-mm-tiny": ["Gemma4ImageProcessor", "Gemma4ImageProcessorPil", "Gemma4ImageProcessorFast"],
    "gemma4-unified-mm-tiny": ["Gemma4UnifiedImageProcessor", "Gemma4ImageProcessor", "Gemma4ImageProcessorPil"],
}
SEEDS = {"gemma3-mm-tiny": 31, "gemma4-mm-tiny": 41, "gemma4-unified-mm-tiny": 51}


def init_weights(model, seed):
    # Deterministic values of a visible size: N(0, 0.05) for matrices, N(0, 0.3) for vectors and scalars.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            std = 0.05 if p.ndim >= 2 else 0.3
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * std)


def build(name):
    cfg, model_cls, preproc_extra = family_config(name)
    out = os.path.join(WORK, name)
    torch.manual_seed(SEEDS[name])
    model = cls(model_cls)(cfg)
    init_weights(model, SEEDS[name])
    model = model.to(torch.bfloat16)
    model.save_pretrained(out)  # safetensors is the default
    for f in ("tokenizer.model", "tokenizer_config.json"):
        src = os.path.join(args.tokenizer, f)
        if os.path.exists(src):
            open(os.path.join(out, f), "wb").write(open(src, "rb").read())
    pp = os.path.join(out, "preprocessor_config.json")
    for pname in IMAGE_PROCESSORS[name]:
        c = getattr(transformers, pname, None)
        if c is None:
            continue
        try:
            c().save_pretrained(out)
            log(name, "image processor saved:", pname)
            break
        except Exception as e:  # noqa: BLE001
            log(name, "image processor", pname, "failed:", repr(e)[:300])
    j = json.load(open(pp)) if os.path.exists(pp) else {}
    if "image_mean" not in j or "image_std" not in j:
        j.setdefault("image_mean", [0.5, 0.5, 0.5])
        j.setdefault("image_std", [0.5, 0.5, 0.5])
        log(name, "preprocessor_config.json lacked image_mean/std: written as 0.5")
    j.update(preproc_extra)
    json.dump(j, open(pp, "w"), indent=2)
    from safetensors import safe_open
    with safe_open(os.path.join(out, "model.safetensors"), "pt") as f:
        shapes = {k: [str(f.get_slice(k).get_dtype()), list(f.get_slice(k).get_shape())] for k in f.keys()}
    json.dump(shapes, open(os.path.join(WORK, name + ".tensors.json"), "w"), indent=0, sort_keys=True)
    log(name, "saved", len(shapes), "tensors;", sum(1 for k in shapes if "language_model" not in k), "outside the text model")
    return out


def convert(name, ckpt, mmproj, outtype):
    gguf = os.path.join(WORK, "%s.%s%s.gguf" % (name, "mmproj-" if mmproj else "", outtype))
    cmd = [sys.executable, os.path.join(args.llsrc, "convert_hf_to_gguf.py"), ckpt, "--outtype", outtype,
           "--outfile", gguf] + (["--mmproj"] if mmproj else [])
    t = time.time()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.convert_timeout)
        rc, so, se = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, so, se = "timeout", str(e.stdout), str(e.stderr)
    with open(os.path.join(WORK, os.path.basename(gguf)[:-5] + ".convert.log"), "w") as f:
        f.write(" ".join(cmd) + "\n" + so + "\n" + se)
    return " ".join(cmd), rc, time.time() - t, gguf


commands = []
jobs = []
with ThreadPoolExecutor(max_workers=12) as pool:
    for name in args.families.split(","):
        try:
            ckpt = build(name)
        except Exception:  # noqa: BLE001
            log(name, "BUILD FAILED")
            LOG.write(traceback.format_exc() + "\n")
            LOG.flush()
            continue
        for mmproj, outtype in ((True, "f16"), (True, "bf16"), (True, "f32"), (True, "q8_0"), (False, "f16")):
            jobs.append(pool.submit(convert, name, ckpt, mmproj, outtype))
    for j in jobs:
        cmd, rc, secs, gguf = j.result()
        size = os.path.getsize(gguf) if os.path.exists(gguf) else None
        log("convert rc=%s %.1fs size=%s %s" % (rc, secs, size, os.path.basename(gguf)))
        commands.append(dict(command=cmd, rc=rc, seconds=round(secs, 1), output=os.path.basename(gguf), bytes=size))
json.dump(commands, open(os.path.join(WORK, "commands.json"), "w"), indent=1)
log("done")
