"""The torch engine with the real embedded model (SmolLM2-135M dequantized from its GGUF).

The converted model is cached under ``$RECGPT_CACHE/models`` (default ``~/.cache/recgpt/models``); the first
run converts it (about 20 s), later runs load it in a few seconds.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

pytestmark = pytest.mark.llm
for _module in ("llama_cpp", "xgrammar", "peft", "gguf", "accelerate"):
    pytest.importorskip(_module)

import torch  # noqa: E402

from recgpt.llm.base import BackendError, Completion, DecodingParams  # noqa: E402
from recgpt.llm.llama_cpp_backend import default_model_path  # noqa: E402
from recgpt.llm.smoke import Color  # noqa: E402
from recgpt.llm.torch_backend import TorchBackend  # noqa: E402
from recgpt.llm.torch_generate import BatchGenerator, Generated, GenerationRow  # noqa: E402
from recgpt.llm.torch_model import load_model, resolve_source  # noqa: E402
from recgpt.llm.torch_model_files import adapter_hash, converted_gguf_folder  # noqa: E402
from recgpt.stages.schemas import ExplanationAnswer, InterestsAnswer, TagsAnswer  # noqa: E402

PARITY_TEXTS = [
    "12345", "TI-84 Plus 2024", "1,000,000 items; $19.99", '{"interests": [{"interest": "pens", "stage": "listed"}]}',
    "café naïve 東京 😀", "  12  34 ", "\n\n123\n", "tab\t\t1", "Labeling Tape, ½ x 23'", "١٢٣ ٤٥٦ Ⅻ",
    "Hello, world! It's 3.14...  spaces   and\ttabs\nnewline", "<|im_start|>user\nhi<|im_end|>",
]
QUESTIONS = [
    "Name one office supply.",
    "In one sentence, who would buy a stapler for a small office with twelve people and a shared printer?",
    "What is 12 + 30?",
    "Write a haiku about paper clips, then explain in two sentences why paper clips are useful on a desk.",
]


def ask(question: str, max_tokens: int = 12, **kwargs) -> GenerationRow:
    return GenerationRow([{"role": "user", "content": question}], max_tokens, **kwargs)


@pytest.fixture(scope="module")
def fp32():
    torch.set_num_threads(1)  # robust on a shared machine: 2 threads on 2 busy cores wait on each other
    return load_model(resolve_source(None), dtype="float32")


@pytest.fixture(scope="module")
def llama_vocab():
    from llama_cpp import Llama

    llama = Llama(model_path=str(default_model_path()), vocab_only=True, verbose=False)
    yield llama
    llama.close()


def test_token_ids_match_llama_cpp(fp32, llama_vocab):
    for text in PARITY_TEXTS:
        expected = llama_vocab.tokenize(text.encode(), add_bos=False, special=True)
        assert fp32.tokenizer.encode(text, add_special_tokens=False) == expected, text


def test_chat_prompt_matches_llama_cpp(fp32):
    from llama_cpp import Llama

    llama = Llama(model_path=str(default_model_path()), n_ctx=256, n_threads=1, verbose=False)
    seen = {}
    original = llama.create_completion

    def capture(*args, **kwargs):
        seen["prompt"] = kwargs.get("prompt", args[0] if args else None)
        return original(*args, **kwargs)

    llama.create_completion = capture
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name 3 pens, e.g. 'G2 0.7mm'."}]
    llama.create_chat_completion(messages, max_tokens=1, temperature=0.0)
    llama.close()
    row = BatchGenerator(fp32).prepare(0, GenerationRow(messages, 8))
    assert row.prompt_ids == list(seen["prompt"])


def test_a_prompt_alone_and_in_a_mixed_batch_gives_the_same_greedy_answer(fp32):
    rows = [ask(q, 8) for q in QUESTIONS] + [ask(QUESTIONS[1], 8, temperature=0.9, seed=7)]
    together = BatchGenerator(fp32, batch_size=8).generate(rows)
    alone = BatchGenerator(fp32, batch_size=1).generate(rows)
    assert all(isinstance(g, Generated) and g.completion_tokens > 0 for g in together)
    assert [g.text for g in together] == [g.text for g in alone]
    assert len({g.prompt_tokens for g in together}) >= 3  # the batch really had mixed lengths


def test_rows_stop_at_their_own_budget_and_at_end_of_sequence(fp32):
    out = BatchGenerator(fp32).generate([ask(QUESTIONS[2], 40), ask(QUESTIONS[3], 3), ask(QUESTIONS[3], 9)])
    assert out[0].finish_reason == "stop" and out[0].completion_tokens < 40 and "<|im_end|>" not in out[0].text
    assert (out[1].completion_tokens, out[1].finish_reason) == (3, "length")
    assert (out[2].completion_tokens, out[2].finish_reason) == (9, "length")
    assert out[2].text.startswith(out[1].text)


def test_answers_under_a_schema_are_valid_even_when_cut_short(fp32):
    rambling = "Write as JSON every interest, tag and reason you can think of for a fountain pen fan, with long reasons."
    budgets = {InterestsAnswer: 44, TagsAnswer: 44, ExplanationAnswer: 24, Color: 12}
    rows = [ask(rambling, budget, json_schema=model.model_json_schema()) for model, budget in budgets.items()]
    out = BatchGenerator(fp32).generate(rows + [ask(rambling, 4)])
    for (model, budget), answer in zip(budgets.items(), out):
        model.model_validate(json.loads(answer.text))
        assert answer.completion_tokens <= budget
    assert out[0].completion_tokens > 30  # the interests answer was closed near its budget, not empty
    assert isinstance(out[-1], Generated) and out[-1].completion_tokens == 4  # a free-text row in the same batch


def test_sampling_is_seeded_per_row(fp32):
    generator = BatchGenerator(fp32, batch_size=4)
    first = generator.generate([ask(QUESTIONS[0], 8, temperature=1.0, seed=s) for s in (1, 2, 1)])
    assert first[0].text == first[2].text
    again = generator.generate([ask(QUESTIONS[2], 3), ask(QUESTIONS[0], 8, temperature=1.0, seed=2)])
    assert again[1].text == first[1].text


def test_a_prompt_longer_than_the_context_fails_alone(fp32):
    small = dataclasses.replace(fp32, n_ctx=48)
    out = BatchGenerator(small).generate([ask("Say yes.", 4), ask("word " * 60, 4), ask("Say no.", 30)])
    assert isinstance(out[1], BackendError) and "does not fit the context window of 48 tokens" in str(out[1])
    assert isinstance(out[0], Generated) and isinstance(out[2], Generated)
    assert out[2].prompt_tokens + out[2].completion_tokens <= 48


def test_out_of_memory_batches_are_split_and_retried(fp32, monkeypatch):
    rows = [ask(q, 4) for q in QUESTIONS] + [ask("Say yes.", 4)]
    expected = [g.text for g in BatchGenerator(fp32, batch_size=8).generate(rows)]
    real_forward = fp32.model.forward
    sizes = []

    def forward(*args, **kwargs):
        rows_in = kwargs["input_ids"].shape[0]
        sizes.append(rows_in)
        if rows_in > 2:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(fp32.model, "forward", forward)
    generator = BatchGenerator(fp32, batch_size=8)
    out = generator.generate(rows)
    assert [g.text for g in out] == expected
    assert generator.stats.oom_splits == 2 and max(sizes) == 5  # 5 -> 2 + 3 -> 2 + 1 + 2


def test_a_failing_single_row_reports_out_of_memory(fp32, monkeypatch):
    def forward(*args, **kwargs):
        raise MemoryError("simulated")

    monkeypatch.setattr(fp32.model, "forward", forward)
    out = BatchGenerator(fp32).generate([ask("Say yes.", 4)])
    assert isinstance(out[0], BackendError) and "out of memory for one row" in str(out[0])


def test_backend_complete_batch_returns_one_entry_per_prompt():
    backend = TorchBackend(dtype="float32", threads=1, batch_size=4, n_ctx=64)
    schema = Color.model_json_schema()
    out = backend.complete_batch(
        ["What color is snow? Answer in JSON.", "word " * 80, [{"role": "user", "content": "Say yes."}]],
        [DecodingParams(16), DecodingParams(4), DecodingParams(4)], [schema, None, None],
    )
    assert isinstance(out[0], Completion) and Color.model_validate_json(out[0].text)
    assert isinstance(out[1], BackendError) and isinstance(out[2], Completion)
    assert backend.model_id.startswith("SmolLM2-135M-Instruct.Q4_1.gguf@") and backend.model_id.endswith(":float32")
    with pytest.raises(BackendError, match="does not fit the context window"):
        backend.complete("word " * 80, DecodingParams(4))


@pytest.fixture(scope="module")
def base_folder():
    return converted_gguf_folder(default_model_path())


def _lora(base, folder, **config):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    settings = {"r": 4, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "init_lora_weights": False, **config}
    get_peft_model(base, LoraConfig(**settings)).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_an_adapter_changes_the_answers_and_the_model_id(fp32, base_folder, tmp_path):
    from transformers import AutoModelForCausalLM

    adapter = _lora(AutoModelForCausalLM.from_pretrained(base_folder), tmp_path / "lora")
    params, prompt = DecodingParams(12), QUESTIONS[1]
    base = TorchBackend(dtype="float32", threads=1)
    tuned = TorchBackend(dtype="float32", threads=1, adapter=adapter)
    assert adapter_hash(adapter)[:16] in tuned.model_id and tuned.model_id != base.model_id
    assert tuned.complete(prompt, params).text != base.complete(prompt, params).text


@pytest.mark.slow
def test_adapters_made_for_another_base_model_are_refused(base_folder, tmp_path):
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    tiny = LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, vocab_size=1000))
    other_size = _lora(tiny, tmp_path / "other-size")
    with pytest.raises(BackendError, match=f"{other_size}.*does not fit the base model SmolLM2.*size mismatch"):
        TorchBackend(dtype="float32", adapter=other_size).complete("Hi", DecodingParams(2))
    missing_module = _lora(AutoModelForCausalLM.from_pretrained(base_folder), tmp_path / "no-such-module")
    config = json.loads((missing_module / "adapter_config.json").read_text())
    (missing_module / "adapter_config.json").write_text(json.dumps({**config, "target_modules": ["no_such_proj"]}))
    with pytest.raises(BackendError, match=f"{missing_module}.*does not fit the base model.*no_such_proj"):
        TorchBackend(dtype="float32", adapter=missing_module).complete("Hi", DecodingParams(2))
    with pytest.raises(BackendError, match="not a LoRA adapter folder"):
        TorchBackend(adapter=tmp_path)


def test_bad_model_folders_are_named_in_the_error(tmp_path):
    from transformers import T5Config

    with pytest.raises(BackendError, match=f"{tmp_path / 'nowhere'}: model not found"):
        TorchBackend(model=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match="empty: not a Hugging Face model folder \\(no config.json\\)"):
        TorchBackend(model=tmp_path / "empty")
    T5Config(d_model=32, d_ff=64, num_layers=1, num_heads=2).save_pretrained(tmp_path / "t5")
    with pytest.raises(BackendError, match="t5: not a causal language model \\(t5\\)"):
        TorchBackend(model=tmp_path / "t5").complete("Hi", DecodingParams(2))
    with pytest.raises(BackendError, match="dtype must be one of auto, bfloat16, float32"):
        TorchBackend(dtype="float16")


def test_shared_prompt_prefixes_are_computed_once_and_answer_the_same(fp32):
    """Prompts that start alike (one task's instructions, one user's history) reuse the keys and values
    of the first one's prefix: the same greedy answers as prefilling each prompt whole."""
    instructions = ("You are a product expert. Read the question and answer with one short product name, "
                    "no brand, no price, no explanation. ") * 3
    rows = [GenerationRow([{"role": "system", "content": instructions}, {"role": "user", "content": q}], 10)
            for q in QUESTIONS]
    whole = BatchGenerator(fp32, batch_size=2, prefix_cache_mb=0)
    reused = BatchGenerator(fp32, batch_size=2)
    assert [g.text for g in reused.generate(rows)] == [g.text for g in whole.generate(rows)]
    shared = len(fp32.tokenizer.apply_chat_template(rows[0].messages[:1], tokenize=False))  # characters
    assert whole.stats.reused_tokens == 0
    assert reused.stats.reused_tokens >= 3 * shared // 6  # at least the instructions of 3 of the 4 prompts
    assert reused.stats.reused_tokens < reused.stats.prompt_tokens


