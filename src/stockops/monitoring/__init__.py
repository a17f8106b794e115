"""Monitoring of served models: input drift against the training reference, realised forecast error."""
