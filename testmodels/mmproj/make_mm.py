# Tiny multimodal Gemma checkpoints made by transformers, and their mmproj GGUFs made by the pinned
# convert_hf_to_gguf.py --mmproj (requant issue 20, deliverable 1 test data). Each family is tried on its own.
import json, os, subprocess, sys, tarfile, traceback
import torch, transformers

OUT = os.environ["OUT"]
WORK = "/tmp/mmwork"
os.makedirs(WORK, exist_ok=True)
LOG = open(os.path.join(OUT, "log.txt"), "w")
CONFIGS = {}


def log(*a):
    s = " ".join(str(x) for x in a)
    print(s, flush=True)
    LOG.write(s + "\n")
    LOG.flush()


log("transformers", transformers.__version__, "torch", torch.__version__)

TEXT = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, head_dim=32, max_position_embeddings=1024, sliding_window=32)


def shrink_text(d):
    for k, v in TEXT.items():
        if k in d:
            d[k] = v
    if "layer_types" in d and d["layer_types"] is not None:
        d["layer_types"] = ["sliding_attention", "full_attention"]
    for k, v in dict(global_head_dim=64, vocab_size_per_layer_input=512, num_kv_shared_layers=0).items():
        if d.get(k) is not None:
            d[k] = v
    if d.get("hidden_size_per_layer_input"):
        d["hidden_size_per_layer_input"] = 8
    if d.get("num_global_key_value_heads") is not None:
        d["num_global_key_value_heads"] = 1
    if "enable_moe_block" in d:
        d["enable_moe_block"] = False
    d.pop("per_layer_config", None)


def shrink_encoder(d, extra):
    for k, v in dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2).items():
        if k in d and isinstance(d[k], int):
            d[k] = v
    if d.get("num_key_value_heads") is not None:
        d["num_key_value_heads"] = 2
    if d.get("head_dim") is not None:
        d["head_dim"] = 32
    d.update(extra)


def small_token_ids(d):
    n = 500
    for k in sorted(d):
        v = d[k]
        if (k.endswith("_token_id") or k.endswith("_token_index")) and isinstance(v, int) and v >= 512:
            d[k] = n
            n += 1


def init_weights(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            std = 0.05 if p.ndim >= 2 else 0.3
            p.copy_(torch.randn(p.shape, generator=g) * std)


def build(name, cfg_cls, model_cls, seed, vision_extra, audio_extra, top_extra, processors, preproc_extra):
    d = getattr(transformers, cfg_cls)().to_dict()
    CONFIGS[name + ".defaults"] = d
    for k in ("text_config",):
        if isinstance(d.get(k), dict):
            shrink_text(d[k])
    if isinstance(d.get("vision_config"), dict):
        shrink_encoder(d["vision_config"], vision_extra)
    if isinstance(d.get("audio_config"), dict):
        shrink_encoder(d["audio_config"], audio_extra)
    small_token_ids(d)
    d.update(top_extra)
    cfg = getattr(transformers, cfg_cls).from_dict(d)
    torch.manual_seed(seed)
    model = getattr(transformers, model_cls)(cfg)
    init_weights(model, seed)
    model = model.to(torch.bfloat16)
    out = os.path.join(WORK, name)
    model.save_pretrained(out)
    saved = False
    for pname in processors:
        cls = getattr(transformers, pname, None)
        if cls is None:
            continue
        try:
            cls().save_pretrained(out)
            log(name, "saved processor", pname)
            saved = True
        except Exception as e:
            log(name, "processor", pname, "failed:", repr(e))
    pp = os.path.join(out, "preprocessor_config.json")
    if not os.path.exists(pp):
        json.dump({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}, open(pp, "w"), indent=2)
        log(name, "wrote a minimal preprocessor_config.json")
    if preproc_extra:
        j = json.load(open(pp))
        j.update(preproc_extra)
        json.dump(j, open(pp, "w"), indent=2)
    CONFIGS[name + ".config"] = json.load(open(os.path.join(out, "config.json")))
    from safetensors import safe_open
    with safe_open(os.path.join(out, "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    log(name, len(keys), "tensors, e.g.", [k for k in keys if "language_model" not in k][:12])
    with tarfile.open(os.path.join(OUT, name + ".tar.gz"), "w:gz") as t:
        t.add(out, arcname=name)
    gguf = os.path.join(OUT, name + ".mmproj-f16.gguf")
    r = subprocess.run([sys.executable, "llsrc/convert_hf_to_gguf.py", out, "--mmproj", "--outtype", "f16", "--outfile", gguf],
                       capture_output=True, text=True)
    log(name, "convert rc", r.returncode)
    LOG.write(r.stdout[-6000:] + "\n" + r.stderr[-12000:] + "\n")
    LOG.flush()


FAMILIES = [
    ("gemma3-mm-tiny", "Gemma3Config", "Gemma3ForConditionalGeneration", 31,
     dict(image_size=64, patch_size=8), {}, dict(mm_tokens_per_image=16),
     ["Gemma3ImageProcessor", "Gemma3ImageProcessorFast"], dict(image_seq_length=16)),
    ("gemma4-mm-tiny", "Gemma4Config", "Gemma4ForConditionalGeneration", 41, {}, {}, {},
     ["Gemma4ImageProcessor", "Gemma4ImageProcessorFast", "Gemma4AudioFeatureExtractor"], {}),
    ("gemma4-unified-mm-tiny", "Gemma4UnifiedConfig", "Gemma4UnifiedForConditionalGeneration", 51, {}, {}, {},
     ["Gemma4UnifiedImageProcessor", "Gemma4ImageProcessor", "Gemma4AudioFeatureExtractor"], {}),
]
for fam in FAMILIES:
    try:
        build(*fam)
    except Exception:
        log(fam[0], "FAILED")
        LOG.write(traceback.format_exc() + "\n")
json.dump(CONFIGS, open(os.path.join(OUT, "configs.json"), "w"), indent=1, default=str)
for f in sorted(os.listdir(OUT)):
    log(f, os.path.getsize(os.path.join(OUT, f)))
