// Runs before the verifier: opened from file://, the browser will not run it (module
// scripts, WebAssembly and workers need a page served over HTTP), so say how to serve it.
if (location.protocol === "file:") {
  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("file-protocol").hidden = false;
    document.getElementById("status").textContent =
      "The verifier cannot start from a file: serve this folder over HTTP (see above).";
  });
}
