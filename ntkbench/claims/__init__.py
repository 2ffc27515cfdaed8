"""The claim families of ../shared/CLAIMS.md, one module each; importing this package registers them all."""

from . import init_scale  # noqa: F401
