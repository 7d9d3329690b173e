"""The issue-3 sweep of `contrastive` settings (a record, not product code): train the body, score several heads.

Run from the repo root: `OMP_NUM_THREADS=1 .venv/bin/python bench/contrastive_sweep.py --help`.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import strategies as B
from sklearn.linear_model import LogisticRegression

from headstart.backbones import get_backbone
from headstart.backbones.sentence_transformer import masked_mean
from headstart.config import FitConfig
from headstart.data import labels_per_class
from headstart.strategies.contrastive import ContrastiveStrategy, _embed, _Embedder, supervised_contrastive_loss
from headstart.strategies.finetune import build_top, frozen_batchnorm
from headstart.strategies.linear import LinearHead
from headstart.tasks import encode_targets
from headstart.train import Trainer, TrainerConfig

DESC = ["negative, bad movie review", "positive, good movie review"]
FROZEN_LAYERS = (2, 3, 4, 6)  # frozen pooled features after this many transformer layers (6 = the linear probe's)
PROBS = Path("/tmp/issue3/probs")  # per-seed test probabilities and embeddings, for heads scored afterwards
_FROZEN_TEST: dict = {}  # the untuned test features, computed once per process


def cosine_pair_loss(e, t):
    """SetFit's CosineSimilarityLoss over every in-batch pair: MSE between cos(u, v) and 1[same class]."""
    z = torch.nn.functional.normalize(e, dim=1)
    i, j = torch.triu_indices(len(t), len(t), offset=1)
    cos = (z[i] * z[j]).sum(1)
    return torch.nn.functional.mse_loss(cos, (t[i] == t[j]).to(cos.dtype))


class WeightAverage:
    """v5: EMA of the body's weights per step (`ema` = decay), or SWA = the mean of the weights at the end of
    each epoch from epoch `swa_from` (1-based) on; the average replaces the weights when training ends."""

    def __init__(self, top, ema=None, swa_from=None):
        self.params = [p for p in top.stages.parameters()]
        self.ema, self.swa_from, self.avg, self.n = ema, swa_from, None, 0

    @torch.no_grad()
    def on_batch_end(self, trainer, n):
        if self.ema is None:
            return
        if self.avg is None:
            self.avg = [p.detach().clone() for p in self.params]
        for a, p in zip(self.avg, self.params, strict=True):
            a.mul_(self.ema).add_(p.detach(), alpha=1 - self.ema)

    @torch.no_grad()
    def on_epoch_end(self, trainer, metrics):
        if self.swa_from is None or metrics["epoch"] < self.swa_from:
            return
        self.n += 1
        if self.avg is None:
            self.avg = [p.detach().clone() for p in self.params]
        else:
            for a, p in zip(self.avg, self.params, strict=True):
                a.add_(p.detach() - a, alpha=1 / self.n)

    @torch.no_grad()
    def on_fit_end(self, trainer):
        if self.avg is not None:
            for a, p in zip(self.avg, self.params, strict=True):
                p.copy_(a)


