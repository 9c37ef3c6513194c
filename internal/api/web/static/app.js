// vmrd web client: joins a room through the client control API
// (/api/client/v2/conferences/{number}/...) and its media WebSocket.
// Plain JavaScript, no build step. Norwegian is the default language.
'use strict';

(() => {
  const API = '/api/client/v2/conferences/';
  const REFRESH_MS = 60 * 1000; // tokens live api.token_ttl (120 s by default)
  const LOBBY_POLL_MS = 1500; // a lobby guest gets no event stream until admitted

  const TEXT = {
    nb: {
      title: 'Videomøte',
      skip: 'Hopp til innholdet',
      langToggle: 'English',
      langToggleLabel: 'Switch to English',
      joinHeading: 'Bli med i et møte',
      roomLabel: 'Møterom (nummer)',
      roomHelp: 'Nummeret står i innkallingen.',
      nameLabel: 'Navnet ditt',
      nameHelp: 'Alle i møtet ser navnet ditt.',
      pinLabel: 'PIN (valgfri)',
      pinHelp: 'Verter skriver verts-PIN. La feltet stå tomt hvis du ikke har fått en PIN.',
      join: 'Bli med',
      callHeading: 'Møtet',
      lobbyWaiting: 'Venter på at verten skal slippe deg inn',
      videoLabel: 'Møtebildet',
      controlsLabel: 'Dine kontroller',
      mute: 'Slå av mikrofonen',
      unmute: 'Slå på mikrofonen',
      leave: 'Forlat møtet',
      participants: 'Deltakere',
      hostPanel: 'Vertskontroll',
      lobby: 'Venterom',
      lobbyEmpty: 'Ingen venter.',
      meetingControls: 'Møtet',
      lock: 'Lås møtet',
      unlockRoom: 'Lås opp møtet',
      muteGuests: 'Demp alle gjester',
      unmuteGuests: 'Slå på lyden for alle gjester',
      layoutLabel: 'Skjermoppsett',
      layoutApply: 'Bytt oppsett',
      endMeeting: 'Avslutt møtet for alle',
      endConfirm: 'Avslutte møtet for alle deltakerne?',
      admit: 'Slipp inn',
      reject: 'Avvis',
      muteOne: 'Demp',
      unmuteOne: 'Slå på lyd',
      spotlightOn: 'Fremhev',
      spotlightOff: 'Slutt å fremheve',
      disconnectOne: 'Koble fra',
      host: 'vert',
      guest: 'gjest',
      you: 'deg',
      muted: 'dempet',
      spotlit: 'fremhevet',
      forName: '{action}: {name}',
      errMissing: 'Fyll inn møterom og navn.',
      errPIN: 'Feil PIN, eller møterommet finnes ikke.',
      errFull: 'Møtet er fullt.',
      errUnavailable: 'Tjenesten er ikke tilgjengelig akkurat nå. Prøv igjen senere.',
      errNetwork: 'Fikk ikke kontakt med tjenesten.',
      errMedia: 'Fikk ikke tilgang til kamera eller mikrofon: {detail}',
      errAction: 'Handlingen lyktes ikke: {detail}',
      joining: 'Kobler til …',
      joinedHost: 'Du er med i møtet som vert.',
      joinedGuest: 'Du er med i møtet.',
      waiting: 'Du venter i venterommet.',
      mediaConnecting: 'Kobler til lyd og bilde …',
      mediaConnected: '',
      mediaFailed: 'Lyd og bilde ble brutt.',
      left: 'Du har forlatt møtet.',
      ended: 'Møtet er over: {reason}',
      rejected: 'Verten slapp deg ikke inn.',
      reasonEnded: 'verten avsluttet møtet',
      reasonDisconnected: 'verten koblet deg fra',
      reasonShutdown: 'tjenesten starter på nytt',
      reasonExpired: 'forbindelsen ble brutt',
    },
    en: {
      title: 'Video meeting',
      skip: 'Skip to content',
      langToggle: 'Norsk',
      langToggleLabel: 'Bytt til norsk',
      joinHeading: 'Join a meeting',
      roomLabel: 'Meeting room (number)',
      roomHelp: 'The number is in the invitation.',
      nameLabel: 'Your name',
      nameHelp: 'Everyone in the meeting sees your name.',
      pinLabel: 'PIN (optional)',
      pinHelp: 'Hosts enter the host PIN. Leave it empty if you were not given a PIN.',
      join: 'Join',
      callHeading: 'The meeting',
      lobbyWaiting: 'Waiting for the host to let you in',
      videoLabel: 'The meeting picture',
      controlsLabel: 'Your controls',
      mute: 'Mute microphone',
      unmute: 'Unmute microphone',
      leave: 'Leave the meeting',
      participants: 'Participants',
      hostPanel: 'Host controls',
      lobby: 'Lobby',
      lobbyEmpty: 'Nobody is waiting.',
      meetingControls: 'Meeting',
      lock: 'Lock the meeting',
      unlockRoom: 'Unlock the meeting',
      muteGuests: 'Mute all guests',
      unmuteGuests: 'Unmute all guests',
      layoutLabel: 'Layout',
      layoutApply: 'Change layout',
      endMeeting: 'End the meeting for everyone',
      endConfirm: 'End the meeting for all participants?',
      admit: 'Admit',
      reject: 'Reject',
      muteOne: 'Mute',
      unmuteOne: 'Unmute',
      spotlightOn: 'Spotlight',
      spotlightOff: 'Remove spotlight',
      disconnectOne: 'Disconnect',
      host: 'host',
      guest: 'guest',
      you: 'you',
      muted: 'muted',
      spotlit: 'spotlight',
      forName: '{action}: {name}',
      errMissing: 'Enter the meeting room and your name.',
      errPIN: 'Wrong PIN, or the meeting room does not exist.',
      errFull: 'The meeting is full.',
      errUnavailable: 'The service is unavailable right now. Try again later.',
      errNetwork: 'Could not reach the service.',
      errMedia: 'Could not use the camera or microphone: {detail}',
      errAction: 'That did not work: {detail}',
      joining: 'Connecting …',
      joinedHost: 'You are in the meeting as host.',
      joinedGuest: 'You are in the meeting.',
      waiting: 'You are waiting in the lobby.',
      mediaConnecting: 'Connecting sound and picture …',
      mediaConnected: '',
      mediaFailed: 'Sound and picture were lost.',
      left: 'You left the meeting.',
      ended: 'The meeting is over: {reason}',
      rejected: 'The host did not let you in.',
      reasonEnded: 'the host ended the meeting',
      reasonDisconnected: 'the host disconnected you',
      reasonShutdown: 'the service is restarting',
      reasonExpired: 'the connection was lost',
    },
  };

  // The server's reasons are English log words: the known ones are shown
  // in the user's language, others as they are.
  const REASONS = {
    'meeting ended by host': 'reasonEnded',
    'disconnected by host': 'reasonDisconnected',
    'disconnected': 'reasonDisconnected',
    'server shutting down': 'reasonShutdown',
    'service shutting down': 'reasonShutdown',
    'token expired': 'reasonExpired',
    'Invalid token': 'reasonExpired',
  };
  const reasonText = (r) => (REASONS[r] ? t(REASONS[r]) : r);

  const $ = (id) => document.getElementById(id);
  const el = {
    langToggle: $('lang-toggle'), status: $('status'), error: $('error'),
    joinView: $('join-view'), joinForm: $('join-form'), joinButton: $('join-button'),
    room: $('room'), name: $('name'), pin: $('pin'),
    callView: $('call-view'), lobbyBanner: $('lobby-banner'), video: $('remote-video'), mediaState: $('media-state'),
    muteToggle: $('mute-toggle'), leave: $('leave-button'),
    roster: $('roster'), rosterCount: $('roster-count'), participantList: $('participant-list'),
    hostPanel: $('host-panel'), lobbyList: $('lobby-list'), lobbyCount: $('lobby-count'), lobbyEmpty: $('lobby-empty'),
    lockToggle: $('lock-toggle'), muteGuests: $('mute-guests'), unmuteGuests: $('unmute-guests'),
    layoutSelect: $('layout-select'), layoutApply: $('layout-apply'), endMeeting: $('end-meeting'),
  };

  // phase: 'form' -> 'joining' -> 'lobby' | 'in' -> 'ended'
  const state = {
    lang: 'nb', phase: 'form', room: '', name: '', token: '', uuid: '', role: '',
    participants: new Map(), conference: null, selfMuted: false, roomMuted: false, refreshes: 0, error: '', endReason: '',
    media: { ws: '', ice: 'new', connection: 'new', tracks: 0, error: '' },
  };
  let session = 0; // bumped on every join and leave, so stale callbacks do nothing
  let refreshTimer = 0;
  let lobbyTimer = 0;
  let events = null;
  let ws = null;
  let pc = null;
  let localStream = null;
  let remoteStream = null;
  let audio = null; // {ctx, analyser}

  // Language.

  function t(key, vars) {
    // An empty text is a text: ?? keeps it, where || would show the key.
    let s = TEXT[state.lang][key] ?? TEXT.nb[key] ?? key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace('{' + k + '}', v);
    return s;
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t('title');
    for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll('[data-i18n-aria]')) node.setAttribute('aria-label', t(node.dataset.i18nAria));
    el.langToggle.textContent = t('langToggle');
    el.langToggle.setAttribute('aria-label', t('langToggleLabel'));
    el.langToggle.lang = state.lang === 'nb' ? 'en' : 'nb';
    render();
  }

  function setLanguage(lang) {
    state.lang = TEXT[lang] ? lang : 'nb';
    try { localStorage.setItem('vmrd.lang', state.lang); } catch (_) { /* private mode */ }
    applyLanguage();
  }

  // Messages.

  let statusKey = '';
  let statusVars = null;
  function setStatus(key, vars) { statusKey = key; statusVars = vars; el.status.textContent = key ? t(key, vars) : ''; }

  function showError(text) {
    state.error = text || '';
    el.error.textContent = state.error;
    el.error.hidden = !state.error;
  }

  // The control API.

  class APIError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(method, verb, body, token) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const tok = token === undefined ? state.token : token;
    if (tok) headers.token = tok;
    let resp;
    try {
      resp = await fetch(API + encodeURIComponent(state.room) + '/' + verb, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store',
      });
    } catch (e) {
      throw new APIError(0, t('errNetwork'));
    }
    let json = null;
    try { json = await resp.json(); } catch (_) { /* not JSON */ }
    if (!resp.ok || !json || json.status !== 'success') {
      const msg = json && typeof json.result === 'string' ? json.result : resp.statusText;
      throw new APIError(resp.status, msg);
    }
    return json.result;
  }

  function joinErrorText(e) {
    if (e.status === 403 && e.message === 'Conference is full') return t('errFull');
    if (e.status === 403) return t('errPIN');
    if (e.status === 503) return t('errUnavailable');
    if (e.status === 0) return t('errNetwork');
    return e.message;
  }

  // Joining and leaving.

  async function join(ev) {
    ev.preventDefault();
    if (state.phase !== 'form' && state.phase !== 'ended') return;
    const room = el.room.value.trim();
    const name = el.name.value.trim();
    showError('');
    if (!room || !name) {
      showError(t('errMissing'));
      (room ? el.name : el.room).focus();
      return;
    }
    const my = ++session;
    Object.assign(state, { phase: 'joining', room, name, token: '', uuid: '', role: '', conference: null, endReason: '', selfMuted: false, roomMuted: false, refreshes: 0 });
    state.participants.clear();
    state.media = { ws: '', ice: 'new', connection: 'new', tracks: 0, error: '' };
    el.joinButton.disabled = true;
    setStatus('joining');
    try {
      // Camera and microphone first: a user who refuses them never takes a
      // place in the room. The browser's voice processing is off, so test
      // tones (and music, and a stethoscope) arrive unchanged.
      localStream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
        video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30 } },
      });
    } catch (e) {
      if (my !== session) return;
      state.phase = 'form';
      el.joinButton.disabled = false;
      setStatus('');
      showError(t('errMedia', { detail: e.name || String(e) }));
      return;
    }
    let res;
    try {
      res = await api('POST', 'request_token', { display_name: name, pin: el.pin.value.trim() }, '');
    } catch (e) {
      if (my !== session) return;
      stopLocal();
      state.phase = 'form';
      el.joinButton.disabled = false;
      setStatus('');
      showError(joinErrorText(e));
      el.pin.focus();
      return;
    }
    if (my !== session) return;
    el.pin.value = '';
    state.token = res.token;
    state.uuid = res.participant_uuid;
    state.role = res.role === 'HOST' ? 'host' : 'guest';
    scheduleRefresh(my, res.expires);
    el.joinButton.disabled = false;
    connectMedia(my);
    // A host is always in the meeting; a guest may be in the lobby, which
    // GET conference tells by refusing (403) until the host admits them.
    await checkAdmitted(my);
    if (my === session) $('call-heading').focus();
  }

  function scheduleRefresh(my, expires) {
    clearTimeout(refreshTimer);
    const ttl = Number(expires) * 1000;
    const every = ttl > 0 ? Math.min(REFRESH_MS, ttl / 2) : REFRESH_MS;
    refreshTimer = setTimeout(async () => {
      if (my !== session) return;
      try {
        const r = await api('POST', 'refresh_token', {});
        if (my !== session) return;
        state.token = r.token;
        state.refreshes++;
        scheduleRefresh(my, r.expires);
      } catch (e) {
        if (my !== session) return;
        if (e.status === 403) end(my, 'ended', e.message);
        else scheduleRefresh(my, expires); // a network blip: try again
      }
    }, every);
  }

  async function checkAdmitted(my) {
    clearTimeout(lobbyTimer);
    try {
      const conf = await api('GET', 'conference');
      if (my !== session) return;
      state.conference = conf;
      enterMeeting(my);
    } catch (e) {
      if (my !== session) return;
      if (e.status === 403 && e.message === 'Waiting for the host to let you in') {
        if (state.phase !== 'lobby') {
          state.phase = 'lobby';
          setStatus('waiting');
          render();
        }
        lobbyTimer = setTimeout(() => checkAdmitted(my), LOBBY_POLL_MS);
      } else if (e.status === 403) {
        end(my, state.phase === 'lobby' ? 'rejected' : 'ended', e.message);
      } else {
        lobbyTimer = setTimeout(() => checkAdmitted(my), LOBBY_POLL_MS);
      }
    }
  }

  function enterMeeting(my) {
    state.phase = 'in';
    setStatus(state.role === 'host' ? 'joinedHost' : 'joinedGuest');
    render();
    openEvents(my);
  }

  function openEvents(my) {
    if (events) events.close();
    const es = new EventSource(API + encodeURIComponent(state.room) + '/events?token=' + encodeURIComponent(state.token));
    events = es;
    const on = (name, f) => es.addEventListener(name, (m) => {
      if (my !== session || events !== es) return;
      let data = null;
      try { data = JSON.parse(m.data); } catch (_) { return; }
      f(data);
      render();
    });
    on('conference_update', (c) => { state.conference = c; });
    on('participant_sync_begin', () => { state.participants.clear(); });
    on('participant_create', (p) => { state.participants.set(p.uuid, p); });
    on('participant_update', (p) => { state.participants.set(p.uuid, p); });
    on('participant_delete', (p) => { state.participants.delete(p.uuid); });
    on('disconnect', (d) => { end(my, 'ended', d.reason || ''); });
    es.onerror = () => {
      if (my !== session || events !== es) return;
      // EventSource would retry with the URL's old token, which a refresh
      // has replaced: reopen with the current one, after a pause.
      es.close();
      events = null;
      if (state.phase === 'in') setTimeout(() => { if (my === session && state.phase === 'in' && !events) openEvents(my); }, 1000);
    };
  }

  function stopLocal() {
    if (localStream) for (const tr of localStream.getTracks()) tr.stop();
    localStream = null;
  }

  function teardown() {
    clearTimeout(refreshTimer);
    clearTimeout(lobbyTimer);
    if (events) events.close();
    events = null;
    if (ws) {
      try { ws.close(1000, 'leave'); } catch (_) { /* closed */ }
    }
    ws = null;
    if (pc) pc.close();
    pc = null;
    stopLocal();
    remoteStream = null;
    el.video.srcObject = null;
    if (audio) audio.ctx.close();
    audio = null;
  }

  // end finishes the session: kind is 'left', 'ended' or 'rejected'.
  function end(my, kind, reason) {
    if (my !== session || state.phase === 'ended' || state.phase === 'form') return;
    session++;
    teardown();
    state.phase = 'ended';
    state.endReason = reason || '';
    state.participants.clear();
    if (kind === 'left') setStatus('left');
    else if (kind === 'rejected') setStatus('rejected');
    // A getter, so that a language switch translates the reason again.
    else setStatus('ended', { get reason() { return reasonText(reason || ''); } });
    render();
    el.room.focus();
  }

  async function leave() {
    const my = session;
    const token = state.token;
    end(my, 'left', '');
    if (token) {
      try { await api('POST', 'release_token', {}, token); } catch (_) { /* gone already */ }
    }
  }

  // Media: the WebSocket protocol is join -> config -> offer/candidates ->
  // answer/candidates; bye or error end it.

  function connectMedia(my) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = proto + '//' + location.host + API + encodeURIComponent(state.room) + '/media';
    state.media.ws = 'connecting';
    setMediaState('mediaConnecting');
    let sock;
    try { sock = new WebSocket(url); } catch (e) { mediaFailed(my, String(e)); return; }
    ws = sock;
    const pending = []; // remote candidates that came before the answer
    let answered = false;
    const send = (m) => { if (ws === sock && sock.readyState === WebSocket.OPEN) sock.send(JSON.stringify(m)); };
    sock.onopen = () => {
      if (my !== session) return;
      state.media.ws = 'open';
      send({ type: 'join', token: state.token });
    };
    sock.onmessage = async (m) => {
      if (my !== session || ws !== sock) return;
      let msg;
      try { msg = JSON.parse(m.data); } catch (_) { return; }
      try {
        switch (msg.type) {
          case 'config':
            await startPeer(my, msg.iceServers || [], send);
            break;
          case 'answer':
            if (!pc) return;
            await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
            answered = true;
            for (const c of pending.splice(0)) await addCandidate(c);
            break;
          case 'candidate':
            if (!answered) pending.push(msg.candidate);
            else await addCandidate(msg.candidate);
            break;
          case 'error':
            state.media.error = msg.message || 'error';
            showError(t('errAction', { detail: state.media.error }));
            break;
          case 'bye':
            state.media.ws = 'bye';
            end(my, state.phase === 'lobby' ? 'rejected' : 'ended', msg.reason || '');
            break;
          default:
        }
      } catch (e) {
        mediaFailed(my, String(e && e.message || e));
      }
    };
    sock.onclose = () => {
      if (my !== session || ws !== sock) return;
      state.media.ws = 'closed';
      render();
    };
    sock.onerror = () => {
      if (my !== session || ws !== sock) return;
      state.media.ws = 'error';
      render();
    };
  }

  async function addCandidate(c) {
    if (!pc) return;
    // null ends the remote candidates (RFC 8838 end-of-candidates).
    await pc.addIceCandidate(c || null);
  }

  async function startPeer(my, iceServers, send) {
    if (pc) pc.close();
    const peer = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    pc = peer;
    for (const track of localStream ? localStream.getTracks() : []) {
      peer.addTransceiver(track, { direction: 'sendrecv', streams: [localStream] });
    }
    remoteStream = new MediaStream();
    el.video.srcObject = remoteStream;
    peer.ontrack = (e) => {
      if (my !== session || pc !== peer) return;
      remoteStream.addTrack(e.track);
      state.media.tracks = remoteStream.getTracks().length;
      if (e.track.kind === 'audio') startAnalyser(e.track);
      el.video.play().catch(() => { /* autoplay refused: the user clicks play */ });
      render();
    };
    peer.onicecandidate = (e) => {
      if (my !== session || pc !== peer) return;
      if (!e.candidate) { send({ type: 'candidate', candidate: null }); return; }
      const c = e.candidate;
      send({ type: 'candidate', candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment } });
    };
    peer.oniceconnectionstatechange = () => { state.media.ice = peer.iceConnectionState; };
    peer.onconnectionstatechange = () => {
      if (pc !== peer) return;
      state.media.connection = peer.connectionState;
      if (peer.connectionState === 'connected') setMediaState('mediaConnected');
      if (peer.connectionState === 'failed') mediaFailed(my, 'ice failed');
      render();
    };
    const offer = await peer.createOffer();
    await peer.setLocalDescription(offer);
    send({ type: 'offer', sdp: peer.localDescription.sdp });
  }

  function mediaFailed(my, why) {
    if (my !== session) return;
    state.media.error = why;
    setMediaState('mediaFailed');
    render();
  }

  let mediaKey = '';
  function setMediaState(key) { mediaKey = key; el.mediaState.textContent = key ? t(key) : ''; }

  // Muting has two sides: the room stops mixing a muted participant (the
  // host can do that, and everyone sees it in the roster), and one's own
  // mute also stops the microphone track, so nothing leaves the browser.
  // A host's mute does not touch the track: the room is the authority.
  function setSelfMuted(muted) {
    state.selfMuted = muted;
    if (localStream) for (const tr of localStream.getAudioTracks()) tr.enabled = !muted;
  }

  async function toggleMute() {
    const want = !(state.selfMuted || state.roomMuted);
    setSelfMuted(want);
    render();
    if (state.phase !== 'in') return; // the room only takes it from admitted participants
    try {
      await api('POST', 'participants/' + encodeURIComponent(state.uuid) + (want ? '/mute' : '/unmute'), {});
    } catch (e) {
      showError(t('errAction', { detail: e.message }));
    }
  }

  // Host actions.

  async function hostAction(verb, body) {
    showError('');
    try {
      await api('POST', verb, body === undefined ? {} : body);
    } catch (e) {
      showError(t('errAction', { detail: e.message }));
    }
  }

  function participantAction(uuid, action) {
    return hostAction('participants/' + encodeURIComponent(uuid) + '/' + action);
  }

  // Rendering.

  function button(label, action, uuid, name, cls) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'small ' + (cls || 'secondary');
    b.textContent = label;
    b.dataset.action = action;
    b.dataset.uuid = uuid;
    // Several rows have the same button: the accessible name says whose.
    b.setAttribute('aria-label', t('forName', { action: label, name }));
    return b;
  }

  function personRow(p, withActions) {
    const li = document.createElement('li');
    li.dataset.uuid = p.uuid;
    li.dataset.state = p.state;
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = p.display_name;
    li.append(who);
    const tags = [p.role === 'host' ? t('host') : t('guest')];
    if (p.uuid === state.uuid) tags.push(t('you'));
    if (p.is_muted) tags.push(t('muted'));
    if (p.spotlight > 0) tags.push(t('spotlit'));
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = '(' + tags.join(', ') + ')';
    li.append(tag);
    if (withActions) {
      const box = document.createElement('span');
      box.className = 'actions';
      box.append(...withActions(p));
      li.append(box);
    }
    return li;
  }

  function renderMute() {
    const muted = state.selfMuted || state.roomMuted;
    el.muteToggle.textContent = muted ? t('unmute') : t('mute');
  }

  function render() {
    const phase = state.phase;
    const inCall = phase === 'lobby' || phase === 'in' || phase === 'joining';
    el.joinView.hidden = inCall && phase !== 'joining';
    el.callView.hidden = !(phase === 'lobby' || phase === 'in');
    el.lobbyBanner.hidden = phase !== 'lobby';
    // A waiting guest sees nothing of the meeting: no roster, no controls.
    const admitted = phase === 'in';
    el.roster.hidden = !admitted;
    el.hostPanel.hidden = !(admitted && state.role === 'host');
    renderMute();
    el.status.textContent = statusKey ? t(statusKey, statusVars) : '';
    el.mediaState.textContent = mediaKey ? t(mediaKey) : '';

    if (!admitted) {
      el.participantList.replaceChildren();
      el.lobbyList.replaceChildren();
      return;
    }
    const all = [...state.participants.values()];
    const me = state.participants.get(state.uuid);
    if (me) state.roomMuted = !!me.is_muted;
    renderMute();
    const inMeeting = all.filter((p) => p.state === 'in');
    el.rosterCount.textContent = String(inMeeting.length);
    const isHost = state.role === 'host';
    const actions = isHost ? (p) => {
      const out = [];
      out.push(p.is_muted ? button(t('unmuteOne'), 'unmute', p.uuid, p.display_name) : button(t('muteOne'), 'mute', p.uuid, p.display_name));
      out.push(p.spotlight > 0 ? button(t('spotlightOff'), 'spotlightoff', p.uuid, p.display_name) : button(t('spotlightOn'), 'spotlighton', p.uuid, p.display_name));
      if (p.uuid !== state.uuid) out.push(button(t('disconnectOne'), 'disconnect', p.uuid, p.display_name, 'danger'));
      return out;
    } : null;
    keepFocus(el.participantList, () => el.participantList.replaceChildren(...inMeeting.map((p) => personRow(p, actions))));
    if (isHost) {
      const waiting = all.filter((p) => p.state === 'lobby');
      el.lobbyCount.textContent = String(waiting.length);
      el.lobbyEmpty.hidden = waiting.length > 0;
      keepFocus(el.lobbyList, () => el.lobbyList.replaceChildren(...waiting.map((p) => personRow(p, (q) => [
        button(t('admit'), 'unlock', q.uuid, q.display_name, 'primary'),
        button(t('reject'), 'reject', q.uuid, q.display_name, 'danger'),
      ]))));
      const c = state.conference || {};
      el.lockToggle.textContent = c.locked ? t('unlockRoom') : t('lock');
      el.lockToggle.dataset.locked = String(!!c.locked);
      if (c.layout && document.activeElement !== el.layoutSelect) el.layoutSelect.value = c.layout;
    }
  }

  // keepFocus re-creates a list without losing the keyboard user's place:
  // focus goes back to the same action of the same participant, or to the
  // list's heading area when that participant is gone.
  function keepFocus(list, rebuild) {
    const a = document.activeElement;
    const inside = a && list.contains(a) && a.dataset.uuid;
    const key = inside ? [a.dataset.uuid, a.dataset.action] : null;
    rebuild();
    if (!key) return;
    const again = list.querySelector('button[data-uuid="' + CSS.escape(key[0]) + '"][data-action="' + CSS.escape(key[1]) + '"]')
      || list.querySelector('button');
    if (again) again.focus();
  }

  // Test hook: what a browser test reads. Nothing here changes the call.

  function startAnalyser(track) {
    try {
      const ctx = new AudioContext();
      const src = ctx.createMediaStreamSource(new MediaStream([track]));
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 16384; // 2.9 Hz bins at 48 kHz
      analyser.smoothingTimeConstant = 0;
      src.connect(analyser);
      ctx.resume().catch(() => {});
      if (audio) audio.ctx.close();
      audio = { ctx, analyser };
    } catch (_) { /* no Web Audio: the hook reports no audio */ }
  }

  function levelsNow(freqs) {
    const a = audio.analyser;
    const bins = new Float32Array(a.frequencyBinCount);
    a.getFloatFrequencyData(bins);
    const width = audio.ctx.sampleRate / a.fftSize;
    return freqs.map((f) => {
      const k = Math.round(f / width);
      let best = -Infinity;
      for (let i = Math.max(0, k - 2); i <= Math.min(bins.length - 1, k + 2); i++) best = Math.max(best, bins[i]);
      return Number.isFinite(best) ? best : -200;
    });
  }

  const median = (v) => { const s = [...v].sort((x, y) => x - y); return s.length ? s[s.length >> 1] : -200; };

  // tones samples the received audio every 100 ms for ms and returns the
  // median level (dB) at each frequency and the median noise floor at
  // probe frequencies away from the test tones and their harmonics.
  async function tones(freqs, ms, probes) {
    probes = probes || [300, 620, 1000, 1250, 1800, 2500];
    if (!audio) return { ok: false, levels: {}, floor: -200 };
    const rows = [];
    const end = performance.now() + (ms || 2000);
    while (performance.now() < end) {
      rows.push(levelsNow(freqs.concat(probes)));
      await new Promise((r) => setTimeout(r, 100));
    }
    const levels = {};
    freqs.forEach((f, i) => { levels[String(f)] = median(rows.map((r) => r[i])); });
    const floor = median(probes.map((_, j) => median(rows.map((r) => r[freqs.length + j]))));
    return { ok: true, levels, floor, samples: rows.length, sampleRate: audio.ctx.sampleRate };
  }

  function videoCanvas() {
    const v = el.video;
    if (!v.videoWidth) return null;
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0, c.width, c.height);
    return { c, g };
  }

  function pixelAt(fx, fy) {
    const cv = videoCanvas();
    if (!cv) return null;
    const { c, g } = cv;
    const r = Math.max(1, Math.floor(Math.min(c.width, c.height) / 80));
    const cx = Math.round(fx * (c.width - 1));
    const cy = Math.round(fy * (c.height - 1));
    const x0 = Math.max(0, cx - r), y0 = Math.max(0, cy - r);
    const w = Math.min(c.width, cx + r + 1) - x0, h = Math.min(c.height, cy + r + 1) - y0;
    const d = g.getImageData(x0, y0, w, h).data;
    let sr = 0, sg = 0, sb = 0;
    for (let i = 0; i < d.length; i += 4) { sr += d[i]; sg += d[i + 1]; sb += d[i + 2]; }
    const n = d.length / 4;
    return { r: Math.round(sr / n), g: Math.round(sg / n), b: Math.round(sb / n) };
  }

  function frame() {
    const cv = videoCanvas();
    return cv ? { width: cv.c.width, height: cv.c.height, png: cv.c.toDataURL('image/png') } : null;
  }

  function snapshot() {
    const v = el.video;
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
    return {
      phase: state.phase, role: state.role, uuid: state.uuid, room: state.room, lang: state.lang,
      refreshes: state.refreshes, muted: state.selfMuted || state.roomMuted, selfMuted: state.selfMuted, roomMuted: state.roomMuted, error: state.error, endReason: state.endReason, conference: state.conference,
      participants: [...state.participants.values()],
      rosterVisible: !el.roster.hidden, hostPanelVisible: !el.hostPanel.hidden, lobbyBannerVisible: !el.lobbyBanner.hidden,
      media: Object.assign({}, state.media, { videoWidth: v.videoWidth, videoHeight: v.videoHeight, framesDecoded: q.totalVideoFrames || 0, audio: !!audio }),
      status: el.status.textContent,
    };
  }

  window.vmrdTest = {
    videoElement: el.video,
    get audioAnalyser() { return audio && audio.analyser; },
    state: snapshot,
    tones,
    pixelAt,
    frame,
  };

  // Start.

  el.joinForm.addEventListener('submit', join);
  el.leave.addEventListener('click', leave);
  el.muteToggle.addEventListener('click', toggleMute);
  el.langToggle.addEventListener('click', () => setLanguage(state.lang === 'nb' ? 'en' : 'nb'));
  el.lockToggle.addEventListener('click', () => hostAction(state.conference && state.conference.locked ? 'unlock' : 'lock'));
  el.muteGuests.addEventListener('click', () => hostAction('muteguests'));
  el.unmuteGuests.addEventListener('click', () => hostAction('unmuteguests'));
  el.layoutApply.addEventListener('click', () => hostAction('transform_layout', { layout: el.layoutSelect.value }));
  el.endMeeting.addEventListener('click', () => { if (window.confirm(t('endConfirm'))) hostAction('disconnect'); });
  for (const list of [el.participantList, el.lobbyList]) {
    list.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-action]');
      if (b) participantAction(b.dataset.uuid, b.dataset.action);
    });
  }
  window.addEventListener('pagehide', () => {
    // Leave at once rather than when the token expires.
    if (state.token && (state.phase === 'in' || state.phase === 'lobby')) {
      fetch(API + encodeURIComponent(state.room) + '/release_token', { method: 'POST', headers: { token: state.token }, keepalive: true }).catch(() => {});
    }
  });

  const params = new URLSearchParams(location.search);
  if (params.get('room')) el.room.value = params.get('room');
  let lang = params.get('lang');
  if (!lang) { try { lang = localStorage.getItem('vmrd.lang'); } catch (_) { /* private mode */ } }
  state.lang = TEXT[lang] ? lang : 'nb';
  applyLanguage();
})();