def test_answer_logprobs_equal_a_full_forward_pass_of_prompt_and_answer(fp32):
    from recgpt.llm.torch_score import answer_logprobs

    messages = [{"role": "user", "content": "Is a stapler office equipment? Answer in JSON."}]
    answers = ['{"verdict": "yes"}', '{"reason": "it staples paper", "verdict": "no"}', "Y"]
    got = answer_logprobs(fp32, messages, answers)
    tokenizer = fp32.tokenizer
    prompt = tokenizer.encode(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False),
                              add_special_tokens=False)
    for answer, score in zip(answers, got):
        ids = tokenizer.encode(answer, add_special_tokens=False)
        with torch.inference_mode():
            logits = fp32.model(torch.tensor([prompt + ids])).logits[0].float()
        logp = torch.log_softmax(logits[len(prompt) - 1: -1], dim=-1)
        expected = float(logp.gather(1, torch.tensor(ids).unsqueeze(1)).sum())
        assert score == pytest.approx(expected, abs=2e-3)
    assert all(s < 0 for s in got) and answer_logprobs(fp32, messages, []) == []


def test_answer_logprobs_name_a_prompt_and_answer_longer_than_the_window(fp32):
    from recgpt.llm.torch_score import answer_logprobs

    with pytest.raises(BackendError, match="context window of 12 tokens"):
        answer_logprobs(dataclasses.replace(fp32, n_ctx=12), [{"role": "user", "content": "hello there"}], ["a b c"])
