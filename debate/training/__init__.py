"""Training LoRA experts (and their token-routing gates) on the local base model.

Sits beside the orchestrator: it builds prompts with the protocols' own prompt functions, so an
expert is trained on exactly the text it is asked at run time.
"""
