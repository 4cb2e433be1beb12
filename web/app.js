// The page's behaviour: pickers filled from GET /api/v1/toolchains, the source submitted with
// wait, the verdict, the compiler's output and the diagnostics at their lines; or the source
// compiled as a matrix (every standard of the chosen compilers) shown as a table. Everything the
// service answers (compiler output above all) is untrusted text: it is only ever set as
// textContent, never parsed as HTML.
"use strict";

const samples = {
  c: '#include <stdio.h>\n\nint main(void) {\n    printf("hello\\n");\n    return 0;\n}\n',
  cpp: '#include <iostream>\n\nint main() {\n    std::cout << "hello\\n";\n}\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello")\n}\n',
  rust: 'fn main() {\n    println!("hello");\n}\n',
  swift: 'print("hello")\n',
};
const verdicts = {
  completed: ["Compiled", "compiled"],
  failed: ["Did not compile", "failed"],
  timeout: ["Did not compile in time", "failed"],
  error: ["The service failed", "problem"],
};
// A matrix cell's mark and class by its status.
const cellMarks = {
  completed: ["✓", "compiled"],
  failed: ["✗", "failed"],
  timeout: ["✗", "failed"],
  error: ["!", "problem"],
};
// How long the page waits for a verdict, and each long poll's wait (the API's most).
const verdictSeconds = 300;
const pollSeconds = 30;
// Which severity a line shows when it has several.
const rank = { note: 1, warning: 2, error: 3 };

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("request"), language: $("language"), compiler: $("compiler"), standard: $("standard"),
  target: $("target"), flags: $("flags"), submit: $("submit"), source: $("source"), gutter: $("gutter"),
  verdict: $("verdict"), diagnostics: $("diagnostics"), outputBox: $("output-box"), output: $("output"),
  matrix: $("matrix"), matrixScope: $("matrix-scope"), matrixBox: $("matrix-box"), matrixTable: $("matrix-table"),
  matrixSummary: $("matrix-summary"), matrixDetail: $("matrix-detail"),
};
let toolchains = [];

function option(value, label, selected) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = label;
  element.selected = selected;
  return element;
}

function fill(select, options) {
  select.replaceChildren(...options);
  select.disabled = options.length === 0;
}

// A compiler's id names one toolchain per language (clang-16 compiles C and C++).
function chosenToolchain() {
  return toolchains.find((toolchain) => toolchain.language === ui.language.value && toolchain.id === ui.compiler.value);
}

function showCompilers() {
  const language = ui.language.value;
  fill(ui.compiler, toolchains.filter((toolchain) => toolchain.language === language)
    .map((toolchain) => {
      const choice = option(toolchain.id, toolchain.id, toolchain.default);
      choice.title = toolchain.version;
      return choice;
    }));
  showCompilerChoices();
  const current = ui.source.value;
  if (current === "" || Object.values(samples).includes(current)) {
    ui.source.value = samples[language] || "";
    showLineNumbers();
  }
}

function showCompilerChoices() {
  const toolchain = chosenToolchain();
  if (!toolchain) return;
  const ownDefault = toolchain.default_standard;
  fill(ui.standard, [option("", ownDefault ? `default (${ownDefault})` : "default", true)]
    .concat(toolchain.standards.map((standard) => option(standard, standard, false))));
  fill(ui.target, toolchain.targets.map((target) => option(target, target, target === "x86_64/linux")));
  const family = ui.matrixScope.querySelector('option[value="family"]');
  family.disabled = !toolchain.flag_family;
  family.textContent = toolchain.flag_family ? `its family (${toolchain.flag_family})` : "its family";
  if (family.disabled && ui.matrixScope.value === "family") ui.matrixScope.value = "compiler";
}

// One number per line of the source, each a span the diagnostics can mark.
function showLineNumbers() {
  const lines = ui.source.value.split("\n").length;
  const numbers = [];
  for (let line = 1; line <= lines; line++) {
    const number = document.createElement("span");
    number.textContent = String(line);
    number.dataset.line = String(line);
    numbers.push(number);
  }
  ui.gutter.replaceChildren(...numbers);
  ui.gutter.scrollTop = ui.source.scrollTop;
}

