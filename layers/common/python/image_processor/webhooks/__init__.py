"""Telling a client a smart crop has ended: allow-listed targets, Standard Webhooks signatures, delivery."""
