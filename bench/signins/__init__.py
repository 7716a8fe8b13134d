"""Load drivers for signing in under load: churn with catch-up replays, and a registration burst.

Run as ``python -m bench.signins --spec spec.json`` (``-`` reads stdin); it prints one JSON
result on stdout. Like :mod:`bench.driver` it runs on uvloop when installed and uses bare
``asyncio.Protocol`` clients speaking through the protocol's client half (:mod:`bench.link`).

**Churn** (:class:`~.spec.ChurnSpec`, :mod:`.churn`): ``clients`` connections resume pre-made
sessions (no replay); the first ``chatters`` of them send to ``general`` at ``rate`` messages per
second each, for ``duration`` seconds, and time their acknowledgments (their own copy coming
back). Meanwhile ``signin_rate`` password logins per second of other accounts, each of which
missed about ``missed`` messages, sign in, take their replay up to ``synced`` and quit. With
``signin_rate=0`` the same run is the baseline without churn.

**Registrations** (:class:`~.spec.RegistrationSpec`, :mod:`.registrations`): ``count``
connections are opened and greeted, then every one of them sends ``register`` at the same moment;
the time until the last one has its ``synced`` is the result. A client told ``rate_limited`` or
``server_error`` tries again after ``retry_after``, as a real client would.
"""