@torch.no_grad()
def frozen_pooled(frozen, data, bs=64):
    """L2-normalised masked-mean features after each of FROZEN_LAYERS untuned transformer layers."""
    frozen.eval()
    out = {k: [] for k in FROZEN_LAYERS}
    for state, _ in data.batches(bs, epoch=None, seed=0):
        for n, stage in enumerate(frozen.stages, start=1):
            state = stage(state)
            if n in out:
                f = masked_mean(state["hidden"], state["attention_mask"])
                out[n].append(torch.nn.functional.normalize(f, dim=1).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def _wise_proba(top, frozen, alpha, strat, bb, train, test, cut, config, enc, seed):
    """Test probabilities of the shipped head on a body whose weights are alpha·tuned + (1−alpha)·pretrained."""
    mixed = copy.deepcopy(top)
    with torch.no_grad():
        for pm, pf in zip(mixed.stages.parameters(), frozen.stages.parameters(), strict=True):
            pm.mul_(alpha).add_(pf, alpha=1 - alpha)
    ev = strat._training_data(bb, train, cut, config, enc, evaluation=True)[0]
    tev = strat._training_data(bb, test, cut, config, enc, evaluation=True)[0]
    Xtr, Xte = _embed(mixed, ev, 32), _embed(mixed, tev, 64)
    labels = sorted(set(train.labels))
    return head_proba(Xtr, np.array([labels[t] for t in ev.targets]), Xte, seed)[0]


def proba(lo):
    if lo.shape[1] == 1:
        lo = np.concatenate([np.zeros_like(lo), lo], 1)
    lo = lo - lo.max(1, keepdims=True)
    p = np.exp(lo)
    return p / p.sum(1, keepdims=True)


def head_proba(Xtr, ytr, Xte, seed):
    """The shipped head (LinearHead: standardised, C by CV) fitted on Xtr, probabilities on Xte."""
    h = LinearHead(seed=seed).fit(Xtr, ytr)
    return proba(((Xte - h.mean_) / h.scale_) @ h.coef_.T + h.intercept_), h


def text_feats(top, bb, cut, texts):
    inputs = bb.preprocess(texts)
    with torch.no_grad():
        st = bb.forward({k: torch.from_numpy(v) for k, v in inputs.items()}, 0, cut)
        top.eval()
        return top.features(st).numpy()


def _frozen_columns(res, saved, frozen, ev, tev, cut, ytr, seed, acc, P0):
    """Heads on the frozen (untuned) pooled features after k layers: alone, concatenated, prob-averaged."""
    Xtr, Xte = saved["Xtr"], saved["Xte"]
    c1 = time.process_time()
    Ftr = frozen_pooled(frozen, ev)
    res["cpu_frozen_train"] = time.process_time() - c1  # extra training cost of a head that uses them
    if cut not in _FROZEN_TEST:  # the same for every setting and seed at one cut (v5: keyed by cut)
        _FROZEN_TEST[cut] = frozen_pooled(frozen, tev)
    Fte = _FROZEN_TEST[cut]
    for k in FROZEN_LAYERS:
        Pk, _ = head_proba(Ftr[k], ytr, Fte[k], seed)
        Pc, _ = head_proba(np.hstack([Xtr, Ftr[k]]), ytr, np.hstack([Xte, Fte[k]]), seed)
        res[f"frozen_L{k}"] = acc(Pk)
        res[f"concat_L{k}"] = acc(Pc)
        res[f"avg_L{k}"] = acc((P0 + Pk) / 2)
        saved[f"F{k}"] = Pk
        if k in (3, 6):
            saved[f"Ftr{k}"], saved[f"Fte{k}"] = Ftr[k], Fte[k]


def run(cfg, seed, task, bb, out, a_dataset="sst2"):
    ds, pool, test, _ = task
    train = labels_per_class(pool, cfg["budget"], seed=seed, classes=ds.classes)
    strat = ContrastiveStrategy()
    cut = cfg.get("cut", 1)
    labels = sorted(set(train.labels))

    def enc(v):
        return encode_targets(v, "classification", labels)

    config = FitConfig(
        backbone="minilm-l6",
        strategy="contrastive",
        seed=seed,
        threads=1,
        out="/tmp/issue3/m",
        progress=False,
        batch_size=cfg.get("bs", 32),
    )
    c0 = time.process_time()
    data, n, _, _ = strat._training_data(bb, train, cut, config, enc)
    data.group = cfg.get("group", 4)
    top = build_top(bb, cut, len(labels))
    frozen = copy.deepcopy(top)
    tseed = seed + cfg.get("tseed", 0)  # a different trainer seed (order, dropout) on the same data draw
    torch.manual_seed(tseed)
    torch.set_num_threads(1)
    lr = cfg.get("lr", 3e-4)  # the product default since v3 (layer-wise decay 0.8, 3e-4 on the last layer)
    decay = cfg.get("lld", 0.8)
    stages = list(top.stages)
    groups = [
        {"name": f"s{i}", "params": list(s.parameters()), "lr": lr * decay ** (len(stages) - 1 - i)}
        for i, s in enumerate(stages)
    ]
    if cut == 0 and "emb_lr" in cfg:  # v5: the embedding stage at its own (much lower) rate
        groups[0]["lr"] = cfg["emb_lr"]
    if "dropout" in cfg:  # v5: every dropout inside the trained transformer layers (MiniLM: 0.1)
        for m in top.stages.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = cfg["dropout"]
    temp = cfg.get("temp", 0.1)
    simcse = cfg.get("simcse", False)
    emb = _Embedder(top)

    class Twice(torch.nn.Module):
        def __init__(s, m):
            super().__init__()
            s.m = m

        def forward(s, state):
            return torch.cat([s.m(state), s.m(state)]) if s.training else s.m(state)

    kind = cfg.get("loss", "supcon")
    ce_w = cfg.get("ce_w", 1.0)

    class Joint(torch.nn.Module):
        """Embedding and a linear head's logits side by side, for SupCon + CE trained jointly."""

        def __init__(s, m):
            super().__init__()
            s.m = m
            s.head = torch.nn.Linear(bb.feature_dim, len(labels))

        def forward(s, state):
            z = s.m(state)
            return torch.cat([z, s.head(z * cfg.get("ce_scale", 20.0))], 1)

    wdrop = cfg.get("wdrop", 0.0)
    views = cfg.get("views", 1)

    class WordDrop(torch.nn.Module):
        """v5: drop each token (not the first) from attention and pooling with probability `wdrop` while
        training; with `views` > 1, several such views of each item, all positives of each other."""

        def __init__(s, m):
            super().__init__()
            s.m = m

        def view(s, state):
            mask = state["attention_mask"]
            keep = torch.rand(mask.shape) >= wdrop
            keep[:, 0] = True
            return s.m({**state, "attention_mask": mask * keep.to(mask.dtype)})

        def forward(s, state):
            if not s.training:
                return s.m(state)
            return torch.cat([s.view(state) for _ in range(views)])

    module = Twice(emb) if simcse else (Joint(emb) if kind == "supcon+ce" else emb)
    if wdrop or views > 1:
        module = WordDrop(emb)
    if kind == "supcon+ce":
        groups.append({"name": "head", "params": list(module.head.parameters()), "lr": cfg.get("head_lr", 1e-2)})

    def loss(e, t, st):
        if simcse:
            t = torch.cat([t, t])
        if views > 1:
            t = torch.cat([t] * views)
        if kind == "cosine":
            return cosine_pair_loss(e, t)
        if kind == "supcon+ce":
            z, logits = e[:, : bb.feature_dim], e[:, bb.feature_dim :]
            return supervised_contrastive_loss(z, t, temp) + ce_w * torch.nn.functional.cross_entropy(logits, t)
        return supervised_contrastive_loss(e, t, temp)

    tr = Trainer(
        module,
        groups,
        TrainerConfig(
            max_epochs=cfg.get("epochs", 10),
            batch_size=cfg.get("bs", 32),
            seed=tseed,
            warmup_epochs=cfg.get("warm", 1.0),
        ),
        frozen=frozen_batchnorm(top),
        loss=loss,
        callbacks=[WeightAverage(top, cfg.get("ema"), cfg.get("swa_from"))],
    )
    tr.fit(data, None)
    ev = strat._training_data(bb, train, cut, config, enc, evaluation=True)[0]
    Xtr = _embed(top, ev, 32)
    ytr = np.array([labels[t] for t in ev.targets])
    cpu_train = time.process_time() - c0
    tev = strat._training_data(bb, test, cut, config, enc, evaluation=True)[0]
    Xte = _embed(top, tev, 64)
    yte = np.array([labels[t] for t in tev.targets])
    res = {"cfg": cfg, "seed": seed, "cpu_train": cpu_train, "load": os.getloadavg()}
    # H0: the shipped head on the tuned embeddings
    P0, h = head_proba(Xtr, ytr, Xte, seed)
    names = np.array(labels)

    def acc(P):
        return float((names[P.argmax(1)] == yte).mean())

    res["h0_std_cv"] = acc(P0)
    res["h0_C"] = h.C_
    # richer head inputs: frozen (untuned) pooled features after k layers, alone, concatenated, prob-averaged
    saved = {"P0": P0, "y": yte, "labels": names, "ytr": ytr, "Xtr": Xtr, "Xte": Xte}  # for heads scored afterwards
    if cut <= 1:  # v6: FROZEN_LAYERS count from cut 1 (cut 0 as in v5); other cuts get no such columns
        _frozen_columns(res, saved, frozen, ev, tev, cut, ytr, seed, acc, P0)
    PROBS.mkdir(parents=True, exist_ok=True)
    np.savez(PROBS / f"{cfg['name']}-{a_dataset}-{cfg['budget']}-s{seed}.npz", **saved)
    # SetFit's head (C=1 on the normalised embeddings)
    m = LogisticRegression(C=1.0, max_iter=2000).fit(Xtr, ytr)
    res["h1_raw_C1"] = float((m.predict(Xte) == yte).mean())
    if a_dataset == "sst2":  # zero-shot with the tuned encoder's description embeddings
        D = text_feats(top, bb, cut, DESC)
        Dn = D / np.linalg.norm(D, axis=1, keepdims=True)
        Xn = Xte / np.linalg.norm(Xte, axis=1, keepdims=True)
        Pz = proba((Xn @ Dn.T) / 0.05)
        res["zs_tuned"] = acc(Pz)
        Pe = np.exp(0.75 * np.log(P0 + 1e-12) + 0.25 * np.log(Pz + 1e-12))
        res["h0+zs_tuned_w0.25"] = acc(Pe)
    for alpha in cfg.get("wise", []):  # v5: WiSE-FT, the body's weights interpolated towards the pretrained ones
        res[f"wise{alpha}"] = acc(_wise_proba(top, frozen, alpha, strat, bb, train, test, cut, config, enc, seed))
    res["cpu_total"] = time.process_time() - c0
    print(json.dumps(res), flush=True)
    with open(out, "a") as f:
        f.write(json.dumps(res) + "\n")
    return res["h0_std_cv"]


# the product default body (v4 `def`; v6: seeds 5-8 from the v5 product cells, strategies-v5-draws-contrastive.jsonl)
DEFAULT_SST2_64 = {0: 0.757, 1: 0.783, 2: 0.787, 3: 0.739, 4: 0.749, 5: 0.752, 6: 0.757, 7: 0.753, 8: 0.788}
# SetFit per data draw: strategies-cpu.jsonl (seed 0), -v3*.jsonl (1-4), -v5-draws-setfit-*.jsonl (5-8)
SETFIT_SST2_64 = {0: 0.784, 1: 0.766, 2: 0.791, 3: 0.755, 4: 0.776, 5: 0.786, 6: 0.757, 7: 0.784, 8: 0.789}
REPORT_KEYS = (
    "h0_std_cv",
    "h1_raw_C1",
    "wise0.6",
    "wise0.8",
    "concat_L3",
    "concat_L6",
    "avg_L3",
    "avg_L6",
    "frozen_L3",
    "frozen_L6",
)


def _stats(values):
    v = np.array(values)
    sd = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
    return float(v.mean()), sd


def report(path, ensembles, base_path=None):
    """Per setting and head: per-seed accuracies, mean ± sd, paired diff vs SetFit (mean ± s.e.), CPU s.

    `ensembles` = [(name, [setting, ...])]: average the shipped head's test probabilities of several bodies
    (same data draw, different trainer seeds), read from PROBS.
    """
    rows = [json.loads(line) for line in open(path)]
    by = {}
    for r in rows:
        by.setdefault(r["cfg"]["name"], {})[r["seed"]] = r
    base_rows = [json.loads(line) for line in open(base_path)] if base_path else rows
    base = {r["seed"]: r["h0_std_cv"] for r in base_rows if r["cfg"]["name"] == "def"}  # for paired diffs
    base = {**DEFAULT_SST2_64, **base}  # v6: seeds without a `def` row (5-8) take the product's v5 cells
    for name, seeds in by.items():
        cpu = np.mean([r["cpu_train"] for r in seeds.values()])
        extra = np.mean([r.get("cpu_frozen_train", 0.0) for r in seeds.values()])
        print(f"## {name}  ({len(seeds)} seeds, train CPU s {cpu:.1f}, +{extra:.1f} for frozen head features)")
        for key in REPORT_KEYS:
            if key not in next(iter(seeds.values())):
                continue
            _line(key, {s: r[key] for s, r in sorted(seeds.items())}, base)
    for name, members in ensembles:
        got = {}
        for seed in SETFIT_SST2_64:
            files = [PROBS / f"{m}-sst2-64-s{seed}.npz" for m in members]
            if all(f.exists() for f in files):
                got[seed] = _ensemble_heads([np.load(f, allow_pickle=False) for f in files], seed)
        if got:
            print(f"## ensemble {name} of bodies {members}")
            for form in next(iter(got.values())):
                _line(form, {s: forms[form] for s, forms in got.items()}, base)


def _ensemble_heads(loaded, seed):
    """Accuracy of several bodies combined: mean of head probabilities, one head on the concatenated or on the
    mean embedding, and the concatenation plus the frozen layer-3 features."""
    names, y, ytr = loaded[0]["labels"], loaded[0]["y"], loaded[0]["ytr"]

    def acc(P):
        return float((names[P.argmax(1)] == y).mean())

    def fitted(tr, te):
        return acc(head_proba(tr, ytr, te, seed)[0])

    Xtr, Xte = [z["Xtr"] for z in loaded], [z["Xte"] for z in loaded]
    return {
        "mean_proba": acc(np.mean([z["P0"] for z in loaded], axis=0)),
        "concat": fitted(np.hstack(Xtr), np.hstack(Xte)),
        "mean_emb": fitted(np.mean(Xtr, axis=0), np.mean(Xte, axis=0)),
        "concat+L3": fitted(np.hstack([*Xtr, loaded[0]["Ftr3"]]), np.hstack([*Xte, loaded[0]["Fte3"]])),
    }


def _paired(acc, ref):
    """Mean and standard error of acc - ref over the seeds both have, in points."""
    diffs = [acc[s] - ref[s] for s in acc if s in ref]
    if not diffs:
        return float("nan"), float("nan")
    dm, dsd = _stats(diffs)
    return 100 * dm, 100 * dsd / np.sqrt(len(diffs))


def _line(key, acc, base):
    mean, sd = _stats(list(acc.values()))
    per = " / ".join(f"{v:.3f}" for v in acc.values())
    (sm, sse), (bm, bse) = _paired(acc, SETFIT_SST2_64), _paired(acc, base)
    print(
        f"  {key:<12} {per}  mean {mean:.3f} ± {sd:.3f}  vs SetFit {sm:+.1f} ± {sse:.1f}  vs def {bm:+.1f} ± {bse:.1f}"
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--cfgs", default="[]")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", default="/tmp/issue3/sweep.jsonl")
    p.add_argument("--dataset", default="sst2")
    p.add_argument("--stop-after", type=int, default=99, help="v5: stop a setting after this many seeds if ...")
    p.add_argument("--stop-below", type=float, default=-99.0, help="... its mean vs def (points) is below this")
    p.add_argument("--report", action="store_true", help="summarise --out instead of running")
    p.add_argument("--base", default=None, help="v5: read the `def` rows for --report from this file")
    p.add_argument("--ensembles", default="[]", help="JSON [[name, [setting, ...]], ...] for --report")
    a = p.parse_args()
    if a.report:
        report(a.out, json.loads(a.ensembles), a.base)
        sys.exit(0)
    os.environ["HEADSTART_CACHE"] = "/tmp/hs-cpu-cache"
    torch.set_num_threads(1)
    task = B.load_task(B.DATASETS[a.dataset], B.DEFAULT_DATA_ROOT)
    bb = get_backbone("minilm-l6")
    for cfg in json.loads(a.cfgs):
        cfg.setdefault("budget", 64)
        diffs = []
        for s in [int(x) for x in a.seeds.split(",")]:
            acc = run(cfg, s, task, bb, a.out, a.dataset)
            diffs.append(acc - DEFAULT_SST2_64.get(s, acc))
            if len(diffs) >= a.stop_after and 100 * np.mean(diffs) < a.stop_below:
                print(
                    f"# {cfg['name']}: stopped after {len(diffs)} seeds, {100 * np.mean(diffs):+.1f} vs def", flush=True
                )
                break
