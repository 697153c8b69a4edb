// The only script: keep an API token in a cookie so pages can be read when tokens are configured.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("token-form");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = document.getElementById("token").value.trim();
    if (!token) return;
    document.cookie = "featurestore_token=" + encodeURIComponent(token) + "; path=/; SameSite=Strict";
    window.location.href = window.location.pathname === "/login" ? "/" : window.location.href;
  });
});
