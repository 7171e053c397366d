"""Judges: they read a ``JudgeView`` and judge-visible turns, never the hidden passage."""

from debate.judges.base import Judge
from debate.judges.generative import GenerativeJudge
from debate.judges.logprob import LogProbJudge
from debate.judges.parse import ParsedAnswer, parse_answer

__all__ = ["GenerativeJudge", "Judge", "LogProbJudge", "ParsedAnswer", "parse_answer"]
