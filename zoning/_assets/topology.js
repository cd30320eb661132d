/* zoning map runtime, shared part: escaping and the topology decoder, used by the plan maps
 * (zoning.js) and the diff maps (diff.js). Geometry arrives delta-encoded as integers
 * (coordinate x scale) in arcs shared between neighbouring shapes; see zoning/webmap.py.
 * Part of the zoning project (MIT licence). */
var zoningShared = (function () {
  'use strict';

  /* Every value that reaches innerHTML goes through esc at the point of insertion, text and
   * attribute alike, whatever its origin: plan files, GeoPackages and styles are all input. */
  function esc(value) {
    return String(value === null || value === undefined ? '' : value)
      .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  }

  function decodeLine(flat, scale) {
    var out = [], x = 0, y = 0;
    for (var i = 0; i < flat.length; i += 2) {
      x += flat[i]; y += flat[i + 1];
      out.push([y / scale, x / scale]);
    }
    return out;
  }

  /* Arc lookup for a topology: arc i decoded once, ~i is arc i reversed. */
  function arcReader(arcs, scale) {
    var cache = [];
    return function (ref) {
      var i = ref >= 0 ? ref : ~ref;
      if (!cache[i]) { cache[i] = decodeLine(arcs[i], scale); }
      return ref >= 0 ? cache[i] : cache[i].slice().reverse();
    };
  }

  /* A line or ring joined from arcs, which meet end to start. */
  function joinArcs(refs, arc) {
    var out = [];
    refs.forEach(function (ref, k) {
      var pts = arc(ref);
      for (var i = k ? 1 : 0; i < pts.length; i++) { out.push(pts[i]); }
    });
    return out;
  }

  /* Leaflet lat/lng arrays of a feature's encoded geometry. */
  function decodeGeometry(g, scale, arc) {
    if (g.type === 'MultiPoint') {
      return g.c.map(function (p) { return [p[1] / scale, p[0] / scale]; });
    }
    if (g.type === 'MultiLineString') {
      return g.a.map(function (refs) { return joinArcs(refs, arc); });
    }
    return g.a.map(function (poly) {
      return poly.map(function (refs) { return joinArcs(refs, arc); });
    });
  }

  return { esc: esc, decodeLine: decodeLine, arcReader: arcReader, joinArcs: joinArcs,
           decodeGeometry: decodeGeometry };
})();
