"""The admission seed, in Python: large frame downloads behind a byte budget.

GET /frames/{id} loads a frame (FRAME_BYTES, 8 MB by default) into memory
and streams it out in 64 KiB pieces. Every request first reserves the
frame's size from an asyncio byte budget (BUDGET_BYTES, 64 MiB by default).
LIMITER chooses when the reservation ends:

  early-release  KNOWN BAD, kept on purpose: released when the handler
                 returns the StreamingResponse, i.e. before its body has
                 run. The budget then bounds nothing while the frames
                 stream to slow clients: the incident this reproduces.
  held           released exactly once when the response has ended, however
                 it ends (sent, client gone before or during the body, send
                 raising): in a finally around the whole ASGI response. Not
                 in the body generator's finally, which does not run when the
                 client leaves before the body starts, nor in a background
                 task, which Starlette skips when send() raises.

GET /debug/vars shows the budget's counters, so tests can prove that every
reservation was released exactly once. No heap endpoint: the harness's
heap: auto takes the heap top from outside (tracemalloc, injected).
"""

import asyncio
import os

from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route


LIMITER = os.environ.get("LIMITER", "held")
FRAME_BYTES = int(os.environ.get("FRAME_BYTES", str(8 * 1000 * 1000)))
BUDGET_BYTES = int(os.environ.get("BUDGET_BYTES", str(64 * 1024 * 1024)))
PIECE = 64 * 1024


class ByteBudget:
    """An asyncio semaphore over bytes, with visible counters."""

    def __init__(self, size):
        self.size, self.reserved = size, 0
        self.acquires = self.releases = self.in_flight = 0
        self.cond = asyncio.Condition()

    async def wake(self):
        async with self.cond:
            self.cond.notify_all()

    async def acquire(self, n):
        n = min(n, self.size)  # a frame larger than the budget runs alone
        async with self.cond:
            await self.cond.wait_for(lambda: self.reserved + n <= self.size)
            self.reserved += n
            self.acquires += 1
        return Reservation(self, n)


class Reservation:
    def __init__(self, budget, n):
        self.budget, self.n, self.done = budget, n, False

    def release(self):
        """Returns the bytes, once. Synchronous, so a cancelled task cannot
        be interrupted halfway through the bookkeeping; waiters are woken
        by a task of their own."""
        if self.done:
            return
        self.done = True
        self.budget.reserved -= self.n
        self.budget.releases += 1
        asyncio.get_running_loop().create_task(self.budget.wake())


class FrameResponse(StreamingResponse):
    """A streaming response counted in flight for its whole life; with a
    reservation (held), it releases it when the response ends, however."""

    def __init__(self, content, reservation=None):
        super().__init__(content, media_type="application/octet-stream")
        self.reservation = reservation

    async def __call__(self, scope, receive, send):
        budget.in_flight += 1
        try:
            await super().__call__(scope, receive, send)
        finally:
            budget.in_flight -= 1
            if self.reservation is not None:
                self.reservation.release()


budget = None


def load_frame(frame_id):
    """A frame as the seed held it: one bytes object, resident while it streams."""
    seed = frame_id.encode() or b"0"
    return (seed * (FRAME_BYTES // len(seed) + 1))[:FRAME_BYTES]


async def frame(request):
    global budget
    if budget is None:
        budget = ByteBudget(BUDGET_BYTES)
    res = await budget.acquire(FRAME_BYTES)
    data = load_frame(request.path_params["frame_id"])

    async def body():
        view = memoryview(data)
        for off in range(0, len(view), PIECE):
            yield bytes(view[off:off + PIECE])

    if LIMITER == "early-release":
        res.release()  # BUG, on purpose: before the body has streamed
        return FrameResponse(body())
    return FrameResponse(body(), res)


async def healthz(request):
    return PlainTextResponse("ok")


async def debug_vars(request):
    b = budget or ByteBudget(BUDGET_BYTES)
    return JSONResponse({"limiter": LIMITER, "budget_bytes": b.size, "reserved_bytes": b.reserved,
                         "acquires": b.acquires, "releases": b.releases, "in_flight": b.in_flight})


app = Starlette(routes=[
    Route("/frames/{frame_id}", frame),
    Route("/healthz", healthz),
    Route("/debug/vars", debug_vars),
])
