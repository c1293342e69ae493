"""Blast radius: what a compromised credential reached, and what it left behind.

>>> from forensics.blast import blast_radius, BlastRadius
"""

from forensics.blast._closure import closure, seed_keys
from forensics.blast._radius import BlastRadius, blast_radius

__all__ = ["BlastRadius", "blast_radius", "closure", "seed_keys"]
