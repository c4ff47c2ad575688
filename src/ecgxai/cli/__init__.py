"""Command line interface (``ecgxai``)."""
