// The page's three dialogs (index.html): a new secret shown once, a confirmation, a small form.
import { ApiError, describe } from "./api.js";
import { $, clear } from "./dom.js";

const secretDialog = () => $("#secret-dialog");

/** Shows a new secret once. The only copy in memory is the dialog's text, cleared on close. */
export function showSecret(secret, title, note) {
  $("#secret-title").textContent = title;
  $("#secret-value").textContent = secret;
  $("#secret-note").textContent = note || "";
  $("#secret-copied").textContent = "";
  secretDialog().showModal();
}

function clearSecret() {
  $("#secret-value").textContent = "";
  $("#secret-copied").textContent = "";
}

/** Closes the secret dialog if it is open (its secret goes with it). */
export function closeSecret() {
  if (secretDialog().open) secretDialog().close();
}

export function setupSecretDialog() {
  $("#secret-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("#secret-value").textContent);
      $("#secret-copied").textContent = "Copied to the clipboard.";
    } catch {
      $("#secret-copied").textContent = "Copy failed: select the key and copy it by hand.";
    }
  });
  $("#secret-dismiss").addEventListener("click", () => secretDialog().close());
  // Escape also closes the dialog: the secret goes in every case.
  secretDialog().addEventListener("close", clearSecret);
}

/** Asks for confirmation; resolves true or false. */
export function confirmDialog(title, text, okLabel) {
  const dialog = $("#confirm-dialog");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    const done = (answer) => {
      $("#confirm-ok").removeEventListener("click", ok);
      $("#confirm-cancel").removeEventListener("click", cancel);
      dialog.removeEventListener("close", cancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const ok = () => done(true);
    const cancel = () => done(false);
    $("#confirm-ok").addEventListener("click", ok);
    $("#confirm-cancel").addEventListener("click", cancel);
    dialog.addEventListener("close", cancel);
    dialog.showModal();
  });
}

/**
 * A small form in a dialog. `build(body)` adds inputs; `submit()` returns a promise: resolved
 * closes the dialog, rejected with an ApiError shows its messages inline and keeps it open.
 */
export function formDialog(title, submitLabel, build, submit) {
  const dialog = $("#form-dialog");
  const form = $("#form-dialog-form");
  const body = clear($("#form-dialog-body"));
  $("#form-dialog-title").textContent = title;
  $("#form-dialog-submit").textContent = submitLabel;
  $("#form-dialog-error").textContent = "";
  build(body);
  const onSubmit = async (event) => {
    event.preventDefault();
    $("#form-dialog-submit").disabled = true;
    try {
      await submit();
      dialog.close();
    } catch (err) {
      for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
      const messages = err instanceof ApiError && err.errors.length
        ? err.errors.map((e) => `${e.field}: ${e.message}`).join(" ")
        : describe(err);
      $("#form-dialog-error").textContent = messages;
    } finally {
      $("#form-dialog-submit").disabled = false;
    }
  };
  const onCancel = () => dialog.close();
  const cleanup = () => {
    form.removeEventListener("submit", onSubmit);
    $("#form-dialog-cancel").removeEventListener("click", onCancel);
    dialog.removeEventListener("close", cleanup);
    clear(body);
  };
  form.addEventListener("submit", onSubmit);
  $("#form-dialog-cancel").addEventListener("click", onCancel);
  dialog.addEventListener("close", cleanup);
  dialog.showModal();
  const first = body.querySelector("input, textarea, select");
  if (first) first.focus();
}
