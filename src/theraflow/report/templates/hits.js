// The hit grids of the screening report: DataTables (the itables offline bundle, unpacked here) over the
// rows embedded as JSON; structures are SVG drawn when the report was written (gzip + base64, unpacked
// here; the first rows of each grid are also in the page as a plain table). Search box, sorting by
// any column, an "inside the applicability domain only" filter and a CSV download of the rows that pass.
(function () {
  "use strict";
  function unpack(id) {
    const bin = atob(document.getElementById(id).textContent.trim());
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }
  async function loadDataTables() {
    const style = document.createElement("style");
    style.textContent = await unpack("dt-css");
    document.head.appendChild(style);
    const url = URL.createObjectURL(new Blob([await unpack("dt-js")], { type: "text/javascript" }));
    try {
      return (await import(url)).default;
    } finally {
      URL.revokeObjectURL(url);
    }
  }
  const num = (digits) => (d, type) => (type === "display" && d !== null ? Number(d).toFixed(digits) : d);
  async function main() {
    const grids = document.querySelectorAll("table.hits-grid[data-hits]");
    if (!grids.length) return;
    if (typeof DecompressionStream === "undefined") {
      grids.forEach((t) => t.insertAdjacentHTML("beforebegin", "<p class='warn'>This browser cannot unpack the " +
        "interactive grid (it needs DecompressionStream): the first rows are shown; all of them are in the " +
        "files named above.</p>"));
      return;
    }
    const DataTable = await loadDataTables();
    const structures = JSON.parse(await unpack("hit-structures"));  // id -> SVG markup
    grids.forEach((table) => {
      const hits = JSON.parse(document.getElementById(table.dataset.hits).textContent);
      const c = hits.columns;  // name -> index in each row
      const onlyInside = document.getElementById(table.dataset.domainFilter);
      table.querySelector("tbody").replaceChildren();  // the static first rows give way to the grid
      const columns = [
        { data: c.rank, title: "rank", className: "num" },
        { data: c.structure, title: "structure", orderable: false, searchable: false, className: "mol no-export",
          render: (d, type) => (type === "display" ? structures[d] || "" : "") },
        { data: c.id, title: "id", render: DataTable.render.text() },
      ];
      if (c.class !== undefined) columns.push({ data: c.class, title: "class", render: DataTable.render.text() });
      columns.push({ data: c.score, title: hits.score_title, className: "num", render: num(2),
        orderSequence: ["desc", "asc"] });  // best first
      if (c.sd !== undefined) columns.push({ data: c.sd, title: "±", className: "num", searchable: false, render: num(2) });
      if (c.low !== undefined) {
        columns.push({ data: null, title: hits.interval_title, orderable: false, searchable: false,
          className: "num no-export", render: (row) => row[c.low].toFixed(2) + " – " + row[c.high].toFixed(2) });
        columns.push({ data: c.low, title: hits.interval_title + " low", visible: false, searchable: false });
        columns.push({ data: c.high, title: hits.interval_title + " high", visible: false, searchable: false });
      }
      columns.push({ data: c.similarity, title: "domain", className: "num", searchable: false,
        render: (d, type, row) => (type === "display" ? d.toFixed(2) + (row[c.inside] ? "" : " ⚠ outside") : d) });
      columns.push({ data: c.inside, title: "in domain", visible: false, searchable: false,
        render: (d) => (d ? "yes" : "no") });
      columns.push({ data: c.smiles, title: "SMILES", className: "smiles", render: DataTable.render.text() });
      columns.push({ data: null, title: "target", visible: false, searchable: false, render: () => hits.target });
      const dt = new DataTable(table, {
        data: hits.rows, columns: columns, deferRender: true, autoWidth: false, pageLength: 10,
        lengthMenu: [10, 25, 50, 100], order: [[0, "asc"]],
        createdRow: (tr, row) => { if (!row[c.inside]) tr.classList.add("flag"); },
        layout: { topStart: ["pageLength", "buttons"], topEnd: "search", bottomStart: "info", bottomEnd: "paging" },
        language: { search: "Filter:", info: "hits _START_ to _END_ of _TOTAL_" },
        buttons: [{ extend: "csvHtml5", text: "Download CSV", filename: hits.csv_name, title: null,
          exportOptions: { columns: ":not(.no-export)", orthogonal: "export" } }],
      });
      if (onlyInside) {
        DataTable.ext.search.push((settings, data, index, row) =>
          settings.nTable !== table || !onlyInside.checked || row[c.inside]);
        onlyInside.addEventListener("change", () => dt.draw());
      }
      table.dataset.ready = "1";
    });
    document.body.dataset.hitsReady = "1";
  }
  main().catch((e) => {
    console.error("hit grid:", e);
    document.body.dataset.hitsReady = "error";
  });
})();
