"""Signals the incident core sends after a change commits, for other apps to react to
(the status page re-exports, notifications go out). The core never imports those apps."""

from django.dispatch import Signal

# Sent with sender=Incident, incident=<Incident>, change=<str: "status", "severity", ...>.
incident_changed = Signal()

# Sent with sender=Communication, communication=<Communication> once a publication commits.
communication_published = Signal()

# Sent with sender=incidents.signin.Attempt, users=[<User>...] (the active accounts of the
# username), address=<str>, window=<seconds> when sign-in for a username from an address is
# paused after too many failed attempts: once per pause. The reminders wing tells the user and
# the security group.
signin_locked_out = Signal()

# Sent with sender=Communication, communication=<Communication>, old=<status>, new=<status>,
# by=<User or None> when a communication's workflow state changes, inside the transaction that
# changes it: its receivers write their outbox rows in that transaction, so the change and its
# notifications commit together (delivery is enqueued on commit). The reminders wing tells the
# approvers when it goes into review and clears their inbox entries when the review ends.
communication_moved = Signal()
