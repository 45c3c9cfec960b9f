"""A Python `websockets` client driven by a JSON plan, for test/interop/websockets-python.test.ts.

Usage: client.py URL PLAN_JSON

The plan is a list of steps, run in order:
  {"send": "text", "data": "..."}                      a text message
  {"send": "binary", "hex": "..."}                     a binary message
  {"send": "fragments", "parts": [...], "binary": b}   one message sent in fragments (an async iterator)
  {"send": "big", "kind": "text"|"binary", "size": n}  a large, very compressible message (see big())
  {"recv": n}                                          receive n messages
  {"close": code, "reason": "..."}                     close with this code and reason
  {"wait_close": true}                                 wait until the server closes

Prints one JSON object: the negotiated extensions, what was received (type, length, SHA-1,
and the text itself when short), and how the connection closed.
"""
import asyncio
import hashlib
import json
import sys

import websockets


def big(kind, size):
    """The same bytes as bigPayload() in the test: a repeating, very compressible pattern."""
    if kind == "text":
        unit = b"spindle websocket interop "
    else:
        unit = bytes(range(256))
    return (unit * (size // len(unit) + 1))[:size]


def describe(message):
    data = message.encode("utf-8") if isinstance(message, str) else message
    out = {"type": "text" if isinstance(message, str) else "binary", "length": len(data), "sha1": hashlib.sha1(data).hexdigest()}
    if isinstance(message, str) and len(message) <= 200:
        out["text"] = message
    return out


async def fragments(parts, binary):
    for p in parts:
        yield p.encode("utf-8") if binary else p


async def main(url, plan):
    result = {"extensions": [], "received": [], "close": None}
    async with websockets.connect(url, max_size=4 * 1024 * 1024, open_timeout=10, close_timeout=5) as ws:
        result["extensions"] = [e.name for e in ws.extensions]
        for step in plan:
            if "send" in step:
                kind = step["send"]
                if kind == "text":
                    await ws.send(step["data"])
                elif kind == "binary":
                    await ws.send(bytes.fromhex(step["hex"]))
                elif kind == "fragments":
                    await ws.send(fragments(step["parts"], step.get("binary", False)))
                elif kind == "big":
                    data = big(step["kind"], step["size"])
                    await ws.send(data.decode("ascii") if step["kind"] == "text" else data)
            elif "recv" in step:
                for _ in range(step["recv"]):
                    result["received"].append(describe(await asyncio.wait_for(ws.recv(), 10)))
            elif "close" in step:
                await ws.close(step["close"], step.get("reason", ""))
            elif "wait_close" in step:
                try:
                    while True:
                        result["received"].append(describe(await asyncio.wait_for(ws.recv(), 10)))
                except websockets.ConnectionClosed:
                    pass
        await ws.wait_closed()
        result["close"] = {"code": ws.close_code, "reason": ws.close_reason}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1], json.loads(sys.argv[2])), 30))