function selectLine(line) {
  const lines = ui.source.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0);
  ui.source.focus();
  ui.source.setSelectionRange(start, start + (lines[line - 1] || "").length);
  ui.source.scrollTop = Math.max(0, (line - 3) * 20);
}

function say(text, kind) {
  ui.verdict.textContent = text;
  ui.verdict.className = `verdict ${kind || ""}`;
}

function clearResult() {
  ui.diagnostics.replaceChildren();
  ui.matrixBox.hidden = true;
  ui.matrixTable.replaceChildren();
  ui.matrixSummary.textContent = "";
  ui.matrixDetail.textContent = "";
  ui.output.textContent = "";
  ui.outputBox.open = false;
  ui.outputBox.hidden = true;
  for (const number of ui.gutter.children) {
    number.className = "";
    number.removeAttribute("title");
  }
}

// `main.cpp:3:5`: where a diagnostic is; a message about no file is the compiler's.
function diagnosticPlace(diagnostic, compiler) {
  let place = diagnostic.file || compiler;
  if (diagnostic.file && diagnostic.line) {
    place += `:${diagnostic.line}`;
    if (diagnostic.column) place += `:${diagnostic.column}`;
  }
  return place;
}

// `main.cpp:3:5: error: message [-Wflag]`, as a compiler prints it.
function diagnosticText(diagnostic, compiler) {
  const option = diagnostic.option ? ` [${diagnostic.option}]` : "";
  return `${diagnosticPlace(diagnostic, compiler)}: ${diagnostic.severity}: ${diagnostic.message}${option}`;
}

function diagnosticItem(diagnostic, compiler) {
  const item = document.createElement("li");
  item.className = diagnostic.severity;
  const place = diagnosticPlace(diagnostic, compiler);
  const severity = document.createElement("span");
  severity.className = "severity";
  severity.textContent = `${diagnostic.severity}:`;
  const option = diagnostic.option ? ` [${diagnostic.option}]` : "";
  item.append(`${place}: `, severity, ` ${diagnostic.message}${option}`);
  return item;
}

// The user's source is the diagnostics' one relative file name (a system header's is absolute).
function marksSource(diagnostic) {
  return diagnostic.file && !diagnostic.file.startsWith("/") && diagnostic.line;
}

function markLine(diagnostic) {
  const number = ui.gutter.children[diagnostic.line - 1];
  if (!number) return;
  const shown = number.dataset.severity;
  if (!shown || rank[diagnostic.severity] > rank[shown]) {
    number.dataset.severity = diagnostic.severity;
    number.className = diagnostic.severity;
  }
  const text = `${diagnostic.severity}: ${diagnostic.message}`;
  number.title = number.title ? `${number.title}\n${text}` : text;
}

function showJob(job) {
  const [word, kind] = verdicts[job.status] || [job.status, "problem"];
  const toolchain = [job.compiler, job.language, job.standard, `${job.architecture}/${job.os}`].filter(Boolean).join(" ");
  const details = [toolchain];
  if (job.status === "failed") details.push(`exit code ${job.exit_code}`);
  details.push(`${Math.round((job.duration || 0) / 1e6)} ms${job.cached ? " (from the verdict cache)" : ""}`);
  say(`${word}: ${details.join(", ")}${job.error ? `: ${job.error}` : ""}`, kind);
  for (const number of ui.gutter.children) delete number.dataset.severity;
  for (const diagnostic of job.diagnostics || []) {
    const item = diagnosticItem(diagnostic, job.compiler);
    if (marksSource(diagnostic)) {
      markLine(diagnostic);
      item.addEventListener("click", () => selectLine(diagnostic.line));
    }
    ui.diagnostics.append(item);
  }
  ui.output.textContent = (job.stderr || "") + (job.stdout || "");
  // Output no diagnostic was read from is shown open; otherwise it is one click away.
  ui.outputBox.hidden = ui.output.textContent === "";
  ui.outputBox.open = (job.diagnostics || []).length === 0 && !ui.outputBox.hidden;
}

