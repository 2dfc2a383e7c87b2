// ticketcore-web: a little JavaScript where it helps. Pages work without it; with it, they
// follow the desk live (server-sent events from /api/events), insert templates and FAQ
// entries into answers, and show the pending time only for pending states.
"use strict";
(function () {
  const body = document.body;

  // Insert a template's or FAQ entry's text where the answer is typed.
  document.querySelectorAll("select[data-insert]").forEach((select) => {
    select.addEventListener("change", () => {
      const option = select.selectedOptions[0];
      const target = document.getElementById(select.dataset.insert);
      if (!option || !option.dataset.text || !target) return;
      const at = target.selectionStart ?? target.value.length;
      target.value = target.value.slice(0, at) + option.dataset.text + target.value.slice(at);
      target.focus();
      select.selectedIndex = 0;
    });
  });

  // The pending time matters only for pending states.
  document.querySelectorAll("select[name=state]").forEach((select) => {
    const input = select.form && select.form.querySelector("input[name=pending_until]");
    if (!input) return;
    const label = input.closest("label") || input;
    const sync = () => {
      const pending = select.selectedOptions[0] && select.selectedOptions[0].hasAttribute("data-pending");
      label.hidden = !pending;
      input.required = !!pending;
    };
    select.addEventListener("change", sync);
    sync();
  });

  // Live: refresh the page's content when something the viewer may see happens, unless the
  // viewer is typing; then say so instead of throwing the typing away.
  const live = body.dataset.live;
  if (!live || !window.EventSource) return;
  const ticket = body.dataset.ticket;
  let dirty = false;
  document.addEventListener("input", (e) => {
    if (e.target.matches("textarea, input[type=text], input:not([type]), input[type=file]")) dirty = true;
  });
  let timer = null;
  const refresh = async () => {
    if (dirty) {
      document.getElementById("live-banner").hidden = false;
      return;
    }
    const response = await fetch(location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("live");
    const main = document.getElementById("live");
    if (!fresh || !main) return;
    const open = [...main.querySelectorAll("details")].map((d) => d.open);
    main.replaceWith(fresh);
    fresh.querySelectorAll("details").forEach((d, i) => { if (i < open.length) d.open = open[i]; });
    body.dispatchEvent(new Event("refreshed"));
  };
  const events = new EventSource("/api/events");
  const me = document.querySelector(".me");
  const unread = document.getElementById("unread");
  const onEvent = (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    if (event.type === "Notify" && unread && me && (event.agents || []).includes(me.textContent.trim())) {
      unread.hidden = false;
      unread.textContent = String((parseInt(unread.textContent, 10) || 0) + 1);
    }
    if (live === "ticket" && event.ticket !== ticket) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  };
  // Every event type the desk names arrives under its own name; listen to them all.
  const names = ["NewTicket", "EmailCustomer", "PhoneCallCustomer", "WebRequestCustomer",
    "FollowUp", "FollowUpRejected", "AddNote", "SendAnswer", "SendAutoReply", "Bounce", "Move",
    "Lock", "Unlock", "StateUpdate", "SetPendingTime", "PriorityUpdate", "OwnerUpdate",
    "ResponsibleUpdate", "TitleUpdate", "CustomerUpdate", "Merged", "TicketLinkAdd", "Subscribe",
    "Unsubscribe", "ArchiveFlagUpdate", "Reminder", "EscalationWarning", "Escalation",
    "SetAside", "SendAgentNotification"];
  names.forEach((name) => events.addEventListener(name, onEvent));
  body.dataset.following = "yes";
})();
