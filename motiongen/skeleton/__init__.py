"""Skeletons: the :class:`Skeleton` type, FK, and the registry of named rigs."""

from motiongen.skeleton.skeleton import SEMANTIC_SETS, Skeleton, mirror_indices_by_name

__all__ = ["SEMANTIC_SETS", "Skeleton", "mirror_indices_by_name"]
