"""Realistic Trivy SchemaVersion 2 image reports, and tracks of runs that churn.

Not a copy of the corpus: reports are generated with the shape of real ones (OS packages
and language packages over several targets, the same CVE in sibling packages and in two
lock files, long descriptions, CVSS blocks from several vendors, references, layers), so
that any size can be produced. A fleet shares a base image: part of every product's
findings comes from one common pool, so a CVE search finds it in many products.

Rendering is cached per item (the advisory text never changes between runs); only the
layer digests, which change with every build, are spliced in per report.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from bench.advisory import (
    PLACE_WEIGHTS,
    PLACES,
    SEVERITIES,
    SEVERITY_WEIGHTS,
    advisory,
    data_source,
)

LAYERS = 6  # OS packages sit in the first two layers, language packages above
_NAMES = (
    (
        "libssl",
        "zlib",
        "libxml2",
        "libcurl",
        "openssl",
        "libexpat",
        "libsqlite",
        "libgnutls",
        "libc-bin",
        "perl-base",
        "tar",
        "libsystemd",
        "libkrb5",
        "libpcre2",
    ),
    (
        "requests",
        "urllib3",
        "jinja2",
        "cryptography",
        "pyyaml",
        "setuptools",
        "pillow",
        "werkzeug",
        "aiohttp",
        "idna",
    ),
    (
        "lodash",
        "express",
        "axios",
        "minimist",
        "semver",
        "ws",
        "tar",
        "path-to-regexp",
        "braces",
        "cookie",
    ),
    (
        "lodash",
        "express",
        "axios",
        "minimist",
        "semver",
        "ws",
        "tar",
        "path-to-regexp",
        "braces",
        "cookie",
    ),
    (
        "jackson-databind",
        "log4j-core",
        "netty-codec",
        "spring-web",
        "snakeyaml",
        "commons-text",
        "guava",
        "tomcat-embed",
    ),
    (
        "golang.org/x/net",
        "golang.org/x/crypto",
        "stdlib",
        "google.golang.org/grpc",
        "github.com/docker/docker",
    ),
)
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Item:
    """One vulnerability of one package in one place; `version`/`severity` may churn."""

    vuln_id: str
    package: str
    version: str
    severity: str
    place: int  # index into advisory.PLACES
    fixed: str
    layer: int


def _item(rng: random.Random, vuln_id: str, serial: int, place: int | None = None) -> Item:
    if place is None:
        place = rng.choices(range(len(PLACES)), PLACE_WEIGHTS)[0]
    names = _NAMES[place]
    major = rng.randint(0, 9)
    return Item(
        vuln_id=vuln_id,
        package=f"{names[serial % len(names)]}{serial // len(names) or ''}",
        version=f"{major}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        severity=rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0],
        place=place,
        fixed=f"{major}.{rng.randint(21, 40)}.0" if rng.random() < 0.7 else "",
        layer=rng.randint(0, 1) if place == 0 else rng.randint(2, LAYERS - 1),
    )


def initial_items(count: int, seed: int = 1) -> list[Item]:
    """`count` items; one in ten repeats a CVE in a sibling package or a second lock file."""
    rng = random.Random(seed)
    items: list[Item] = []
    n = 0
    while len(items) < count:
        vuln_id = f"CVE-{rng.randint(2015, 2025)}-{10000 + seed * 100_000 + n}"
        item = _item(rng, vuln_id, n)
        items.append(item)
        n += 1
        if len(items) < count and rng.random() < 0.1:
            if item.place == 0:  # the same CVE in a sibling binary package (openssl, libssl3)
                items.append(replace(item, package=item.package + "-dev"))
            elif item.place in (2, 3):  # the same package in the other lock file
                items.append(replace(item, place=5 - item.place))
    return items


def fleet_items(product: int, count: int, *, shared: float = 0.3) -> list[Item]:
    """The first run of product number `product` of a fleet: `shared` of it from the base image."""
    rng = random.Random(f"fleet-{product}")
    base = [item for item in initial_items(4_000, seed=0) if item.place == 0]
    common = rng.sample(base, min(len(base), int(count * shared)))
    return common + initial_items(count - len(common), seed=product + 1)


@dataclass
class Track:
    """The runs of one product's main branch: each run churns a small share of the last.

    Per run and per `share`: a quarter resolved, a quarter upgraded but still vulnerable
    (version in the path changes too), a quarter re-scored upstream, and as many findings
    introduced (a few of them earlier resolved ones coming back).
    """

    items: list[Item]
    seed: int
    share: float = 0.01
    resolved: list[Item] = field(default_factory=list)
    serial: int = 0

    def next_run(self) -> list[Item]:
        rng = random.Random(f"{self.seed}-{self.serial}")
        self.serial += 1
        kept: list[Item] = []
        for item in self.items:
            roll = rng.random()
            if roll < self.share / 4:
                self.resolved.append(item)
                continue
            if roll < self.share / 2:
                item = replace(item, version=_bump(item.version))
            elif roll < 3 * self.share / 4:
                others = [s for s in SEVERITIES if s != item.severity]
                item = replace(item, severity=rng.choice(others))
            kept.append(item)
        for n in range(max(1, round(len(self.items) * self.share / 4))):
            if self.resolved and rng.random() < 0.1:
                kept.append(self.resolved.pop(rng.randrange(len(self.resolved))))
                continue
            serial = 50_000 + self.serial * 1_000 + n
            vuln_id = f"CVE-2026-{self.seed * 100_000 + serial}"
            kept.append(_item(rng, vuln_id, serial))
        self.items = kept
        return kept


def churn(items: list[Item], rng: random.Random, share: float = 0.01) -> list[Item]:
    """One churned run after `items` (see Track)."""
    return Track(list(items), seed=rng.randrange(1 << 30), share=share).next_run()


def _bump(version: str) -> str:
    head, _, last = version.rpartition(".")
    return f"{head}.{int(last) + 1}" if last.isdigit() else version + ".1"


class Renderer:
    """Renders reports; each item's JSON is built once and reused in every later run."""

    def __init__(self) -> None:
        self._parts: dict[Item, tuple[bytes, bytes]] = {}

    def report(
        self, items: list[Item], *, image: str = "registry.example.test/team/app", tag: str = "1"
    ) -> bytes:
        rng = random.Random(f"{image}:{tag}")
        artifact = f"{image}:{tag}"
        layers = [
            _encode(
                {
                    "Digest": f"sha256:{rng.getrandbits(256):064x}",
                    "DiffID": f"sha256:{rng.getrandbits(256):064x}",
                }
            )
            for _ in range(LAYERS)
        ]
        results: dict[str, dict[str, Any]] = {}
        for place in PLACES:
            target = place.target.format(artifact=artifact)
            results.setdefault(
                target,
                {
                    "Target": target,
                    "Class": place.result_class,
                    "Type": place.result_type,
                    "Vulnerabilities": [],
                },
            )
        for item in items:
            head, tail = self._parts.get(item) or self._render(item)
            target = PLACES[item.place].target.format(artifact=artifact)
            results[target]["Vulnerabilities"].append(msgspec.Raw(head + layers[item.layer] + tail))
        document = {
            "SchemaVersion": 2,
            "CreatedAt": "2026-11-01T10:00:00.000000000Z",
            "ArtifactName": artifact,
            "ArtifactType": "container_image",
            "Metadata": {
                "Size": 312_000_000 + rng.randrange(1_000_000),
                "OS": {"Family": "debian", "Name": "12.5"},
                "ImageID": f"sha256:{rng.getrandbits(256):064x}",
                "DiffIDs": [msgspec.json.decode(layer)["DiffID"] for layer in layers],
                "RepoTags": [artifact],
                "RepoDigests": [f"{image}@sha256:{rng.getrandbits(256):064x}"],
                "ImageConfig": {
                    "architecture": "amd64",
                    "os": "linux",
                    "config": {"Env": ["PATH=/usr/local/bin:/usr/bin"]},
                },
            },
            "Results": list(results.values()),
        }
        return msgspec.json.format(_encode(document), indent=2)

    def _render(self, item: Item) -> tuple[bytes, bytes]:
        place = PLACES[item.place]
        head: dict[str, Any] = {
            "VulnerabilityID": item.vuln_id,
            "PkgID": f"{item.package}@{item.version}",
            "PkgName": item.package,
            "PkgIdentifier": {
                "PURL": place.purl.format(name=item.package, version=item.version),
                "UID": f"{zlib.crc32(f'{item.package}@{item.version}'.encode()):016x}",
            },
            "InstalledVersion": item.version,
            "FixedVersion": item.fixed,
            "Status": "fixed" if item.fixed else "affected",
        }
        if place.path:
            head["PkgPath"] = place.path.format(name=item.package, version=item.version)
        tail = {
            "DataSource": data_source(place),
            **advisory(item.vuln_id, item.package, item.severity),
        }
        parts = (_encode(head)[:-1] + b',"Layer":', b"," + _encode(tail)[1:])
        self._parts[item] = parts
        return parts


def report(
    items: list[Item], *, image: str = "registry.example.test/team/app", tag: str = "1"
) -> bytes:
    """One report, rendered without a cache."""
    return Renderer().report(items, image=image, tag=tag)
