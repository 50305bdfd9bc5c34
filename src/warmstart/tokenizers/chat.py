"""Chats -> token ids for instruction tuning: a prompt part (masked from the loss by default) and a
completion part that ends in EOS.

Two templates. `chat`: the tokenizer's own chat template (transformers' apply_chat_template): the
prompt is the chat without its last message, rendered with the generation prompt; the completion
is what rendering the whole chat adds after that. `plain` (tokenizers without a template; exact
text, also in the README):

    <BOS>{role}: {content}\n ... {role}: {content}\nassistant: {completion}<EOS>

one `{role}: {content}\n` line per message before the answer (a prompt/completion record is one
user message), BOS = the tokenizer's [CLS]/BOS token, EOS = its [SEP]/EOS token
(tokenizers.special_ids). The prompt and the completion are tokenized separately, so the prompt
ids that generation starts from are exactly those the model was trained on. EOS is appended
after the completion (unless the chat template's rendering already ends with it).
"""

from __future__ import annotations

from dataclasses import dataclass

from warmstart.errors import ConfigError, DataError
from warmstart.tokenizers.hf import special_ids

# The plain template's answer cue; with it, a plain prompt is PLAIN_TURN per message + PLAIN_ANSWER.
PLAIN_TURN = "{role}: {content}\n"
PLAIN_ANSWER = "assistant: "
# The same template in Jinja, for the exported tokenizer (so apply_chat_template reproduces it).
PLAIN_JINJA = ("{{ BOS }}{% for m in messages %}{% if not loop.last or add_generation_prompt %}"
               "{{ m['role'] }}: {{ m['content'] }}\n{% else %}assistant: {{ m['content'] }}{% endif %}"
               "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def resolve_template(setting: str, tokenizer, chat_at: str | None = None, source: str = "data") -> str:
    """task.template (auto | chat | plain) -> "chat" or "plain" for this tokenizer and data.
    `chat_at`: where the data's first chat `messages` record is (e.g. "line 3"), None when all are
    prompt/completion pairs: chats need the tokenizer's template unless the user picks plain."""
    if setting == "plain":
        return "plain"
    if has_chat_template(tokenizer):
        return "chat"
    if setting == "chat":
        raise ConfigError("task.template=chat: the tokenizer has no chat template (use task.template: plain)")
    if chat_at is not None:
        raise DataError(f"{source}: {chat_at}: a chat 'messages' record, but the tokenizer has no chat template; set "
                        "task.template: plain to use warmstart's plain template (README: Instruction tuning)")
    return "plain"


@dataclass
class Encoded:
    ids: list[int]      # prompt + completion (+ EOS)
    n_prompt: int       # the first n_prompt ids are the prompt
    truncated: bool     # something was cut to fit max_len


class ChatEncoder:
    """Renders and tokenizes chats with one template (module docstring)."""

    def __init__(self, tokenizer, template: str):
        self.tokenizer, self.template = tokenizer, template
        special = special_ids(tokenizer)
        self.bos, self.eos, self.pad = special["cls"], special["sep"], special["pad"]

    def _tokens(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def prompt_text(self, messages: list[dict]) -> str:
        """The text generation starts from: the chat `messages` (none of them the answer) and the answer cue."""
        if self.template == "chat":
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "".join(PLAIN_TURN.format(**m) for m in messages) + PLAIN_ANSWER

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        text = self.prompt_text(messages)
        return ([self.bos] if self.template == "plain" else []) + self._tokens(text)

    def completion_ids(self, messages: list[dict]) -> list[int]:
        """The answer (the last message) as the template renders it, then EOS."""
        if self.template == "chat":
            head = self.prompt_text(messages[:-1])
            full = self.tokenizer.apply_chat_template(messages, tokenize=False)
            if not full.startswith(head):
                raise ConfigError("task.template=chat: the tokenizer's chat template does not render a chat as its "
                                  "prompt (with the generation prompt) followed by the answer; use template: plain")
            ids = self._tokens(full[len(head):])
        else:
            ids = self._tokens(messages[-1]["content"])
        return ids if ids and ids[-1] == self.eos else [*ids, self.eos]

    def encode(self, messages: list[dict], max_len: int) -> Encoded:
        """A training example: prompt ids + completion ids (+ EOS), cut to max_len: the completion
        keeps at most max_len - 1 ids (its end is cut first, EOS with it), the prompt its last ones."""
        prompt, completion = self.prompt_ids(messages[:-1]), self.completion_ids(messages)
        truncated = len(prompt) + len(completion) > max_len
        completion = completion[: max_len - 1]
        keep = max_len - len(completion)
        prompt = prompt[len(prompt) - keep:] if len(prompt) > keep else prompt
        return Encoded([*prompt, *completion], len(prompt), truncated)

    def decode(self, ids: list[int]) -> str:
        """A generated completion's text: up to the first EOS, special tokens dropped, trimmed."""
        if self.eos in ids:
            ids = ids[: ids.index(self.eos)]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def jinja(self) -> str:
        """The plain template as a chat template (exports), BOS spelled as the tokenizer's token."""
        bos = self.tokenizer.convert_ids_to_tokens(self.bos)
        return PLAIN_JINJA.replace("{{ BOS }}", bos.replace("'", "\\'").join(("{{ '", "' }}")))
