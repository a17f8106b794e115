"""The HTTP gateway: the seed systems' API (`/predict-child`, `/train-*`, `/status`, `/analyze`,
`/monitor`, ...) and the web console, as a thin layer over what exists.

Two backends answer the same API (`backend.Backend`): `local_backend` runs the local pipeline on one
machine (`stockops gateway`), `cluster_backend` reads and writes the custom resources. Names follow one
rule (`names`); keys, rate limits and request limits live in `auth`, `ratelimit` and `app`.
"""
