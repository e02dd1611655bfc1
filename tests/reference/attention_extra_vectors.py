"""Reference numbers for tests/interpreter/test_attention_variants.c that spec §9 does not list:
the adaptive-temperature softmax exactly as the reference model code writes it (ascending-power
polynomial) and a top-k softmax, both with PyTorch. Run: /usr/bin/python3 this_file."""
import torch


def polyval(p, x):  # the reference's ascending-power polyval
    n = p.shape[0]
    p = p.view(-1, *([1] * len(x.shape)))
    pows = torch.arange(n).view(-1, *([1] * len(x.shape)))
    x = x.unsqueeze(0).expand(n, *x.shape)
    return torch.sum(p * x.pow(pows), dim=0)


def adaptive_temperature_softmax(logits):
    probs = torch.softmax(logits, dim=-1)
    poly_fit = torch.tensor([-0.037, 0.481, -2.3, 4.917, -1.791])
    entropy = torch.sum(-probs * torch.log(probs + 1e-9), dim=-1, keepdims=True)
    beta = torch.where(entropy > 0.5, torch.clamp(polyval(poly_fit, entropy), min=1.0),
                       torch.tensor(1.0))
    return torch.softmax(logits * beta, dim=-1)


def show(name, t):
    print(name, ", ".join(f"{v:.9g}" for v in t.tolist()))


z8 = torch.tensor([0.9, -1.2, 0.35, 1.6, 0.1, -0.3, 1.25, 0.0])
show("adaptive z8", adaptive_temperature_softmax(z8))
show("adaptive [3,0,-1]", adaptive_temperature_softmax(torch.tensor([3.0, 0.0, -1.0])))
show("adaptive [.1,.2,0,-.1]", adaptive_temperature_softmax(torch.tensor([0.1, 0.2, 0.0, -0.1])))
vals, idx = z8.topk(3, sorted=False)
order = idx.argsort()
show("topk3 z8 indices", idx[order])
show("topk3 z8 p", torch.softmax(vals, -1)[order])
