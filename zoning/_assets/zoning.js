/* zoning web-map runtime: draws the plans of a zoning map on a Leaflet map.
 * Layer tree grouped by plan and theme, legend of the visible classes, "what's here" on click
 * (every feature of every shown plan at the pointer: names, class, regulation, rules with
 * citations and geometry-basis badge), place search, language switch.
 * Geometry arrives delta-encoded as integers (coordinate x scale); see zoning/webmap.py.
 * Part of the zoning project (MIT licence). Needs Leaflet 1.9 and nothing else. */
(function () {
  'use strict';

  var SVGNS = 'http://www.w3.org/2000/svg';

  /* esc, the topology decoder: zoning/_assets/topology.js, shared with the diff maps. */
  var esc = zoningShared.esc, arcReader = zoningShared.arcReader,
    decodeGeometry = zoningShared.decodeGeometry;

  function normalise(text) {
    return String(text || '').normalize('NFKD').replace(/[\u0300-\u036f]/g, '')
      .replace(/[đĐ]/g, 'd').replace(/\u064a/g, '\u06cc').replace(/\u0643/g, '\u06a9')
      .replace(/[\u200c\u200f\u200e]/g, '').toLowerCase();
  }

  function ZoningMap(map, data) {
    this.map = map;
    this.data = data;
    this.primary = data.plans.length ? data.plans[0].language : 'en';
    this.layers = {};       // key -> {group, spec, plan, features: [{layer, props}]}
    this.index = [];        // search entries
    this.panes = {};
    this.container = map.getContainer();
    this.arc = arcReader(data.arcs, data.scale);
    // Shared by every popup (Leaflet keeps the arrays by reference): popups pan clear of the
    // side panels, which change width as they fold and as the legend follows the layers.
    this.popupOptions = {
      maxWidth: 400, minWidth: 260, className: 'zoning-popup-wrap',
      autoPanPaddingTopLeft: [30, 30], autoPanPaddingBottomRight: [30, 30]
    };
    this.setLanguage(data.language || 'both');
    this.container.classList.add('zoning-map');
    // quarter zoom steps when fitting, so a plan fills the view rather than a quarter of it
    map.options.zoomSnap = 0.25;
    map.setMinZoom(1);
    map.setMaxZoom(18);
    this.addPatterns();
    this.addBases();
    var self = this;
    data.plans.forEach(function (plan) { self.addPlan(plan); });
    this.addLayerControl();
    this.addSearch();
    this.addLanguageSwitch();
    this.addLegend();
    if (this.container.clientWidth < 700) {
      this.container.querySelectorAll('.zoning-panel').forEach(function (panel) {
        panel.querySelector('.zoning-collapse').click();
      });
    }
    L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(map);
    if (data.attribution) { map.attributionControl.addAttribution(esc(data.attribution)); }
    this.updateLegend();     // everything, so the fit below leaves room for the full legend
    this.fitAll({ animate: false });
    this.updateLegend();
    map.on('moveend', function () { self.updateLegend(); });
    map.on('click', function (ev) { self.whatsHere(ev.latlng); });
    map.on('resize', function () { self.fitLegend(); });
  }

  ZoningMap.prototype.ui = function (key, lang) {
    var entry = this.data.ui[key] || {};
    return entry[lang] || entry.en || String(key).replace(/_/g, ' ');
  };

  /* Interface words: English in "both" and "en" modes, the plan language in "local" mode. */
  ZoningMap.prototype.uiHtml = function (key, lang) {
    lang = lang || this.primary;
    var en = this.ui(key, 'en'), local = this.ui(key, lang);
    if (lang === 'en' || local === en) { return esc(en); }
    return '<span class="zu-en">' + esc(en) + '</span><span class="zu-local"' +
      this.langAttrs(lang) + '>' + esc(local) + '</span>';
  };

  ZoningMap.prototype.dir = function (lang) {
    return this.data.rtl.indexOf(lang) >= 0 ? 'rtl' : 'ltr';
  };

  /* ' lang="…" dir="…"' for text in a plan language. */
  ZoningMap.prototype.langAttrs = function (lang) {
    return ' lang="' + esc(lang) + '" dir="' + this.dir(lang) + '"';
  };

  /* Original-language and English text, shown according to the language switch. */
  ZoningMap.prototype.both = function (local, en, lang, tag) {
    tag = tag || 'span';
    var out = '';
    if (local && local !== en) {
      out += '<' + tag + ' class="zl-local"' + this.langAttrs(lang) + '>' +
        esc(local) + '</' + tag + '>';
      if (tag === 'span') { out += '<span class="zl-sep"> · </span>'; }
      out += '<' + tag + ' class="zl-en">' + esc(en) + '</' + tag + '>';
    } else {
      out += '<' + tag + ' class="zl-any">' + esc(en || local) + '</' + tag + '>';
    }
    return out;
  };

  /* English title with the original beneath it, smaller (layer tree). */
  ZoningMap.prototype.stacked = function (local, en, lang) {
    if (!local || local === en) { return '<span class="zl-any">' + esc(en || local) + '</span>'; }
    return '<span class="zoning-stack"><span class="zl-en">' + esc(en) + '</span>' +
      '<span class="zl-local zoning-sub"' + this.langAttrs(lang) + '>' +
      esc(local) + '</span></span>';
  };

  ZoningMap.prototype.setLanguage = function (mode) {
    var c = this.container.classList;
    ['both', 'en', 'local'].forEach(function (m) { c.remove('zoning-lang-' + m); });
    c.add('zoning-lang-' + mode);
    this.language = mode;
    if (this.refreshBaseLabels) { this.refreshBaseLabels(); }
    if (this.langButtons) {
      this.langButtons.forEach(function (b) {
        b.classList.toggle('zoning-active', b.getAttribute('data-lang') === mode);
      });
    }
  };

  /* --- symbols ------------------------------------------------------------------------ */

  ZoningMap.prototype.addPatterns = function () {
    var svg = document.createElementNS(SVGNS, 'svg');
    svg.setAttribute('class', 'zoning-defs');
    svg.setAttribute('width', '0');
    svg.setAttribute('height', '0');
    svg.setAttribute('aria-hidden', 'true');
    var defs = document.createElementNS(SVGNS, 'defs');
    var size = this.data.hatch_spacing;
    var self = this;
    Object.keys(this.data.classes).forEach(function (code) {
      var s = self.data.classes[code];
      if (!s.hatch) { return; }
      var angles = self.data.hatches[s.hatch];
      var p = document.createElementNS(SVGNS, 'pattern');
      p.setAttribute('id', 'zoning-hatch-' + code);
      p.setAttribute('patternUnits', 'userSpaceOnUse');
      p.setAttribute('width', size);
      p.setAttribute('height', size);
      p.setAttribute('patternTransform', 'rotate(' + (-angles[0]) + ')');
      var rect = document.createElementNS(SVGNS, 'rect');
      rect.setAttribute('width', size);
      rect.setAttribute('height', size);
      rect.setAttribute('fill', s.fill);
      rect.setAttribute('fill-opacity', s.fill_opacity);
      p.appendChild(rect);
      angles.forEach(function (a) {
        var line = document.createElementNS(SVGNS, 'line');
        var vertical = Math.abs(((a - angles[0]) % 180 + 180) % 180 - 90) < 1;
        line.setAttribute('x1', vertical ? size / 2 : 0);
        line.setAttribute('y1', vertical ? 0 : size / 2);
        line.setAttribute('x2', vertical ? size / 2 : size);
        line.setAttribute('y2', vertical ? size : size / 2);
        line.setAttribute('stroke', s.hatch_color || s.stroke);
        line.setAttribute('stroke-width', '1.1');
        line.setAttribute('stroke-opacity', '0.85');
        p.appendChild(line);
      });
      defs.appendChild(p);
    });
    // Badges drawn with a hatch (envelopes): a light hatch in each class's stroke colour.
    Object.keys(this.data.badges).forEach(function (badge) {
      var h = self.data.badges[badge].hatch;
      if (!h) { return; }
      Object.keys(self.data.classes).forEach(function (code) {
        var s = self.data.classes[code];
        var p = document.createElementNS(SVGNS, 'pattern');
        p.setAttribute('id', 'zoning-badge-' + badge + '-' + code);
        p.setAttribute('patternUnits', 'userSpaceOnUse');
        p.setAttribute('width', size * 2);
        p.setAttribute('height', size * 2);
        p.setAttribute('patternTransform', 'rotate(' + (-self.data.hatches[h][0]) + ')');
        var line = document.createElementNS(SVGNS, 'line');
        line.setAttribute('x1', 0); line.setAttribute('y1', size);
        line.setAttribute('x2', size * 2); line.setAttribute('y2', size);
        line.setAttribute('stroke', s.stroke);
        line.setAttribute('stroke-width', '0.8');
        line.setAttribute('stroke-opacity', '0.6');
        p.appendChild(line);
        defs.appendChild(p);
      });
    });
    svg.appendChild(defs);
    this.container.appendChild(svg);
  };

  ZoningMap.prototype.classStyle = function (code) {
    return this.data.classes[code] || this.data.classes[''];
  };

  /* One pane per (draw group, z-order): points over lines over control lines over zones
   * (styles/draw_order.csv), then by z-order within a group; all below Leaflet's tooltips. */
  ZoningMap.prototype.pane = function (z, group) {
    group = group || 0;
    var name = 'zoning-g' + group + '-z' + z;
    if (!this.panes[name]) {
      var pane = this.map.createPane(name);
      pane.style.zIndex = 400 + group * 55 + Math.round(z / 2);
      // Only drawn shapes take the mouse, so a pane never hides the panes beneath it.
      pane.style.pointerEvents = 'none';
      this.panes[name] = pane;
    }
    return name;
  };

  ZoningMap.prototype.pathOptions = function (code, css, geometryType, group, badge) {
    var s = this.classStyle(code);
    var b = this.data.badges[badge] || {};
    var opts = {
      pane: this.pane(s.z, group), color: s.stroke, weight: s.weight, opacity: 1,
      dashArray: s.dash || null, lineCap: 'round', lineJoin: 'round',
      className: 'zoning-f ' + css, bubblingMouseEvents: false
    };
    if (geometryType === 'line') {
      opts.fill = false;
    } else if (b.hatch && this.data.classes[code]) {
      opts.fillColor = 'url(#zoning-badge-' + badge + '-' + code + ')';
      opts.fillOpacity = 1;
      opts.className += ' zoning-badge-shape-' + badge;
    } else if (s.hatch) {
      opts.fillColor = 'url(#zoning-hatch-' + code + ')';
      opts.fillOpacity = 1;
    } else {
      opts.fillColor = s.fill;
      opts.fillOpacity = s.fill_opacity;
    }
    return opts;
  };

  ZoningMap.prototype.markerSvg = function (code, size) {
    var s = this.classStyle(code);
    var path = this.data.markers[s.marker] || this.data.markers.circle;
    size = size || s.marker_size;
    return '<svg xmlns="' + SVGNS + '" width="' + esc(size) + '" height="' + esc(size) +
      '" viewBox="-1 -1 22 22"><path d="' + esc(path) + '" fill="' + esc(s.fill) +
      '" fill-opacity="' + esc(Math.max(s.fill_opacity, 0.6)) + '" stroke="' + esc(s.stroke) +
      '" stroke-width="1.6"/></svg>';
  };

  ZoningMap.prototype.markerFor = function (latlng, code, css, group) {
    var s = this.classStyle(code);
    var size = s.marker_size + 4;
    return L.marker(latlng, {
      pane: this.pane(s.z, group), keyboard: false, riseOnHover: true,
      icon: L.divIcon({
        html: this.markerSvg(code, size), className: 'zoning-f zoning-marker ' + css,
        iconSize: [size, size], iconAnchor: [size / 2, size / 2]
      })
    });
  };

  ZoningMap.prototype.swatch = function (code, geometryType) {
    var s = this.classStyle(code);
    if (geometryType === 'point') { return this.markerSvg(code, 14); }
    var dash = s.dash ? ' stroke-dasharray="' + esc(s.dash) + '"' : '';
    var body;
    if (geometryType === 'line') {
      body = '<line x1="1" y1="7" x2="25" y2="7" stroke="' + esc(s.stroke) + '" stroke-width="' +
        esc(Math.min(s.weight, 4)) + '"' + dash + ' stroke-linecap="round"/>';
    } else {
      var fill = s.hatch ? 'url(#zoning-hatch-' + code + ')' : s.fill;
      var opacity = s.hatch ? 1 : Math.max(s.fill_opacity, 0.08);
      body = '<rect x="1" y="1" width="24" height="12" fill="' + esc(fill) + '" fill-opacity="' +
        esc(opacity) + '" stroke="' + esc(s.stroke) + '" stroke-width="' +
        esc(Math.min(s.weight, 2.5)) + '"' +
        dash + '/>';
    }
    return '<svg xmlns="' + SVGNS + '" class="zoning-swatch" width="26" height="14">' + body +
      '</svg>';
  };

  /* --- base maps ---------------------------------------------------------------------- */

  ZoningMap.prototype.addBases = function () {
    var self = this;
    this.bases = this.data.bases.map(function (b) {
      var layer = null;
      if (b.id === 'outline') {
        layer = L.featureGroup();
        var pane = self.map.createPane('zoning-context');
        pane.style.zIndex = 150;
        pane.style.pointerEvents = 'none';
        var context = self.data.context || { arcs: [], shapes: [] };
        var arc = arcReader(context.arcs, self.data.scale);
        context.shapes.forEach(function (g) {
          L.polygon(decodeGeometry(g, self.data.scale, arc), {
            pane: 'zoning-context', interactive: false, color: '#a8a8a8', weight: 0.8,
            fillColor: '#ffffff', fillOpacity: 1, className: 'zoning-context'
          }).addTo(layer);
        });
        var riverArc = arcReader(context.river_arcs || [], self.data.scale);
        (context.rivers || []).forEach(function (g) {
          L.polyline(decodeGeometry(g, self.data.scale, riverArc), {
            pane: 'zoning-context', interactive: false, color: '#7fb0dc', weight: 1.1,
            opacity: 0.9, className: 'zoning-context zoning-river'
          }).addTo(layer);
        });
        self.addBaseLabels(layer, context);
      }
      return { spec: b, layer: layer };
    });
    this.setBase(this.data.bases.filter(function (b) { return b['default']; })[0].id);
  };

  /* Names on the offline base map: provinces, named rivers and places, each from the zoom
   * styles/base_labels.csv gives its class; only those in view, largest first, and none
   * over another (a label that would overlap one already placed waits for a closer zoom). */
  ZoningMap.prototype.addBaseLabels = function (base, context) {
    var self = this, map = this.map;
    var labels = context.labels || [], classes = context.label_classes || [];
    if (!labels.length) { return; }
    var pane = map.createPane('zoning-base-labels');
    pane.style.zIndex = 640;
    pane.style.pointerEvents = 'none';
    var group = L.layerGroup().addTo(base);
    var scale = this.data.scale, primary = this.primary;
    function refresh() {
      group.clearLayers();
      if (!map.hasLayer(base)) { return; }
      var zoom = map.getZoom(), view = map.getBounds().pad(0.05), placed = [];
      for (var i = 0; i < labels.length && placed.length < 350; i++) {
        var l = labels[i], c = classes[l[2]];
        if (zoom < c.z || zoom > c.max_z) { continue; }
        var ll = L.latLng(l[1] / scale, l[0] / scale);
        if (!view.contains(ll)) { continue; }
        var html = '<div class="zoning-base-label zoning-base-' + esc(c.kind) + '" data-z="' +
          esc(c.z) + '" style="font-size:' + esc(c.size) + 'px;color:' + esc(c.colour) + '">' +
          (l[4] ? '<span class="zl-local"' + self.langAttrs(primary) + '>' + esc(l[4]) +
            '</span>' : '') +
          '<span class="' + (l[4] ? 'zl-en' : 'zl-any') + '">' + esc(l[3]) + '</span></div>';
        var marker = L.marker(ll, {
          pane: 'zoning-base-labels', interactive: false, keyboard: false,
          icon: L.divIcon({ html: html, className: 'zoning-base-label-icon', iconSize: null })
        }).addTo(group);
        // The label's own box as drawn (its script, font, case and language lines), with a
        // 2 px margin: one that would touch a label already placed waits for a closer zoom.
        var el = marker.getElement(), shown = el && el.firstChild;
        var r = shown ? shown.getBoundingClientRect() : null;
        if (!r || !r.width) { group.removeLayer(marker); continue; }
        var box = [r.left - 2, r.top - 2, r.right + 2, r.bottom + 2];
        var clash = placed.some(function (b) {
          return box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3];
        });
        if (clash) { group.removeLayer(marker); continue; }
        placed.push(box);
      }
    }
    map.on('zoomend moveend', refresh);
    base.on('add', refresh);
    this.refreshBaseLabels = refresh;
  };

  ZoningMap.prototype.setBase = function (id) {
    var self = this;
    this.bases.forEach(function (b) {
      var on = b.spec.id === id;
      if (on && !b.layer && b.spec.url) {
        // Tile layers are created on demand: an offline map never asks for a tile.
        b.layer = L.tileLayer(b.spec.url, {
          attribution: b.spec.attribution, maxZoom: b.spec.max_zoom || 18,
          subdomains: b.spec.subdomains || 'abc'
        });
      }
      if (!b.layer) { return; }
      if (on) { self.map.addLayer(b.layer); } else { self.map.removeLayer(b.layer); }
    });
    this.base = id;
  };

  /* --- plan layers -------------------------------------------------------------------- */

  ZoningMap.prototype.addPlan = function (plan) {
    var self = this;
    plan.layers.forEach(function (spec) {
      var group = L.featureGroup();
      var entry = { group: group, spec: spec, plan: plan, features: [] };
      spec.features.forEach(function (f, k) {
        var p = f.p, layer;
        var latlngs = decodeGeometry(f.g, self.data.scale, self.arc);
        var parts;
        if (f.g.type === 'MultiPoint') {
          parts = latlngs.map(function (ll) {
            return self.markerFor(ll, p.zone_class, spec.css, spec.group);
          });
          layer = parts.length === 1 ? parts[0] : L.featureGroup(parts);
        } else if (f.g.type === 'MultiLineString') {
          layer = L.polyline(latlngs, self.pathOptions(p.zone_class, spec.css, 'line', spec.group,
                                                       p.badge));
        } else {
          layer = L.polygon(latlngs, self.pathOptions(p.zone_class, spec.css, 'polygon',
                                                      spec.group, p.badge));
        }
        // Hovering names the feature; a click asks "what's here?" at the pointer.
        layer.bindTooltip(self.tooltip(plan, p), { sticky: true, className: 'zoning-tooltip' });
        layer.on('click', function (ev) {
          var e = ev.originalEvent;
          var at = e && (e.clientX || e.clientY) ? self.map.mouseEventToLatLng(e) : ev.latlng;
          self.whatsHere(at, entry.features[k]);
        });
        (parts || [layer]).forEach(function (part) {
          part.on('add', function () { part.getElement().setAttribute('data-fid', p.id); });
        });
        layer.addTo(group);
        var bounds = L.latLngBounds(f.g.type === 'MultiPoint' ? latlngs :
          (f.g.type === 'MultiLineString' ? [].concat.apply([], latlngs) :
            [].concat.apply([], latlngs.map(function (poly) { return poly[0]; }))));
        entry.features.push({
          layer: layer, props: p, type: f.g.type, latlngs: latlngs, bounds: bounds, key: spec.key
        });
        self.index.push({
          key: normalise(p.name) + ' ' + normalise(p.name_en), entry: entry, layer: layer,
          props: p, plan: plan
        });
      });
      self.layers[spec.key] = entry;
      if (spec.visible) { group.addTo(self.map); }
    });
  };

  ZoningMap.prototype.tooltip = function (plan, p) {
    return '<div class="zoning-tip">' + this.both(p.name, p.name_en, plan.language) +
      ' <span class="zoning-badge zoning-badge-' + esc(p.badge) + '">' + esc(p.badge) +
      '</span></div>';
  };

  ZoningMap.prototype.value = function (key, lang) {
    return this.uiHtml(key, lang);
  };

  /* The full record of one feature (search results open it). */
  ZoningMap.prototype.popup = function (plan, spec, p) {
    return this.featureHtml(plan, spec, p, false);
  };

  /* One feature: names, class, regulation, measures, layer, rules with citations, source
   * quote and geometry basis. ``inList``: an entry of the "what's here" list, where the layer
   * is given by its heading and the source quote and the making of the shape fold away. */
  ZoningMap.prototype.featureHtml = function (plan, spec, p, inList) {
    var lang = plan.language, self = this;
    var cls = this.classStyle(p.zone_class);
    var html = '<div class="zoning-popup' + (inList ? ' zh-feature' : '') + '" data-fid="' +
      esc(p.id) + '" data-plan="' + esc(plan.id) + '" data-layer="' + esc(spec.key) + '">';
    html += '<div class="zp-title">' + this.both(p.name, p.name_en, lang, 'div') + '</div>';
    html += '<table class="zp-attrs">';
    html += '<tr><th>' + this.uiHtml('class', lang) + '</th><td>' +
      this.both(cls.label[lang], cls.label.en, lang) + ' <code>' + esc(p.zone_class) +
      '</code></td></tr>';
    html += '<tr><th>' + this.uiHtml('regulation', lang) + '</th><td><span class="zp-reg zp-reg-' +
      esc(p.regulation) + '">' + this.uiHtml(p.regulation, lang) + '</span>';
    if (p.lifecycle) { html += ' · ' + this.uiHtml(p.lifecycle, lang); }
    html += '</td></tr>';
    if (p.area_km2 !== undefined && p.area_km2 !== null) {
      html += '<tr><th>' + this.uiHtml('area', lang) + '</th><td>' +
        esc(Number(p.area_km2).toLocaleString('en',
          { maximumFractionDigits: p.area_km2 < 10 ? 2 : 0 })) + ' km²</td></tr>';
    }
    if (p.length_km !== undefined && p.length_km !== null) {
      html += '<tr><th>' + this.uiHtml('length', lang) + '</th><td>' +
        esc(Number(p.length_km).toLocaleString('en', { maximumFractionDigits: 0 })) +
        ' km</td></tr>';
    }
    if (!inList) {
      html += '<tr><th>' + this.uiHtml('layer', lang) + '</th><td>' +
        this.both(spec.title, spec.title_en, lang) + '</td></tr>';
    }
    var accuracy = p.accuracy_m ? ' · ±' + esc(Number(p.accuracy_m).toLocaleString('en')) + ' m' : '';
    var badge = '<span class="zoning-badge zoning-badge-' + esc(p.badge) + '">' +
      this.badgeLabel(p.badge, lang) + '</span>';
    if (inList) {
      html += '<tr><th>' + this.uiHtml('geometry', lang) + '</th><td>' + badge + accuracy +
        '</td></tr>';
    }
    html += '</table>';
    if (p.rules && p.rules.length) {
      html += '<div class="zp-rules"><div class="zp-h">' + this.uiHtml('rules', lang) + '</div><ul>';
      p.rules.forEach(function (id) {
        var r = plan.rules[id];
        if (!r) { return; }
        html += '<li data-rule="' + esc(id) + '"><span class="zp-effect zp-effect-' + esc(r.effect) + '">' +
          self.uiHtml(r.effect, lang) + '</span> ' + self.both(r.text, r.text_en, lang) +
          ' <small class="zp-cite">(' + esc(r.section) + ', ' + self.uiHtml('lines', lang) + ' ' +
          esc(r.lines) + ')</small></li>';
      });
      html += '</ul></div>';
    }
    if (p.stated_area_km2) {
      accuracy += '<div class="zp-stated">' + this.uiHtml('drawn_area', lang) + ' ' +
        esc(Number(p.area_km2).toLocaleString('en')) + ' km² · ' +
        this.uiHtml('stated_area', lang) + ' ' +
        esc(Number(p.stated_area_km2).toLocaleString('en')) + ' km²' +
        (p.drawn_to_stated ? ' (' + esc(p.drawn_to_stated) + '×)' : '') + '</div>';
    }
    var source = '<span' + this.langAttrs(lang) + '>' + esc(p.section) +
      '</span>, ' + this.uiHtml('lines', lang) + ' ' + esc(p.lines) + ' <small>(' +
      esc(plan.source_document) + ')</small>';
    var quote = '<blockquote class="zoning-citation"' + this.langAttrs(lang) + '>' +
      esc(p.text) + '</blockquote>';
    if (inList) {
      html += '<details class="zp-source"><summary>' + this.uiHtml('source', lang) + ': ' + source +
        '</summary>' + quote + '<div class="zp-detail"><code>' + esc(p.basis) + '</code> ' +
        esc(p.detail) + '</div></details>';
    } else {
      html += '<div class="zp-source"><div class="zp-h">' + this.uiHtml('source', lang) + ': ' +
        source + '</div>' + quote + '</div>';
      html += '<div class="zp-geometry"><span class="zp-h">' + this.uiHtml('geometry', lang) +
        ':</span> ' + badge + ' <code>' + esc(p.basis) + '</code>' + accuracy +
        '<details><summary>' + this.uiHtml('how_made', lang) + '</summary><div class="zp-detail">' +
        esc(p.detail) + '</div></details></div>';
    }
    html += '</div>';
    return html;
  };

  /* --- what's here ---------------------------------------------------------------------- */

  /* Distance in screen pixels from a pixel point to a line of lat/lngs (at the current zoom). */
  ZoningMap.prototype.pixelDistance = function (pt, line) {
    var best = Infinity, map = this.map, prev = null;
    for (var i = 0; i < line.length; i++) {
      var q = map.latLngToLayerPoint(line[i]);
      if (prev) {
        best = Math.min(best, L.LineUtil.pointToSegmentDistance(pt, prev, q));
      } else {
        best = Math.min(best, pt.distanceTo(q));
      }
      prev = q;
    }
    return best;
  };

  /* Is a lat/lng inside a polygon given as rings (first the shell, then holes)? Even-odd
   * rule over every ring, as the map fills it. */
  function insideRings(latlng, rings) {
    var x = latlng.lng, y = latlng.lat, inside = false;
    rings.forEach(function (ring) {
      for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        var yi = ring[i][0], xi = ring[i][1], yj = ring[j][0], xj = ring[j][1];
        if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) {
          inside = !inside;
        }
      }
    });
    return inside;
  }

  /* Does a feature lie under the pointer? Polygons: the point is inside; lines and points:
   * within a few pixels of what is drawn. */
  ZoningMap.prototype.hitTest = function (f, latlng, pt) {
    var s = this.classStyle(f.props.zone_class), self = this;
    if (f.type === 'MultiPolygon') {
      if (!f.bounds.contains(latlng)) { return false; }
      return f.latlngs.some(function (poly) { return insideRings(latlng, poly); });
    }
    // a marker is drawn in a box of marker_size + 4 pixels: its corners are in reach
    var reach = f.type === 'MultiPoint' ? (s.marker_size + 4) * 0.75 + 2 : s.weight / 2 + 4;
    var sw = this.map.latLngToLayerPoint(f.bounds.getSouthWest());
    var ne = this.map.latLngToLayerPoint(f.bounds.getNorthEast());
    if (pt.x < sw.x - reach || pt.x > ne.x + reach || pt.y > sw.y + reach || pt.y < ne.y - reach) {
      return false;
    }
    if (f.type === 'MultiPoint') {
      return f.latlngs.some(function (ll) {
        return self.map.latLngToLayerPoint(ll).distanceTo(pt) <= reach;
      });
    }
    return f.latlngs.some(function (line) { return self.pixelDistance(pt, line) <= reach; });
  };

  /* Every feature at a place, of every plan with a layer on, grouped by plan and by layer
   * (topmost layer first). Features of layers that are switched off are listed too, marked,
   * so the answer never depends on what happens to be drawn. */
  ZoningMap.prototype.featuresAt = function (latlng) {
    var self = this, pt = this.map.latLngToLayerPoint(latlng), out = [];
    this.data.plans.forEach(function (plan) {
      var shown = plan.layers.some(function (spec) {
        return self.map.hasLayer(self.layers[spec.key].group);
      });
      if (!shown) { return; }
      var layers = [];
      plan.layers.slice().sort(function (a, b) {
        return (b.group - a.group) || (b.z - a.z);
      }).forEach(function (spec) {
        var e = self.layers[spec.key];
        var hits = e.features.filter(function (f) { return self.hitTest(f, latlng, pt); });
        if (hits.length) {
          layers.push({ spec: spec, visible: self.map.hasLayer(e.group), features: hits });
        }
      });
      if (layers.length) { out.push({ plan: plan, layers: layers }); }
    });
    return out;
  };

  ZoningMap.prototype.whatsHereHtml = function (latlng, found) {
    var self = this, count = 0;
    found.forEach(function (g) { g.layers.forEach(function (l) { count += l.features.length; }); });
    var html = '<div class="zoning-here" data-lat="' + esc(latlng.lat.toFixed(5)) + '" data-lng="' +
      esc(latlng.lng.toFixed(5)) + '"><div class="zh-head">' + this.uiHtml('whats_here') +
      ' <small>' + esc(latlng.lat.toFixed(4)) + ', ' + esc(latlng.lng.toFixed(4)) + ' · ' +
      esc(count) + '</small></div>';
    if (!count) {
      html += '<div class="zh-none">' + this.uiHtml('nothing_here') + '</div>';
    }
    found.forEach(function (g) {
      var plan = g.plan, lang = plan.language;
      html += '<section class="zh-plan" data-plan="' + esc(plan.id) + '"><div class="zh-plan-title">' +
        self.both(plan.title, plan.title_en, lang) + '</div>';
      g.layers.forEach(function (l) {
        html += '<div class="zh-layer' + (l.visible ? '' : ' zh-hidden') + '" data-layer="' +
          esc(l.spec.key) + '"><div class="zh-layer-title">' +
          self.swatch(l.features[0].props.zone_class, l.spec.geometry_type) + ' ' +
          self.both(l.spec.title, l.spec.title_en, lang) +
          (l.visible ? '' : ' <small class="zh-off">(' + self.uiHtml('layer_off') + ')</small>') +
          '</div>';
        l.features.forEach(function (f) { html += self.featureHtml(plan, l.spec, f.props, true); });
        html += '</div>';
      });
      html += '</section>';
    });
    return html + '</div>';
  };

  ZoningMap.prototype.include = function (found, feature) {
    var e = this.layers[feature.key], plan = e.plan;
    var g = found.filter(function (x) { return x.plan === plan; })[0];
    if (!g) { g = { plan: plan, layers: [] }; found.push(g); }
    var l = g.layers.filter(function (x) { return x.spec === e.spec; })[0];
    if (!l) {
      l = { spec: e.spec, visible: this.map.hasLayer(e.group), features: [] };
      g.layers.push(l);
      g.layers.sort(function (a, b) { return (b.spec.group - a.spec.group) || (b.spec.z - a.spec.z); });
    }
    if (l.features.indexOf(feature) < 0) { l.features.push(feature); }
  };

  /* Open the "what's here" list at a place. */
  ZoningMap.prototype.whatsHere = function (latlng, clicked) {
    var found = this.featuresAt(latlng);
    // The feature clicked is listed even where the pointer is at the rim of its symbol.
    if (clicked) { this.include(found, clicked); }
    this.hereLatLng = latlng;
    L.popup(L.extend({}, this.popupOptions, { maxWidth: 420, minWidth: 300 }))
      .setLatLng(latlng).setContent(this.whatsHereHtml(latlng, found)).openOn(this.map);
    return found;
  };

  ZoningMap.prototype.badgeLabel = function (badge, lang) {
    var b = this.data.badges[badge];
    if (!b) { return esc(badge); }
    var en = b.label.en, local = b.label[lang];
    if (!local || local === en || lang === 'en') { return esc(en); }
    return '<span class="zu-en">' + esc(en) + '</span><span class="zu-local"' +
      this.langAttrs(lang) + '>' + esc(local) + '</span>';
  };

  /* --- controls ----------------------------------------------------------------------- */

  ZoningMap.prototype.panel = function (position, cls, titleKey) {
    var control = L.control({ position: position });
    var div = L.DomUtil.create('div', 'leaflet-control zoning-panel ' + cls);
    var self = this;
    control.onAdd = function () { return div; };
    control.addTo(this.map);
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    var head = L.DomUtil.create('div', 'zoning-panel-head', div);
    head.innerHTML = '<span class="zoning-panel-title">' + this.uiHtml(titleKey) + '</span>';
    var toggle = L.DomUtil.create('button', 'zoning-collapse', head);
    toggle.type = 'button';
    toggle.setAttribute('aria-expanded', 'true');
    toggle.title = this.ui('collapse', 'en');
    toggle.textContent = '−';
    var body = L.DomUtil.create('div', 'zoning-panel-body', div);
    toggle.addEventListener('click', function () {
      var open = div.classList.toggle('zoning-collapsed');
      toggle.textContent = open ? '+' : '−';
      toggle.setAttribute('aria-expanded', open ? 'false' : 'true');
      toggle.title = self.ui(open ? 'expand' : 'collapse', 'en');
      self.padding();
    });
    return body;
  };

  ZoningMap.prototype.addLayerControl = function () {
    var self = this;
    var body = this.panel('topright', 'zoning-layers', 'layers');
    var html = '<fieldset class="zoning-bases"><legend>' + this.uiHtml('base_map') + '</legend>';
    this.data.bases.forEach(function (b) {
      var local = b.label[self.primary] || b.label.en;
      var text = local === b.label.en ? esc(b.label.en) : '<span class="zu-en">' +
        esc(b.label.en) + '</span><span class="zu-local"' +
        self.langAttrs(self.primary) + '>' + esc(local) + '</span>';
      html += '<label><input type="radio" name="zoning-base" value="' + esc(b.id) + '"' +
        (b.id === self.base ? ' checked' : '') + '> ' + text + '</label>';
    });
    html += '</fieldset>';
    var multi = this.data.plans.length > 1;
    this.data.plans.forEach(function (plan, i) {
      var lang = plan.language;
      html += '<details class="zoning-plan" data-plan="' + esc(plan.id) + '"' +
        (!multi || i === 0 ? ' open' : '') + '><summary><span class="zoning-plan-title">' +
        self.stacked(plan.title, plan.title_en, lang) + '</span> <button type="button" ' +
        'class="zoning-zoom" data-plan="' + esc(plan.id) + '" title="' +
        esc(self.ui('zoom_to_plan', 'en')) + '">⤢</button></summary>';
      plan.themes.forEach(function (theme) {
        var tl = self.themeLabel(theme.theme);
        html += '<div class="zoning-theme" data-theme="' + esc(theme.theme) + '"><label ' +
          'class="zoning-theme-toggle"><input type="checkbox" data-plan="' + esc(plan.id) +
          '" data-theme="' + esc(theme.theme) + '"> ' +
          self.stacked(tl.label[lang], tl.label.en, lang) + '</label>';
        theme.layers.forEach(function (key) {
          var e = self.layers[key], spec = e.spec;
          var first = spec.features.length ? spec.features[0].p.zone_class : spec.classes[0];
          html += '<label class="zoning-layer-toggle"><input type="checkbox" data-layer="' +
            esc(key) + '"' + (spec.visible ? ' checked' : '') +
            (spec.features.length ? '' : ' disabled') + '> ' +
            self.swatch(first, spec.geometry_type) + ' ' +
            self.stacked(spec.title, spec.title_en, lang) + ' <small>(' + spec.features.length +
            ')</small></label>';
        });
        html += '</div>';
      });
      html += '</details>';
    });
    body.innerHTML = html;
    this.layerPanel = body;
    body.addEventListener('change', function (ev) {
      var t = ev.target;
      if (t.name === 'zoning-base') { self.setBase(t.value); return; }
      if (t.hasAttribute('data-layer')) {
        self.showLayer(t.getAttribute('data-layer'), t.checked);
      } else if (t.hasAttribute('data-theme')) {
        var box = t.closest('.zoning-theme');
        box.querySelectorAll('input[data-layer]').forEach(function (input) {
          if (input.disabled) { return; }
          input.checked = t.checked;
          self.showLayer(input.getAttribute('data-layer'), t.checked);
        });
      }
      self.syncThemes();
      self.updateLegend();
    });
    body.addEventListener('click', function (ev) {
      var b = ev.target.closest('button.zoning-zoom');
      if (!b) { return; }
      ev.preventDefault();
      b.closest('details').open = true;
      self.fitPlan(b.getAttribute('data-plan'));
    });
    // One plan open at a time keeps the tree of a many-plan map short.
    var plans = body.querySelectorAll('details.zoning-plan');
    plans.forEach(function (d) {
      d.addEventListener('toggle', function () {
        if (!d.open) { return; }
        plans.forEach(function (other) { if (other !== d) { other.open = false; } });
      });
    });
    this.syncThemes();
  };

  ZoningMap.prototype.syncThemes = function () {
    this.layerPanel.querySelectorAll('.zoning-theme').forEach(function (box) {
      var inputs = Array.prototype.slice.call(box.querySelectorAll('input[data-layer]:not([disabled])'));
      var on = inputs.filter(function (i) { return i.checked; }).length;
      var toggle = box.querySelector('input[data-theme]');
      toggle.checked = inputs.length > 0 && on === inputs.length;
      toggle.indeterminate = on > 0 && on < inputs.length;
    });
  };

  ZoningMap.prototype.showLayer = function (key, on) {
    var e = this.layers[key];
    if (!e) { return; }
    if (on) { this.map.addLayer(e.group); } else { this.map.removeLayer(e.group); }
    var input = this.layerPanel &&
      this.layerPanel.querySelector('input[data-layer="' + CSS.escape(key) + '"]');
    if (input) { input.checked = on; }
  };

  /* A theme without labels in styles/themes.csv shows its code, made readable. */
  ZoningMap.prototype.themeLabel = function (theme) {
    var name = String(theme || 'other').replace(/_/g, ' ');
    return this.data.themes[theme] || { label: { en: name.charAt(0).toUpperCase() + name.slice(1) } };
  };

  ZoningMap.prototype.addLegend = function () {
    this.legendBody = this.panel('topleft', 'zoning-legend', 'legend');
  };

  /* The legend explains what is on screen: classes of the shown layers within the view. */
  ZoningMap.prototype.updateLegend = function () {
    var self = this, seen = {}, groups = {}, languages = {};
    var view = this.map.getBounds();
    Object.keys(this.layers).forEach(function (key) {
      var e = self.layers[key];
      if (!self.map.hasLayer(e.group)) { return; }
      var inView = {};
      e.features.forEach(function (f) {
        var b = f.layer.getBounds ? f.layer.getBounds() : L.latLngBounds([f.layer.getLatLng()]);
        if (b.isValid() && view.intersects(b)) { inView[f.props.zone_class] = true; }
      });
      if (Object.keys(inView).length) { languages[e.plan.language] = true; }
      e.spec.classes.forEach(function (code) {
        if (!inView[code]) { return; }
        var id = code + '|' + e.spec.geometry_type;
        if (seen[id]) { return; }
        seen[id] = true;
        var s = self.classStyle(code);
        (groups[s.theme] = groups[s.theme] || []).push({ code: code, z: s.z, g: e.spec.geometry_type });
      });
    });
    var langs = Object.keys(languages);
    var themes = Object.keys(groups).sort(function (a, b) {
      var za = Math.max.apply(null, groups[a].map(function (x) { return x.z; }));
      var zb = Math.max.apply(null, groups[b].map(function (x) { return x.z; }));
      return zb - za;
    });
    var html = '';
    themes.forEach(function (theme) {
      var tl = self.themeLabel(theme);
      html += '<div class="zoning-legend-theme"><div class="zoning-legend-h">' +
        self.labels(tl.label, langs) + '</div>';
      groups[theme].sort(function (a, b) { return b.z - a.z; }).forEach(function (item) {
        var s = self.classStyle(item.code);
        html += '<div class="zoning-legend-item" data-class="' + esc(item.code) + '">' +
          self.swatch(item.code, item.g) + '<span class="zoning-legend-label">' +
          self.labels(s.label, langs) + '</span></div>';
      });
      html += '</div>';
    });
    html += '<div class="zoning-legend-theme"><div class="zoning-legend-h">' +
      this.uiHtml('geometry_basis') + '</div><div class="zoning-legend-badges">';
    Object.keys(this.data.badges).forEach(function (b) {
      html += '<span class="zoning-badge zoning-badge-' + esc(b) + '" title="' +
        esc(self.data.badges[b].description) + '">' + self.badgeLabel(b, self.primary) + '</span> ';
    });
    html += '</div></div>';
    this.legendBody.innerHTML = html;
    this.fitLegend();
    this.padding();
  };

  /* The legend scrolls rather than reach down over the scale bar. */
  ZoningMap.prototype.fitLegend = function () {
    var scale = this.container.querySelector('.leaflet-control-scale');
    if (!scale || !this.legendBody) { return; }
    var top = this.legendBody.getBoundingClientRect().top;
    var limit = scale.getBoundingClientRect().top - top - 16;
    this.legendBody.style.maxHeight = Math.max(limit, 60) + 'px';
  };

  /* A label in English and in each plan language of the map. */
  ZoningMap.prototype.labels = function (label, langs) {
    var self = this, out = '<span class="zl-en">' + esc(label.en) + '</span>';
    var locals = langs.filter(function (l) { return label[l] && label[l] !== label.en; });
    locals.forEach(function (l) {
      out += '<span class="zl-sep"> · </span><span class="zl-local"' +
        self.langAttrs(l) + '>' + esc(label[l]) + '</span>';
    });
    return out;
  };

  ZoningMap.prototype.addSearch = function () {
    var self = this;
    var control = L.control({ position: 'topleft' });
    var div = L.DomUtil.create('div', 'leaflet-control zoning-search');
    control.onAdd = function () { return div; };
    control.addTo(this.map);
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    var input = L.DomUtil.create('input', 'zoning-search-input', div);
    input.type = 'search';
    input.placeholder = this.ui('search', 'en') +
      (this.primary !== 'en' ? ' · ' + this.ui('search', this.primary) : '');
    input.setAttribute('aria-label', this.ui('search', 'en'));
    this.fitPlaceholder(input);
    var list = L.DomUtil.create('ul', 'zoning-search-results', div);
    var hits = [];
    function render() {
      var q = normalise(input.value.trim());
      list.innerHTML = '';
      hits = [];
      if (!q) { return; }
      hits = self.index.filter(function (e) { return e.key.indexOf(q) >= 0; });
      hits.sort(function (a, b) {
        return (a.key.indexOf(q) === 0 ? 0 : 1) - (b.key.indexOf(q) === 0 ? 0 : 1) ||
          (b.entry.spec.z - a.entry.spec.z);
      });
      hits = hits.slice(0, 12);
      if (!hits.length) {
        list.innerHTML = '<li class="zoning-search-none">' + self.uiHtml('no_match') + '</li>';
        return;
      }
      hits.forEach(function (h, i) {
        var li = L.DomUtil.create('li', '', list);
        li.innerHTML = '<button type="button" data-i="' + i + '">' +
          self.both(h.props.name, h.props.name_en, h.plan.language) + ' <small>' +
          esc(h.entry.spec.title_en) + '</small></button>';
      });
    }
    input.addEventListener('input', render);
    input.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' && hits.length) { self.select(hits[0]); }
    });
    list.addEventListener('click', function (ev) {
      var b = ev.target.closest('button[data-i]');
      if (b) { self.select(hits[Number(b.getAttribute('data-i'))]); }
    });
  };

  /* Widen the search box to its placeholder (English and the plan language), so no language
   * is cut; within what the screen allows. */
  ZoningMap.prototype.fitPlaceholder = function (input) {
    var style = getComputedStyle(input);
    var ctx = document.createElement('canvas').getContext('2d');
    ctx.font = style.fontSize + ' ' + style.fontFamily;
    var padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    // room for the browser's clear-search button and for shaping differences between fonts
    var need = Math.ceil(ctx.measureText(input.placeholder).width * 1.08 + padding + 24);
    var limit = Math.max(150, this.container.clientWidth - 90);
    input.style.width = Math.min(Math.max(need, parseFloat(style.width) || 0), limit) + 'px';
  };

  ZoningMap.prototype.select = function (hit) {
    this.showLayer(hit.entry.spec.key, true);
    this.syncThemes();
    this.updateLegend();
    var layer = hit.layer;
    // A multi-point feature is a group of markers sharing one popup: open it on the first.
    var point = layer.getLatLng ? layer.getLatLng() :
      (layer.getLayers ? layer.getLayers()[0].getLatLng() : null);
    if (point && !layer.getLayers) {
      this.map.setView(point, Math.max(this.map.getZoom(), 10));
    } else {
      this.map.fitBounds(layer.getBounds(), L.extend({ maxZoom: 12 }, this.padding()));
    }
    L.popup(this.popupOptions).setLatLng(point || layer.getBounds().getCenter())
      .setContent(this.popup(hit.plan, hit.entry.spec, hit.props)).openOn(this.map);
  };

  ZoningMap.prototype.addLanguageSwitch = function () {
    var self = this, langs = {};
    this.data.plans.forEach(function (p) { langs[p.language] = true; });
    var localName = Object.keys(langs).length === 1 ? this.ui('language_name', this.primary) :
      this.ui('original', 'en');
    var control = L.control({ position: 'topleft' });
    var div = L.DomUtil.create('div', 'leaflet-control leaflet-bar zoning-lang');
    control.onAdd = function () { return div; };
    control.addTo(this.map);
    L.DomEvent.disableClickPropagation(div);
    var options = [['both', this.ui('language_name', 'en') + ' + ' + localName], ['en', 'English'],
      ['local', localName]];
    this.langButtons = options.map(function (o) {
      var b = L.DomUtil.create('button', 'zoning-lang-button', div);
      b.type = 'button';
      b.setAttribute('data-lang', o[0]);
      b.textContent = o[1];
      b.addEventListener('click', function () { self.setLanguage(o[0]); });
      return b;
    });
    this.setLanguage(this.language);
  };

  /* Padding that keeps fitted bounds clear of the side panels. */
  ZoningMap.prototype.padding = function () {
    var left = 10, right = 10, width = this.container.clientWidth;
    this.container.querySelectorAll('.leaflet-left .zoning-panel').forEach(function (p) {
      left = Math.max(left, p.offsetWidth + 20);
    });
    this.container.querySelectorAll('.leaflet-right .zoning-panel').forEach(function (p) {
      right = Math.max(right, p.offsetWidth + 20);
    });
    if (left + right > width * 0.7) { left = right = 10; }
    this.popupOptions.autoPanPaddingTopLeft[0] = left;
    this.popupOptions.autoPanPaddingBottomRight[0] = right;
    return { paddingTopLeft: [left, 10], paddingBottomRight: [right, 10] };
  };

  ZoningMap.prototype.fitPlan = function (id, options) {
    var plan = this.data.plans.filter(function (p) { return p.id === id; })[0];
    if (plan) { this.map.fitBounds(plan.bounds, L.extend(this.padding(), options || {})); }
  };

  ZoningMap.prototype.fitAll = function (options) {
    var b = null;
    this.data.plans.forEach(function (p) {
      var pb = L.latLngBounds(p.bounds);
      b = b ? b.extend(pb) : pb;
    });
    if (b) { this.map.fitBounds(b, L.extend(this.padding(), options || {})); }
  };

  window.zoningMap = function (map, data) {
    var z = new ZoningMap(map, data);
    map.zoning = z;
    (window.zoningMaps = window.zoningMaps || []).push(z);
    return z;
  };
})();
