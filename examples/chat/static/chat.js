// The chat page's script (plain browser JavaScript, no build step, no framework).
//
// Joining opens ws://<this host>/ws/chat/<room>/ and sends { type: 'join', user }; the server
// answers { type: 'joined' }, then relays the room's messages and join/leave notices (see
// examples/chat/consumers.js for the protocol). Everything received is shown with textContent,
// never as HTML: a message is text, whatever it contains.
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);
  const joinForm = $('#join-form');
  const sendForm = $('#send-form');
  const messages = $('#messages');
  const status = $('#status');
  const ROOM = /^[A-Za-z0-9_-]{1,50}$/;

  /** The open connection, or null. */
  let socket = null;

  const params = new URLSearchParams(location.search);
  if (ROOM.test(params.get('room') ?? '')) $('#room').value = params.get('room');

  function setStatus(text) {
    status.textContent = text;
  }

  /** Append one line: `kind` is message, notice or error. */
  function show(kind, text, user) {
    const item = document.createElement('li');
    item.className = kind;
    if (user !== undefined) {
      const who = document.createElement('span');
      who.className = 'user';
      who.textContent = `${user}:`;
      item.append(who);
    }
    item.append(document.createTextNode(text));
    // Follow the conversation unless the reader scrolled up to read something older.
    const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
    messages.append(item);
    if (atBottom) messages.scrollTop = messages.scrollHeight;
  }

  function showChat(visible) {
    $('#chat').hidden = !visible;
    joinForm.hidden = visible;
    if (visible) $('#text').focus();
  }

  function join(user, room) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws/chat/${encodeURIComponent(room)}/`);
    socket = ws;
    setStatus(`Connecting to room ${room}…`);
    ws.addEventListener('open', () => ws.send(JSON.stringify({ type: 'join', user })));
    ws.addEventListener('message', (event) => {
      let m;
      try {
        m = JSON.parse(event.data);
      } catch {
        return;
      }
      switch (m.type) {
        case 'joined':
          messages.replaceChildren();
          $('#room-name').textContent = m.room;
          $('#user-name').textContent = m.user;
          history.replaceState(null, '', `?room=${encodeURIComponent(m.room)}`);
          showChat(true);
          setStatus('Connected.');
          break;
        case 'message':
          show('message', m.text, m.user);
          break;
        case 'join':
          show('notice', `${m.user} joined`);
          break;
        case 'leave':
          show('notice', `${m.user} left`);
          break;
        case 'error':
          if ($('#chat').hidden) {
            // Before joining (a refused name): say so on the join form, and hang up.
            socket = null;
            ws.close(1000);
            setStatus(`Refused: ${m.error}`);
          } else {
            show('error', m.error);
          }
          break;
      }
    });
    ws.addEventListener('close', (event) => {
      if (socket !== ws) return; // a connection we already left
      socket = null;
      showChat(false);
      setStatus(
        event.code === 1000 || event.code === 1001
          ? 'Disconnected.'
          : `Disconnected (code ${event.code}${event.reason ? `: ${event.reason}` : ''}). Join again to reconnect.`,
      );
    });
  }

  joinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const user = $('#name').value.trim();
    const room = $('#room').value.trim();
    if (user === '') return setStatus('Pick a name first.');
    if (!ROOM.test(room)) return setStatus('Room names are letters, digits, _ and -.');
    if (socket !== null) socket.close(1000);
    join(user, room);
  });

  sendForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('#text');
    const text = input.value.trim();
    if (text === '' || socket === null || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: 'message', text }));
    input.value = '';
    input.focus();
  });

  $('#leave').addEventListener('click', () => {
    const ws = socket;
    socket = null;
    if (ws !== null) ws.close(1000);
    showChat(false);
    setStatus('You left the room.');
  });
})();
