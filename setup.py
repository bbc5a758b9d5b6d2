"""Only what pyproject.toml cannot say: the components directory ships as the import package
``webtier`` (setuptools ``package_dir``) next to every lbguard subpackage (found, not listed).
The directory keeps its name: the project's own program imports it as ``components``."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["lbguard", "lbguard.*"]), "webtier"],
    package_dir={"webtier": "components"},
)
