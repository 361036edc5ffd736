"""The local transformers VLM backend of the planner.

These tests build a tiny LLaVA-style model (a 2-layer Llama over a 1-layer CLIP vision
tower, random weights, a byte-level BPE tokenizer trained here on the planner's prompt) and
save it to a temporary directory, then load it by path through the code users run. They test
the plumbing -- loading and caching, the chat template with the image, greedy generation,
decoding, validation and retries -- not the planning skill of any real model. In the second
test the tiny model is first trained (a few hundred steps) to answer the planner's own first
request with a recorded plan, so that a valid reply comes out of real generation.
"""

from __future__ import annotations

import json

import pytest
import torch

from igen_gs.planning import PlanConfig, VLMConfig, make_plan
from igen_gs.planning.types import PLAN_JSON_SCHEMA
from igen_gs.planning.vlm import (
    SYSTEM_PROMPT,
    _to_hf_messages,
    build_messages,
    load_local_vlm,
    vlm_plan,
)
from igen_gs.scene.builtin import builtin_camera, builtin_scene

NAMES = ["red block", "blue plate", "green can"]
INSTRUCTION = "put the red block on the blue plate"
ANSWER = json.dumps({"steps": [{"action": "pick", "object": "red block"},
                               {"action": "place", "object": "red block",
                                "target": "blue plate", "relation": "on"}]})
TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %}"
    "{{ c['text'] }}{% endif %}{% endfor %}{% endif %}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}")


def _save_tiny_llava(path, corpus: list[str]) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=1200, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<pad>", "<s>", "</s>", "<image>"], show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>")
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                              num_attention_heads=2, image_size=28, patch_size=14)
    text = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                       max_position_embeddings=4096, bos_token_id=fast.bos_token_id,
                       eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    cfg = LlavaConfig(vision_config=vision, text_config=text,
                      image_token_index=fast.convert_tokens_to_ids("<image>"),
                      vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(cfg)
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.pad_token_id
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 28},
                                           crop_size={"height": 28, "width": 28}),
        tokenizer=fast, patch_size=14, vision_feature_select_strategy="default",
        chat_template=TEMPLATE, image_token="<image>", num_additional_image_tokens=1)
    model.save_pretrained(path)
    processor.save_pretrained(path)


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    """Directory of a tiny random LLaVA-style model (plumbing only)."""
    path = tmp_path_factory.mktemp("tiny_vlm")
    system = SYSTEM_PROMPT.format(schema=json.dumps(PLAN_JSON_SCHEMA), names=", ".join(NAMES))
    _save_tiny_llava(path, [system, ANSWER, INSTRUCTION] * 4)
    return path


@pytest.fixture(scope="module")
def photo():
    scene = builtin_scene(spacing=0.006)
    rgb = scene.render(builtin_camera(64, 48), labels=False)["rgb"][0]
    return (rgb.clamp(0, 1) * 255 + 0.5).byte().numpy()


def test_random_local_vlm_is_loaded_once_and_its_replies_are_validated(tiny_vlm):
    cfg = VLMConfig(backend="transformers", local_model=str(tiny_vlm), max_attempts=2,
                    max_new_tokens=24)
    processor, net = load_local_vlm(cfg)
    again = load_local_vlm(VLMConfig(backend="transformers", local_model=str(tiny_vlm) + "/"))
    assert again[0] is processor and again[1] is net and not net.training
    scene = builtin_scene(spacing=0.008)
    scene.camera = builtin_camera(64, 48)
    with pytest.raises(ValueError) as e:
        make_plan(scene, INSTRUCTION, PlanConfig(planner="vlm", vlm=cfg))
    msg = str(e.value)
    assert msg.startswith(f"the local VLM '{tiny_vlm}' gave no valid plan in 2 attempts; last "
                          "problem: ") and "\n" not in msg
    with pytest.raises(ValueError, match="needs a model"):
        vlm_plan(INSTRUCTION, NAMES, VLMConfig(backend="transformers"))
    with pytest.raises(ValueError, match="no such directory"):
        vlm_plan(INSTRUCTION, NAMES, VLMConfig(backend="transformers",
                                               local_model=str(tiny_vlm / "missing")))


def test_local_vlm_trained_on_a_recorded_reply_gives_that_plan(tiny_vlm, photo, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_vlm)
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    messages = build_messages(INSTRUCTION, NAMES, photo)
    inputs = processor.apply_chat_template(_to_hf_messages(messages, False),
                                           add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt")
    answer = processor.tokenizer(ANSWER + "</s>", add_special_tokens=False,
                                 return_tensors="pt")["input_ids"]
    ids = torch.cat([inputs["input_ids"], answer], 1)
    labels = ids.clone()
    labels[:, :inputs["input_ids"].shape[1]] = -100
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(300):
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels,
                     pixel_values=inputs["pixel_values"]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.01:
            break
    assert loss.item() < 0.05
    trained = tmp_path / "trained"
    model.save_pretrained(trained)
    processor.save_pretrained(trained)
    cfg = VLMConfig(backend="transformers", local_model=str(trained), max_new_tokens=96,
                    max_attempts=1)
    plan = vlm_plan(INSTRUCTION, NAMES, cfg, photo)
    assert [s.describe() for s in plan.steps] == ["pick red block",
                                                  "place red block on blue plate"]
    assert plan.planner == f"vlm:{trained}"
