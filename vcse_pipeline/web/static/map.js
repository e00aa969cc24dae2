// The Wards page's map, as an enhancement: without JavaScript the page shows the server's SVG drawing of the
// same points. Leaflet draws the points as vectors, so they stay when the tile server cannot be reached (the
// tiles simply do not appear); with no tile server configured there are no tiles at all.
(function () {
  var element = document.getElementById('map');
  if (!element || typeof L === 'undefined') { return; }
  var points = JSON.parse(element.getAttribute('data-points') || '[]');
  if (!points.length) { return; }
  element.innerHTML = '';
  element.setAttribute('role', 'region');
  element.setAttribute('aria-label', 'Map of providers (the list below names them)');
  var map = L.map(element, { scrollWheelZoom: false });
  var tiles = element.getAttribute('data-tile-url');
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 18, attribution: element.getAttribute('data-tile-attribution') || '' }).addTo(map);
  }
  var markers = points.map(function (p) {
    var link = document.createElement('a');
    link.href = p.href;
    link.textContent = p.name;
    link.className = 'govuk-link';
    return L.circleMarker([p.lat, p.long], { radius: 8, color: '#ffffff', weight: 2, fillColor: '#1d70b8', fillOpacity: 1 })
      .bindPopup(link).bindTooltip(p.name);
  });
  var group = L.featureGroup(markers).addTo(map);
  map.fitBounds(group.getBounds(), { padding: [24, 24], maxZoom: 16 });
  element.classList.add('app-map--ready');
}());
