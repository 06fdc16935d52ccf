"""A TCP proxy in front of a real broker that can hold back one kind of Kafka request.

A broker that stops answering at one precise step (the commit, say) is what a learner meets when a
broker dies at the wrong moment; SIGSTOP or a stop cannot aim at one request. The broker advertises
the proxy's address on an extra listener, so every connection a client opens goes through the proxy.
Requests flow through unchanged until hold(api_key): the first request with that key (Produce is 0,
EndTxn 26, InitProducerId 22) and everything after it on that connection then wait until release(),
or for ever. drop(*api_keys) instead closes the connection whenever such a request arrives: to that
client the broker went away at that step, while every other client still reaches it. refuse() closes
every connection and the listening port until release(): to the clients, the broker is gone (a connect
is refused, as by a stopped broker), though it keeps running. Answers from the broker always flow.
"""

import socket
import struct
import threading

PRODUCE, OFFSET_COMMIT, HEARTBEAT, END_TXN, INIT_PRODUCER_ID = 0, 8, 12, 26, 22


class HoldingProxy:
    def __init__(self, broker_port):
        self.broker_port = broker_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.holding = set()
        self.dropping = set()
        self.refusing = False
        self.held = threading.Event()  # set once a request was held back
        self.released = threading.Event()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self, api_key):
        self.released.clear()
        self.held.clear()
        self.holding = {api_key}

    def drop(self, *api_keys):
        self.dropping = set(api_keys)

    def refuse(self):
        """Close every connection and the listening port, until release()."""
        self.refusing = True
        _close(self.listener, *self.sockets)
        self.sockets = []

    def release(self):
        """Everything flows again: held requests go on, and nothing more is held, dropped or refused."""
        self.holding, self.dropping = set(), set()
        if self.refusing:
            self.listener = socket.create_server(("127.0.0.1", self.port))  # the same port: clients know it
            threading.Thread(target=self._accept, daemon=True).start()
            self.refusing = False
        self.released.set()

    def reset(self):
        """Drop every connection, and whatever they held back: a held request is never sent after this."""
        _close(*self.sockets)
        self.sockets = []
        self.release()

    def close(self):
        self.reset()
        _close(self.listener)

    def _accept(self):
        listener = self.listener
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            try:
                broker = socket.create_connection(("127.0.0.1", self.broker_port))
            except OSError:  # the broker is not listening (yet): the client sees a closed connection
                _close(client)
                continue
            self.sockets += [client, broker]
            if self.refusing:  # refuse() came while this connection was being made
                _close(client, broker)
                return
            threading.Thread(target=self._requests, args=(client, broker), daemon=True).start()
            threading.Thread(target=self._answers, args=(broker, client), daemon=True).start()

    def _requests(self, client, broker):
        """Client to broker, one request at a time: 4 bytes of size, then api_key (int16) and the rest."""
        try:
            while True:
                size = _read_exactly(client, 4)
                body = _read_exactly(client, struct.unpack(">i", size)[0])
                api_key = struct.unpack(">h", body[:2])[0]
                if api_key in self.dropping:
                    raise ConnectionResetError("dropped")
                if api_key in self.holding:
                    self.held.set()
                    self.released.wait()
                broker.sendall(size + body)
        except OSError:
            _close(client, broker)

    def _answers(self, broker, client):
        try:
            while data := broker.recv(65536):
                client.sendall(data)
        except OSError:
            pass
        _close(client, broker)


def _read_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionResetError("closed")
        data += chunk
    return data


def _close(*sockets):
    """shutdown() first: close() alone does not end a recv() or accept() another thread is blocked in; the peer
    would see the connection (or the port) open until that thread woke up."""
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # not connected (any more)
        try:
            sock.close()
        except OSError:
            pass
