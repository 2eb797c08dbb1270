"""Where conversations and messages live: one interface, two backends chosen by MONGO_URL.

- `mongodb://...`: pymongo on a real MongoDB (compose, Kubernetes). Uniqueness and atomic
  sequence numbers are the server's: unique indexes and `find_one_and_update` with `$inc`.
- `embedded://<dir>`: montydb (pure-Python, pymongo-compatible API) on its SQLite engine, data on
  disk under <dir> (default `.state/mongo`). montydb accepts `create_index` but neither enforces
  unique indexes nor uses indexes for queries, so this adapter enforces the unique keys itself
  and lays the data out so no query scans more than one conversation (see the class).

Documents cross this interface as plain dicts with `id` (not `_id`); timestamps are ISO 8601 UTC
strings of fixed width, so they sort as text in both backends.
"""

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import eventlet.patcher
from eventlet import tpool

from kernel.config import resolve_path

_real_threading = eventlet.patcher.original("threading")

DATABASE = "messaging"
# The embedded store's SQLite journal. montydb opens a connection per operation; in WAL mode (its
# default) closing that connection checkpoints and deletes the WAL every time, which made each
# write cost ~3x a rollback-journal commit. DELETE is as durable (synchronous=FULL: the journal
# and the database are fsynced before a commit returns).
JOURNAL_MODE = "DELETE"
# Sharding (docs/operations.md "MongoDB"): `messages` on its conversation (ranged: the ids are
# random UUIDs, so inserts spread over the chunks), and every statement on it names one
# conversation, so mongos sends each to one shard; both unique keys start with it, as MongoDB
# requires of unique indexes on a sharded collection. `conversations` (one small document per
# conversation) stays unsharded; sharded, it would be on `_id`, the conversation's id.
#   sh.shardCollection("<db>.messages", {conversation_id: 1})
SHARD_KEYS = {"messages": ("conversation_id",)}


class DuplicateMessage(Exception):
    """A message with this (conversation_id, sender_id, client_msg_id) is already stored."""


