"""A small, real RunPod worker: a tiny GPT-2 built from a config answers a prompt.

No hub, no network: the model is made from a config with a fixed seed, so the worker
starts anywhere. RunPod starts it as the image's CMD; locally, the SDK runs it once with
`python handler.py --test_input '{"input": {"prompt": "hello"}}'`.
"""

import runpod
import torch
from transformers import GPT2Config, GPT2LMHeadModel

torch.manual_seed(0)
MODEL = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=64, vocab_size=256)).eval()
MAX_PROMPT = 512


def handler(job):
    prompt = job["input"].get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("input.prompt must be a non-empty string")
    data = prompt.encode("utf-8")
    if len(data) > MAX_PROMPT:
        raise ValueError(f"input.prompt is {len(data)} bytes; at most {MAX_PROMPT}")
    tokens = int(job["input"].get("max_new_tokens", 8))
    ids = torch.tensor([list(data)])
    with torch.no_grad():
        out = MODEL.generate(ids, max_new_tokens=tokens, do_sample=False, pad_token_id=0)
    answer = out[0, ids.shape[1] :].tolist()
    return {"prompt_bytes": len(data), "answer_ids": answer}


runpod.serverless.start({"handler": handler})
