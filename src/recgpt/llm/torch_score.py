"""Teacher-forced scoring with a loaded model: how likely is each of several given answers after one prompt?

    logprobs = answer_logprobs(loaded, [{"role": "user", "content": prompt}], ['{"verdict": "yes"}', ...])
    # [sum of log p(token) over answer 0's tokens, ...]: floats <= 0, one per answer

This is the quantity preference optimisation trains (DPO and IPO compare exactly these sums for a chosen and a
rejected answer), so a model aligned that way is best read through it rather than through one sampled answer.
The prompt goes through the model's chat template (with the assistant turn opened, as generation does) and is
computed once; the answers then run as one right-padded batch on copies of its keys and values.
"""

from __future__ import annotations

from recgpt.llm.base import BackendError
from recgpt.llm.torch_model import LoadedModel


def answer_logprobs(loaded: LoadedModel, messages: list[dict[str, str]], answers: list[str]) -> list[float]:
    """Summed log-probability of each of ``answers`` (text, without an end token) after ``messages``.

    Shapes: the prompt is ``(1, P)`` tokens, the answers ``(len(answers), A)`` right-padded; the result has one
    float per answer, in order. An empty answer scores 0; a prompt plus answer longer than the model's window
    raises :class:`BackendError` naming both lengths."""
    import torch

    if not answers:
        return []
    tokenizer, model = loaded.tokenizer, loaded.model
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt = tokenizer.encode(text, add_special_tokens=False)
    encoded = [tokenizer.encode(a, add_special_tokens=False) for a in answers]
    longest = max(len(ids) for ids in encoded)
    if len(prompt) + longest > loaded.n_ctx:
        raise BackendError(f"prompt of {len(prompt)} tokens plus an answer of {longest} does not fit the context "
                           f"window of {loaded.n_ctx} tokens (n_ctx)")
    with torch.inference_mode():
        first = model(torch.tensor([prompt]), use_cache=True)
        first_logp = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
        scores = [float(first_logp[ids[0]]) if ids else 0.0 for ids in encoded]
        if longest < 2:
            return scores
        cache = first.past_key_values
        cache.batch_repeat_interleave(len(answers))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        batch = torch.tensor([ids + [pad] * (longest - len(ids)) for ids in encoded])
        mask = torch.ones(len(answers), len(prompt) + longest, dtype=torch.long)
        for row, ids in enumerate(encoded):
            mask[row, len(prompt) + len(ids):] = 0
        out = model(batch, attention_mask=mask, past_key_values=cache, use_cache=False)
        logp = torch.log_softmax(out.logits[:, :-1].float(), dim=-1)  # position t predicts answer token t + 1
        following = logp.gather(2, batch[:, 1:].unsqueeze(-1)).squeeze(-1)
        for row, ids in enumerate(encoded):
            scores[row] += float(following[row, : max(0, len(ids) - 1)].sum())
    return scores
