"""``debate view``: a keyboard-driven terminal viewer for runs, episodes and transcripts.

Screens: ``RunsScreen`` → ``EpisodesScreen`` (a virtual ``EpisodeList`` over paged queries, with
filters and search) → ``TranscriptScreen`` (a ``LineView`` that draws only the visible rows).
All reads go through ``debate.storage.browse`` on a read-only connection.
"""

from debate.viewer.app import ViewerApp

__all__ = ["ViewerApp"]
