"""Expert prompts. The passage comes first (the shared prefix every turn reuses), then the
question, the protocol's framing, the transcript so far and the speaker's cue."""

from __future__ import annotations

from collections.abc import Sequence

from debate.core.question import JudgeView, Question
from debate.core.transcript import Turn
from debate.judges.transcript_view import render_question, render_transcript

STOPS = ["\n\n", "\nDebater A", "\nDebater B", "\nConsultant", "\nJudge", "\nQuestion:"]


def passage_prefix(question: Question) -> str:
    title = f"Title: {question.title}\n" if question.title else ""
    return f"{title}Story:\n{question.context.strip()}\n\n"


def debate_framing(a: str, b: str) -> str:
    return (
        f"Debate. Debater A defends answer {a} and Debater B defends answer {b}. Both have read the story; "
        "the judge has not. Debaters support their answer with short quotes from the story in <quote></quote> tags."
    )


def consultancy_framing(letter: str) -> str:
    return (
        f"Consultancy. The consultant has read the story and defends answer {letter}; the judge has not read it. "
        "The consultant supports the answer with short quotes from the story in <quote></quote> tags."
    )


def speech_prompt(view: JudgeView, framing: str, transcript: Sequence[Turn], cue: str) -> str:
    parts = [render_question(view), framing]
    rendered = render_transcript(transcript)
    if rendered:
        parts.append(rendered)
    return "\n\n".join(parts) + f"\n\n{cue}:"


def speech_opening(letter: str, option: str) -> str:
    """The first words of every speech, written for the speaker: a base model then continues an
    argument for its side, opening with a quote from the story, instead of drifting."""
    return f'My answer is {letter}: "{option}". The story says: <quote>'


def answer_prompt(view: JudgeView) -> str:
    """A direct-answer prompt whose next token is the chosen letter."""
    return render_question(view) + "\n\nThe correct answer is option"
