"""Find or create the product, engagement and test an import is aimed at.

Follows DefectDojo's rules (`auto_create_context`, reimport's "last engagement of
that name, last test of that scan type") with one addition: an engagement belongs
to one branch, and joins that branch's track when it is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.config import Settings
from vulntrail.errors import BadRequest, Conflict, NotFound
from vulntrail.ingest import runorder
from vulntrail.ingest.request import ImportRequest, Mode
from vulntrail.store.models import Engagement, Product, ProductType, Scan, Track


@dataclass(slots=True)
class Target:
    product: Product
    engagement: Engagement
    track: Track
    scan: Scan | None  # the test a re-import replaces; None for a new test


def resolve(session: Session, request: ImportRequest, settings: Settings) -> Target:
    """The import's product (locked for this transaction), engagement, track and test."""
    scan: Scan | None = None
    if request.test_id is not None:
        scan = session.get(Scan, request.test_id)
        if scan is None:
            raise NotFound(f"test {request.test_id} does not exist", field="test")
        engagement = _engagement_by_id(session, scan.engagement_id)
        product = lock_product(session, engagement.product_id)
        request.authorize("import", product.name, hidden=f"test {request.test_id}")
    elif request.engagement_id is not None:
        engagement = _engagement_by_id(session, request.engagement_id)
        product = lock_product(session, engagement.product_id)
        request.authorize("import", product.name, hidden=f"engagement {request.engagement_id}")
        if request.product_name and request.product_name != product.name:
            raise BadRequest(
                f"engagement {engagement.id} belongs to product {product.name!r}, "
                f"not {request.product_name!r}",
                field="product_name",
            )
    else:
        product = _product_by_name(session, request, settings)
        engagement = _engagement_by_name(session, product, request, settings)
    if request.mode is Mode.REIMPORT and scan is None:
        scan = _last_scan(session, engagement, request)
    track = _place_on_track(session, product, engagement, request)
    return Target(product, engagement, track, scan)


def lock_product(session: Session, product_id: int) -> Product:
    """Imports into one product take turns; imports into different products do not wait."""
    statement = select(Product).where(Product.id == product_id).with_for_update()
    product = session.scalars(statement).one()
    return product


def _engagement_by_id(session: Session, engagement_id: int) -> Engagement:
    engagement = session.get(Engagement, engagement_id)
    if engagement is None:
        raise NotFound(f"engagement {engagement_id} does not exist", field="engagement")
    return engagement


def _product_by_name(session: Session, request: ImportRequest, settings: Settings) -> Product:
    name = (request.product_name or "").strip()
    if not name:
        raise BadRequest(
            "product_name is required when neither engagement nor test is given",
            field="product_name",
        )
    product_id = session.scalar(select(Product.id).where(Product.name == name))
    request.authorize("import" if product_id is not None else "create_product", name)
    if product_id is None:
        if not request.auto_create_context:
            raise NotFound(
                f"product {name!r} does not exist; send auto_create_context=true to create it",
                field="product_name",
            )
        type_id = _product_type_id(session, request.product_type_name, settings)
        product_id = _insert_ignore(
            session,
            Product,
            "name",
            name=name,
            prod_type_id=type_id,
            description="",
            default_branch=settings.default_branch,
            created=clock.now(),
            updated=clock.now(),
        )
    product = lock_product(session, product_id)
    if request.product_type_name:
        type_name = session.scalar(
            select(ProductType.name).where(ProductType.id == product.prod_type_id)
        )
        if type_name != request.product_type_name:
            raise BadRequest(
                f"product {name!r} belongs to product type {type_name!r}, "
                f"not {request.product_type_name!r}",
                field="product_type_name",
            )
    return product


def _product_type_id(session: Session, name: str | None, settings: Settings) -> int:
    name = (name or "").strip() or settings.default_product_type
    return _insert_ignore(
        session, ProductType, "name", name=name, description="", created=clock.now()
    )


