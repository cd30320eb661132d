/* zoning diff-map runtime: what changed between two versions of a plan, on a Leaflet map.
 * Layers "before" and "after" (the changed features in each version) and "change" (land that
 * gained or lost classes, coloured by the class gained), a legend of the transitions with their
 * areas, and popups that show both versions. Geometry arrives delta-encoded as integers
 * (coordinate x scale) in the same topology format as the plan maps (zoning/webmap.py).
 * Part of the zoning project (MIT licence). Needs Leaflet 1.9 and nothing else. */
(function () {
  'use strict';

  /* esc and the topology decoder: zoning/_assets/topology.js, shared with the plan maps. */
  var esc = zoningShared.esc, arcReader = zoningShared.arcReader,
    decode = zoningShared.decodeGeometry;

  function km(value, unit) {
    if (value === null || value === undefined) { return '—'; }
    var digits = Math.abs(value) < 10 ? 2 : 0;
    return Number(value).toLocaleString('en', { maximumFractionDigits: digits }) + ' ' + unit;
  }

  function DiffMap(map, data) {
    this.map = map;
    this.data = data;
    this.arc = arcReader(data.arcs, data.scale);
    map.getContainer().classList.add('zoning-map', 'zoning-diff-map', 'zoning-lang-both');
    var outline = this.outline();
    this.groups = {};
    var overlays = {};
    var self = this;
    ['before', 'after', 'change'].forEach(function (name) {
      var group = L.featureGroup();
      self.groups[name] = group;
      overlays[data.ui[name]] = group;
    });
    data.before.forEach(function (f) { self.addFeature(f, 'before'); });
    data.after.forEach(function (f) { self.addFeature(f, 'after'); });
    data.changes.forEach(function (f) { self.addChange(f); });
    var bases = {};
    bases[data.ui.outline] = outline;
    data.bases.forEach(function (b) {
      if (b.url) {
        bases[b.label.en] = L.tileLayer(b.url, { attribution: b.attribution,
          maxZoom: b.max_zoom || 18, subdomains: b.subdomains || 'abc' });
      }
    });
    outline.addTo(map);
    ['before', 'after', 'change'].forEach(function (name) { self.groups[name].addTo(map); });
    L.control.layers(bases, overlays, { collapsed: false, position: 'topright' }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    this.legend();
    map.fitBounds(data.bounds);
  }

  DiffMap.prototype.outline = function () {
    var layer = L.featureGroup();
    var pane = this.map.createPane('zoning-context');
    pane.style.zIndex = 150;
    pane.style.pointerEvents = 'none';
    var context = this.data.context || { arcs: [], shapes: [] };
    var arc = arcReader(context.arcs, this.data.scale), scale = this.data.scale;
    context.shapes.forEach(function (g) {
      L.polygon(decode(g, scale, arc), { pane: 'zoning-context', interactive: false,
        color: '#a8a8a8', weight: 0.8, fillColor: '#ffffff', fillOpacity: 1 }).addTo(layer);
    });
    return layer;
  };

  DiffMap.prototype.cls = function (code) {
    return this.data.classes[code] || { fill: '#888888', stroke: '#555555', label: { en: code } };
  };

  DiffMap.prototype.addFeature = function (f, version) {
    var p = f.p, c = this.cls(p.zone_class), self = this, layer;
    var before = version === 'before';
    var style = { color: before ? '#7a0177' : '#08519c', weight: before ? 2 : 2.5,
      dashArray: before ? '6 4' : null, fillColor: c.fill, fillOpacity: before ? 0.08 : 0.18,
      className: 'zoning-diff-' + version };
    var latlngs = decode(f.g, this.data.scale, this.arc);
    if (f.g.type === 'MultiPoint') {
      layer = L.featureGroup(latlngs.map(function (ll) {
        return L.circleMarker(ll, { radius: 6, color: style.color, weight: 2,
          fillColor: c.fill, fillOpacity: 0.9, dashArray: style.dashArray,
          className: style.className });
      }));
    } else if (f.g.type === 'MultiLineString') {
      layer = L.polyline(latlngs, { color: before ? '#7a0177' : c.stroke, weight: 4,
        opacity: before ? 0.6 : 0.9, dashArray: style.dashArray, className: style.className });
    } else {
      layer = L.polygon(latlngs, style);
    }
    layer.bindPopup(function () { return self.featurePopup(p, version); }, { maxWidth: 420 });
    layer.addTo(this.groups[version]);
  };

  DiffMap.prototype.addChange = function (f) {
    var p = f.p, self = this;
    var gained = p.to ? p.to.split(' & ')[0] : null;
    var lost = p.from ? p.from.split(' & ')[0] : null;
    var style = gained
      ? { color: this.cls(gained).stroke, weight: 1, fillColor: this.cls(gained).fill, fillOpacity: 0.75 }
      : { color: this.cls(lost).stroke, weight: 1.5, dashArray: '3 3', fillColor: '#ffffff',
          fillOpacity: 0.75 };
    style.className = 'zoning-diff-change';
    var layer = L.polygon(decode(f.g, this.data.scale, this.arc), style);
    layer.bindPopup(function () { return self.changePopup(p); }, { maxWidth: 420 });
    layer.addTo(this.groups.change);
  };

  DiffMap.prototype.classNames = function (joined) {
    var self = this;
    if (!joined) { return '<i>' + esc(this.data.ui.none) + '</i>'; }
    return joined.split(' & ').map(function (code) {
      return '<span class="zd-class"><span class="zd-dot" style="background:' +
        esc(self.cls(code).fill) + '"></span>' + esc(self.cls(code).label.en || code) + '</span>';
    }).join(' &amp; ');
  };

  DiffMap.prototype.featureItem = function (f) {
    return '<li>' + esc(f.name) + (f.name && f.name_en ? ' · ' : '') + esc(f.name_en) +
      ' <code>' + esc(f.zone_class) + '</code>' + (f.badge ? ' <span class="zoning-badge ' +
      'zoning-badge-' + esc(f.badge) + '">' + esc(f.badge) + '</span>' : '') + '</li>';
  };

  /* The features covering a change polygon in one version: those that changed, then the
   * unchanged ones folded away. */
  DiffMap.prototype.featureList = function (ids, version, heading) {
    var feats = this.data.features[version], self = this, ui = this.data.ui;
    var changed = ids.filter(function (id) { return feats[id].changed; });
    var kept = ids.filter(function (id) { return !feats[id].changed; });
    var html = '<div class="zp-h">' + esc(heading) + '</div><ul class="zd-features">';
    changed.forEach(function (id) { html += self.featureItem(feats[id]); });
    if (!changed.length) { html += '<li><i>' + esc(ui.none) + '</i></li>'; }
    html += '</ul>';
    if (kept.length) {
      html += '<details><summary>' + kept.length + ' ' + esc(ui.unchanged) + '</summary><ul>';
      kept.forEach(function (id) { html += self.featureItem(feats[id]); });
      html += '</ul></details>';
    }
    return html;
  };

  DiffMap.prototype.changePopup = function (p) {
    var ui = this.data.ui;
    var html = '<div class="zoning-popup zoning-diff-popup">';
    html += '<div class="zp-title">' + this.classNames(p.from) + ' → ' + this.classNames(p.to) +
      '</div><table class="zp-attrs"><tr><th>' + esc(ui.area) + '</th><td>' +
      km(p.area_km2, 'km²') + '</td></tr></table>';
    html += this.featureList(p.old_features, 'old', ui.before + ' — ' + this.data.old_label);
    html += this.featureList(p.new_features, 'new', ui.after + ' — ' + this.data.new_label);
    return html + '</div>';
  };

  DiffMap.prototype.featurePopup = function (p, version) {
    var ui = this.data.ui, d = this.data.diffs[p.key] || {}, c = this.cls(p.zone_class);
    var html = '<div class="zoning-popup zoning-diff-popup" data-key="' + esc(p.key) + '">';
    html += '<div class="zp-title">' + esc(p.name) + (p.name && p.name_en ? '<br>' : '') +
      esc(p.name_en) + '</div>';
    html += '<div class="zd-change zd-change-' + esc(d.change) + '">' + esc(ui[d.change] || '') +
      ' · ' + esc(ui[version]) + ' (' + esc(version === 'before' ? this.data.old_label
        : this.data.new_label) + ')</div>';
    html += '<table class="zp-attrs"><tr><th>' + esc(ui['class']) + '</th><td>' +
      esc(c.label.en || p.zone_class) + ' <code>' + esc(p.zone_class) + '</code></td></tr>';
    html += '<tr><th></th><th>' + esc(ui.before) + '</th><th>' + esc(ui.after) + '</th></tr>';
    if (d.old_area_km2 !== null || d.new_area_km2 !== null) {
      html += '<tr><th>' + esc(ui.area) + '</th><td>' + km(d.old_area_km2, 'km²') + '</td><td>' +
        km(d.new_area_km2, 'km²') + '</td></tr>';
      html += '<tr><th>' + esc(ui.gained) + ' / ' + esc(ui.lost) + '</th><td colspan="2">+' +
        km(d.area_gained_km2, 'km²') + ' / −' + km(d.area_lost_km2, 'km²') + '</td></tr>';
    }
    if (d.old_length_km !== null || d.new_length_km !== null) {
      html += '<tr><th>' + esc(ui.length) + '</th><td>' + km(d.old_length_km, 'km') + '</td><td>' +
        km(d.new_length_km, 'km') + '</td></tr>';
      html += '<tr><th>' + esc(ui.gained) + ' / ' + esc(ui.lost) + '</th><td colspan="2">+' +
        km(d.length_gained_km, 'km') + ' / −' + km(d.length_lost_km, 'km') + '</td></tr>';
    }
    html += '<tr><th>' + esc(ui.badge) + '</th><td>' + (d.old_badge ? '<span class="zoning-badge ' +
      'zoning-badge-' + esc(d.old_badge) + '">' + esc(d.old_badge) + '</span>' : '—') + '</td><td>' +
      (d.new_badge ? '<span class="zoning-badge zoning-badge-' + esc(d.new_badge) + '">' +
       esc(d.new_badge) + '</span>' : '—') + '</td></tr>';
    (d.attributes || []).forEach(function (a) {
      html += '<tr class="zd-attr"><th>' + esc(a.attribute) + '</th><td>' + esc(a.old) +
        '</td><td>' + esc(a['new']) + '</td></tr>';
    });
    html += '</table>';
    if (d.precision) { html += '<div class="zd-precision">' + esc(d.precision) + '</div>'; }
    if (d.stated_km2) {
      html += '<div class="zd-stated">' + esc(ui.stated) + ': ' + km(d.stated_km2, 'km²') +
        ' (' + esc(d.stated_column) + ') — ' + esc(d.stated_met ? ui.met : ui.not_met) +
        ', ' + esc(ui.after) + ' = ' + Number(d.stated_ratio).toFixed(2) + '×</div>';
    }
    return html + '</div>';
  };

  DiffMap.prototype.legend = function () {
    var data = this.data, self = this;
    var control = L.control({ position: 'bottomright' });
    control.onAdd = function () {
      var div = L.DomUtil.create('div', 'zoning-panel zoning-legend zoning-diff-legend');
      var html = '<div class="zoning-panel-head">' + esc(data.title) + '</div>' +
        '<div class="zoning-panel-body"><div class="zoning-legend-h">' + esc(data.ui.transitions) +
        '</div><table class="zd-transitions">';
      data.transitions.forEach(function (t) {
        html += '<tr><td>' + self.classNames(t.from) + '</td><td>→</td><td>' +
          self.classNames(t.to) + '</td><td class="zd-num">' + km(t.area_km2, 'km²') + '</td></tr>';
      });
      if (!data.transitions.length) {
        html += '<tr><td><i>' + esc(data.ui.no_transitions) + '</i></td></tr>';
      }
      html += '</table><div class="zoning-legend-h">' + esc(data.ui.counts) + '</div><ul class="zd-counts">';
      data.counts.forEach(function (c) { html += '<li>' + esc(c) + '</li>'; });
      html += '</ul></div>';
      div.innerHTML = html;
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    };
    control.addTo(this.map);
  };

  window.zoningDiffMap = function (map, data) {
    var d = new DiffMap(map, data);
    (window.zoningDiffMaps = window.zoningDiffMaps || []).push(d);
    return d;
  };
}());
