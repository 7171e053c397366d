"""Protocols: each a small async function over ``EpisodeContext``, registered by name."""

from debate.protocols.context import EpisodeContext, SpeechSettings
from debate.protocols.quotes import verify_quotes
from debate.protocols.registry import ProtocolInfo, UnknownProtocol, get_protocol, protocol, protocols

__all__ = [
    "EpisodeContext",
    "ProtocolInfo",
    "SpeechSettings",
    "UnknownProtocol",
    "get_protocol",
    "protocol",
    "protocols",
    "verify_quotes",
]
