"""Shared library of the Product Image Processor: imaging, storage, rate limiting, jobs and the API."""
