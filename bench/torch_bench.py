#!/usr/bin/python3
"""PyTorch 1.13 (Debian's native CPU build) on the convolution and LeNet rows
of bench/spec.mjs, for bench/torch.mjs: `torch_bench.py THREADS SPEC_JSON`
prints one JSON object {row id: median ms}. Same timing policy as the
JavaScript workers (warm-up of at least warmupMs, then `repeats` repeats of
at least minRepeatMs each, the median per call); each call's result is
read back (one element) inside the timed region."""
import json
import sys
import time

import torch
import torch.nn.functional as F

threads = int(sys.argv[1])
spec = json.loads(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
T = spec["timing"]


def measure(fn):
    t0 = time.perf_counter()
    n = 0
    while n < T["warmup"] or (time.perf_counter() - t0) * 1e3 < T["warmupMs"]:
        fn()
        n += 1
    # calls per repeat so that a repeat lasts at least minRepeatMs
    t0 = time.perf_counter()
    fn()
    one = max((time.perf_counter() - t0) * 1e3, 1e-3)
    inner = max(1, int(T["minRepeatMs"] / one + 0.999))
    per = []
    for _ in range(T["repeats"]):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        per.append((time.perf_counter() - t0) * 1e3 / inner)
    per.sort()
    return per[len(per) // 2]


out = {}
L = spec["lenet"]
for row in spec["rows"]:
    rid = row["id"]
    if "conv" in row:
        c = row["conv"]
        x = torch.rand(c["batch"], c["channels"], c["size"], c["size"]) * 2 - 1
        w = torch.randn(c["channels"], c["channels"], 3, 3) * 0.05
        if rid == "conv3x3_fwd":
            with torch.no_grad():
                out[rid] = measure(lambda: F.conv2d(x, w, padding=1)[0, 0, 0, 0].item())
        else:
            x.requires_grad_(True)
            w.requires_grad_(True)
            dy = torch.rand(c["batch"], c["channels"], c["size"], c["size"]) * 2 - 1

            def step():
                x.grad = None
                w.grad = None
                F.conv2d(x, w, padding=1).backward(dy)
                return x.grad[0, 0, 0, 0].item() + w.grad[0, 0, 0, 0].item()

            out[rid] = measure(step)
    elif rid in ("lenet_fwd", "lenet_step"):
        B = row["batch"]
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, L["conv1"]["filters"], L["conv1"]["kernel"]), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2, 2),
            torch.nn.Conv2d(L["conv1"]["filters"], L["conv2"]["filters"], L["conv2"]["kernel"]), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2, 2), torch.nn.Flatten(),
            torch.nn.Linear(L["dense"][0], L["dense"][1]), torch.nn.ReLU(),
            torch.nn.Linear(L["dense"][1], L["dense"][2]), torch.nn.ReLU(),
            torch.nn.Linear(L["dense"][2], L["dense"][3]),
        )
        X = torch.rand(B, 1, 28, 28)
        y = torch.arange(B) % 10
        if rid == "lenet_fwd":
            net.eval()
            with torch.no_grad():
                out[rid] = measure(lambda: net(X)[0, 0].item())
        else:
            opt = torch.optim.SGD(net.parameters(), lr=L["lr"])

            def step():
                opt.zero_grad()
                loss = F.cross_entropy(net(X), y)
                loss.backward()
                opt.step()
                return loss.item()

            out[rid] = measure(step)
print(json.dumps(out))
