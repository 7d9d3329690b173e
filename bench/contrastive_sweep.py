"""The issue-3 sweep of `contrastive` settings (a record, not product code): train the body, score several heads.

Run from the repo root: `OMP_NUM_THREADS=1 .venv/bin/python bench/contrastive_sweep.py --help`.
"""

from __future__ import annotations

import argparse
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
from headstart.config import FitConfig
from headstart.data import labels_per_class
from headstart.strategies.contrastive import ContrastiveStrategy, _embed, _Embedder, supervised_contrastive_loss
from headstart.strategies.finetune import build_top, frozen_batchnorm
from headstart.strategies.linear import LinearHead
from headstart.tasks import encode_targets
from headstart.train import Trainer, TrainerConfig

DESC = ["negative, bad movie review", "positive, good movie review"]


def text_feats(top, bb, cut, texts):
    inputs = bb.preprocess(texts)
    with torch.no_grad():
        st = bb.forward({k: torch.from_numpy(v) for k, v in inputs.items()}, 0, cut)
        top.eval()
        return top.features(st).numpy()


def run(cfg, seed, task, bb, out):
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
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    lr = cfg.get("lr", 2e-4)
    decay = cfg.get("lld", 1.0)
    stages = list(top.stages)
    groups = [
        {"name": f"s{i}", "params": list(s.parameters()), "lr": lr * decay ** (len(stages) - 1 - i)}
        for i, s in enumerate(stages)
    ]
    temp = cfg.get("temp", 0.1)
    simcse = cfg.get("simcse", False)
    emb = _Embedder(top)

    class Twice(torch.nn.Module):
        def __init__(s, m):
            super().__init__()
            s.m = m

        def forward(s, state):
            return torch.cat([s.m(state), s.m(state)]) if s.training else s.m(state)

    module = Twice(emb) if simcse else emb

    def loss(e, t, st):
        if simcse:
            t = torch.cat([t, t])
        return supervised_contrastive_loss(e, t, temp)

    tr = Trainer(
        module,
        groups,
        TrainerConfig(
            max_epochs=cfg.get("epochs", 10),
            batch_size=cfg.get("bs", 32),
            seed=seed,
            warmup_epochs=cfg.get("warm", 1.0),
        ),
        frozen=frozen_batchnorm(top),
        loss=loss,
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
    # H0: current head
    h = LinearHead(seed=seed).fit(Xtr, ytr)
    Xs = (Xte - h.mean_) / h.scale_
    lo = Xs @ h.coef_.T + h.intercept_

    def proba(lo):
        if lo.shape[1] == 1:
            lo = np.concatenate([np.zeros_like(lo), lo], 1)
        lo = lo - lo.max(1, keepdims=True)
        p = np.exp(lo)
        return p / p.sum(1, keepdims=True)

    P0 = proba(lo)
    res["h0_std_cv"] = float((np.array(labels)[P0.argmax(1)] == yte).mean())
    res["h0_C"] = h.C_
    # H1: raw normalised embeddings, C=1 (SetFit's head)
    for C in (1.0, 10.0, 100.0):
        m = LogisticRegression(C=C, max_iter=2000).fit(Xtr, ytr)
        res[f"h1_raw_C{C:g}"] = float((m.predict(Xte) == yte).mean())
    # zero-shot with the tuned encoder's description embeddings
    D = text_feats(top, bb, cut, DESC)
    Dn = D / np.linalg.norm(D, axis=1, keepdims=True)
    Xn = Xte / np.linalg.norm(Xte, axis=1, keepdims=True)
    Pz = proba((Xn @ Dn.T) / 0.05)
    res["zs_tuned"] = float((np.array(labels)[Pz.argmax(1)] == yte).mean())
    for w in (0.25, 0.5):
        Pe = np.exp((1 - w) * np.log(P0 + 1e-12) + w * np.log(Pz + 1e-12))
        res[f"h0+zs_tuned_w{w}"] = float((np.array(labels)[Pe.argmax(1)] == yte).mean())
    res["cpu_total"] = time.process_time() - c0
    print(json.dumps(res), flush=True)
    with open(out, "a") as f:
        f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--cfgs", required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", default="/tmp/issue3/sweep.jsonl")
    p.add_argument("--dataset", default="sst2")
    a = p.parse_args()
    os.environ["HEADSTART_CACHE"] = "/tmp/hs-cpu-cache"
    torch.set_num_threads(1)
    task = B.load_task(B.DATASETS[a.dataset], B.DEFAULT_DATA_ROOT)
    bb = get_backbone("minilm-l6")
    for cfg in json.loads(a.cfgs):
        cfg.setdefault("budget", 64)
        for s in [int(x) for x in a.seeds.split(",")]:
            run(cfg, s, task, bb, a.out)
