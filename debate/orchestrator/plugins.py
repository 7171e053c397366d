"""User plugins: modules that register protocols, imported by name or path before a run."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from debate.config import ConfigError


def load_plugins(plugins: list[str]) -> None:
    """Import each plugin once; a failure is a config error naming the plugin."""
    for i, plugin in enumerate(plugins):
        try:
            if plugin.endswith(".py"):
                path = Path(plugin).expanduser().resolve()
                if not path.is_file():
                    raise ConfigError(f"plugins[{i}]: no such file {plugin!r}")
                name = f"debate_plugin_{path.stem}"
                if name in sys.modules:
                    continue
                spec = importlib.util.spec_from_file_location(name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(plugin)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's, told in one line
            raise ConfigError(f"plugins[{i}]: importing {plugin!r} failed: {type(exc).__name__}: {exc}") from None
