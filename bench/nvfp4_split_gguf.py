"""NVFP4 split sweep helper for bench/nvfp4-split-sweep.sh (exploration only; requant's converter is the Java code).

  nvfp4_split_gguf.py BF16.gguf OUT.gguf K        ModelOpt-quantize the projections; FFN block scales x 2^-K, .scale x 2^K
                                                  (K = deq: dequantized F32 reference; fit: nearest-to-1 exact shift)
  nvfp4_split_gguf.py --compare IDS REF.logits A.logits ...   NaN count, KLD and top-1 against REF
"""
import sys, json, re
import numpy as np

def compare(ids_file, ref_file, others):
    ids = json.load(open(ids_file))
    def load(f): return np.fromfile(f, dtype=np.float32).reshape(len(ids), -1).astype(np.float64)
    def lsm(x): m = x.max(-1, keepdims=True); return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))
    ref = load(ref_file); lr = lsm(ref)
    for f in others:
        L = load(f); lp = lsm(L)
        nan_pos = int(np.isnan(L).any(-1).sum())
        kld = float(np.mean(np.sum(np.exp(lr) * (lr - lp), -1)))
        nll = -np.mean([lp[i, ids[i + 1]] for i in range(len(ids) - 1)])
        print(f"{f.split('/')[-1]:14s} non-finite positions {nan_pos:3d}/{len(ids)}  ppl {np.exp(nll):9.3f}  KLD vs dequantized {kld:.4f}  top-1 {np.mean(L.argmax(-1) == ref.argmax(-1)):.3f}")

if sys.argv[1] == '--compare':
    compare(sys.argv[2], sys.argv[3], sys.argv[4:])
    sys.exit(0)
import gguf
from gguf import GGUFReader, GGUFWriter, GGMLQuantizationType as T

src, dst, kmode = sys.argv[1], sys.argv[2], sys.argv[3]
E2M1 = np.array([0,0.5,1,1.5,2,3,4,6], dtype=np.float32)

def e4m3_table():
    t = np.zeros(256, dtype=np.float32)
    for b in range(256):
        s = -1 if b & 0x80 else 1; e = (b>>3)&15; m = b&7
        if e == 15 and m == 7: t[b] = np.nan; continue
        t[b] = s*((m/8.0)*2**-6 if e == 0 else (1+m/8)*2.0**(e-7))
    return t
E4M3 = e4m3_table()
POS = E4M3[:127]   # codes 0..126 ascending
def to_e4m3(x):  # RNE to nearest positive e4m3 code (x in [2^-9, 448])
    idx = np.searchsorted(POS, x)
    idx = np.clip(idx, 1, 126)
    lo, hi = POS[idx-1], POS[idx]
    pick = np.where((x - lo) < (hi - x), idx-1, np.where((x-lo) > (hi-x), idx, np.where((idx-1)%2==0, idx-1, idx)))
    return pick.astype(np.uint8)

def quant(W):   # ModelOpt
    W = W.astype(np.float32)
    out, inn = W.shape
    amax = np.abs(W).max()
    s2 = np.float32(amax / (6.0*448.0))
    blocks = W.reshape(out, inn//16, 16)
    bamax = np.abs(blocks).max(-1)
    pbs = bamax / (6.0 * s2)
    pbs[pbs == 0] = 1.0
    pbs = np.clip(pbs, 2**-9, 448)
    code_s = to_e4m3(pbs)
    sc = E4M3[code_s] * s2
    scaled = blocks / sc[..., None]
    a = np.abs(scaled)
    idx = np.searchsorted(np.array([.25,.75,1.25,1.75,2.5,3.5,5]), a, side='left')
    # ModelOpt tie: .75,1.75,2.5 round up: side left gives idx for a==bound -> lower; adjust
    for b, i in [(0.75,2),(1.75,4),(2.5,5)]:
        idx = np.where(a == b, i, idx)
    codes = (idx | (np.signbit(scaled).astype(np.int64) << 3)).astype(np.uint8)
    return codes.reshape(out, inn), code_s, s2

def shift_ok(code_s, k):
    e = (code_s >> 3) & 15; m = code_s & 7
    nz = code_s != 0
    return np.all((e[nz] - k) >= 1)

def pack(codes, code_s, k):
    out, inn = codes.shape
    cs = code_s.astype(np.int32)
    e = (cs >> 3) & 15
    cs = np.where(cs != 0, ((e - k) << 3) | (cs & 7), 0).astype(np.uint8)
    c = codes.reshape(out, inn//16, 16)
    q = (c[..., :8] | (c[..., 8:] << 4)).astype(np.uint8)   # [out, nb, 8]
    nb = inn // 16
    q = q.reshape(out, nb//4, 4, 8)
    d = cs.reshape(out, nb//4, 4)
    blk = np.concatenate([d, q.reshape(out, nb//4, 32)], axis=-1)
    return blk.reshape(out, (inn//64)*36)

r = GGUFReader(src)
arch = r.fields['general.architecture'].contents()
w = GGUFWriter(dst, arch)
for f in r.fields.values():
    if f.name.startswith('GGUF.') or f.name == 'general.architecture': continue
    vt = f.types[0]
    if vt == gguf.GGUFValueType.ARRAY:
        w.add_key_value(f.name, f.contents(), vt, sub_type=f.types[-1])
    else:
        w.add_key_value(f.name, f.contents(), vt)
for t in r.tensors:
    name = t.name
    data = np.array(t.data)
    if re.match(r'blk\.\d+\.(attn_(q|k|v|output)|ffn_(gate|up|down))\.weight', name):
        W = data.view(np.uint16).astype(np.uint32) << 16
        W = W.view(np.float32).reshape(t.shape[::-1].tolist()) if False else (data.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(int(t.shape[1]), int(t.shape[0]))
        codes, code_s, s2 = quant(W)
        if kmode == 'deq': k = 0
        elif kmode == 'fit':
            k = int(np.round(-np.log2(s2)))
            while k > 0 and not shift_ok(code_s, k): k -= 1
        else:
            k = int(kmode)
            assert shift_ok(code_s, k), name
        only = sys.argv[4] if len(sys.argv) > 4 else 'all'
        deq = (np.where(codes & 8, -1, 1) * E2M1[codes & 7]).reshape(codes.shape[0], -1, 16) * E4M3[code_s][..., None] * s2
        if kmode == 'deq' or (only == 'attn' and 'ffn' in name) or (only == 'ffn' and 'attn' in name):
            w.add_tensor(name, deq.reshape(codes.shape).astype(np.float32)); continue
        blk = pack(codes, code_s, k)
        w.add_tensor(name, blk, raw_shape=blk.shape, raw_dtype=T.NVFP4)
        base = name[:-len('.weight')]
        sc = np.float32(s2 * 2.0**k)
        if abs(sc - 1) >= 1e-6:
            w.add_tensor(base + '.scale', np.array([sc], dtype=np.float32))
        print(name, 's2=%.3g k=%d scale=%.4g maxcode=%d' % (s2, k, sc, code_s.max()), file=sys.stderr)
    else:
        w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=t.tensor_type)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
