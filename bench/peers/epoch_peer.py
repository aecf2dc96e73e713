"""The PyTorch peer of `MLNetTuning.Bench epoch-peer`: one training epoch over exactly the batches our Fit trained on.

It reads the file that the bench exports (token ids, attention masks, token types and labels per batch, in training order,
padded as our loop padded them, plus every step's learning rate), loads all-MiniLM-L6-v2 from the same ONNX weights with
the peers' Hugging Face-style BERT (shared/peers/py/bert.py, imported, not copied) and trains one epoch as Hugging Face's
Trainer would: forward in train mode (dropout 0.1), binary cross-entropy with logits on one logit (our binary head),
backward, gradient clipping, AdamW with our learning rate, weight decay (none on biases and LayerNorm) and schedule.
BERT_ATTN=sdpa selects torch's fused attention, BERT_AMP=bf16 torch.autocast(bfloat16), as in bert_worker.py.
Prints progress to stderr and one JSON line to stdout: examples, steps, seconds (wall = loop = the epoch's loop), the
loss of every step and the SHA-256 of the file it read.

usage: python3 epoch_peer.py --model MODEL.onnx --batches BATCHES.bin [--bert DIR_OF_bert.py] [--threads 2] [--fused-adamw]
"""
import argparse, contextlib, hashlib, json, os, struct, sys, time

MAGIC = b"MLNTEPB1"
WARMUP_BATCHES = 2


def read_batches(path):
    """The export of EpochPeerBench.Export: magic, int32 header length, JSON header, then per batch
    int32 rows, int32 length, int32 ids/mask/types [rows*length], float32 labels [rows] (little-endian)."""
    import numpy as np
    with open(path, "rb") as f:
        data = bytearray(f.read())  # writable, so that torch.from_numpy may share the arrays without a copy or a warning
    if data[:8] != MAGIC:
        sys.exit(f"{path} is not an epoch-peer batch export: it starts with {data[:8]!r}, not {MAGIC!r}")
    (header_length,) = struct.unpack_from("<i", data, 8)
    at = 12 + header_length
    header = json.loads(data[12:at])
    batches = []
    for _ in range(header["batches"]):
        rows, length = struct.unpack_from("<ii", data, at)
        at += 8
        arrays = []
        for _ in range(3):
            arrays.append(np.frombuffer(data, dtype="<i4", count=rows * length, offset=at).reshape(rows, length))
            at += 4 * rows * length
        labels = np.frombuffer(data, dtype="<f4", count=rows, offset=at)
        at += 4 * rows
        batches.append((*arrays, labels))
    if at != len(data):
        sys.exit(f"{path}: {len(data) - at} bytes left after {header['batches']} batches; the file does not match its header")
    # The bench checks this against the SHA-256 of what its own runs trained: the peer read exactly our batches.
    return header, batches, hashlib.sha256(data).hexdigest().upper()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="all-MiniLM-L6-v2's model.onnx (the peers' models/minilm/model.onnx)")
    parser.add_argument("--batches", required=True, help="the file MLNetTuning.Bench epoch-peer exported")
    parser.add_argument("--bert", default=os.environ.get("BERT_PY_DIR", "/peers/py"), help="the folder holding the peers' bert.py")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fused-adamw", action="store_true", help="torch's fused CPU AdamW instead of its default (for-each) one")
    args = parser.parse_args()
    for path in (args.model, args.batches, os.path.join(args.bert, "bert.py")):
        if not os.path.isfile(path):
            sys.exit(f"{path} does not exist")

    import torch
    import torch.nn.functional as F
    sys.path.insert(0, args.bert)
    import bert

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    started = time.perf_counter()
    header, batches, digest = read_batches(args.batches)
    if header["num_labels"] != 1:
        sys.exit(f"the export is for {header['num_labels']} labels; this peer trains the binary head (one logit) only")
    amp_mode = os.environ.get("BERT_AMP", "off")
    amp = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if amp_mode == "bf16" else contextlib.nullcontext

    torch.manual_seed(1)
    config = bert.Config(num_labels=1, hidden_dropout_prob=header["hidden_dropout"],
                         attention_probs_dropout_prob=header["attention_dropout"])
    model = bert.BertForSequenceClassification(config)
    model.bert.load_state_dict(bert.onnx_state_dict(args.model), strict=True)  # every encoder tensor found; the head stays random
    model.dropout.p = header["classifier_dropout"]
    initial = {name: value.clone() for name, value in model.state_dict().items()}

    def optimizer():
        # Our recipe (and BERT's): no weight decay on biases and LayerNorm weights.
        decay = [p for n, p in model.named_parameters() if not (n.endswith(".bias") or "LayerNorm" in n)]
        no_decay = [p for n, p in model.named_parameters() if n.endswith(".bias") or "LayerNorm" in n]
        return torch.optim.AdamW([{"params": decay, "weight_decay": header["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
                                 lr=header["learning_rate"], betas=(header["adam_beta1"], header["adam_beta2"]),
                                 eps=header["adam_epsilon"], **({"fused": True} if args.fused_adamw else {}))

    def step(opt, batch, learning_rate):
        ids, mask, types, labels = batch
        # Arrays to tensors inside the timed loop, as a data loader's collate would.
        ids, mask, types = (torch.from_numpy(a).long() for a in (ids, mask, types))
        for group in opt.param_groups:
            group["lr"] = learning_rate
        with amp():
            logits = model(ids, mask, types)
        loss = F.binary_cross_entropy_with_logits(logits.float(), torch.from_numpy(labels).unsqueeze(1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if header["max_grad_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), header["max_grad_norm"])
        opt.step()
        return loss.item()

    # Warm-up (untimed, as our warm-up Fit): creates oneDNN's kernels; then the weights go back and the optimizer starts fresh.
    model.train()
    warm = optimizer()
    for batch in batches[:WARMUP_BATCHES]:
        step(warm, batch, header["learning_rate"])
    model.load_state_dict(initial)
    del warm
    torch.manual_seed(1)
    loaded = time.perf_counter() - started

    opt = optimizer()
    rates = header["learning_rates"]
    losses = []
    clock = time.perf_counter()
    for number, batch in enumerate(batches):
        losses.append(step(opt, batch, rates[number]))
        if (number + 1) % 10 == 0:
            print(f"step {number + 1}/{len(batches)} loss {losses[-1]:.4f} {sum(len(b[3]) for b in batches[:number + 1]) / (time.perf_counter() - clock):.2f} examples/s",
                  file=sys.stderr, flush=True)
    seconds = time.perf_counter() - clock
    examples = sum(len(b[3]) for b in batches)
    print(json.dumps(dict(name=f"pytorch {torch.__version__} {amp_mode}", examples=examples, steps=len(batches), wall=seconds, loop=seconds,
                          losses=losses, hash=digest, torch=torch.__version__, attention="sdpa" if bert.SDPA else "eager", amp=amp_mode,
                          threads=torch.get_num_threads(), fused_adamw=args.fused_adamw, load_and_warmup_seconds=loaded)), flush=True)


if __name__ == "__main__":
    main()
