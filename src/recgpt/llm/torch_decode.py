"""The decode loop of one batch: each prompt prefilled alone into a left-padded batch cache, then one
token per active row per step.

A hand-written loop over ``model(...)`` rather than ``generate``: each row has its own budget, grammar
matcher, temperature and random generator, and finished rows leave the batch. The KV cache is allocated
once for the longest prompt plus the largest budget (:func:`~recgpt.llm.torch_kv_cache.preallocated_cache`);
when at least a quarter of the rows still in the batch have finished, they are dropped from it (their cache
rows copied out once) so later steps compute only live rows.
"""

from __future__ import annotations

import time

import torch

from recgpt.llm.torch_kv_cache import preallocated_cache
from recgpt.llm.torch_generate import Generated, GenerationStats, PreparedRow
from recgpt.llm.torch_grammar import SchemaGrammars
from recgpt.llm.torch_json_closing import CLOSING_WINDOW, NEED_MARGIN
from recgpt.llm.torch_model import LoadedModel
from recgpt.llm.torch_prefix_cache import PrefixStore
from recgpt.llm.torch_sampling import row_generator, sample_token


@torch.inference_mode()
def decode_batch(
    loaded: LoadedModel, batch: list[PreparedRow], grammars: SchemaGrammars | None, stats: GenerationStats,
    prefixes: PrefixStore | None = None,
) -> list[tuple[int, Generated]]:
    """Answers of ``batch`` as ``(row index, Generated)`` pairs. Raises on allocation failure (the caller
    splits the batch); matchers are reset first, so a retried row starts clean. ``prefixes``: prompts
    prefilled before, whose shared prefixes are reused (and this batch's prompts are added to it)."""
    model, stops = loaded.model, loaded.stop_token_ids
    lengths = [len(p.prompt_ids) for p in batch]
    width, budget = max(lengths), max(p.max_tokens for p in batch)
    size = len(batch)
    mask = torch.zeros(size, width + budget, dtype=torch.long)
    for i, (p, n) in enumerate(zip(batch, lengths)):
        mask[i, width - n : width] = 1
        if p.matcher is not None:
            p.matcher.reset()
            p.closing, p.closing_need = False, None
    generators = [row_generator(p.row.seed) if p.row.temperature > 0 else None for p in batch]
    bitmask = grammars.new_bitmask(size) if grammars is not None and any(p.matcher for p in batch) else None
    start = time.perf_counter()
    cache, logits = _prefill(model, batch, width, width + budget, prefixes)
    stats.prefill_s += time.perf_counter() - start
    stats.prompt_tokens += sum(lengths)
    stats.batches += 1
    start = time.perf_counter()
    active = list(range(size))  # batch row held by each row of the current tensors
    outputs: list[list[int]] = [[] for _ in batch]
    finish: list[str | None] = [None] * size
    next_position = torch.tensor(lengths, dtype=torch.long)
    for step in range(budget):
        tokens = _choose(logits, [batch[a] for a in active], [outputs[a] for a in active],
                         [generators[a] for a in active], [finish[a] is not None for a in active],
                         grammars, bitmask, stats)
        for r, a in enumerate(active):
            if finish[a] is not None:
                continue
            token = tokens[r]
            if token in stops:
                finish[a] = "stop"
                continue
            outputs[a].append(token)
            if batch[a].matcher is not None:
                batch[a].matcher.accept_token(token)
            if len(outputs[a]) >= batch[a].max_tokens:
                finish[a] = "length"
        live = [r for r, a in enumerate(active) if finish[a] is None]
        if not live:
            break
        stats.decode_steps += 1
        if (len(active) - len(live)) * 4 >= len(active):
            keep = torch.tensor(live, dtype=torch.long)
            for layer in cache.layers:
                layer.batch_select_indices(keep)
            mask, next_position = mask[keep], next_position[keep]
            tokens = [tokens[r] for r in live]
            active = [active[r] for r in live]
            stats.compactions += 1
        column = width + step
        mask[:, column] = 1
        logits = model(input_ids=torch.tensor(tokens, dtype=torch.long).unsqueeze(1),
                       attention_mask=mask[:, : column + 1], position_ids=(next_position + step).unsqueeze(1),
                       past_key_values=cache, use_cache=True).logits[:, -1].float()
    stats.decode_s += time.perf_counter() - start
    stats.generated_tokens += sum(len(o) for o in outputs)
    decode = loaded.tokenizer.decode
    return [
        (p.index, Generated(decode(out, skip_special_tokens=False, clean_up_tokenization_spaces=False),
                            n, len(out), "stop" if why == "stop" else "length"))
        for p, n, out, why in zip(batch, lengths, outputs, finish)
    ]


