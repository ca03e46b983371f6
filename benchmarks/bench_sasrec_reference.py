"""Reference: a plain SASRec (RecBole's defaults) trained and evaluated on exactly our Amazon Office protocol.

Not part of the package: it answers "is the SASRec bar of 0.162 reachable under this repository's split, history
and Recall@20 code?" (item-id embeddings shared by input and output, LayerNorm + dropout 0.5, two post-LN
attention layers with 2 heads and a 256-wide GELU feed-forward, full softmax, Adam 1e-3, N(0, 0.02) init, dev
early stopping; history items excluded from the ranking as for every retriever here).

    .venv/bin/python benchmarks/bench_sasrec_reference.py threads=2 epochs=40   [drop=0.5 lr=0.001 bs=256 excl=1]
"""
import sys, time, numpy as np, torch
from torch import nn
from recgpt.data.loaders import load_amazon_office
from recgpt.retrieval.interactions import Catalog, Sequences
from recgpt.retrieval.evaluate import holdout_targets
torch.manual_seed(0); torch.set_num_threads(int(dict(a.split("=") for a in sys.argv[1:]).get("threads", 1)))
args = dict(a.split("=") for a in sys.argv[1:])
drop = float(args.get("drop", 0.5)); lr = float(args.get("lr", 1e-3)); bs = int(args.get("bs", 256)); epochs = int(args.get("epochs", 60))
excl = int(args.get("excl", 1))
ds = load_amazon_office("data/amazon-office")
cat = Catalog.from_table(ds.items); n = len(cat); L = 50; d = 64
train = Sequences.from_events(ds.events, cat)
class SAS(nn.Module):
    def __init__(s):
        super().__init__()
        s.item = nn.Embedding(n + 1, d, padding_idx=n); s.pos = nn.Embedding(L, d)
        s.ln = nn.LayerNorm(d); s.dp = nn.Dropout(drop)
        layer = nn.TransformerEncoderLayer(d, 2, 256, drop, batch_first=True, activation="gelu")
        s.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        for p in s.parameters():
            if p.dim() > 1: nn.init.normal_(p, std=0.02)
    def forward(s, x):
        Lx = x.shape[1]
        h = s.item(x) + s.pos.weight[L - Lx:]
        h = s.dp(s.ln(h))
        mask = torch.triu(torch.full((Lx, Lx), float("-inf")), 1)
        return s.enc(h, mask=mask)
def pad(seqs, w, fill):
    out = np.full((len(seqs), w), fill, np.int64)
    for r, s in enumerate(seqs):
        s = s[-w:]
        if len(s): out[r, w - len(s):] = s
    return torch.from_numpy(out)
net = SAS(); opt = torch.optim.Adam(net.parameters(), lr=lr)
seqs = [s for s in train.items if len(s) >= 2]
def evaluate(fold):
    users, targets = holdout_targets(ds, fold, cat)
    hist = Sequences.from_events(ds.history(fold), cat)
    net.eval(); hits = 0
    with torch.no_grad():
        for st in range(0, len(users), 512):
            b = users[st:st+512]; hs = [hist.get(u)[0] for u in b]
            x = pad(hs, min(L, max(len(h) for h in hs)), n)
            h = net(x)[:, -1]; sc = h @ net.item.weight[:n].T
            if excl:
                for r, hh in enumerate(hs): sc[r, hh] = -1e9
            top = sc.topk(20).indices.numpy()
            hits += sum(t in row for t, row in zip(targets[st:st+512], top))
    return hits / len(users)
rng = np.random.default_rng(0); best = (0, None)
for ep in range(epochs):
    net.train(); t0 = time.time(); order = rng.permutation(len(seqs)); tot = 0
    for st in range(0, len(order), bs):
        b = [seqs[i] for i in order[st:st+bs]]
        w = min(L, max(len(s) for s in b) - 1)
        x = pad([s[:-1] for s in b], w, n); y = pad([s[1:] for s in b], w, -100)
        h = net(x); logits = h @ net.item.weight[:n].T
        loss = nn.functional.cross_entropy(logits.reshape(-1, n), y.reshape(-1), ignore_index=-100)
        opt.zero_grad(); loss.backward(); opt.step(); tot += loss.item()
    if (ep + 1) % 2 == 0:
        dv = evaluate("dev")
        msg = f"ep {ep+1} loss {tot:.1f} dev {dv:.4f} {time.time()-t0:.1f}s"
        if dv > best[0]:
            best = (dv, {k: v.clone() for k, v in net.state_dict().items()}); msg += " *"
        print(msg, flush=True)
net.load_state_dict(best[1])
print("best dev", best[0], "test", evaluate("test"), flush=True)
