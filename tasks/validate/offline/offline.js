/* Offline stand-in for the scripts Great Expectations Data Docs load from CDNs.
 *
 * Written for Hotspot Miner; no third-party code. The pages' inline scripts call a small
 * part of a jQuery-like API: $(selector | element | document | fn), .bootstrapTable(options),
 * .on, .ready, .prepend, .parent, .each, .fadeIn/.fadeOut, .addClass/.removeClass, .data,
 * .modal, and vegaEmbed(selector, spec). This file implements just that: tables are drawn
 * as plain HTML tables (sortable by clicking a header, with a search box), tabs and
 * collapsible blocks work on click, and charts are replaced by a note. Any other method
 * is accepted and does nothing, so an unexpected call never stops the page.
 */
(function () {
  "use strict";

  var readyQueue = [];
  var handlers = new WeakMap(); // element -> {eventName: [fn]}

  function onReady(fn) {
    if (document.readyState === "loading") readyQueue.push(fn);
    else setTimeout(fn, 0);
  }
  document.addEventListener("DOMContentLoaded", function () {
    readyQueue.splice(0).forEach(function (fn) { fn(); });
  });

  function select(target) {
    if (target === undefined || target === null) return [];
    if (target === document || target === window || target.nodeType) return [target];
    if (target instanceof Wrapper) return target.items.slice();
    if (typeof target === "string") {
      var text = target.trim();
      if (text.charAt(0) === "<") { // an HTML fragment
        var holder = document.createElement("tbody");
        holder.innerHTML = text;
        return Array.prototype.slice.call(holder.childNodes);
      }
      try { return Array.prototype.slice.call(document.querySelectorAll(text)); }
      catch (err) { return []; }
    }
    return [];
  }

  function Wrapper(items) { this.items = items; this.length = items.length; }

  Wrapper.prototype.each = function (fn) {
    this.items.forEach(function (el, i) { fn.call(el, i, el); });
    return this;
  };
  Wrapper.prototype.ready = function (fn) { onReady(fn); return this; };
  Wrapper.prototype.parent = function () {
    return wrap(this.items.map(function (el) { return el.parentElement; }).filter(Boolean));
  };
  Wrapper.prototype.fadeIn = function () {
    return this.each(function (i, el) { el.style.display = ""; });
  };
  Wrapper.prototype.fadeOut = function () {
    return this.each(function (i, el) { el.style.display = "none"; });
  };
  Wrapper.prototype.show = Wrapper.prototype.fadeIn;
  Wrapper.prototype.hide = Wrapper.prototype.fadeOut;
  Wrapper.prototype.addClass = function (names) {
    return this.each(function (i, el) { names.split(/\s+/).filter(Boolean).forEach(function (n) { el.classList.add(n); }); });
  };
  Wrapper.prototype.removeClass = function (names) {
    return this.each(function (i, el) { names.split(/\s+/).filter(Boolean).forEach(function (n) { el.classList.remove(n); }); });
  };
  Wrapper.prototype.data = function (key) {
    var el = this.items[0];
    return el && el.getAttribute ? el.getAttribute("data-" + key) : undefined;
  };
  Wrapper.prototype.prepend = function (html) {
    return this.each(function (i, el) {
      if (typeof html === "string") el.insertAdjacentHTML("afterbegin", html);
      else if (html && html.nodeType) el.insertBefore(html, el.firstChild);
    });
  };
  Wrapper.prototype.on = function (eventName, fn) {
    return this.each(function (i, el) {
      var map = handlers.get(el) || {};
      (map[eventName] = map[eventName] || []).push(fn);
      handlers.set(el, map);
      if (eventName.indexOf(".") < 0 && el.addEventListener) el.addEventListener(eventName, fn);
    });
  };
  Wrapper.prototype.trigger = function (eventName, args) {
    return this.each(function (i, el) {
      var map = handlers.get(el) || {};
      (map[eventName] || []).forEach(function (fn) { fn.apply(el, [{ type: eventName, target: el }].concat(args || [])); });
    });
  };
  Wrapper.prototype.bootstrapTable = function (options) {
    return this.each(function (i, el) {
      if (typeof options === "string") { // a command such as 'resetSearch' or 'clearFilterControl'
        if (el.offlineTable && /search|filter/i.test(options)) el.offlineTable.clearSearch();
        return;
      }
      el.offlineTable = new PlainTable(el, options || {});
    });
  };

  // Every method not defined above is accepted and ignored (returns the same wrapper).
  function wrap(items) { return proxyOf(new Wrapper(items)); }
  var proxies = new WeakMap();
  function proxyOf(target) {
    if (!proxies.has(target)) proxies.set(target, wrapRaw(target));
    return proxies.get(target);
  }
  function wrapRaw(target) {
    return new Proxy(target, {
      get: function (t, name) {
        if (name in t) { var v = t[name]; return typeof v === "function" ? v.bind(proxyOf(t)) : v; }
        if (typeof name === "symbol") return undefined;
        return function () { return proxyOf(t); };
      },
    });
  }

  function $(target) {
    if (typeof target === "function") { onReady(target); return proxyOf(new Wrapper([document])); }
    return proxyOf(new Wrapper(select(target)));
  }
  $.fn = Wrapper.prototype;
  window.$ = window.jQuery = $;

  // -- tables ---------------------------------------------------------------------
  function callNamed(name, args, fallback) {
    var fn = typeof name === "function" ? name : window[name];
    return typeof fn === "function" ? fn.apply(null, args) : fallback;
  }

  function sortValue(value) {
    if (typeof value === "number") return value;
    var holder = document.createElement("div");
    holder.innerHTML = value === null || value === undefined ? "" : String(value);
    var text = holder.textContent.trim();
    var number = Number(text);
    return text !== "" && !isNaN(number) ? number : text.toLowerCase();
  }

  function PlainTable(table, options) {
    this.table = table;
    this.columns = (options.columns || []).filter(function (c) { return c.visible !== false && c.visible !== "false"; });
    this.rows = (options.data || []).slice();
    this.options = options;
    this.sortKey = null;
    this.sortDesc = false;
    this.query = "";
    table.classList.add("offline-table");
    if (options.search === true || options.search === "true") this.addSearch(options.toolbar);
    var start = this.columns.filter(function (c) { return c.field === options.sortName; })[0];
    if (start) this.setSort(start, options.sortOrder === "desc");
    this.render();
  }

  PlainTable.prototype.addSearch = function (toolbar) {
    var self = this;
    var place = toolbar ? document.querySelector(toolbar) : null;
    var input = document.createElement("input");
    input.type = "search";
    input.placeholder = "Search";
    input.className = "offline-search";
    input.addEventListener("input", function () { self.query = input.value.trim().toLowerCase(); self.render(); });
    if (place) place.appendChild(input);
    else this.table.parentNode.insertBefore(input, this.table);
    this.search = input;
  };

  PlainTable.prototype.clearSearch = function () {
    if (this.search) this.search.value = "";
    this.query = "";
    this.render();
  };

  PlainTable.prototype.setSort = function (column, desc) {
    this.sortKey = column.sortName || column.field;
    this.sortDesc = desc;
    this.sortField = column.field;
  };

  PlainTable.prototype.render = function () {
    var self = this;
    var table = this.table;
    var keep = table.querySelector("thead > tr.offline-title");
    table.innerHTML = "";
    var thead = document.createElement("thead");
    if (keep) thead.appendChild(keep);
    var head = document.createElement("tr");
    this.columns.forEach(function (column) {
      var th = document.createElement("th");
      th.innerHTML = column.title === undefined ? column.field : column.title;
      if (column.align) th.style.textAlign = column.align;
      if (column.sortable === true || column.sortable === "true") {
        th.className = "offline-sortable" + (self.sortField === column.field ? (self.sortDesc ? " offline-desc" : " offline-asc") : "");
        th.addEventListener("click", function () {
          self.setSort(column, self.sortField === column.field ? !self.sortDesc : false);
          self.render();
        });
      }
      head.appendChild(th);
    });
    thead.appendChild(head);
    table.appendChild(thead);

    var rows = this.rows.slice();
    if (this.sortKey) {
      var key = this.sortKey, sign = this.sortDesc ? -1 : 1;
      rows.sort(function (a, b) {
        var x = sortValue(a[key]), y = sortValue(b[key]);
        if (typeof x !== typeof y) { x = String(x); y = String(y); }
        return x < y ? -sign : x > y ? sign : 0;
      });
    }
    var tbody = document.createElement("tbody");
    rows.forEach(function (row, index) {
      var tr = document.createElement("tr");
      var attrs = callNamed(self.options.rowAttributes, [row, index], {}) || {};
      Object.keys(attrs).forEach(function (name) { tr.setAttribute(name, attrs[name]); });
      var style = callNamed(self.options.rowStyle, [row, index], {}) || {};
      if (style.css) Object.keys(style.css).forEach(function (name) { tr.style[name] = style.css[name]; });
      if (style.classes) tr.className += " " + style.classes;
      self.columns.forEach(function (column) {
        var td = document.createElement("td");
        var value = row[column.field];
        td.innerHTML = value === null || value === undefined ? "" : String(value); // HTML written by GX
        if (column.align) td.style.textAlign = column.align;
        tr.appendChild(td);
      });
      if (self.query && tr.textContent.toLowerCase().indexOf(self.query) < 0) return;
      tr.addEventListener("click", function (event) {
        if (event.target.closest && event.target.closest("a")) return; // a link in a cell wins
        var map = handlers.get(table) || {};
        var listeners = map["click-row.bs.table"] || [];
        if (listeners.length) listeners.forEach(function (fn) { fn.call(table, event, row, $(tr)); });
        else if (tr.getAttribute("data-href")) window.location = tr.getAttribute("data-href");
      });
      tbody.appendChild(tr);
    });
    if (!tbody.children.length) {
      var empty = document.createElement("tr");
      empty.innerHTML = '<td class="offline-empty" colspan="' + Math.max(this.columns.length, 1) + '">No matching rows</td>';
      tbody.appendChild(empty);
    }
    table.appendChild(tbody);
  };

  // A title row prepended to "#id > thead" before the table is drawn must survive render().
  var plainPrepend = Wrapper.prototype.prepend;
  Wrapper.prototype.prepend = function (html) {
    var result = plainPrepend.call(this, html);
    this.items.forEach(function (el) {
      if (el.tagName === "THEAD" && el.firstElementChild) el.firstElementChild.classList.add("offline-title");
    });
    return result;
  };

  // -- charts ---------------------------------------------------------------------
  window.vegaEmbed = function (selector) {
    select(selector).forEach(function (el) {
      el.innerHTML = '<p class="offline-note">Chart not shown: these Data Docs are built for offline reading.</p>';
    });
    return Promise.resolve({});
  };

  // -- tabs and collapsible blocks --------------------------------------------------
  function targetOf(link) {
    var ref = link.getAttribute("data-target") || link.getAttribute("href") || "";
    if (ref.charAt(0) !== "#" || ref.length < 2) return null;
    return document.getElementById(ref.slice(1));
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-toggle]") : null;
    if (!link) return;
    var kind = link.getAttribute("data-toggle");
    var target = targetOf(link);
    if (kind === "tab" && target) {
      event.preventDefault();
      var nav = link.closest("ul, nav, .nav") || link.parentNode;
      Array.prototype.forEach.call(nav.querySelectorAll('[data-toggle="tab"]'), function (other) {
        other.classList.remove("active");
        other.setAttribute("aria-selected", "false");
      });
      link.classList.add("active");
      link.setAttribute("aria-selected", "true");
      Array.prototype.forEach.call(target.parentNode.children, function (pane) { pane.classList.remove("active", "show"); });
      target.classList.add("active", "show");
    } else if (kind === "collapse" && target) {
      event.preventDefault();
      target.classList.toggle("show");
    }
  });
})();
