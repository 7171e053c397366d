"""Expert prompts. The passage comes first (the shared prefix every turn reuses), then the
question, the protocol's framing, the transcript so far and the speaker's cue."""

from __future__ import annotations

from collections.abc import Sequence

from debate.core.question import JudgeView, Question
from debate.core.transcript import Turn
from debate.judges.transcript_view import render_question, render_transcript

STOPS = ["\n\n", "\nDebater A", "\nDebater B", "\nConsultant", "\nJudge", "\nQuestion:"]


def passage_prefix(question: Question) -> str:
    """The passage block every expert prompt starts with; empty for closed questions (MedQA,
    ARC: no passage), so their prompts start at the question instead of an empty story."""
    title = f"Title: {question.title}\n" if question.title else ""
    if not question.context.strip():
        return f"{title}\n" if title else ""
    return f"{title}Story:\n{question.context.strip()}\n\n"


def debate_framing(a: str, b: str, *, passage: bool = True) -> str:
    """``passage=False``: a closed question, so there is no story to have read or quote."""
    if not passage:
        return (
            f"Debate. Debater A defends answer {a} and Debater B defends answer {b}. "
            "Each gives the facts and reasoning that support their answer; the judge decides from the arguments."
        )
    return (
        f"Debate. Debater A defends answer {a} and Debater B defends answer {b}. Both have read the story; "
        "the judge has not. Debaters support their answer with short quotes from the story in <quote></quote> tags."
    )


def consultancy_framing(letter: str, *, passage: bool = True) -> str:
    if not passage:
        return (
            f"Consultancy. The consultant defends answer {letter} with the facts and reasoning that support it; "
            "the judge decides from the argument."
        )
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


def speech_opening(letter: str, option: str, *, passage: bool = True) -> str:
    """The first words of every speech, written for the speaker: a base model then continues an
    argument for its side, opening with a quote from the story, instead of drifting. Without a
    passage there is nothing to quote, so the speech opens its reasoning instead."""
    if not passage:
        return f'My answer is {letter}: "{option}". This is correct because'
    return f'My answer is {letter}: "{option}". The story says: <quote>'


def answer_prompt(view: JudgeView) -> str:
    """A direct-answer prompt whose next token is the chosen letter."""
    return render_question(view) + "\n\nThe correct answer is option"
