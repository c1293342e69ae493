"""Build of the optional C reader (forensics/ingest/_records_c.c); everything else is in pyproject.toml.

The extension is optional: without a C compiler the install goes on and the loader uses its
pure-Python path (msgspec), which gives the same rows, more slowly.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "forensics.ingest._records_c",
            ["forensics/ingest/_records_c.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
