"""A Django Channels process for the interop tests: a channel layer from Django settings
(no project, no database), driven by JSON lines on stdin, answering JSON lines on stdout.

    /usr/bin/python3 channels_peer.py '<json config>'

config: {"backend": "core" | "pubsub", "hosts": [...], "prefix": "asgi",
         "symmetric_encryption_keys": [...] (optional), "capacity": N (optional)}

Each request {"id": n, "op": ..., ...} runs as its own task (a receive may wait while later
requests run) and is answered {"id": n, "ok": result} or {"id": n, "error": "..."}.

Values cross the JSON pipe tagged, so nothing is lost on either side:
{"$bytes": hex}, {"$bigint": "digits"} (every int beyond 2**53), {"$float": repr} (every float).
"""
import asyncio
import json
import sys

import django
from django.conf import settings


def to_json(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v if -(2**53) <= v <= 2**53 else {"$bigint": str(v)}
    if isinstance(v, float):
        return {"$float": repr(v)}
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": bytes(v).hex()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    raise TypeError(f"cannot tag {type(v)}")


def from_json(v):
    if isinstance(v, list):
        return [from_json(x) for x in v]
    if isinstance(v, dict):
        if len(v) == 1:
            ((tag, x),) = v.items()
            if tag == "$bytes":
                return bytes.fromhex(x)
            if tag == "$bigint":
                return int(x)
            if tag == "$float":
                return float(x)
        return {k: from_json(x) for k, x in v.items()}
    return v


config = json.loads(sys.argv[1])
backend = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}[config["backend"]]
layer_config = {"hosts": config["hosts"], "prefix": config.get("prefix", "asgi")}
for key in ("symmetric_encryption_keys", "capacity", "expiry"):
    if key in config:
        layer_config[key] = config[key]
settings.configure(CHANNEL_LAYERS={"default": {"BACKEND": backend, "CONFIG": layer_config}})
django.setup()

from channels.layers import get_channel_layer  # noqa: E402  (needs the settings above)

layer = get_channel_layer()
out_lock = asyncio.Lock()


async def reply(message):
    async with out_lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


async def handle(request):
    op = request["op"]
    try:
        if op == "new_channel":
            result = await layer.new_channel()
        elif op == "send":
            await layer.send(request["channel"], from_json(request["message"]))
            result = None
        elif op == "receive":
            try:
                message = await asyncio.wait_for(layer.receive(request["channel"]), request.get("timeout", 10))
                result = {"message": to_json(message)}
            except asyncio.TimeoutError:
                result = {"timeout": True}
        elif op == "group_add":
            await layer.group_add(request["group"], request["channel"])
            result = None
        elif op == "group_discard":
            await layer.group_discard(request["group"], request["channel"])
            result = None
        elif op == "group_send":
            await layer.group_send(request["group"], from_json(request["message"]))
            result = None
        elif op == "flush":
            await layer.flush()
            result = None
        elif op == "info":
            result = {"client_prefix": getattr(layer, "client_prefix", None)}
        else:
            raise ValueError(f"unknown op {op!r}")
        await reply({"id": request["id"], "ok": result})
    except Exception as e:  # reported to the test, which fails on it
        await reply({"id": request["id"], "error": f"{type(e).__name__}: {e}"})


async def main():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks = set()
    await reply({"id": 0, "ok": "ready"})
    while True:
        line = await reader.readline()
        if not line:
            break
        task = asyncio.create_task(handle(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for task in list(tasks):
        task.cancel()


asyncio.run(main())
