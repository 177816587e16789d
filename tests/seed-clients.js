// seed-clients.js - the example clients of the article logcast grew out of
// ("Short Polling, Long Polling, Webhooks и WebSockets"), exactly as
// published.  tests/lib-seed.js runs them against a real stack; they must
// work unchanged.

// --- Short Polling
function pollMessages() {
  fetch("http://localhost:8080/messages")
    .then((response) => response.json())
    .then((messages) => {
      console.log("Новые сообщения:", messages);
      // Обновить UI
    })
    .catch((err) => console.error(err))
    .finally(() => {
      setTimeout(pollMessages, 5000); // Повтор каждые 5 секунд
    });
}
pollMessages();

// --- Long Polling
function longPoll() {
  fetch("http://localhost:8080/poll")
    .then((response) => response.json())
    .then((messages) => {
      if (messages) {
        console.log("Новые сообщения:", messages);
        // Обновить UI
      }
      longPoll(); // Повторный запрос
    })
    .catch((err) => {
      console.error(err);
      setTimeout(longPoll, 1000); // Повтор при ошибке
    });
}
longPoll();

// --- WebSockets
const ws = new WebSocket("ws://localhost:8080/ws");

ws.onopen = () => {
  console.log("Подключено к WebSocket");
};

ws.onmessage = (event) => {
  console.log("Получено сообщение:", event.data);
  // Обновить UI
};

ws.onclose = () => {
  console.log("WebSocket закрыт");
};

function sendMessage() {
  const msg = "Привет!";
  ws.send(JSON.stringify(msg));
}
