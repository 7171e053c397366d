"""LoRA-expert libraries: adapters on one base model, each with a manifest."""
