// Demo page only: the hero button opens the widget (window.CareChat, set by carechat.js).
document.getElementById('open-chat').addEventListener('click', function () {
  if (window.CareChat) window.CareChat.open();
});
