// Asks before a form that deletes or ends something is sent. The form says
// what it acts on in its data-confirm attribute; the Content-Security-Policy
// bars inline handlers (onsubmit=...), so this file listens for every form.
// Without JavaScript the form is sent at once, as before.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
