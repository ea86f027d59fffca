"""Viewing motions: the manifest protocol (:mod:`motiongen.viz.manifest`), the local web viewer
(:mod:`motiongen.viz.server`, ``motiongen view ROOT``) and GIF/MP4 rendering.

Submodules are imported on use, so ``import motiongen.viz`` stays cheap.
"""