// The API's error answer: its code, its message and each field's problem.
function showRefusal(status, body) {
  say(body && body.error ? `The service answered ${status} ${body.error}: ${body.message}` : `The service answered ${status}.`, "problem");
  for (const detail of (body && body.details) || []) {
    if (detail.message === body.message) continue;
    const item = document.createElement("li");
    item.className = "error";
    item.textContent = detail.field ? `${detail.field}: ${detail.message}` : detail.message;
    ui.diagnostics.append(item);
  }
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json", Accept: "application/json" } : { Accept: "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  let json = null;
  try { json = await response.json(); } catch (ignored) { /* nginx's or a proxy's page: said by status alone */ }
  return { status: response.status, json };
}

const unfinished = (job) => job && (job.status === "queued" || job.status === "processing");

// Long polls `path` (a job's or a matrix's) from a submission's answer until `done` says it is
// finished or the page's time is up; `progress` says what it is waiting for.
async function pollUntilDone(answer, path, done, progress) {
  const deadline = Date.now() + verdictSeconds * 1000;
  while ((answer.status === 200 || answer.status === 202) && !done(answer.json) && Date.now() < deadline) {
    say(progress(answer.json));
    const asked = Date.now();
    answer = await call("GET", `${path}?wait=${pollSeconds}`);
    // A long poll answered at once (no waiting thread free) is asked again a little later.
    if (!done(answer.json) && Date.now() - asked < 1000) await new Promise((finished) => setTimeout(finished, 500));
  }
  return answer;
}

// The flags field's flags, or nothing.
function chosenFlags() {
  const flags = ui.flags.value.split(/\s+/).filter(Boolean);
  return flags.length ? flags : undefined;
}

async function compile(event) {
  event.preventDefault();
  const toolchain = chosenToolchain();
  const [architecture, os] = ui.target.value.split("/");
  const request = { source_code: ui.source.value, language: ui.language.value, compiler: toolchain.id, architecture, os };
  if (ui.standard.value) request.standard = ui.standard.value;
  request.flags = chosenFlags();
  clearResult();
  setBusy(true);
  say("Compiling…");
  try {
    let answer = await call("POST", `/api/v1/compile?wait=${pollSeconds}`, request);
    if (answer.status === 200 || answer.status === 202) {
      answer = await pollUntilDone(answer, `/api/v1/compile/${encodeURIComponent(answer.json.job_id)}`,
        (job) => !unfinished(job), (job) => `Waiting for the verdict (${job.status})…`);
    }
    if (answer.status !== 200 && answer.status !== 202) showRefusal(answer.status, answer.json);
    else if (unfinished(answer.json)) say(`No verdict within ${verdictSeconds} s (job ${answer.json.job_id}).`, "problem");
    else showJob(answer.json);
  } catch (error) {
    say(`Cannot reach the service: ${error.message}`, "problem");
  } finally {
    setBusy(false);
  }
}

function setBusy(busy) {
  ui.submit.disabled = busy;
  ui.matrix.disabled = busy;
  ui.matrixScope.disabled = busy;
}

