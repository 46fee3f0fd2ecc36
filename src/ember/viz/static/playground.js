// The playground's page: draws the state the server streams (server-sent events) and sends the user's
// changes as JSON. window.playground.state is the latest state (read by the browser test).
"use strict";
(function () {
  const COLORS = [[31, 119, 180], [255, 127, 14]];
  const canvas = document.getElementById("plane");
  const context = canvas.getContext("2d");
  const message = document.getElementById("message");
  const playground = { state: null, updates: 0 };
  window.playground = playground;

  function toPlane(event) {
    const box = canvas.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * 2 - 1;
    const y = 1 - ((event.clientY - box.top) / box.height) * 2;
    return [Math.max(-1, Math.min(1, x)), Math.max(-1, Math.min(1, y))];
  }

  function draw(state) {
    const n = state.resolution, cell = canvas.width / n;
    for (let row = 0; row < n; row++) {
      for (let column = 0; column < n; column++) {
        const p = state.field[row * n + column];
        const rgb = COLORS[0].map((c, k) => Math.round((1 - p) * c + p * COLORS[1][k]));
        const faded = rgb.map((c) => Math.round(255 - 0.45 * (255 - c)));  // pale background
        context.fillStyle = `rgb(${faded.join(",")})`;
        context.fillRect(column * cell, row * cell, cell + 1, cell + 1);
      }
    }
    for (const [x, y, label] of state.points) {
      context.beginPath();
      context.arc(((x + 1) / 2) * canvas.width, ((1 - y) / 2) * canvas.height, 5, 0, 2 * Math.PI);
      context.fillStyle = `rgb(${COLORS[label].join(",")})`;
      context.fill();
      context.lineWidth = 1.2;
      context.strokeStyle = "#222";
      context.stroke();
    }
    document.getElementById("steps").textContent = state.steps;
    document.getElementById("loss").textContent = state.loss === null ? "-" : state.loss.toFixed(4);
    document.getElementById("accuracy").textContent =
      state.accuracy === null ? "-" : (100 * state.accuracy).toFixed(1) + "%";
    document.getElementById("count").textContent = state.points.length;
    if (state.message) message.textContent = state.message;
  }

  async function send(action, body) {
    try {
      const response = await fetch("/" + action, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      const answer = await response.json();
      message.textContent = response.ok ? "" : answer.error;
    } catch (error) {
      message.textContent = "the server did not answer: " + error;
    }
  }

  function number(id) {
    const text = document.getElementById(id).value.trim();
    const value = Number(text);
    return text === "" || Number.isNaN(value) ? text : value;  // the server names what is wrong
  }

  canvas.addEventListener("click", (event) => {
    const [x, y] = toPlane(event);
    send("point", { x: x, y: y, label: event.shiftKey ? 1 : 0 });
  });
  document.getElementById("dataset").addEventListener("change", (event) => {
    send("dataset", { name: event.target.value });
  });
  document.getElementById("apply").addEventListener("click", () => {
    send("settings", {
      layers: number("layers"), width: number("width"), lr: number("lr"), l2: number("l2"),
      activation: document.getElementById("activation").value,
      optimizer: document.getElementById("optimizer").value,
    });
  });
  document.getElementById("reset").addEventListener("click", () => send("reset", {}));

  const events = new EventSource("/events");
  events.onmessage = (event) => {
    playground.state = JSON.parse(event.data);
    playground.updates += 1;
    draw(playground.state);
  };
})();