def _insert_ignore(session: Session, model: type, unique: str, **values: object) -> int:
    """INSERT … ON CONFLICT DO NOTHING, then the id: safe when two imports create at once."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=[unique]))
    column = getattr(model, unique)
    found = session.scalar(select(model.id).where(column == values[unique]))  # type: ignore[attr-defined]
    assert found is not None
    return int(found)


def _engagement_by_name(
    session: Session, product: Product, request: ImportRequest, settings: Settings
) -> Engagement:
    name = (request.engagement_name or "").strip()
    if not name:
        raise BadRequest(
            "engagement_name is required when neither engagement nor test is given",
            field="engagement_name",
        )
    engagement = session.scalar(
        select(Engagement).where(Engagement.product_id == product.id, Engagement.name == name)
    )
    if engagement is not None:
        return engagement
    if not request.auto_create_context:
        raise NotFound(
            f"engagement {name!r} does not exist in product {product.name!r}; "
            "send auto_create_context=true to create it",
            field="engagement_name",
        )
    return create_engagement(session, product, spec_from_request(name, request))


@dataclass(frozen=True, slots=True)
class EngagementSpec:
    """What a new engagement is created with (from an import or from POST /engagements/)."""

    name: str
    branch_tag: str | None = None
    build_id: str | None = None
    commit_hash: str | None = None
    version: str | None = None
    source_code_management_uri: str | None = None
    tags: tuple[str, ...] = ()
    target_start: date | None = None
    target_end: date | None = None
    run_date: date | None = None
    description: str = ""
    engagement_type: str = "CI/CD"
    status: str = "In Progress"


def spec_from_request(name: str, request: ImportRequest) -> EngagementSpec:
    return EngagementSpec(
        name=name,
        branch_tag=request.branch_tag,
        build_id=request.build_id,
        commit_hash=request.commit_hash,
        version=request.version,
        source_code_management_uri=request.source_code_management_uri,
        tags=request.tags,
        target_start=request.scan_date,
        target_end=request.engagement_end_date,
        run_date=request.scan_date,
    )


def create_engagement(session: Session, product: Product, spec: EngagementSpec) -> Engagement:
    """A new engagement on the track of its branch: branch_tag, else the `CI-{branch}-{id}`
    name, else the product's default branch."""
    branch = spec.branch_tag or runorder.branch_from_name(spec.name) or product.default_branch
    start = spec.target_start or clock.now().date()
    engagement = Engagement(
        product_id=product.id,
        name=spec.name,
        branch=branch,
        track_id=0,
        run_seq=0,
        pipeline_id=runorder.pipeline_id(spec.name, spec.build_id or ""),
        build_id=spec.build_id or "",
        commit_hash=spec.commit_hash or "",
        branch_tag=spec.branch_tag or "",
        version=spec.version or "",
        source_code_management_uri=spec.source_code_management_uri or "",
        tags=list(spec.tags),
        description=spec.description,
        engagement_type=spec.engagement_type,
        status=spec.status,
        target_start=start,
        target_end=spec.target_end or start + timedelta(days=365),
        run_at=clock.at_midnight(spec.run_date) if spec.run_date else clock.now(),
        created=clock.now(),
        updated=clock.now(),
        has_runs=False,
    )
    _assign_track(session, product, engagement, branch)
    session.add(engagement)
    session.flush()
    return engagement


def move_to_branch(session: Session, product: Product, engagement: Engagement, branch: str) -> None:
    """Put an engagement on another branch's track; refused once it holds a run."""
    if branch == engagement.branch:
        return
    if engagement.has_runs:
        raise Conflict(
            f"engagement {engagement.name!r} holds runs of branch {engagement.branch!r}; "
            f"it cannot move to branch {branch!r}",
            field="branch_tag",
        )
    _assign_track(session, product, engagement, branch)


def _assign_track(session: Session, product: Product, engagement: Engagement, branch: str) -> None:
    track_id = _insert_ignore_track(session, product.id, branch)
    engagement.track_id = track_id
    engagement.branch = branch
    engagement.run_seq = _new_run_seq(session, track_id, engagement.pipeline_id)


def _insert_ignore_track(session: Session, product_id: int, branch: str) -> int:
    found = session.scalar(
        select(Track.id).where(Track.product_id == product_id, Track.branch == branch)
    )
    if found is not None:
        return int(found)
    track = Track(product_id=product_id, branch=branch)
    session.add(track)
    session.flush()
    return track.id


def _new_run_seq(session: Session, track_id: int, pipeline: int | None) -> int:
    newest = session.scalar(
        select(func.max(Engagement.run_seq)).where(Engagement.track_id == track_id)
    )
    taken = None
    if pipeline is not None:
        low = pipeline * runorder.SLOTS_PER_PIPELINE
        taken = session.scalar(
            select(func.max(Engagement.run_seq)).where(
                Engagement.track_id == track_id,
                Engagement.run_seq >= low,
                Engagement.run_seq < low + runorder.SLOTS_PER_PIPELINE,
            )
        )
        if taken is not None and taken >= low + runorder.SLOTS_PER_PIPELINE - 1:
            raise Conflict(f"too many engagements share pipeline id {pipeline} on this branch")
    return runorder.next_run_seq(pipeline, taken, newest)


def _place_on_track(
    session: Session, product: Product, engagement: Engagement, request: ImportRequest
) -> Track:
    """The engagement's track; an engagement with no run yet may still change branch."""
    if request.branch_tag:
        move_to_branch(session, product, engagement, request.branch_tag)
    track = session.get(Track, engagement.track_id)
    assert track is not None
    return track


def note_run_details(engagement: Engagement, request: ImportRequest) -> None:
    """Record what the pipeline told us about this run on its engagement."""
    if request.commit_hash:
        engagement.commit_hash = request.commit_hash
    if request.build_id:
        engagement.build_id = request.build_id
    if request.branch_tag:
        engagement.branch_tag = request.branch_tag
    if request.scan_date and not engagement.has_runs:
        engagement.run_at = clock.at_midnight(request.scan_date)
    engagement.updated = clock.now()


def _last_scan(session: Session, engagement: Engagement, request: ImportRequest) -> Scan | None:
    statement = select(Scan).where(
        Scan.engagement_id == engagement.id, Scan.scan_type == request.scan_type
    )
    if request.test_title:
        statement = statement.where(Scan.title == request.test_title)
    scan = session.scalar(statement.order_by(Scan.id.desc()).limit(1))
    if scan is None and not request.auto_create_context:
        raise NotFound(
            f"engagement {engagement.name!r} has no test of scan type {request.scan_type!r} "
            "to re-import into; send auto_create_context=true to create one",
            field="test",
        )
    return scan