def _prefill(model, batch: list[PreparedRow], width: int, capacity: int, prefixes: PrefixStore | None = None):
    """Run each prompt alone (no padding, causal attention without a mask) and store its keys and values
    left-padded in a batch cache of ``capacity`` positions, after the part of it ``prefixes`` already holds.
    Returns the cache and the last-position logits (B, V) in fp32. One prompt at a time is as fast per
    token as a padded batch of them (matrix products of hundreds of rows already fill the cores) and
    wastes nothing on padding."""
    cache = preallocated_cache(model.config, capacity)
    logits = []
    for i, p in enumerate(batch):
        alone = preallocated_cache(model.config, len(p.prompt_ids))
        shared, layers = prefixes.longest(p.prompt_ids) if prefixes is not None else (0, None)
        if layers is not None:
            for layer, (keys, values) in zip(alone.layers, layers):
                layer.allocate(1, keys.shape[0], keys.shape[-1], keys.dtype)
                layer.write_prompt(0, keys[:, :shared], values[:, :shared], shared)
                layer.set_length(shared)
        out = model(input_ids=torch.tensor([p.prompt_ids[shared:]], dtype=torch.long), past_key_values=alone,
                    use_cache=True, logits_to_keep=1)
        logits.append(out.logits[0, -1].float())
        for layer, row in zip(cache.layers, alone.layers):
            if not layer.is_initialized:
                layer.allocate(len(batch), row.keys.shape[1], row.keys.shape[-1], row.keys.dtype)
            layer.write_prompt(i, row.keys[0], row.values[0], width)
        if prefixes is not None:
            prefixes.add(p.prompt_ids, [(row.keys[0], row.values[0]) for row in alone.layers])
    for layer in cache.layers:
        layer.set_length(width)
    return cache, torch.stack(logits)


def _choose(logits: torch.Tensor, rows: list[PreparedRow], outputs: list[list[int]], generators: list,
            done: list[bool], grammars: SchemaGrammars | None, bitmask: torch.Tensor | None,
            stats: GenerationStats) -> list[int]:
    """Next token of each row of ``logits`` (B, V): grammar mask, greedy or sampled, then closing mode."""
    constrained = [r for r, p in enumerate(rows) if p.matcher is not None and not done[r]]
    start = time.perf_counter()
    if constrained:
        grammars.constrain(logits, [rows[r].matcher for r in constrained], constrained, bitmask)
    stats.grammar_s += time.perf_counter() - start
    tokens = logits.argmax(dim=-1).tolist()
    for r, generator in enumerate(generators):
        if generator is not None and not done[r]:
            tokens[r] = sample_token(logits[r], rows[r].row.temperature, generator)
    start = time.perf_counter()
    for r in constrained:
        row, remaining = rows[r], rows[r].max_tokens - len(outputs[r])
        if not row.closing and remaining <= CLOSING_WINDOW:
            row.closing = not _leaves_room(row, tokens[r], remaining, grammars)
        if row.closing:
            tokens[r] = grammars.closer.closing_token(bitmask[r].numpy())
    stats.grammar_s += time.perf_counter() - start
    return tokens


def _leaves_room(row: PreparedRow, token: int, remaining: int, grammars: SchemaGrammars) -> bool:
    """Whether the JSON can still be completed within ``remaining`` tokens (``token`` included) after
    ``token``. A token that cannot change the structure keeps the last computed need (plus a margin)."""
    closer = grammars.closer
    if row.closing_need is not None and not closer.structural[token]:
        if 1 + row.closing_need + NEED_MARGIN <= remaining:
            return True
    row.closing_need = closer.need_after(row.matcher, token, remaining - 1, grammars.scratch)
    return 1 + row.closing_need <= remaining
