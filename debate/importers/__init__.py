"""Importers: bring transcripts recorded elsewhere into a debate database as ordinary runs, so
``debate report`` and every analysis read them like runs this package made itself."""

from debate.importers.nyu import ImportSummary, Story, detokenise, import_nyu, render_content

__all__ = ["ImportSummary", "Story", "detokenise", "import_nyu", "render_content"]
