// Typesets TeX as MathJax's CommonHTML, the way MathJax does it in a reader's browser, for pages
// that then load no math script. Run by d2lext/site/math.py:
//   node typeset.js <mathjax folder> '<the TeX input's options, JSON>'
// Reads one JSON request a line: {"formulas": [[tex, display], ...]} and answers one
// JSON line: {"html": [markup, ...], "css": "the stylesheet those formulas need", "errors": [...]}.
const readline = require("readline");

const folder = process.argv[2];
const tex = JSON.parse(process.argv[3] || "{}");
global.MathJax = {
  loader: {
    paths: { mathjax: folder },
    load: ["input/tex", "output/chtml", "adaptors/liteDOM", "a11y/assistive-mml"],
    require: require,
    failed: (error) => {
      process.stderr.write(`MathJax cannot load ${error.package}: ${error.message}\n`);
      process.exit(1);
    },
  },
  tex: tex,
  chtml: { fontURL: "@FONTS@" },
  startup: { typeset: false },
};
require(folder + "/startup.js");

// One page: its formulas in order (an extension TeX loads on first use, \boldsymbol's, makes
// MathJax retry: the promise form waits for it), then the stylesheet they need.
async function typeset(request) {
  const adaptor = MathJax.startup.adaptor;
  MathJax.startup.output.clearCache(); // each page gets the stylesheet of its own formulas
  const errors = [];
  const html = [];
  for (const [tex, display] of request.formulas) {
    const node = await MathJax.tex2chtmlPromise(tex, { display });
    adaptor.setAttribute(node, "data-tex", tex); // what copying the formula gives (d2l.js)
    const error = adaptor.tags(node, "mjx-merror")[0];
    if (error) errors.push([tex, adaptor.getAttribute(error, "data-mjx-error") || adaptor.textContent(error)]);
    html.push(adaptor.outerHTML(node));
  }
  // In a browser, MathJax scales each formula so that its x-height is the surrounding text's
  // (the ex it measures, over its font's x-height); CSS's ex is that measure, so the same
  // scale needs no script, and follows the reader's own font.
  const xHeight = MathJax.startup.output.font.params.x_height;
  // MathJax sets that scale as a percentage with one decimal: rounded the same, where CSS can.
  const size = `calc(1ex / ${xHeight})`;
  const scale = `\nmjx-container[jax="CHTML"] {\n  font-size: ${size};\n  font-size: round(${size}, 0.001em);\n}\n`;
  const css = adaptor.textContent(MathJax.chtmlStylesheet()) + scale;
  return { html, css, errors };
}

MathJax.startup.promise
  .then(() => {
    const lines = readline.createInterface({ input: process.stdin, terminal: false });
    let queue = Promise.resolve(); // one page at a time, answered in order
    lines.on("line", (line) => {
      queue = queue
        .then(() => typeset(JSON.parse(line)))
        .then((answer) => process.stdout.write(JSON.stringify(answer) + "\n"))
        .catch((error) => process.stdout.write(JSON.stringify({ error: String((error && error.message) || error) }) + "\n"));
    });
  })
  .catch((error) => {
    process.stderr.write(String(error && error.message) + "\n");
    process.exit(1);
  });
