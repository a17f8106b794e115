"""The training Job's entrypoint (`python -m stockops.trainer`), run by the trainer image."""
