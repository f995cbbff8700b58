"""Where Sphinx keeps this build's ``BookBuild``: on the environment, out of its pickle."""

from __future__ import annotations

from sphinx.environment import BuildEnvironment

from .build import BookBuild

ATTRIBUTE = "d2l_build"


class BuildSlot:
    """Holds the build on the environment; pickles as an empty slot, as Sphinx drops ``env._app``.

    The environment is pickled between builds and sent back from parallel reading processes; the
    build (kernels, an event loop) belongs to the process that made it.
    """

    def __init__(self, build: BookBuild | None = None):
        self.build = build

    def __reduce__(self):
        return (BuildSlot, ())


def attach(env: BuildEnvironment, build: BookBuild | None) -> None:
    setattr(env, ATTRIBUTE, BuildSlot(build))


def book_build(env: BuildEnvironment) -> BookBuild | None:
    """This build's ``BookBuild``; ``None`` when the configuration did not validate."""
    slot = getattr(env, ATTRIBUTE, None)
    return slot.build if slot is not None else None
