"""Trains a tiny Gemma 3 (the golden gemma3-tiny config: 6 layers, hidden 256, vocab 1024) on token ids, then
fine-tunes it quantization-aware for Q4_0 and exports the checkpoint the way Gemma's "qat-q4_0-unquantized" releases
store weights: every 2-D weight (and the tied embedding) is bf16(q * d), codes q in -8..7 per block of 32 along the
input dimension, d = bf16(absmax / 7) (a symmetric +-7 grid with BF16-held scales, which llama.cpp's max/-8 encoder does
not reproduce). Norms are kept as trained. Needs torch and transformers (the GPU machine has both).

  python3 train_qat_gemma3.py CONFIG.json TOKENS.bin OUT_DIR [PRETRAIN_STEPS QAT_STEPS [plain]]

With "plain" (and QAT_STEPS 0) the pretrained weights are exported as they are, in BF16, without the lattice: a
trained model that was never quantization-aware (for the mix measurements of BENCHMARKS.md).

TOKENS.bin: little-endian int32 ids (requant's tokenizer of calibration.txt); the last 10% are held out.
"""
import json, math, sys, time
import numpy as np
import torch
from transformers import AutoConfig, AutoModelForCausalLM

torch.manual_seed(0)
cfg_path, tok_path, out_dir = sys.argv[1:4]
pre_steps = int(sys.argv[4]) if len(sys.argv) > 4 else 1500
qat_steps = int(sys.argv[5]) if len(sys.argv) > 5 else 1500
lattice_export = not (len(sys.argv) > 6 and sys.argv[6] == "plain")
dev = "cuda"
ids = torch.from_numpy(np.fromfile(tok_path, dtype="<i4").astype(np.int64))
split = int(len(ids) * 0.9)
train, held = ids[:split].to(dev), ids[split:].to(dev)
cfg = AutoConfig.from_pretrained(cfg_path)
model = AutoModelForCausalLM.from_config(cfg).float().to(dev)
model.train()
SEQ, BATCH = 256, 64
QK = 32

def quantized(w):
    """bf16(q*d) per 32-block of the last dim, d = bf16(absmax/7), q = clamp(round(w/d), -8, 7)."""
    b = w.reshape(-1, QK)
    d = (b.abs().amax(-1, keepdim=True) / 7).to(torch.bfloat16).float()
    d = torch.where(d == 0, torch.ones_like(d), d)
    q = torch.clamp(torch.round(b / d), -8, 7)
    return (q * d).reshape(w.shape)

def qat_params():
    return [p for n, p in model.named_parameters() if p.dim() == 2 and p.shape[-1] % QK == 0]

def batch():
    starts = torch.randint(0, len(train) - SEQ - 1, (BATCH,), device=dev)
    x = torch.stack([train[s:s + SEQ] for s in starts.tolist()])
    x[:, 0] = cfg.bos_token_id  # every chunk starts at BOS, as llama.cpp's evaluation does
    return x

def held_loss():
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        n = (len(held) - 1) // SEQ
        x = torch.stack([held[i * SEQ:(i + 1) * SEQ] for i in range(n)])
        x[:, 0] = cfg.bos_token_id
        loss = model(input_ids=x, labels=x).loss.item()
    model.train()
    return loss

def run(steps, lr, fake_quant):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    params = qat_params()
    t0 = time.time()
    for step in range(steps):
        lr_now = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        for g in opt.param_groups:
            g["lr"] = lr_now
        saved = None
        if fake_quant:  # straight-through estimator: forward on the lattice, gradient to the latent weights
            saved = [p.data.clone() for p in params]
            for p in params:
                p.data = quantized(p.data)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            x = batch()
            loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if fake_quant:
            for p, s in zip(params, saved):
                p.data = s
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 250 == 0 or step == steps - 1:
            print(f"{'qat' if fake_quant else 'pre'} step {step} loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)

run(pre_steps, 3e-3, False)
print(f"held-out loss after pretraining: {held_loss():.4f}", flush=True)
run(qat_steps, 1e-3, True)
if lattice_export:
    with torch.no_grad():
        for p in qat_params():
            p.data = quantized(p.data)
    print(f"held-out loss of the lattice weights (fp32 compute): {held_loss():.4f}", flush=True)
model = model.to(torch.bfloat16)
model.save_pretrained(out_dir, safe_serialization=True)
print(f"held-out loss of the exported BF16 checkpoint: {held_loss():.4f}", flush=True)
