"""Where Sphinx keeps this build's ``BookBuild`` and the site's state: on the environment, out of its pickle."""

from __future__ import annotations

from sphinx.environment import BuildEnvironment

from .build import BookBuild
from .site.state import SiteState

ATTRIBUTE = "d2l_build"


class BuildSlot:
    """Holds the build and the site's state on the environment; pickles as an empty slot, as
    Sphinx drops ``env._app``.

    The environment is pickled between builds and sent back from parallel reading processes; the
    build (kernels, an event loop) belongs to the process that made it.
    """

    def __init__(self, build: BookBuild | None = None, site: SiteState | None = None):
        self.build = build
        self.site = site

    def __reduce__(self):
        return (BuildSlot, ())


def attach(env: BuildEnvironment, build: BookBuild | None) -> None:
    site = SiteState(build.state_dir) if build is not None else None
    setattr(env, ATTRIBUTE, BuildSlot(build, site))


def book_build(env: BuildEnvironment) -> BookBuild | None:
    """This build's ``BookBuild``; ``None`` when the configuration did not validate."""
    slot = getattr(env, ATTRIBUTE, None)
    return slot.build if slot is not None else None


def site_state(env: BuildEnvironment) -> SiteState | None:
    """This build's site state; ``None`` when the configuration did not validate."""
    slot = getattr(env, ATTRIBUTE, None)
    return slot.site if slot is not None else None
