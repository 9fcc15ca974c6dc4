"""A bounded map whose entries expire: what keeps the mock's memory from growing without end.

Every kind of state the mock keeps (pending logins, codes, IdP sessions, grants, access-token
records, revocations, the exchange log) is an `ExpiringMap`: each entry has an expiry time on
the map's clock (the mock's clock, so advancing it expires entries), and the map holds at most
`cap` entries, dropping the oldest first when a new one would go over.

- An expired entry is never returned, whether or not a sweep has removed it yet.
- Sweeping is amortised: every `put` first removes what has expired, from a heap ordered by
  expiry, so each entry costs one heap push and one heap pop over its life (O(log n)).
- "Oldest" is the order of `put`: putting a key again (a grant used again) makes it the
  newest.
- One lock guards every call; a `Store` hands all its maps its own re-entrant lock, so one
  lock covers the store and its maps.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import threading
from typing import Callable, Generic, Iterator, TypeVar

V = TypeVar("V")


class ExpiringMap(Generic[V]):
    """Values by string key, each until its `expires_at` on `clock`; at most `cap` of them."""

    def __init__(self, clock: Callable[[], float], cap: int, lock: threading.RLock | None = None) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        self.clock = clock
        self.cap = cap
        self.lock = lock if lock is not None else threading.RLock()
        # key -> (serial, expires_at, value), oldest put first.
        self._entries: collections.OrderedDict[str, tuple[int, float, V]] = collections.OrderedDict()
        # (expires_at, serial, key): the entry to expire next on top. An item whose serial no
        # longer matches its key's entry (put again, popped, evicted) is stale and skipped.
        self._heap: list[tuple[float, int, str]] = []
        self._serials = itertools.count()

    def put(self, key: str, value: V, expires_at: float) -> None:
        """Stores (or replaces) `key` as the newest entry; drops the oldest beyond the cap."""
        with self.lock:
            self.sweep()
            serial = next(self._serials)
            self._entries.pop(key, None)
            self._entries[key] = (serial, expires_at, value)
            heapq.heappush(self._heap, (expires_at, serial, key))
            while len(self._entries) > self.cap:
                self._entries.popitem(last=False)
            if len(self._heap) > 2 * len(self._entries) + 64:
                self._rebuild_heap()

    def get(self, key: str | None) -> V | None:
        """The value, or None when there is none or it has expired."""
        if key is None:
            return None
        with self.lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= self.clock():
                del self._entries[key]
                return None
            return entry[2]

    def expiry(self, key: str) -> float | None:
        """When a live entry expires; None when there is none."""
        with self.lock:
            entry = self._entries.get(key)
            return entry[1] if entry is not None and entry[1] > self.clock() else None

    def pop(self, key: str) -> V | None:
        """Removes `key`; its value if it was there and live, else None."""
        with self.lock:
            entry = self._entries.pop(key, None)
            return entry[2] if entry is not None and entry[1] > self.clock() else None

    def values(self) -> list[V]:
        """The live values, oldest first (a copy: safe to change the map while using it)."""
        with self.lock:
            self.sweep()
            return [value for _, _, value in self._entries.values()]

    def sweep(self) -> int:
        """Removes every expired entry; returns how many."""
        with self.lock:
            now, removed = self.clock(), 0
            heap, entries = self._heap, self._entries
            while heap and heap[0][0] <= now:
                _, serial, key = heapq.heappop(heap)
                entry = entries.get(key)
                if entry is not None and entry[0] == serial:
                    del entries[key]
                    removed += 1
            return removed

    def clear(self) -> None:
        with self.lock:
            self._entries.clear()
            self._heap.clear()

    def _rebuild_heap(self) -> None:
        """Drops the stale heap items (keys put again, popped or evicted): the heap stays O(len)."""
        self._heap = [(expires_at, serial, key) for key, (serial, expires_at, _) in self._entries.items()]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        """How many live entries (expired ones are swept first)."""
        with self.lock:
            self.sweep()
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __getitem__(self, key: str) -> V:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        """The live keys, oldest first (a copy)."""
        with self.lock:
            self.sweep()
            return iter(list(self._entries))
