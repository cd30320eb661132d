"""Slices: the flattened overlay of a set of polygon features, and a cell grid that locates points.

The National Zoning Atlas calls the pieces of a flattened zoning overlay "slices": each slice is
the region covered by one exact combination of features, so everything that applies at a site
is one lookup. Here the slices of every loaded plan are computed once (``shapely.polygonize`` of
the noded boundaries) and cached; a slice may be multipart, each of its single-polygon parts is
a *face*.

:class:`CellGrid` locates points among non-overlapping polygons (faces, or a tiling such as
counties) without a per-point geometry test: a coarse grid of blocks, each either uniform
(wholly inside one polygon, or outside all) or holding a fine raster of labels. Only points in
fine cells that a boundary crosses — or that a line or point feature touches — need an exact
test, and those are a few percent of the points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio import features as rio_features
from rasterio.transform import from_origin

from .geometry import area_km2
from .model import CRS

#: Fine cell size of :class:`CellGrid` in degrees (about 250 m): small enough that boundary
#: cells hold ~4 % of uniformly spread points over Shanxi's counties, large enough that the
#: grid of every plan fits in tens of MB.
CELL_DEG = 0.0025
#: Fine cells per block side (a power of two so block and cell indices are bit operations).
BLOCK_CELLS = 256

_CHUNK = 1 << 17
_OUTSIDE = -1
_BOUNDARY = -2
_POLYGONAL = ("Polygon", "MultiPolygon")


def _points_xy(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xy = shapely.get_coordinates(geoms)
    return xy[:, 0], xy[:, 1]


@dataclass(eq=False)
class CellGrid:
    """Point locator over polygons (a tiling such as counties, or the faces of slices).

    Parameters
    ----------
    polygons : array of shapely polygons
        In lon/lat degrees. Where they overlap, a point gets the polygon listed first.
    labels : array of int, optional
        Label returned for each polygon (default: its position). Labels must be >= 0.
    marks : array of shapely geometries, optional
        Lines or points whose cells must always get an exact test (e.g. line features that a
        point could lie on); :meth:`cells` reports them as boundary cells.
    cell : float
        Fine cell size in degrees.

    Examples
    --------
    >>> import shapely, numpy as np
    >>> grid = CellGrid(np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]))
    >>> grid.locate(np.array([0.5, 1.5, 3.0]), np.array([0.5, 0.5, 0.5])).tolist()
    [0, 1, -1]
    """

    polygons: np.ndarray
    labels: np.ndarray | None = None
    marks: np.ndarray | None = None
    cell: float = CELL_DEG
    block: int = BLOCK_CELLS
    coarse: np.ndarray = field(init=False, repr=False)
    fine: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.polygons = np.asarray(self.polygons, dtype=object)
        self.labels = (np.arange(len(self.polygons)) if self.labels is None
                       else np.asarray(self.labels, dtype=np.int64))
        self.marks = (np.empty(0, dtype=object) if self.marks is None
                      else np.asarray(self.marks, dtype=object))
        self._build()

    # -- building -------------------------------------------------------------------------
    def _build(self) -> None:
        span = self.cell * self.block
        everything = np.concatenate([self.polygons, self.marks])
        if len(everything) == 0:
            self.x0 = self.y0 = 0.0
            self.coarse = np.full((1, 1), _OUTSIDE, dtype=np.int64)
            self.fine = np.empty((0, self.block, self.block), dtype=np.int32)
            return
        minx, miny, maxx, maxy = shapely.total_bounds(everything)
        # Blocks are aligned on multiples of the block span so grids of different plan sets
        # share cell edges.
        self.x0 = np.floor(minx / span) * span
        self.y0 = np.floor(miny / span) * span
        nbx = int(np.floor((maxx - self.x0) / span)) + 1
        nby = int(np.floor((maxy - self.y0) / span)) + 1
        self.coarse = np.full((nby, nbx), _OUTSIDE, dtype=np.int64)

        by, bx = np.divmod(np.arange(nby * nbx), nbx)
        boxes = shapely.box(self.x0 + bx * span, self.y0 + by * span,
                            self.x0 + (bx + 1) * span, self.y0 + (by + 1) * span)
        poly_tree = shapely.STRtree(self.polygons)
        lines = shapely.boundary(self.polygons) if len(self.polygons) else np.empty(0, object)
        edge_tree = shapely.STRtree(np.concatenate([lines, self.marks]))
        box_i, poly_i = poly_tree.query(boxes, predicate="intersects")
        mark_box_i, mark_i = edge_tree.query(boxes, predicate="intersects")
        touched = np.union1d(box_i, mark_box_i)
        polys_of = _group(box_i, poly_i)
        edges_of = _group(mark_box_i, mark_i)
        edges = edge_tree.geometries
        fine = []
        for b in touched.tolist():
            ox, oy = self.x0 + bx[b] * span, self.y0 + by[b] * span
            block = self._rasterise_block(ox, oy, polys_of.get(b, ()), edges[edges_of.get(b, [])])
            values = np.unique(block)
            if len(values) == 1 and values[0] != _BOUNDARY:
                self.coarse[by[b], bx[b]] = values[0]
            else:
                self.coarse[by[b], bx[b]] = -(len(fine) + 2)
                fine.append(block)
        self.fine = (np.stack(fine) if fine
                     else np.empty((0, self.block, self.block), dtype=np.int32))

    def _rasterise_block(self, ox: float, oy: float, polys, edges) -> np.ndarray:
        """Labels of one block's fine cells, rows from south to north; boundary cells = -2.

        Boundaries are burnt with ``all_touched`` on a one-cell halo and then dilated by one
        cell, so a boundary that only grazes a cell corner, or runs along the block edge, still
        marks every cell it could pass through.
        """
        n, c = self.block, self.cell
        halo = n + 2
        transform = from_origin(ox - c, oy + (n + 1) * c, c, c)
        labels = np.full((halo, halo), _OUTSIDE, dtype=np.int32)
        # Later shapes overwrite earlier ones: burn in reverse so where polygons overlap the
        # cell gets the one listed first, as the exact test does.
        shapes = [(self.polygons[i], int(self.labels[i])) for i in sorted(polys, reverse=True)]
        if shapes:
            labels = rio_features.rasterize(shapes, out_shape=(halo, halo), transform=transform,
                                            fill=_OUTSIDE, dtype="int32")
        if len(edges):
            burnt = rio_features.rasterize(((g, 1) for g in edges), out_shape=(halo, halo),
                                           transform=transform, fill=0, all_touched=True,
                                           dtype="uint8").astype(bool)
            near = burnt.copy()
            near[1:] |= burnt[:-1]
            near[:-1] |= burnt[1:]
            near[:, 1:] |= near[:, :-1].copy()
            near[:, :-1] |= near[:, 1:].copy()
            labels[near] = _BOUNDARY
        return labels[1:-1, 1:-1][::-1].copy()

    # -- lookup ---------------------------------------------------------------------------
    def cells(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Label of the cell of each point: a label >= 0, -1 (outside every polygon) or -2
        (boundary cell: the point needs an exact test)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        inv = 1.0 / self.cell
        gx = np.floor((x - self.x0) * inv)
        gy = np.floor((y - self.y0) * inv)
        nby, nbx = self.coarse.shape
        shift = self._shift
        limit_x, limit_y = nbx << shift, nby << shift
        ok = (gx >= 0) & (gx < limit_x) & (gy >= 0) & (gy < limit_y)  # also drops NaN
        gxi = np.where(ok, gx, 0).astype(np.int64)
        gyi = np.where(ok, gy, 0).astype(np.int64)
        code = self.coarse.ravel()[(gyi >> shift) * nbx + (gxi >> shift)]
        code[~ok] = _OUTSIDE
        in_fine = np.flatnonzero(code <= _BOUNDARY)
        if len(in_fine):
            mask = self.block - 1
            slot = -code[in_fine] - 2
            flat = ((slot * self.block + (gyi[in_fine] & mask)) * self.block
                    + (gxi[in_fine] & mask))
            code[in_fine] = self.fine.ravel()[flat]
        return code

    def cell_at(self, x: float, y: float) -> int:
        """:meth:`cells` for one finite point, without numpy's per-call overhead."""
        gx = math.floor((x - self.x0) / self.cell)
        gy = math.floor((y - self.y0) / self.cell)
        shift = self._shift
        nby, nbx = self.coarse.shape
        if not (0 <= gx < nbx << shift and 0 <= gy < nby << shift):
            return _OUTSIDE
        code = int(self.coarse[gy >> shift, gx >> shift])
        if code <= _BOUNDARY:
            mask = self.block - 1
            code = int(self.fine[-code - 2, gy & mask, gx & mask])
        return code

    @property
    def _shift(self) -> int:
        return self.block.bit_length() - 1

    @cached_property
    def _tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.polygons)

    def locate(self, x: np.ndarray, y: np.ndarray, predicate: str = "intersects") -> np.ndarray:
        """Label of the polygon holding each point, or -1.

        Parameters
        ----------
        x, y : arrays of float
            Longitudes and latitudes.
        predicate : {"intersects", "contains"}
            Whether a point on a polygon's boundary belongs to it (``intersects``, like
            ``geopandas.sjoin``) or not (``contains``). A point on an edge shared by two
            polygons gets the polygon listed first.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        out = np.empty(len(x), dtype=np.int64)
        # In chunks, so the temporaries stay a few MB whatever the number of points.
        for start in range(0, len(x), _CHUNK):
            xs, ys = x[start:start + _CHUNK], y[start:start + _CHUNK]
            code = self.cells(xs, ys)
            exact = np.flatnonzero(code == _BOUNDARY)
            if len(exact):
                code[exact] = self._exact(xs[exact], ys[exact], predicate)
            out[start:start + len(code)] = code
        return out

    def _exact(self, x: np.ndarray, y: np.ndarray, predicate: str) -> np.ndarray:
        point_i, poly_i = self._tree.query(shapely.points(x, y))
        shapely.prepare(self.polygons)
        test = shapely.intersects_xy if predicate == "intersects" else shapely.contains_xy
        hit = test(self.polygons[poly_i], x[point_i], y[point_i])
        first = np.full(len(x), len(self.polygons), dtype=np.int64)
        np.minimum.at(first, point_i[hit], poly_i[hit])
        found = first < len(self.polygons)
        out = np.full(len(x), _OUTSIDE, dtype=np.int64)
        out[found] = self.labels[first[found]]
        return out

    @property
    def nbytes(self) -> int:
        return self.coarse.nbytes + self.fine.nbytes

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_tree", None)
        return state


def _group(keys: np.ndarray, values: np.ndarray) -> dict[int, np.ndarray]:
    """``{key: values with that key}`` for parallel arrays."""
    if len(keys) == 0:
        return {}
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return dict(zip(keys[starts].tolist(), np.split(values, starts[1:])))


@dataclass(eq=False)
class Slices:
    """Flattened overlay of features: which features cover each slice, and a point locator.

    Build with :func:`build_slices`. ``features`` keeps every feature (polygons, lines,
    points) in positional order; the slices cover only the polygonal ones, since a line or
    point has no area to share.
    """

    features: gpd.GeoDataFrame
    faces: np.ndarray
    face_slice: np.ndarray
    member_ptr: np.ndarray
    member_idx: np.ndarray
    cell: float = CELL_DEG

    @cached_property
    def grid(self) -> CellGrid:
        """Cell grid over the faces; line and point features mark their cells for an exact
        test. Built on the first point lookup (area statistics never need it)."""
        kinds = shapely.get_type_id(self.geometries)
        marks = self.geometries[~np.isin(kinds, (3, 6)) & ~shapely.is_missing(self.geometries)]
        return CellGrid(self.faces, self.face_slice, marks=marks, cell=self.cell)

    @property
    def n_slices(self) -> int:
        return len(self.member_ptr) - 1

    def members(self, slice_id: int) -> np.ndarray:
        """Positions (in ``features``) of the features covering one slice."""
        return self.member_idx[self.member_ptr[slice_id]:self.member_ptr[slice_id + 1]]

    @cached_property
    def geometries(self) -> np.ndarray:
        """Every feature geometry (positional), prepared for repeated predicates."""
        geoms = self.features.geometry.values.to_numpy() if hasattr(
            self.features.geometry.values, "to_numpy") else np.asarray(self.features.geometry)
        geoms = np.asarray(geoms, dtype=object)
        shapely.prepare(geoms)
        return geoms

    @cached_property
    def tree(self) -> shapely.STRtree:
        """STRtree over every feature (positional)."""
        return shapely.STRtree(self.geometries)

    @cached_property
    def face_tree(self) -> shapely.STRtree:
        """STRtree over the (prepared) faces."""
        shapely.prepare(self.faces)
        return shapely.STRtree(self.faces)

    @cached_property
    def face_km2(self) -> np.ndarray:
        """Area of each face in km² (EPSG:6933)."""
        return area_km2(gpd.GeoSeries(self.faces, crs=CRS))

    def __getstate__(self):
        state = self.__dict__.copy()
        # rebuilt lazily where unpickled
        for cached in ("geometries", "tree", "table", "face_tree"):
            state.pop(cached, None)
        return state

    @cached_property
    def table(self) -> gpd.GeoDataFrame:
        """One row per slice: covering features, their plans and classes, area (km²)."""
        feats = self.features
        sizes = np.diff(self.member_ptr)
        owner = np.repeat(np.arange(self.n_slices), sizes)
        pick = lambda col: pd.Series(feats[col].to_numpy()[self.member_idx]).groupby(  # noqa: E731
            owner).agg(lambda s: ";".join(dict.fromkeys(map(str, s))))
        order = np.argsort(self.face_slice, kind="stable")
        groups = np.split(self.faces[order], np.cumsum(np.bincount(
            self.face_slice, minlength=self.n_slices))[:-1])
        geoms = [shapely.MultiPolygon(list(g)) for g in groups]
        out = gpd.GeoDataFrame({
            "slice_id": np.arange(self.n_slices),
            "n_features": sizes,
            "feature_ids": pick("feature_id").to_numpy(),
            "plan_ids": pick("plan_id").to_numpy(),
            "zone_classes": pick("zone_class").to_numpy(),
        }, geometry=geoms, crs=CRS)
        out["area_km2"] = area_km2(out)
        return out

    def members_at(self, x: float, y: float) -> np.ndarray:
        """Positions of the features intersecting one finite point (sorted): one lookup."""
        code = self.grid.cell_at(x, y)
        if code >= 0:
            return self.members(code)
        if code == _OUTSIDE:
            return np.empty(0, dtype=np.int64)
        # Bounding-box candidates, then the test on the prepared features (a predicate query
        # would test the unprepared tree geometries).
        candidates = np.sort(self.tree.query(shapely.Point(x, y)))
        return candidates[shapely.intersects_xy(self.geometries[candidates], x, y)]

    def locate(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (point, feature) pair where the feature intersects the point.

        Returns two parallel arrays: point positions and feature positions (in ``features``),
        sorted by point. Exact for every point: points in cells wholly inside one slice take
        the slice's members; the rest are tested against the features themselves.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        code = self.grid.cells(x, y)
        inner = np.flatnonzero(code >= 0)
        sl = code[inner]
        counts = self.member_ptr[sl + 1] - self.member_ptr[sl]
        inner_pts = np.repeat(inner, counts)
        offsets = np.repeat(self.member_ptr[sl] - np.cumsum(counts) + counts, counts)
        inner_feats = self.member_idx[np.arange(counts.sum()) + offsets]
        exact = np.flatnonzero(code == _BOUNDARY)
        if len(exact):
            pi, fi = self.tree.query(shapely.points(x[exact], y[exact]))
            hit = shapely.intersects_xy(self.geometries[fi], x[exact][pi], y[exact][pi])
            pts = np.concatenate([inner_pts, exact[pi[hit]]])
            feats = np.concatenate([inner_feats, fi[hit]])
        else:
            pts, feats = inner_pts, inner_feats
        order = np.lexsort((feats, pts))
        return pts[order], feats[order]


def _face_members(faces: np.ndarray, polys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(face, polygon) pairs where the face lies inside the polygon.

    A face never straddles a polygon boundary (the boundaries are its edges), so one interior
    point decides. ``point_on_surface`` can land on the edge of a thin sliver, though; those
    faces are decided by the share of their area inside the polygon instead.
    """
    inside = shapely.point_on_surface(faces)
    shapely.prepare(faces)
    sure = shapely.contains_properly(faces, inside)
    # Bounding-box candidates, then one vectorised point-in-polygon test on prepared
    # polygons: several times faster than a predicate query of points in big polygons.
    face_i, poly_i = shapely.STRtree(polys).query(faces)
    shapely.prepare(polys)
    by_point = sure[face_i]
    hit = np.zeros(len(face_i), dtype=bool)
    x, y = shapely.get_x(inside), shapely.get_y(inside)
    hit[by_point] = shapely.contains_xy(polys[poly_i[by_point]], x[face_i[by_point]],
                                        y[face_i[by_point]])
    doubt = np.flatnonzero(~by_point)
    if len(doubt):
        f, p = faces[face_i[doubt]], polys[poly_i[doubt]]
        hit[doubt] = shapely.area(shapely.intersection(f, p)) > 0.5 * shapely.area(f)
    return face_i[hit], poly_i[hit]