// The matrix's table: a row per compiler (and target, when there are several), a column per
// standard; each cell its mark, its first error on hover (title) and on click (below the table).
function showMatrix(matrix) {
  const targetOf = (cell) => `${cell.architecture}/${cell.os}`;
  const severalTargets = new Set(matrix.cells.map(targetOf)).size > 1;
  const rowOf = (cell) => (severalTargets ? `${cell.compiler} ${targetOf(cell)}` : cell.compiler);
  const columnOf = (cell) => cell.standard || "default";
  const rows = [...new Set(matrix.cells.map(rowOf))];
  const columns = [...new Set(matrix.summary.standards.map((entry) => entry.standard).concat(matrix.cells.map(columnOf)))]
    .filter((column) => matrix.cells.some((cell) => columnOf(cell) === column));

  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  for (const column of columns) {
    const heading = document.createElement("th");
    heading.scope = "col";
    heading.textContent = column;
    head.append(heading);
  }
  const body = document.createElement("tbody");
  for (const row of rows) {
    const line = document.createElement("tr");
    const heading = document.createElement("th");
    heading.scope = "row";
    heading.textContent = row;
    line.append(heading);
    for (const column of columns) {
      const td = document.createElement("td");
      const cell = matrix.cells.find((candidate) => rowOf(candidate) === row && columnOf(candidate) === column);
      if (cell) {
        const [mark, kind] = cellMarks[cell.status] || ["…", "pending"];
        td.textContent = mark;
        td.className = kind;
        td.dataset.compiler = cell.compiler;
        td.dataset.standard = cell.standard || "";
        td.dataset.target = targetOf(cell);
        td.dataset.status = cell.status;
        const why = cell.first_error ? diagnosticText(cell.first_error, cell.compiler) : cell.error || (cell.status === "completed" ? "compiled" : cell.status);
        td.title = why;
        td.tabIndex = 0;
        td.addEventListener("click", () => {
          ui.matrixDetail.textContent = `${[cell.compiler, cell.standard, targetOf(cell)].filter(Boolean).join(" ")}: ${why}`;
        });
      } else {
        td.textContent = "·";
        td.className = "absent";
      }
      line.append(td);
    }
    body.append(line);
  }
  const thead = document.createElement("thead");
  thead.append(head);
  ui.matrixTable.replaceChildren(thead, body);
  ui.matrixTable.dataset.matrixId = matrix.matrix_id;

  const summary = matrix.summary;
  const oldest = summary.compilers.map((entry) => `${entry.compiler} ${entry.oldest_standard || (entry.accepts ? "default" : "none")}`);
  ui.matrixSummary.textContent = `Oldest standard each compiler accepts: ${oldest.join(", ")}. Click a cell for its first error.`;
  ui.matrixBox.hidden = false;
  say(`Matrix: ${summary.compiled} of ${summary.cells} cells compiled`, summary.compiled === summary.cells ? "compiled" : "failed");
}

async function runMatrix() {
  const toolchain = chosenToolchain();
  const request = { source_code: ui.source.value, language: ui.language.value, environments: "all", flags: chosenFlags() };
  if (ui.matrixScope.value === "compiler") request.compilers = [toolchain.id];
  if (ui.matrixScope.value === "family" && toolchain.flag_family) request.compilers = [toolchain.flag_family];
  if (ui.target.value && ui.target.value !== "x86_64/linux") request.targets = [ui.target.value];
  clearResult();
  setBusy(true);
  say("Submitting the matrix…");
  try {
    let answer = await call("POST", "/api/v1/matrix", request);
    if (answer.status === 202) {
      answer = await pollUntilDone(answer, `/api/v1/matrix/${encodeURIComponent(answer.json.matrix_id)}`,
        (matrix) => matrix && matrix.status === "completed",
        (matrix) => (matrix.summary ? `Compiling the matrix: ${matrix.summary.finished} of ${matrix.summary.cells} cells finished…` : "Compiling the matrix…"));
    }
    if (answer.status !== 200 && answer.status !== 202) showRefusal(answer.status, answer.json);
    else if (answer.json.status !== "completed") say(`The matrix did not finish within ${verdictSeconds} s (matrix ${answer.json.matrix_id}).`, "problem");
    else showMatrix(answer.json);
  } catch (error) {
    say(`Cannot reach the service: ${error.message}`, "problem");
  } finally {
    setBusy(false);
  }
}

async function start() {
  ui.source.addEventListener("input", showLineNumbers);
  ui.source.addEventListener("scroll", () => { ui.gutter.scrollTop = ui.source.scrollTop; });
  ui.language.addEventListener("change", () => { clearResult(); showCompilers(); });
  ui.compiler.addEventListener("change", showCompilerChoices);
  ui.form.addEventListener("submit", compile);
  ui.matrix.addEventListener("click", runMatrix);
  showLineNumbers();
  try {
    const answer = await call("GET", "/api/v1/toolchains");
    if (answer.status !== 200) { showRefusal(answer.status, answer.json); return; }
    toolchains = answer.json.toolchains;
  } catch (error) {
    say(`Cannot reach the service: ${error.message}`, "problem");
    return;
  }
  const languages = [...new Set(toolchains.map((toolchain) => toolchain.language))];
  fill(ui.language, languages.map((language) => option(language, language, language === "cpp")));
  showCompilers();
  setBusy(false);
  say("Ready: pick a compiler, write or paste code, and press Compile (or Matrix, for every standard).");
  document.body.dataset.ready = "true";
}

start();
