#!/usr/bin/env python3
"""Generate the files of the `classify` example and the PyTorch logits its tests compare with.

Run from the repository root:

    python3 examples/classify/make_classify.py

Needs torch 2.x and safetensors. With the same torch version it rewrites every file byte for
byte, then loads the saved weights into a fresh module and checks the logits again.

Files
-----
examples/classify/weights.safetensors
    `Classifier().state_dict()`: linear.weight (20, 30), linear.bias (20,),
    rnn.weight_ih_l0 (80, 20), rnn.weight_hh_l0 (80, 20), rnn.bias_ih_l0 (80,),
    rnn.bias_hh_l0 (80,), fc.weight (2, 20), fc.bias (2,).
examples/classify/input.safetensors
    input (32, 10, 30) float32: a batch of 32 sequences of 10 steps (batch_first).
tests/fixtures/classify_expected.safetensors
    logits          (32, 2)  Classifier()(input), last step `out[:, -1, :]`
    lengths         (32,)    int64, every value in 1..=10 (10 and 1 included)
    logits_lengths  (32, 2)  Classifier()(input, lengths): the LSTM over
                    pack_padded_sequence(..., enforce_sorted=False), last step
                    `out[torch.arange(B), lengths - 1]`
tests/fixtures/sequential_bigru.weights.safetensors
    `BiClassifier().state_dict()` (linear.*, rnn.* bidirectional GRU, fc.*).
tests/fixtures/sequential_bigru.io.safetensors
    input (5, 7, 6), lengths (5,) int64, logits (5, 3) and logits_full (5, 3)
    (the same input without lengths: forward half at T-1, reverse half at 0).
"""

import os

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "classify")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
META = {"torch_version": torch.__version__}


class Classifier(nn.Module):
    """Linear(30 -> 20) -> LSTM(20, 20, batch_first) -> last step -> Linear(20 -> 2)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(30, 20)
        self.rnn = nn.LSTM(20, 20, batch_first=True)
        self.fc = nn.Linear(20, 2)

    def forward(self, x, lengths=None):
        x = self.linear(x)
        if lengths is None:
            out, _ = self.rnn(x)
            last = out[:, -1, :]
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            last = out[torch.arange(x.shape[0]), lengths - 1]
        return self.fc(last)


class BiClassifier(nn.Module):
    """Linear(6 -> 5) -> ReLU -> bidirectional GRU(5, 4) -> last step -> Tanh -> Linear(8 -> 3).

    The last step of a bidirectional layer as PyTorch users take it: the forward half at each
    sequence's last valid step, the reverse half at step 0 (where the reverse pass ends). It
    equals `torch.cat([h_n[-2], h_n[-1]], dim=1)`.
    """

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 5)
        self.rnn = nn.GRU(5, 4, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x, lengths=None):
        x = torch.relu(self.linear(x))
        B, T, _ = x.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.int64)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, h_n = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        H = self.rnn.hidden_size
        last = torch.cat([out[torch.arange(B), lengths - 1, :H], out[:, 0, H:]], dim=1)
        assert torch.equal(last, torch.cat([h_n[-2], h_n[-1]], dim=1))
        return self.fc(torch.tanh(last))


def contiguous(d):
    return {k: v.detach().clone().contiguous() for k, v in d.items()}


def reloaded(cls, path):
    fresh = cls()
    fresh.load_state_dict(load_file(path))
    return fresh.eval()


def main():
    torch.use_deterministic_algorithms(True)
    with torch.no_grad():
        torch.manual_seed(20240611)
        model = Classifier().eval()
        x = torch.randn(32, 10, 30)
        lengths = torch.randint(1, 11, (32,), dtype=torch.int64)
        lengths[0], lengths[1] = 10, 1
        logits = model(x)
        logits_lengths = model(x, lengths)

        weights = os.path.join(EXAMPLE, "weights.safetensors")
        save_file(contiguous(model.state_dict()), weights, metadata=META)
        save_file({"input": x.contiguous()}, os.path.join(EXAMPLE, "input.safetensors"),
                  metadata=META)
        expected = os.path.join(FIXTURES, "classify_expected.safetensors")
        save_file({"logits": logits.contiguous(), "lengths": lengths,
                   "logits_lengths": logits_lengths.contiguous()}, expected, metadata=META)
        again = reloaded(Classifier, weights)
        assert torch.equal(again(x), logits)
        assert torch.equal(again(x, lengths), logits_lengths)
        print(f"classify: logits {tuple(logits.shape)}, first row {logits[0].tolist()}")

        torch.manual_seed(77)
        bi = BiClassifier().eval()
        xb = torch.randn(5, 7, 6)
        lb = torch.tensor([7, 3, 1, 5, 2], dtype=torch.int64)
        bi_logits = bi(xb, lb)
        bi_full = bi(xb)
        bi_weights = os.path.join(FIXTURES, "sequential_bigru.weights.safetensors")
        save_file(contiguous(bi.state_dict()), bi_weights, metadata=META)
        save_file({"input": xb.contiguous(), "lengths": lb, "logits": bi_logits.contiguous(),
                   "logits_full": bi_full.contiguous()},
                  os.path.join(FIXTURES, "sequential_bigru.io.safetensors"), metadata=META)
        again = reloaded(BiClassifier, bi_weights)
        assert torch.equal(again(xb, lb), bi_logits)
        print(f"sequential_bigru: logits {tuple(bi_logits.shape)}")


if __name__ == "__main__":
    main()
