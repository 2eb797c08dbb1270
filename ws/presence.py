"""Who is online, across every ws process, in Redis.

`ws:presence:<user>` is a hash: one field per ws process holding the user's sockets, valued with
the time until which that process vouches for them. Each process refreshes its fields every
ttl/3 seconds; a process that dies stops refreshing and its fields go stale after the TTL, so a
crashed hub never leaves its users online for longer than that. The whole key expires with the
TTL too, so nothing accumulates.
"""

import time

import redis

KEY = "ws:presence:{}"
REFRESH_BATCH = 200


class Presence:
    def __init__(self, client: redis.Redis, process_id: str, ttl_seconds: int) -> None:
        self.client = client
        self.process_id = process_id
        self.ttl = ttl_seconds

    def _vouch(self, pipe: "redis.client.Pipeline", user_id: str, now: float) -> None:
        key = KEY.format(user_id)
        pipe.hset(key, self.process_id, f"{now + self.ttl:.3f}")
        pipe.expire(key, self.ttl)

    def is_online(self, user_id: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        fields = self.client.hgetall(KEY.format(user_id))
        return any(float(until) > now for until in fields.values())

    def online_among(self, user_ids: list[str], now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        pipe = self.client.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.hgetall(KEY.format(user_id))
        return [
            user_id
            for user_id, fields in zip(user_ids, pipe.execute(), strict=True)
            if any(float(until) > now for until in fields.values())
        ]

    def connected(self, user_id: str) -> bool:
        """This process now holds a socket of the user; True if they were offline everywhere."""
        was_online = self.is_online(user_id)
        pipe = self.client.pipeline(transaction=False)
        self._vouch(pipe, user_id, time.time())
        pipe.execute()
        return not was_online

    def disconnected(self, user_id: str) -> bool:
        """This process holds no socket of the user any more; True if now offline everywhere."""
        self.client.hdel(KEY.format(user_id), self.process_id)
        return not self.is_online(user_id)

    def refresh(self, user_ids: list[str]) -> None:
        """In batches: one pipeline for thousands of users would briefly take megabytes that the
        process keeps afterwards."""
        now = time.time()
        for start in range(0, len(user_ids), REFRESH_BATCH):
            pipe = self.client.pipeline(transaction=False)
            for user_id in user_ids[start : start + REFRESH_BATCH]:
                self._vouch(pipe, user_id, now)
            pipe.execute()
