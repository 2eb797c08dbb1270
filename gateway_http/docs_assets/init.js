// Starts Swagger UI on the document the page names. A file of its own, not an inline script:
// the page's Content-Security-Policy allows scripts from this origin only.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    tagsSorter: "alpha",
    validatorUrl: null, // no badge from an outside validator
  });
});