class ConversationStore(Protocol):
    def insert_conversation(self, conversation: dict[str, Any]) -> bool:
        """Insert unless a conversation with this id exists; True when inserted."""

    def get_conversation(self, conversation_id: str) -> dict[str, Any] | None: ...

    def list_conversations(
        self, user_id: str | None, before: tuple[str, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Newest activity first; `user_id` None lists every conversation (admin);
        `before` is the (last_message_at, id) of the previous page's last item."""

    def next_seq(self, conversation_id: str) -> int:
        """Atomically increment and return the conversation's message counter."""

    def insert_message(self, message: dict[str, Any]) -> None:
        """Raise DuplicateMessage if (conversation_id, sender_id, client_msg_id) exists."""

    def find_by_client_msg_id(
        self, conversation_id: str, sender_id: str, client_msg_id: str
    ) -> dict[str, Any] | None: ...

    def messages(
        self,
        conversation_id: str,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int,
        descending: bool = False,
    ) -> list[dict[str, Any]]: ...

    def record_message(
        self, conversation_id: str, seq: int, sender_id: str, created_at: str, others: list[str]
    ) -> None:
        """After a message is stored: last activity, the sender has read it, the others have one
        more unread."""

    def mark_read(self, conversation_id: str, user_id: str, seq: int) -> dict[str, Any] | None:
        """Move the user's read marker forward to `seq` (never back), recount their unread
        messages and return the conversation."""

    def ping(self) -> None: ...

    def close(self) -> None: ...


def _out(document: dict[str, Any] | None) -> dict[str, Any] | None:
    if document is None:
        return None
    document = dict(document)
    document["id"] = document.pop("_id")
    return document


def _in(document: dict[str, Any]) -> dict[str, Any]:
    document = dict(document)
    document["_id"] = document.pop("id")
    return document


def _activity_filter(user_id: str | None, before: tuple[str, str] | None) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = []
    if user_id is not None:
        conditions.append({"participants": user_id})
    if before is not None:
        at, last_id = before
        conditions.append(
            {
                "$or": [
                    {"last_message_at": {"$lt": at}},
                    {"last_message_at": at, "_id": {"$lt": last_id}},
                ]
            }
        )
    return {"$and": conditions} if conditions else {}


def _seq_filter(after_seq: int | None, before_seq: int | None) -> dict[str, Any]:
    bounds: dict[str, int] = {}
    if after_seq is not None:
        bounds["$gt"] = after_seq
    if before_seq is not None:
        bounds["$lt"] = before_seq
    return {"seq": bounds} if bounds else {}


class MongoConversationStore:
    """pymongo on a MongoDB server."""

    def __init__(self, url: str) -> None:
        import pymongo

        self._pymongo = pymongo
        self.client: Any = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000, tz_aware=True)
        database = self.client.get_default_database(default=DATABASE)
        self.conversations = database["conversations"]
        self.messages_ = database["messages"]
        self.ensure_indexes()

    @classmethod
    def from_client(cls, client: Any) -> "MongoConversationStore":
        """Wrap an existing pymongo-compatible client (the contract tests use mongomock)."""
        import pymongo

        store = cls.__new__(cls)
        store._pymongo = pymongo
        store.client = client
        database = client[DATABASE]
        store.conversations = database["conversations"]
        store.messages_ = database["messages"]
        store.ensure_indexes()
        return store

    def ensure_indexes(self) -> None:
        asc, desc = self._pymongo.ASCENDING, self._pymongo.DESCENDING
        self.messages_.create_index(
            [("conversation_id", asc), ("seq", asc)], unique=True, name="uq_conversation_seq"
        )
        self.messages_.create_index(
            [("conversation_id", asc), ("sender_id", asc), ("client_msg_id", asc)],
            unique=True,
            name="uq_conversation_sender_client_msg",
        )
        self.conversations.create_index(
            [("participants", asc), ("last_message_at", desc), ("_id", desc)],
            name="ix_participant_activity",
        )
        self.conversations.create_index(
            [("last_message_at", desc), ("_id", desc)], name="ix_activity"
        )

    def insert_conversation(self, conversation: dict[str, Any]) -> bool:
        try:
            self.conversations.insert_one(_in(conversation))
        except self._pymongo.errors.DuplicateKeyError:
            return False
        return True

    def get_conversation(self, conversation_id: str) -> dict[str, Any] | None:
        return _out(self.conversations.find_one({"_id": conversation_id}))

    def list_conversations(
        self, user_id: str | None, before: tuple[str, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        cursor = (
            self.conversations.find(_activity_filter(user_id, before))
            .sort([("last_message_at", -1), ("_id", -1)])
            .limit(limit)
        )
        return [_out(document) for document in cursor]  # type: ignore[misc]

    def next_seq(self, conversation_id: str) -> int:
        document = self.conversations.find_one_and_update(
            {"_id": conversation_id},
            {"$inc": {"last_seq": 1}},
            return_document=self._pymongo.ReturnDocument.AFTER,
        )
        if document is None:
            raise KeyError(conversation_id)
        return int(document["last_seq"])

    def insert_message(self, message: dict[str, Any]) -> None:
        try:
            self.messages_.insert_one(_in(message))
        except self._pymongo.errors.DuplicateKeyError as exc:
            raise DuplicateMessage(str(exc)) from None

    def find_by_client_msg_id(
        self, conversation_id: str, sender_id: str, client_msg_id: str
    ) -> dict[str, Any] | None:
        return _out(
            self.messages_.find_one(
                {
                    "conversation_id": conversation_id,
                    "sender_id": sender_id,
                    "client_msg_id": client_msg_id,
                }
            )
        )

    def messages(
        self,
        conversation_id: str,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        query = {"conversation_id": conversation_id, **_seq_filter(after_seq, before_seq)}
        cursor = self.messages_.find(query).sort("seq", -1 if descending else 1).limit(limit)
        return [_out(document) for document in cursor]  # type: ignore[misc]

    def record_message(
        self, conversation_id: str, seq: int, sender_id: str, created_at: str, others: list[str]
    ) -> None:
        self.conversations.update_one(
            {"_id": conversation_id},
            {
                "$max": {"last_message_at": created_at, f"read_seq.{sender_id}": seq},
                "$inc": {f"unread.{user}": 1 for user in others},
            },
        )

    def mark_read(self, conversation_id: str, user_id: str, seq: int) -> dict[str, Any] | None:
        self.conversations.update_one(
            {"_id": conversation_id}, {"$max": {f"read_seq.{user_id}": seq}}
        )
        conversation = self.conversations.find_one({"_id": conversation_id})
        if conversation is None:
            return None
        read_seq = int(conversation.get("read_seq", {}).get(user_id, 0))
        unread = self.messages_.count_documents(
            {
                "conversation_id": conversation_id,
                "seq": {"$gt": read_seq},
                "sender_id": {"$ne": user_id},
            }
        )
        return _out(
            self.conversations.find_one_and_update(
                {"_id": conversation_id},
                {"$set": {f"unread.{user_id}": unread}},
                return_document=self._pymongo.ReturnDocument.AFTER,
            )
        )

    def ping(self) -> None:
        self.client.admin.command("ping")

    def close(self) -> None:
        self.client.close()


class _ThreadClients:
    """The embedded store's writes, each in an OS thread of eventlet's pool (`tpool`), with a
    montydb client of that thread's own.

    A write commits (and fsyncs) a SQLite file; in the calling greenthread it would stop the
    whole messaging process for the fsync's milliseconds, every send one after the other. In
    threads, sends to different conversations (different files) wait for their disks in
    parallel while the process goes on. montydb keeps its open connection on the client's
    engine, so a client is never shared between threads. Outside eventlet (scripts) a write runs
    in the caller's thread."""

    def __init__(self, path: str, synchronous: str | None = None) -> None:
        self._path = path
        self._options = {} if synchronous is None else {"synchronous": synchronous}
        self._local = _real_threading.local()
        self._clients: list[Any] = []
        self._threaded = eventlet.patcher.is_monkey_patched("thread")

    def database(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            from montydb import MontyClient

            client = self._local.client = MontyClient(self._path, **self._options)
            self._clients.append(client)
        return client[DATABASE]

    def run(self, function: Any, *args: Any) -> Any:
        if self._threaded:
            return tpool.execute(function, *args)
        return function(*args)

    def close(self) -> None:
        for client in self._clients:
            client.close()


@dataclass
class _EmbeddedConversation:
    """What the embedded store keeps in memory about one conversation: the stored document, and
    once touched, its counters and the unique keys of its messages."""

    document: dict[str, Any]
    state: dict[str, Any] | None = None
    senders: dict[int, str] = field(default_factory=dict)  # seq -> sender_id
    client_keys: set[tuple[str, str]] = field(default_factory=set)  # (sender_id, client_msg_id)


class EmbeddedConversationStore:
    """montydb on disk, with what MongoDB's indexes would give done here.

    montydb scans a whole collection for every query, indexes or not, and enforces no unique
    index. So each conversation keeps its messages in their own collection (`messages_<id>`,
    created with the conversation) and its counters in another (`state_<id>`, one document), and
    this process keeps an in-memory index: every conversation document (read at start), and per
    conversation once used, its counters and the unique keys (seq, and sender + client_msg_id) of
    its messages. Writes go to disk first, under one lock, then to the index, except a message's:
    its keys are taken in the index under the lock, the document is written outside it (see
    _ThreadClients) and the keys are given back if that write fails. This is why one directory
    serves exactly one messaging process; more replicas need MongoDB.

    A send writes one document: the message. Its effect on the counters (`next_seq`,
    `record_message`) is kept in memory, and the state document is written by `mark_read` with
    `recorded_seq`, the last message whose effect it holds; loading a conversation replays the
    messages after `recorded_seq` in seq order, which gives the counters every stored message
    had made before a crash. A seq taken for a message that was never stored (a crash between
    the two) may be handed out again: nobody was ever told it.
    """

    def __init__(self, directory: str, synchronous: str | None = None) -> None:
        """`synchronous` (SQLite's pragma for the message writes; default FULL) is for benches
        that measure what the fsyncs cost: OFF survives a crash of the process but not of the
        machine."""
        from montydb import MontyClient, set_storage

        path = resolve_path(directory)
        path.mkdir(parents=True, exist_ok=True)
        # Rewritten at every start, so a directory made with montydb's default (WAL) switches too.
        set_storage(str(path), storage="sqlite", journal_mode=JOURNAL_MODE)
        self.client: Any = MontyClient(str(path))
        self._writers = _ThreadClients(str(path), synchronous)
        self.database = self.client[DATABASE]
        self.conversations = self.database["conversations"]
        self._lock = threading.RLock()
        self._index: dict[str, _EmbeddedConversation] = {
            document["_id"]: _EmbeddedConversation(_out(document))  # type: ignore[arg-type]
            for document in self.conversations.find({})
        }

    @staticmethod
    def _suffix(conversation_id: str) -> str:
        # conversation ids are UUIDs (checked by the domain): safe in a file name
        return conversation_id.replace("-", "")

    def _messages(self, conversation_id: str) -> Any:
        return self.database[f"messages_{self._suffix(conversation_id)}"]

    def _state_collection(self, conversation_id: str) -> Any:
        return self.database[f"state_{self._suffix(conversation_id)}"]

    def _loaded(self, conversation_id: str) -> _EmbeddedConversation | None:
        entry = self._index.get(conversation_id)
        if entry is None or entry.state is not None:
            return entry
        stored = self._state_collection(conversation_id).find_one({"_id": "state"}) or {}
        document = entry.document
        last_seq = int(stored.get("last_seq", document.get("last_seq", 0)))
        # A state document from before `recorded_seq` was written at every message.
        recorded_seq = int(stored.get("recorded_seq", last_seq))
        unrecorded: list[tuple[int, str, str]] = []
        for message in self._messages(conversation_id).find({}):
            seq, sender = message["seq"], message["sender_id"]
            entry.senders[seq] = sender
            entry.client_keys.add((sender, message["client_msg_id"]))
            if seq > recorded_seq:
                unrecorded.append((seq, sender, message["created_at"]))
        entry.state = {
            "last_seq": max([last_seq, *entry.senders]),
            "recorded_seq": recorded_seq,
            "last_message_at": stored.get("last_message_at", document["last_message_at"]),
            "read_seq": dict(stored.get("read_seq", document.get("read_seq", {}))),
            "unread": dict(stored.get("unread", document.get("unread", {}))),
        }
        for seq, sender, created_at in sorted(unrecorded):
            others = [user for user in document["participants"] if user != sender]
            self._record(entry.state, seq, sender, created_at, others)
        return entry

    @staticmethod
    def _record(
        state: dict[str, Any], seq: int, sender_id: str, created_at: str, others: list[str]
    ) -> None:
        state["last_message_at"] = max(state["last_message_at"], created_at)
        state["read_seq"][sender_id] = max(state["read_seq"].get(sender_id, 0), seq)
        for user in others:
            state["unread"][user] = state["unread"].get(user, 0) + 1
        state["recorded_seq"] = max(state["recorded_seq"], seq)

    def _save_state(self, conversation_id: str, state: dict[str, Any]) -> None:
        self._state_collection(conversation_id).replace_one(
            {"_id": "state"}, {"_id": "state", **state}, upsert=True
        )

    def _view(self, entry: _EmbeddedConversation) -> dict[str, Any]:
        view = {**entry.document, **(entry.state or {})}
        view.pop("recorded_seq", None)
        return view

    def insert_conversation(self, conversation: dict[str, Any]) -> bool:
        from montydb.errors import CollectionInvalid

        with self._lock:
            if conversation["id"] in self._index:
                return False
            # its messages' file now, so that the first send is one write like the others
            with contextlib.suppress(CollectionInvalid):  # left by an insert that failed
                self.database.create_collection(f"messages_{self._suffix(conversation['id'])}")
            self.conversations.insert_one(_in(conversation))
            self._index[conversation["id"]] = _EmbeddedConversation(dict(conversation))
            return True

    def get_conversation(self, conversation_id: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._loaded(conversation_id)
            return None if entry is None else self._view(entry)

    def list_conversations(
        self, user_id: str | None, before: tuple[str, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        with self._lock:
            rows = [
                self._view(self._loaded(entry.document["id"]))  # type: ignore[arg-type]
                for entry in list(self._index.values())
                if user_id is None or user_id in entry.document["participants"]
            ]
        rows = [
            row for row in rows if before is None or (row["last_message_at"], row["id"]) < before
        ]
        rows.sort(key=lambda row: (row["last_message_at"], row["id"]), reverse=True)
        return rows[:limit]

    def next_seq(self, conversation_id: str) -> int:
        with self._lock:
            entry = self._loaded(conversation_id)
            if entry is None or entry.state is None:
                raise KeyError(conversation_id)
            entry.state["last_seq"] += 1  # on disk with the message (see the class)
            return int(entry.state["last_seq"])

    def insert_message(self, message: dict[str, Any]) -> None:
        conversation_id = message["conversation_id"]
        key = (message["sender_id"], message["client_msg_id"])
        with self._lock:
            entry = self._loaded(conversation_id)
            if entry is None:
                raise KeyError(conversation_id)
            if message["seq"] in entry.senders or key in entry.client_keys:
                raise DuplicateMessage(
                    f"conversation {conversation_id} already has this seq or "
                    "(sender_id, client_msg_id)"
                )
            # taken now, so that a concurrent insert of the same keys fails while this one is
            # written outside the lock
            entry.senders[message["seq"]] = message["sender_id"]
            entry.client_keys.add(key)
        try:
            self._writers.run(self._insert_document, conversation_id, _in(message))
        except Exception:
            with self._lock:
                entry.senders.pop(message["seq"], None)
                entry.client_keys.discard(key)
            raise

    def _insert_document(self, conversation_id: str, document: dict[str, Any]) -> None:
        """In a writer thread (see _ThreadClients), with that thread's client."""
        suffix = self._suffix(conversation_id)
        self._writers.database()[f"messages_{suffix}"].insert_one(document)

    def find_by_client_msg_id(
        self, conversation_id: str, sender_id: str, client_msg_id: str
    ) -> dict[str, Any] | None:
        with self._lock:
            entry = self._loaded(conversation_id)
            if entry is None or (sender_id, client_msg_id) not in entry.client_keys:
                return None
        return _out(
            self._messages(conversation_id).find_one(
                {"sender_id": sender_id, "client_msg_id": client_msg_id}
            )
        )

    def messages(
        self,
        conversation_id: str,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        cursor = (
            self._messages(conversation_id)
            .find(_seq_filter(after_seq, before_seq))
            .sort("seq", -1 if descending else 1)
            .limit(limit)
        )
        return [_out(document) for document in cursor]  # type: ignore[misc]

    def record_message(
        self, conversation_id: str, seq: int, sender_id: str, created_at: str, others: list[str]
    ) -> None:
        with self._lock:
            entry = self._loaded(conversation_id)
            if entry is None or entry.state is None:
                return
            # replayed from the stored message after a crash (see the class)
            self._record(entry.state, seq, sender_id, created_at, others)

    def mark_read(self, conversation_id: str, user_id: str, seq: int) -> dict[str, Any] | None:
        with self._lock:
            entry = self._loaded(conversation_id)
            if entry is None or entry.state is None:
                return None
            state = entry.state
            read_seq = max(int(state["read_seq"].get(user_id, 0)), seq)
            state["read_seq"][user_id] = read_seq
            state["unread"][user_id] = sum(
                1 for s, sender in entry.senders.items() if s > read_seq and sender != user_id
            )
            self._save_state(conversation_id, state)
            return self._view(entry)

    def ping(self) -> None:
        self.database.list_collection_names()

    def close(self) -> None:
        self._writers.close()
        self.client.close()


def open_store(url: str) -> ConversationStore:
    scheme = urlsplit(url).scheme
    if scheme in ("mongodb", "mongodb+srv"):
        return MongoConversationStore(url)
    if scheme == "embedded":
        directory, _, query = url.removeprefix("embedded://").partition("?")
        synchronous = parse_qs(query).get("synchronous", [None])[0]
        return EmbeddedConversationStore(directory, synchronous)
    raise ValueError(f"MONGO_URL must be mongodb://, mongodb+srv:// or embedded://, not {url!r}")
