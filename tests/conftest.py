"""Suite-wide settings: no network, no real providers."""

import os

# litellm otherwise fetches its price table over the network when imported.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
