"""A fake DNS for tests: chosen names resolve to chosen addresses, every other name as the machine resolves it."""

from __future__ import annotations

import socket
from collections.abc import Callable

# A public address for test names whose calls `responses` intercepts (nothing connects to it).
PUBLIC_ADDRESS = "93.184.215.14"


class FakeDns:
    """Answers `socket.getaddrinfo` for the names in `answers` (an address, a list, or a function giving one;
    changeable mid-test) and records the questions."""

    def __init__(self, monkeypatch, answers: dict[str, str | list[str] | Callable[[], str | list[str]]]):
        self.answers = dict(answers)
        self.asked: list[str] = []
        self._real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self.getaddrinfo)

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.answers:
            return self._real(host, port, family, type, proto, flags)
        self.asked.append(name)
        answer = self.answers[name]
        answer = answer() if callable(answer) else answer
        out = []
        for address in [answer] if isinstance(answer, str) else answer:
            if ":" in address:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port or 0), 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0))))
        return out
