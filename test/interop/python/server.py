"""A Python `websockets` echo server, for test/interop/websockets-python.test.ts.

Usage: server.py

Listens on 127.0.0.1 (a free port) and prints {"port": N} first. Then echoes every message, with
two exceptions: the text "please-fragment" is answered with a message sent in three fragments
(an async iterator), and "please-close:CODE:REASON" makes the server close with that code and
reason. Every event is printed as one JSON line: "open" (path, negotiated extensions),
"message" (type, length, SHA-1, and the text when short) and "closed" (the code and reason the
client sent). Stops when its standard input closes, or after 60 seconds.
"""
import asyncio
import hashlib
import json
import sys
import threading

import websockets


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def describe(message):
    data = message.encode("utf-8") if isinstance(message, str) else message
    out = {"type": "text" if isinstance(message, str) else "binary", "length": len(data), "sha1": hashlib.sha1(data).hexdigest()}
    if isinstance(message, str) and len(message) <= 200:
        out["text"] = message
    return out


async def fragments():
    for part in ["alpha-", "beta-", "gamma"]:
        yield part


async def handler(ws):
    emit("open", path=ws.path, extensions=[e.name for e in ws.extensions])
    try:
        async for message in ws:
            emit("message", **describe(message))
            if message == "please-fragment":
                await ws.send(fragments())
            elif isinstance(message, str) and message.startswith("please-close:"):
                _, code, reason = message.split(":", 2)
                await ws.close(int(code), reason)
            else:
                await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    emit("closed", path=ws.path, code=ws.close_code, reason=ws.close_reason)


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=4 * 1024 * 1024, close_timeout=5) as server:
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port}), flush=True)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def watch_stdin():
            sys.stdin.read()
            loop.call_soon_threadsafe(done.set)

        # A daemon thread: it must not keep the process alive once we are done.
        threading.Thread(target=watch_stdin, daemon=True).start()
        try:
            await asyncio.wait_for(done.wait(), 60)
        except asyncio.TimeoutError:
            pass


if __name__ == "__main__":
    asyncio.run(main())
