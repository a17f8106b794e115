"""The StockOps custom resources (group `stockops.io`, version `v1alpha1`) as typed models.

The pydantic models here are the single source of the API: the operator parses resources with them and
`python -m stockops.crd.generate` turns them into the CRD YAML under `crds/`, so code and schema never
drift. This package must stay light (pydantic only): the operator image imports it.
"""

from stockops.crd.base import API_VERSION, GROUP, VERSION

__all__ = ["API_VERSION", "GROUP", "VERSION"]
