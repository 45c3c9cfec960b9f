"""bench/redis-layer's peer: channels_redis's RedisChannelLayer doing what the Spindle side does.

A group of GROUP receiving channels (new_channel(), each with a receive loop), then M group
sends of a message whose text is SIZE bytes, with at most WINDOW sends in flight (1: each send
awaited before the next; 0: paced, each send waits for its GROUP deliveries). Prints one JSON line: elapsed seconds (first send to last delivery),
sends/s, deliveries, and the p50/p99 latency in ms from the start of a send to each receive.

    /usr/bin/python3 bench/channels_redis_bench.py redis://127.0.0.1:PORT M GROUP SIZE WINDOW
"""
import asyncio
import json
import sys
import time

from channels_redis.core import RedisChannelLayer


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


async def main(url, m, group_size, size, window):
    layer = RedisChannelLayer(hosts=[url], capacity=1_000_000, expiry=600)
    group = "bench"
    channels = [await layer.new_channel() for _ in range(group_size)]
    for c in channels:
        await layer.group_add(group, c)
    expected = m * group_size
    latencies = []
    done = asyncio.get_running_loop().create_future()

    round_done = asyncio.Event()

    async def receiver(channel):
        while len(latencies) < expected:
            message = await layer.receive(channel)
            latencies.append((time.perf_counter() - message["t"]) * 1000)
            if len(latencies) % group_size == 0:
                round_done.set()
            if len(latencies) == expected and not done.done():
                done.set_result(time.perf_counter())

    tasks = [asyncio.create_task(receiver(c)) for c in channels]
    text = "x" * size
    # Warm-up: one send through, so connections and scripts are ready on both sides.
    await layer.group_send(group, {"type": "bench.warmup", "text": text, "t": time.perf_counter()})
    while len(latencies) < group_size:
        await asyncio.sleep(0.001)
    latencies.clear()

    start = time.perf_counter()
    semaphore = asyncio.Semaphore(window)

    async def one():
        async with semaphore:
            await layer.group_send(group, {"type": "bench.message", "text": text, "t": time.perf_counter()})

    if window == 0:
        # Paced: each send waits for its GROUP deliveries, so latency is not queueing.
        for i in range(m):
            round_done.clear()
            await layer.group_send(group, {"type": "bench.message", "text": text, "t": time.perf_counter()})
            while len(latencies) < (i + 1) * group_size:
                await round_done.wait()
                round_done.clear()
    elif window == 1:
        for _ in range(m):
            await layer.group_send(group, {"type": "bench.message", "text": text, "t": time.perf_counter()})
    else:
        await asyncio.gather(*(one() for _ in range(m)))
    end = await asyncio.wait_for(done, 60)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in channels:
        await layer.group_discard(group, c)
    await layer.close_pools()
    lat = sorted(latencies)
    elapsed = end - start
    print(json.dumps({
        "elapsed": elapsed,
        "sendsPerSecond": m / elapsed,
        "deliveries": len(latencies),
        "p50": percentile(lat, 50),
        "p99": percentile(lat, 99),
    }))


if __name__ == "__main__":
    url, m, group_size, size, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    asyncio.run(main(url, m, group_size, size, window))
