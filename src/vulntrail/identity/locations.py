"""Where a finding is, written so that a rebuild or an upgrade does not move it.

A location must survive what changes from build to build of the same service (the
image tag in Trivy's `Target`, the package version inside a path, the Python minor
version in `site-packages` paths) and must keep apart what really is elsewhere (two
lock files, two nested jars, two OS families).
"""

from __future__ import annotations

import re

# Distribution families Trivy reports as Result.Type for OS packages.
OS_FAMILIES = frozenset(
    {
        "alpine",
        "alma",
        "amazon",
        "azurelinux",
        "bottlerocket",
        "cbl-mariner",
        "centos",
        "chainguard",
        "coreos",
        "debian",
        "echo",
        "fedora",
        "minimos",
        "opensuse",
        "opensuse.leap",
        "opensuse.tumbleweed",
        "oracle",
        "photon",
        "redhat",
        "rocky",
        "sles",
        "suse linux enterprise micro",
        "ubuntu",
        "wolfi",
    }
)
# "image:tag (debian 10.2)" — how Trivy names the OS result of an image.
_OS_TARGET = re.compile(r"\(([a-z][a-z .\-]*?) [0-9][\w.\-]*\)\s*$", re.IGNORECASE)
_PYTHON_MINOR = re.compile(r"python3\.\d+")
_DIST_INFO_VERSION = re.compile(r"-[0-9][\w.+!]*?(\.dist-info|\.egg-info)")
_PEP503 = re.compile(r"[-_.]+")
_PYTHON_TYPES = frozenset({"pip", "pipenv", "poetry", "uv", "python-pkg", "conda-pkg", "pylock"})
ARTIFACT_PLACEHOLDER = "{artifact}"


def is_os_result(result_class: str, result_type: str, target: str) -> bool:
    """True for the OS-package part of an image: its location is the OS family alone."""
    if result_class:
        return result_class == "os-pkgs"
    return result_type.lower() in OS_FAMILIES or bool(_OS_TARGET.search(target))


def os_family(result_type: str, target: str) -> str:
    if result_type:
        return result_type.lower()
    match = _OS_TARGET.search(target)
    return match.group(1).lower() if match else "os"


def target_template(target: str, artifact_name: str) -> str:
    """The target with this build's artifact reference (image:tag) replaced by a placeholder."""
    if artifact_name and artifact_name in target:
        return target.replace(artifact_name, ARTIFACT_PLACEHOLDER)
    return target


def version_free_path(path: str, version: str) -> str:
    """A file path with the package's own version and the Python minor version taken out.

    `…/python3.11/site-packages/requests-2.31.0.dist-info/METADATA` and
    `…/python3.12/site-packages/requests-2.32.3.dist-info/METADATA` are one place.
    """
    text = path.strip().lstrip("/")
    if version and version in text:
        text = _replace_whole(text, version, "{version}")
    text = _DIST_INFO_VERSION.sub(r"-{version}\1", text)
    return _PYTHON_MINOR.sub("python3", text)


def package_key(result_type: str, name: str) -> str:
    """Package names compared the way their ecosystem compares them."""
    if result_type.lower() in _PYTHON_TYPES:
        return _PEP503.sub("-", name).lower()
    return name


def _replace_whole(text: str, word: str, replacement: str) -> str:
    """Replace `word` where it is not glued to other letters or digits (plain string scan:
    a regex compiled per version would thrash the pattern cache on every import)."""
    out: list[str] = []
    start = 0
    while (found := text.find(word, start)) != -1:
        end = found + len(word)
        before = text[found - 1] if found else ""
        after = text[end] if end < len(text) else ""
        glued = (before.isalnum() or before in "._") or (after.isalnum() or after == "_")
        out.append(text[start:found])
        out.append(word if glued else replacement)
        start = end
    out.append(text[start:])
    return "".join(out)