def noded_boundaries(polygons: np.ndarray) -> shapely.Geometry:
    """The boundaries of ``polygons`` as one fully noded linework, each edge once.

    Plan features are unions of the same admin units, so most edges occur many times with
    identical coordinates. Dropping duplicate segments first (a numpy row sort) leaves
    ``union_all`` only the true crossings to node: 7x faster on the Shanxi plan, 23x on
    Ardabil, than noding every boundary as it comes.
    """
    rings = shapely.get_parts(shapely.get_parts(shapely.boundary(polygons)))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring[1:] == ring[:-1]
    a, b = coords[:-1][same_ring], coords[1:][same_ring]
    forward = (a[:, 0] < b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] < b[:, 1]))
    segments = np.where(forward[:, None], np.hstack([a, b]), np.hstack([b, a]))
    segments = segments[(segments[:, 0] != segments[:, 2]) | (segments[:, 1] != segments[:, 3])]
    unique = np.unique(segments, axis=0)
    return shapely.union_all(shapely.linestrings(unique.reshape(-1, 2, 2)))


def build_slices(features: gpd.GeoDataFrame, cell: float = CELL_DEG) -> Slices:
    """Flatten ``features`` (EPSG:4326) into slices and index them for point lookups.

    Parameters
    ----------
    features : GeoDataFrame
        Features of any geometry type; the polygonal ones are flattened. Its rows keep their
        order (positions are the feature ids used by :class:`Slices`).
    cell : float
        Fine cell size of the point grid in degrees.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> gdf = gpd.GeoDataFrame({"feature_id": ["a", "b"], "plan_id": "p", "zone_class": "z"},
    ...     geometry=[shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)], crs="EPSG:4326")
    >>> s = build_slices(gdf)
    >>> s.n_slices, sorted(s.members(i).tolist() for i in range(s.n_slices))
    (3, [[0], [0, 1], [1]])
    """
    if features.crs is not None and not features.crs.equals(CRS):
        features = features.to_crs(CRS)
    features = features.reset_index(drop=True)
    geoms = np.asarray(features.geometry.values, dtype=object)
    polygonal = np.flatnonzero(np.isin(shapely.get_type_id(geoms), (3, 6)))
    polys = geoms[polygonal]
    if len(polys):
        linework = noded_boundaries(polys)
        faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(linework)))
        faces = faces[shapely.area(faces) > 0]
        face_i, poly_i = _face_members(faces, polys)
    else:
        faces = np.empty(0, dtype=object)
        face_i = poly_i = np.empty(0, dtype=np.int64)
    order = np.lexsort((poly_i, face_i))
    face_i, feat_i = face_i[order], polygonal[poly_i[order]]
    # One slice per distinct set of covering features; faces covered by nothing (holes and
    # gaps enclosed by features) are dropped.
    groups = _group(face_i, feat_i)
    slice_of_set: dict[tuple, int] = {}
    kept_faces, face_slice = [], []
    for face, members in groups.items():
        key = tuple(members.tolist())
        face_slice.append(slice_of_set.setdefault(key, len(slice_of_set)))
        kept_faces.append(face)
    sets = list(slice_of_set)
    member_ptr = np.zeros(len(sets) + 1, dtype=np.int64)
    member_ptr[1:] = np.cumsum([len(s) for s in sets])
    member_idx = np.fromiter((f for s in sets for f in s), dtype=np.int64, count=member_ptr[-1])
    faces = faces[np.asarray(kept_faces, dtype=np.int64)]
    face_slice = np.asarray(face_slice, dtype=np.int64)
    return Slices(features, faces, face_slice, member_ptr, member_idx, cell)
