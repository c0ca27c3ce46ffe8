"""Storing deliveries: one INSERT per delivery, and one commit for the deliveries that arrive
together (issue #11: ingestion at >= 0.5x of /healthz's request rate).

A delivery is stored by an INSERT that restates, in its WHERE clause, what the process's copy
of the source vouched for (services.SourceCheck): when the source was rotated, paused, re-keyed
or removed since, the INSERT stores nothing and the caller checks again from a fresh read.

Committing is what a delivery costs most: about half of the database's work for it, and a
round trip. So the threads of one web process that store deliveries at the same moment share
one commit (a group commit, as databases do for their own log): the first thread to arrive
stores what is waiting, its own delivery included, in one transaction; the threads that arrive
while it does so wait, and the first of them stores them all next, in one transaction again.
Nobody waits for a timer: a thread alone stores its delivery at once, as before, and under a
storm each commit carries the deliveries that arrived during the previous one. Every caller
is answered only once its own delivery has committed, with its own id, so a 202 still means
"stored". After the commit the storing thread does, once for the whole group, what follows a
delivery: the rate count and the routing mark (services.enqueue_stored).

When the group's transaction fails, each delivery of the group is stored again alone, so one
bad row (or a database that came back) costs only its own caller an error. When the group's
statement waits on a lock (a source being deleted holds its row, say) for longer than
STALLED_AFTER, the deliveries queued behind it, and those that arrive until it is done, are
stored each by its own thread, as without grouping: a lock one source's deliveries wait on
does not hold up the others'. Callers inside a
transaction (a test's, or a caller's own) store alone within it, and enqueue on its commit.
"""

import logging
import threading

from django.db import connection

logger = logging.getLogger(__name__)

# At most this many deliveries in one transaction; the rest wait for the next one.
GROUP_LIMIT = 100
# A delivery that waited this long for the group being stored is stored by its own thread.
STALLED_AFTER = 2.0


class _Waiting:
    """A delivery waiting to be stored: its row, and then its id (None: the source changed)
    or the error that stopped it."""

    __slots__ = ("row", "source_pk", "done", "lead", "answered", "pk", "error")

    def __init__(self, row, source_pk):
        self.row, self.source_pk = row, source_pk
        self.done = threading.Event()
        self.lead = self.answered = False
        self.pk = self.error = None

    def answer(self, pk=None, error=None):
        self.pk, self.error, self.answered = pk, error, True

    def result(self):
        if self.error is not None:
            raise self.error  # its own: each delivery of a failed group is stored again alone
        return self.pk


class GroupCommit:
    """One per process: see the module's notes. `store(row, source_pk)` returns the delivery's
    id once committed (None when the source changed). `insert(rows)` stores rows in one
    transaction and commits, and returns their ids (None where the source changed);
    `after_commit(stored)` is called with the [(source pk, delivery id)] of each committed
    group, by the thread that stored it."""

    def __init__(self, insert, after_commit, limit=GROUP_LIMIT):
        self._insert, self._after_commit, self._limit = insert, after_commit, limit
        self._lock = threading.Lock()
        self._queue = []
        self._busy = False  # a thread is storing a group; while it is, the queue waits
        self._stalled = False  # ...for longer than STALLED_AFTER: newcomers store alone
        self.largest_group = 0  # for operators and tests: the most deliveries one commit carried

    def store(self, row, source_pk):
        me = _Waiting(row, source_pk)
        with self._lock:
            if self._busy and self._stalled:
                leading = None
            else:
                self._queue.append(me)
                leading = not self._busy
                self._busy = True
        if leading is None:
            return self._store_alone(me)  # the group being stored is held up (below)
        if not leading:
            if not me.done.wait(STALLED_AFTER):
                with self._lock:
                    held_up = not me.done.is_set() and me in self._queue
                    if held_up:
                        # The group being stored waits for something (a lock on one source's
                        # row, say): this delivery, and those that come until it is stored,
                        # are stored each by its own thread, as without grouping.
                        self._queue.remove(me)
                        self._stalled = True
                if held_up:
                    return self._store_alone(me)
                me.done.wait()
            if not me.lead:
                return me.result()
        self._store_group()  # `me` is first in the queue: the group holds it
        return me.result()

    def _store_alone(self, me):
        stored = self._commit([me])
        if stored:
            try:
                self._after_commit(stored)
            except Exception:  # stored already; the sweep routes what no task was queued for
                logger.exception("after storing an alert delivery")
        return me.result()

    def _store_group(self):
        with self._lock:
            group = self._queue[: self._limit]
            del self._queue[: self._limit]
        stored = []
        try:
            stored = self._commit(group)
        finally:
            # Hand the queue to the first thread waiting in it (it stores the next group), then
            # answer this group: the next commit overlaps with the work that follows this one.
            with self._lock:
                self._stalled = False
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].done.set()
                else:
                    self._busy = False
            for waiting in group:
                if not waiting.answered:  # the storing thread was stopped: nothing is known
                    waiting.answer(error=RuntimeError("The delivery could not be stored: retry."))
                waiting.done.set()
        if stored:
            try:
                self._after_commit(stored)
            except Exception:  # stored already; the sweep routes what no task was queued for
                logger.exception("after storing %d alert deliveries", len(stored))

    def _commit(self, group):
        self.largest_group = max(self.largest_group, len(group))
        try:
            pks = self._insert([w.row for w in group])  # all stored, or none
        except Exception as exc:
            if len(group) == 1:
                group[0].answer(error=exc)
                return []
            logger.warning("storing %d alert deliveries at once failed (%s); storing each alone", len(group), exc)
            return [stored for waiting in group for stored in self._commit([waiting])]
        stored = []
        for waiting, pk in zip(group, pks, strict=True):
            waiting.answer(pk)
            if pk is not None:
                stored.append((waiting.source_pk, pk))
        return stored


def storing_alone():
    """Whether a delivery must be stored by its own caller: inside a transaction, whose commit
    the group's cannot stand for."""
    return connection.in_atomic_block
