#!/usr/bin/env python3
"""Checks that encoders exported by shrink (`Encoder::save_hf_bert`) load in Hugging Face's
`transformers.BertModel.from_pretrained` and compute what shrink computes.

Usage (needs `pip install torch transformers`; not part of `cargo test`):

    SHRINK_HF_EXPORT_DIR=target/hf_export cargo test --release --test hf_export -- --ignored
    python3 scripts/check_hf_export.py target/hf_export [--tolerance 1e-4]

Every subdirectory of the given directory that holds `config.json`, `model.safetensors` and
`expected.json` (written by the ignored test `write_dirs_for_transformers` in
tests/hf_export.rs) is loaded with `BertModel.from_pretrained(dir)`, run in eval mode on the
batch in `expected.json`, and its `last_hidden_state` compared with shrink's at the real
(unpadded) tokens. Exits non-zero if a directory fails to load, leaves a weight of the file
unused or one of the encoder uninitialised (the pooler, which shrink's encoder does not have,
excepted), or differs by more than the tolerance.

Head-pruned exports record the pruned heads as `"pruned_heads"` in config.json, which
transformers 4.x applies when it builds the model. transformers 5 dropped head pruning, so in
it such a directory fails with a size mismatch; the script reports that as a skip (not a pass)
and says why. Unpruned, FFN-narrowed and dequantized exports load in both.
"""

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="directory of exported encoders")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    import torch
    import transformers
    from transformers import BertModel

    major = int(transformers.__version__.split(".")[0])
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    dirs = sorted(p.parent for p in args.root.glob("*/expected.json"))
    if not dirs:
        print(f"no exported encoders under {args.root}", file=sys.stderr)
        return 2
    failed = skipped = 0
    for d in dirs:
        config = json.loads((d / "config.json").read_text())
        pruned = bool(config.get("pruned_heads"))
        try:
            model, info = BertModel.from_pretrained(
                d, output_loading_info=True, attn_implementation="eager"
            )
        except Exception as e:  # noqa: BLE001 - report and go on with the other directories
            if pruned and major >= 5:
                print(
                    f"SKIP {d.name}: pruned_heads needs transformers 4.x "
                    f"(transformers {transformers.__version__} dropped head pruning): "
                    f"{type(e).__name__}"
                )
                skipped += 1
            else:
                print(f"FAIL {d.name}: could not load: {e}")
                failed += 1
            continue
        missing = [k for k in info.get("missing_keys", []) if not k.startswith("pooler.")]
        unexpected = list(info.get("unexpected_keys", []))
        mismatched = list(info.get("mismatched_keys", []))
        if missing or unexpected or mismatched:
            print(
                f"FAIL {d.name}: missing {missing}, unexpected {unexpected}, "
                f"mismatched {mismatched}"
            )
            failed += 1
            continue
        model.eval()
        expected = json.loads((d / "expected.json").read_text())
        ids = torch.tensor(expected["input_ids"], dtype=torch.long)
        types = torch.tensor(expected["token_type_ids"], dtype=torch.long)
        mask = torch.tensor(expected["attention_mask"], dtype=torch.long)
        want = torch.tensor(expected["last_hidden_state"], dtype=torch.float32)
        with torch.no_grad():
            got = model(
                input_ids=ids, token_type_ids=types, attention_mask=mask
            ).last_hidden_state
        real = mask.bool()
        err = (got[real] - want[real]).abs().max().item()
        heads = [
            layer.attention.self.query.out_features // (config["hidden_size"] // config["num_attention_heads"])
            for layer in model.encoder.layer
        ]
        status = "ok  " if err <= args.tolerance else "FAIL"
        print(
            f"{status} {d.name}: max |Δ last_hidden_state| = {err:.2e} "
            f"(heads per layer {heads}, intermediate {config['intermediate_size']})"
        )
        failed += err > args.tolerance
    print(f"{len(dirs) - failed - skipped} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
